//! `--via ssm`: ssh (and scp) carried over Session Manager's
//! AWS-StartSSHSession by `berth proxy --via ssm` as ssh's ProxyCommand,
//! against the Python stand-in (`tests/support/ssm_standin.py`), whose
//! agent dials the sandbox host's own sshd (127.X.0.N:22) for port 22.

use crate::server_address;
use crate::session::{StandIn, run_with_input};
use crate::support::{SandboxHost, sandbox};

fn host() -> &'static SandboxHost {
    sandbox().host("prod-al2023")
}

/// A stand-in whose managed instance is `host`: its port sessions dial
/// the host's sshd.
fn standin_for(host: &SandboxHost) -> StandIn {
    let address = host.private_ip.as_deref().expect("private ip");
    StandIn::start(
        &host.instance_id,
        &serde_json::json!({ "address": address }),
    )
}

#[test]
fn ssh_via_ssm_lands_on_the_host_through_an_ssh_session() {
    let host = host();
    let standin = standin_for(host);
    let berth = standin.berth();
    let target = format!("prod/{}", host.instance_id);
    let run = run_with_input(
        &berth,
        &[
            "ssh",
            &target,
            "--via",
            "ssm",
            "--",
            "echo $SSH_CONNECTION; id -un",
        ],
        "",
    );
    run.expect_code(0);
    assert_eq!(
        server_address(&run.stdout),
        host.private_ip.as_deref().expect("ip"),
        "{run:#?}"
    );
    assert_eq!(run.stdout.lines().nth(1), Some("ec2-user"), "{run:#?}");
    let started = standin.wait_for(|e| e["event"] == "call" && e["op"] == "AmazonSSM.StartSession");
    assert_eq!(
        started["request"]["DocumentName"], "AWS-StartSSHSession",
        "{started}"
    );
    assert_eq!(started["request"]["Target"], host.instance_id.as_str());
    assert_eq!(
        started["request"]["Parameters"]["portNumber"],
        serde_json::json!(["22"]),
        "{started}"
    );
    let session = started["session"].as_str().expect("session id").to_owned();
    standin.wait_for(|e| e["event"] == "dialed" && e["mode"] == "basic");
    standin.wait_for(|e| e["event"] == "handshake_response");
    standin.wait_for(|e| {
        e["event"] == "call"
            && e["op"] == "AmazonSSM.TerminateSession"
            && e["session"] == session.as_str()
    });
}

#[test]
fn cp_via_ssm_copies_a_file_to_the_host_and_back() {
    let host = host();
    let standin = standin_for(host);
    let berth = standin.berth();
    let target = format!("prod/{}", host.instance_id);
    // Some binary bytes, more than one message's worth.
    let content: Vec<u8> = (0..200_000_u32)
        .map(|i| u8::try_from(i.wrapping_mul(2_654_435_761) >> 24).expect("byte"))
        .collect();
    let local = berth.home().join("payload.bin");
    std::fs::write(&local, &content).expect("write");
    let remote = format!("/tmp/berth-via-ssm-{}.bin", std::process::id());
    run_with_input(
        &berth,
        &[
            "cp",
            &target,
            "--via",
            "ssm",
            &local.display().to_string(),
            &format!(":{remote}"),
        ],
        "",
    )
    .expect_code(0);
    let back = berth.home().join("back.bin");
    run_with_input(
        &berth,
        &[
            "cp",
            &target,
            "--via",
            "ssm",
            &format!(":{remote}"),
            &back.display().to_string(),
        ],
        "",
    )
    .expect_code(0);
    let _ = std::fs::remove_file(&remote);
    let copied = std::fs::read(&back).expect("copied back");
    assert_eq!(copied.len(), content.len());
    assert!(copied == content, "the file came back changed");
    let terminated = standin.calls("AmazonSSM.TerminateSession");
    assert_eq!(terminated, 2);
}

