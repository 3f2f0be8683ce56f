//! berth in an operator's everyday tools: the layered settings and
//! `berth config`, the host cache, `berth ssh-config` with the real ssh
//! and scp, shell completions, the man page and the fuzzy picker.

use crate::server_address;
use std::path::Path;

use crate::support::{Berth, Run, sandbox};

/// Writes `text` as the config file of `berth` (through BERTH_CONFIG).
fn write_config(berth: &mut Berth, text: &str) -> std::path::PathBuf {
    let path = berth.home().join("berth.toml");
    std::fs::write(&path, text).expect("write config");
    berth.env("BERTH_CONFIG", Some(&path.display().to_string()));
    path
}

/// The row of `berth config --output json` for `key`.
fn setting(run: &Run, key: &str) -> serde_json::Value {
    run.json()
        .as_array()
        .expect("array")
        .iter()
        .find(|row| row["key"] == key)
        .unwrap_or_else(|| panic!("no {key} in {run:#?}"))
        .clone()
}

#[test]
fn the_effective_config_names_each_values_source() {
    let sb = sandbox();
    let mut berth = Berth::new(sb);
    let path = write_config(
        &mut berth,
        "cluster = \"prod\"\nvia = \"public\"\ncache_ttl = \"5m\"\n\n[clusters.prod]\nuser = \"ops\"\n",
    );
    berth.env("BERTH_VIA", Some("private"));
    let run = berth.run(&["config", "--output", "json"]);
    run.expect_code(0);
    let file = serde_json::json!({ "kind": "file", "path": path, "key": "cluster" });
    assert_eq!(setting(&run, "cluster")["value"], "prod");
    assert_eq!(setting(&run, "cluster")["source"], file);
    // The environment beats the file.
    assert_eq!(setting(&run, "via")["value"], "private");
    assert_eq!(
        setting(&run, "via")["source"],
        serde_json::json!({ "kind": "env", "var": "BERTH_VIA" })
    );
    assert_eq!(setting(&run, "cache_ttl")["value"], "5m");
    assert_eq!(setting(&run, "cache_ttl")["source"]["kind"], "file");
    // The AWS CLI's own variable counts as the environment.
    assert_eq!(setting(&run, "region")["value"], sb.region.as_str());
    assert_eq!(
        setting(&run, "region")["source"],
        serde_json::json!({ "kind": "env", "var": "AWS_REGION" })
    );
    assert_eq!(setting(&run, "clusters.prod.user")["value"], "ops");
    assert_eq!(setting(&run, "refresh")["source"]["kind"], "default");
    // A flag beats all of them.
    let run = berth.run(&["--region", "eu-west-1", "--output", "json", "config"]);
    assert_eq!(setting(&run, "region")["value"], "eu-west-1");
    assert_eq!(
        setting(&run, "region")["source"],
        serde_json::json!({ "kind": "flag", "flag": "--region" })
    );
    assert_eq!(
        setting(&run, "output")["source"],
        serde_json::json!({ "kind": "flag", "flag": "--output" })
    );
    // The table says the same in words.
    let table = berth.run(&["config"]);
    table.expect_code(0);
    let line = |key: &str| {
        table
            .stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(key))
            .unwrap_or_else(|| panic!("no {key} line: {table:#?}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(line("via"), ["via", "private", "env", "BERTH_VIA"]);
    assert_eq!(line("cluster"), ["cluster", "prod", "file"]);
    assert_eq!(line("cache_ttl"), ["cache_ttl", "5m", "file"]);
    assert_eq!(line("stats"), ["stats", "false", "default"]);
    assert_eq!(
        line("config_file"),
        [
            "config_file",
            &path.display().to_string(),
            "env",
            "BERTH_CONFIG"
        ]
    );
}

#[test]
fn berth_via_in_the_environment_picks_the_route_and_the_flag_beats_it() {
    let sb = sandbox();
    let mut berth = Berth::new(sb);
    write_config(&mut berth, "via = \"public\"\n");
    let ip = sb.host("prod-ubuntu").private_ip.clone().expect("ip");
    // The file alone asks for a public address prod-ubuntu does not have.
    berth
        .run(&["ssh", "prod/prod-ubuntu", "--dry-run"])
        .expect_code(4)
        .stderr_has("no public address");
    berth.env("BERTH_VIA", Some("private"));
    let run = berth.run(&["ssh", "prod/prod-ubuntu", "--", "echo $SSH_CONNECTION"]);
    run.expect_code(0);
    assert_eq!(server_address(&run.stdout), ip, "{run:#?}");
    // An explicit --via auto beats the environment too: a host with a
    // public address is reached on it.
    berth
        .run(&[
            "-v",
            "ssh",
            "edge/edge-al2023",
            "--via",
            "auto",
            "--dry-run",
        ])
        .expect_code(0)
        .stderr_has("route public: taken");
    berth
        .run(&["ssh", "prod/prod-ubuntu", "--via", "public", "--dry-run"])
        .expect_code(4)
        .stderr_has("no public address");
    berth.env("BERTH_VIA", Some("sideways"));
    berth
        .run(&["ssh", "prod/prod-ubuntu", "--dry-run"])
        .expect_code(2)
        .stderr_has("BERTH_VIA=sideways: expected one of auto, public, private");
}

#[test]
fn a_bad_config_file_is_named_with_its_line_and_key() {
    let sb = sandbox();
    let mut berth = Berth::new(sb);
    let path = write_config(
        &mut berth,
        "region = \"us-east-1\"\n\n[clusters.prod]\nuser = \"ops\"\nvia = \"teleport\"\n",
    );
    berth.run(&["ls"]).expect_code(2).stderr_has(&format!(
        "config file {} is not valid: line 5, key `clusters.prod.via`: `teleport` is not a route: expected one of auto, public",
        path.display()
    ));
    std::fs::write(&path, "cache_ttl = \"a while\"\n").expect("write");
    berth
        .run(&["config"])
        .expect_code(2)
        .stderr_has("line 1, key `cache_ttl`");
}

#[test]
fn the_default_cluster_is_the_target_when_none_is_given() {
    let sb = sandbox();
    let mut berth = Berth::new(sb);
    berth
        .run(&["ssh", "--first", "--dry-run"])
        .expect_code(2)
        .stderr_has("the target is empty, and there is no default cluster")
        .stderr_has("BERTH_CLUSTER");
    berth.env("BERTH_CLUSTER", Some("prod"));
    let run = berth.run(&["ssh", "--via", "private", "--first", "--dry-run"]);
    run.expect_code(0);
    let prod_ips: Vec<String> = sb
        .hosts
        .values()
        .filter(|h| h.cluster.as_deref() == Some("prod"))
        .filter_map(|h| h.private_ip.clone())
        .collect();
    assert!(
        prod_ips
            .iter()
            .any(|ip| run.stdout.contains(&format!("@{ip}"))),
        "{run:#?}"
    );
    // Without --first and a terminal: the candidates of cluster prod.
    berth
        .run(&["ssh", "--via", "private", "--dry-run"])
        .expect_code(3)
        .stderr_has("cluster prod");
}

#[test]
fn the_login_user_follows_the_ami_name_pattern() {
    let sb = sandbox();
    let mut berth = Berth::new(sb);
    write_config(
        &mut berth,
        "[[amis]]\nname = \"ubuntu/images/*-noble-*\"\nuser = \"core\"\n\n[[amis]]\nname = \"ubuntu/*\"\nuser = \"ec2-user\"\n",
    );
    let run = berth.run(&[
        "ssh",
        "prod/prod-ubuntu",
        "--via",
        "private",
        "--",
        "id -un",
    ]);
    run.expect_code(0);
    assert_eq!(run.stdout.trim(), "core", "{run:#?}");
    let ls = berth.run(&["ls", "prod", "--output", "json"]);
    let rows = ls.expect_code(0).json();
    let ubuntu = rows
        .as_array()
        .expect("array")
        .iter()
        .find(|r| r["name"] == "prod-ubuntu")
        .expect("listed")
        .clone();
    assert_eq!(ubuntu["user"], "core");
    assert_eq!(ubuntu["user_from"], "config");
}

/// The host cache files under berth's cache directory.
fn host_cache_files(berth: &Berth) -> Vec<std::path::PathBuf> {
    let dir = berth.home().join(".cache/berth");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("hosts-"))
        })
        .collect();
    files.sort();
    files
}

