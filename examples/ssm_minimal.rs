//! A minimal Session Manager client: the yardstick `scripts/bench.py`
//! measures berth against, on the same stand-in in the same run. It is not
//! part of berth and shares none of its code: its own frame encoder and
//! decoder, frames and acknowledgements and nothing else (no resend timer,
//! no resume, no buffering beyond putting messages back in order).
//!
//! StartSession goes as plain AWS JSON to `--endpoint` (the stand-in does
//! not check signatures), then the websocket, the token message, the
//! handshake when the agent asks for one, and one mode:
//!
//! - `shell`: the agent's Output to stdout, stdin to the shell once it has
//!   spoken (input before the pty is up would go unacknowledged, and this
//!   client never resends), until `channel_closed`;
//! - `upload FILE --port N` / `download --port N`: AWS-StartPortForwardingSession,
//!   one smux v1 stream (SYN, PSH, FIN) carrying FILE up, or everything the
//!   port sends down (hashed), then one JSON line on stdout;
//! - `proxy --port N`: AWS-StartSSHSession in basic mode, stdin and stdout
//!   as ssh's ProxyCommand.
//!
//! Each message carries at most 1,024 bytes. `--paced` sleeps 1 ms after
//! each data message it sends, as the reference client does
//! (session-manager-plugin); acknowledgements are never paced.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream as StdTcpStream;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};
use futures::{SinkExt, StreamExt};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

const CLIENT_VERSION: &str = "1.2.707.0";
const MESSAGE_BYTES: usize = 1024;
const SMUX_STREAM: u32 = 3;
const PT_OUTPUT: u32 = 1;
const PT_HANDSHAKE_REQUEST: u32 = 5;
const PT_HANDSHAKE_RESPONSE: u32 = 6;
const PT_HANDSHAKE_COMPLETE: u32 = 7;
const PT_FLAG: u32 = 10;
const FLAG_TERMINATE_SESSION: u32 = 2;
const FLAG_CONNECT_TO_PORT_ERROR: u32 = 3;

#[derive(Parser)]
struct Args {
    /// The SSM endpoint, http://127.0.0.1:PORT.
    #[arg(long)]
    endpoint: String,
    /// The managed instance.
    #[arg(long)]
    target: String,
    /// Sleep 1 ms after each data message sent, as the reference client.
    #[arg(long)]
    paced: bool,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand, Clone)]
enum Mode {
    Shell,
    Upload {
        file: PathBuf,
        #[arg(long)]
        port: u16,
    },
    Download {
        #[arg(long)]
        port: u16,
    },
    Proxy {
        #[arg(long)]
        port: u16,
    },
}

/// What the writer task sends: acknowledgements as they are, input
/// messages numbered in the order they reach it.
enum Out {
    Ack(Vec<u8>),
    Input(u32, Vec<u8>),
    Quit,
}

type Outbox = mpsc::Sender<Out>;

fn main() {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if let Err(e) = runtime.block_on(run(args)) {
        eprintln!("ssm_minimal: {e}");
        std::process::exit(1);
    }
    std::process::exit(0);
}

type Sink =
    futures::stream::SplitSink<tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>, Message>;
type Source =
    futures::stream::SplitStream<tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>>;

