//! EC2 Instance Connect Endpoint tunnels: `ssh --via eice`, `berth proxy`
//! under a real scp, `rdp --via eice`, against the sandbox's endpoint and
//! the stand-in that serves its tunnels (tests/support/eice_endpoint.py),
//! which checks every presigned URL and logs each tunnel.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use berth::transport::eice::{TunnelBase, TunnelTarget, presign};
use serde_json::Value;
use tokio_tungstenite::tungstenite;

use crate::support::{Berth, Sandbox, sandbox};
use crate::{log_in_with_xfreerdp, server_address};

/// `$SSH_CONNECTION`'s client address.
fn client_address(stdout: &str) -> &str {
    stdout
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no SSH_CONNECTION in {stdout:?}"))
}

/// The stand-in's `closed` entry of a tunnel to `target`, once it is there.
fn closed_tunnel_to(sb: &Sandbox, target: &str) -> Value {
    sb.eice
        .wait_for_entry(|e| e["event"] == "closed" && e["target"] == target)
}

#[test]
fn the_sandbox_endpoint_is_described_as_ec2_describes_one() {
    let sb = sandbox();
    let eice = &sb.eice;
    let found = sb.instance_connect_endpoints(&[("vpc-id", &eice.vpc_id)]);
    assert_eq!(found.len(), 1, "{found:#?}");
    let endpoint = &found[0];
    let id = endpoint.instance_connect_endpoint_id().expect("id");
    assert_eq!(id, eice.endpoint_id);
    assert!(
        id.len() == 22 && id[5..].bytes().all(|b| b.is_ascii_hexdigit()),
        "eice- and 17 hex digits: {id}"
    );
    assert_eq!(
        endpoint
            .state()
            .map(aws_sdk_ec2::types::Ec2InstanceConnectEndpointState::as_str),
        Some("create-complete")
    );
    assert_eq!(endpoint.subnet_id(), Some(eice.subnet_id.as_str()));
    assert_eq!(endpoint.dns_name(), Some(eice.dns_name.as_str()));
    assert!(
        eice.dns_name
            .ends_with(".ec2-instance-connect-endpoint.us-east-1.amazonaws.com"),
        "{}",
        eice.dns_name
    );
    assert!(
        endpoint
            .fips_dns_name()
            .is_some_and(|f| f.contains(".fips.ec2-instance-connect-endpoint.")),
        "{endpoint:?}"
    );
    assert!(
        endpoint
            .instance_connect_endpoint_arn()
            .is_some_and(|a| a.starts_with("arn:aws:ec2:us-east-1:")
                && a.ends_with(&format!(":instance-connect-endpoint/{id}"))),
        "{endpoint:?}"
    );
    assert_eq!(
        endpoint.security_group_ids(),
        std::slice::from_ref(&eice.security_group_id)
    );
    assert_eq!(endpoint.preserve_client_ip(), Some(false));
    assert_eq!(endpoint.network_interface_ids().len(), 1);
    assert!(endpoint.created_at().is_some());
    assert!(
        endpoint
            .tags()
            .iter()
            .any(|t| t.key() == Some("Name") && t.value() == Some("berth-sandbox"))
    );
    // The filters EC2 documents narrow the list; the others leave it out.
    for (name, value, count) in [
        ("subnet-id", eice.subnet_id.as_str(), 1),
        ("state", "create-complete", 1),
        ("instance-connect-endpoint-id", id, 1),
        ("tag:Name", "berth-*", 1),
        ("vpc-id", sb.broken.public_vpc_id.as_str(), 0),
        ("state", "delete-complete", 0),
    ] {
        assert_eq!(
            sb.instance_connect_endpoints(&[(name, value)]).len(),
            count,
            "{name}={value}"
        );
    }
}

#[test]
fn ssh_via_eice_goes_through_the_endpoint_to_the_private_address() {
    let sb = sandbox();
    let host = sb.host("prod-al2023");
    let ip = host.private_ip.as_deref().expect("ip");
    let run = Berth::new(sb).run(&[
        "ssh",
        &format!("prod/{}", host.instance_id),
        "--via",
        "eice",
        "--",
        "echo $SSH_CONNECTION; id -un",
    ]);
    run.expect_code(0);
    assert_eq!(server_address(&run.stdout), ip, "{run:#?}");
    // sshd saw the connection come from the endpoint's own interface.
    assert_eq!(client_address(&run.stdout), sb.eice.address, "{run:#?}");
    assert_eq!(run.stdout.lines().nth(1), Some("ec2-user"));
    let tunnel = closed_tunnel_to(sb, &format!("{ip}:22"));
    assert_eq!(tunnel["endpoint"], sb.eice.endpoint_id.as_str());
    assert!(tunnel["bytes_to_target"].as_u64() > Some(0), "{tunnel}");
    assert!(tunnel["bytes_to_client"].as_u64() > Some(0), "{tunnel}");
}

