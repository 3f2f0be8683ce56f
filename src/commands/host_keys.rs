//! What `ssh` does about host keys: before connecting, make sure the
//! instance's keys are pinned (reading its console output on first
//! contact) and add the `-o` words that check them; after ssh failed, tell
//! a host key mismatch from other failures and say what it means.
//!
//! Pinning never stops a connection by itself: where berth cannot learn or
//! keep the keys it says so (`-v`, or a warning when something looks wrong)
//! and ssh checks host keys as it always does.

use std::time::Duration;

use crate::aws::{Aws, AwsError};
use crate::host_keys::console::{self, ConsoleHostKeys};
use crate::host_keys::{self, PinnedHostKeys};
use crate::inventory::model::Host;
use crate::target::{self, Target};
use crate::transport;

use super::Context;

/// How long the probe after a failed connection may take.
const PROBE_LIMIT: Duration = Duration::from_secs(15);

/// ssh's words when the host key is not the pinned one.
const MISMATCH_SIGNS: &[&str] = &[
    "REMOTE HOST IDENTIFICATION HAS CHANGED",
    "Host key verification failed",
    "host key is known for",
];

/// The pins a connection is checked against.
pub struct HostKeyCheck {
    store: PinnedHostKeys,
    instance_id: String,
    /// `ALGORITHM BASE64` of each pinned key.
    keys: Vec<String>,
}

impl HostKeyCheck {
    /// The `-o` words for ssh.
    pub fn ssh_options(&self) -> Vec<String> {
        self.store.ssh_options(&self.instance_id)
    }
}

/// An instance's console output, read before its target was resolved.
pub struct EarlyConsole {
    instance_id: String,
    read: Result<Option<String>, AwsError>,
}

/// For a target that is an instance id, reads the instance's console
/// output while the target resolves, if pinning will need it (no pins yet,
/// or `--refresh`): first contact then costs no round trip of its own.
pub async fn read_early(
    ctx: &Context,
    target: &str,
    passthrough: &[String],
) -> Option<EarlyConsole> {
    let query = target::parse(target).ok()?;
    let Target::Instance { instance_id } = query.target else {
        return None;
    };
    let unpinned = |dir| {
        ctx.settings.refresh
            || PinnedHostKeys::new(dir)
                .pinned(&instance_id)
                .is_ok_and(|keys| keys.is_empty())
    };
    let wanted = ctx.settings.pin_host_keys
        && !host_keys::operator_decides(passthrough)
        && ctx.settings.state_dir.as_deref().is_some_and(unpinned);
    if !wanted {
        return None;
    }
    let aws = ctx.aws(query.region.as_deref()).await.ok()?;
    let read = ctx
        .phase("host-key", aws.console_output(&instance_id))
        .await;
    Some(EarlyConsole { instance_id, read })
}

/// The pins for `host`, made from its console output when there are none
/// yet (or with `--refresh`); `None` when host keys are left to OpenSSH.
/// The console output is read now unless `early` holds it already.
pub async fn prepare(
    ctx: &Context,
    aws: &Aws,
    host: &Host,
    passthrough: &[String],
    early: Option<EarlyConsole>,
) -> Option<HostKeyCheck> {
    let instance_id = &host.ec2.instance_id;
    let fallback = "OpenSSH checks the host key as it always does";
    if !ctx.settings.pin_host_keys {
        ctx.verbose(&format!(
            "host key: not pinned ({}=openssh); {fallback}",
            crate::settings::HOST_KEYS_VAR
        ));
        return None;
    }
    if host_keys::operator_decides(passthrough) {
        ctx.verbose("host key: your -o options decide how it is checked");
        return None;
    }
    let Some(state_dir) = &ctx.settings.state_dir else {
        ctx.verbose(&format!(
            "host key: no state directory to pin it in (set HOME or XDG_STATE_HOME); {fallback}"
        ));
        return None;
    };
    let store = PinnedHostKeys::new(state_dir);
    let pinned = match store.pinned(instance_id) {
        Ok(keys) => keys,
        Err(e) => {
            eprintln!("berth: warning: {e}; {fallback}");
            return None;
        }
    };
    if !pinned.is_empty() && !ctx.settings.refresh {
        ctx.verbose(&format!(
            "host key: checked against the {} key(s) pinned for {instance_id} in {}",
            pinned.len(),
            store.path().display()
        ));
        return Some(HostKeyCheck {
            store,
            instance_id: instance_id.clone(),
            keys: pinned,
        });
    }
    let keep_old = |store: PinnedHostKeys, keys: Vec<String>| {
        (!keys.is_empty()).then(|| HostKeyCheck {
            store,
            instance_id: instance_id.clone(),
            keys,
        })
    };
    let read = match early.filter(|e| e.instance_id == *instance_id) {
        Some(early) => early.read,
        None => ctx.phase("host-key", aws.console_output(instance_id)).await,
    };
    let text = match read {
        Ok(Some(text)) => text,
        Ok(None) => {
            ctx.verbose(&format!(
                "host key: EC2 has no console output for {instance_id}; {fallback}"
            ));
            return keep_old(store, pinned);
        }
        Err(e) => {
            ctx.verbose(&format!(
                "host key: cannot read the console output of {instance_id} ({e}); {fallback}"
            ));
            return keep_old(store, pinned);
        }
    };
    let found = console::parse(&text);
    if found.keys.is_empty() {
        say_why_nothing_pinned(ctx, instance_id, &found, fallback);
        return keep_old(store, pinned);
    }
    let keys: Vec<String> = found
        .keys
        .iter()
        .map(|k| format!("{} {}", k.algorithm, k.base64))
        .collect();
    if !pinned.is_empty() && pinned != keys {
        eprintln!(
            "berth: warning: the host keys {instance_id} prints on its console differ from those \
             pinned before; pinning the console's"
        );
    }
    if let Err(e) = store.pin(instance_id, &found.keys) {
        eprintln!("berth: warning: {e}; {fallback}");
        return None;
    }
    let fingerprints: Vec<&str> = found.keys.iter().map(|k| k.fingerprint.as_str()).collect();
    ctx.verbose(&format!(
        "host key: pinned {} key(s) of {instance_id} from its console output ({}) in {}",
        keys.len(),
        fingerprints.join(", "),
        store.path().display()
    ));
    Some(HostKeyCheck {
        store,
        instance_id: instance_id.clone(),
        keys,
    })
}