/// StartSession, the websocket and its token message.
async fn open(args: &Args) -> Result<(Sink, Source), String> {
    let request = match &args.mode {
        Mode::Shell => serde_json::json!({ "Target": args.target }),
        Mode::Upload { port, .. } | Mode::Download { port } => serde_json::json!({
            "Target": args.target,
            "DocumentName": "AWS-StartPortForwardingSession",
            "Parameters": { "portNumber": [port.to_string()], "localPortNumber": ["0"] },
        }),
        Mode::Proxy { port } => serde_json::json!({
            "Target": args.target,
            "DocumentName": "AWS-StartSSHSession",
            "Parameters": { "portNumber": [port.to_string()] },
        }),
    };
    let session = start_session(&args.endpoint, &request.to_string())?;
    let url = session["StreamUrl"].as_str().ok_or("no StreamUrl")?;
    let token = session["TokenValue"].as_str().ok_or("no TokenValue")?;

    let address = url
        .strip_prefix("ws://")
        .and_then(|rest| rest.split('/').next())
        .ok_or("the stream URL is not ws://")?;
    let tcp = tokio::net::TcpStream::connect(address)
        .await
        .map_err(|e| format!("connect {address}: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let (ws, _) = tokio_tungstenite::client_async(url, tcp)
        .await
        .map_err(|e| format!("websocket: {e}"))?;
    let (mut sink, stream) = ws.split();
    let opening = format!(
        r#"{{"MessageSchemaVersion":"1.0","RequestId":"{}","TokenValue":"{token}","ClientId":"{}","ClientVersion":"{CLIENT_VERSION}"}}"#,
        uuid_string(&new_id()),
        uuid_string(&new_id()),
    );
    sink.send(Message::Text(opening))
        .await
        .map_err(|e| e.to_string())?;
    Ok((sink, stream))
}

/// The one task that writes to the websocket: numbers input messages in
/// the order they come, sends in batches.
fn spawn_writer(mut sink: Sink) -> (Outbox, tokio::task::JoinHandle<()>) {
    let (outbox, mut outgoing) = mpsc::channel::<Out>(1024);
    let writer = tokio::spawn(async move {
        let mut sequence: i64 = 0;
        while let Some(first) = outgoing.recv().await {
            let mut next = Some(first);
            let mut batch = 0;
            while let Some(out) = next.take() {
                let frame = match out {
                    Out::Ack(frame) => frame,
                    Out::Input(payload_type, payload) => {
                        sequence += 1;
                        encode("input_stream_data", sequence - 1, 0, payload_type, &payload)
                    }
                    Out::Quit => {
                        let _ = sink.flush().await;
                        let _ = sink.close().await;
                        return;
                    }
                };
                if sink.feed(Message::Binary(frame)).await.is_err() {
                    return;
                }
                batch += 1;
                if batch < 64 {
                    next = outgoing.try_recv().ok();
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });
    (outbox, writer)
}

async fn run(args: Args) -> Result<(), String> {
    let (sink, mut stream) = open(&args).await?;
    let (outbox, writer) = spawn_writer(sink);

    let mut agent = Agent::new(args.mode.clone(), args.paced, outbox.clone());
    if matches!(args.mode, Mode::Shell) {
        // A shell without KMS gets no handshake: the agent just speaks.
        agent.ready = true;
    }
    let mut expected: i64 = 0;
    let mut early: BTreeMap<i64, (u32, Vec<u8>)> = BTreeMap::new();
    let outcome = loop {
        let received = stream.next().await;
        if matches!(received, None | Some(Ok(Message::Close(_)))) {
            break if agent.finished_by_close() {
                Ok(())
            } else {
                Err("the websocket was closed before the transfer ended".to_owned())
            };
        }
        let data = match received.expect("not the end") {
            Ok(Message::Binary(data)) => data,
            Ok(_) => continue,
            Err(e) => break Err(format!("websocket: {e}")),
        };
        let frame = decode(&data)?;
        match frame.kind.as_str() {
            "output_stream_data" => {
                let ack = ack_for(&frame);
                if outbox.send(Out::Ack(ack)).await.is_err() {
                    break Err("the writer stopped".to_owned());
                }
                if frame.sequence < expected {
                    continue;
                }
                if frame.sequence > expected {
                    early.insert(frame.sequence, (frame.payload_type, frame.payload));
                    continue;
                }
                let mut step = agent.deliver(frame.payload_type, &frame.payload).await;
                expected += 1;
                while step.is_none() {
                    let Some(next) = early.remove(&expected) else {
                        break;
                    };
                    step = agent.deliver(next.0, &next.1).await;
                    expected += 1;
                }
                if let Some(result) = step {
                    break result;
                }
            }
            "channel_closed" => {
                break if agent.finished_by_close() {
                    Ok(())
                } else {
                    Err("channel_closed before the transfer ended".to_owned())
                };
            }
            _ => {}
        }
    };
    let _ = outbox
        .send(Out::Input(
            PT_FLAG,
            FLAG_TERMINATE_SESSION.to_be_bytes().to_vec(),
        ))
        .await;
    let _ = outbox.send(Out::Quit).await;
    let _ = writer.await;
    outcome
}

/// The mode's side of the session: what each in-order message means.
struct Agent {
    mode: Mode,
    paced: bool,
    outbox: Outbox,
    ready: bool,
    started: bool,
    smux: Vec<u8>,
    hasher: Sha256,
    bytes: u64,
    first: Option<f64>,
}

impl Agent {
    fn new(mode: Mode, paced: bool, outbox: Outbox) -> Agent {
        Agent {
            mode,
            paced,
            outbox,
            ready: false,
            started: false,
            smux: Vec::new(),
            hasher: Sha256::new(),
            bytes: 0,
            first: None,
        }
    }

    fn finished_by_close(&self) -> bool {
        matches!(self.mode, Mode::Shell | Mode::Proxy { .. })
    }

    /// Handles one message; `Some` ends the session.
    async fn deliver(&mut self, payload_type: u32, payload: &[u8]) -> Option<Result<(), String>> {
        match payload_type {
            PT_HANDSHAKE_REQUEST => {
                let response = format!(
                    r#"{{"ClientVersion":"{CLIENT_VERSION}","ProcessedClientActions":[{{"ActionType":"SessionType","ActionStatus":1}}],"Errors":[]}}"#
                );
                self.send(PT_HANDSHAKE_RESPONSE, response.into_bytes())
                    .await;
                None
            }
            PT_HANDSHAKE_COMPLETE => {
                self.ready = true;
                self.start().await;
                None
            }
            PT_FLAG if payload == FLAG_CONNECT_TO_PORT_ERROR.to_be_bytes() => {
                Some(Err("the agent could not connect to the port".to_owned()))
            }
            PT_OUTPUT => self.output(payload).await,
            _ => None,
        }
    }

    async fn send(&self, payload_type: u32, payload: Vec<u8>) {
        let _ = self.outbox.send(Out::Input(payload_type, payload)).await;
    }

    async fn start(&mut self) {
        if self.started {
            return;
        }
        self.started = true;
        match self.mode.clone() {
            Mode::Shell | Mode::Proxy { .. } => {
                let outbox = self.outbox.clone();
                let paced = self.paced;
                std::thread::spawn(move || pump_stdin(&outbox, paced));
            }
            Mode::Download { .. } => self.send(PT_OUTPUT, smux(0, &[])).await,
            Mode::Upload { file, .. } => {
                let outbox = self.outbox.clone();
                let paced = self.paced;
                std::thread::spawn(move || {
                    if let Err(e) = upload(&file, &outbox, paced) {
                        eprintln!("ssm_minimal: {e}");
                        std::process::exit(1);
                    }
                });
            }
        }
    }

    async fn output(&mut self, payload: &[u8]) -> Option<Result<(), String>> {
        match self.mode {
            Mode::Shell | Mode::Proxy { .. } => {
                let mut stdout = std::io::stdout().lock();
                if stdout
                    .write_all(payload)
                    .and_then(|()| stdout.flush())
                    .is_err()
                {
                    return Some(Ok(()));
                }
                drop(stdout);
                if !self.started && self.ready {
                    self.start().await;
                }
                None
            }
            Mode::Upload { .. } | Mode::Download { .. } => {
                self.smux.extend_from_slice(payload);
                self.smux_frames()
            }
        }
    }

    /// Takes whole smux frames off the reassembly buffer; the agent's FIN
    /// ends the transfer.
    fn smux_frames(&mut self) -> Option<Result<(), String>> {
        let mut at = 0;
        let mut outcome = None;
        while self.smux.len() - at >= 8 {
            let header = &self.smux[at..at + 8];
            let command = header[1];
            let length = usize::from(u16::from_le_bytes([header[2], header[3]]));
            let stream = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
            if command == 2 {
                if self.smux.len() - at < 8 + length {
                    break;
                }
                if stream == SMUX_STREAM {
                    self.first.get_or_insert_with(now);
                    self.hasher.update(&self.smux[at + 8..at + 8 + length]);
                    self.bytes += length as u64;
                }
                at += 8 + length;
                continue;
            }
            at += 8;
            if command == 1 && stream == SMUX_STREAM {
                let end = now();
                let digest = self.hasher.clone().finalize();
                let hex = digest.iter().fold(String::new(), |mut hex, b| {
                    let _ = write!(hex, "{b:02x}");
                    hex
                });
                let received = matches!(self.mode, Mode::Download { .. });
                println!(
                    r#"{{"bytes":{},"sha256":"{}","first":{},"end":{end:.6}}}"#,
                    if received { self.bytes } else { 0 },
                    if received { hex.as_str() } else { "" },
                    self.first.map_or("null".to_owned(), |t| format!("{t:.6}")),
                );
                outcome = Some(Ok(()));
                break;
            }
        }
        self.smux.drain(..at);
        outcome
    }
}

/// Standard input to the session, ≤1,024 bytes a message; at its end the
/// session is over.
fn pump_stdin(outbox: &Outbox, paced: bool) {
    let mut stdin = std::io::stdin().lock();
    let mut buffer = [0_u8; MESSAGE_BYTES];
    loop {
        let n = match stdin.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if outbox
            .blocking_send(Out::Input(PT_OUTPUT, buffer[..n].to_vec()))
            .is_err()
        {
            return;
        }
        if paced {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let _ = outbox.blocking_send(Out::Input(
        PT_FLAG,
        FLAG_TERMINATE_SESSION.to_be_bytes().to_vec(),
    ));
    let _ = outbox.blocking_send(Out::Quit);
}

/// SYN, the file in PSH frames that fill a message each, FIN.
fn upload(file: &PathBuf, outbox: &Outbox, paced: bool) -> Result<(), String> {
    let data = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let send = |payload: Vec<u8>| {
        outbox
            .blocking_send(Out::Input(PT_OUTPUT, payload))
            .map_err(|_| "the writer stopped".to_owned())
    };
    send(smux(0, &[]))?;
    for chunk in data.chunks(MESSAGE_BYTES - 8) {
        send(smux(2, chunk))?;
        if paced {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    send(smux(1, &[]))
}

fn smux(command: u8, body: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(8 + body.len());
    frame.push(1);
    frame.push(command);
    frame.extend_from_slice(
        &u16::try_from(body.len())
            .expect("a smux body fits in u16")
            .to_le_bytes(),
    );
    frame.extend_from_slice(&SMUX_STREAM.to_le_bytes());
    frame.extend_from_slice(body);
    frame
}

/// StartSession as plain HTTP/1.1 JSON; the answer's body.
fn start_session(endpoint: &str, body: &str) -> Result<serde_json::Value, String> {
    let address = endpoint
        .strip_prefix("http://")
        .map(|rest| rest.trim_end_matches('/'))
        .ok_or("the endpoint is not http://")?;
    let mut socket = StdTcpStream::connect(address).map_err(|e| format!("{address}: {e}"))?;
    socket.set_nodelay(true).map_err(|e| e.to_string())?;
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/x-amz-json-1.1\r\n\
         X-Amz-Target: AmazonSSM.StartSession\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    socket
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    socket.read_to_end(&mut answer).map_err(|e| e.to_string())?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n").ok_or("no HTTP answer")?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return Err(format!(
            "StartSession: {} {body}",
            head.lines().next().unwrap_or("")
        ));
    }
    serde_json::from_str(body).map_err(|e| format!("StartSession's answer: {e}"))
}

struct Frame {
    kind: String,
    sequence: i64,
    id: [u8; 16],
    payload_type: u32,
    payload: Vec<u8>,
}

fn encode(kind: &str, sequence: i64, flags: u64, payload_type: u32, payload: &[u8]) -> Vec<u8> {
    let id = new_id();
    let mut frame = Vec::with_capacity(120 + payload.len());
    frame.extend_from_slice(&116_u32.to_be_bytes());
    let mut name = [b' '; 32];
    name[..kind.len()].copy_from_slice(kind.as_bytes());
    frame.extend_from_slice(&name);
    frame.extend_from_slice(&1_u32.to_be_bytes());
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0));
    frame.extend_from_slice(&millis.to_be_bytes());
    frame.extend_from_slice(&sequence.to_be_bytes());
    frame.extend_from_slice(&flags.to_be_bytes());
    frame.extend_from_slice(&id[8..]);
    frame.extend_from_slice(&id[..8]);
    frame.extend_from_slice(&Sha256::digest(payload));
    frame.extend_from_slice(&payload_type.to_be_bytes());
    frame.extend_from_slice(
        &u32::try_from(payload.len())
            .expect("a payload fits in u32")
            .to_be_bytes(),
    );
    frame.extend_from_slice(payload);
    frame
}

fn decode(data: &[u8]) -> Result<Frame, String> {
    if data.len() < 120 {
        return Err(format!(
            "a {}-byte frame is shorter than a header",
            data.len()
        ));
    }
    let u32_at = |at: usize| u32::from_be_bytes(data[at..at + 4].try_into().expect("4 bytes"));
    let start = usize::try_from(u32_at(0)).map_err(|e| e.to_string())? + 4;
    let length = usize::try_from(u32_at(116)).map_err(|e| e.to_string())?;
    let payload = data
        .get(start..start + length)
        .ok_or("the payload length does not match")?
        .to_vec();
    if length > 0 && Sha256::digest(&payload)[..] != data[80..112] {
        return Err("a payload digest does not match".to_owned());
    }
    let mut id = [0_u8; 16];
    id[..8].copy_from_slice(&data[72..80]);
    id[8..].copy_from_slice(&data[64..72]);
    Ok(Frame {
        kind: String::from_utf8_lossy(&data[4..36])
            .trim_matches([' ', '\0'])
            .to_owned(),
        sequence: i64::from_be_bytes(data[48..56].try_into().expect("8 bytes")),
        id,
        payload_type: u32_at(112),
        payload,
    })
}

fn ack_for(frame: &Frame) -> Vec<u8> {
    let body = format!(
        r#"{{"AcknowledgedMessageType":"{}","AcknowledgedMessageId":"{}","AcknowledgedMessageSequenceNumber":{},"IsSequentialMessage":true}}"#,
        frame.kind,
        uuid_string(&frame.id),
        frame.sequence
    );
    encode("acknowledge", 0, 3, 0, body.as_bytes())
}

/// A version-4-shaped message id from a per-process counter mixed with the
/// start time: unique is all the protocol asks of it.
fn new_id() -> [u8; 16] {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| {
        u64::try_from(d.as_nanos() & u128::from(u64::MAX)).unwrap_or(0)
    });
    let mut x = seed ^ u64::from(std::process::id()).rotate_left(32);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut id = [0_u8; 16];
    for (i, half) in id.chunks_mut(8).enumerate() {
        // splitmix64
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15_u64.wrapping_mul(n + 1 + i as u64));
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        half.copy_from_slice(&(z ^ (z >> 31)).to_be_bytes());
    }
    id[6] = (id[6] & 0x0F) | 0x40;
    id[8] = (id[8] & 0x3F) | 0x80;
    id
}

fn uuid_string(id: &[u8; 16]) -> String {
    uuid::Uuid::from_bytes(*id).hyphenated().to_string()
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