#[test]
fn ssh_dry_run_shows_berth_proxy_as_the_proxy_command() {
    let sb = sandbox();
    let host = sb.host("prod-ubuntu");
    let run = Berth::new(sb).run(&[
        "ssh",
        &format!("prod/{}", host.instance_id),
        "--via",
        "eice",
        "--dry-run",
    ]);
    run.expect_code(0)
        .stdout_has(&format!(
            "{} --region {} proxy --via eice {} '%p'",
            env!("CARGO_BIN_EXE_berth"),
            sb.region,
            host.instance_id
        ))
        .stdout_has(&format!(
            "ubuntu@{}",
            host.private_ip.as_deref().expect("ip")
        ));
}

/// Real scp with `berth proxy` as its ProxyCommand (and `extra` words
/// before `%h %p`) copies /etc/hostname from `host`; no user or key other
/// than scp's own options.
fn scp_through_berth_proxy(sb: &Sandbox, host: &str, extra: &str) {
    let host = sb.host(host);
    let berth = Berth::new(sb);
    let dest = berth.home().join("hostname");
    let known_hosts = berth.home().join("known_hosts");
    let status = std::process::Command::new("scp")
        .args([
            "-F",
            "/dev/null",
            "-i",
            &sb.key_path.display().to_string(),
            "-o",
            &format!("UserKnownHostsFile={}", known_hosts.display()),
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            &format!(
                "ProxyCommand={} proxy {extra} %h %p",
                env!("CARGO_BIN_EXE_berth")
            ),
            &format!(
                "{}@{}:/etc/hostname",
                host.user.as_deref().expect("user"),
                host.instance_id
            ),
            &dest.display().to_string(),
        ])
        .env_clear()
        .envs(berth.envs())
        .stdin(Stdio::null())
        .status()
        .expect("run scp");
    assert!(status.success(), "scp: {status}");
    let copied = std::fs::read_to_string(&dest).expect("the copied file");
    let local = std::fs::read_to_string("/etc/hostname").expect("/etc/hostname");
    assert_eq!(copied, local);
}

#[test]
fn scp_with_berth_proxy_as_its_proxy_command_copies_a_file() {
    let sb = sandbox();
    scp_through_berth_proxy(sb, "prod-flatcar", "--via eice");
    let ip = sb.host("prod-flatcar").private_ip.clone().expect("ip");
    closed_tunnel_to(sb, &format!("{ip}:22"));
}

#[test]
fn berth_proxy_goes_through_the_vpcs_bastion_by_default() {
    let sb = sandbox();
    // The host has no public address; `auto` takes the tagged bastion,
    // whose own ssh carries the bytes (`ssh -W`).
    let ip = sb.host("prod-ubuntu").private_ip.clone().expect("ip");
    let log = std::fs::read_to_string(&sb.bastion_sshd_log).unwrap_or_default();
    let before = log.matches(&format!("target {ip} port 22")).count();
    scp_through_berth_proxy(sb, "prod-ubuntu", "");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let log = std::fs::read_to_string(&sb.bastion_sshd_log).unwrap_or_default();
        if log.matches(&format!("target {ip} port 22")).count() > before {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the bastion forwarded nothing to {ip}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn proxy_writes_nothing_but_the_connections_bytes() {
    let sb = sandbox();
    let host = sb.host("prod-al2023");
    let mut child = Berth::new(sb)
        .command(&["-v", "proxy", &host.instance_id, "22", "--via", "eice"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start berth proxy");
    // sshd speaks first: its banner is the first thing on stdout.
    let mut banner = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut banner)
        .expect("read the banner");
    assert!(banner.starts_with("SSH-2.0-OpenSSH"), "{banner:?}");
    // A banner sshd does not speak: it says so and hangs up, which ends
    // the tunnel (the end of berth's stdin alone does not: see
    // proxy_delivers_what_the_far_side_sends_after_its_stdin_ends).
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(b"SSH-1.0-berth-test\r\n")
        .expect("write a banner back");
    drop(stdin);
    let out = child.wait_with_output().expect("berth ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "through EC2 Instance Connect Endpoint {}",
            sb.eice.endpoint_id
        )),
        "{stderr}"
    );
}

#[test]
fn proxy_ends_on_the_hangup_ssh_sends_it() {
    let sb = sandbox();
    // Not a host whose tunnels other tests look for in the endpoint's log:
    // this one closes before a byte goes to the target.
    let host = sb.host("prod-ubuntu");
    for via in ["eice", "private"] {
        let mut child = Berth::new(sb)
            .command(&["proxy", &host.instance_id, "22", "--via", via])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start berth proxy");
        let mut banner = String::new();
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        stdout.read_line(&mut banner).expect("read the banner");
        assert!(banner.starts_with("SSH-2.0-OpenSSH"), "{via}: {banner:?}");
        // Connected, its input still open: ssh hangs up on its
        // ProxyCommand when it is done.
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid")),
            nix::sys::signal::Signal::SIGHUP,
        )
        .expect("SIGHUP");
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "{via}: berth proxy outlived SIGHUP"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(status.code(), Some(128 + 1), "{via}: {status}");
    }
}

