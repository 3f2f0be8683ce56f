//! One websocket to a StreamUrl: opened (TLS through berth's one client
//! configuration, or plain TCP when the caller allows `ws://`; through the
//! HTTP proxy the environment names, as the AWS CLI goes), the token
//! message sent first, then a writer task that owns the sending half so
//! that the channel never waits on a slow socket.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::USER_AGENT;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};
use uuid::Uuid;

use super::{CLIENT_VERSION, ChannelError, random_uuid};
use crate::aws::ca_bundle::CaBundle;
use crate::settings::ProxyEnv;
use crate::transport::proxy::{DialError, ProxyError, dial, proxy_for};
use crate::transport::ssm::message::{JsonPayload as _, OpenDataChannel};
use crate::transport::tls::TlsError;

/// How long a closing connection may take to send its Close frame.
const CLOSE_WITHIN: Duration = Duration::from_secs(1);

/// What a websocket runs over: TLS or plain TCP.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

type Ws = WebSocketStream<Box<dyn Io>>;

/// How to open a stream's websocket; the same for the first connection and
/// every resumed one.
#[derive(Clone, Debug)]
pub(super) struct Opener {
    /// Names this client across resumes (the token message's ClientId).
    pub client_id: Uuid,
    pub allow_plain: bool,
    pub proxy: ProxyEnv,
    pub ca_bundle: Option<Arc<CaBundle>>,
    pub open_within: Duration,
}

impl Opener {
    /// Connects to `url` (passed through as it is, query included) and
    /// sends the token message.
    pub async fn open(&self, url: &str, token: &str) -> Result<Connection, ChannelError> {
        let request = url
            .into_client_request()
            .map_err(|e| ChannelError::BadUrl {
                url: url.to_owned(),
                detail: e.to_string(),
            })?;
        let uri = request.uri().clone();
        let secure = match uri.scheme_str() {
            Some("wss") => true,
            Some("ws") if self.allow_plain => false,
            Some("ws") => {
                return Err(ChannelError::PlainRefused {
                    url: url.to_owned(),
                });
            }
            _ => {
                return Err(ChannelError::BadUrl {
                    url: url.to_owned(),
                    detail: "not a ws:// or wss:// URL".to_owned(),
                });
            }
        };
        let host = uri
            .host()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_owned())
            .ok_or_else(|| ChannelError::BadUrl {
                url: url.to_owned(),
                detail: "no host".to_owned(),
            })?;
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        // As the Host header has it: the port only when the URL names one.
        let authority = uri
            .authority()
            .map_or_else(|| host.clone(), |a| a.as_str().to_owned());
        let failed = |detail: String| ChannelError::Open {
            url: url.to_owned(),
            detail,
        };
        let hop = proxy_for(&self.proxy, secure, &authority).map_err(|e| proxy_failed(url, e))?;
        let opening = async {
            let stream = dial(hop.as_ref(), &host, port).await.map_err(|e| match e {
                DialError::Proxy(e) => proxy_failed(url, e),
                DialError::Direct(e) => failed(e.to_string()),
            })?;
            let io: Box<dyn Io> = if secure {
                Box::new(
                    crate::transport::tls::connect(&host, stream, self.ca_bundle.as_deref())
                        .await
                        .map_err(|e| match e {
                            TlsError::Handshake(_) => ChannelError::Tls {
                                url: url.to_owned(),
                                detail: e.to_string(),
                            },
                            TlsError::Setup(detail) => failed(detail),
                        })?,
                )
            } else {
                Box::new(stream)
            };
            let mut request = request;
            request.headers_mut().insert(
                USER_AGENT,
                HeaderValue::from_static(concat!("berth/", env!("CARGO_PKG_VERSION"))),
            );
            let mut socket = match tokio_tungstenite::client_async(request, io).await {
                Ok((socket, _)) => socket,
                Err(WsError::Http(response)) => {
                    return Err(ChannelError::Refused {
                        url: url.to_owned(),
                        status: response.status().as_u16(),
                    });
                }
                Err(e) => return Err(failed(e.to_string())),
            };
            let token_message = OpenDataChannel {
                message_schema_version: "1.0".to_owned(),
                request_id: random_uuid().to_string(),
                token_value: token.to_owned(),
                client_id: self.client_id.to_string(),
                client_version: CLIENT_VERSION.to_owned(),
            };
            let text = String::from_utf8(token_message.to_json())
                .map_err(|e| failed(format!("the token message is not text: {e}")))?;
            socket
                .send(WsMessage::Text(text))
                .await
                .map_err(|e| failed(e.to_string()))?;
            Ok(socket)
        };
        let socket = tokio::time::timeout(self.open_within, opening)
            .await
            .map_err(|_| {
                failed(format!(
                    "no answer within {}",
                    humantime::format_duration(self.open_within)
                ))
            })??;
        Ok(Connection::start(socket))
    }
}

/// The proxy's failure on the way to `url`.
fn proxy_failed(url: &str, e: ProxyError) -> ChannelError {
    ChannelError::Proxy {
        url: url.to_owned(),
        proxy: e.proxy,
        var: e.var,
        detail: e.detail,
    }
}

/// An open websocket: the channel reads `stream` itself and hands frames
/// to send to the writer task.
pub(super) struct Connection {
    stream: SplitStream<Ws>,
    writer: mpsc::UnboundedSender<WsMessage>,
    /// Frames handed to the writer and not yet written.
    backlog: Arc<AtomicUsize>,
    task: Option<JoinHandle<()>>,
}

impl Connection {
    fn start(socket: Ws) -> Connection {
        let (sink, stream) = socket.split();
        let (writer, frames) = mpsc::unbounded_channel();
        let backlog = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(write_frames(sink, frames, Arc::clone(&backlog)));
        Connection {
            stream,
            writer,
            backlog,
            task: Some(task),
        }
    }

    /// The next frame read; `None` once the socket has ended.
    pub async fn next_frame(&mut self) -> Option<Result<WsMessage, WsError>> {
        self.stream.next().await
    }

    /// Queues a frame; `false` when the writer has stopped (the socket
    /// broke).
    pub fn send(&self, frame: WsMessage) -> bool {
        self.backlog.fetch_add(1, Ordering::Relaxed);
        self.writer.send(frame).is_ok()
    }

    /// Frames queued and not yet written.
    pub fn backlog(&self) -> usize {
        self.backlog.load(Ordering::Relaxed)
    }

    /// Sends a normal Close after what is queued, and waits (briefly) for
    /// it to be written.
    pub async fn close(mut self) {
        let _ = self.send(WsMessage::Close(None));
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(CLOSE_WITHIN, task).await;
        }
    }
}

impl Drop for Connection {
    /// A connection dropped without [`Connection::close`] is broken: its
    /// writer stops at once.
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Writes frames as they come, flushing when none is waiting.
async fn write_frames(
    mut sink: SplitSink<Ws, WsMessage>,
    mut frames: mpsc::UnboundedReceiver<WsMessage>,
    backlog: Arc<AtomicUsize>,
) {
    while let Some(frame) = frames.recv().await {
        let closing = matches!(frame, WsMessage::Close(_));
        let fed = sink.feed(frame).await;
        backlog.fetch_sub(1, Ordering::Relaxed);
        if fed.is_err() {
            return;
        }
        if (closing || frames.is_empty()) && sink.flush().await.is_err() {
            return;
        }
        if closing {
            return;
        }
    }
}
