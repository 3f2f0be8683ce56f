//! Integration tests: the built `berth` binary against the local sandbox
//! (moto for ECS/EC2, a real sshd on 127.X.0.N for the container instances).

#[path = "../support/mod.rs"]
mod support;

mod bad_input;
mod bastion;
mod concurrency;
mod doctor;
mod ecs_exec;
mod eice;
mod everyday;
mod faults;
mod fleet;
mod host_keys;
mod instance_connect;
mod random_inputs;
mod scale;
mod secrets_audit;
mod session;
mod ssm_connection;
mod ssm_route;
mod via_ssm;

use std::time::{Duration, Instant};

use support::desktop::{self, Reaped, Xvfb};
use support::{BENCH_INSTANCES, Berth, SandboxHost, sandbox, set_mode, stats_line};

/// `$SSH_CONNECTION` is "client-ip client-port server-ip server-port".
pub(crate) fn server_address(stdout: &str) -> &str {
    stdout
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(2))
        .unwrap_or_else(|| panic!("no SSH_CONNECTION in {stdout:?}"))
}

#[test]
fn ssh_lands_on_the_right_host_as_the_amis_user() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    for (name, user) in [
        ("prod-al2023", "ec2-user"),
        ("prod-ubuntu", "ubuntu"),
        ("prod-flatcar", "core"),
    ] {
        let host = sb.host(name);
        let target = format!("prod/{}", host.instance_id);
        let run = berth.run(&[
            "ssh",
            &target,
            "--via",
            "private",
            "--",
            "echo $SSH_CONNECTION; id -un",
        ]);
        run.expect_code(0);
        let ip = host.private_ip.as_deref().expect("private ip");
        assert_eq!(server_address(&run.stdout), ip, "{name}: {run:#?}");
        assert_eq!(run.stdout.lines().nth(1), Some(user), "{name}: {run:#?}");
    }
}

#[test]
fn every_target_form_reaches_the_same_host() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let host = sb.host("prod-ubuntu");
    let ip = host.private_ip.as_deref().expect("ip");
    let arn = host.container_instance_arn.as_deref().expect("arn");
    let ci_id = arn.rsplit('/').next().expect("id");
    let targets = [
        host.instance_id.clone(),
        format!("prod/{}", host.instance_id),
        "prod/prod-ubuntu".to_owned(),
        format!("prod/{ip}"),
        format!("prod/{ci_id}"),
        format!("prod/{}", &ci_id[..8]),
        arn.to_owned(),
        "prod/service/web".to_owned(),
    ];
    for target in &targets {
        let run = berth.run(&[
            "ssh",
            target,
            "--via",
            "private",
            "--",
            "echo $SSH_CONNECTION",
        ]);
        run.expect_code(0);
        assert_eq!(server_address(&run.stdout), ip, "{target}: {run:#?}");
    }
}

#[test]
fn a_task_target_resolves_to_the_host_that_runs_it() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let task = sb.tasks.get("batch").expect("batch task");
    let task_id = task.rsplit('/').next().expect("id");
    let ip = sb.host("prod-al2023").private_ip.clone().expect("ip");
    for target in [task.clone(), format!("prod/task/{task_id}")] {
        let run = berth.run(&["ssh", &target, "--via", "private", "--dry-run"]);
        run.expect_code(0).stdout_has(&format!("ec2-user@{ip}"));
    }
}

#[test]
fn remote_exit_status_passes_through() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let target = format!("prod/{}", sb.host("prod-al2023").instance_id);
    berth
        .run(&["ssh", &target, "--via", "private", "--", "exit 7"])
        .expect_code(7);
    // Words after -- are joined by ssh and run by the remote shell.
    let run = berth.run(&[
        "ssh", &target, "--via", "private", "--", "echo", "a  b", "c",
    ]);
    run.expect_code(0);
    assert_eq!(run.stdout.trim(), "a b c");
}

#[test]
fn ls_lists_the_fleet_with_users_and_addresses() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let run = berth.run(&["ls", "prod", "--output", "json"]);
    run.expect_code(0);
    let rows = run.json();
    let rows = rows.as_array().expect("array");
    assert_eq!(rows.len(), 6, "{rows:#?}");
    for (name, user, status) in [
        ("prod-al2023", Some("ec2-user"), "ACTIVE"),
        ("prod-ubuntu", Some("ubuntu"), "ACTIVE"),
        ("prod-flatcar", Some("core"), "ACTIVE"),
        ("prod-windows", Some("Administrator"), "ACTIVE"),
        ("prod-nokey", Some("ec2-user"), "ACTIVE"),
        ("prod-draining", Some("ec2-user"), "DRAINING"),
    ] {
        let host = sb.host(name);
        let row = rows
            .iter()
            .find(|r| r["instance_id"] == host.instance_id.as_str())
            .unwrap_or_else(|| panic!("{name} missing from {rows:#?}"));
        assert_eq!(row["name"], name);
        assert_eq!(row["user"].as_str(), user, "{name}");
        assert_eq!(row["user"].as_str(), host.user.as_deref(), "{name}");
        assert_eq!(row["status"], status, "{name}");
        assert_eq!(
            row["private_ip"].as_str(),
            host.private_ip.as_deref(),
            "{name}"
        );
        assert_eq!(row["public_ip"], serde_json::Value::Null, "{name}");
        assert_eq!(row["cluster"], "prod");
    }
    let nokey = rows
        .iter()
        .find(|r| r["name"] == "prod-nokey")
        .expect("nokey");
    assert_eq!(nokey["key_name"], serde_json::Value::Null);

    let table = berth.run(&["ls", "prod"]);
    table
        .expect_code(0)
        .stdout_has("CONTAINER-INSTANCE")
        .stdout_has("Flatcar");
    assert_eq!(table.stdout.lines().count(), 7, "{table:#?}");
}