#[test]
fn a_vpc_without_an_endpoint_says_how_to_create_one() {
    let sb = sandbox();
    let host = sb.host("broken-public");
    let berth = Berth::new(sb);
    let target = format!("broken/{}", host.instance_id);
    let hint = format!(
        "aws ec2 create-instance-connect-endpoint --subnet-id {}",
        sb.broken.public_subnet_id
    );
    berth
        .run(&["ssh", &target, "--via", "eice", "--", "true"])
        .expect_code(4)
        .stderr_has(&format!(
            "no EC2 Instance Connect Endpoint for {}: none in {}",
            host.instance_id, sb.broken.public_vpc_id
        ))
        .stderr_has(&hint);
    berth
        .run(&["proxy", &target, "22", "--via", "eice"])
        .expect_code(4)
        .stderr_has(&hint);
}

/// Opens the tunnel websocket at `url` and returns the HTTP status of the
/// handshake (101 when it opened) and the body of a refusal.
fn handshake(url: &str) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let address = url
        .strip_prefix("ws://")
        .and_then(|rest| rest.split('/').next())
        .expect("a ws:// URL")
        .to_owned();
    runtime.block_on(async {
        let tcp = tokio::net::TcpStream::connect(address)
            .await
            .expect("connect to the stand-in");
        match tokio_tungstenite::client_async(url, tcp).await {
            Ok((mut socket, response)) => {
                let _ = socket.close(None).await;
                (response.status().as_u16(), String::new())
            }
            Err(tungstenite::Error::Http(response)) => (
                response.status().as_u16(),
                String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
                    .into_owned(),
            ),
            Err(e) => panic!("{url}: {e}"),
        }
    })
}

#[test]
fn the_endpoint_refuses_tampered_and_expired_urls_with_403() {
    let sb = sandbox();
    let host = sb.host("prod-al2023");
    let credentials = Credentials::new("testing", "testing", None, None, "test");
    let base = TunnelBase::parse(&sb.eice.url, "the sandbox").expect("base");
    let target = TunnelTarget {
        endpoint_id: sb.eice.endpoint_id.clone(),
        private_ip: host.private_ip.clone().expect("ip"),
        port: 22,
        max_duration: None,
    };
    let url_at = |at| presign(&credentials, &sb.region, &base, &target, at).expect("presign");

    // Signed now, untouched: the tunnel opens.
    assert_eq!(handshake(&url_at(SystemTime::now())).0, 101);

    // The signature changed in its last digit.
    let url = url_at(SystemTime::now());
    let last = url.chars().last().expect("a digit");
    let tampered = format!(
        "{}{}",
        &url[..url.len() - 1],
        if last == '0' { '1' } else { '0' }
    );
    let (status, body) = handshake(&tampered);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("signature does not match"), "{body}");

    // The port changed after signing: the signature no longer covers it.
    let other_port = url_at(SystemTime::now()).replace("remotePort=22", "remotePort=23");
    assert_eq!(handshake(&other_port).0, 403);

    // Signed two minutes ago: the 60 seconds are over.
    let (status, body) = handshake(&url_at(SystemTime::now() - Duration::from_secs(120)));
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("Signature expired"), "{body}");

    let refused = sb.eice.log_entries();
    assert!(
        refused
            .iter()
            .filter(|e| e["event"] == "refused" && e["status"] == 403)
            .count()
            >= 3,
        "{refused:#?}"
    );
}

