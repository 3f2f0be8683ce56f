//! The forwarder driven in-process: berth's side of the channel is a
//! queue of messages, the agent's side events given by hand.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::*;
use crate::transport::ssm::message::{ChannelClosed, HandshakeRequest, PayloadType};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The agent's side of a forwarder under test.
struct Agent {
    events: mpsc::Sender<Incoming>,
    sent: mpsc::Receiver<(PayloadType, Vec<u8>)>,
    /// The smux byte stream berth sent, gathered.
    frames: FrameReader,
}

impl Agent {
    /// The next message berth sent (within 5 s).
    async fn message(&mut self) -> (PayloadType, Vec<u8>) {
        tokio::time::timeout(Duration::from_secs(5), self.sent.recv())
            .await
            .expect("a message within 5 s")
            .expect("the forwarder is running")
    }

    /// The next smux frame berth sent; every Output message must hold
    /// whole frames and at most 1,024 bytes.
    async fn frame(&mut self) -> Frame {
        loop {
            if let Some(frame) = self.frames.next_frame().expect("smux") {
                return frame;
            }
            assert_eq!(self.frames.pending(), 0, "messages end on frame boundaries");
            let (payload_type, payload) = self.message().await;
            assert_eq!(payload_type, PayloadType::Output);
            assert!(payload.len() <= MAX_PAYLOAD, "{} bytes", payload.len());
            self.frames.extend(&payload);
        }
    }

    async fn event(&self, event: Incoming) {
        self.events
            .send(event)
            .await
            .expect("the forwarder is running");
    }

    /// The handshake, as an agent of `version`.
    async fn handshake(&mut self, version: &str) {
        let request: HandshakeRequest = serde_json::from_value(serde_json::json!({
            "AgentVersion": version,
            "RequestedClientActions": [{"ActionType": "SessionType",
                "ActionParameters": {"SessionType": "Port",
                    "Properties": {"portNumber": "80", "type": "LocalPortForwarding"}}}],
        }))
        .expect("request");
        self.event(Incoming::HandshakeRequest(request)).await;
        let (payload_type, _) = self.message().await;
        assert_eq!(payload_type, PayloadType::HandshakeResponse);
        let complete = serde_json::from_value(serde_json::json!({
            "HandshakeTimeToComplete": 1, "CustomerMessage": ""
        }))
        .expect("complete");
        self.event(Incoming::HandshakeComplete(complete)).await;
    }

    /// The smux byte stream to berth, cut into pieces of `cut` bytes
    /// regardless of frames.
    async fn send_frames(&self, frames: &[Frame], cut: usize) {
        let mut bytes = Vec::new();
        for frame in frames {
            frame.encode(&mut bytes).expect("encode");
        }
        for piece in bytes.chunks(cut) {
            self.event(Incoming::Output(piece.to_vec())).await;
        }
    }

    async fn close(&self, output: &str) {
        let closed: ChannelClosed = serde_json::from_value(serde_json::json!({
            "MessageId": "m", "CreatedDate": "", "DestinationId": "", "SessionId": "s",
            "MessageType": "channel_closed", "SchemaVersion": 1, "Output": output,
        }))
        .expect("closed");
        self.event(Incoming::Closed(Ok(closed))).await;
    }
}

type Notices = Arc<Mutex<Vec<Notice>>>;

/// A forwarder on a fresh loopback listener: its address, the agent's
/// side, what it noticed, and its end.
async fn forwarder(
    linger: Duration,
) -> (
    SocketAddr,
    Agent,
    Notices,
    tokio::task::JoinHandle<Result<PortOutcome, PortError>>,
) {
    let listener = listen("127.0.0.1:0").await.expect("listen");
    let address = listener.local_addr().expect("address");
    let (writer, sent) = ChannelWriter::test_pair();
    let (events, incoming) = mpsc::channel(64);
    let notices: Notices = Arc::default();
    let heard = notices.clone();
    let options = PortOptions {
        handshake_within: Duration::from_secs(5),
        linger,
    };
    let task = tokio::spawn(async move {
        let notify = move |n: Notice| heard.lock().expect("lock").push(n);
        run(Channel { writer, incoming }, listener, options, &notify).await
    });
    let agent = Agent {
        events,
        sent,
        frames: FrameReader::new(),
    };
    (address, agent, notices, task)
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| u8::try_from((i * 31 + usize::from(seed)) % 251).unwrap_or(0))
        .collect()
}