#[test]
fn ls_filters_and_lists_clusters() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let web = berth.run(&["ls", "prod", "--tag", "role=web", "--output", "json"]);
    let names: Vec<String> = web
        .expect_code(0)
        .json()
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(names, vec!["prod-al2023", "prod-ubuntu"]);

    let draining = berth.run(&["ls", "prod", "--status", "DRAINING", "--output", "json"]);
    let rows = draining.expect_code(0).json();
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{rows:#?}");
    assert_eq!(rows[0]["name"], "prod-draining");

    let clusters = berth.run(&["ls", "--output", "json"]);
    let clusters = clusters.expect_code(0).json();
    let prod = clusters
        .as_array()
        .expect("array")
        .iter()
        .find(|c| c["name"] == "prod")
        .expect("prod listed");
    assert_eq!(prod["container_instances"], 6);
    for name in ["edge", "empty"] {
        assert!(
            clusters
                .as_array()
                .expect("array")
                .iter()
                .any(|c| c["name"] == name),
            "{name}"
        );
    }
}

#[test]
fn a_windows_host_points_to_rdp() {
    let sb = sandbox();
    let id = &sb.host("prod-windows").instance_id;
    let run = Berth::new(sb).run(&["ssh", "prod/prod-windows", "--via", "private"]);
    run.expect_code(4)
        .stderr_has("Windows")
        .stderr_has(&format!("berth rdp {id}"));
}

#[test]
fn bottlerocket_has_no_shell_on_the_host() {
    let sb = sandbox();
    let run = Berth::new(sb).run(&["ssh", "edge/edge-bottlerocket"]);
    run.expect_code(4)
        .stderr_has("Bottlerocket")
        .stderr_has("ssm start-session");
}

#[test]
fn an_unknown_cluster_names_the_ones_that_exist() {
    let sb = sandbox();
    let run = Berth::new(sb).run(&["ssh", "prdo"]);
    run.expect_code(3)
        .stderr_has("no ECS cluster `prdo`")
        .stderr_has("clusters that exist:")
        .stderr_has("prod");
    Berth::new(sb)
        .run(&["ls", "prdo"])
        .expect_code(3)
        .stderr_has("clusters that exist:");
}

#[test]
fn several_matches_without_a_terminal_list_the_candidates() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let run = berth.run(&["ssh", "prod", "--via", "private"]);
    run.expect_code(3).stderr_has("matches 6 hosts");
    for name in ["prod-al2023", "prod-ubuntu", "prod-draining"] {
        run.stderr_has(&format!("prod/{}", sb.host(name).instance_id));
    }
    let first = berth.run(&[
        "ssh",
        "prod",
        "--via",
        "private",
        "--first",
        "--tag",
        "role=web",
        "--dry-run",
    ]);
    first.expect_code(0).stdout_has("@127.");
}

#[test]
fn bad_targets_and_flags_are_usage_errors() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    for args in [
        vec!["ssh", "prod//x"],
        vec!["ssh", "a/b/c/d"],
        vec!["ssh", "arn:aws:ecs:us-east-1:1:container-instance/abc"],
        vec!["ssh", "prod", "--via", "nowhere"],
        vec!["ls", "prod", "--tag", "novalue"],
        vec!["ls", "prod/i-12345678"],
    ] {
        let run = berth.run(&args);
        assert_eq!(run.code, 2, "{args:?}: {run:#?}");
        assert!(!run.stderr.is_empty(), "{args:?}");
    }
}

#[test]
fn no_match_and_missing_instances_exit_3() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    berth
        .run(&["ssh", "prod/no-such-name"])
        .expect_code(3)
        .stderr_has("berth ls prod");
    berth
        .run(&["ssh", "i-0000000000000dead"])
        .expect_code(3)
        .stderr_has("i-0000000000000dead");
    berth
        .run(&["ssh", "prod", "--tag", "role=nothing"])
        .expect_code(3);
    // An instance that exists but is not in the cluster.
    let loose = &sb.host("loose-ubuntu").instance_id;
    berth
        .run(&["ssh", &format!("prod/{loose}")])
        .expect_code(3)
        .stderr_has(&format!("berth ssh {loose}"));
}

#[test]
fn a_cold_ssh_to_an_instance_id_takes_two_round_trips() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let id = &sb.host("prod-al2023").instance_id;
    let cold = berth.run(&["--stats", "ssh", id, "--via", "private", "--", "true"]);
    cold.expect_code(0);
    let stats = stats_line(&cold.stderr);
    // Finding the host takes two; the first contact reads the host key from
    // the console output (GetConsoleOutput) beside them, not after.
    assert_eq!(stats["round_trips"], 2, "{cold:#?}");
    assert_eq!(stats["calls"], 3, "{cold:#?}");
    cold.stderr_has("ec2:DescribeInstances x1")
        .stderr_has("ec2:DescribeImages x1")
        .stderr_has("ec2:GetConsoleOutput x1");
    // The host cache holds it all now (tests/berth/everyday.rs); without
    // it, the AMI cache and the pinned host key leave one round trip.
    let warm = berth.run(&[
        "--stats",
        "--cache-ttl",
        "0",
        "ssh",
        id,
        "--via",
        "private",
        "--",
        "true",
    ]);
    warm.expect_code(0);
    assert_eq!(stats_line(&warm.stderr)["round_trips"], 1, "{warm:#?}");
    // --refresh ignores the cache.
    let refreshed = berth.run(&[
        "--stats",
        "--refresh",
        "ssh",
        id,
        "--via",
        "private",
        "--dry-run",
    ]);
    assert_eq!(
        stats_line(&refreshed.stderr)["round_trips"],
        2,
        "{refreshed:#?}"
    );
}

