//! The websocket of one tunnel: opened over TLS (rustls with the aws-lc-rs
//! provider and the system's roots, as berth's other HTTPS calls) or, for
//! a `ws://` stand-in, plain TCP, straight or through an HTTP proxy's
//! `CONNECT` (see [`super::proxy`]); then the bytes of a local stream
//! carried both ways, one binary frame per read.
//!
//! A websocket has no half-close, so the end of the local input is a
//! choice ([`InputEnd`]): a local connection that ended is done with the
//! tunnel (berth sends a normal Close, as the AWS CLI does for its
//! listener), while a ProxyCommand's standard input ending only means
//! nothing more is sent, and what the far side still sends is delivered
//! until it closes (the AWS CLI's `open-tunnel` on stdin keeps reading as
//! well). The endpoint closing (normally or not) ends the tunnel; a Close
//! with another code than 1000 is an error carrying its reason, as the AWS
//! CLI reports it. A text frame is a protocol error.
//!
//! Errors say what they can: a tunnel that carried bytes and then broke was
//! let in (not a security-group problem), and one that the endpoint closed
//! when its `maxTunnelDuration` was up reached its time limit.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::USER_AGENT;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::presign::{TunnelBase, TunnelTarget};
use super::{EiceError, MAX_TUNNEL_SECONDS};
use crate::aws::ca_bundle::CaBundle;
use crate::transport::proxy::{DialError, ProxyHop, dial};

/// How long connecting, TLS and the websocket handshake may take.
const OPEN_WITHIN: Duration = Duration::from_secs(15);
/// How long to wait for the endpoint's Close after ours.
const CLOSE_WITHIN: Duration = Duration::from_secs(5);
/// The most one frame carries (the AWS CLI sends at most 65,000 bytes).
const FRAME_BYTES: usize = 32 * 1024;
/// How much of a refusal's body to quote.
const DETAIL_CHARS: usize = 300;
/// How early before its limit a tunnel's end still counts as the limit:
/// the endpoint starts its clock a round trip before berth does.
const LIMIT_SLACK: Duration = Duration::from_secs(1);

/// What a tunnel runs over: TLS or plain TCP, maybe inside a proxy's
/// CONNECT.
trait Connection: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Connection for T {}

/// An open tunnel, ready to [`carry`] bytes.
pub struct Tunnel {
    socket: WebSocketStream<Box<dyn Connection>>,
    endpoint_id: String,
    /// `10.0.1.5:22`, for messages.
    target: String,
    /// When the endpoint closes it at the latest (`maxTunnelDuration`).
    limit: Duration,
    opened: Instant,
}

impl std::fmt::Debug for Tunnel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tunnel")
            .field("endpoint_id", &self.endpoint_id)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// Connects to `base` (through `proxy` when there is one) and opens the
/// websocket at the presigned `url`.
pub(super) async fn open(
    url: &str,
    base: &TunnelBase,
    target: &TunnelTarget,
    proxy: Option<&ProxyHop>,
    ca_bundle: Option<&CaBundle>,
) -> Result<Tunnel, EiceError> {
    // The URL is a credential for a minute: messages name only its base.
    let shown = base.shown();
    let unreachable = |detail: String| EiceError::Unreachable {
        url: shown.clone(),
        detail,
    };
    let handshake = async {
        let stream = dial(proxy, base.host(), base.port())
            .await
            .map_err(|e| match e {
                DialError::Proxy(e) => EiceError::through(base, e),
                DialError::Direct(e) => unreachable(e.to_string()),
            })?;
        let connection = secure(base, stream, ca_bundle)
            .await
            .map_err(&unreachable)?;
        let mut request = url
            .into_client_request()
            .map_err(|e| EiceError::Signing(e.to_string()))?;
        request.headers_mut().insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("berth/", env!("CARGO_PKG_VERSION"))),
        );
        match tokio_tungstenite::client_async(request, connection).await {
            Ok((socket, _)) => Ok(socket),
            Err(WsError::Http(response)) => Err(EiceError::Refused {
                endpoint_id: target.endpoint_id.clone(),
                target: target.address(),
                port: target.port,
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
        target: target.address(),
        limit: target
            .max_duration
            .unwrap_or(Duration::from_secs(MAX_TUNNEL_SECONDS)),
        opened: Instant::now(),
    })
}

/// TLS over `stream` for a `wss://` base, else `stream` as it is.
async fn secure<S>(
    base: &TunnelBase,
    stream: S,
    ca_bundle: Option<&CaBundle>,
) -> Result<Box<dyn Connection>, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    if base.secure() {
        Ok(Box::new(
            crate::transport::tls::connect(base.host(), stream, ca_bundle)
                .await
                .map_err(|e| e.to_string())?,
        ))
    } else {
        Ok(Box::new(stream))
    }
}

/// Bytes carried by one tunnel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Carried {
    /// From the local side to the instance.
    pub sent: u64,
    /// From the instance to the local side.
    pub received: u64,
}