#[test]
fn rdp_via_eice_forwards_a_local_port_through_the_endpoint() {
    let sb = sandbox();
    let run = Berth::new(sb).run(&["rdp", "prod/prod-windows", "--via", "eice", "--dry-run"]);
    run.expect_code(0)
        .stdout_has("# berth forwards 127.0.0.1:")
        .stdout_has(&format!(
            "through EC2 Instance Connect Endpoint {}",
            sb.eice.endpoint_id
        ))
        .stdout_has("xfreerdp /v:127.0.0.1:");
}

#[test]
fn rdp_through_an_eice_tunnel_logs_in() {
    let sb = sandbox();
    let rdp = sb.rdp.as_ref().expect("the sandbox runs xrdp (--rdp)");
    let argv = log_in_with_xfreerdp(&["rdp", "prod/prod-windows", "--via", "eice"]);
    // The client talks to berth's local end, not to the instance.
    assert!(argv[1].starts_with("/v:127.0.0.1:"), "{argv:?}");
    closed_tunnel_to(sb, &format!("{}:3389", rdp.address));
}

/// `berth proxy ARGS` with its standard streams piped.
fn spawn_proxy(berth: &Berth, args: &[&str]) -> Child {
    berth
        .command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start berth proxy")
}

/// Waits for `child` to end within `within`; kills it and fails if not.
#[track_caller]
fn wait_within(mut child: Child, within: Duration) -> Output {
    let deadline = Instant::now() + within;
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("killed");
            panic!(
                "berth did not end within {within:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

/// Talks to sshd through `berth proxy`: reads its banner, answers with
/// one it does not speak so that it hangs up, and returns the banner and
/// how berth ended.
fn banner_through_proxy(berth: &Berth, instance_id: &str) -> (String, Output) {
    let mut child = spawn_proxy(berth, &["proxy", "--via", "eice", instance_id, "22"]);
    let mut banner = String::new();
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    stdout.read_line(&mut banner).expect("read the banner");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"SSH-1.0-berth-test\r\n").expect("write");
    drop(stdin);
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    (banner, wait_within(child, Duration::from_secs(20)))
}

#[test]
fn max_tunnel_duration_is_sent_and_a_tunnel_ended_by_it_says_so() {
    let sb = sandbox();
    // A host no other test here tunnels to: the stand-in's log entries
    // of one target are told apart only by what they carried.
    let host = sb.host("prod-draining");
    let ip = host.private_ip.as_deref().expect("ip");
    let berth = Berth::new(sb);
    // stdin stays open: only the endpoint's clock ends this tunnel.
    let mut child = spawn_proxy(
        &berth,
        &[
            "proxy",
            "--via",
            "eice",
            "--max-tunnel-duration",
            "2",
            &host.instance_id,
            "22",
        ],
    );
    let stdin = child.stdin.take().expect("stdin");
    let mut banner = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut banner)
        .expect("read the banner");
    assert!(banner.starts_with("SSH-2.0-OpenSSH"), "{banner:?}");
    let out = wait_within(child, Duration::from_secs(15));
    drop(stdin);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(255), "{stderr}");
    assert!(
        stderr.contains("reached its time limit: the endpoint closes a tunnel after 2 s"),
        "{stderr}"
    );
    let tunnel = sb.eice.wait_for_entry(|e| {
        e["event"] == "closed" && e["target"] == format!("{ip}:22") && e["max_tunnel_duration"] == 2
    });
    assert_eq!(tunnel["closed_by"], "endpoint", "{tunnel}");

    // ssh hands it on to the `berth proxy` it runs; out of range is a
    // usage error.
    berth
        .run(&[
            "ssh",
            &format!("prod/{}", host.instance_id),
            "--via",
            "eice",
            "--max-tunnel-duration",
            "600",
            "--dry-run",
        ])
        .expect_code(0)
        .stdout_has(&format!(
            "proxy --via eice --max-tunnel-duration 600 {} '%p'",
            host.instance_id
        ));
    for bad in ["0", "3601"] {
        berth
            .run(&[
                "proxy",
                "--via",
                "eice",
                "--max-tunnel-duration",
                bad,
                &host.instance_id,
                "22",
            ])
            .expect_code(2)
            .stderr_has("from 1 to 3600");
    }
}

