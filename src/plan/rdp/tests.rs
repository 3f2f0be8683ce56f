//! The RDP planner as tables of (facts, request, platform) → steps, and
//! the refusals it gives.

use std::path::PathBuf;

use super::*;
use crate::model::hint::Hint as _;
use crate::model::host::{Instance, example_host};
use crate::model::os::OsFamily;
use crate::plan::USER_TAG;

const DNS: &str = "ec2-3-4-5-6.compute-1.amazonaws.com";
const ID: &str = "i-0123456789abcdef0";

/// A running Windows instance outside any cluster, with public and
/// private addresses.
fn windows() -> Host {
    Host {
        os: OsFamily::Windows,
        container_instance: None,
        ..example_host()
    }
}

fn windows_with(change: impl FnOnce(&mut Instance)) -> Host {
    let mut host = windows();
    change(&mut host.ec2);
    host
}

fn request(platform: Platform) -> RdpRequest {
    RdpRequest {
        user: None,
        config_user: None,
        via: Via::Auto,
        port: None,
        platform,
        client: None,
        rdp_file: None,
        scratch_dir: PathBuf::from("/tmp/berth-rdp"),
        tunnel: None,
    }
}

fn key() -> KeyLookup {
    KeyLookup {
        found: Some(KeyFile {
            path: PathBuf::from("/home/op/.ssh/prod.pem"),
            source: KeySource::SshDir,
            mode: Some(0o600),
        }),
        searched: vec![PathBuf::from("/home/op/.ssh/prod.pem")],
    }
}

/// A step as a line: the argv, then `<<< STDIN` when the password goes in.
fn line(step: &Step) -> String {
    let mut line = step.argv.join(" ");
    if let Some(input) = step.stdin {
        line = format!("{line} <<< {:?}", input.redacted());
    }
    line
}