/// What the end of the local input means for the tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputEnd {
    /// The local side is done: close the tunnel (normally), and deliver
    /// what comes until the endpoint answers.
    Close,
    /// Only sending is done: keep delivering until the far side closes.
    KeepReceiving,
}

/// Carries `input` into the tunnel and what comes out of it to `output`,
/// until the endpoint closes the tunnel (or, with [`InputEnd::Close`],
/// has answered the Close berth sends when the input ends). A local side
/// that goes away ends the tunnel quietly; only the endpoint's side makes
/// errors.
pub async fn carry<R, W>(
    tunnel: Tunnel,
    mut input: R,
    mut output: W,
    input_end: InputEnd,
) -> Result<Carried, EiceError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let Tunnel {
        socket,
        endpoint_id,
        target,
        limit,
        opened,
    } = tunnel;
    let (mut sink, mut stream) = socket.split();
    let sent = AtomicU64::new(0);
    let received = AtomicU64::new(0);
    // Whether berth closed the tunnel itself (then the end is no limit).
    let closed_by_us = AtomicBool::new(false);
    let carried = || Carried {
        sent: sent.load(Ordering::Relaxed),
        received: received.load(Ordering::Relaxed),
    };
    let broken = |e: WsError| {
        let so_far = carried();
        if so_far == Carried::default() {
            EiceError::Broken(e.to_string())
        } else {
            EiceError::BrokeMidSession {
                endpoint_id: endpoint_id.clone(),
                target: target.clone(),
                carried: so_far,
            }
        }
    };

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
        if input_end == InputEnd::Close {
            closed_by_us.store(true, Ordering::Relaxed);
            // The endpoint may already be gone; its side of the story
            // comes from the downstream.
            let _ = sink.send(normal_close()).await;
        }
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
                        carried: carried(),
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
        up = &mut upstream => match (up, input_end) {
            (Ok(()), InputEnd::KeepReceiving) => downstream.await?,
            (up, _) => {
                // The endpoint's Close says best why sending stopped;
                // after our own Close, anything else it does only ends
                // the tunnel.
                let down = tokio::time::timeout(CLOSE_WITHIN, &mut downstream).await;
                if let Ok(Err(e @ EiceError::Closed { .. })) = down {
                    return Err(e);
                }
                up?;
            }
        },
    }
    // The endpoint ended the tunnel when its time was up: say so, since
    // the far side only sees its connection close.
    if !closed_by_us.load(Ordering::Relaxed) && at_limit(opened, limit) {
        return Err(EiceError::TimeLimit {
            endpoint_id: endpoint_id.clone(),
            target: target.clone(),
            seconds: limit.as_secs(),
            carried: carried(),
        });
    }
    Ok(carried())
}

fn normal_close() -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    }))
}

