//! berth in an operator's everyday tools: the layered settings and
//! `berth config`, the host cache, `berth ssh-config` with the real ssh
//! and scp, shell completions, the man page and the fuzzy picker.

use crate::server_address;
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
        "config file {}, line 5, key `clusters.prod.via`: unknown variant `teleport`",
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
        .stderr_has("no target given")
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