#[test]
fn cluster_targets_take_at_most_three_round_trips() {
    let sb = sandbox();
    let host = sb.host("prod-ubuntu");
    let ci = host.container_instance_arn.as_deref().expect("arn");
    let ci_id = ci.rsplit('/').next().expect("id");
    // Cold AMI cache each time (a fresh HOME per run).
    for (target, trips) in [
        // DescribeInstances → DescribeImages, beside List → DescribeContainerInstances
        (format!("prod/{}", host.instance_id), 2),
        // DescribeContainerInstances → DescribeInstances ‖ DescribeImages
        (format!("prod/{ci_id}"), 2),
        (ci.to_owned(), 2),
        // DescribeInstances (Name/IP) → List → DescribeContainerInstances
        ("prod/prod-ubuntu".to_owned(), 3),
        (
            format!("prod/{}", host.private_ip.as_deref().expect("ip")),
            3,
        ),
        // List → DescribeContainerInstances → DescribeInstances ‖ DescribeImages
        ("prod".to_owned(), 3),
        // List (task:group == service:web) → Describe → Instances ‖ Images
        ("prod/service/web".to_owned(), 3),
        (format!("prod/{}", &ci_id[..8]), 3),
    ] {
        let run = Berth::new(sb).run(&[
            "--stats",
            "ssh",
            &target,
            "--via",
            "private",
            "--first",
            "--dry-run",
        ]);
        run.expect_code(0);
        assert_eq!(
            stats_line(&run.stderr)["round_trips"],
            trips,
            "{target}: {run:#?}"
        );
    }
}

#[test]
fn dry_run_prints_the_exact_argv_with_public_dns_and_key() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let edge = sb.host("edge-al2023");
    let dns = edge
        .public_dns
        .as_deref()
        .expect("edge host has public DNS");
    let key = berth.home().join(".ssh/berth-sandbox.pem");
    let run = berth.run(&[
        "ssh",
        "edge/edge-al2023",
        "--dry-run",
        "-p",
        "2222",
        "-o",
        "ServerAliveInterval=5",
        "-L",
        "8080:localhost:80",
        "-A",
        "-t",
        "--output",
        "json",
        "--",
        "sudo systemctl restart ecs",
    ]);
    let argv: Vec<String> =
        serde_json::from_value(run.expect_code(0).json()["argv"].clone()).expect("argv");
    let expected: Vec<String> = [
        sb.ssh.display().to_string().as_str(),
        "-p",
        "2222",
        "-o",
        "ServerAliveInterval=5",
        "-L",
        "8080:localhost:80",
        "-A",
        "-t",
        "-i",
        key.display().to_string().as_str(),
        "-o",
        "IdentitiesOnly=yes",
        "--",
        &format!("ec2-user@{dns}"),
        "sudo systemctl restart ecs",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    assert_eq!(argv, expected);
}

#[test]
fn a_private_only_host_says_which_routes_exist() {
    let sb = sandbox();
    let ip = sb.host("prod-al2023").private_ip.clone().expect("ip");
    let run = Berth::new(sb).run(&["ssh", "prod/prod-al2023", "--via", "public"]);
    run.expect_code(4)
        .stderr_has("no public address")
        .stderr_has(&format!("private IP {ip} (--via private"));
}

#[test]
fn a_key_readable_by_others_is_caught_before_ssh() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let key = berth.home().join(".ssh/berth-sandbox.pem");
    set_mode(&key, 0o644);
    let run = berth.run(&["ssh", "prod/prod-al2023", "--via", "private", "--", "true"]);
    run.expect_code(4)
        .stderr_has(&format!("chmod 600 {}", key.display()));
}

#[test]
fn an_explicit_identity_and_user_win() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let key = berth.home().join("elsewhere.pem");
    std::fs::copy(&sb.key_path, &key).expect("copy");
    set_mode(&key, 0o600);
    let k = key.display().to_string();
    let run = berth.run(&[
        "ssh",
        "prod/prod-ubuntu",
        "--via",
        "private",
        "-i",
        &k,
        "--user",
        "core",
        "--",
        "id -un",
    ]);
    run.expect_code(0);
    assert_eq!(run.stdout.trim(), "core");
    berth
        .run(&["ssh", "prod/prod-ubuntu", "-i", "/nonexistent.pem"])
        .expect_code(2)
        .stderr_has("/nonexistent.pem");
}

#[test]
fn missing_credentials_exit_6_and_name_the_fix() {
    let sb = sandbox();
    let mut berth = Berth::new(sb);
    berth
        .env("AWS_ACCESS_KEY_ID", None)
        .env("AWS_SECRET_ACCESS_KEY", None);
    let run = berth.run(&["ls", "prod"]);
    run.expect_code(6)
        .stderr_has("credentials")
        .stderr_has("aws sso login");
}

#[test]
fn show_reports_facts_and_plan() {
    let sb = sandbox();
    let host = sb.host("prod-draining");
    let run = Berth::new(sb).run(&[
        "show",
        "prod/prod-draining",
        "--via",
        "private",
        "--output",
        "json",
    ]);
    let report = run.expect_code(0).json();
    assert_eq!(report["host"]["instance_id"], host.instance_id.as_str());
    assert_eq!(report["host"]["status"], "DRAINING");
    assert_eq!(report["host"]["user"], "ec2-user");
    assert_eq!(report["host"]["user_from"], "ami");
    let argv = report["plan"]["argv"].as_array().expect("argv");
    assert_eq!(
        argv.last().and_then(|v| v.as_str()),
        Some(format!("ec2-user@{}", host.private_ip.as_deref().expect("ip")).as_str())
    );
    assert!(
        report["plan"]["warnings"][0]
            .as_str()
            .is_some_and(|w| w.contains("DRAINING")),
        "{report:#}"
    );
    // A host berth cannot ssh to still shows, with the reason.
    let bottlerocket = Berth::new(sb).run(&["show", "edge/edge-bottlerocket"]);
    bottlerocket
        .expect_code(0)
        .stdout_has("cannot ssh")
        .stdout_has("ssm start-session");
    // A Windows host shows the RDP plan, the password only as a placeholder.
    let win = Berth::new(sb).run(&["show", "prod/prod-windows", "--via", "private"]);
    let ip = sb.host("prod-windows").private_ip.clone().expect("ip");
    win.expect_code(0).stdout_has(&format!(
        "xfreerdp /v:{ip} /u:Administrator /from-stdin:force /cert:tofu  # stdin: \"<password>\\n\""
    ));
    assert!(!win.stdout.contains(&sb.windows_password), "{win:#?}");
}