/// `berth --stats ARGS…`: the run and its number of AWS calls.
fn with_stats(berth: &Berth, args: &[&str]) -> (Run, u64) {
    let mut words = vec!["--stats"];
    words.extend_from_slice(args);
    let run = berth.run(&words);
    // The stats line comes before an error's message.
    let calls = run
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("stats: calls="))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no stats line: {run:#?}"));
    (run, calls)
}

#[test]
fn a_warm_ssh_makes_no_aws_call_and_lands_on_the_right_host() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let host = sb.host("prod-flatcar");
    let ip = host.private_ip.as_deref().expect("ip");
    for target in [host.instance_id.clone(), "prod/prod-flatcar".to_owned()] {
        let args = [
            "ssh",
            &target,
            "--via",
            "private",
            "--",
            "echo $SSH_CONNECTION",
        ];
        let (cold, cold_calls) = with_stats(&berth, &args);
        cold.expect_code(0);
        assert!(cold_calls >= 2, "{cold:#?}");
        let (warm, warm_calls) = with_stats(&berth, &args);
        warm.expect_code(0);
        assert_eq!(warm_calls, 0, "{target}: {warm:#?}");
        assert_eq!(server_address(&warm.stdout), ip, "{target}: {warm:#?}");
        // --refresh asks AWS again.
        let mut refreshed = vec!["--refresh"];
        refreshed.extend_from_slice(&args);
        let (run, calls) = with_stats(&berth, &refreshed);
        run.expect_code(0);
        assert!(calls >= 1, "{run:#?}");
    }
    // A TTL of zero asks every time.
    let (run, calls) = with_stats(
        &berth,
        &[
            "--cache-ttl",
            "0",
            "ssh",
            "prod/prod-flatcar",
            "--via",
            "private",
            "--dry-run",
        ],
    );
    run.expect_code(0);
    assert!(calls >= 1, "{run:#?}");
}