#[test]
fn a_port_the_endpoint_does_not_tunnel_to_is_named_as_such() {
    let sb = sandbox();
    // A host no other test here tunnels to: the stand-in's log entries
    // of one target are told apart only by what they carried.
    let host = sb.host("prod-draining");
    let run = Berth::new(sb).run(&["proxy", "--via", "eice", &host.instance_id, "2222"]);
    run.expect_code(5)
        .stderr_has("(HTTP 400)")
        .stderr_has("tunnels to ports 22 (SSH) and 3389 (RDP) only, not 2222");
    assert!(!run.stderr.contains("state"), "{run:#?}");
    sb.eice.wait_for_entry(|e| {
        e["event"] == "refused"
            && e["status"] == 400
            && e["reason"].as_str().is_some_and(|r| r.contains("2222"))
    });
}

/// An HTTP CONNECT proxy on loopback that records each request line it
/// served, and tunnels only to 127.0.0.0/8; optionally it cuts each
/// tunnel (both connections, no goodbye) a while after opening it, as a
/// network that drops a session does.
pub(crate) struct ConnectProxy {
    pub(crate) port: u16,
    served: Arc<Mutex<Vec<String>>>,
}

impl ConnectProxy {
    pub(crate) fn start() -> Self {
        Self::start_cutting(None)
    }

    fn start_cutting(after: Option<Duration>) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let port = listener.local_addr().expect("address").port();
        let served = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&served);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let record = Arc::clone(&record);
                std::thread::spawn(move || Self::serve(client, &record, after));
            }
        });
        Self { port, served }
    }

    pub(crate) fn served(&self) -> Vec<String> {
        self.served.lock().expect("lock").clone()
    }

    fn serve(client: TcpStream, served: &Mutex<Vec<String>>, cut_after: Option<Duration>) {
        let mut reader = BufReader::new(client.try_clone().expect("clone"));
        let mut request = String::new();
        if reader.read_line(&mut request).is_err() {
            return;
        }
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line == "\r\n" => break,
                Ok(_) => {}
            }
        }
        let request = request.trim_end().to_owned();
        served.lock().expect("lock").push(request.clone());
        let mut client = client;
        let ["CONNECT", target, "HTTP/1.1"] = request.split(' ').collect::<Vec<_>>()[..] else {
            let _ = client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n");
            return;
        };
        let on_loopback = target
            .rsplit_once(':')
            .and_then(|(host, _)| host.parse::<Ipv4Addr>().ok())
            .is_some_and(|ip| ip.is_loopback());
        let Some(Ok(upstream)) = on_loopback.then(|| TcpStream::connect(target)) else {
            let _ = client.write_all(b"HTTP/1.1 403 Forbidden\r\n\r\n");
            return;
        };
        let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
        if let Some(after) = cut_after {
            let (client, upstream) = (
                client.try_clone().expect("clone"),
                upstream.try_clone().expect("clone"),
            );
            std::thread::spawn(move || {
                std::thread::sleep(after);
                let _ = client.shutdown(std::net::Shutdown::Both);
                let _ = upstream.shutdown(std::net::Shutdown::Both);
            });
        }
        let (mut from_client, mut to_upstream) = (
            client.try_clone().expect("clone"),
            upstream.try_clone().expect("clone"),
        );
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut from_client, &mut to_upstream);
            let _ = to_upstream.shutdown(std::net::Shutdown::Write);
        });
        let (mut from_upstream, mut to_client) = (upstream, client);
        let _ = std::io::copy(&mut from_upstream, &mut to_client);
        let _ = to_client.shutdown(std::net::Shutdown::Write);
    }
}

#[test]
fn tunnels_go_through_the_proxy_the_environment_names_unless_no_proxy_says_not() {
    let sb = sandbox();
    // A host no other test here tunnels to: the stand-in's log entries
    // of one target are told apart only by what they carried.
    let host = sb.host("prod-draining");
    let proxy = ConnectProxy::start();
    let endpoint = sb
        .eice
        .url
        .trim_start_matches("ws://")
        .trim_end_matches('/');
    let mut berth = Berth::new(sb);
    let proxy_url = format!("http://127.0.0.1:{}", proxy.port);

    // (HTTP_PROXY would also send the sandbox's plain-HTTP AWS calls to
    // this proxy, which only tunnels; the unit tests cover it.)
    for var in ["HTTPS_PROXY", "https_proxy"] {
        berth.env("HTTPS_PROXY", None).env("https_proxy", None);
        berth.env(var, Some(&proxy_url));
        let before = proxy.served().len();
        let (banner, out) = banner_through_proxy(&berth, &host.instance_id);
        assert!(
            banner.starts_with("SSH-2.0-OpenSSH"),
            "{var}: {banner:?} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{var}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            proxy.served()[before..],
            [format!("CONNECT {endpoint} HTTP/1.1")],
            "{var}"
        );
    }

    // NO_PROXY names the endpoint's host: straight there.
    berth.env("NO_PROXY", Some("example.com, 127.0.0.1"));
    let before = proxy.served().len();
    let (banner, out) = banner_through_proxy(&berth, &host.instance_id);
    assert!(banner.starts_with("SSH-2.0-OpenSSH"), "{banner:?}");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(proxy.served().len(), before, "{:?}", proxy.served());
}

