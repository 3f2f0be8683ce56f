//! The channel against an in-process fake agent: a websocket server on
//! 127.0.0.1 that speaks the codec. Short injected timers keep it fast.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::{SinkExt as _, StreamExt as _};
use sha2::{Digest as _, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::*;
use crate::transport::ssm::message::OpenDataChannel;

/// How long a test waits for something that should happen.
const PATIENCE: Duration = Duration::from_secs(5);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn fast() -> ChannelOptions {
    ChannelOptions {
        allow_plain: true,
        resume_for: Duration::from_secs(5),
        timing: Timing {
            resend_tick: ms(20),
            initial_rtt: ms(20),
            initial_rto: ms(60),
            min_rto_margin: ms(10),
            max_rto: ms(200),
            peer_gone_after: Duration::from_secs(5),
            open_within: Duration::from_secs(2),
            ping_every: Duration::from_secs(60),
            resume_first_delay: ms(10),
            resume_max_delay: ms(50),
        },
        ..ChannelOptions::default()
    }
}

/// One accepted websocket, after its token message.
struct Peer {
    ws: WebSocketStream<TcpStream>,
    token: OpenDataChannel,
}

impl Peer {
    /// The next frame within `wait`: `Ok(None)` when the socket ended,
    /// `Err(())` when nothing came.
    async fn recv_within(&mut self, wait: Duration) -> Result<Option<Message>, ()> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Err(()),
                Ok(Some(Ok(WsMessage::Binary(bytes)))) => {
                    return Ok(Some(Message::decode(&bytes).expect("a valid frame")));
                }
                Ok(Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_)))) => {}
                Ok(Some(Ok(other))) if !other.is_close() => panic!("unexpected {other:?}"),
                Ok(_) => return Ok(None),
            }
        }
    }

    async fn recv(&mut self) -> Message {
        self.recv_within(PATIENCE)
            .await
            .expect("a frame in time")
            .expect("the socket open")
    }

    /// Nothing arrives for `wait`.
    async fn quiet_for(&mut self, wait: Duration) {
        if let Ok(frame) = self.recv_within(wait).await {
            panic!("expected silence, got {frame:?}");
        }
    }

    async fn send(&mut self, message: &Message) {
        self.ws
            .send(WsMessage::Binary(message.encode().expect("encode")))
            .await
            .expect("send");
    }

    async fn ack(&mut self, message: &Message) {
        self.send(&Message::acknowledgement(
            message,
            random_uuid(),
            now_millis(),
        ))
        .await;
    }
}

/// A fake agent's listening socket: the stream URL to open, and each
/// connection as it is accepted.
async fn listen() -> (String, mpsc::UnboundedReceiver<Peer>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let mut ws = tokio_tungstenite::accept_async(tcp).await.expect("accept");
            let first = ws.next().await.expect("a first frame").expect("ok");
            let WsMessage::Text(text) = first else {
                panic!("the first frame is not text: {first:?}");
            };
            let token = serde_json::from_str(&text).expect("token message JSON");
            if tx.send(Peer { ws, token }).is_err() {
                break;
            }
        }
    });
    (
        format!("ws://{address}/v1/data-channel/s-1?role=publish_subscribe"),
        rx,
    )
}

/// The layer above's stand-in: counts calls and gives `token-<n>`.
struct Tokens {
    url: String,
    calls: AtomicUsize,
    refusal: Option<ResumeError>,
}

impl Tokens {
    fn new(url: &str) -> Arc<Tokens> {
        Arc::new(Tokens {
            url: url.to_owned(),
            calls: AtomicUsize::new(0),
            refusal: None,
        })
    }
}

impl Resume for Tokens {
    fn resume(&self) -> Pin<Box<dyn Future<Output = Result<Resumed, ResumeError>> + Send + '_>> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        Box::pin(async move {
            match &self.refusal {
                Some(refusal) => Err(refusal.clone()),
                None => Ok(Resumed {
                    stream_url: self.url.clone(),
                    token: format!("token-{n}"),
                }),
            }
        })
    }
}

fn agent_message(message_type: MessageType, sequence_number: i64, payload: &[u8]) -> Message {
    Message {
        message_type,
        schema_version: 1,
        created_date: now_millis(),
        sequence_number,
        flags: u64::from(sequence_number == 0),
        message_id: random_uuid(),
        payload_type: (message_type == MessageType::OutputStreamData)
            .then_some(PayloadType::Output),
        payload: payload.to_vec(),
    }
}

