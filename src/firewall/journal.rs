//! The journal of temporary ingress rules: written before a rule is added
//! and cleared after it is removed, so that a berth that was killed
//! (SIGKILL, power loss) leaves a record the next run can act on.
//!
//! One JSON file in berth's state directory, rewritten whole under an
//! exclusive lock on a sibling lock file.

use crate::platform::files::write_atomically;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::platform::files::{private_dir, private_lock_file};

/// A rule berth added (or is about to add).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenRule {
    /// Unique per entry.
    pub key: String,
    pub region: String,
    pub endpoint_url: Option<String>,
    pub group_id: String,
    pub cidr: IpNet,
    pub port: u16,
    /// The description given to the rule: how berth recognises its own.
    pub description: String,
    /// Set once EC2 has answered.
    pub rule_id: Option<String>,
    /// The berth process holding the session.
    pub pid: u32,
    /// The boot it ran in (Linux's boot id): after a reboot its pid may
    /// belong to another process.
    #[serde(default)]
    pub boot: Option<String>,
    /// Removed when `pid` is gone (a session), or only at `expires` (a
    /// `doctor --fix`).
    pub session: bool,
    /// Unix seconds after which the rule is removed whatever happened.
    pub expires: u64,
}

impl OpenRule {
    /// Whether the rule should go now: expired, or its session's process is
    /// gone.
    pub fn is_stale(&self, now: u64, boot: Option<&str>, alive: impl Fn(u32) -> bool) -> bool {
        let rebooted = self.boot.is_some() && self.boot.as_deref() != boot;
        self.expires <= now || (self.session && (rebooted || !alive(self.pid)))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot use the journal of temporary rules {}: {source}", .path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("the journal of temporary rules {} is damaged: {message}", .path.display())]
    Damaged { path: PathBuf, message: String },
}

/// The journal file in a state directory.
#[derive(Debug, Clone)]
pub struct Journal {
    path: PathBuf,
    lock: PathBuf,
}

impl Journal {
    pub fn new(state_dir: &Path) -> Self {
        Self {
            path: state_dir.join("open-rules.json"),
            lock: state_dir.join("open-rules.lock"),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: io::Error) -> JournalError {
        JournalError::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// Every entry (none when the file does not exist).
    pub fn entries(&self) -> Result<Vec<OpenRule>, JournalError> {
        let _lock = self.locked()?;
        self.read()
    }

    /// Applies `change` to the entries under the lock and writes them back.
    pub fn update<T>(
        &self,
        change: impl FnOnce(&mut Vec<OpenRule>) -> T,
    ) -> Result<T, JournalError> {
        let _lock = self.locked()?;
        let mut entries = self.read()?;
        let out = change(&mut entries);
        self.write(&entries)?;
        Ok(out)
    }

    pub fn add(&self, rule: &OpenRule) -> Result<(), JournalError> {
        self.update(|entries| entries.push(rule.clone()))
    }

    pub fn remove(&self, key: &str) -> Result<(), JournalError> {
        self.update(|entries| entries.retain(|e| e.key != key))
    }

    pub fn set_rule_id(&self, key: &str, rule_id: &str) -> Result<(), JournalError> {
        self.update(|entries| {
            for e in entries.iter_mut().filter(|e| e.key == key) {
                e.rule_id = Some(rule_id.to_owned());
            }
        })
    }

    fn locked(&self) -> Result<File, JournalError> {
        if let Some(dir) = self.lock.parent() {
            private_dir(dir).map_err(|e| self.io(e))?;
        }
        let file = private_lock_file(&self.lock).map_err(|e| self.io(e))?;
        file.lock().map_err(|e| self.io(e))?;
        Ok(file)
    }

    fn read(&self) -> Result<Vec<OpenRule>, JournalError> {
        match fs::read_to_string(&self.path) {
            Ok(text) if text.trim().is_empty() => Ok(Vec::new()),
            Ok(text) => serde_json::from_str(&text).map_err(|e| JournalError::Damaged {
                path: self.path.clone(),
                message: e.to_string(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(self.io(e)),
        }
    }

    /// Writes to a temporary file, syncs it, renames it over the journal
    /// and syncs the directory: an entry written before a rule is added
    /// survives a crash or power loss, and a crash never leaves half a file.
    fn write(&self, entries: &[OpenRule]) -> Result<(), JournalError> {
        let text = serde_json::to_string_pretty(entries).map_err(|e| JournalError::Damaged {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        write_atomically(&self.path, text.as_bytes()).map_err(|e| self.io(e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(key: &str, pid: u32, session: bool, expires: u64) -> OpenRule {
        OpenRule {
            key: key.into(),
            region: "us-east-1".into(),
            endpoint_url: None,
            group_id: "sg-1".into(),
            cidr: "198.51.100.7/32".parse().expect("cidr"),
            port: 22,
            description: "berth".into(),
            rule_id: None,
            pid,
            boot: Some("boot-1".into()),
            session,
            expires,
        }
    }

    #[test]
    fn entries_survive_a_round_trip_and_are_removed_by_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let journal = Journal::new(&dir.path().join("state"));
        assert!(journal.entries().expect("empty").is_empty());
        journal.add(&rule("a", 1, true, 10)).expect("add a");
        journal.add(&rule("b", 2, true, 10)).expect("add b");
        journal.set_rule_id("a", "sgr-1").expect("set id");
        let entries = journal.entries().expect("read");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].rule_id.as_deref(), Some("sgr-1"));
        journal.remove("a").expect("remove");
        let keys: Vec<String> = journal
            .entries()
            .expect("read")
            .into_iter()
            .map(|e| e.key)
            .collect();
        assert_eq!(keys, ["b"]);
    }

    #[test]
    fn a_damaged_journal_is_an_error_not_an_empty_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let journal = Journal::new(dir.path());
        fs::write(journal.path(), "{not json").expect("write");
        assert!(matches!(
            journal.entries(),
            Err(JournalError::Damaged { .. })
        ));
    }

    #[test]
    fn staleness() {
        let alive = |pid| pid == 1;
        let boot = Some("boot-1");
        assert!(!rule("a", 1, true, 100).is_stale(50, boot, alive));
        assert!(rule("a", 2, true, 100).is_stale(50, boot, alive));
        assert!(rule("a", 1, true, 100).is_stale(100, boot, alive));
        // After a reboot pid 1 is someone else.
        assert!(rule("a", 1, true, 100).is_stale(50, Some("boot-2"), alive));
        // A `doctor --fix` rule outlives its process until it expires.
        assert!(!rule("a", 2, false, 100).is_stale(50, boot, alive));
        assert!(rule("a", 2, false, 100).is_stale(150, boot, alive));
    }
}