fn say_why_nothing_pinned(
    ctx: &Context,
    instance_id: &str,
    found: &ConsoleHostKeys,
    fallback: &str,
) {
    if !found.disagreeing.is_empty() {
        eprintln!(
            "berth: warning: the console output of {instance_id} prints host keys that disagree \
             with the fingerprints it prints; pinning none of them; {fallback}"
        );
    } else if !found.fingerprints.is_empty() {
        ctx.verbose(&format!(
            "host key: the console output of {instance_id} lists fingerprints but not the keys; \
             {fallback} (compare with: {})",
            found
                .fingerprints
                .iter()
                .map(|f| f.fingerprint.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    } else {
        ctx.verbose(&format!(
            "host key: the console output of {instance_id} has no SSH host keys (cloud-init \
             prints them at first boot, and EC2 keeps only the latest output); {fallback}"
        ));
    }
}

/// `argv` with `options` put before the destination: after the operator's
/// and berth's own options, before `--`, `USER@HOST` and the `remote_len`
/// words of the remote command.
pub fn with_options(mut argv: Vec<String>, remote_len: usize, options: Vec<String>) -> Vec<String> {
    let Some(at) = argv.len().checked_sub(remote_len + 2) else {
        return argv;
    };
    if at == 0 || argv[at] != "--" {
        return argv;
    }
    argv.splice(at..at, options);
    argv
}

/// After ssh exited 255: asks the host again, without logging in, whether
/// its key is the pinned one. `true` when it is not (and the warning was
/// printed): nothing else is worth diagnosing then.
pub async fn explain_mismatch(
    check: &HostKeyCheck,
    argv: &[String],
    remote_len: usize,
    address: &str,
) -> bool {
    let Some(at) = argv.len().checked_sub(remote_len + 2) else {
        return false;
    };
    let mut probe: Vec<String> = argv[..at].to_vec();
    probe.extend(
        [
            "-o",
            "BatchMode=yes",
            "-o",
            "PreferredAuthentications=none",
            "-o",
            "ConnectTimeout=10",
        ]
        .map(str::to_owned),
    );
    probe.extend(argv[at..at + 2].iter().cloned());
    probe.push("true".to_owned());
    let Ok(Some(stderr)) = transport::probe::stderr_of(&probe, PROBE_LIMIT).await else {
        return false;
    };
    if !MISMATCH_SIGNS.iter().any(|sign| stderr.contains(sign)) {
        return false;
    }
    let instance_id = &check.instance_id;
    eprintln!(
        "berth: warning: the machine answering at {address} is NOT instance {instance_id}: its \
         host key is none of the {} key(s) {instance_id} printed on its console (pinned in {}). \
         Do not log in there: the address may belong to another instance now, or someone is in \
         between.",
        check.keys.len(),
        check.store.path().display()
    );
    eprintln!(
        "  hint: if {instance_id}'s host keys were regenerated on purpose, `berth --refresh ssh …` \
         reads its console output again"
    );
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn options_go_before_the_destination() {
        let options = words(&["-o", "HostKeyAlias=i-1"]);
        assert_eq!(
            with_options(words(&["ssh", "-i", "k", "--", "u@h"]), 0, options.clone()),
            words(&["ssh", "-i", "k", "-o", "HostKeyAlias=i-1", "--", "u@h"])
        );
        assert_eq!(
            with_options(
                words(&["ssh", "--", "u@h", "echo", "--", "x"]),
                3,
                options.clone()
            ),
            words(&[
                "ssh",
                "-o",
                "HostKeyAlias=i-1",
                "--",
                "u@h",
                "echo",
                "--",
                "x"
            ])
        );
        // Not the shape of a plan: left alone.
        assert_eq!(
            with_options(words(&["ssh", "u@h"]), 0, options.clone()),
            words(&["ssh", "u@h"])
        );
        assert_eq!(with_options(words(&[]), 2, options), words(&[]));
    }
}
