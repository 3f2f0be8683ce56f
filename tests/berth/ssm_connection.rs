//! The plumbing around a Session Manager session, against the stand-in:
//! where each client's endpoint comes from.

use crate::session::{StandIn, run_with_input};
use crate::support::sandbox;

fn instance() -> String {
    sandbox().host("prod-al2023").instance_id.clone()
}

fn shell_config() -> serde_json::Value {
    serde_json::json!({ "shell": "/bin/sh", "env": { "PS1": "$ " } })
}

/// Only the AWS profile names endpoints: its `services` section sends SSM
/// to the stand-in, its own `endpoint_url` sends the rest to moto.
#[test]
fn the_profiles_services_section_names_a_services_endpoint() {
    let id = instance();
    let standin = StandIn::start(&id, &shell_config());
    let mut berth = standin.berth();
    berth.env("AWS_ENDPOINT_URL_SSM", None);
    berth.env("AWS_ENDPOINT_URL", None);
    let aws_dir = berth.home().join(".aws");
    std::fs::create_dir_all(&aws_dir).expect("mkdir .aws");
    std::fs::write(
        aws_dir.join("config"),
        format!(
            "[default]\nendpoint_url = {moto}\nservices = local\n\n\
             [services local]\nssm =\n  endpoint_url = {ssm}\n",
            moto = sandbox().endpoint,
            ssm = standin.endpoint(),
        ),
    )
    .expect("write config");
    let run = run_with_input(&berth, &["session", &id], "echo via-profile; exit\n");
    run.expect_code(0).stdout_has("via-profile");
    assert_eq!(standin.calls("AmazonSSM.StartSession"), 1);
}

/// Nothing listens here: an endpoint that must not be used.
const NOWHERE: &str = "http://127.0.0.1:9";

/// `--endpoint-url` beats `AWS_ENDPOINT_URL` for every client (the SDK on
/// its own lets the variable win), and SSM's own variable beats both.
#[test]
fn the_flag_beats_the_global_variable_and_ssms_own_variable_beats_the_flag() {
    let id = instance();
    let standin = StandIn::start(&id, &shell_config());
    let mut berth = standin.berth();
    berth.env("AWS_ENDPOINT_URL", Some(NOWHERE));
    let moto = sandbox().endpoint.clone();
    let run = run_with_input(
        &berth,
        &["session", &id, "--endpoint-url", &moto],
        "echo flag-won; exit\n",
    );
    run.expect_code(0).stdout_has("flag-won");
    assert_eq!(standin.calls("AmazonSSM.StartSession"), 1);
}

/// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` drops a service's own variable
/// too (the SDK on its own keeps it): SSM goes to `--endpoint-url`, here
/// the stand-in, which hands EC2 and ECS on to moto.
#[test]
fn ignoring_configured_endpoints_drops_ssms_own_variable() {
    let id = instance();
    let moto = sandbox().endpoint.clone();
    let standin = StandIn::start_with(&id, &shell_config(), &["--upstream", &moto]);
    let mut berth = standin.berth();
    berth.env("AWS_ENDPOINT_URL_SSM", Some(NOWHERE));
    berth.env("AWS_ENDPOINT_URL", Some(NOWHERE));
    berth.env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", Some("true"));
    let run = run_with_input(
        &berth,
        &["session", &id, "--endpoint-url", standin.endpoint()],
        "echo ignored-env; exit\n",
    );
    run.expect_code(0).stdout_has("ignored-env");
    assert_eq!(standin.calls("AmazonSSM.StartSession"), 1);
}

/// `--resume-for` bounds how long a broken connection may take to come
/// back: a websocket that drops and cannot be reopened ends the session
/// after it (255), long before the default 10 minutes.
#[test]
fn a_connection_not_resumed_within_resume_for_ends_the_session() {
    let id = instance();
    let standin = StandIn::start(&id, &shell_config());
    let berth = standin.berth();
    standin.faults(&serde_json::json!({ "drop_after_sent": 1, "refuse_reconnect": true }));
    let started = std::time::Instant::now();
    let run = run_with_input(
        &berth,
        &["session", &id, "--resume-for", "3s"],
        "for i in $(seq 1 200); do echo line-$i; done; sleep 30; exit\n",
    );
    let took = started.elapsed();
    run.expect_code(255)
        .stderr_has("not resumed within 3s")
        .stderr_has("--resume-for");
    assert!(
        took < std::time::Duration::from_secs(10),
        "took {took:?}: {run:#?}"
    );
    // It was tried: ResumeSession answered, the socket was refused.
    assert!(standin.calls("AmazonSSM.ResumeSession") >= 1, "{run:#?}");
    standin.wait_for(|e| e["event"] == "ws_refused" && e["reason"] == "refuse_reconnect");
}

#[test]
fn a_bad_resume_for_is_a_usage_error() {
    let run = crate::support::Berth::new(sandbox()).run(&["session", "x", "--resume-for", "soon"]);
    run.expect_code(2).stderr_has("--resume-for");
}

/// The data channel's websocket goes through the HTTP proxy the
/// environment names (a plain `ws://` stream too: CONNECT carries it),
/// and straight to a host that `NO_PROXY` names.
#[test]
fn the_data_channel_goes_through_the_proxy_unless_no_proxy_says_not() {
    let id = instance();
    let standin = StandIn::start(&id, &shell_config());
    let stream = standin.wait_for(|e| e["event"] == "started")["stream"]
        .as_str()
        .expect("stream")
        .trim_start_matches("ws://")
        .to_owned();
    let proxy = crate::eice::ConnectProxy::start();
    let mut berth = standin.berth();
    berth.env(
        "HTTPS_PROXY",
        Some(&format!("http://127.0.0.1:{}", proxy.port)),
    );
    let run = run_with_input(&berth, &["session", &id], "echo through-proxy; exit\n");
    run.expect_code(0).stdout_has("through-proxy");
    assert_eq!(proxy.served(), [format!("CONNECT {stream} HTTP/1.1")]);

    berth.env("NO_PROXY", Some("example.com, 127.0.0.1"));
    let run = run_with_input(&berth, &["session", &id], "echo straight; exit\n");
    run.expect_code(0).stdout_has("straight");
    assert_eq!(proxy.served().len(), 1, "{:?}", proxy.served());
}
