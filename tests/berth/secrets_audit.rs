//! The secrets audit: while berth runs, every process it starts (ssh, the
//! bastion's ProxyCommand and its ssh, the RDP client, the tunnel) is read
//! from /proc, its command line and environment searched for the Windows
//! password and for private key material; one-time keys and the journal of
//! temporary rules are checked to be 0600 in 0700 directories while they
//! exist, and gone after; `-vv` output never shows a secret or the AWS
//! credentials.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Berth, Sandbox, sandbox, set_mode};

/// Credentials that look real, to be sure none is printed.
const ACCESS_KEY_ID: &str = "AKIAIOSFODNN7BERTHAUDIT";
const SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYBERTHAUDITKEY";
const SESSION_TOKEN: &str = "FwoGZXIvYXdzEBYaDBERTHAUDITSESSIONTOKEN";

/// What one process showed in /proc.
#[derive(Debug, Clone)]
struct Process {
    comm: String,
    cmdline: Vec<u8>,
    environ: Vec<u8>,
}

/// A file berth made for a secret, as seen while it existed.
#[derive(Debug, Clone)]
struct SecretFile {
    path: PathBuf,
    mode: u32,
    dir_mode: u32,
    content: Vec<u8>,
}

fn mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o777)
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    after.split_whitespace().nth(1)?.parse().ok()
}

/// Every process below `root`, now.
fn descendants(root: u32) -> Vec<u32> {
    let mut parents = BTreeMap::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        if let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
            && let Some(ppid) = parent_of(pid)
        {
            parents.insert(pid, ppid);
        }
    }
    let mut found = Vec::new();
    let mut todo = vec![root];
    while let Some(pid) = todo.pop() {
        for (&child, &parent) in &parents {
            if parent == pid {
                found.push(child);
                todo.push(child);
            }
        }
    }
    found
}

/// Watches `child` (berth) until it exits: every process below it, and
/// every file named by an `-i` on an ssh command line under berth's state
/// or runtime directory (one-time keys), and `journal` while it exists.
fn watch(mut child: Child, journal: Option<&Path>) -> (Vec<Process>, Vec<SecretFile>, i32) {
    let root = child.id();
    // By pid and command line: a child is seen as berth's fork first, then
    // again once it has exec'd its program.
    let mut processes: BTreeMap<(u32, Vec<u8>), Process> = BTreeMap::new();
    let mut files: BTreeMap<PathBuf, SecretFile> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        for pid in std::iter::once(root).chain(descendants(root)) {
            let (Ok(cmdline), Ok(environ), Ok(comm)) = (
                std::fs::read(format!("/proc/{pid}/cmdline")),
                std::fs::read(format!("/proc/{pid}/environ")),
                std::fs::read_to_string(format!("/proc/{pid}/comm")),
            ) else {
                continue;
            };
            let words: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            for pair in words.windows(2) {
                if pair[0] == b"-i" {
                    let path = PathBuf::from(String::from_utf8_lossy(pair[1]).into_owned());
                    if path.to_string_lossy().contains("ephemeral-")
                        && let (Some(m), Some(d), Ok(content)) = (
                            mode(&path),
                            path.parent().and_then(mode),
                            std::fs::read(&path),
                        )
                    {
                        files.entry(path.clone()).or_insert(SecretFile {
                            path,
                            mode: m,
                            dir_mode: d,
                            content,
                        });
                    }
                }
            }
            processes.entry((pid, cmdline.clone())).or_insert(Process {
                comm: comm.trim().to_owned(),
                cmdline,
                environ,
            });
        }
        if let Some(journal) = journal
            && let (Some(m), Some(d), Ok(content)) = (
                mode(journal),
                journal.parent().and_then(mode),
                std::fs::read(journal),
            )
            && !content.is_empty()
        {
            files.entry(journal.to_owned()).or_insert(SecretFile {
                path: journal.to_owned(),
                mode: m,
                dir_mode: d,
                content,
            });
        }
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code().unwrap_or(-1);
        }
        assert!(Instant::now() < deadline, "berth did not finish");
        std::thread::sleep(Duration::from_millis(10));
    };
    (
        processes.into_values().collect(),
        files.into_values().collect(),
        status,
    )
}

