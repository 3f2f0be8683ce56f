//! `berth session`: berth's own Session Manager client against the Python
//! stand-in (`tests/support/ssm_standin.py`), which serves the instance of
//! the sandbox's `prod-al2023` host (moto still answers EC2 and ECS).

use std::io::Write;
use std::process::{Child, Command, Stdio};

use crate::support::helper::PythonHelper;
use crate::support::{Berth, Run, sandbox};

/// One stand-in process, stopped when dropped.
pub(crate) struct StandIn {
    endpoint: String,
    helper: PythonHelper,
}

impl StandIn {
    /// A stand-in serving `instance_id` with these config fields.
    pub(crate) fn start(instance_id: &str, instance: &serde_json::Value) -> StandIn {
        Self::start_with(instance_id, instance, &[])
    }

    /// [`start`](Self::start) with more of the stand-in's flags.
    pub(crate) fn start_with(
        instance_id: &str,
        instance: &serde_json::Value,
        flags: &[&str],
    ) -> StandIn {
        Self::start_config(
            &serde_json::json!({ "instances": { instance_id: instance } }),
            flags,
        )
    }

    /// A stand-in with this whole config (instances, preferences, …) and
    /// these flags.
    pub(crate) fn start_config(config: &serde_json::Value, flags: &[&str]) -> StandIn {
        let mut args = vec!["--config-json".to_owned(), config.to_string()];
        args.extend(flags.iter().map(|f| (*f).to_owned()));
        let helper = PythonHelper::start("ssm_standin.py", &args);
        StandIn {
            endpoint: helper.endpoint(),
            helper,
        }
    }