#[test]
fn an_agent_not_connected_is_said_clearly() {
    let host = host();
    let standin = standin_for(host);
    let berth = standin.berth();
    standin.faults(&serde_json::json!({ "refuse_start": "TargetNotConnected" }));
    let target = format!("prod/{}", host.instance_id);
    let run = run_with_input(&berth, &["ssh", &target, "--via", "ssm", "--", "true"], "");
    assert_ne!(run.code, 0, "{run:#?}");
    assert!(
        run.stderr.contains(&format!(
            "the SSM agent on {} is not connected",
            host.instance_id
        )),
        "{run:#?}"
    );
    // berth proxy on its own says the same, with its exit status.
    let run = run_with_input(
        &berth,
        &["proxy", &host.instance_id, "22", "--via", "ssm"],
        "",
    );
    run.expect_code(4)
        .stderr_has(&format!(
            "the SSM agent on {} is not connected",
            host.instance_id
        ))
        .stderr_has(&format!("berth doctor {}", host.instance_id));
    assert!(run.stdout.is_empty(), "{run:#?}");
}

#[test]
fn a_port_the_agent_cannot_connect_to_is_named() {
    let host = host();
    // Nothing listens on 127.0.0.1:9 (discard) in the sandbox.
    let standin = StandIn::start(
        &host.instance_id,
        &serde_json::json!({ "ports": { "22": "127.0.0.1:9" } }),
    );
    let berth = standin.berth();
    // ssh keeps its ProxyCommand's input open while it waits for the
    // server's banner: the refusal comes first, and ssh passes it on.
    let target = format!("prod/{}", host.instance_id);
    let run = run_with_input(&berth, &["ssh", &target, "--via", "ssm", "--", "true"], "");
    assert_ne!(run.code, 0, "{run:#?}");
    run.stderr_has(&format!(
        "the SSM agent on {} could not connect to its port 22",
        host.instance_id
    ));
    standin.wait_for(|e| e["event"] == "dial_failed");
    standin.wait_for(|e| e["event"] == "call" && e["op"] == "AmazonSSM.TerminateSession");
}

// ------------------------------------------------------- tunnel, rdp

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

use crate::support::Berth;

/// A loopback port nothing listens on now (bound, then let go).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// A service on 127.0.0.1 that answers each connection with `serve` on a
/// thread of its own; its port.
pub(crate) fn service(serve: fn(TcpStream)) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for socket in listener.incoming().flatten() {
            std::thread::spawn(move || serve(socket));
        }
    });
    port
}

/// Echoes what it reads until EOF.
pub(crate) fn echo(mut socket: TcpStream) {
    let mut back = socket.try_clone().expect("clone");
    let _ = std::io::copy(&mut socket, &mut back);
    let _ = back.shutdown(Shutdown::Write);
}

/// `len` bytes that no simple framing bug keeps intact (seeded).
pub(crate) fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[1]
        })
        .collect()
}

const DOWNLOAD: usize = 50 * 1024 * 1024;

/// Sends DOWNLOAD bytes of pattern 7, then closes.
fn source(mut socket: TcpStream) {
    let data = pattern(DOWNLOAD, 7);
    let _ = socket.write_all(&data);
}

/// A running `berth tunnel`: its process, what it said on stderr.
pub(crate) struct Tunnel {
    child: Child,
    /// Kept: its home holds the stderr file.
    _berth: Berth,
    errors: std::path::PathBuf,
    /// The forwards' `listening` entries (`--output json`).
    pub(crate) listening: Vec<serde_json::Value>,
}

impl Tunnel {
    /// `berth --output json tunnel TARGET --via ssm FORWARDS…`, once it
    /// listens.
    fn start(berth: Berth, target: &str, forwards: &[&str]) -> Tunnel {
        let args = [&[target, "--via", "ssm"], forwards].concat();
        Tunnel::launch(berth, &args)
    }