/// The base64 lines of a PEM or OpenSSH private key: its material.
fn key_material(pem: &[u8]) -> Vec<Vec<u8>> {
    String::from_utf8_lossy(pem)
        .lines()
        .filter(|l| !l.starts_with("-----") && !l.contains(':') && l.len() >= 20)
        .map(|l| l.as_bytes().to_vec())
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// No process shows any of `secrets` (or the words of a private key) in
/// its command line or environment.
fn assert_clean(processes: &[Process], secrets: &[Vec<u8>]) {
    assert!(!processes.is_empty(), "no process seen");
    for p in processes {
        for (what, bytes) in [("cmdline", &p.cmdline), ("environ", &p.environ)] {
            assert!(
                !contains(bytes, b"PRIVATE KEY"),
                "private key in {}'s {what}",
                p.comm
            );
            for secret in secrets {
                assert!(
                    !contains(bytes, secret),
                    "a secret ({}…) in {}'s {what}: {:?}",
                    String::from_utf8_lossy(&secret[..secret.len().min(8)]),
                    p.comm,
                    String::from_utf8_lossy(bytes)
                );
            }
        }
    }
}

/// berth with credentials that look real and `-vv`.
fn audited_berth(sb: &Sandbox) -> Berth {
    let mut berth = Berth::new(sb);
    berth
        .env("AWS_ACCESS_KEY_ID", Some(ACCESS_KEY_ID))
        .env("AWS_SECRET_ACCESS_KEY", Some(SECRET_ACCESS_KEY))
        .env("AWS_SESSION_TOKEN", Some(SESSION_TOKEN));
    berth
}

fn spawn(berth: &Berth, args: &[&str]) -> Child {
    berth
        .command(args)
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(berth.home().join("stderr")).expect("stderr file"),
        ))
        .spawn()
        .expect("start berth")
}

/// berth's stderr shows no secret, and not the AWS credentials.
fn assert_quiet_logs(berth: &Berth, secrets: &[Vec<u8>]) -> String {
    let stderr = std::fs::read(berth.home().join("stderr")).expect("stderr");
    for credential in [
        ACCESS_KEY_ID,
        SECRET_ACCESS_KEY,
        SESSION_TOKEN,
        "PRIVATE KEY",
    ] {
        assert!(
            !contains(&stderr, credential.as_bytes()),
            "-vv printed {credential}"
        );
    }
    for secret in secrets {
        assert!(!contains(&stderr, secret), "-vv printed a secret");
    }
    String::from_utf8_lossy(&stderr).into_owned()
}

#[test]
fn ssh_with_a_key_pair_and_through_a_bastion_shows_no_key_material() {
    let sb = sandbox();
    let berth = audited_berth(sb);
    let secrets = key_material(&std::fs::read(&sb.key_path).expect("key"));
    let target = format!("prod/{}", sb.host("prod-ubuntu").instance_id);
    for route in [
        vec!["--via", "private"],
        vec!["--bastion", &sb.host("bastion").instance_id],
    ] {
        let mut args = vec!["-vv", "ssh", &target];
        args.extend(route.iter().copied());
        args.extend(["--", "sleep 1"]);
        let (processes, _, code) = watch(spawn(&berth, &args), None);
        assert_eq!(code, 0, "{route:?}");
        let names: Vec<&str> = processes.iter().map(|p| p.comm.as_str()).collect();
        assert!(names.contains(&"ssh"), "{names:?}");
        if route[0] == "--bastion" {
            // The ProxyCommand's shell and the bastion's own ssh.
            assert!(
                names.iter().filter(|n| **n == "ssh").count() >= 2,
                "{names:?}"
            );
        }
        assert_clean(&processes, &secrets);
        assert_quiet_logs(&berth, &secrets);
    }
}

#[test]
fn a_one_time_key_is_private_while_it_lives_and_gone_after() {
    let sb = sandbox();
    let berth = audited_berth(sb);
    let target = format!("prod/{}", sb.host("prod-nokey").instance_id);
    let (processes, files, code) = watch(
        spawn(
            &berth,
            &["-vv", "ssh", &target, "--via", "private", "--", "sleep 1"],
        ),
        None,
    );
    assert_eq!(code, 0);
    assert_eq!(files.len(), 1, "the one-time key was not seen: {files:?}");
    let key = &files[0];
    assert_eq!(key.mode, 0o600, "{}", key.path.display());
    assert_eq!(key.dir_mode, 0o700, "{}", key.path.display());
    assert!(!key.path.exists(), "{} outlived berth", key.path.display());
    assert!(
        !key.path.parent().expect("dir").exists(),
        "its directory outlived berth"
    );
    let secrets = key_material(&key.content);
    assert!(!secrets.is_empty(), "the key file held no key");
    assert_clean(&processes, &secrets);
    let stderr = assert_quiet_logs(&berth, &secrets);
    assert!(stderr.contains("one-time"), "{stderr}");
}

