//! What berth says before it asks AWS anything: malformed targets, help,
//! completions and man pages. The fake endpoint has no replies at all, so
//! a case that reached AWS would fail.

use crate::no_aws;
use crate::support::cases::{case, check};

const TARGET_HINT: &str = "targets look like CLUSTER";

#[test]
#[allow(clippy::too_many_lines)] // a table of cases reads best in one piece
fn malformed_targets_are_usage_errors_that_show_the_forms() {
    let berth = no_aws();
    let overlong = "a".repeat(5000);
    let long_name = format!("prod/{}", "n".repeat(300));
    let cases = vec![
        case(
            "empty",
            &["ssh", ""],
            2,
            &["the target is empty", TARGET_HINT],
        ),
        case(
            "spaces",
            &["ssh", "   "],
            2,
            &["the target is empty", TARGET_HINT],
        ),
        case(
            "a space inside",
            &["ssh", "prod web"],
            2,
            &["`prod web` is not a valid cluster name", TARGET_HINT],
        ),
        case(
            "unicode",
            &["ssh", "prød"],
            2,
            &["`prød` is not a valid cluster name", TARGET_HINT],
        ),
        case(
            "an emoji cluster",
            &["ssh", "🚀/web-1"],
            2,
            &["`🚀` is not a valid cluster name", TARGET_HINT],
        ),
        case(
            "overlong",
            &["ssh", &overlong],
            2,
            &[
                "the target is 5000 characters long",
                "check what was pasted",
            ],
        ),
        case(
            "an overlong Name",
            &["ssh", &long_name],
            2,
            &["the target is 305 characters long", "check what was pasted"],
        ),
        case(
            "i- too short",
            &["ssh", "i-123"],
            2,
            &["`i-123` is not an EC2 instance id", "lowercase"],
        ),
        case(
            "i- with a letter past f",
            &["ssh", "i-0123456789abcdefg"],
            2,
            &["is not an EC2 instance id", "e.g. i-0123456789abcdef0"],
        ),
        case(
            "i- in upper case",
            &["ssh", "i-0123456789ABCDEF0"],
            2,
            &["is not an EC2 instance id", "lowercase"],
        ),
        case(
            "an empty part",
            &["ssh", "prod//web-1"],
            2,
            &["`prod//web-1` has an empty part", TARGET_HINT],
        ),
        case(
            "too many parts",
            &["ssh", "prod/a/b/c"],
            2,
            &["has too many `/` parts", TARGET_HINT],
        ),
        case(
            "an ARN of another service",
            &[
                "ssh",
                "arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0",
            ],
            2,
            &[
                "the ARN of another AWS service than ECS",
                "give its id alone",
            ],
        ),
        case(
            "an ECS ARN of another resource",
            &[
                "ssh",
                "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1",
            ],
            2,
            &[
                "an ECS ARN of another kind of resource",
                "CLUSTER/service/NAME",
            ],
        ),
        case(
            "an old ARN without the cluster",
            &[
                "ssh",
                "arn:aws:ecs:us-east-1:123456789012:container-instance/0f1e2d3c",
            ],
            2,
            &[
                "old-format ARN without the cluster name",
                "write it as CLUSTER/ID",
            ],
        ),
        case(
            "half an ARN",
            &["ssh", "arn:aws:ecs"],
            2,
            &["is not an ECS container-instance or task ARN", TARGET_HINT],
        ),
    ];
    assert_eq!(check(&berth, cases), 16);
}

#[test]
fn help_completions_and_man_page() {
    let berth = no_aws();
    berth
        .run(&["ssh", "--help"])
        .expect_code(0)
        .stdout_has("CLUSTER/service/NAME")
        .stdout_has("the remote user's shell runs the result");
    berth
        .run(&["completions", "bash"])
        .expect_code(0)
        .stdout_has("_berth");
    berth.run(&["man"]).expect_code(0).stdout_has(".TH berth");
}

#[test]
fn the_man_page_comes_from_the_same_definitions() {
    let run = no_aws().run(&["man"]);
    run.expect_code(0)
        .stdout_has(".TH berth 1")
        .stdout_has("ssh\\-config")
        .stdout_has("completions")
        .stdout_has("\\-\\-cache\\-ttl");
    // One command's page, with its own options.
    let berth = no_aws();
    berth
        .run(&["man", "ssh"])
        .expect_code(0)
        .stdout_has(".TH berth-ssh 1")
        .stdout_has("\\-\\-ephemeral\\-key");
    berth
        .run(&["man", "sideways"])
        .expect_code(2)
        .stderr_has("berth has no command `sideways`")
        .stderr_has("ssh-config");
    // Every page into a folder, each named on stdout.
    let dir = berth.home().join("man1");
    let run = berth.run(&["man", "--dir", &dir.display().to_string()]);
    run.expect_code(0);
    for page in ["berth.1", "berth-ssh.1", "berth-run.1", "berth-doctor.1"] {
        let path = dir.join(page);
        assert!(run.stdout.contains(&path.display().to_string()), "{run:#?}");
        let text = std::fs::read_to_string(&path).expect("page");
        assert!(text.starts_with(".ie"), "{page}: {text}");
    }
}

#[test]
fn ssh_config_carries_resume_for_into_its_proxy_commands() {
    let berth = no_aws();
    // Printed (what --install would write): the catch-all's ProxyCommand
    // gives `berth proxy` the same --resume-for, as the CLI reads it.
    let run = berth.run(&["ssh-config", "--via", "ssm", "--resume-for", "90s"]);
    run.expect_code(0)
        .stdout_has("proxy --via ssm --resume-for 90s '%h' '%p'");
    let run = berth.run(&["ssh-config", "--via", "ssm", "--resume-for", "1500ms"]);
    run.expect_code(0)
        .stdout_has("proxy --via ssm --resume-for 1500ms '%h' '%p'");
    // Without it, none is written (berth proxy's default applies).
    let run = berth.run(&["ssh-config", "--via", "ssm"]);
    run.expect_code(0).stdout_has("proxy --via ssm '%h' '%p'");
    assert!(!run.stdout.contains("--resume-for"), "{run:#?}");
    // Installed: the block in the file has it too.
    let file = berth.home().join("ssh_config");
    let file = file.display().to_string();
    berth
        .run(&[
            "ssh-config",
            "--via",
            "ssm",
            "--resume-for",
            "2m",
            "--install",
            "--file",
            &file,
        ])
        .expect_code(0);
    let text = std::fs::read_to_string(&file).expect("installed");
    assert!(
        text.contains("proxy --via ssm --resume-for 120s '%h' '%p'"),
        "{text}"
    );
    berth
        .run(&["ssh-config", "--resume-for", "soon"])
        .expect_code(2)
        .stderr_has("`soon` is not a duration");
}