#[test]
fn ls_follows_pages_and_batches_describes() {
    let sb = sandbox();
    let run = Berth::new(sb).run(&["--stats", "ls", "bench", "--output", "json"]);
    let rows = run.expect_code(0).json();
    let rows = rows.as_array().expect("array");
    assert_eq!(rows.len(), BENCH_INSTANCES);
    let mut ids: Vec<&str> = rows
        .iter()
        .filter_map(|r| r["instance_id"].as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), BENCH_INSTANCES, "every instance once");
    assert!(rows.iter().all(|r| r["user"] == "ec2-user"));
    // 150 instances: two pages of 100, one describe per page, one
    // DescribeInstances (up to 1000 ids) beside one DescribeImages, and
    // Session Manager's view of them, 50 ids a call, as they are described.
    run.stderr_has("ecs:ListContainerInstances x2")
        .stderr_has("ecs:DescribeContainerInstances x2")
        .stderr_has("ec2:DescribeInstances x1")
        .stderr_has("ec2:DescribeImages x1")
        .stderr_has("ssm:DescribeInstanceInformation x3");
    let stats = stats_line(&run.stderr);
    assert_eq!(stats["calls"], 9, "{run:#?}");
    // page 1 → page 2 → describe page 2 → DescribeInstances ‖ DescribeImages
    // ‖ DescribeInstanceInformation of the last 50
    assert_eq!(stats["round_trips"], 4, "{run:#?}");
}

#[test]
fn on_a_terminal_several_matches_open_a_picker() {
    let sb = sandbox();
    let ip = sb.host("prod-ubuntu").private_ip.clone().expect("ip");
    // Type a fuzzy query, then Enter: the picker narrows to prod-ubuntu.
    let run = Berth::new(sb).run_on_terminal(
        &[
            "ssh",
            "prod",
            "--via",
            "private",
            "--",
            "echo $SSH_CONNECTION; id -un",
        ],
        "hosts match",
        "ubunt\r",
    );
    run.expect_code(0)
        .stdout_has("6 hosts match")
        .stdout_has(&format!(" {ip} "));
    // The remote `id -un` printed a line of its own (the picker's labels
    // mention "prod-ubuntu" too, so a substring would prove nothing).
    assert!(
        run.stdout.lines().any(|l| l.trim_end() == "ubuntu"),
        "{run:#?}"
    );
}

#[test]
fn profiles_work_as_in_the_aws_cli() {
    let sb = sandbox();
    let mut berth = Berth::new(sb);
    let aws_dir = berth.home().join(".aws");
    std::fs::create_dir_all(&aws_dir).expect("mkdir");
    std::fs::write(
        aws_dir.join("credentials"),
        "[sandbox]\naws_access_key_id = testing\naws_secret_access_key = testing\n",
    )
    .expect("write credentials");
    // An explicit --profile beats credentials in the environment.
    berth
        .run(&["--profile", "nosuch", "ls"])
        .expect_code(6)
        .stderr_has("profile `nosuch`")
        .stderr_has("aws sso login --profile nosuch");
    berth
        .env("AWS_ACCESS_KEY_ID", None)
        .env("AWS_SECRET_ACCESS_KEY", None);
    berth
        .run(&["--profile", "sandbox", "ls"])
        .expect_code(0)
        .stdout_has("prod");
    berth.env("AWS_PROFILE", Some("sandbox"));
    berth.run(&["ls"]).expect_code(0).stdout_has("prod");
}

#[test]
fn an_external_chooser_picks_from_the_candidates_on_a_terminal() {
    let sb = sandbox();
    let mut berth = Berth::new(sb);
    let ip = sb.host("prod-flatcar").private_ip.clone().expect("ip");
    let args = ["ssh", "prod", "--via", "private", "--dry-run"];
    berth.env("BERTH_PICKER", Some("grep --max-count=1 prod-flatcar"));
    berth
        .run_on_terminal(&args, "", "")
        .expect_code(0)
        .stdout_has(&format!("core@{ip}"));
    // The chooser picks without a terminal too (scripts; see everyday.rs).
    berth
        .run(&args)
        .expect_code(0)
        .stdout_has(&format!("core@{ip}"));
    // A chooser that picks nothing (fzf on Esc exits non-zero) picks nothing.
    berth.env("BERTH_PICKER", Some("false"));
    berth
        .run_on_terminal(&args, "", "")
        .expect_code(3)
        .stdout_has("nothing was picked");
    berth.env("BERTH_PICKER", Some("no-such-chooser-program"));
    berth
        .run_on_terminal(&args, "", "")
        .expect_code(4)
        .stdout_has("no-such-chooser-program");
}

