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
use crate::model::host::Host;
use crate::model::target::{self, Target};
use crate::plan::Plan;
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

/// What happens where berth pins nothing.
const FALLBACK: &str = "OpenSSH checks the host key as it always does";

/// The pins for a bastion hop: made as for a target ([`prepare`]) when
/// berth is about to connect; on a dry run (`reading` false) only those
/// pinned already, so that nothing is read or written.
pub async fn for_hop(
    ctx: &Context,
    aws: &Aws,
    host: &Host,
    passthrough: &[String],
    reading: bool,
) -> Option<HostKeyCheck> {
    if reading {
        return prepare(ctx, aws, host, passthrough, None).await;
    }
    let instance_id = &host.ec2.instance_id;
    let (store, keys) = pins_in_use(ctx, instance_id, passthrough)?;
    (!keys.is_empty()).then(|| HostKeyCheck {
        store,
        instance_id: instance_id.clone(),
        keys,
    })
}

/// The store and the keys pinned for `instance_id` so far, unless berth
/// leaves host keys to OpenSSH (it is told to, the operator's options
/// decide, or there is nowhere to keep pins); says why with `-v`.
fn pins_in_use(
    ctx: &Context,
    instance_id: &str,
    passthrough: &[String],
) -> Option<(PinnedHostKeys, Vec<String>)> {
    if !ctx.settings.pin_host_keys {
        ctx.verbose(&format!(
            "host key: not pinned ({}=openssh); {FALLBACK}",
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
            "host key: no state directory to pin it in (set HOME or XDG_STATE_HOME); {FALLBACK}"
        ));
        return None;
    };
    let store = PinnedHostKeys::new(state_dir);
    match store.pinned(instance_id) {
        Ok(keys) => Some((store, keys)),
        Err(e) => {
            ctx.reporter.warn(&format!("{e}; {FALLBACK}"));
            None
        }
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
    let (store, pinned) = pins_in_use(ctx, instance_id, passthrough)?;
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
                "host key: EC2 has no console output for {instance_id}; {FALLBACK}"
            ));
            return keep_old(store, pinned);
        }
        Err(e) => {
            ctx.verbose(&format!(
                "host key: cannot read the console output of {instance_id} ({e}); {FALLBACK}"
            ));
            return keep_old(store, pinned);
        }
    };
    let found = console::parse(&text);
    if found.keys.is_empty() {
        say_why_nothing_pinned(ctx, instance_id, &found);
        return keep_old(store, pinned);
    }
    let keys: Vec<String> = found
        .keys
        .iter()
        .map(|k| format!("{} {}", k.algorithm, k.base64))
        .collect();
    if !pinned.is_empty() && pinned != keys {
        ctx.reporter.warn(&format!(
            "the host keys {instance_id} prints on its console differ from those pinned before; \
             pinning the console's"
        ));
    }
    if let Err(e) = store.pin(instance_id, &found.keys) {
        ctx.reporter.warn(&format!("{e}; {FALLBACK}"));
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

fn say_why_nothing_pinned(ctx: &Context, instance_id: &str, found: &ConsoleHostKeys) {
    if !found.disagreeing.is_empty() {
        ctx.reporter.warn(&format!(
            "the console output of {instance_id} prints host keys that disagree with the \
             fingerprints it prints; pinning none of them; {FALLBACK}"
        ));
    } else if !found.fingerprints.is_empty() {
        ctx.verbose(&format!(
            "host key: the console output of {instance_id} lists fingerprints but not the keys; \
             {FALLBACK} (compare with: {})",
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
             prints them at first boot, and EC2 keeps only the latest output); {FALLBACK}"
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

impl HostKeyCheck {
    /// The keys pinned for `instance_id` so far, if berth pins at all.
    fn known(ctx: &Context, instance_id: &str) -> Option<Self> {
        let (store, keys) = pins_in_use(ctx, instance_id, &[])?;
        (!keys.is_empty()).then(|| Self {
            store,
            instance_id: instance_id.to_owned(),
            keys,
        })
    }
}

/// After ssh exited 255: asks each hop again, without logging in, whether
/// its host key is the expected one; the bastion first, since a key
/// refused there fails the whole connection with words that read as the
/// target's. `true` when a hop's key was refused (and the warning was
/// printed): nothing else is worth diagnosing then.
pub async fn explain_refusal(
    ctx: &Context,
    check: Option<&HostKeyCheck>,
    plan: &Plan,
    argv: &[String],
    remote_len: usize,
) -> bool {
    if let Some(jump) = &plan.jump
        && key_refused(&jump.own_argv(), 0).await
    {
        match jump.instance_id.as_deref() {
            Some(id) => match HostKeyCheck::known(ctx, id) {
                Some(check) => warn_not_instance(ctx, &check, &jump.address, "the bastion "),
                None => warn_unverified_bastion(ctx, id, &jump.address),
            },
            None => warn_unverified_bastion(ctx, &jump.address, &jump.address),
        }
        return true;
    }
    match check {
        Some(check) if key_refused(argv, remote_len).await => {
            warn_not_instance(ctx, check, &plan.address, "");
            true
        }
        _ => false,
    }
}

/// Whether ssh, run again from `argv` (ending in `-- USER@HOST` and
/// `remote_len` words of remote command) without logging in, refuses the
/// host's key.
async fn key_refused(argv: &[String], remote_len: usize) -> bool {
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
    MISMATCH_SIGNS.iter().any(|sign| stderr.contains(sign))
}

/// The machine at `address` is not the instance whose keys are pinned;
/// `role` names the hop ("the bastion ") where it is not the target.
fn warn_not_instance(ctx: &Context, check: &HostKeyCheck, address: &str, role: &str) {
    let instance_id = &check.instance_id;
    ctx.reporter.warn_with_hints(
        &format!(
            "the machine answering at {address} is NOT {role}instance {instance_id}: its host \
             key is none of the {} key(s) {instance_id} printed on its console (pinned in {}). \
             Do not log in there: the address may belong to another instance now, or someone is \
             in between.",
            check.keys.len(),
            check.store.path().display()
        ),
        &[format!(
            "if {instance_id}'s host keys were regenerated on purpose, `berth --refresh ssh …` \
             reads its console output again"
        )],
    );
}

/// The bastion's key is neither pinned (its console output printed none)
/// nor known to the operator's ssh, and there was no terminal to ask on.
fn warn_unverified_bastion(ctx: &Context, bastion: &str, address: &str) {
    ctx.reporter.warn_with_hints(
        &format!(
            "ssh could not verify the host key of the bastion {bastion} at {address}: berth has \
             no pinned key for it (its console output prints none) and it is not in your \
             known_hosts"
        ),
        &[format!(
            "check its key and add it to ~/.ssh/known_hosts (`ssh-keyscan {address}` shows what \
             it offers), or connect once from a terminal to accept it"
        )],
    );
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