fn output(sequence_number: i64, payload: &[u8]) -> Message {
    agent_message(MessageType::OutputStreamData, sequence_number, payload)
}

fn acked_sequence(message: &Message) -> i64 {
    assert_eq!(message.message_type, MessageType::Acknowledge);
    assert_eq!(message.flags, 3);
    let ack: Acknowledgement = serde_json::from_slice(&message.payload).expect("ack JSON");
    assert_eq!(ack.acknowledged_message_type, "output_stream_data");
    ack.acknowledged_message_sequence_number
}

async fn open(options: ChannelOptions) -> (Channel, Peer, mpsc::UnboundedReceiver<Peer>) {
    let (url, mut peers) = listen().await;
    let channel = Channel::open(&url, "token-0", options, Tokens::new(&url))
        .await
        .expect("open");
    let peer = peers.recv().await.expect("a connection");
    (channel, peer, peers)
}

async fn next_event(channel: &mut Channel) -> Incoming {
    tokio::time::timeout(PATIENCE, channel.incoming.recv())
        .await
        .expect("an event in time")
        .expect("an event")
}

#[tokio::test]
async fn the_token_message_comes_first_and_stream_messages_count_from_zero() {
    let (channel, mut peer, _peers) = open(fast()).await;
    assert_eq!(peer.token.token_value, "token-0");
    assert_eq!(peer.token.message_schema_version, "1.0");
    assert_eq!(peer.token.client_version, CLIENT_VERSION);
    assert!(Uuid::parse_str(&peer.token.request_id).is_ok());
    assert_eq!(
        Uuid::parse_str(&peer.token.client_id)
            .expect("client id")
            .get_version_num(),
        4
    );

    channel.writer.send_output(b"ls\r").await.expect("send");
    channel
        .writer
        .send_size(TerminalSize {
            cols: 120,
            rows: 30,
        })
        .await
        .expect("send");
    channel.writer.send_output(&[7; 2500]).await.expect("send");
    let mut seen = Vec::new();
    for _ in 0..5 {
        let message = peer.recv().await;
        assert_eq!(message.message_type, MessageType::InputStreamData);
        assert_eq!(message.flags, 0);
        peer.ack(&message).await;
        seen.push((
            message.sequence_number,
            message.payload_type,
            message.payload.len(),
        ));
        if message.sequence_number == 1 {
            assert_eq!(message.payload, br#"{"cols":120,"rows":30}"#);
        }
    }
    let output = Some(PayloadType::Output);
    assert_eq!(
        seen,
        [
            (0, output, 3),
            (1, Some(PayloadType::Size), 22),
            (2, output, 1024),
            (3, output, 1024),
            (4, output, 452),
        ]
    );
}

#[tokio::test]
async fn delivers_in_order_whatever_order_messages_arrive_in() {
    let (mut channel, mut peer, _peers) = open(fast()).await;
    let exit = Message {
        payload_type: Some(PayloadType::ExitCode),
        ..output(3, b"EXIT_CODE: 0")
    };
    for message in [output(2, b"c"), output(0, b"a"), exit, output(1, b"b")] {
        peer.send(&message).await;
    }
    let mut acked = Vec::new();
    for _ in 0..4 {
        acked.push(acked_sequence(&peer.recv().await));
    }
    assert_eq!(acked, [2, 0, 3, 1]);
    let mut events = Vec::new();
    for _ in 0..4 {
        events.push(next_event(&mut channel).await);
    }
    assert_eq!(
        events,
        [
            Incoming::Output(b"a".to_vec()),
            Incoming::Output(b"b".to_vec()),
            Incoming::Output(b"c".to_vec()),
            Incoming::ExitCode(b"EXIT_CODE: 0".to_vec()),
        ]
    );
}

#[tokio::test]
async fn frames_are_checked_and_payloads_typed() {
    let (mut channel, mut peer, _peers) = open(fast()).await;
    let request = Message {
        payload_type: Some(PayloadType::HandshakeRequest),
        ..output(
            0,
            br#"{"AgentVersion":"3.3.987.0","RequestedClientActions":[{"ActionType":"SessionType","ActionParameters":{"SessionType":"Port","Properties":{"portNumber":"22"}}}]}"#,
        )
    };
    // A payload that does not match its digest: dropped, not acknowledged.
    let mut corrupt = request.encode().expect("encode");
    *corrupt.last_mut().expect("payload") ^= 1;
    peer.ws
        .send(WsMessage::Binary(corrupt))
        .await
        .expect("send");
    peer.quiet_for(ms(200)).await;
    peer.send(&request).await;
    let flag = Message {
        payload_type: Some(PayloadType::Flag),
        ..output(1, &FlagCommand::ConnectToPortError.encode())
    };
    peer.send(&flag).await;
    let complete = Message {
        payload_type: Some(PayloadType::HandshakeComplete),
        ..output(2, b"not json")
    };
    peer.send(&complete).await;
    for expected in 0..3 {
        assert_eq!(acked_sequence(&peer.recv().await), expected);
    }
    let Incoming::HandshakeRequest(request) = next_event(&mut channel).await else {
        panic!("not a handshake request");
    };
    assert_eq!(request.agent_version, "3.3.987.0");
    assert_eq!(request.requested_client_actions.len(), 1);
    assert_eq!(
        next_event(&mut channel).await,
        Incoming::Flag(FlagCommand::ConnectToPortError)
    );
    assert!(matches!(
        next_event(&mut channel).await,
        Incoming::Malformed {
            payload_type: Some(PayloadType::HandshakeComplete),
            ..
        }
    ));
}

#[tokio::test]
async fn a_full_buffer_makes_the_writer_wait_instead_of_dropping() {
    let (channel, mut peer, _peers) = open(fast()).await;
    let writer = channel.writer.clone();
    let total = MAX_IN_FLIGHT + WRITER_QUEUE + 50;
    let sending = tokio::spawn(async move {
        for n in 0..total {
            writer
                .send_output(&u32::try_from(n).expect("small").to_be_bytes())
                .await
                .expect("send");
        }
    });
    // Nothing is acknowledged: the writer stops short of the total.
    tokio::time::sleep(ms(300)).await;
    assert!(!sending.is_finished());
    // Acknowledging lets it finish, and every message arrives once, in
    // order, none dropped.
    let mut seen = BTreeMap::new();
    while seen.len() < total {
        let message = peer.recv().await;
        peer.ack(&message).await;
        seen.insert(message.sequence_number, message.payload);
    }
    tokio::time::timeout(PATIENCE, sending)
        .await
        .expect("in time")
        .expect("sender");
    for (n, (sequence, payload)) in seen.into_iter().enumerate() {
        assert_eq!(sequence, i64::try_from(n).expect("small"));
        assert_eq!(payload, u32::try_from(n).expect("small").to_be_bytes());
    }
}

#[tokio::test]
async fn duplicates_are_acknowledged_again_and_delivered_once() {
    let (mut channel, mut peer, _peers) = open(fast()).await;
    let first = output(0, b"a");
    peer.send(&first).await;
    assert_eq!(acked_sequence(&peer.recv().await), 0);
    assert_eq!(
        next_event(&mut channel).await,
        Incoming::Output(b"a".to_vec())
    );
    // The ack died with a socket, say: the agent resends.
    peer.send(&first).await;
    assert_eq!(acked_sequence(&peer.recv().await), 0);
    // A duplicate ahead of the expected number is acknowledged again too.
    peer.send(&output(2, b"c")).await;
    peer.send(&output(2, b"c")).await;
    assert_eq!(acked_sequence(&peer.recv().await), 2);
    assert_eq!(acked_sequence(&peer.recv().await), 2);
    peer.send(&output(1, b"b")).await;
    assert_eq!(acked_sequence(&peer.recv().await), 1);
    assert_eq!(
        next_event(&mut channel).await,
        Incoming::Output(b"b".to_vec())
    );
    assert_eq!(
        next_event(&mut channel).await,
        Incoming::Output(b"c".to_vec())
    );
    assert!(
        tokio::time::timeout(ms(100), channel.incoming.recv())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn an_unacknowledged_message_is_resent_until_acknowledged() {
    let (channel, mut peer, _peers) = open(fast()).await;
    channel.writer.send_output(b"x").await.expect("send");
    let original = peer.recv().await;
    let resent = peer.recv().await;
    // The same message, byte for byte (same id and time).
    assert_eq!(resent, original);
    peer.ack(&resent).await;
    // RTO is at most 200 ms here: several ticks go by without a resend.
    peer.quiet_for(ms(400)).await;
}

#[tokio::test]
async fn every_overdue_message_is_resent_in_the_same_tick() {
    // A first estimate high enough that the acknowledgements below, one
    // sample each, keep RTO well above their round trip.
    let mut options = fast();
    options.timing.initial_rtt = ms(300);
    options.timing.initial_rto = ms(300);
    options.timing.max_rto = ms(1000);
    let (channel, mut peer, _peers) = open(options).await;
    for n in 0..5_u8 {
        channel.writer.send_output(&[n]).await.expect("send");
    }
    let mut originals = BTreeMap::new();
    for _ in 0..5 {
        let message = peer.recv().await;
        originals.insert(message.sequence_number, message);
    }
    assert_eq!(
        originals.keys().copied().collect::<Vec<_>>(),
        [0, 1, 2, 3, 4]
    );
    peer.ack(&originals[&1]).await;
    peer.ack(&originals[&3]).await;
    // The reference client would resend 0 on every tick and nothing else
    // until it is acknowledged; berth resends all three at once.
    let mut resent = Vec::new();
    for _ in 0..3 {
        let message = peer.recv().await;
        assert_eq!(message, originals[&message.sequence_number]);
        resent.push(message.sequence_number);
    }
    assert_eq!(resent, [0, 2, 4]);
    for n in [0, 2, 4] {
        peer.ack(&originals[&n]).await;
    }
    // Resends of a later round may still be on their way; then nothing.
    while let Ok(Some(late)) = peer.recv_within(ms(150)).await {
        assert!([0, 2, 4].contains(&late.sequence_number), "{late:?}");
    }
    peer.quiet_for(ms(700)).await;
}

#[tokio::test]
async fn pause_publication_holds_messages_until_start() {
    let (mut channel, mut peer, _peers) = open(fast()).await;
    channel.writer.send_output(b"a").await.expect("send");
    let a = peer.recv().await;
    assert_eq!(a.sequence_number, 0);
    peer.send(&agent_message(MessageType::PausePublication, 0, b""))
        .await;
    // Once this is acknowledged, the pause before it has been seen.
    peer.send(&output(0, b"sync")).await;
    assert_eq!(acked_sequence(&peer.recv().await), 0);
    assert_eq!(
        next_event(&mut channel).await,
        Incoming::Output(b"sync".to_vec())
    );
    channel.writer.send_output(b"b").await.expect("send");
    // Neither the resend of 0 nor the new 1 goes out while paused.
    peer.quiet_for(ms(400)).await;
    peer.send(&agent_message(MessageType::StartPublication, 0, b""))
        .await;
    let mut got = BTreeMap::new();
    for _ in 0..2 {
        let message = peer.recv().await;
        got.insert(message.sequence_number, message.payload);
    }
    assert_eq!(
        got,
        BTreeMap::from([(0, b"a".to_vec()), (1, b"b".to_vec())])
    );
}

#[tokio::test]
async fn channel_closed_ends_the_channel_with_its_output() {
    let (mut channel, mut peer, _peers) = open(fast()).await;
    peer.send(&output(0, b"bye\r\n")).await;
    let closed = ChannelClosed {
        message_id: "m-1".to_owned(),
        created_date: "2024-05-01T10:00:00.000Z".to_owned(),
        destination_id: "i-0abc".to_owned(),
        session_id: "s-1".to_owned(),
        message_type: "channel_closed".to_owned(),
        schema_version: 1,
        output: "Idle timeout".to_owned(),
    };
    peer.send(&agent_message(
        MessageType::ChannelClosed,
        0,
        &closed.to_json(),
    ))
    .await;
    assert_eq!(
        next_event(&mut channel).await,
        Incoming::Output(b"bye\r\n".to_vec())
    );
    assert_eq!(next_event(&mut channel).await, Incoming::Closed(Ok(closed)));
    assert_eq!(channel.writer.send_output(b"more").await, Err(ChannelEnded));
    assert!(channel.writer.is_closed());
    assert!(channel.incoming.recv().await.is_none());
    // The websocket is closed after the ack of "bye".
    assert_eq!(acked_sequence(&peer.recv().await), 0);
    assert_eq!(peer.recv_within(PATIENCE).await, Ok(None));
}

#[tokio::test]
async fn an_agent_that_acknowledges_nothing_is_gone_after_the_timeout() {
    let mut options = fast();
    options.timing.peer_gone_after = ms(300);
    let (mut channel, mut peer, _peers) = open(options).await;
    // Nothing outstanding: quiet is fine.
    tokio::time::sleep(ms(400)).await;
    let started = Instant::now();
    channel.writer.send_output(b"x").await.expect("send");
    // The agent reads (resends included) and never acknowledges.
    tokio::spawn(async move { while let Ok(Some(_)) = peer.recv_within(PATIENCE).await {} });
    assert_eq!(
        next_event(&mut channel).await,
        Incoming::Closed(Err(ChannelError::PeerGone { after: ms(300) }))
    );
    let waited = started.elapsed();
    assert!(waited >= ms(300) && waited < ms(1500), "{waited:?}");
}

#[tokio::test]
async fn plain_websockets_need_the_callers_leave() {
    let url = "ws://127.0.0.1:9/v1/data-channel/s-1?role=publish_subscribe";
    let refused = Channel::open(url, "t", ChannelOptions::default(), Tokens::new(url)).await;
    assert_eq!(
        refused.map(|_| ()),
        Err(ChannelError::PlainRefused {
            url: url.to_owned()
        })
    );
    let url = "https://127.0.0.1:9/";
    let refused = Channel::open(url, "t", ChannelOptions::default(), Tokens::new(url)).await;
    assert!(matches!(refused, Err(ChannelError::BadUrl { .. })));
}

#[tokio::test]
async fn a_refused_resume_ends_the_channel() {
    let (url, mut peers) = listen().await;
    let tokens = Arc::new(Tokens {
        url: url.clone(),
        calls: AtomicUsize::new(0),
        refusal: Some(ResumeError::Fatal("Session: s-1 timed out.".to_owned())),
    });
    let mut channel = Channel::open(&url, "token-0", fast(), tokens.clone())
        .await
        .expect("open");
    drop(peers.recv().await.expect("a connection"));
    assert_eq!(
        next_event(&mut channel).await,
        Incoming::Closed(Err(ChannelError::Resume(
            "Session: s-1 timed out.".to_owned()
        )))
    );
    assert_eq!(tokens.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn resuming_gives_up_after_resume_for() {
    let (url, mut peers) = listen().await;
    let tokens = Arc::new(Tokens {
        url: url.clone(),
        calls: AtomicUsize::new(0),
        refusal: Some(ResumeError::Retry("throttled".to_owned())),
    });
    let mut options = fast();
    options.resume_for = ms(300);
    let mut channel = Channel::open(&url, "token-0", options, tokens.clone())
        .await
        .expect("open");
    // Written while the socket is down: kept, and no error.
    drop(peers.recv().await.expect("a connection"));
    channel.writer.send_output(b"kept").await.expect("send");
    assert_eq!(
        next_event(&mut channel).await,
        Incoming::Closed(Err(ChannelError::ResumeTimedOut {
            tried_for: ms(300),
            last: "throttled".to_owned()
        }))
    );
    // 10, 20, 40, 50, 50, … ms apart: several attempts in 300 ms.
    assert!(tokens.calls.load(Ordering::SeqCst) >= 4);
}

/// A faithful agent across connections: acknowledges and orders input,
/// re-acknowledges duplicates, sends `download` in 1,024-byte messages with
/// up to 64 outstanding, resends what is unacknowledged after 30 ms of
/// quiet and on every new connection, and drops its first connection
/// (without a close handshake) after `break_after` input messages. When
/// all is sent, acknowledged and received, it sends channel_closed.
async fn faithful_agent(
    mut peers: mpsc::UnboundedReceiver<Peer>,
    download: Vec<u8>,
    upload_len: usize,
    break_after: usize,
    tokens: Arc<Mutex<Vec<String>>>,
) -> Vec<u8> {
    let chunks: Vec<&[u8]> = download.chunks(MAX_PAYLOAD).collect();
    let mut sent: BTreeMap<i64, Message> = BTreeMap::new();
    let mut next: usize = 0;
    let mut expected: i64 = 0;
    let mut ahead: BTreeMap<i64, Vec<u8>> = BTreeMap::new();
    let mut upload = Vec::new();
    let mut connections = 0;
    while let Some(mut peer) = peers.recv().await {
        tokens
            .lock()
            .expect("lock")
            .push(peer.token.token_value.clone());
        connections += 1;
        let mut received_here = 0;
        let unacked: Vec<Message> = sent.values().cloned().collect();
        for message in &unacked {
            peer.send(message).await;
        }
        loop {
            while sent.len() < 64 && next < chunks.len() {
                let sequence = i64::try_from(next).expect("small");
                let message = output(sequence, chunks[next]);
                peer.send(&message).await;
                sent.insert(sequence, message);
                next += 1;
            }
            if sent.is_empty() && next == chunks.len() && upload.len() == upload_len {
                let closed = ChannelClosed {
                    session_id: "s-1".to_owned(),
                    ..ChannelClosed::default()
                };
                peer.send(&agent_message(
                    MessageType::ChannelClosed,
                    0,
                    &closed.to_json(),
                ))
                .await;
                return upload;
            }
            let message = match peer.recv_within(ms(30)).await {
                Err(()) => {
                    let unacked: Vec<Message> = sent.values().cloned().collect();
                    for message in &unacked {
                        peer.send(message).await;
                    }
                    continue;
                }
                Ok(None) => break,
                Ok(Some(message)) => message,
            };
            match message.message_type {
                MessageType::Acknowledge => {
                    let ack: Acknowledgement =
                        serde_json::from_slice(&message.payload).expect("ack JSON");
                    assert_eq!(ack.acknowledged_message_type, "output_stream_data");
                    sent.remove(&ack.acknowledged_message_sequence_number);
                }
                MessageType::InputStreamData => {
                    received_here += 1;
                    if connections == 1 && received_here == break_after {
                        // Gone mid-stream, this message unacknowledged.
                        break;
                    }
                    let sequence = message.sequence_number;
                    peer.send(&Message::acknowledgement(
                        &message,
                        random_uuid(),
                        now_millis(),
                    ))
                    .await;
                    if sequence >= expected {
                        ahead.insert(sequence, message.payload);
                    }
                    while let Some(payload) = ahead.remove(&expected) {
                        upload.extend_from_slice(&payload);
                        expected += 1;
                    }
                }
                other => panic!("unexpected {other}"),
            }
        }
    }
    panic!("no more connections");
}

/// Bytes that do not repeat in any short period, so that a lost, repeated
/// or reordered message changes the digest.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut block = Sha256::digest([seed]);
    while out.len() < len {
        out.extend_from_slice(&block);
        block = Sha256::digest(block);
    }
    out.truncate(len);
    out
}

#[tokio::test]
async fn a_dropped_socket_is_resumed_without_losing_or_repeating_a_byte() {
    const LEN: usize = 400 * 1024 + 17;
    let (url, peers) = listen().await;
    let resume = Tokens::new(&url);
    let mut channel = Channel::open(&url, "token-0", fast(), resume.clone())
        .await
        .expect("open");
    let download = pattern(LEN, 1);
    let upload = pattern(LEN, 2);
    let tokens = Arc::new(Mutex::new(Vec::new()));
    let agent = tokio::spawn(faithful_agent(
        peers,
        download.clone(),
        LEN,
        150,
        Arc::clone(&tokens),
    ));
    let writer = channel.writer.clone();
    let to_send = upload.clone();
    tokio::spawn(async move {
        // Writes of an odd size, split by the channel into 1,024 bytes.
        for piece in to_send.chunks(3001) {
            writer.send_output(piece).await.expect("send");
        }
    });
    let mut received = Vec::new();
    let mut resumed = 0;
    let end = loop {
        match next_event(&mut channel).await {
            Incoming::Output(bytes) => received.extend_from_slice(&bytes),
            Incoming::Resumed => resumed += 1,
            Incoming::Closed(end) => break end,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert!(end.is_ok(), "{end:?}");
    let uploaded = tokio::time::timeout(PATIENCE, agent)
        .await
        .expect("agent in time")
        .expect("agent");
    assert_eq!(resumed, 1);
    assert_eq!(resume.calls.load(Ordering::SeqCst), 1);
    assert_eq!(*tokens.lock().expect("lock"), ["token-0", "token-1"]);
    assert_eq!(received.len(), LEN);
    assert_eq!(Sha256::digest(&received), Sha256::digest(&download));
    assert_eq!(uploaded.len(), LEN);
    assert_eq!(Sha256::digest(&uploaded), Sha256::digest(&upload));
}