#[test]
fn the_config_file_sets_key_dirs_users_and_routes() {
    let sb = sandbox();
    let mut berth = Berth::new(sb);
    // The key only in a configured directory, not in ~/.ssh.
    let keys = berth.home().join("keys");
    std::fs::create_dir_all(&keys).expect("mkdir");
    std::fs::rename(
        berth.home().join(".ssh/berth-sandbox.pem"),
        keys.join("berth-sandbox.pem"),
    )
    .expect("move key");
    let config = berth.home().join("berth.toml");
    std::fs::write(
        &config,
        "key_dirs = [\"~/keys\"]\n\n[clusters.prod]\nvia = \"private\"\nuser = \"core\"\n",
    )
    .expect("write config");
    berth.env("BERTH_CONFIG", Some(&config.display().to_string()));
    let ip = sb.host("prod-ubuntu").private_ip.clone().expect("ip");
    let run = berth.run(&[
        "-v",
        "ssh",
        "prod/prod-ubuntu",
        "--",
        "echo $SSH_CONNECTION; id -un",
    ]);
    run.expect_code(0)
        .stderr_has("route: private IPv4")
        .stderr_has(&format!(
            "key: {}",
            keys.join("berth-sandbox.pem").display()
        ));
    assert_eq!(server_address(&run.stdout), ip, "{run:#?}");
    assert_eq!(run.stdout.lines().nth(1), Some("core"), "{run:#?}");
    // The flag still wins over the config.
    berth
        .run(&["ssh", "prod/prod-ubuntu", "--via", "public"])
        .expect_code(4)
        .stderr_has("no public address");
    // A config file with a mistake is a usage error naming the file.
    std::fs::write(&config, "via = \"teleport\"\n").expect("write config");
    berth
        .run(&["ls"])
        .expect_code(2)
        .stderr_has(&config.display().to_string());
}

#[test]
fn the_berth_user_tag_beats_the_ami() {
    let sb = sandbox();
    let host = sb.host("loose-ubuntu");
    let dns = host.public_dns.as_deref().expect("public dns");
    let run = Berth::new(sb).run(&["ssh", &host.instance_id, "--dry-run"]);
    run.expect_code(0).stdout_has(&format!("deploy@{dns}"));
    let show = Berth::new(sb).run(&["show", &host.instance_id, "--output", "json"]);
    let report = show.expect_code(0).json();
    assert_eq!(report["host"]["user"], "deploy");
    assert_eq!(report["host"]["user_from"], "tag");
}

#[test]
fn az_status_and_cluster_arn_narrow_ls() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let count = |args: &[&str]| {
        let run = berth.run(args);
        run.expect_code(0).json().as_array().map_or(0, Vec::len)
    };
    assert_eq!(
        count(&["ls", "prod", "--az", "us-east-1a", "--output", "json"]),
        6
    );
    assert_eq!(
        count(&["ls", "prod", "--az", "us-east-1b", "--output", "json"]),
        0
    );
    assert_eq!(
        count(&["ls", "prod", "--status", "ACTIVE", "--output", "json"]),
        5
    );
    let arn = "arn:aws:ecs:us-east-1:123456789012:cluster/prod";
    assert_eq!(count(&["ls", arn, "--output", "json"]), 6);
    // --status needs a cluster: an instance id target cannot have one.
    let id = &sb.host("prod-al2023").instance_id;
    berth
        .run(&["ssh", id, "--status", "ACTIVE"])
        .expect_code(2)
        .stderr_has(&format!("CLUSTER/{id}"));
}

#[test]
fn ssh_failing_to_connect_exits_255() {
    let sb = sandbox();
    // Nothing listens on port 1 of the sandbox host.
    Berth::new(sb)
        .run(&[
            "ssh",
            "prod/prod-al2023",
            "--via",
            "private",
            "-p",
            "1",
            "--",
            "true",
        ])
        .expect_code(255);
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let sb = sandbox();
    let berth = Berth::new(sb);
    // `berth ls bench --output json | head -c 1`: the reader goes away early.
    let script = format!(
        "{} ls bench --output json | head -c 1 >/dev/null; echo ${{PIPESTATUS[0]}}",
        env!("CARGO_BIN_EXE_berth")
    );
    let mut child = Command::new("bash")
        .args(["-c", &script])
        .env_clear()
        .envs(berth.envs())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bash");
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read");
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read");
    child.wait().expect("wait");
    assert_eq!(out.trim(), "0", "{err}");
    assert!(!err.contains("error"), "{err}");
}

#[test]
fn a_deregistered_ami_is_asked_for_once_and_the_user_guessed() {
    let sb = sandbox();
    let host = sb.host("edge-gone-ami");
    let run = Berth::new(sb).run(&["ssh", "edge/edge-gone-ami", "--dry-run"]);
    run.expect_code(0)
        .stdout_has(&format!(
            "ec2-user@{}",
            host.public_dns.as_deref().expect("dns")
        ))
        .stderr_has("unknown to berth");
    // The agent's ecs.ami-id names it up front; once EC2 says it is gone,
    // berth does not ask again after DescribeInstances.
    let ls = Berth::new(sb).run(&["--stats", "ls", "edge", "--output", "json"]);
    ls.expect_code(0).stderr_has("ec2:DescribeImages x1");
    let rows = ls.json();
    let row = rows
        .as_array()
        .expect("array")
        .iter()
        .find(|r| r["name"] == "edge-gone-ami")
        .expect("listed");
    assert_eq!(row["os"], "unknown");
    assert_eq!(row["ami_name"], serde_json::Value::Null);
}

