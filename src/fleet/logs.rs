//! `berth logs`, as data: the collection script each host runs, its
//! command line, and the manifest it reports back.

use std::time::Duration;

use serde::Serialize;

/// The script a host runs: the logs as a gzipped tar on stdout, the
/// manifest on stderr.
pub const COLLECT_SCRIPT: &str = include_str!("collect-logs.sh");

/// The remote command: the script through `sh -c`, as one word for the
/// remote shell, with the journal's window as its argument.
pub fn remote_command(since: Option<Duration>) -> String {
    let since = since.map_or_else(String::new, |d| format!("-{}s", d.as_secs()));
    let words = ["sh", "-c", COLLECT_SCRIPT, "berth-logs", since.as_str()];
    shlex::try_join(words).unwrap_or_default()
}

/// Where the ECS agent for Windows writes its logs.
pub const WINDOWS_LOG_DIR: &str = r"C:\ProgramData\Amazon\ECS\log";

/// Why a Windows host has no archive, and how to read its logs anyway:
/// berth collects over ssh, and Windows container instances run no SSH
/// server; Run Command returns at most 24,000 characters, enough for a
/// log's tail but not for an archive.
pub fn windows_reason(instance_id: &str) -> String {
    format!(
        "a Windows container instance has no SSH server to collect through; its ECS logs are in \
         {WINDOWS_LOG_DIR}: read them over RDP (`berth rdp {instance_id}`) or tail them through SSM: \
         `berth run --engine ssm {instance_id} -- 'Get-Content -Tail 200 {WINDOWS_LOG_DIR}\\ecs-agent.log'`"
    )
}

/// What a host's manifest says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Manifest {
    pub collected: Vec<String>,
    /// What was not there, with why.
    pub missing: Vec<String>,
}

/// Reads the manifest lines from a host's stderr; other lines (ssh's own
/// warnings) are not part of it.
pub fn parse_manifest(stderr: &str) -> Manifest {
    let mut manifest = Manifest::default();
    for line in stderr.lines() {
        if let Some(what) = line.strip_prefix("collected ") {
            manifest.collected.push(what.to_owned());
        } else if let Some(what) = line.strip_prefix("missing ") {
            manifest.missing.push(what.to_owned());
        }
    }
    manifest
}

/// The archive's file name: `NAME-INSTANCE.tar.gz`, with anything but
/// letters, digits, `-`, `_` and `.` in the name made `_`.
pub fn archive_name(name: Option<&str>, instance_id: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    match name {
        Some(name) if !name.is_empty() => format!("{}-{}.tar.gz", clean(name), clean(instance_id)),
        _ => format!("{}.tar.gz", clean(instance_id)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_is_read_from_stderr() {
        let stderr = "Warning: Permanently added 'x' to the list of known hosts.\r\n\
                      collected /var/log/ecs\n\
                      missing http://localhost:51678/v1/tasks (the agent's introspection API did not answer)\n";
        let m = parse_manifest(stderr);
        assert_eq!(m.collected, vec!["/var/log/ecs"]);
        assert_eq!(m.missing.len(), 1);
        assert!(m.missing[0].contains("did not answer"));
    }

    #[test]
    fn a_windows_host_is_told_where_its_logs_are_and_how_to_read_them() {
        let reason = windows_reason("i-0abc");
        assert!(
            reason.contains(r"C:\ProgramData\Amazon\ECS\log"),
            "{reason}"
        );
        assert!(reason.contains("berth rdp i-0abc"), "{reason}");
        assert!(
            reason.contains(r"berth run --engine ssm i-0abc -- 'Get-Content -Tail 200 C:\ProgramData\Amazon\ECS\log\ecs-agent.log'"),
            "{reason}"
        );
    }

    #[test]
    fn names_are_safe_file_names() {
        assert_eq!(
            archive_name(Some("web 1/a"), "i-0abc"),
            "web_1_a-i-0abc.tar.gz"
        );
        assert_eq!(archive_name(None, "i-0abc"), "i-0abc.tar.gz");
        assert_eq!(archive_name(Some("../.."), "i-1"), ".._..-i-1.tar.gz");
    }

    #[test]
    fn the_command_is_one_quoted_word_for_the_remote_shell() {
        let command = remote_command(Some(Duration::from_secs(7200)));
        let words = shlex::split(&command).expect("splits");
        assert_eq!(words[0], "sh");
        assert_eq!(words[2], COLLECT_SCRIPT);
        assert_eq!(words[4], "-7200s");
        assert_eq!(shlex::split(&remote_command(None)).expect("splits")[4], "");
    }
}