    /// `berth --output json -v tunnel ARGS…`, once it listens.
    pub(crate) fn launch(berth: Berth, tunnel_args: &[&str]) -> Tunnel {
        let errors = berth.home().join("tunnel-stderr");
        let args = [&["--output", "json", "-v", "tunnel"], tunnel_args].concat();
        let mut child = berth
            .command(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&errors).expect("stderr file"))
            .spawn()
            .expect("start berth tunnel");
        let stdout = child.stdout.take().expect("stdout");
        let (line_tx, line_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = line_tx.send(line);
        });
        let line = line_rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_default();
        let said: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!(
                "no listening line ({line:?}): {}",
                std::fs::read_to_string(&errors).unwrap_or_default()
            )
        });
        Tunnel {
            child,
            _berth: berth,
            errors,
            listening: said["listening"].as_array().expect("listening").clone(),
        }
    }

    pub(crate) fn stderr(&self) -> String {
        std::fs::read_to_string(&self.errors).unwrap_or_default()
    }

    /// Ctrl-C; berth's exit status and stderr.
    pub(crate) fn stop(mut self) -> (i32, String) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("pid")),
            nix::sys::signal::Signal::SIGINT,
        )
        .expect("SIGINT");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return (status.code().unwrap_or(-1), self.stderr());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("berth tunnel outlived Ctrl-C by 15 s: {}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Sends `data` through `port` and reads back as much (an echo), then
/// closes; what came back.
pub(crate) fn through_echo(port: u16, data: &[u8]) -> Vec<u8> {
    let mut socket = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut writer = socket.try_clone().expect("clone");
    let sending = data.to_vec();
    let sender = std::thread::spawn(move || writer.write_all(&sending).expect("send"));
    let mut back = vec![0_u8; data.len()];
    socket.read_exact(&mut back).expect("read back");
    sender.join().expect("sender");
    back
}

pub(crate) fn sha256(data: &[u8]) -> String {
    format!("{:x}", Sha256::digest(data))
}

#[test]
fn tunnel_via_ssm_carries_concurrent_connections_over_one_session() {
    let host = host();
    let echo_port = service(echo);
    let standin = StandIn::start(
        &host.instance_id,
        &serde_json::json!({ "ports": { "7001": format!("127.0.0.1:{echo_port}") } }),
    );
    let local = free_port();
    let tunnel = Tunnel::start(
        standin.berth(),
        &format!("prod/{}", host.instance_id),
        &[&format!("{local}:7001")],
    );
    assert_eq!(
        tunnel.listening[0]["local"],
        format!("127.0.0.1:{local}"),
        "{:?}",
        tunnel.listening
    );
    assert_eq!(tunnel.listening[0]["destination"], "localhost:7001");
    // Six connections at once, each its own data.
    let clients: Vec<_> = (0..6_u32)
        .map(|i| {
            std::thread::spawn(move || {
                let data = pattern(300_000 + 1_000 * i as usize, i);
                let back = through_echo(local, &data);
                (sha256(&data), sha256(&back))
            })
        })
        .collect();
    for client in clients {
        let (sent, received) = client.join().expect("client");
        assert_eq!(sent, received);
    }
    let stderr = tunnel.stderr();
    assert!(
        stderr.contains(&format!(
            "forwarding 127.0.0.1:{local} to localhost:7001 on {}",
            host.instance_id
        )),
        "{stderr}"
    );
    let (code, stderr) = tunnel.stop();
    assert_eq!(code, 0, "{stderr}");
    // One session carried them all, as smux streams 3, 5, …
    assert_eq!(standin.calls("AmazonSSM.StartSession"), 1);
    let started = standin.wait_for(|e| e["event"] == "call" && e["op"] == "AmazonSSM.StartSession");
    assert_eq!(
        started["request"]["DocumentName"],
        "AWS-StartPortForwardingSession"
    );
    assert_eq!(
        started["request"]["Parameters"]["portNumber"],
        serde_json::json!(["7001"])
    );
    let streams: Vec<i64> = standin
        .entries()
        .iter()
        .filter(|e| e["event"] == "smux_syn")
        .filter_map(|e| e["stream"].as_i64())
        .collect();
    let mut sorted = streams.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [3, 5, 7, 9, 11, 13], "{streams:?}");
    standin.wait_terminated(&started);
}

