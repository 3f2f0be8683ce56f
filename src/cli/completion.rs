//! Shell completion from the same clap definitions as the parser.
//!
//! `berth completions SHELL` prints a small script that asks berth itself
//! for candidates (`BERTH_COMPLETE=SHELL berth -- WORDS…`), so that flags,
//! subcommands and values complete as clap knows them, and targets
//! complete with the cluster and host names berth has seen (its host
//! cache): a Tab never waits for AWS, and never fails.

use std::io::{self, Write};
use std::path::PathBuf;

use clap::CommandFactory;
use clap_complete::env::{self, EnvCompleter};
use clap_complete::{CompleteEnv, CompletionCandidate, Shell};

use crate::cli::Cli;
use crate::inventory::host_cache;

/// The variable that turns a berth run into a completion request.
pub const COMPLETE_VAR: &str = "BERTH_COMPLETE";

/// Answers a completion request and exits, if this run is one.
pub fn complete_from_env() {
    CompleteEnv::with_factory(Cli::command)
        .var(COMPLETE_VAR)
        .complete();
}

/// The script that registers berth's completion in `shell`.
pub fn write_registration(shell: Shell, out: &mut dyn Write) -> io::Result<()> {
    let completer: &dyn EnvCompleter = match shell {
        Shell::Bash => &env::Bash,
        Shell::Zsh => &env::Zsh,
        Shell::Fish => &env::Fish,
        Shell::Elvish => &env::Elvish,
        Shell::PowerShell => &env::Powershell,
        other => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("no completion for {other}"),
            ));
        }
    };
    completer.write_registration(COMPLETE_VAR, "berth", "berth", "berth", out)
}

/// Candidates for a target: cluster names, and `CLUSTER/NAME` for the
/// hosts of each cluster in the cache.
pub fn targets() -> Vec<CompletionCandidate> {
    let Some(dir) = cache_dir() else {
        return Vec::new();
    };
    let mut candidates = Vec::new();
    for cluster in host_cache::cluster_names(&dir) {
        let hosts = host_cache::host_names(&dir, &cluster);
        candidates.push(CompletionCandidate::new(&cluster).help(Some("cluster".into())));
        candidates.extend(hosts.into_iter().map(|host| {
            CompletionCandidate::new(format!("{cluster}/{host}"))
                .help(Some(format!("a host of cluster {cluster}").into()))
        }));
    }
    candidates
}

/// Candidates for a cluster: the names in the cache.
pub fn clusters() -> Vec<CompletionCandidate> {
    cache_dir()
        .map(|dir| host_cache::cluster_names(&dir))
        .unwrap_or_default()
        .into_iter()
        .map(|c| CompletionCandidate::new(c).help(Some("cluster".into())))
        .collect()
}

/// berth's cache directory, as [`Settings`](crate::settings::Settings)
/// finds it (completion cannot stop on a bad config file).
fn cache_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|d| d.join("berth"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script_that_calls_berth_back() {
        for shell in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::Elvish,
            Shell::PowerShell,
        ] {
            let mut out = Vec::new();
            write_registration(shell, &mut out).expect("write");
            let script = String::from_utf8(out).expect("utf-8");
            assert!(script.contains(COMPLETE_VAR), "{shell}: {script}");
            assert!(script.contains("berth"), "{shell}: {script}");
        }
    }
}