#[test]
fn ls_lists_the_broken_fleet() {
    let sb = sandbox();
    let run = Berth::new(sb).run(&["ls", "broken", "--output", "json"]);
    let rows = run.expect_code(0).json();
    let rows = rows.as_array().expect("array");
    let broken: Vec<(&String, &SandboxHost)> = sb
        .hosts
        .iter()
        .filter(|(_, h)| h.cluster.as_deref() == Some(sb.broken.cluster.as_str()))
        .collect();
    assert_eq!(broken.len(), 13, "{broken:#?}");
    assert_eq!(rows.len(), broken.len(), "{rows:#?}");
    for (name, host) in broken {
        let row = rows
            .iter()
            .find(|r| r["instance_id"] == host.instance_id.as_str())
            .unwrap_or_else(|| panic!("{name} missing from {rows:#?}"));
        assert_eq!(row["name"], name.as_str());
        assert_eq!(row["cluster"], "broken", "{name}");
        assert_eq!(row["state"].as_str(), host.state.as_deref(), "{name}");
        assert_eq!(row["key_name"].as_str(), host.key_name.as_deref(), "{name}");
        assert_eq!(row["private_ip"].as_str(), host.private_ip.as_deref());
        assert_eq!(row["public_ip"].as_str(), host.public_ip.as_deref());
        assert!(!host.security_group_ids.is_empty(), "{name}");
        assert!(host.subnet_id.is_some(), "{name}");
    }
    assert!(
        sb.clusters.contains(&sb.broken.cluster),
        "{:?}",
        sb.clusters
    );
    assert_eq!(sb.host("broken-stopped").state.as_deref(), Some("stopped"));
    for name in ["broken-public", "broken-noigw"] {
        let host = sb.host(name);
        assert!(host.public_ip.is_some(), "{name}");
        assert_eq!(
            host.vpc_id.as_ref(),
            Some(&sb.broken.public_vpc_id),
            "{name}"
        );
    }
    assert_eq!(
        sb.host("broken-keygone").key_path.as_ref(),
        Some(&sb.broken.deleted_key_path)
    );

    // open-term's own group has rules berth must leave alone, none of
    // which admits ssh from loopback. (The --open tests running beside this
    // one may hold a rule of berth's there for a moment: not counted.)
    let group = &sb.broken.open_security_group_ids["open-term"];
    assert_eq!(
        sb.host("open-term").security_group_ids,
        std::slice::from_ref(group)
    );
    let rules: Vec<_> = sb
        .ingress_rules(group)
        .into_iter()
        .filter(|r| {
            !r.description
                .as_deref()
                .is_some_and(|d| d.starts_with("berth temporary access"))
        })
        .collect();
    assert_eq!(rules.len(), 4, "{rules:#?}");
    assert!(
        rules.iter().all(|r| r.rule_id.starts_with("sgr-")),
        "{rules:#?}"
    );
    assert!(
        rules
            .iter()
            .any(|r| r.source == sb.broken.bastion_security_group_id),
        "{rules:#?}"
    );
    assert!(
        rules.iter().any(|r| r.source == "203.0.113.0/24"
            && (r.protocol.as_str(), r.from_port, r.to_port) == ("tcp", 22, 22)
            && r.description.as_deref() == Some("office VPN")),
        "{rules:#?}"
    );
    assert!(
        !rules.iter().any(|r| r.source.starts_with("127.")),
        "{rules:#?}"
    );
}

// ---------------------------------------------------------------- rdp

/// `berth rdp` to prod-windows over its private address.
fn rdp_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    [&["rdp", "prod/prod-windows", "--via", "private"], extra].concat()
}

/// One xrdp session at a time: the sandbox's xrdp has one Administrator.
static DESKTOP: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn rdp_logs_in_with_xfreerdp_and_the_password_never_shows_in_proc() {
    let sb = sandbox();
    let rdp = sb.rdp.as_ref().expect("the sandbox runs xrdp (--rdp)");
    let argv = log_in_with_xfreerdp(&rdp_args(&[]));
    assert_eq!(argv[1], format!("/v:{}", rdp.address));
}

#[test]
fn rdp_through_the_vpcs_bastion_tunnel_logs_in() {
    let sb = sandbox();
    // No --via: prod-windows has no public address, and its VPC has a
    // bastion tagged berth:bastion.
    let argv = log_in_with_xfreerdp(&["rdp", "prod/prod-windows"]);
    // The client talks to the tunnel's local end, not to the instance.
    assert!(argv[1].starts_with("/v:127.0.0.1:"), "{argv:?}");
    assert_ne!(
        argv[1],
        format!("/v:{}", sb.rdp.as_ref().expect("rdp").address)
    );
}

/// Runs berth with `args` and real xfreerdp under Xvfb against the
/// sandbox's xrdp; proves the login from xrdp's log and that the password
/// is in no process's argv or environment; returns the client's argv.
fn log_in_with_xfreerdp(berth_args: &[&str]) -> Vec<String> {
    log_in_with_xfreerdp_as(Berth::new(sandbox()), berth_args)
}