/// Whether a tunnel opened at `opened` has (about) reached `limit`.
fn at_limit(opened: Instant, limit: Duration) -> bool {
    opened.elapsed() + LIMIT_SLACK.min(limit / 10) >= limit
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::hint::Hint as _;
    use tokio_tungstenite::tungstenite::protocol::Role;

    /// A tunnel over an in-memory pipe, and the endpoint's end of it.
    async fn pair() -> (Tunnel, WebSocketStream<tokio::io::DuplexStream>) {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let ours: Box<dyn Connection> = Box::new(ours);
        let tunnel = Tunnel {
            socket: WebSocketStream::from_raw_socket(ours, Role::Client, None).await,
            endpoint_id: "eice-1".into(),
            target: "10.0.0.5:22".into(),
            limit: Duration::from_secs(MAX_TUNNEL_SECONDS),
            opened: Instant::now(),
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
        let carried = carry(tunnel, input, output, InputEnd::Close)
            .await
            .expect("carried");
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
        let carried = carry(
            tunnel,
            tokio::io::empty(),
            tokio::io::sink(),
            InputEnd::Close,
        )
        .await
        .expect("carried");
        assert_eq!(carried, Carried::default());
        assert_eq!(
            far.await.expect("endpoint"),
            vec![close(CloseCode::Normal, "")]
        );
    }

    /// What `carry` came to once `endpoint` has done its part: the result,
    /// what reached the local side, and the frames the endpoint received.
    async fn run_against<F, Fut>(
        tunnel: Tunnel,
        mut endpoint: WebSocketStream<tokio::io::DuplexStream>,
        input_end: InputEnd,
        local_input: &'static [u8],
        far_side: F,
    ) -> (Result<Carried, EiceError>, Vec<u8>)
    where
        F: FnOnce(WebSocketStream<tokio::io::DuplexStream>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let far = tokio::spawn(async move {
            // The input's bytes arrive before anything else happens.
            if !local_input.is_empty() {
                let _ = endpoint.next().await;
            }
            far_side(endpoint).await;
        });
        let (mut output, theirs) = tokio::io::duplex(64 * 1024);
        let result = carry(tunnel, local_input, theirs, input_end).await;
        let _ = far.await;
        let mut delivered = Vec::new();
        output.read_to_end(&mut delivered).await.expect("read");
        (result, delivered)
    }

    #[tokio::test]
    async fn a_cut_after_data_flowed_is_a_break_mid_session_not_a_firewall() {
        let (tunnel, endpoint) = pair().await;
        let (result, delivered) = run_against(
            tunnel,
            endpoint,
            InputEnd::KeepReceiving,
            b"ping",
            |mut e| async move {
                e.send(Message::Binary(b"pong!".to_vec()))
                    .await
                    .expect("send");
                // Gone without a Close: the connection is cut.
                drop(e);
            },
        )
        .await;
        assert_eq!(delivered, b"pong!");
        let err = result.expect_err("broken");
        match &err {
            EiceError::BrokeMidSession { carried, .. } => {
                assert_eq!(
                    *carried,
                    Carried {
                        sent: 4,
                        received: 5
                    }
                );
            }
            other => panic!("{other:?}"),
        }
        let message = err.to_string();
        assert!(message.contains("mid-session"), "{message}");
        assert!(message.contains("4 bytes sent, 5 received"), "{message}");
        assert!(
            !err.hint()
                .unwrap_or_default()
                .contains("security groups must"),
            "{}",
            err.hint().unwrap_or_default()
        );
    }

    #[tokio::test]
    async fn a_cut_before_any_data_still_points_at_the_security_groups() {
        let (tunnel, endpoint) = pair().await;
        let (result, _) = run_against(
            tunnel,
            endpoint,
            InputEnd::KeepReceiving,
            b"",
            |e| async move {
                drop(e);
            },
        )
        .await;
        let err = result.expect_err("broken");
        assert!(matches!(err, EiceError::Broken(_)), "{err:?}");
        assert!(
            err.hint().unwrap_or_default().contains("security groups"),
            "{}",
            err.hint().unwrap_or_default()
        );
    }

    #[tokio::test]
    async fn an_error_close_after_data_says_how_much_went_through() {
        let (tunnel, endpoint) = pair().await;
        let (result, _) = run_against(
            tunnel,
            endpoint,
            InputEnd::KeepReceiving,
            b"abc",
            |mut e| async move {
                let _ = e.send(close(CloseCode::Error, "target reset")).await;
                while e.next().await.is_some() {}
            },
        )
        .await;
        let err = result.expect_err("closed");
        assert!(
            err.to_string()
                .ends_with("after 3 bytes sent and 0 received"),
            "{err}"
        );
        assert!(
            !err.hint()
                .unwrap_or_default()
                .contains("security groups must"),
            "{}",
            err.hint().unwrap_or_default()
        );
    }

    #[tokio::test]
    async fn after_the_input_ends_replies_still_come_until_the_far_side_closes() {
        let (tunnel, endpoint) = pair().await;
        let (result, delivered) = run_against(
            tunnel,
            endpoint,
            InputEnd::KeepReceiving,
            b"question",
            |mut e| async move {
                // The answer takes a while, longer than a Close would wait.
                tokio::time::sleep(CLOSE_WITHIN + Duration::from_millis(200)).await;
                e.send(Message::Binary(b"answer".to_vec()))
                    .await
                    .expect("send");
                e.send(close(CloseCode::Normal, "")).await.expect("close");
                while e.next().await.is_some() {}
            },
        )
        .await;
        assert_eq!(delivered, b"answer");
        assert_eq!(
            result.expect("carried"),
            Carried {
                sent: 8,
                received: 6
            }
        );
    }

    #[tokio::test]
    async fn a_close_at_the_time_limit_says_so() {
        let (mut tunnel, endpoint) = pair().await;
        tunnel.limit = Duration::from_millis(500);
        let (result, _) = run_against(
            tunnel,
            endpoint,
            InputEnd::KeepReceiving,
            b"",
            |mut e| async move {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let _ = e.send(close(CloseCode::Normal, "")).await;
                while e.next().await.is_some() {}
            },
        )
        .await;
        match result {
            Err(e @ EiceError::TimeLimit { .. }) => {
                assert!(e.to_string().contains("time limit"), "{e}");
                assert!(
                    e.hint()
                        .unwrap_or_default()
                        .contains("--max-tunnel-duration"),
                    "{}",
                    e.hint().unwrap_or_default()
                );
            }
            other => panic!("{other:?}"),
        }

        // Closed well before the limit: an ordinary end.
        let (mut tunnel, endpoint) = pair().await;
        tunnel.limit = Duration::from_secs(60);
        let (result, _) = run_against(
            tunnel,
            endpoint,
            InputEnd::KeepReceiving,
            b"",
            |mut e| async move {
                let _ = e.send(close(CloseCode::Normal, "")).await;
                while e.next().await.is_some() {}
            },
        )
        .await;
        assert_eq!(result.expect("ordinary end"), Carried::default());
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
        match carry(tunnel, input, output, InputEnd::Close).await {
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
            carry(tunnel, input, output, InputEnd::Close).await,
            Err(EiceError::Broken(_))
        ));
    }
}