#[test]
fn steps_for_each_platform_and_option() {
    let freerdp = |v: &str, u: &str| {
        format!("xfreerdp /v:{v} /u:{u} /from-stdin:force /cert:tofu <<< \"<password>\\n\"")
    };
    let cases: Vec<(&str, Host, RdpRequest, Vec<String>)> = vec![
        (
            "linux: xfreerdp, the password on stdin",
            windows(),
            request(Platform::Linux),
            vec![freerdp(DNS, "Administrator")],
        ),
        (
            "--via private and --port",
            windows(),
            RdpRequest {
                via: Via::Private,
                port: Some(13389),
                ..request(Platform::Linux)
            },
            vec![freerdp("10.0.1.7:13389", "Administrator")],
        ),
        (
            "--user beats the tag",
            windows_with(|h| {
                h.tags.insert(USER_TAG.to_owned(), "ops".to_owned());
            }),
            RdpRequest {
                user: Some("admin2".into()),
                ..request(Platform::Linux)
            },
            vec![freerdp(DNS, "admin2")],
        ),
        (
            "no public DNS name: the public IP",
            windows_with(|h| h.public_dns = None),
            request(Platform::Linux),
            vec![freerdp("3.4.5.6", "Administrator")],
        ),
        (
            "--client replaces xfreerdp with the same arguments and stdin, on any platform",
            windows(),
            RdpRequest {
                client: Some("/opt/freerdp3/bin/sdl-freerdp".into()),
                ..request(Platform::MacOs)
            },
            vec![freerdp(DNS, "Administrator").replacen(
                "xfreerdp",
                "/opt/freerdp3/bin/sdl-freerdp",
                1,
            )],
        ),
        (
            "macos: the clipboard first, then open the .rdp file",
            windows(),
            request(Platform::MacOs),
            vec![
                "pbcopy <<< \"<password>\"".to_owned(),
                format!("open /tmp/berth-rdp/{ID}.rdp"),
            ],
        ),
        (
            "windows: cmdkey asks for the password and reads stdin, then mstsc",
            windows(),
            RdpRequest {
                port: Some(3390),
                ..request(Platform::Windows)
            },
            vec![
                format!(
                    "cmdkey /generic:TERMSRV/{DNS} /user:Administrator /pass <<< \"<password>\\r\\n\""
                ),
                format!("mstsc /v:{DNS}:3390"),
            ],
        ),
        (
            "--rdp-file: nothing runs",
            windows(),
            RdpRequest {
                rdp_file: Some(PathBuf::from("/home/op/win.rdp")),
                client: Some("xfreerdp".into()),
                ..request(Platform::Linux)
            },
            vec![],
        ),
    ];
    for (name, host, request, expected) in cases {
        let plan = plan_rdp(&host, &request, &key()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let lines: Vec<String> = plan.steps.iter().map(line).collect();
        assert_eq!(lines, expected, "{name}");
        assert_eq!(plan.needs_password(), !expected.is_empty(), "{name}");
    }
}

#[test]
fn no_step_ever_carries_the_password_in_its_argv() {
    for platform in [Platform::Linux, Platform::MacOs, Platform::Windows] {
        let plan = plan_rdp(&windows(), &request(platform), &key()).expect("plan");
        let json = serde_json::to_string(&plan).expect("json");
        assert!(json.contains("<password>"), "{json}");
        for step in &plan.steps {
            assert!(
                step.argv
                    .iter()
                    .all(|a| !a.contains(PasswordInput::PLACEHOLDER)),
                "{step:?}"
            );
            // `/p:` is how FreeRDP and `/pass:` how cmdkey would take it on
            // the command line.
            assert!(
                step.argv
                    .iter()
                    .all(|a| !a.starts_with("/p:") && !a.starts_with("/pass:")),
                "{step:?}"
            );
        }
    }
    assert_eq!(
        PasswordInput { terminator: "\n" }.render("s3cret"),
        "s3cret\n"
    );
}

#[test]
fn the_rdp_file_names_address_and_user_never_a_password() {
    let plan = plan_rdp(
        &windows(),
        &RdpRequest {
            rdp_file: Some(PathBuf::from("/home/op/win.rdp")),
            via: Via::Private,
            port: Some(3390),
            ..request(Platform::Linux)
        },
        &key(),
    )
    .expect("plan");
    let file = plan.rdp_file.expect("file");
    assert_eq!(file.path, PathBuf::from("/home/op/win.rdp"));
    assert_eq!(
        file.text,
        "full address:s:10.0.1.7:3390\r\nusername:s:Administrator\r\n\
         prompt for credentials:i:1\r\nscreen mode id:i:2\r\n"
    );
    assert!(!file.text.to_lowercase().contains("password"));
    let mac = plan_rdp(&windows(), &request(Platform::MacOs), &key()).expect("plan");
    assert_eq!(
        mac.rdp_file.map(|f| f.path),
        Some(PathBuf::from(format!("/tmp/berth-rdp/{ID}.rdp")))
    );
}

#[test]
fn refusals_name_the_prerequisite() {
    let linux = Host {
        container_instance: None,
        ..example_host()
    };
    assert_eq!(
        plan_rdp(&linux, &request(Platform::Linux), &key()),
        Err(RdpError::NotWindows {
            instance_id: ID.into(),
            os: "Ubuntu",
        })
    );
    assert!(
        RdpError::NotWindows {
            instance_id: ID.into(),
            os: "Ubuntu"
        }
        .hint()
        .unwrap_or_default()
        .contains(&format!("berth ssh {ID}"))
    );
    assert_eq!(
        plan_rdp(
            &windows_with(|h| h.key_name = None),
            &request(Platform::Linux),
            &KeyLookup::default()
        ),
        Err(RdpError::NoKeyPair {
            instance_id: ID.into()
        })
    );
    let missing = KeyLookup {
        found: None,
        searched: vec![PathBuf::from("/home/op/.ssh/prod.pem")],
    };
    let err = plan_rdp(&windows(), &request(Platform::Linux), &missing).expect_err("no key");
    assert_eq!(
        err.to_string(),
        "no private key found for key pair `prod` (looked in /home/op/.ssh/prod.pem)"
    );
    assert!(
        err.hint().unwrap_or_default().contains("~/.ssh/prod.pem"),
        "{}",
        err.hint().unwrap_or_default()
    );
    assert_eq!(
        plan_rdp(
            &windows_with(|h| h.state = "stopped".into()),
            &request(Platform::Linux),
            &key()
        ),
        Err(RdpError::Plan(PlanError::NotRunning {
            instance_id: ID.into(),
            state: "stopped".into()
        }))
    );
    let private_only = windows_with(|h| {
        h.public_dns = None;
        h.public_ip = None;
    });
    assert!(matches!(
        plan_rdp(&private_only, &request(Platform::Linux), &key()),
        Err(RdpError::Plan(PlanError::NoRoute { .. }))
    ));
}

#[test]
fn the_wait_explanation_names_the_launch_and_the_docs() {
    let err = RdpError::PasswordNotReady {
        instance_id: ID.into(),
        waited: "3s".into(),
        launched: Some("2025-11-21T10:00:00Z, 1m 5s ago".into()),
    };
    assert_eq!(
        err.to_string(),
        format!("the Administrator password of {ID} is still not available after waiting 3s")
    );
    let hint = err.hint().unwrap_or_default();
    assert!(hint.contains("at least 4 minutes after launch"), "{hint}");
    assert!(
        hint.contains("launched 2025-11-21T10:00:00Z, 1m 5s ago"),
        "{hint}"
    );
    assert!(hint.contains("--wait"), "{hint}");
}

#[test]
fn launch_time_in_words() {
    let now = humantime::parse_rfc3339("2025-11-21T10:01:05Z").expect("time");
    assert_eq!(
        launched_words("2025-11-21T10:00:00Z", now).as_deref(),
        Some("2025-11-21T10:00:00Z, 1m 5s ago")
    );
    assert_eq!(launched_words("yesterday", now), None);
    // A clock behind EC2's says nothing rather than something wrong.
    assert_eq!(launched_words("2025-11-21T11:00:00Z", now), None);
}

#[test]
fn a_key_readable_by_others_is_a_warning_here() {
    let mut open = key();
    if let Some(file) = open.found.as_mut() {
        file.mode = Some(0o644);
    }
    let plan = plan_rdp(&windows(), &request(Platform::Linux), &open).expect("plan");
    assert!(plan.warnings.iter().any(|w| w.contains("chmod 600")));
}

#[test]
fn through_a_tunnel_the_client_connects_to_its_local_end() {
    let host = windows_with(|i| i.private_ip = Some("10.0.1.20".into()));
    let tunnel = Tunnel {
        local_port: 40123,
        through: "i-0jump (bastion)".into(),
        forwarder: Forwarder::Ssh {
            argv: vec!["ssh".into(), "-N".into()],
        },
    };
    let request = RdpRequest {
        via: Via::Private,
        tunnel: Some(tunnel.clone()),
        ..request(Platform::Linux)
    };
    let plan = plan_rdp(&host, &request, &key()).expect("plan");
    assert_eq!(plan.address, "10.0.1.20", "the instance itself");
    assert_eq!(plan.tunnel, Some(tunnel));
    assert!(
        line(&plan.steps[0]).contains("/v:127.0.0.1:40123"),
        "{}",
        line(&plan.steps[0])
    );
    assert!(
        plan.notes
            .iter()
            .any(|n| n.contains("forwards through i-0jump (bastion) to 10.0.1.20:3389"))
    );
    assert_eq!(
        Tunnel::forward(40123, "10.0.1.20", 3389),
        "127.0.0.1:40123:10.0.1.20:3389"
    );
}
