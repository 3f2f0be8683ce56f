//! Host keys pinned per EC2 instance id, so that ssh trusts the machine
//! that *is* the instance, not whatever answers at its address.
//!
//! On first contact berth reads the instance's host keys from its console
//! output ([`console::parse`]; cloud-init prints them at first boot) and
//! writes them to its own known_hosts file, one line per key, named by the
//! instance id. ssh then runs with `HostKeyAlias=<instance id>` and
//! `StrictHostKeyChecking=yes` against that file (and the user's own): an
//! address that now belongs to another instance, or a machine in between,
//! fails the check instead of being trusted on first use. Where the console
//! output has no keys, berth adds nothing and OpenSSH behaves as it always
//! does.
//!
//! The file (0600, in berth's 0700 state directory) is rewritten whole
//! under an exclusive lock, so concurrent berths never lose each other's
//! pins or read half a file.

pub mod console;

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use crate::platform::files::{private_dir, private_lock_file, write_atomically};
use console::HostKey;

/// The user's own known_hosts files, as OpenSSH's default names them; ssh
/// expands `~` through the passwd entry.
const USER_KNOWN_HOSTS: &str = "~/.ssh/known_hosts ~/.ssh/known_hosts2";

/// Where a pin came from, written after each key (known_hosts allows a
/// comment there).
const SOURCE_COMMENT: &str = "berth:console-output";

/// ssh options by which the operator takes host keys into their own hands;
/// with any of them given, berth pins nothing.
const OPERATOR_OPTIONS: &[&str] = &[
    "userknownhostsfile",
    "hostkeyalias",
    "stricthostkeychecking",
    "globalknownhostsfile",
    "knownhostscommand",
];

#[derive(Debug, thiserror::Error)]
#[error("cannot use berth's known_hosts file {}: {source}", .path.display())]
pub struct PinError {
    pub path: PathBuf,
    pub source: io::Error,
}

/// berth's known_hosts file in its state directory.
#[derive(Debug, Clone)]
pub struct PinnedHostKeys {
    path: PathBuf,
    lock: PathBuf,
}

impl PinnedHostKeys {
    pub fn new(state_dir: &Path) -> Self {
        Self {
            path: state_dir.join("known_hosts"),
            lock: state_dir.join("known_hosts.lock"),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, source: io::Error) -> PinError {
        PinError {
            path: self.path.clone(),
            source,
        }
    }

    /// The keys pinned for `instance_id`, as `ALGORITHM BASE64`.
    pub fn pinned(&self, instance_id: &str) -> Result<Vec<String>, PinError> {
        match fs::read_to_string(&self.path) {
            Ok(text) => Ok(lines_for(&text, instance_id)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(self.error(e)),
        }
    }

    /// Replaces the keys pinned for `instance_id` with `keys`.
    pub fn pin(&self, instance_id: &str, keys: &[HostKey]) -> Result<(), PinError> {
        let _lock = self.locked()?;
        let old = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(self.error(e)),
        };
        let text = replace_pins(&old, instance_id, keys);
        write_atomically(&self.path, text.as_bytes()).map_err(|e| self.error(e))
    }

    fn locked(&self) -> Result<File, PinError> {
        if let Some(dir) = self.lock.parent() {
            private_dir(dir).map_err(|e| self.error(e))?;
        }
        let file = private_lock_file(&self.lock).map_err(|e| self.error(e))?;
        file.lock().map_err(|e| self.error(e))?;
        Ok(file)
    }

    /// The ssh options that check the host against the pins of
    /// `instance_id`: berth's file first, then the user's own.
    pub fn ssh_options(&self, instance_id: &str) -> Vec<String> {
        let file = self.path.display().to_string();
        // ssh splits the value on white space unless it is quoted.
        let file = if file.contains(char::is_whitespace) {
            format!("\"{file}\"")
        } else {
            file
        };
        [
            format!("UserKnownHostsFile={file} {USER_KNOWN_HOSTS}"),
            format!("HostKeyAlias={instance_id}"),
            "StrictHostKeyChecking=yes".to_owned(),
        ]
        .into_iter()
        .flat_map(|option| ["-o".to_owned(), option])
        .collect()
    }
}

/// Whether the operator's own ssh options decide host keys (`-o
/// UserKnownHostsFile=…`, `-o StrictHostKeyChecking=…`, …), in which case
/// berth leaves them alone.
pub fn operator_decides(passthrough: &[String]) -> bool {
    passthrough.windows(2).any(|pair| {
        pair[0] == "-o"
            && pair[1]
                .split(['=', ' ', '\t'])
                .next()
                .is_some_and(|name| OPERATOR_OPTIONS.contains(&name.to_ascii_lowercase().as_str()))
    })
}

/// `ALGORITHM BASE64` of each line naming `instance_id`.
fn lines_for(text: &str, instance_id: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some(instance_id))
                .then(|| Some(format!("{} {}", words.next()?, words.next()?)))
                .flatten()
        })
        .collect()
}