/// [`log_in_with_xfreerdp`] with this berth (its environment set).
pub(crate) fn log_in_with_xfreerdp_as(mut berth: Berth, berth_args: &[&str]) -> Vec<String> {
    let _one_at_a_time = DESKTOP
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let sb = sandbox();
    let rdp = sb.rdp.as_ref().expect("the sandbox runs xrdp (--rdp)");
    let password = sb.windows_password.as_bytes();
    let xvfb = Xvfb::start();
    berth.env("DISPLAY", Some(&xvfb.display));
    let log_start = std::fs::metadata(&rdp.xrdp_log).map_or(0, |m| m.len());
    let log_start = usize::try_from(log_start).expect("size");
    // berth's stderr, to show when something goes wrong.
    let errors = berth.home().join("rdp-stderr");
    let child = berth
        .command(&[&["-v"], berth_args].concat())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&errors).expect("stderr file"))
        .spawn()
        .expect("start berth");
    let mut berth_process = Reaped(child);
    let berth_pid = berth_process.0.id();

    // The client berth started, found as berth's child.
    let deadline = Instant::now() + Duration::from_secs(20);
    let client = loop {
        if let Some((pid, _)) = desktop::children_of(berth_pid)
            .into_iter()
            .find(|(_, comm)| comm == "xfreerdp")
        {
            break pid;
        }
        if let Ok(Some(status)) = berth_process.0.try_wait() {
            panic!("berth exited with {status} before starting xfreerdp");
        }
        assert!(Instant::now() < deadline, "xfreerdp never started");
        std::thread::sleep(Duration::from_millis(50));
    };

    let line = desktop::wait_for_log_line(
        &rdp.xrdp_log,
        log_start,
        &format!("login successful for user {}", rdp.user),
        "login failed for user",
        Duration::from_secs(30),
    );
    assert!(line.contains("Administrator"), "{line}");

    // While the client runs: the password is on neither its command line
    // nor in its environment, nor in berth's.
    for pid in [client, berth_pid] {
        let (cmdline, environ) = desktop::cmdline_and_environ(pid);
        assert!(
            !desktop::contains(&cmdline, password),
            "password in /proc/{pid}/cmdline"
        );
        assert!(
            !desktop::contains(&environ, password),
            "password in /proc/{pid}/environ"
        );
        assert!(!cmdline.is_empty() && !environ.is_empty(), "{pid} is gone");
    }
    let argv: Vec<String> = desktop::cmdline_and_environ(client)
        .0
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    assert_eq!(argv.len(), 5, "{argv:?}");
    assert_eq!(
        [&argv[0], &argv[2], &argv[3], &argv[4]],
        [
            "xfreerdp",
            "/u:Administrator",
            "/from-stdin:force",
            "/cert:tofu"
        ]
    );

    // Closing the client ends berth, with the client's status.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(client).expect("pid")),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("kill xfreerdp");
    let deadline = Instant::now() + Duration::from_secs(10);
    while berth_process.0.try_wait().expect("wait").is_none() {
        assert!(
            Instant::now() < deadline,
            "berth outlived its client by 10 s: {}",
            std::fs::read_to_string(&errors).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // A client closed by a signal did not fail to connect: no diagnosis.
    let said = std::fs::read_to_string(&errors).unwrap_or_default();
    assert!(!said.contains("checking the prerequisites"), "{said}");
    // Nothing berth started outlives it (the tunnel's ssh included).
    assert!(desktop::children_of(berth_pid).is_empty());
    drop(xvfb);
    argv
}

#[test]
fn rdp_print_password_prints_exactly_the_password() {
    let sb = sandbox();
    let run = Berth::new(sb).run(&rdp_args(&["--print-password"]));
    run.expect_code(0);
    assert_eq!(run.stdout, format!("{}\n", sb.windows_password));
}

#[test]
fn rdp_client_gets_the_arguments_and_the_password_on_stdin() {
    use sha2::Digest as _;
    let sb = sandbox();
    let mut berth = Berth::new(sb);
    let recorder = berth.home().join("recorder");
    // The recorder keeps a digest of its stdin: a test writes no password
    // to disk either.
    std::fs::write(
        &recorder,
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$0.argv\"\nsha256sum > \"$0.stdin\"\n",
    )
    .expect("write recorder");
    set_mode(&recorder, 0o755);
    let recorder = recorder.display().to_string();
    let expected_stdin = format!(
        "{:x}  -\n",
        sha2::Sha256::digest(format!("{}\n", sb.windows_password))
    );
    let ip = sb.host("prod-windows").private_ip.clone().expect("ip");
    let expected_argv = format!("/v:{ip}\n/u:Administrator\n/from-stdin:force\n/cert:tofu\n");

    berth
        .run(&rdp_args(&["--client", &recorder]))
        .expect_code(0);
    let read = |ext: &str| std::fs::read_to_string(format!("{recorder}.{ext}")).expect("recorded");
    assert_eq!(read("argv"), expected_argv);
    assert_eq!(read("stdin"), expected_stdin);

    // $BERTH_RDP_CLIENT does the same; a failing client's status is berth's.
    std::fs::remove_file(format!("{recorder}.argv")).expect("rm");
    berth.env("BERTH_RDP_CLIENT", Some(&recorder));
    berth.run(&rdp_args(&["--user", "ops"])).expect_code(0);
    assert!(read("argv").contains("/u:ops\n"));
    berth.env("BERTH_RDP_CLIENT", Some("false"));
    berth.run(&rdp_args(&[])).expect_code(1);
    berth.env("BERTH_RDP_CLIENT", Some("/nonexistent/xfreerdp"));
    berth
        .run(&rdp_args(&[]))
        .expect_code(4)
        .stderr_has("install FreeRDP");
}

#[test]
fn rdp_file_holds_address_and_user_and_no_client_runs() {
    let sb = sandbox();
    let mut berth = Berth::new(sb);
    // Nothing may run: a client that does not exist proves it.
    berth.env("BERTH_RDP_CLIENT", Some("/nonexistent/xfreerdp"));
    let path = berth.home().join("rdp/prod-windows.rdp");
    let path_arg = path.display().to_string();
    let run = berth.run(&rdp_args(&["--rdp-file", &path_arg]));
    run.expect_code(0).stderr_has("holds no password");
    let text = std::fs::read_to_string(&path).expect("rdp file");
    let ip = sb.host("prod-windows").private_ip.clone().expect("ip");
    assert!(text.contains(&format!("full address:s:{ip}\r\n")), "{text}");
    assert!(text.contains("username:s:Administrator\r\n"), "{text}");
    assert!(!text.contains(&sb.windows_password), "{text}");
    assert!(!text.to_lowercase().contains("password"), "{text}");
}

#[test]
fn rdp_dry_run_redacts_the_password_and_fetches_none() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let ip = sb.host("prod-windows").private_ip.clone().expect("ip");
    let run = berth.run(&rdp_args(&["--dry-run", "--stats"]));
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        format!(
            "xfreerdp /v:{ip} /u:Administrator /from-stdin:force /cert:tofu  # stdin: \"<password>\\n\"\n"
        )
    );
    assert!(!run.stderr.contains("GetPasswordData"), "{run:#?}");
    let json = berth
        .run(&rdp_args(&["--dry-run", "--output", "json", "-p", "3390"]))
        .expect_code(0)
        .json();
    assert_eq!(json["argv"][1], format!("/v:{ip}:3390"));
    assert_eq!(json["plan"]["steps"][0]["stdin"], "<password>\n");
    assert!(!json.to_string().contains(&sb.windows_password));
}

