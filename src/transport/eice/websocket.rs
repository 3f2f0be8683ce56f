//! The websocket of one tunnel: opened over TLS (rustls with the aws-lc-rs
//! provider and the system's roots, as berth's other HTTPS calls) or, for
//! a `ws://` stand-in, plain TCP; then the bytes of a local stream carried
//! both ways, one binary frame per read.
//!
//! A websocket has no half-close: when the local input ends, berth sends a
//! normal Close and keeps delivering what the endpoint still sends until
//! it answers. The endpoint closing (normally or not) ends the tunnel; a
//! Close with another code than 1000 is an error carrying its reason, as
//! the AWS CLI reports it. A text frame is a protocol error.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::USER_AGENT;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::EiceError;
use super::presign::{OPEN_TUNNEL_PATH, TunnelBase, TunnelTarget};

/// How long connecting, TLS and the websocket handshake may take.
const OPEN_WITHIN: Duration = Duration::from_secs(15);
/// How long to wait for the endpoint's Close after ours.
const CLOSE_WITHIN: Duration = Duration::from_secs(5);
/// The most one frame carries (the AWS CLI sends at most 65,000 bytes).
const FRAME_BYTES: usize = 32 * 1024;
/// How much of a refusal's body to quote.
const DETAIL_CHARS: usize = 300;

/// What a tunnel runs over: TLS or plain TCP.
trait Connection: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Connection for T {}

/// An open tunnel, ready to [`carry`] bytes.
pub struct Tunnel {
    socket: WebSocketStream<Box<dyn Connection>>,
    endpoint_id: String,
}

impl std::fmt::Debug for Tunnel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tunnel")
            .field("endpoint_id", &self.endpoint_id)
            .finish_non_exhaustive()
    }
}

/// Connects to `base` and opens the websocket at the presigned `url`.
pub(super) async fn open(
    url: &str,
    base: &TunnelBase,
    target: &TunnelTarget,
) -> Result<Tunnel, EiceError> {
    // The URL is a credential for a minute: messages name only its base.
    let shown = format!(
        "{}://{}{OPEN_TUNNEL_PATH}",
        if base.secure() { "wss" } else { "ws" },
        base.authority()
    );
    let unreachable = |detail: String| EiceError::Unreachable {
        url: shown.clone(),
        detail,
    };
    let handshake = async {
        let tcp = TcpStream::connect((base.host(), base.port()))
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn Connection> = if base.secure() {
            Box::new(tls(base.host(), tcp).await.map_err(&unreachable)?)
        } else {
            Box::new(tcp)
        };
        let mut request = url
            .into_client_request()
            .map_err(|e| EiceError::Signing(e.to_string()))?;
        request.headers_mut().insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("berth/", env!("CARGO_PKG_VERSION"))),
        );
        match tokio_tungstenite::client_async(request, stream).await {
            Ok((socket, _)) => Ok(socket),
            Err(WsError::Http(response)) => Err(EiceError::Refused {
                endpoint_id: target.endpoint_id.clone(),
                target: target.address(),
                status: response.status().as_u16(),
                detail: response
                    .body()
                    .as_deref()
                    .map(|b| {
                        String::from_utf8_lossy(b)
                            .trim()
                            .chars()
                            .take(DETAIL_CHARS)
                            .collect()
                    })
                    .unwrap_or_default(),
            }),
            Err(e) => Err(unreachable(e.to_string())),
        }
    };
    let socket = tokio::time::timeout(OPEN_WITHIN, handshake)
        .await
        .map_err(|_| unreachable(format!("no answer within {}s", OPEN_WITHIN.as_secs())))??;
    Ok(Tunnel {
        socket,
        endpoint_id: target.endpoint_id.clone(),
    })
}

/// TLS to `host` with the system's trusted roots.
async fn tls(
    host: &str,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err("no trusted root certificates found on this system".to_owned());
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| format!("`{host}` is not a name TLS can check: {e}"))?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS: {e}"))
}

/// Bytes carried by one tunnel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Carried {
    /// From the local side to the instance.
    pub sent: u64,
    /// From the instance to the local side.
    pub received: u64,
}

