//! An ssh port forward (`ssh -N -L …`) held open while an RDP client uses
//! it: started, waited for until its local end accepts connections, and
//! ended when the client is done.

use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::process::Child;

use super::TransportError;
use super::process::{Stream, Wiring, program_of, spawn};

/// How long ssh may take to log in and set the forward up.
pub const READY_WITHIN: Duration = Duration::from_secs(20);

/// The local port for a tunnel to `instance_id`: the same one each time
/// when it is free (so that an RDP client's trust-on-first-use record of
/// `127.0.0.1:PORT` keeps meaning this instance), else any free one.
pub fn local_port_for(instance_id: &str) -> Result<u16, TransportError> {
    let preferred = preferred_port(instance_id);
    if std::net::TcpListener::bind(("127.0.0.1", preferred)).is_ok() {
        return Ok(preferred);
    }
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|source| TransportError::Spawn {
            program: "a local port for the tunnel".to_owned(),
            source,
        })
}

/// 40000-49999, from an FNV-1a hash of the instance id.
fn preferred_port(instance_id: &str) -> u16 {
    let hash = instance_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    40000 + u16::try_from(hash % 10000).unwrap_or(0)
}

/// The running ssh that holds the forward.
pub struct TunnelProcess {
    child: Child,
}

/// Starts `argv` and waits until 127.0.0.1:`local_port` accepts a
/// connection, or fails with ssh's status if it exits first.
pub async fn open(argv: &[String], local_port: u16) -> Result<TunnelProcess, TransportError> {
    let program = program_of(argv);
    let wiring = Wiring {
        stdin: Stream::Null,
        stdout: Stream::Null,
        stderr: Stream::Inherit,
    };
    let mut child = spawn(argv, wiring, true)?;
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(TransportError::Failed {
                program: program.clone(),
                status: super::exit_code(status),
            });
        }
        if TcpStream::connect(("127.0.0.1", local_port)).await.is_ok() {
            return Ok(TunnelProcess { child });
        }
        if Instant::now() > deadline {
            let _ = child.kill().await;
            return Err(TransportError::TunnelNotReady {
                seconds: READY_WITHIN.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl TunnelProcess {
    /// Ends the forward.
    pub async fn close(mut self) {
        let _ = self.child.kill().await;
    }
}

#[cfg(test)]
mod tests {
    use super::preferred_port;

    #[test]
    fn an_instance_keeps_its_port() {
        let a = preferred_port("i-0123456789abcdef0");
        assert_eq!(a, preferred_port("i-0123456789abcdef0"));
        assert!((40000..50000).contains(&a));
        assert_ne!(a, preferred_port("i-0123456789abcdef1"));
    }
}