#[test]
fn a_tunnel_cut_after_data_flowed_says_it_broke_mid_session() {
    let sb = sandbox();
    let host = sb.host("prod-draining");
    // The network between berth and the endpoint drops the connection
    // two seconds into the session.
    let proxy = ConnectProxy::start_cutting(Some(Duration::from_secs(2)));
    let mut berth = Berth::new(sb);
    berth.env(
        "HTTPS_PROXY",
        Some(&format!("http://127.0.0.1:{}", proxy.port)),
    );
    let mut child = spawn_proxy(&berth, &["proxy", "--via", "eice", &host.instance_id, "22"]);
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut banner = String::new();
    stdout.read_line(&mut banner).expect("read the banner");
    assert!(banner.starts_with("SSH-2.0-OpenSSH"), "{banner:?}");
    let stdin = child.stdin.take().map(|mut stdin| {
        stdin.write_all(b"SSH-2.0-berth-test\r\n").expect("write");
        stdin
    });
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let out = wait_within(child, Duration::from_secs(20));
    drop(stdin);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(255), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the tunnel through {} to {}:22 broke mid-session (20 bytes sent, ",
            sb.eice.endpoint_id,
            host.private_ip.as_deref().expect("ip")
        )),
        "{stderr}"
    );
    // Not blamed on the groups (they let it in), nor in the websocket
    // library's words.
    assert!(
        stderr.contains("so the security groups let it in"),
        "{stderr}"
    );
    assert!(!stderr.contains("security groups must"), "{stderr}");
    assert!(!stderr.contains("closing handshake"), "{stderr}");
}

/// An instance of its own whose address the test listens on, port 22, in
/// sshd's place: the far side of a tunnel, scripted.
fn far_side(sb: &crate::support::Sandbox, name: &str) -> (String, TcpListener) {
    let ami = sb.host("prod-al2023").ami.clone().expect("ami");
    let id = sb.launch_instance(&ami, name);
    let ip = sb.private_ip_of(&id);
    let listener = TcpListener::bind((ip.as_str(), 22))
        .unwrap_or_else(|e| panic!("listen on {ip}:22 (root needed): {e}"));
    (id, listener)
}

#[test]
fn proxy_delivers_what_the_far_side_sends_after_its_stdin_ends() {
    let sb = sandbox();
    let (id, listener) = far_side(sb, "eice-late-answer");
    let far = std::thread::spawn(move || {
        let (mut connection, _) = listener.accept().expect("accept");
        let mut question = [0_u8; 9];
        connection.read_exact(&mut question).expect("the question");
        // berth's stdin has ended by now; the answer still has to come.
        std::thread::sleep(Duration::from_secs(2));
        connection.write_all(b"answer\n").expect("answer");
        question
    });
    let berth = Berth::new(sb);
    let mut child = spawn_proxy(&berth, &["proxy", "--via", "eice", &id, "22"]);
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"question\n").expect("write");
    drop(stdin);
    let out = wait_within(child, Duration::from_secs(20));
    assert_eq!(&far.join().expect("far side"), b"question\n");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "answer\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn proxy_exits_when_the_far_side_closes_though_its_stdin_stays_open() {
    let sb = sandbox();
    let (id, listener) = far_side(sb, "eice-far-close");
    std::thread::spawn(move || {
        let (mut connection, _) = listener.accept().expect("accept");
        connection.write_all(b"bye\n").expect("bye");
    });
    let berth = Berth::new(sb);
    let mut child = spawn_proxy(&berth, &["proxy", "--via", "eice", &id, "22"]);
    let stdin = child.stdin.take().expect("stdin");
    let out = wait_within(child, Duration::from_secs(10));
    drop(stdin);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "bye\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
