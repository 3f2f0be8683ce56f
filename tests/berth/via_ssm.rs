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
