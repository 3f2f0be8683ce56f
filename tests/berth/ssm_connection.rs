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
/// to the stand-in, its own `endpoint_url` sends the rest to moto. (The
/// SDK alone does this too; berth now sets every client's endpoint
/// itself, and must read the profile to keep it.)
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

/// Every client's own variable beats `--endpoint-url` (which the SDK on
/// its own lets win over all of them) and `AWS_ENDPOINT_URL`: here EC2 and
/// ECS go to moto, SSM to the stand-in, and nothing to the other two.
#[test]
fn each_services_own_variable_beats_the_flag_and_the_global_variable() {
    let id = instance();
    let standin = StandIn::start(&id, &shell_config());
    let mut berth = standin.berth();
    let moto = sandbox().endpoint.clone();
    berth.env("AWS_ENDPOINT_URL", Some(NOWHERE));
    berth.env("AWS_ENDPOINT_URL_EC2", Some(&moto));
    berth.env("AWS_ENDPOINT_URL_ECS", Some(&moto));
    let run = run_with_input(
        &berth,
        &["session", &id, "--endpoint-url", NOWHERE],
        "echo own-variables; exit\n",
    );
    run.expect_code(0).stdout_has("own-variables");
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
    run.expect_code(2)
        .stderr_has("--resume-for")
        .stderr_has("is not a duration");
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

/// The profile's `ignore_configured_endpoint_urls` works as the variable
/// does.
#[test]
fn the_profiles_ignore_key_drops_ssms_own_variable() {
    let id = instance();
    let moto = sandbox().endpoint.clone();
    let standin = StandIn::start_with(&id, &shell_config(), &["--upstream", &moto]);
    let mut berth = standin.berth();
    berth.env("AWS_ENDPOINT_URL_SSM", Some(NOWHERE));
    let aws_dir = berth.home().join(".aws");
    std::fs::create_dir_all(&aws_dir).expect("mkdir .aws");
    std::fs::write(
        aws_dir.join("config"),
        "[default]\nignore_configured_endpoint_urls = true\n",
    )
    .expect("write config");
    let run = run_with_input(
        &berth,
        &["session", &id, "--endpoint-url", standin.endpoint()],
        "echo profile-ignored; exit\n",
    );
    run.expect_code(0).stdout_has("profile-ignored");
    assert_eq!(standin.calls("AmazonSSM.StartSession"), 1);
}

/// A test CA and a certificate it signed for 127.0.0.1, made with the
/// openssl CLI in `dir`: (CA certificate, certificate, key).
fn make_ca(dir: &std::path::Path) -> (String, String, String) {
    let path = |name: &str| dir.join(name).display().to_string();
    let ext = path("ext.cnf");
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write ext.cnf");
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let (ca, ca_key) = (path("ca.pem"), path("ca.key"));
    let (cert, key, csr) = (path("cert.pem"), path("key.pem"), path("req.csr"));
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &["-keyout", &ca_key, "-out", &ca, "-days", "2"],
            &["-subj", "/CN=berth test CA"],
            &["-addext", "basicConstraints=critical,CA:TRUE"],
            &["-addext", "keyUsage=critical,keyCertSign"],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &["-keyout", &key, "-out", &csr, "-subj", "/CN=127.0.0.1"],
        ]
        .concat(),
    );
    openssl(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-out",
        &cert,
        "-days",
        "2",
        "-extfile",
        &ext,
    ]);
    (ca, cert, key)
}

/// A data channel over TLS with a certificate from a CA of the test's
/// own: trusted through `AWS_CA_BUNDLE`, refused without it with the TLS
/// cause and a hint naming `AWS_CA_BUNDLE`.
#[test]
fn a_wss_stream_is_trusted_through_aws_ca_bundle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ca, cert, key) = make_ca(dir.path());
    let id = instance();
    let standin = StandIn::start_with(
        &id,
        &shell_config(),
        &["--tls-cert", &cert, "--tls-key", &key],
    );
    let mut berth = standin.berth();

    let run = run_with_input(&berth, &["session", &id], "echo never; exit\n");
    run.expect_code(255)
        .stderr_has("TLS")
        .stderr_has("AWS_CA_BUNDLE");
    assert!(!run.stdout.contains("never"), "{run:#?}");
    let cause = run
        .stderr
        .lines()
        .find(|l| l.contains("TLS"))
        .expect("the cause");
    assert!(cause.contains("wss://127.0.0.1:"), "{cause}");

    berth.env("AWS_CA_BUNDLE", Some(&ca));
    let run = run_with_input(&berth, &["session", &id], "echo over-wss; exit\n");
    run.expect_code(0).stdout_has("over-wss");

    // An unusable bundle is a clear error that names it.
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "no certificates here\n").expect("write");
    berth.env("AWS_CA_BUNDLE", Some(&empty.display().to_string()));
    let run = run_with_input(&berth, &["session", &id], "");
    run.expect_code(4)
        .stderr_has(&empty.display().to_string())
        .stderr_has("no usable certificate");
}

/// The profile's `ca_bundle` is trusted by the SDK's clients too: the
/// stand-in's control plane over TLS answers StartSession.
#[test]
fn the_profiles_ca_bundle_is_trusted_by_the_aws_clients_and_the_stream() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ca, cert, key) = make_ca(dir.path());
    let id = instance();
    let standin = StandIn::start_with(
        &id,
        &shell_config(),
        &["--tls-cert", &cert, "--tls-key", &key, "--tls-control"],
    );
    assert!(
        standin.endpoint().starts_with("https://"),
        "{}",
        standin.endpoint()
    );
    let berth = standin.berth();
    let aws_dir = berth.home().join(".aws");
    std::fs::create_dir_all(&aws_dir).expect("mkdir .aws");
    std::fs::write(
        aws_dir.join("config"),
        format!("[default]\nca_bundle = {ca}\n"),
    )
    .expect("write config");
    let run = run_with_input(&berth, &["session", &id], "echo trusted; exit\n");
    run.expect_code(0).stdout_has("trusted");
    assert_eq!(standin.calls("AmazonSSM.StartSession"), 1);
    assert_eq!(standin.calls("AmazonSSM.TerminateSession"), 1);
}

/// Without the bundle, the SDK's own TLS refusal names AWS_CA_BUNDLE.
#[test]
fn an_untrusted_endpoint_certificate_names_aws_ca_bundle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, cert, key) = make_ca(dir.path());
    let id = instance();
    let standin = StandIn::start_with(
        &id,
        &shell_config(),
        &["--tls-cert", &cert, "--tls-key", &key, "--tls-control"],
    );
    let run = run_with_input(
        &standin.berth(),
        &["session", &id, "--aws-timeout", "5s"],
        "",
    );
    run.expect_code(5)
        .stderr_has("certificate")
        .stderr_has("AWS_CA_BUNDLE");
}
