//! Finding the private key of an EC2 key pair.
//!
//! Order: `-i FILE`, then each configured key directory, then `~/.ssh`;
//! in each directory `KEYNAME.pem`, then `KEYNAME`. The result records what
//! was searched so that a miss can say where berth looked.

use std::path::{Path, PathBuf};

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeySource {
    /// `-i FILE` on the command line.
    Flag,
    /// A `key_dirs` entry of the config file.
    ConfigDir,
    /// `~/.ssh`.
    SshDir,
}

/// A private key file and its Unix permission bits (when known).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyFile {
    pub path: PathBuf,
    pub source: KeySource,
    /// Permission bits (`0o600`, …); `None` where the platform has none.
    #[serde(skip)]
    pub mode: Option<u32>,
}

impl KeyFile {
    /// OpenSSH refuses a private key that group or others can read.
    pub fn too_open(&self) -> bool {
        self.mode.is_some_and(|m| m & 0o077 != 0)
    }
}

/// What the search found; the planner decides what that means.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyLookup {
    pub found: Option<KeyFile>,
    pub searched: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("identity file {} does not exist or cannot be read", .0.display())]
    Missing(PathBuf),
}

/// Looks for the key of `key_name` (the instance's KeyName).
pub fn find_key(
    explicit: Option<&Path>,
    key_name: Option<&str>,
    key_dirs: &[PathBuf],
    home: Option<&Path>,
) -> Result<KeyLookup, KeyError> {
    if let Some(path) = explicit {
        let found =
            probe(path, KeySource::Flag).ok_or_else(|| KeyError::Missing(path.to_owned()))?;
        return Ok(KeyLookup {
            found: Some(found),
            searched: vec![path.to_owned()],
        });
    }
    let Some(key_name) = key_name.filter(|k| is_plain_file_name(k)) else {
        return Ok(KeyLookup::default());
    };
    let ssh_dir = home.map(|h| h.join(".ssh"));
    let dirs = key_dirs
        .iter()
        .map(|d| (d.clone(), KeySource::ConfigDir))
        .chain(ssh_dir.map(|d| (d, KeySource::SshDir)));
    let mut searched = Vec::new();
    for (dir, source) in dirs {
        for candidate in [dir.join(format!("{key_name}.pem")), dir.join(key_name)] {
            let found = probe(&candidate, source);
            searched.push(candidate);
            if found.is_some() {
                return Ok(KeyLookup { found, searched });
            }
        }
    }
    Ok(KeyLookup {
        found: None,
        searched,
    })
}

/// A key pair name used as a file name must not climb out of the directory.
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

/// The key file at `path`, if it is a regular file.
fn probe(path: &Path, source: KeySource) -> Option<KeyFile> {
    let meta = std::fs::metadata(path)
        .ok()
        .filter(std::fs::Metadata::is_file)?;
    #[cfg(unix)]
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        Some(meta.permissions().mode() & 0o777)
    };
    #[cfg(not(unix))]
    let mode = {
        let _ = meta;
        None
    };
    Some(KeyFile {
        path: path.to_owned(),
        source,
        mode,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path, mode: u32) {
        std::fs::write(path, "key").expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        }
    }

    #[test]
    fn search_order_is_flag_config_dirs_then_ssh() {
        let tmp = tempfile::tempdir().expect("tmp");
        let home = tmp.path().join("home");
        let ssh = home.join(".ssh");
        let keys = tmp.path().join("keys");
        std::fs::create_dir_all(&ssh).expect("mkdir");
        std::fs::create_dir_all(&keys).expect("mkdir");

        // Nothing there yet: every candidate is listed as searched.
        let miss =
            find_key(None, Some("prod"), std::slice::from_ref(&keys), Some(&home)).expect("lookup");
        assert_eq!(miss.found, None);
        assert_eq!(
            miss.searched,
            vec![
                keys.join("prod.pem"),
                keys.join("prod"),
                ssh.join("prod.pem"),
                ssh.join("prod"),
            ]
        );

        touch(&ssh.join("prod"), 0o600);
        let found = find_key(None, Some("prod"), std::slice::from_ref(&keys), Some(&home))
            .expect("lookup")
            .found
            .expect("found");
        assert_eq!(
            (found.path, found.source),
            (ssh.join("prod"), KeySource::SshDir)
        );

        touch(&keys.join("prod.pem"), 0o644);
        let found = find_key(None, Some("prod"), std::slice::from_ref(&keys), Some(&home))
            .expect("lookup")
            .found
            .expect("found");
        assert_eq!(found.source, KeySource::ConfigDir);
        #[cfg(unix)]
        assert!(found.too_open());

        let flag = tmp.path().join("other.pem");
        touch(&flag, 0o400);
        let found = find_key(Some(&flag), Some("prod"), &[keys], Some(&home))
            .expect("lookup")
            .found
            .expect("found");
        assert_eq!(found.source, KeySource::Flag);
        assert!(!found.too_open());
    }

    #[test]
    fn missing_flag_file_is_an_error_and_odd_names_are_not_paths() {
        let tmp = tempfile::tempdir().expect("tmp");
        let missing = tmp.path().join("nope.pem");
        assert!(matches!(
            find_key(Some(&missing), None, &[], None),
            Err(KeyError::Missing(p)) if p == missing
        ));
        for name in ["../etc/passwd", "a/b", "..", ""] {
            let lookup = find_key(None, Some(name), &[], Some(tmp.path())).expect("lookup");
            assert!(
                lookup.found.is_none() && lookup.searched.is_empty(),
                "{name}"
            );
        }
        let none = find_key(None, None, &[], Some(tmp.path())).expect("lookup");
        assert_eq!(none, KeyLookup::default());
    }
}
