//! A local port forwarded through an EC2 Instance Connect Endpoint, held
//! by berth itself: it listens on 127.0.0.1 and opens one tunnel per
//! accepted connection (each with a freshly presigned URL), for a client
//! that cannot use a ProxyCommand (an RDP client).

use std::net::Ipv4Addr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use super::{EiceError, InputEnd, TunnelOpener, carry};

/// The listening port and the task that serves it.
#[derive(Debug)]
pub struct LocalForward {
    port: u16,
    accept: JoinHandle<()>,
}

impl LocalForward {
    /// Listens on 127.0.0.1:`port` (0: any free port) and serves each
    /// connection with its own tunnel from `opener`.
    pub async fn open(port: u16, opener: TunnelOpener) -> Result<Self, EiceError> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))
            .await
            .map_err(|e| EiceError::Listen {
                port,
                detail: e.to_string(),
            })?;
        let port = listener
            .local_addr()
            .map_err(|e| EiceError::Listen {
                port,
                detail: e.to_string(),
            })?
            .port();
        let accept = tokio::spawn(serve(listener, opener));
        Ok(Self { port, accept })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops listening and ends every tunnel it holds.
    pub async fn close(self) {
        self.accept.abort();
        let _ = self.accept.await;
    }
}

/// Accepts until aborted; the connections' tasks end with it (a `JoinSet`
/// aborts what it holds when dropped).
async fn serve(listener: TcpListener, opener: TunnelOpener) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => {
                    connections.spawn(tunnel_one(socket, opener.clone()));
                }
                Err(e) => {
                    eprintln!("berth: the local end of the tunnel cannot accept: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn tunnel_one(socket: TcpStream, opener: TunnelOpener) {
    let _ = socket.set_nodelay(true);
    let result = match opener.open().await {
        Ok(tunnel) => {
            let (input, output) = socket.into_split();
            // A client that ends its connection is done with the tunnel.
            carry(tunnel, input, output, InputEnd::Close)
                .await
                .map(|_| ())
        }
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        eprintln!("berth: error: {e}\n  hint: {}", e.hint());
    }
}