#[test]
fn a_cluster_listing_warms_the_cache_for_its_hosts() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    berth.run(&["ls", "fleet"]).expect_code(0);
    let host = sb.host("fleet-17");
    // The first contact asks only for the host key to pin (the console
    // output); where the host is, the listing said.
    let (first, calls) = with_stats(
        &berth,
        &["ssh", "fleet/fleet-17", "--via", "private", "--", "true"],
    );
    first
        .expect_code(0)
        .stderr_has("stats: call ec2:GetConsoleOutput x1");
    assert_eq!(calls, 1, "{first:#?}");
    let ip = host.private_ip.as_deref().expect("ip");
    let by_id = format!("fleet/{}", host.instance_id);
    for target in ["fleet/fleet-17", &by_id, &format!("fleet/{ip}")] {
        let (run, calls) = with_stats(
            &berth,
            &[
                "ssh",
                target,
                "--via",
                "private",
                "--",
                "echo $SSH_CONNECTION",
            ],
        );
        run.expect_code(0);
        assert_eq!(calls, 0, "{target}: {run:#?}");
        assert_eq!(server_address(&run.stdout), ip, "{target}: {run:#?}");
    }
    // A Name the listing does not hold may be a new host: AWS is asked.
    let (run, calls) = with_stats(&berth, &["ssh", "fleet/fleet-99", "--via", "private"]);
    run.expect_code(3);
    assert!(calls >= 1, "{run:#?}");
}

#[test]
fn a_corrupt_cache_file_is_survived_and_rewritten() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let host = sb.host("prod-al2023");
    let ip = host.private_ip.as_deref().expect("ip");
    let args = [
        "ssh",
        "prod/prod-al2023",
        "--via",
        "private",
        "--",
        "echo $SSH_CONNECTION",
    ];
    berth.run(&args).expect_code(0);
    let files = host_cache_files(&berth);
    assert_eq!(files.len(), 1, "{files:?}");
    for garbage in [
        &b"{\"version\":1,\"entries\":{\"cluster prod\":"[..],
        b"\x00\xff not json",
        b"",
    ] {
        std::fs::write(&files[0], garbage).expect("corrupt");
        let (run, calls) = with_stats(&berth, &args);
        run.expect_code(0);
        assert_eq!(server_address(&run.stdout), ip, "{run:#?}");
        assert!(calls >= 1, "the corrupt file answered: {run:#?}");
        let text = std::fs::read(&files[0]).expect("read");
        let json: serde_json::Value = serde_json::from_slice(&text)
            .unwrap_or_else(|e| panic!("not rewritten ({e}): {}", String::from_utf8_lossy(&text)));
        assert!(json["entries"].as_object().is_some_and(|e| !e.is_empty()));
        let (warm, calls) = with_stats(&berth, &args);
        warm.expect_code(0);
        assert_eq!(calls, 0, "{warm:#?}");
    }
}