#[test]
fn tunnel_via_ssm_to_a_remote_host_reaches_it_from_the_instance() {
    let host = host();
    let echo_port = service(echo);
    let standin = StandIn::start(
        &host.instance_id,
        &serde_json::json!({ "remote_hosts": { "db.internal": format!("127.0.0.1:{echo_port}") } }),
    );
    let local = free_port();
    let tunnel = Tunnel::start(
        standin.berth(),
        &format!("prod/{}", host.instance_id),
        &[&format!("{local}:db.internal:5432")],
    );
    assert_eq!(tunnel.listening[0]["destination"], "db.internal:5432");
    let data = pattern(100_000, 11);
    assert!(
        through_echo(local, &data) == data,
        "the echo came back changed"
    );
    let (code, stderr) = tunnel.stop();
    assert_eq!(code, 0, "{stderr}");
    let started = standin.wait_for(|e| e["event"] == "call" && e["op"] == "AmazonSSM.StartSession");
    assert_eq!(
        started["request"]["DocumentName"],
        "AWS-StartPortForwardingSessionToRemoteHost"
    );
    assert_eq!(
        started["request"]["Parameters"]["host"],
        serde_json::json!(["db.internal"])
    );
    assert_eq!(
        started["request"]["Parameters"]["portNumber"],
        serde_json::json!(["5432"])
    );
    let dialed = standin.wait_for(|e| e["event"] == "dialed");
    assert_eq!(dialed["port"], echo_port);
    assert_eq!(dialed["mode"], "smux");
}

#[test]
fn tunnel_via_ssm_survives_three_dropped_websockets_mid_transfer() {
    let host = host();
    let source_port = service(source);
    let standin = StandIn::start(
        &host.instance_id,
        &serde_json::json!({ "ports": { "7002": format!("127.0.0.1:{source_port}") } }),
    );
    // An aborted socket loses what was in flight: the agent resends every
    // overdue message, not only the oldest, so that this ends in time.
    standin.faults(&serde_json::json!({ "resend": "all" }));
    let local = free_port();
    let tunnel = Tunnel::start(
        standin.berth(),
        &format!("prod/{}", host.instance_id),
        &[&format!("{local}:7002")],
    );
    let started = Instant::now();
    let mut socket = TcpStream::connect(("127.0.0.1", local)).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut hash = Sha256::new();
    let mut received = 0_usize;
    let mut drops = 0;
    let mut buffer = vec![0_u8; 64 * 1024];
    loop {
        let n = socket.read(&mut buffer).expect("read");
        if n == 0 {
            break;
        }
        hash.update(&buffer[..n]);
        received += n;
        // Drop the websocket at a quarter, a half and three quarters.
        if drops < 3 && received >= DOWNLOAD / 4 * (drops + 1) {
            standin.faults(&serde_json::json!({ "drop_now": true }));
            drops += 1;
        }
    }
    let took = started.elapsed();
    assert_eq!(received, DOWNLOAD, "{}", tunnel.stderr());
    assert_eq!(
        format!("{:x}", hash.finalize()),
        sha256(&pattern(DOWNLOAD, 7)),
        "the download's sha256"
    );
    let (code, stderr) = tunnel.stop();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(standin.calls("AmazonSSM.ResumeSession"), 3, "{stderr}");
    assert_eq!(standin.calls("AmazonSSM.StartSession"), 1);
    eprintln!("50 MB across 3 drops in {took:?}");
}