/// `old` without the lines of `instance_id`, then one line per key of it.
fn replace_pins(old: &str, instance_id: &str, keys: &[HostKey]) -> String {
    let mut text = String::new();
    for line in old
        .lines()
        .filter(|line| line.split_whitespace().next() != Some(instance_id))
    {
        text.push_str(line);
        text.push('\n');
    }
    for key in keys {
        let _ = writeln!(
            text,
            "{instance_id} {} {} {SOURCE_COMMENT}",
            key.algorithm, key.base64
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(body: &str) -> HostKey {
        HostKey {
            algorithm: "ssh-ed25519".into(),
            base64: body.into(),
            fingerprint: String::new(),
        }
    }

    #[test]
    fn pins_replace_an_instances_lines_and_keep_the_others() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = PinnedHostKeys::new(&dir.path().join("state"));
        assert!(store.pinned("i-1").expect("read").is_empty());
        store.pin("i-1", &[key("AAAA1")]).expect("pin");
        store
            .pin("i-2", &[key("AAAA2"), key("AAAA3")])
            .expect("pin");
        store.pin("i-1", &[key("AAAA4")]).expect("re-pin");
        assert_eq!(store.pinned("i-1").expect("read"), ["ssh-ed25519 AAAA4"]);
        assert_eq!(
            store.pinned("i-2").expect("read"),
            ["ssh-ed25519 AAAA2", "ssh-ed25519 AAAA3"]
        );
        assert!(store.pinned("i-12").expect("read").is_empty());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).expect("stat").permissions().mode() & 0o777;
            assert_eq!(mode(store.path()), 0o600);
            assert_eq!(mode(&dir.path().join("state")), 0o700);
        }
    }

    #[test]
    fn ssh_options_name_the_instance_and_both_files() {
        let store = PinnedHostKeys::new(Path::new("/home/op/.local/state/berth"));
        assert_eq!(
            store.ssh_options("i-0123456789abcdef0"),
            [
                "-o",
                "UserKnownHostsFile=/home/op/.local/state/berth/known_hosts ~/.ssh/known_hosts ~/.ssh/known_hosts2",
                "-o",
                "HostKeyAlias=i-0123456789abcdef0",
                "-o",
                "StrictHostKeyChecking=yes",
            ]
        );
        let spaced = PinnedHostKeys::new(Path::new("/home/o p/state"));
        assert!(
            spaced.ssh_options("i-1")[1]
                .starts_with("UserKnownHostsFile=\"/home/o p/state/known_hosts\" ~")
        );
    }

    #[test]
    fn the_operators_own_host_key_options_win() {
        let words = |w: &[&str]| w.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        for (passthrough, decides) in [
            (words(&[]), false),
            (words(&["-o", "ServerAliveInterval=5"]), false),
            (words(&["-o", "UserKnownHostsFile=/tmp/kh"]), true),
            (words(&["-o", "stricthostkeychecking no"]), true),
            (words(&["-L", "1:h:2", "-o", "HostKeyAlias=x"]), true),
            (words(&["-o"]), false),
        ] {
            assert_eq!(operator_decides(&passthrough), decides, "{passthrough:?}");
        }
    }
}