    /// `http://127.0.0.1:PORT`: its control plane.
    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Sets fault switches.
    pub(crate) fn faults(&self, switches: &serde_json::Value) {
        let address = self.endpoint.trim_start_matches("http://");
        let body = switches.to_string();
        let mut socket = std::net::TcpStream::connect(address).expect("control");
        write!(
            socket,
            "POST /faults HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("post");
        let mut answer = String::new();
        std::io::Read::read_to_string(&mut socket, &mut answer).expect("answer");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }

    /// How many times the control plane was called with `op`
    /// (`AmazonSSM.TerminateSession`, …) so far.
    pub(crate) fn calls(&self, op: &str) -> usize {
        self.entries()
            .iter()
            .filter(|e| e["event"] == "call" && e["op"] == op)
            .count()
    }

    /// The recorder's entries so far.
    pub(crate) fn entries(&self) -> Vec<serde_json::Value> {
        self.helper
            .log_lines()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits (up to 10 s: the recorder flushes every 100 ms) for an entry.
    #[track_caller]
    pub(crate) fn wait_for(
        &self,
        matching: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Some(entry) = self.entries().into_iter().find(&matching) {
                return entry;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no such entry in {}: {:#?}",
                self.helper.log.display(),
                self.entries()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Waits for TerminateSession of the session `started` (a StartSession
    /// call entry) opened.
    #[track_caller]
    pub(crate) fn wait_terminated(&self, started: &serde_json::Value) -> serde_json::Value {
        let session = started["session"].as_str().expect("session id");
        self.wait_for(|e| {
            e["event"] == "call"
                && e["op"] == "AmazonSSM.TerminateSession"
                && e["session"] == session
        })
    }

    /// berth against the sandbox, with Session Manager (and KMS) at this
    /// stand-in.
    pub(crate) fn berth(&self) -> Berth {
        let mut berth = Berth::new(sandbox());
        berth.env("AWS_ENDPOINT_URL_SSM", Some(&self.endpoint));
        berth.env("AWS_ENDPOINT_URL_KMS", Some(&self.endpoint));
        berth
    }
}

/// berth with `input` piped to its stdin.
pub(crate) fn run_with_input(berth: &Berth, args: &[&str], input: &str) -> Run {
    let mut child = berth
        .command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run berth");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input.as_bytes()).expect("write stdin");
    drop(stdin);
    let output = wait_within(child, 60);
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The child's output, killing it after `seconds`.
fn wait_within(child: Child, seconds: u64) -> std::process::Output {
    let pid = child.id();
    let (done, waited) = std::sync::mpsc::channel();
    let watchdog = std::thread::spawn(move || {
        if waited
            .recv_timeout(std::time::Duration::from_secs(seconds))
            .is_err()
        {
            // Only the berth this test started.
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    });
    let output = child.wait_with_output().expect("wait");
    let _ = done.send(());
    watchdog.join().expect("watchdog");
    output
}

fn instance() -> String {
    sandbox().host("prod-al2023").instance_id.clone()
}

fn shell_config() -> serde_json::Value {
    serde_json::json!({ "shell": "/bin/sh", "env": { "PS1": "$ " } })
}

#[test]
fn a_piped_shell_runs_to_its_end_and_the_session_is_terminated() {
    let id = instance();
    let standin = StandIn::start(&id, &shell_config());
    let berth = standin.berth();
    let run = run_with_input(&berth, &["session", &id], "echo hello-from-ssm; exit 3\n");
    // A shell session carries no exit status (the agent sends ExitCode
    // only for commands with separate output streams): 0.
    run.expect_code(0).stdout_has("hello-from-ssm");
    let started = standin.wait_for(|e| e["event"] == "call" && e["op"] == "AmazonSSM.StartSession");
    let session = started["session"].as_str().expect("session id").to_owned();
    standin.wait_for(|e| e["event"] == "session_end" && e["reason"] == "shell exited 3");
    standin.wait_for(|e| {
        e["event"] == "call"
            && e["op"] == "AmazonSSM.TerminateSession"
            && e["session"] == session.as_str()
    });
    // berth announced its version, and sent the size a pipe gets.
    let open = standin.wait_for(|e| e["event"] == "ws_open");
    assert_eq!(open["client_version"], "1.2.707.0");
    let size = standin.wait_for(|e| e["event"] == "size");
    assert_eq!(
        (size["cols"].as_u64(), size["rows"].as_u64()),
        (Some(300), Some(100))
    );
}

#[test]
fn stdin_eof_sends_one_ctrl_d_and_keeps_printing() {
    let id = instance();
    let standin = StandIn::start(&id, &shell_config());
    let berth = standin.berth();
    // No `exit`: the shell ends at the Ctrl-D berth sends at EOF, after
    // the sleep's output.
    let run = run_with_input(&berth, &["session", &id], "sleep 1; echo after-eof\n");
    run.expect_code(0).stdout_has("after-eof");
    standin.wait_for(|e| e["event"] == "session_end" && e["reason"] == "shell exited 0");
}

#[test]
fn a_command_without_a_terminal_brings_back_its_exit_status_and_stderr() {
    let id = instance();
    let standin = StandIn::start(&id, &shell_config());
    let mut berth = standin.berth();
    // berth's own --endpoint-url (moto for EC2 and ECS) leaves Session
    // Manager at AWS_ENDPOINT_URL_SSM.
    berth.env("AWS_ENDPOINT_URL", None);
    let moto = sandbox().endpoint.clone();
    let run = run_with_input(
        &berth,
        &[
            "session",
            &id,
            "--endpoint-url",
            &moto,
            "--",
            "echo out-line; echo err-line >&2; exit 7",
        ],
        "",
    );
    run.expect_code(7)
        .stdout_has("out-line")
        .stderr_has("err-line");
    assert!(!run.stdout.contains("err-line"), "{run:#?}");
    // The NonInteractiveCommands session shook hands first.
    let response = standin.wait_for(|e| e["event"] == "handshake_response");
    assert!(response.to_string().contains("1.2.707.0"), "{response}");
    standin.wait_for(|e| e["event"] == "call" && e["op"] == "AmazonSSM.TerminateSession");
}

#[test]
fn an_agent_not_connected_is_a_prerequisite_and_access_denied_is_aws() {
    let id = instance();
    let standin = StandIn::start(&id, &shell_config());
    let berth = standin.berth();
    standin.faults(&serde_json::json!({ "refuse_start": "TargetNotConnected" }));
    let run = run_with_input(&berth, &["session", &id], "");
    run.expect_code(4)
        .stderr_has(&format!("the SSM agent on {id} is not connected"))
        .stderr_has(&format!("berth doctor {id}"));
    standin.faults(&serde_json::json!({ "refuse_start": "AccessDenied" }));
    let run = run_with_input(&berth, &["session", &id], "");
    run.expect_code(5).stderr_has("refused a session");
}

#[test]
fn a_dropped_websocket_is_resumed_and_nothing_is_lost() {
    let id = instance();
    let standin = StandIn::start(&id, &shell_config());
    let berth = standin.berth();
    for mode in ["abort", "close"] {
        standin.faults(&serde_json::json!({ "drop_after_sent": 20, "drop_mode": mode }));
        // The shell lives a moment after its output: the stand-in's pty
        // reader loses what it buffered while paused if the shell is
        // already gone when the channel is back.
        let run = run_with_input(
            &berth,
            &["session", &id, "-v"],
            "for i in $(seq 1 3000); do echo line-$i; done; sleep 1; exit\n",
        );
        run.expect_code(0).stderr_has("resumed 1 time");
        let lines: Vec<&str> = run
            .stdout
            .lines()
            .map(str::trim_end)
            .filter(|l| l.starts_with("line-"))
            .collect();
        let expected: Vec<String> = (1..=3000).map(|i| format!("line-{i}")).collect();
        assert_eq!(lines, expected, "{mode}: stderr {}", run.stderr);
    }
    let resumes = standin.calls("AmazonSSM.ResumeSession");
    assert_eq!(resumes, 2);
}

fn kms_config() -> serde_json::Value {
    let mut config = shell_config();
    config["kms_key_id"] = serde_json::json!("alias/session-key");
    config
}

#[test]
fn a_kms_encrypted_shell_runs_a_command_with_a_key_bound_to_the_session() {
    let id = instance();
    let standin = StandIn::start(&id, &kms_config());
    let berth = standin.berth();
    // The input reaches the shell only if the agent could decrypt it, and
    // the answer shows only if berth could decrypt the agent's.
    let run = run_with_input(&berth, &["session", &id], "echo kms-$((6*7)); exit\n");
    run.expect_code(0)
        .stdout_has("kms-42")
        .stderr_has("This session is encrypted using AWS KMS.");
    let started = standin.wait_for(|e| e["event"] == "call" && e["op"] == "AmazonSSM.StartSession");
    let session = started["session"].as_str().expect("session id").to_owned();
    // GenerateDataKey at the stand-in (AWS_ENDPOINT_URL_KMS beside moto's
    // AWS_ENDPOINT_URL), 64 bytes bound to the session and its target.
    let generated = standin.wait_for(|e| {
        e["event"] == "call" && e["op"] == "TrentService.GenerateDataKey" && e["status"] == 200
    });
    assert_eq!(
        generated["request"],
        serde_json::json!({
            "KeyId": "alias/session-key",
            "NumberOfBytes": 64,
            "EncryptionContext": {
                "aws:ssm:SessionId": session,
                "aws:ssm:TargetId": id,
            },
        })
    );
    standin.wait_for(|e| e["event"] == "challenge_passed" && e["session"] == session.as_str());
    standin.wait_for(|e| e["event"] == "session_end" && e["reason"] == "shell exited 0");
    let entries = standin.entries();
    assert!(
        !entries
            .iter()
            .any(|e| e["event"] == "decrypt_failed" || e["event"] == "kms_failed"),
        "{entries:#?}"
    );
    standin.wait_for(|e| e["event"] == "call" && e["op"] == "AmazonSSM.TerminateSession");
}

#[test]
fn a_kms_encrypted_shell_resumes_after_a_drop_with_its_keys_and_nothing_lost() {
    let id = instance();
    let standin = StandIn::start(&id, &kms_config());
    let berth = standin.berth();
    // Dropped after 20 messages: the handshake's three (request, challenge,
    // complete), then the encrypted output, mid-stream. As the protocol
    // has it (`../shared/ssm-protocol.md` §9) a resumed connection carries
    // on the session, keys included: no new handshake, no new data key.
    standin.faults(&serde_json::json!({ "drop_after_sent": 20, "drop_mode": "abort" }));
    let run = run_with_input(
        &berth,
        &["session", &id, "-v"],
        "for i in $(seq 1 3000); do echo line-$i; done; sleep 1; echo after-$((6*7)); exit\n",
    );
    run.expect_code(0)
        .stderr_has("This session is encrypted using AWS KMS.")
        .stderr_has("resumed 1 time")
        .stdout_has("after-42");
    let lines: Vec<&str> = run
        .stdout
        .lines()
        .map(str::trim_end)
        .filter(|l| l.starts_with("line-"))
        .collect();
    let expected: Vec<String> = (1..=3000).map(|i| format!("line-{i}")).collect();
    assert_eq!(lines, expected, "stderr {}", run.stderr);
    standin.wait_for(|e| e["event"] == "session_end" && e["reason"] == "shell exited 0");
    let entries = standin.entries();
    let count = |event: &str| entries.iter().filter(|e| e["event"] == event).count();
    // The drop happened after the handshake, and the second connection
    // was a resumption of the same session.
    assert!(
        entries
            .iter()
            .any(|e| e["event"] == "fault" && e["fault"] == "drop"),
        "{entries:#?}"
    );
    assert!(
        entries
            .iter()
            .any(|e| e["event"] == "ws_open" && e["resumed"] == true),
        "{entries:#?}"
    );
    assert_eq!(standin.calls("AmazonSSM.ResumeSession"), 1);
    assert_eq!(standin.calls("TrentService.GenerateDataKey"), 1);
    assert_eq!(count("challenge_passed"), 1, "{entries:#?}");
    assert_eq!(
        count("decrypt_failed") + count("kms_failed"),
        0,
        "{entries:#?}"
    );
}

#[test]
fn a_command_through_kms_brings_back_its_output_and_exit_status() {
    let id = instance();
    let standin = StandIn::start(&id, &kms_config());
    let berth = standin.berth();
    // Without a terminal: AWS-StartNonInteractiveCommand, whose Output,
    // StdErr and ExitCode all come encrypted.
    let run = run_with_input(
        &berth,
        &[
            "session",
            &id,
            "--",
            "echo out-line; echo err-line >&2; exit 7",
        ],
        "",
    );
    run.expect_code(7)
        .stdout_has("out-line")
        .stderr_has("err-line");
    assert!(!run.stdout.contains("err-line"), "{run:#?}");
    standin.wait_for(|e| e["event"] == "challenge_passed");
    // On a terminal: AWS-StartInteractiveCommand, the keys typed going
    // through encrypted.
    let run = berth.run_on_terminal(
        &[
            "session",
            &id,
            "--",
            "printf ready-; read answer; echo got-$answer",
        ],
        "ready-",
        "typed\r",
    );
    run.expect_code(0).stdout_has("got-typed");
    let passed = standin
        .entries()
        .iter()
        .filter(|e| e["event"] == "challenge_passed")
        .count();
    assert_eq!(passed, 2);
}

#[test]
fn kms_refusing_the_data_key_is_an_aws_error_naming_the_permission() {
    let id = instance();
    let standin = StandIn::start(&id, &kms_config());
    let berth = standin.berth();
    standin.faults(&serde_json::json!({ "refuse_kms": true }));
    let run = run_with_input(&berth, &["session", &id], "echo never\n");
    run.expect_code(5)
        .stderr_has("KMS refused a data key for the session (key alias/session-key)")
        .stderr_has("kms:GenerateDataKey on the KMS key alias/session-key");
    assert!(!run.stdout.contains("never"), "{run:#?}");
    standin.wait_for(|e| {
        e["event"] == "call"
            && e["op"] == "TrentService.GenerateDataKey"
            && e["error"] == "AccessDeniedException"
    });
    standin.wait_for(|e| e["event"] == "call" && e["op"] == "AmazonSSM.TerminateSession");
}

#[test]
fn on_a_terminal_keys_go_through_and_tilde_dot_ends_the_session() {
    let id = instance();
    let standin = StandIn::start(&id, &shell_config());
    let berth = standin.berth();
    let run = berth.run_on_terminal(&["session", &id], "$ ", "echo typed-$((6*7)); exit\r");
    run.expect_code(0).stdout_has("typed-42");
    // `~.` at the start of a line: the session ends, as with ssh's escape,
    // with ssh's 255, and is terminated.
    let run = berth.run_on_terminal(&["session", &id], "$ ", "~.");
    run.expect_code(255);
    let terminated = standin.calls("AmazonSSM.TerminateSession");
    assert_eq!(terminated, 2);
}