#[test]
fn tunnel_via_ssm_names_a_destination_the_agent_cannot_reach() {
    let host = host();
    // Nothing listens on 127.0.0.1:9 (discard) in the sandbox.
    let standin = StandIn::start(
        &host.instance_id,
        &serde_json::json!({ "ports": { "7003": "127.0.0.1:9" } }),
    );
    let local = free_port();
    let tunnel = Tunnel::start(
        standin.berth(),
        &format!("prod/{}", host.instance_id),
        &[&format!("{local}:7003")],
    );
    let mut socket = TcpStream::connect(("127.0.0.1", local)).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    socket.write_all(b"hello").expect("write");
    let mut rest = Vec::new();
    socket.read_to_end(&mut rest).expect("closed");
    assert!(rest.is_empty());
    standin.wait_for(|e| e["event"] == "dial_failed");
    let deadline = Instant::now() + Duration::from_secs(10);
    let message = format!(
        "connection 3 to localhost:7003 on {} closed before anything came back: the SSM \
         agent could not connect to localhost:7003",
        host.instance_id
    );
    while !tunnel.stderr().contains(&message) {
        assert!(Instant::now() < deadline, "{}", tunnel.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        tunnel.stderr().contains("sudo ss -ltnp"),
        "{}",
        tunnel.stderr()
    );
    // The tunnel keeps listening (the port may come up); Ctrl-C ends it,
    // and its session.
    let (code, stderr) = tunnel.stop();
    assert_eq!(code, 0, "{stderr}");
    standin.wait_for(|e| e["event"] == "call" && e["op"] == "AmazonSSM.TerminateSession");
}

#[test]
fn tunnel_via_ssm_refuses_a_local_port_in_use_before_any_session() {
    let host = host();
    let standin = StandIn::start(&host.instance_id, &serde_json::json!({}));
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let run = run_with_input(
        &standin.berth(),
        &[
            "tunnel",
            &format!("prod/{}", host.instance_id),
            "--via",
            "ssm",
            &format!("{port}:80"),
        ],
        "",
    );
    run.expect_code(4)
        .stderr_has(&format!("cannot listen on 127.0.0.1:{port}"))
        .stderr_has("choose another local port");
    assert_eq!(standin.calls("AmazonSSM.StartSession"), 0);
}

#[test]
fn rdp_via_ssm_logs_into_the_desktop_through_a_port_session() {
    let sb = crate::support::sandbox();
    let windows = sb.host("prod-windows");
    let address = windows.private_ip.as_deref().expect("private ip");
    let standin = StandIn::start(
        &windows.instance_id,
        &serde_json::json!({ "address": address, "platform_type": "Windows" }),
    );
    // The plan first: a local port, held over a port session.
    let run = standin
        .berth()
        .run(&["rdp", "prod/prod-windows", "--via", "ssm", "--dry-run"]);
    run.expect_code(0)
        .stdout_has("# berth forwards 127.0.0.1:")
        .stdout_has(&format!(
            "to port 3389 of {} over one Session Manager port session",
            windows.instance_id
        ))
        .stdout_has("xfreerdp /v:127.0.0.1:");
    assert_eq!(
        standin.calls("AmazonSSM.StartSession"),
        0,
        "a dry run starts none"
    );
    let argv = crate::log_in_with_xfreerdp_as(
        standin.berth(),
        &["rdp", "prod/prod-windows", "--via", "ssm"],
    );
    // The client talks to berth's local end, not to the instance.
    assert!(argv[1].starts_with("/v:127.0.0.1:"), "{argv:?}");
    let started = standin.wait_for(|e| e["event"] == "call" && e["op"] == "AmazonSSM.StartSession");
    assert_eq!(
        started["request"]["DocumentName"],
        "AWS-StartPortForwardingSession"
    );
    assert_eq!(
        started["request"]["Parameters"]["portNumber"],
        serde_json::json!(["3389"])
    );
    standin.wait_for(|e| e["event"] == "dialed" && e["port"] == 3389);
    standin.wait_for(|e| e["event"] == "call" && e["op"] == "AmazonSSM.TerminateSession");
}

#[test]
fn tunnel_via_ssm_with_an_old_agent_carries_one_connection_at_a_time() {
    let host = host();
    let echo_port = service(echo);
    // Agents up to 3.0.196.0 have no smux: basic mode.
    let standin = StandIn::start(
        &host.instance_id,
        &serde_json::json!({
            "agent_version": "3.0.196.0",
            "ports": { "7004": format!("127.0.0.1:{echo_port}") },
        }),
    );
    let local = free_port();
    let tunnel = Tunnel::start(
        standin.berth(),
        &format!("prod/{}", host.instance_id),
        &[&format!("{local}:7004")],
    );
    for seed in [21, 22] {
        let data = pattern(40_000, seed);
        assert!(through_echo(local, &data) == data, "echo {seed} changed");
    }
    let (code, stderr) = tunnel.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("(3.0.196.0) forwards one connection at a time"),
        "{stderr}"
    );
    let entries = standin.entries();
    let modes: Vec<&str> = entries
        .iter()
        .filter(|e| e["event"] == "dialed")
        .filter_map(|e| e["mode"].as_str())
        .collect();
    assert!(
        !modes.is_empty() && modes.iter().all(|m| *m == "basic"),
        "{modes:?}"
    );
    assert!(
        entries.iter().all(|e| e["event"] != "smux_syn"),
        "no smux with an old agent"
    );
    // The first client's end was said with DisconnectToPort.
    assert!(
        entries
            .iter()
            .any(|e| e["event"] == "flag" && e["flag"] == 1),
        "{entries:#?}"
    );
}