/// Carries `input` into the tunnel and what comes out of it to `output`,
/// until the endpoint closes the tunnel (or, after the input ended, has
/// answered our Close). A local side that goes away ends the tunnel
/// quietly; only the endpoint's side makes errors.
pub async fn carry<R, W>(tunnel: Tunnel, mut input: R, mut output: W) -> Result<Carried, EiceError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let Tunnel {
        socket,
        endpoint_id,
    } = tunnel;
    let (mut sink, mut stream) = socket.split();
    let sent = AtomicU64::new(0);
    let received = AtomicU64::new(0);
    let broken = |e: WsError| EiceError::Broken(e.to_string());

    let upstream = async {
        let mut buffer = vec![0_u8; FRAME_BYTES];
        loop {
            let n = match input.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            sink.send(Message::Binary(buffer[..n].to_vec()))
                .await
                .map_err(broken)?;
            sent.fetch_add(n as u64, Ordering::Relaxed);
        }
        // The endpoint may already be gone; its side of the story comes
        // from the downstream.
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            })))
            .await;
        Ok::<(), EiceError>(())
    };

    let downstream = async {
        while let Some(message) = stream.next().await {
            match message {
                Ok(Message::Binary(bytes)) => {
                    if output.write_all(&bytes).await.is_err() || output.flush().await.is_err() {
                        return Ok(());
                    }
                    received.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                }
                Ok(Message::Text(_)) => {
                    return Err(EiceError::Broken(
                        "the endpoint sent text, not tunnel bytes".to_owned(),
                    ));
                }
                Ok(Message::Close(Some(frame))) if frame.code != CloseCode::Normal => {
                    return Err(EiceError::Closed {
                        endpoint_id: endpoint_id.clone(),
                        code: u16::from(frame.code),
                        reason: frame.reason.into_owned(),
                    });
                }
                // Pings are answered by the websocket layer; after a
                // normal Close the stream ends.
                Ok(_) => {}
                Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => break,
                Err(e) => return Err(broken(e)),
            }
        }
        let _ = output.shutdown().await;
        Ok::<(), EiceError>(())
    };

    tokio::pin!(upstream, downstream);
    tokio::select! {
        done = &mut downstream => done?,
        up = &mut upstream => {
            // The endpoint's Close says best why sending stopped; after our
            // own Close, anything else it does only ends the tunnel.
            let down = tokio::time::timeout(CLOSE_WITHIN, &mut downstream).await;
            if let Ok(Err(e @ EiceError::Closed { .. })) = down {
                return Err(e);
            }
            up?;
        }
    }
    Ok(Carried {
        sent: sent.load(Ordering::Relaxed),
        received: received.load(Ordering::Relaxed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::protocol::Role;

    /// A tunnel over an in-memory pipe, and the endpoint's end of it.
    async fn pair() -> (Tunnel, WebSocketStream<tokio::io::DuplexStream>) {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let ours: Box<dyn Connection> = Box::new(ours);
        let tunnel = Tunnel {
            socket: WebSocketStream::from_raw_socket(ours, Role::Client, None).await,
            endpoint_id: "eice-1".into(),
        };
        let endpoint = WebSocketStream::from_raw_socket(theirs, Role::Server, None).await;
        (tunnel, endpoint)
    }

    fn close(code: CloseCode, reason: &'static str) -> Message {
        Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }))
    }

    #[tokio::test]
    async fn bytes_go_both_ways_until_the_endpoint_closes() {
        let (tunnel, mut endpoint) = pair().await;
        let (mut local, ours) = tokio::io::duplex(1024);
        let (input, output) = tokio::io::split(ours);
        let far = tokio::spawn(async move {
            let got = endpoint.next().await.expect("a frame").expect("ok");
            endpoint
                .send(Message::Binary(b"pong".to_vec()))
                .await
                .expect("send");
            endpoint
                .send(close(CloseCode::Normal, ""))
                .await
                .expect("close");
            while endpoint.next().await.is_some() {}
            got
        });
        local.write_all(b"ping").await.expect("write");
        let carried = carry(tunnel, input, output).await.expect("carried");
        assert_eq!(
            far.await.expect("endpoint"),
            Message::Binary(b"ping".to_vec())
        );
        let mut back = Vec::new();
        local.read_to_end(&mut back).await.expect("read");
        assert_eq!(back, b"pong");
        assert_eq!(
            carried,
            Carried {
                sent: 4,
                received: 4
            }
        );
    }

    #[tokio::test]
    async fn the_end_of_the_input_closes_the_tunnel_normally() {
        let (tunnel, mut endpoint) = pair().await;
        let far = tokio::spawn(async move {
            let mut frames = Vec::new();
            while let Some(Ok(message)) = endpoint.next().await {
                frames.push(message);
            }
            frames
        });
        let carried = carry(tunnel, tokio::io::empty(), tokio::io::sink())
            .await
            .expect("carried");
        assert_eq!(carried, Carried::default());
        assert_eq!(
            far.await.expect("endpoint"),
            vec![close(CloseCode::Normal, "")]
        );
    }

    #[tokio::test]
    async fn an_error_close_and_text_are_errors() {
        let (tunnel, mut endpoint) = pair().await;
        tokio::spawn(async move {
            let _ = endpoint
                .send(close(CloseCode::Error, "cannot connect to 10.0.0.5:22"))
                .await;
            while endpoint.next().await.is_some() {}
        });
        let (_local, ours) = tokio::io::duplex(1024);
        let (input, output) = tokio::io::split(ours);
        match carry(tunnel, input, output).await {
            Err(EiceError::Closed { code, reason, .. }) => {
                assert_eq!(
                    (code, reason.as_str()),
                    (1011, "cannot connect to 10.0.0.5:22")
                );
            }
            other => panic!("{other:?}"),
        }

        let (tunnel, mut endpoint) = pair().await;
        tokio::spawn(async move {
            let _ = endpoint.send(Message::Text("hello".into())).await;
            while endpoint.next().await.is_some() {}
        });
        let (_local, ours) = tokio::io::duplex(1024);
        let (input, output) = tokio::io::split(ours);
        assert!(matches!(
            carry(tunnel, input, output).await,
            Err(EiceError::Broken(_))
        ));
    }
}
