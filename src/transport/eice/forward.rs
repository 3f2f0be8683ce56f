//! A local port forwarded through an EC2 Instance Connect Endpoint, held
//! by berth itself: it listens on 127.0.0.1 and opens one tunnel per
//! accepted connection (each with a freshly presigned URL), for a client
//! that cannot use a ProxyCommand (an RDP client). It prints nothing:
//! what goes wrong with one connection is sent to the caller as a
//! [`ForwardProblem`], and the forward goes on serving the next.

use std::net::Ipv4Addr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::{JoinHandle, JoinSet};

use super::{EiceError, InputEnd, TunnelOpener, carry};

/// What went wrong with one connection of the forward.
#[derive(Debug, thiserror::Error)]
pub enum ForwardProblem {
    #[error("the local end of the tunnel cannot accept: {0}")]
    Accept(std::io::Error),
    #[error(transparent)]
    Tunnel(EiceError),
}

impl crate::model::hint::Hint for ForwardProblem {
    /// What to do about it, where there is something to say.
    fn hint(&self) -> Option<String> {
        match self {
            Self::Accept(_) => None,
            Self::Tunnel(e) => e.hint(),
        }
    }
}

/// The listening port and the task that serves it.
#[derive(Debug)]
pub struct LocalForward {
    port: u16,
    accept: JoinHandle<()>,
}

impl LocalForward {
    /// Listens on 127.0.0.1:`port` (0: any free port) and serves each
    /// connection with its own tunnel from `opener`; what goes wrong with a
    /// connection arrives on the receiver.
    pub async fn open(
        port: u16,
        opener: TunnelOpener,
    ) -> Result<(Self, UnboundedReceiver<ForwardProblem>), EiceError> {
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
        let (problems, receiver) = unbounded_channel();
        let accept = tokio::spawn(serve(listener, opener, problems));
        Ok((Self { port, accept }, receiver))
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
async fn serve(
    listener: TcpListener,
    opener: TunnelOpener,
    problems: UnboundedSender<ForwardProblem>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => {
                    connections.spawn(tunnel_one(socket, opener.clone(), problems.clone()));
                }
                Err(e) => {
                    let _ = problems.send(ForwardProblem::Accept(e));
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn tunnel_one(
    socket: TcpStream,
    opener: TunnelOpener,
    problems: UnboundedSender<ForwardProblem>,
) {
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
        let _ = problems.send(ForwardProblem::Tunnel(e));
    }
}