#[test]
fn a_failed_connection_drops_the_cached_facts_it_used() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    // fleet's unreachable host: no sshd answers there.
    let target = format!("fleet/{}", sb.fleet.unreachable);
    let dry = ["ssh", &target, "--via", "private", "--dry-run"];
    berth.run(&dry).expect_code(0);
    let (warm, calls) = with_stats(&berth, &dry);
    warm.expect_code(0);
    assert_eq!(calls, 0, "{warm:#?}");
    berth
        .run(&["ssh", &target, "--via", "private", "--", "true"])
        .expect_code(255);
    let (after, calls) = with_stats(&berth, &dry);
    after.expect_code(0);
    assert!(
        calls >= 1,
        "the facts of the failed connection were reused: {after:#?}"
    );
}

#[test]
fn concurrent_runs_leave_a_whole_cache() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let names: Vec<String> = (0..8).map(|i| format!("fleet/fleet-{i:02}")).collect();
    let children: Vec<_> = names
        .iter()
        .map(|target| {
            berth
                .command(&["ssh", target, "--via", "private", "--dry-run"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn berth")
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().expect("wait");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let files = host_cache_files(&berth);
    assert_eq!(files.len(), 1, "{files:?}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&files[0]).expect("read")).expect("whole JSON");
    assert!(
        json["entries"].as_object().is_some_and(|e| !e.is_empty()),
        "{json:#}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(berth.home().join(".cache/berth"))
        .expect("dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

/// The port the sandbox's sshd listens on (22 unless something held it).
fn sshd_port() -> String {
    let sb = sandbox();
    let config = sb
        .ssh
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("ssh_config"))
        .expect("the sandbox's ssh_config");
    std::fs::read_to_string(&config)
        .expect("read the sandbox's ssh_config")
        .lines()
        .find_map(|l| l.trim().strip_prefix("Port "))
        .unwrap_or("22")
        .trim()
        .to_owned()
}

/// The real OpenSSH `program` (ssh, scp, sftp) with `-F config`: no user
/// and no identity given, only what an unattended test needs (no prompts,
/// its own known_hosts, none of this machine's keys).
fn openssh(berth: &Berth, program: &str, config: &Path, args: &[&str]) -> Run {
    let known_hosts = berth.home().join("known_hosts");
    let mut command = std::process::Command::new(program);
    command
        .arg("-F")
        .arg(config)
        .args(["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"])
        .args(["-o", "StrictHostKeyChecking=accept-new"])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
        .args(["-o", &format!("Port={}", sshd_port())])
        .args(args)
        .env_clear()
        .envs(berth.envs())
        .stdin(std::process::Stdio::null());
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn plain_ssh_and_scp_reach_hosts_by_instance_id_and_berth_name() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let generated = berth.run(&["ssh-config", "--hosts", "prod", "--via", "private"]);
    generated
        .expect_code(0)
        .stdout_has("Host prod.prod-ubuntu.berth")
        .stdout_has("HostKeyAlias")
        .stdout_has("prod-windows")
        .stdout_has("Host i-???????? i-????????????????? *.berth");
    let config = berth.home().join("generated_ssh_config");
    std::fs::write(&config, &generated.stdout).expect("write");

    for (name, by) in [
        ("prod-ubuntu", sb.host("prod-ubuntu").instance_id.clone()),
        ("prod-flatcar", "prod.prod-flatcar.berth".to_owned()),
        (
            "prod-al2023",
            format!("prod.{}.berth", sb.host("prod-al2023").instance_id),
        ),
    ] {
        let host = sb.host(name);
        let run = openssh(
            &berth,
            "ssh",
            &config,
            &[&by, "echo $SSH_CONNECTION; id -un"],
        );
        run.expect_code(0);
        assert_eq!(
            server_address(&run.stdout),
            host.private_ip.as_deref().expect("ip"),
            "{by}: {run:#?}"
        );
        assert_eq!(
            run.stdout.lines().nth(1),
            host.user.as_deref(),
            "{by}: {run:#?}"
        );
    }

    // scp both ways, by name.
    let local = berth.home().join("payload.txt");
    let content = format!("berth scp {}\n", std::process::id());
    std::fs::write(&local, &content).expect("write payload");
    let remote_path = format!("/tmp/berth-scp-{}.txt", std::process::id());
    let up = openssh(
        &berth,
        "scp",
        &config,
        &[
            &local.display().to_string(),
            &format!("prod.prod-ubuntu.berth:{remote_path}"),
        ],
    );
    up.expect_code(0);
    let back = berth.home().join("back.txt");
    let down = openssh(
        &berth,
        "scp",
        &config,
        &[
            &format!("{}:{remote_path}", sb.host("prod-ubuntu").instance_id),
            &back.display().to_string(),
        ],
    );
    down.expect_code(0);
    let _ = std::fs::remove_file(&remote_path);
    assert_eq!(std::fs::read_to_string(&back).expect("read back"), content);
}

#[test]
fn sftp_and_rsync_go_through_the_same_names() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let generated = berth.run(&["ssh-config", "--hosts", "prod", "--via", "private"]);
    let config = berth.home().join("generated_ssh_config");
    std::fs::write(&config, &generated.expect_code(0).stdout).expect("write");

    let dir = berth.home().join("site");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("index.html"), "hello\n").expect("write");
    let remote = format!("/tmp/berth-rsync-{}/", std::process::id());
    let port = sshd_port();
    let known_hosts = berth.home().join("known_hosts");
    let rsh = format!(
        "ssh -F {} -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile={} -o Port={port}",
        config.display(),
        known_hosts.display()
    );
    let output = std::process::Command::new("rsync")
        .args(["-a", "-e", &rsh])
        .arg(format!("{}/", dir.display()))
        .arg(format!("prod.prod-al2023.berth:{remote}"))
        .env_clear()
        .envs(berth.envs())
        .output()
        .expect("run rsync (scripts/setup installs it)");
    assert!(
        output.status.success(),
        "rsync: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let copied = std::fs::read_to_string(Path::new(&remote).join("index.html"));
    let _ = std::fs::remove_dir_all(&remote);
    assert_eq!(copied.expect("rsync copied the file"), "hello\n");

    let batch = berth.home().join("sftp-batch");
    std::fs::write(&batch, "pwd\n").expect("write batch");
    let run = openssh(
        &berth,
        "sftp",
        &config,
        &[
            "-b",
            &batch.display().to_string(),
            "prod.prod-flatcar.berth",
        ],
    );
    run.expect_code(0)
        .stdout_has("Remote working directory: /home/core");
}

#[test]
fn the_catch_all_resolves_berth_names_it_has_no_snapshot_of() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let generated = berth.run(&["ssh-config", "--via", "private"]);
    let config = berth.home().join("catch_all");
    std::fs::write(&config, &generated.expect_code(0).stdout).expect("write");
    assert!(!generated.stdout.contains("User "), "{generated:#?}");
    // User and key are ssh's own here: given as ssh takes them.
    let key = berth.home().join(format!(".ssh/{}.pem", sb.key_name));
    let host = sb.host("fleet-23");
    for name in ["fleet.fleet-23.berth", &host.instance_id] {
        let run = openssh(
            &berth,
            "ssh",
            &config,
            &[
                "-l",
                "ec2-user",
                "-i",
                &key.display().to_string(),
                name,
                "echo $SSH_CONNECTION",
            ],
        );
        run.expect_code(0);
        assert_eq!(
            server_address(&run.stdout),
            host.private_ip.as_deref().expect("ip"),
            "{name}: {run:#?}"
        );
    }
}

#[test]
fn install_adds_one_block_first_keeps_the_users_config_and_uninstalls() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let ssh_config = berth.home().join(".ssh/config");
    let own = "# mine\nServerAliveInterval 30\n\nHost bastion.example\n    User me\n";
    std::fs::write(&ssh_config, own).expect("write");
    let args = [
        "ssh-config",
        "--install",
        "--hosts",
        "prod",
        "--via",
        "private",
    ];
    berth
        .run(&args)
        .expect_code(0)
        .stderr_has("added berth's block at the top");
    let installed = std::fs::read_to_string(&ssh_config).expect("read");
    assert!(installed.starts_with("# >>> berth"), "{installed}");
    assert!(installed.ends_with(own), "{installed}");
    assert_eq!(installed.matches("# >>> berth").count(), 1);
    let snapshot = berth
        .home()
        .join(".local/state/berth/ssh_config.d/prod.conf");
    let snapshot_text = std::fs::read_to_string(&snapshot).expect("snapshot");
    assert!(
        snapshot_text.contains("Host prod.prod-ubuntu.berth"),
        "{snapshot_text}"
    );
    assert!(
        installed.contains(&format!(
            "Include {}",
            snapshot.with_file_name("*.conf").display()
        )),
        "{installed}"
    );
    // Again: nothing changes.
    berth.run(&args).expect_code(0).stderr_has("up to date");
    assert_eq!(
        std::fs::read_to_string(&ssh_config).expect("read"),
        installed
    );

    // ssh reads it (through the Include) with no user or key given.
    let host = sb.host("prod-ubuntu");
    let run = openssh(
        &berth,
        "ssh",
        &ssh_config,
        &["prod.prod-ubuntu.berth", "id -un"],
    );
    run.expect_code(0);
    assert_eq!(run.stdout.trim(), "ubuntu", "{run:#?}");
    let run = openssh(&berth, "ssh", &ssh_config, &[&host.instance_id, "id -un"]);
    assert_eq!(run.expect_code(0).stdout.trim(), "ubuntu", "{run:#?}");

    berth
        .run(&["ssh-config", "--uninstall"])
        .expect_code(0)
        .stderr_has("removed berth's block");
    assert_eq!(std::fs::read_to_string(&ssh_config).expect("read"), own);
    assert!(!snapshot.exists());
}

/// Runs `script` in bash with berth's directory first in PATH.
fn bash(berth: &Berth, script: &str) -> Run {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_berth"))
        .parent()
        .expect("bin dir")
        .display()
        .to_string();
    let path = berth
        .envs()
        .find(|(k, _)| k.as_str() == "PATH")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let output = std::process::Command::new("bash")
        .args(["--norc", "--noprofile", "-c", script])
        .env_clear()
        .envs(berth.envs())
        .env("PATH", format!("{bin_dir}:{path}"))
        .output()
        .expect("run bash");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn bash_completion_loads_and_completes_clusters_and_hosts_from_the_cache() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let loaded = bash(
        &berth,
        "set -e; source <(berth completions bash); complete -p berth",
    );
    loaded
        .expect_code(0)
        .stdout_has("-F _clap_complete_berth berth");
    assert_eq!(loaded.stderr, "", "{loaded:#?}");
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        berth
            .run(&["completions", shell])
            .expect_code(0)
            .stdout_has("BERTH_COMPLETE");
    }
    // What bash does on a Tab after `berth ssh pro`: the function asks berth.
    let complete = |words: &str| {
        let script = format!(
            "source <(berth completions bash)\n\
             COMP_WORDS=({words}); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )); COMP_TYPE=9\n\
             _clap_complete_berth berth \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
             printf '%s\\n' \"${{COMPREPLY[@]}}\""
        );
        let run = bash(&berth, &script);
        run.expect_code(0);
        run.stdout
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    // Flags and subcommands come from clap; nothing cached yet.
    assert!(complete("berth ssh-con").contains(&"ssh-config".to_owned()));
    assert!(complete("berth ssh --fir").contains(&"--first".to_owned()));
    assert!(complete("berth ssh pro").is_empty());
    // `berth ls` and `berth ls prod` fill the cache; a Tab makes no AWS call.
    berth.run(&["ls"]).expect_code(0);
    berth.run(&["ls", "prod"]).expect_code(0);
    assert_eq!(
        complete("berth ssh pro"),
        [
            "prod",
            "prod/prod-al2023",
            "prod/prod-draining",
            "prod/prod-flatcar",
            "prod/prod-nokey",
            "prod/prod-ubuntu",
            "prod/prod-windows"
        ]
    );
    assert_eq!(complete("berth ssh prod/prod-u"), ["prod/prod-ubuntu"]);
    assert!(complete("berth ls fl").contains(&"fleet".to_owned()));
    assert!(complete("berth ssh-config --hosts ed").contains(&"edge".to_owned()));
}

/// Runs berth on a pseudo-terminal (util-linux `script`) of 40x160,
/// typing each of `keys` after its pause; then prints berth's exit status
/// and the terminal's modes (`stty -a`), to show what berth left behind.
fn on_terminal(berth: &Berth, args: &[&str], keys: &[(&str, u64)]) -> Run {
    use std::io::Write;
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let line = std::iter::once(env!("CARGO_BIN_EXE_berth"))
        .chain(args.iter().copied())
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ");
    let script = format!("stty rows 40 cols 160; {line}; echo \"exit=$?\"; stty -a");
    let mut child = std::process::Command::new("script")
        .args(["-qec", &script, "/dev/null"])
        .env_clear()
        .envs(berth.envs())
        .env("TERM", "xterm")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run script(1) from util-linux");
    let mut stdin = child.stdin.take().expect("stdin");
    for (typed, pause_ms) in keys {
        std::thread::sleep(std::time::Duration::from_millis(*pause_ms));
        stdin.write_all(typed.as_bytes()).expect("type");
        stdin.flush().expect("flush");
    }
    let output = child.wait_with_output().expect("wait");
    drop(stdin);
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// berth's exit status on the terminal, as `on_terminal` printed it.
fn exit_status(run: &Run) -> i32 {
    run.stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("exit="))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no exit status: {run:#?}"))
}

/// The terminal is back in canonical mode with echo after berth.
#[track_caller]
fn terminal_restored(run: &Run) {
    let words: Vec<&str> = run.stdout.split_whitespace().collect();
    for (on, off) in [("icanon", "-icanon"), ("echo", "-echo"), ("isig", "-isig")] {
        assert!(
            words.contains(&on) && !words.contains(&off),
            "{on} not restored: {run:#?}"
        );
    }
}

#[test]
fn the_picker_narrows_fifty_hosts_by_typing_and_picks_with_the_arrows() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let ip = sb.host("fleet-42").private_ip.clone().expect("ip");
    let run = on_terminal(
        &berth,
        &[
            "ssh",
            "fleet",
            "--via",
            "private",
            "--",
            "echo SSH_CONNECTION=$SSH_CONNECTION",
        ],
        &[
            ("'fleet-4", 2500),
            ("\x1b[B", 500),
            ("\x1b[B", 300),
            ("\r", 300),
        ],
    );
    assert_eq!(exit_status(&run), 0, "{run:#?}");
    // The count went from all fifty to the ten fleet-4x.
    run.stdout_has("50 hosts match")
        .stdout_has("50/50")
        .stdout_has("10/50");
    let reached = run
        .stdout
        .lines()
        .find_map(|l| l.split_once("SSH_CONNECTION=").map(|(_, rest)| rest.trim()))
        .unwrap_or_else(|| panic!("ssh did not run: {run:#?}"));
    assert_eq!(server_address(reached), ip, "{run:#?}");
    terminal_restored(&run);
}

#[test]
fn escape_cancels_the_picker_with_130_and_restores_the_terminal() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    for keys in [vec![("fle", 2500), ("\x1b", 300)], vec![("\x03", 2500)]] {
        let run = on_terminal(
            &berth,
            &[
                "ssh",
                "fleet",
                "--via",
                "private",
                "--",
                "echo SSH_CONNECTION=$SSH_CONNECTION",
            ],
            &keys,
        );
        assert_eq!(exit_status(&run), 130, "{keys:?}: {run:#?}");
        run.stdout_has("cancelled");
        assert!(
            !run.stdout.contains("SSH_CONNECTION=127"),
            "ssh ran: {run:#?}"
        );
        terminal_restored(&run);
    }
}

#[test]
fn escape_cancels_the_container_picker_with_130_too() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let host = format!("{}/{}", sb.fleet.cluster, sb.fleet.pair.host);
    for keys in [vec![("bat", 2500), ("\x1b", 300)], vec![("\x03", 2500)]] {
        let run = on_terminal(
            &berth,
            &[
                "exec",
                &host,
                "--via",
                "private",
                "--",
                "printenv",
                "CONTAINER_NAME",
            ],
            &keys,
        );
        assert_eq!(exit_status(&run), 130, "{keys:?}: {run:#?}");
        run.stdout_has("2 containers on").stdout_has("cancelled");
        terminal_restored(&run);
    }
    // Nothing ran in any container there (no other test execs on it).
    let ip = sb.host(&sb.fleet.pair.host).private_ip.clone().expect("ip");
    let log = std::fs::read_to_string(&sb.docker_log).expect("docker log");
    assert!(
        !log.lines().any(|l| l.starts_with(&format!("{ip} "))),
        "{log}"
    );
}

#[test]
fn berth_picker_first_or_a_program_picks_without_a_terminal() {
    let sb = sandbox();
    let mut berth = Berth::new(sb);
    let args = [
        "ssh",
        "fleet",
        "--via",
        "private",
        "--",
        "echo $SSH_CONNECTION",
    ];
    berth
        .run(&args)
        .expect_code(3)
        .stderr_has("matches 50 hosts");
    berth.env("BERTH_PICKER", Some("first"));
    let run = berth.run(&args);
    run.expect_code(0);
    let first = sb.host("fleet-00").private_ip.clone().expect("ip");
    assert_eq!(server_address(&run.stdout), first, "{run:#?}");
    berth.env("BERTH_PICKER", Some("grep --max-count=1 fleet-31"));
    let run = berth.run(&args);
    run.expect_code(0);
    let chosen = sb.host("fleet-31").private_ip.clone().expect("ip");
    assert_eq!(server_address(&run.stdout), chosen, "{run:#?}");
}

/// An AWS endpoint that answers every request after `delay` with
/// AccessDenied (which the SDK does not retry); serves until dropped.
fn slow_endpoint(delay: std::time::Duration) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            std::thread::spawn(move || {
                let mut request = [0u8; 8192];
                let _ = conn.read(&mut request);
                std::thread::sleep(delay);
                let body = r#"{"__type":"AccessDeniedException","message":"not today"}"#;
                let _ = write!(
                    conn,
                    "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.1\r\n\
                     x-amzn-ErrorType: AccessDeniedException\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    url
}

#[test]
fn a_slow_wait_shows_a_spinner_on_a_terminal_only() {
    let sb = sandbox();
    let mut berth = Berth::new(sb);
    berth.env(
        "AWS_ENDPOINT_URL",
        Some(&slow_endpoint(std::time::Duration::from_millis(1500))),
    );
    let run = on_terminal(&berth, &["ls", "prod"], &[]);
    assert_eq!(exit_status(&run), 5, "{run:#?}");
    run.stdout_has("resolve…").stdout_has("AccessDenied");
    // Not a terminal: not a trace of it.
    let run = berth.run(&["ls", "prod"]);
    run.expect_code(5);
    assert!(!run.stderr.contains("resolve…"), "{run:#?}");
    // A quick answer shows none either (a warm cache, here).
    let warm = Berth::new(sb);
    warm.run(&["ssh", "prod/prod-ubuntu", "--via", "private", "--dry-run"])
        .expect_code(0);
    let run = on_terminal(
        &warm,
        &["ssh", "prod/prod-ubuntu", "--via", "private", "--dry-run"],
        &[],
    );
    assert_eq!(exit_status(&run), 0, "{run:#?}");
    assert!(!run.stdout.contains("resolve…"), "{run:#?}");
}

#[test]
fn color_follows_the_flag_the_environment_and_no_color() {
    let sb = sandbox();
    let mut berth = Berth::new(sb);
    let args = ["ssh", "nosuchcluster/web-1", "--via", "private"];
    let painted = "\u{1b}[1;31mberth: error:\u{1b}[0m";
    // Not a terminal: plain, unless asked for.
    let run = berth.run(&args);
    run.expect_code(3).stderr_has("berth: error:");
    assert!(!run.stderr.contains('\u{1b}'), "{run:#?}");
    berth
        .run(&["--color", "always", args[0], args[1], args[2], args[3]])
        .expect_code(3)
        .stderr_has(painted)
        .stderr_has("\u{1b}[1;36mhint:\u{1b}[0m");
    berth.env("BERTH_COLOR", Some("always"));
    berth.run(&args).expect_code(3).stderr_has(painted);
    // A flag beats the variable.
    let run = berth.run(&["--color", "never", args[0], args[1], args[2], args[3]]);
    assert!(!run.stderr.contains('\u{1b}'), "{run:#?}");
    // On a terminal: colour, unless NO_COLOR says otherwise.
    berth.env("BERTH_COLOR", None);
    let run = on_terminal(&berth, &args, &[]);
    assert_eq!(exit_status(&run), 3, "{run:#?}");
    run.stdout_has(painted);
    berth.env("NO_COLOR", Some("1"));
    let run = on_terminal(&berth, &args, &[]);
    assert_eq!(exit_status(&run), 3, "{run:#?}");
    assert!(!run.stdout.contains(painted), "{run:#?}");
    // ... which the config file, and a flag, can overrule.
    write_config(&mut berth, "color = \"always\"\n");
    berth.run(&args).expect_code(3).stderr_has(painted);
}

#[test]
fn tables_paint_state_words_only_when_colour_is_on() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    // ACTIVE and connected in green, DRAINING in yellow.
    berth
        .run(&["ls", "prod", "--color", "always"])
        .expect_code(0)
        .stdout_has("\u{1b}[38;5;10mACTIVE")
        .stdout_has("\u{1b}[38;5;11mDRAINING")
        .stdout_has("\u{1b}[38;5;10mconnected");
    // Not a terminal and not asked for: no codes at all.
    let plain = berth.run(&["ls", "prod"]);
    plain.expect_code(0).stdout_has("DRAINING");
    assert!(!plain.stdout.contains('\u{1b}'), "{plain:#?}");
    // Doctor's checklist: pass in green, FAIL in red.
    berth
        .run(&[
            "doctor",
            "broken/broken-othercidr",
            "--via",
            "private",
            "--from",
            "127.0.0.1/32",
            "--color",
            "always",
        ])
        .expect_code(4)
        .stdout_has("\u{1b}[32mpass\u{1b}[0m")
        .stdout_has("\u{1b}[1;31mFAIL\u{1b}[0m  security-group");
}