#[tokio::test]
async fn connections_become_streams_3_5_7_with_whole_frames_of_at_most_1024_bytes() {
    let (address, mut agent, notices, task) = forwarder(ms(200)).await;
    agent.handshake("3.3.987.0").await;
    let mut first = TcpStream::connect(address).await.expect("connect");
    assert_eq!(agent.frame().await, Frame::Syn { stream_id: 3 });
    let mut second = TcpStream::connect(address).await.expect("connect");
    assert_eq!(agent.frame().await, Frame::Syn { stream_id: 5 });
    let data = pattern(5000, 1);
    first.write_all(&data).await.expect("write");
    let mut got = Vec::new();
    while got.len() < data.len() {
        match agent.frame().await {
            Frame::Push { stream_id: 3, data } => {
                assert!(data.len() <= PUSH_SIZE);
                got.extend(data);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(got, data);
    // The agent's bytes, cut at 1,024 regardless of frames, reach each
    // connection in order.
    let one = pattern(3000, 2);
    let two = pattern(2500, 3);
    assert_eq!(one.chunks(700).count(), two.chunks(600).count());
    let mut frames = Vec::new();
    for (a, b) in one.chunks(700).zip(two.chunks(600)) {
        frames.push(Frame::Push {
            stream_id: 3,
            data: a.to_vec(),
        });
        frames.push(Frame::Push {
            stream_id: 5,
            data: b.to_vec(),
        });
    }
    agent.send_frames(&frames, 1024).await;
    let mut buffer = vec![0_u8; one.len()];
    first.read_exact(&mut buffer).await.expect("read");
    assert_eq!(buffer, one);
    let mut buffer = vec![0_u8; two.len()];
    second.read_exact(&mut buffer).await.expect("read");
    assert_eq!(buffer, two);
    drop(second);
    let _third = TcpStream::connect(address).await.expect("connect");
    assert_eq!(agent.frame().await, Frame::Syn { stream_id: 7 });
    agent.close("").await;
    let outcome = task.await.expect("join").expect("ok");
    assert_eq!(outcome.connections, 3);
    let notices = notices.lock().expect("lock").clone();
    assert!(notices.contains(&Notice::Started {
        mode: Mode::Multiplexed,
        agent_version: Some("3.3.987.0".into())
    }));
}

#[tokio::test]
async fn a_reply_after_the_local_half_close_still_arrives_then_fin() {
    let (address, mut agent, _notices, task) = forwarder(ms(300)).await;
    agent.handshake("3.3.987.0").await;
    let mut client = TcpStream::connect(address).await.expect("connect");
    assert_eq!(agent.frame().await, Frame::Syn { stream_id: 3 });
    client.write_all(b"GET /\r\n").await.expect("write");
    client.shutdown().await.expect("half-close");
    assert_eq!(
        agent.frame().await,
        Frame::Push {
            stream_id: 3,
            data: b"GET /\r\n".to_vec()
        }
    );
    // The reference would have sent FIN by now; berth waits for the reply.
    tokio::time::sleep(ms(100)).await;
    agent
        .send_frames(
            &[Frame::Push {
                stream_id: 3,
                data: b"reply".to_vec(),
            }],
            1024,
        )
        .await;
    let mut reply = [0_u8; 5];
    client.read_exact(&mut reply).await.expect("read");
    assert_eq!(&reply, b"reply");
    // Quiet for the linger: then FIN.
    let started = std::time::Instant::now();
    assert_eq!(agent.frame().await, Frame::Fin { stream_id: 3 });
    assert!(started.elapsed() >= ms(200), "{:?}", started.elapsed());
    agent
        .send_frames(&[Frame::Fin { stream_id: 3 }], 1024)
        .await;
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).await.expect("eof");
    assert!(rest.is_empty());
    agent.close("").await;
    task.await.expect("join").expect("ok");
}

#[tokio::test]
async fn the_agents_fin_closes_the_local_connection_and_is_answered() {
    let (address, mut agent, notices, task) = forwarder(ms(5000)).await;
    agent.handshake("3.3.987.0").await;
    let mut client = TcpStream::connect(address).await.expect("connect");
    assert_eq!(agent.frame().await, Frame::Syn { stream_id: 3 });
    agent
        .send_frames(
            &[
                Frame::Push {
                    stream_id: 3,
                    data: b"bye".to_vec(),
                },
                Frame::Fin { stream_id: 3 },
            ],
            5,
        )
        .await;
    let mut all = Vec::new();
    client.read_to_end(&mut all).await.expect("read");
    assert_eq!(all, b"bye");
    assert_eq!(agent.frame().await, Frame::Fin { stream_id: 3 });
    // A stream the agent ends before anything came back: refused.
    let _refused = TcpStream::connect(address).await.expect("connect");
    assert_eq!(agent.frame().await, Frame::Syn { stream_id: 5 });
    agent
        .send_frames(&[Frame::Fin { stream_id: 5 }], 1024)
        .await;
    assert_eq!(agent.frame().await, Frame::Fin { stream_id: 5 });
    agent.close("").await;
    task.await.expect("join").expect("ok");
    let notices = notices.lock().expect("lock").clone();
    assert!(notices.contains(&Notice::Refused { id: 5 }), "{notices:?}");
    assert!(!notices.contains(&Notice::Refused { id: 3 }), "{notices:?}");
}

#[tokio::test]
async fn an_old_agent_gets_basic_mode_one_connection_at_a_time() {
    let (address, mut agent, notices, task) = forwarder(ms(100)).await;
    agent.handshake("3.0.196.0").await;
    let mut first = TcpStream::connect(address).await.expect("connect");
    first.write_all(&pattern(3000, 4)).await.expect("write");
    let mut got = Vec::new();
    while got.len() < 3000 {
        let (payload_type, payload) = agent.message().await;
        assert_eq!(payload_type, PayloadType::Output);
        assert!(payload.len() <= MAX_PAYLOAD);
        got.extend(payload);
    }
    assert_eq!(got, pattern(3000, 4), "bytes as they are, no smux");
    agent.event(Incoming::Output(b"pong".to_vec())).await;
    let mut reply = [0_u8; 4];
    first.read_exact(&mut reply).await.expect("read");
    assert_eq!(&reply, b"pong");
    // A second connection waits until the first is gone.
    let mut second = TcpStream::connect(address).await.expect("connect");
    second.write_all(b"two").await.expect("write");
    assert!(
        tokio::time::timeout(ms(300), agent.sent.recv())
            .await
            .is_err(),
        "nothing of the second connection while the first is open"
    );
    drop(first);
    let (payload_type, payload) = agent.message().await;
    assert_eq!(payload_type, PayloadType::Flag);
    assert_eq!(payload, FlagCommand::DisconnectToPort.encode());
    let (payload_type, payload) = agent.message().await;
    assert_eq!(
        (payload_type, payload),
        (PayloadType::Output, b"two".to_vec())
    );
    // The agent could not dial for it: the connection is closed.
    agent
        .event(Incoming::Flag(FlagCommand::ConnectToPortError))
        .await;
    let mut rest = Vec::new();
    second.read_to_end(&mut rest).await.expect("eof");
    // A session the agent closes after a refusal ends with it.
    agent.close("").await;
    assert_eq!(
        task.await.expect("join"),
        Err(PortError::Refused {
            message: String::new()
        })
    );
    let notices = notices.lock().expect("lock").clone();
    assert!(notices.contains(&Notice::Refused { id: 2 }), "{notices:?}");
    assert!(notices.contains(&Notice::Started {
        mode: Mode::Basic,
        agent_version: Some("3.0.196.0".into())
    }));
}

#[tokio::test]
async fn nothing_goes_before_the_handshake_and_a_refusal_ends_the_session() {
    let (address, mut agent, _notices, task) = forwarder(ms(100)).await;
    let _client = TcpStream::connect(address).await.expect("connect");
    assert!(
        tokio::time::timeout(ms(200), agent.sent.recv())
            .await
            .is_err(),
        "no SYN before the handshake"
    );
    agent.handshake("3.3.987.0").await;
    assert_eq!(agent.frame().await, Frame::Syn { stream_id: 3 });
    agent
        .event(Incoming::Flag(FlagCommand::ConnectToPortError))
        .await;
    agent.close("no route").await;
    assert_eq!(
        task.await.expect("join"),
        Err(PortError::Refused {
            message: "no route".into()
        })
    );
}

#[tokio::test]
async fn a_broken_smux_stream_ends_the_forwarder() {
    let (_address, mut agent, _notices, task) = forwarder(ms(100)).await;
    agent.handshake("3.3.987.0").await;
    agent
        .event(Incoming::Output(vec![2, 0, 0, 0, 3, 0, 0, 0]))
        .await;
    assert_eq!(
        task.await.expect("join"),
        Err(PortError::Smux(SmuxError::Version(2)))
    );
}

#[test]
fn a_push_built_in_place_is_the_encoders_frame() {
    for n in [0, 1, 500, PUSH_SIZE] {
        let data = pattern(n, 9);
        let mut buffer = vec![0_u8; HEADER_SIZE + PUSH_SIZE];
        buffer[HEADER_SIZE..HEADER_SIZE + n].copy_from_slice(&data);
        push_in_place(&mut buffer, 7, n);
        let mut expected = Vec::new();
        Frame::Push { stream_id: 7, data }
            .encode(&mut expected)
            .expect("encode");
        assert_eq!(buffer, expected);
    }
    assert_eq!(HEADER_SIZE + PUSH_SIZE, MAX_PAYLOAD);
    assert_eq!(Framing::Smux(3).read_size() + HEADER_SIZE, MAX_PAYLOAD);
    assert_eq!(Framing::Basic(1).read_size(), MAX_PAYLOAD);
}