#[test]
fn the_journal_of_an_open_rule_is_private_and_emptied() {
    let sb = sandbox();
    let (id, group) =
        sb.launch_instance_in_own_group("ami-0a1b2c3d4e5f60001", "audit-open-journal");
    let mut berth = audited_berth(sb);
    let script = berth.home().join("slow-ssh");
    std::fs::write(&script, "#!/bin/sh\nsleep 1\n").expect("script");
    set_mode(&script, 0o755);
    berth.env("BERTH_SSH", Some(&script.display().to_string()));
    let journal = berth.home().join(".local/state/berth/open-rules.json");
    let key = sb.key_path.display().to_string();
    let (_, files, code) = watch(
        spawn(
            &berth,
            &[
                "-vv",
                "ssh",
                &id,
                "--via",
                "private",
                "-i",
                &key,
                "--open",
                "--from",
                "127.0.0.1/32",
            ],
        ),
        Some(&journal),
    );
    assert_eq!(code, 0);
    let seen = files
        .iter()
        .find(|f| f.path == journal)
        .expect("the journal was seen while the rule stood");
    assert!(String::from_utf8_lossy(&seen.content).contains(&group));
    assert_eq!(seen.mode, 0o600);
    assert_eq!(seen.dir_mode, 0o700);
    let after = std::fs::read_to_string(&journal).expect("journal");
    assert!(!after.contains(&group), "{after}");
    assert_quiet_logs(&berth, &[]);
}

#[test]
fn the_windows_password_reaches_the_client_on_stdin_only() {
    let sb = sandbox();
    let password = sb.windows_password.as_bytes().to_vec();
    let target = format!("prod/{}", sb.host("prod-windows").instance_id);
    for route in ["private", "bastion"] {
        let mut berth = audited_berth(sb);
        let got = berth.home().join("client-stdin");
        let client = berth.home().join("rdp-client");
        std::fs::write(
            &client,
            format!("#!/bin/sh\ncat > '{}'\nsleep 1\n", got.display()),
        )
        .expect("client");
        set_mode(&client, 0o755);
        berth.env("BERTH_RDP_CLIENT", Some(&client.display().to_string()));
        let (processes, _, code) = watch(
            spawn(&berth, &["-vv", "rdp", &target, "--via", route]),
            None,
        );
        assert_eq!(code, 0, "{route}");
        assert_eq!(
            std::fs::read(&got).expect("the client ran"),
            [password.as_slice(), b"\n"].concat(),
            "{route}: the client got the password on stdin"
        );
        if route == "bastion" {
            assert!(
                processes.iter().any(|p| p.comm == "ssh"),
                "{route}: no tunnel seen"
            );
        }
        let mut secrets = key_material(&std::fs::read(&sb.key_path).expect("key"));
        secrets.push(password.clone());
        assert_clean(&processes, &secrets);
        assert_quiet_logs(&berth, &secrets);
    }
}

/// The audit can fail: a process whose environment holds a line of key
/// material, or whose command line holds a PEM header, is caught.
#[test]
fn the_audit_catches_a_leak() {
    let key = std::fs::read(&sandbox().key_path).expect("key");
    let material = key_material(&key);
    let leak = |cmdline: &[u8], environ: &[u8]| {
        let process = Process {
            comm: "ssh".to_owned(),
            cmdline: cmdline.to_vec(),
            environ: environ.to_vec(),
        };
        std::panic::catch_unwind(|| assert_clean(&[process], &material)).is_err()
    };
    assert!(!leak(b"ssh\0-i\0/tmp/k\0", b"HOME=/root\0"));
    let mut environ = b"SECRET=".to_vec();
    environ.extend_from_slice(&material[3]);
    assert!(leak(b"ssh\0", &environ));
    assert!(leak(b"ssh\0-----BEGIN RSA PRIVATE KEY-----\0", b""));
}
