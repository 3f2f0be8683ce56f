//! Many berths at once against one cache and state directory: the pinned
//! host keys, the AMI cache and the journal of temporary rules stay whole,
//! and two `--open` sessions on one group each remove only their own rule.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use std::path::Path;

use crate::support::{Berth, Sandbox, sandbox, set_mode};

fn wait(mut child: Child, what: &str) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code().unwrap_or(-1);
        }
        assert!(Instant::now() < deadline, "{what} did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Makes berth's ssh a stand-in that says it started (`$HOLD.started`),
/// then holds the session until the file `$HOLD` is removed.
fn hold_sessions(berth: &mut Berth) {
    let script = berth.home().join("held-ssh");
    std::fs::write(
        &script,
        "#!/bin/sh\ntouch \"$HOLD.started\"\nwhile [ -e \"$HOLD\" ]; do sleep 0.05; done\n",
    )
    .expect("script");
    set_mode(&script, 0o755);
    berth.env("BERTH_SSH", Some(&script.display().to_string()));
}

/// Starts `berth ssh ID --open --from FROM`, held by the file `hold`, and
/// returns once its ssh runs (its rule is in place by then).
fn held_session(berth: &Berth, id: &str, key: &str, from: &str, hold: &Path) -> Child {
    std::fs::write(hold, "").expect("hold");
    let child = berth
        .command(&[
            "ssh", id, "--via", "private", "-i", key, "--open", "--from", from,
        ])
        .env("HOLD", hold)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start berth");
    let started = std::path::PathBuf::from(format!("{}.started", hold.display()));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !started.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never started",
            hold.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// How many of berth's temporary rules `group` holds for `source`.
fn berth_rules(sb: &Sandbox, group: &str, source: &str) -> usize {
    sb.ingress_rules(group)
        .into_iter()
        .filter(|r| {
            r.source == source
                && r.description
                    .as_deref()
                    .is_some_and(|d| d.starts_with("berth temporary access"))
        })
        .count()
}

#[test]
fn twenty_berths_at_once_leave_cache_and_state_consistent() {
    let sb = sandbox();
    let berth = Berth::new(sb);
    let hosts: Vec<String> = sb.fleet.hosts[..20]
        .iter()
        .map(|name| sb.host(name).instance_id.clone())
        .collect();
    let children: Vec<(String, Child)> = hosts
        .iter()
        .map(|id| {
            let child = berth
                .command(&["ssh", id, "--via", "private", "--", "true"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start berth");
            (id.clone(), child)
        })
        .collect();
    for (id, child) in children {
        assert_eq!(wait(child, &id), 0, "berth ssh {id}");
    }
    // One pin per instance, none lost or doubled, each a whole line.
    let pins = std::fs::read_to_string(berth.home().join(".local/state/berth/known_hosts"))
        .expect("known_hosts");
    let mut pinned: Vec<&str> = pins
        .lines()
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(words.len(), 4, "a torn line: {line:?}");
            assert_eq!(words[1], "ssh-ed25519", "{line:?}");
            words[0]
        })
        .collect();
    pinned.sort_unstable();
    let mut expected: Vec<&str> = hosts.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(pinned, expected);
    // The AMI cache is one JSON document.
    let cache_dir = berth.home().join(".cache/berth");
    for entry in std::fs::read_dir(&cache_dir).expect("cache dir").flatten() {
        let text = std::fs::read_to_string(entry.path()).expect("cache file");
        assert!(
            serde_json::from_str::<serde_json::Value>(&text).is_ok(),
            "{}: {text}",
            entry.path().display()
        );
        assert!(
            !entry.file_name().to_string_lossy().contains(".tmp"),
            "a temporary file was left: {}",
            entry.path().display()
        );
    }
    // And every pin works: a second round reads no console output.
    let again = berth.run(&[
        "--stats", "ssh", &hosts[7], "--via", "private", "--", "true",
    ]);
    again.expect_code(0);
    assert!(!again.stderr.contains("GetConsoleOutput"), "{again:#?}");
}

#[test]
fn two_open_sessions_on_one_group_each_remove_only_their_own_rule() {
    let sb = sandbox();
    let (id, group) =
        sb.launch_instance_in_own_group("ami-0a1b2c3d4e5f60001", "concurrency-two-sessions");
    let mut berth = Berth::new(sb);
    hold_sessions(&mut berth);
    let hold = berth.home().join("hold");
    let key = sb.key_path.display().to_string();
    let session = |from: &str, hold: &Path| held_session(&berth, &id, &key, from, hold);
    let berth_rule = |cidr: &str| berth_rules(sb, &group, cidr) > 0;
    let until = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !done() {
            assert!(Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let hold_a = hold.with_extension("a");
    let hold_b = hold.with_extension("b");
    let a = session("127.0.0.1/32", &hold_a);
    let b = session("127.0.0.2/32", &hold_b);
    until("both rules added", &|| {
        berth_rule("127.0.0.1/32") && berth_rule("127.0.0.2/32")
    });
    // A ends: its rule goes, B's stays.
    std::fs::remove_file(&hold_a).expect("release a");
    assert_eq!(wait(a, "session a"), 0);
    assert!(!berth_rule("127.0.0.1/32"), "a's rule stayed");
    assert!(berth_rule("127.0.0.2/32"), "a removed b's rule");
    std::fs::remove_file(&hold_b).expect("release b");
    assert_eq!(wait(b, "session b"), 0);
    assert!(!berth_rule("127.0.0.2/32"), "b's rule stayed");
    let journal = std::fs::read_to_string(berth.home().join(".local/state/berth/open-rules.json"))
        .expect("journal");
    assert!(!journal.contains(&group), "{journal}");
}

#[test]
fn two_open_sessions_from_one_address_share_the_rule_until_the_last_ends() {
    let sb = sandbox();
    let (id, group) =
        sb.launch_instance_in_own_group("ami-0a1b2c3d4e5f60001", "concurrency-one-address");
    let mut berth = Berth::new(sb);
    hold_sessions(&mut berth);
    let key = sb.key_path.display().to_string();
    let from = "127.0.0.3/32";
    let session = |hold: &Path| held_session(&berth, &id, &key, from, hold);
    let berth_rules = || berth_rules(sb, &group, from);
    let hold_a = berth.home().join("hold-a");
    let hold_b = berth.home().join("hold-b");
    let a = session(&hold_a);
    assert_eq!(berth_rules(), 1, "a's rule");
    // B finds A's rule (EC2 keeps one per source and port) and shares it.
    let b = session(&hold_b);
    assert_eq!(berth_rules(), 1, "still one rule");
    let journal_path = berth.home().join(".local/state/berth/open-rules.json");
    let journal = std::fs::read_to_string(&journal_path).expect("journal");
    assert_eq!(journal.matches(&group).count(), 2, "{journal}");
    // A ends first: the rule stays for B.
    std::fs::remove_file(&hold_a).expect("release a");
    assert_eq!(wait(a, "session a"), 0);
    assert_eq!(berth_rules(), 1, "a removed the rule b still uses");
    // B, the last one out, removes it.
    std::fs::remove_file(&hold_b).expect("release b");
    assert_eq!(wait(b, "session b"), 0);
    assert_eq!(berth_rules(), 0, "b left the rule behind");
    let journal = std::fs::read_to_string(&journal_path).expect("journal");
    assert!(!journal.contains(&group), "{journal}");
}