#[test]
fn tunnel_via_ssm_with_an_old_agent_names_the_port_it_could_not_reach() {
    let host = host();
    // Basic mode: the agent dials at the start, fails, and says so with
    // Flag ConnectToPortError.
    let standin = StandIn::start(
        &host.instance_id,
        &serde_json::json!({
            "agent_version": "3.0.196.0",
            "ports": { "7005": "127.0.0.1:9" },
        }),
    );
    let local = free_port();
    let tunnel = Tunnel::start(
        standin.berth(),
        &format!("prod/{}", host.instance_id),
        &[&format!("{local}:7005")],
    );
    standin.wait_for(|e| e["event"] == "dial_failed");
    let message = format!(
        "the SSM agent on {} could not connect to localhost:7005",
        host.instance_id
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !tunnel.stderr().contains(&message) {
        assert!(Instant::now() < deadline, "{}", tunnel.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    let (code, stderr) = tunnel.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("sudo ss -ltnp"), "{stderr}");
}

#[test]
fn a_failed_tunnel_or_rdp_over_ssm_prints_the_diagnosis() {
    let sb = crate::support::sandbox();
    let windows = sb.host("prod-windows");
    let standin = StandIn::start(
        &windows.instance_id,
        &serde_json::json!({ "platform_type": "Windows" }),
    );
    standin.faults(&serde_json::json!({ "refuse_start": "TargetNotConnected" }));
    let run = run_with_input(
        &standin.berth(),
        &[
            "rdp",
            "prod/prod-windows",
            "--via",
            "ssm",
            "--client",
            "true",
        ],
        "",
    );
    run.expect_code(4)
        .stderr_has(&format!(
            "the SSM agent on {} is not connected",
            windows.instance_id
        ))
        .stderr_has("the connection failed; checking the prerequisites")
        .stderr_has("full checklist: berth doctor");
    // berth's own forwarder, refused the same way.
    let host = host();
    let standin = StandIn::start(&host.instance_id, &serde_json::json!({}));
    standin.faults(&serde_json::json!({ "refuse_start": "TargetNotConnected" }));
    let run = run_with_input(
        &standin.berth(),
        &[
            "tunnel",
            &format!("prod/{}", host.instance_id),
            "--via",
            "ssm",
            &format!("{}:80", free_port()),
        ],
        "",
    );
    run.expect_code(4)
        .stderr_has("is not connected")
        .stderr_has("the connection failed; checking the prerequisites")
        .stderr_has("full checklist: berth doctor");
}