#[test]
fn rdp_waits_for_a_booting_host_then_explains() {
    let sb = sandbox();
    let started = Instant::now();
    let run = Berth::new(sb).run(&[
        "rdp",
        "rdp/rdp-win-pending",
        "--wait",
        "3s",
        "--print-password",
    ]);
    run.expect_code(4)
        .stderr_has("waiting up to 3s")
        .stderr_has("still not available after waiting 3s")
        .stderr_has("at least 4 minutes after launch")
        .stderr_has("launched")
        .stderr_has("--wait");
    assert!(started.elapsed() >= Duration::from_secs(3), "{run:#?}");
    assert!(run.stdout.is_empty(), "{run:#?}");
}

#[test]
fn rdp_refuses_linux_hosts_and_missing_or_wrong_keys() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let linux = sb.host("prod-al2023");
    berth
        .run(&["rdp", "prod/prod-al2023", "--via", "private"])
        .expect_code(4)
        .stderr_has("not Windows")
        .stderr_has(&format!("berth ssh prod/{}", linux.instance_id));

    // Among several matches, only Windows hosts are candidates.
    let run = berth.run(&["rdp", "prod", "--via", "private", "--print-password"]);
    assert_eq!(run.expect_code(0).stdout.trim(), sb.windows_password);

    // A key given with -i that does not exist is a usage error.
    berth
        .run(&rdp_args(&["-i", "/nonexistent/key.pem"]))
        .expect_code(2)
        .stderr_has("does not exist");

    // The key pair's file is not where berth looks.
    let keyless = Berth::new(sb);
    std::fs::remove_file(keyless.home().join(format!(".ssh/{}.pem", sb.key_name))).expect("rm key");
    keyless
        .run(&rdp_args(&["--print-password"]))
        .expect_code(4)
        .stderr_has(&format!(
            "no private key found for key pair `{}`",
            sb.key_name
        ))
        .stderr_has("-i FILE");

    // Another RSA key, and an ED25519 key.
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/src/secrets/testdata/");
    for (file, message) in [
        (
            "other-rsa-pkcs1.pem",
            "this key did not encrypt the password",
        ),
        ("ed25519-openssh.key", "RSA key pairs only"),
    ] {
        let key = berth.home().join(file);
        std::fs::copy(format!("{data}{file}"), &key).expect("copy key");
        set_mode(&key, 0o600);
        berth
            .run(&rdp_args(&[
                "-i",
                &key.display().to_string(),
                "--print-password",
            ]))
            .expect_code(4)
            .stderr_has(message);
    }
}

#[test]
fn rdp_opens_a_passphrase_protected_key() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let key = berth.home().join(format!(".ssh/{}.pem", sb.key_name));
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-p", "-a", "4", "-N", "correct-horse", "-f"])
        .arg(&key)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("ssh-keygen");
    assert!(status.success());
    berth
        .run(&rdp_args(&["--print-password"]))
        .expect_code(4)
        .stderr_has("protected by a passphrase")
        .stderr_has("--passphrase-file");
    let file = berth.home().join("passphrase");
    std::fs::write(&file, "correct-horse\n").expect("write");
    let file = file.display().to_string();
    let run = berth.run(&rdp_args(&["--print-password", "--passphrase-file", &file]));
    assert_eq!(run.expect_code(0).stdout.trim_end(), sb.windows_password);
    // On a terminal berth asks for it.
    let typed = berth.run_on_terminal(
        &rdp_args(&["--print-password"]),
        "Passphrase for",
        "correct-horse\r",
    );
    typed.expect_code(0).stdout_has("Passphrase for");
    assert!(typed.stdout.contains(&sb.windows_password), "{typed:#?}");
    std::fs::write(berth.home().join("passphrase"), "wrong\n").expect("write");
    berth
        .run(&rdp_args(&["--print-password", "--passphrase-file", &file]))
        .expect_code(4)
        .stderr_has("passphrase does not open");
}

#[test]
fn ssh_through_a_jump_host() {
    let sb = sandbox();
    let target = sb.host("prod-ubuntu");
    let jump = sb.host("prod-al2023");
    let mut berth = Berth::new(sb);
    // An ssh that records each invocation, then runs the sandbox's.
    let log = berth.home().join("ssh.log");
    let recorder = berth.home().join("ssh-recorder");
    std::fs::write(
        &recorder,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> {}\nexec {} \"$@\"\n",
            log.display(),
            sb.ssh.display()
        ),
    )
    .expect("write recorder");
    set_mode(&recorder, 0o755);
    berth.env("BERTH_SSH", Some(&recorder.display().to_string()));

    let run = berth.run(&[
        "ssh",
        "prod/prod-ubuntu",
        "--jump",
        "prod/prod-al2023",
        "--",
        "echo $SSH_CONNECTION",
    ]);
    run.expect_code(0);
    assert_eq!(
        server_address(&run.stdout),
        target.private_ip.as_deref().expect("ip")
    );
    let calls = std::fs::read_to_string(&log).expect("ssh log");
    let calls: Vec<&str> = calls.lines().collect();
    assert_eq!(calls.len(), 2, "{calls:#?}");
    // berth's ssh to the target, with the jump host's ssh as its proxy…
    assert!(calls[0].contains("ProxyCommand="), "{}", calls[0]);
    assert!(
        calls[0].ends_with(&format!(
            "ubuntu@{} echo $SSH_CONNECTION",
            target.private_ip.as_deref().expect("ip")
        )),
        "{}",
        calls[0]
    );
    // …which ssh ran, to the jump host as its own user, forwarding to the
    // target's port 22.
    assert!(
        calls[1].contains(&format!(
            "-W {}:22",
            target.private_ip.as_deref().expect("ip")
        )),
        "{}",
        calls[1]
    );
    assert!(
        calls[1].ends_with(&format!(
            "ec2-user@{}",
            jump.private_ip.as_deref().expect("ip")
        )),
        "{}",
        calls[1]
    );
}
