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
    #[error("identity file {} does not exist", .0.display())]
    Missing(PathBuf),
    #[error("identity file {} is a directory, not a key file", .0.display())]
    Directory(PathBuf),
    #[error("cannot read identity file {}: {source}", .path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("identity file {} is {what}, not a private key", .path.display())]
    NotAPrivateKey {
        path: PathBuf,
        /// What it is instead: `empty`, `a public key`, …
        what: &'static str,
    },
    #[error(
        "private key {} is protected by a passphrase, and there is no terminal to ask for it \
         and no ssh-agent to hold it", .0.display()
    )]
    NeedsPassphrase(PathBuf),
}

impl crate::model::hint::Hint for KeyError {
    /// The next step, with the file named.
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::Missing(path) => format!(
                "check the path given to -i (`ls -l {}`), or drop -i to use the key pair's \
                 KEYNAME.pem from ~/.ssh",
                path.display()
            ),
            Self::Directory(path) => format!(
                "give -i the key file inside it, e.g. -i {}",
                path.join("KEYNAME.pem").display()
            ),
            Self::Unreadable { path, .. } => format!(
                "make it readable by you alone: `chmod 600 {0}` (and own it: `chown $USER {0}`)",
                path.display()
            ),
            Self::NotAPrivateKey { path, what } => match *what {
                PUBLIC_KEY => format!(
                    "give -i the private half: {}",
                    path.with_extension("").display()
                ),
                PUTTY_KEY => format!(
                    "convert it for OpenSSH: `puttygen {} -O private-openssh -o KEY.pem`, then -i KEY.pem",
                    path.display()
                ),
                _ => "give -i the private key file EC2 gave you for the key pair (KEYNAME.pem, \
                      `-----BEGIN RSA PRIVATE KEY-----`) or one ssh-keygen made"
                    .to_owned(),
            },
            Self::NeedsPassphrase(path) => format!(
                "add it to your agent first (`ssh-add {}`), or run berth on a terminal",
                path.display()
            ),
        })
    }
}

const PUBLIC_KEY: &str = "a public key";
const PUTTY_KEY: &str = "a PuTTY key (.ppk)";

/// What a key file holds, as far as berth needs to know before ssh reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyContent {
    /// Protected by a passphrase (PEM `Proc-Type: 4,ENCRYPTED`, encrypted
    /// PKCS#8, or an OpenSSH key with a cipher).
    pub encrypted: bool,
}

/// Reads `path` and tells whether it is a private key ssh can load; never
/// keeps or prints the key.
pub fn inspect(path: &Path) -> Result<KeyContent, KeyError> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(KeyError::Missing(path.to_owned()));
        }
        Ok(meta) if meta.is_dir() => return Err(KeyError::Directory(path.to_owned())),
        _ => {}
    }
    let bytes = std::fs::read(path).map_err(|source| KeyError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    classify(&bytes).map_err(|what| KeyError::NotAPrivateKey {
        path: path.to_owned(),
        what,
    })
}

/// A private key's content, or what the bytes are instead.
fn classify(bytes: &[u8]) -> Result<KeyContent, &'static str> {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    if text.is_empty() {
        return Err("empty");
    }
    if text.starts_with("PuTTY-User-Key-File") {
        return Err(PUTTY_KEY);
    }
    let first = text.split_whitespace().next().unwrap_or_default();
    if first.starts_with("ssh-") || first.starts_with("ecdsa-") || first.starts_with("sk-") {
        return Err(PUBLIC_KEY);
    }
    if text.contains("-----BEGIN CERTIFICATE-----") {
        return Err("an X.509 certificate");
    }
    if text.contains("-----BEGIN PUBLIC KEY-----")
        || text.contains("-----BEGIN RSA PUBLIC KEY-----")
    {
        return Err(PUBLIC_KEY);
    }
    if text.contains("-----BEGIN OPENSSH PRIVATE KEY-----") {
        // Through the crate's one reader, which takes any line width (ssh-keygen
        // wraps at 70 columns, many other writers at 64).
        return match super::openssh::read(text) {
            Ok(key) => Ok(KeyContent {
                encrypted: key.is_encrypted(),
            }),
            Err(_) => Err("a damaged OpenSSH private key"),
        };
    }
    let pem = text.contains("-----BEGIN ") && text.contains(" PRIVATE KEY-----");
    if !pem {
        return Err("not a key file");
    }
    Ok(KeyContent {
        encrypted: text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
            || text.contains("Proc-Type: 4,ENCRYPTED"),
    })
}

/// Looks for the key of `key_name` (the instance's KeyName).
pub fn find_key(
    explicit: Option<&Path>,
    key_name: Option<&str>,
    key_dirs: &[PathBuf],
    home: Option<&Path>,
) -> Result<KeyLookup, KeyError> {
    if let Some(path) = explicit {
        inspect(path)?;
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
        std::fs::write(path, include_str!("testdata/rsa-pkcs1.pem")).expect("write");
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
    fn key_files_are_told_from_what_is_not_one() {
        let table: Vec<(&str, Result<bool, &str>)> = vec![
            (include_str!("testdata/rsa-pkcs1.pem"), Ok(false)),
            (include_str!("testdata/rsa-pkcs8.pem"), Ok(false)),
            (include_str!("testdata/rsa-openssh.key"), Ok(false)),
            (include_str!("testdata/rsa-openssh-encrypted.key"), Ok(true)),
            (include_str!("testdata/rsa-pkcs8-encrypted.pem"), Ok(true)),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n",
                Ok(true),
            ),
            ("", Err("empty")),
            ("  \n", Err("empty")),
            ("ssh-ed25519 AAAAC3Nz comment\n", Err(PUBLIC_KEY)),
            (
                "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
                Err(PUBLIC_KEY),
            ),
            (
                "PuTTY-User-Key-File-3: ssh-rsa\nEncryption: none\n",
                Err(PUTTY_KEY),
            ),
            (
                "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
                Err("an X.509 certificate"),
            ),
            (
                "-----BEGIN OPENSSH PRIVATE KEY-----\nnot base64\n-----END OPENSSH PRIVATE KEY-----\n",
                Err("a damaged OpenSSH private key"),
            ),
            ("hello\n", Err("not a key file")),
        ];
        for (text, expected) in table {
            assert_eq!(
                classify(text.as_bytes()).map(|c| c.encrypted),
                expected,
                "{text:?}"
            );
        }
        assert_eq!(classify(&[0xff, 0xfe, 0x00]), Err("not a key file"));
    }

    /// `text` with the base64 body of its PEM block wrapped at `width`
    /// columns, as writers other than ssh-keygen wrap it.
    fn rewrapped(text: &str, width: usize) -> String {
        let lines: Vec<&str> = text.lines().collect();
        let body: String = lines[1..lines.len() - 1].concat();
        let wrapped: Vec<String> = body
            .as_bytes()
            .chunks(width)
            .map(|c| String::from_utf8(c.to_vec()).expect("base64 is ASCII"))
            .collect();
        format!(
            "{}\n{}\n{}\n",
            lines[0],
            wrapped.join("\n"),
            lines[lines.len() - 1]
        )
    }

    #[test]
    fn openssh_keys_are_read_at_any_line_width() {
        for (name, text, encrypted) in [
            ("rsa", include_str!("testdata/rsa-openssh.key"), false),
            (
                "rsa, encrypted",
                include_str!("testdata/rsa-openssh-encrypted.key"),
                true,
            ),
            (
                "ed25519",
                include_str!("testdata/ed25519-openssh.key"),
                false,
            ),
        ] {
            let narrow = rewrapped(text, 64);
            assert!(
                narrow.lines().nth(1).is_some_and(|l| l.len() == 64),
                "{name}: {narrow}"
            );
            assert_eq!(
                classify(narrow.as_bytes()).map(|c| c.encrypted),
                Ok(encrypted),
                "{name}"
            );
            // Through -i as well: the file is taken as the key it is.
            let tmp = tempfile::tempdir().expect("tmp");
            let path = tmp.path().join("key");
            std::fs::write(&path, &narrow).expect("write");
            assert_eq!(inspect(&path).expect(name).encrypted, encrypted, "{name}");
        }
    }

    #[test]
    fn an_identity_that_is_no_file_says_what_it_is() {
        let tmp = tempfile::tempdir().expect("tmp");
        assert!(matches!(
            inspect(tmp.path()),
            Err(KeyError::Directory(p)) if p == tmp.path()
        ));
        let empty = tmp.path().join("empty.pem");
        std::fs::write(&empty, "").expect("write");
        assert!(matches!(
            find_key(Some(&empty), None, &[], None),
            Err(KeyError::NotAPrivateKey { what: "empty", .. })
        ));
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
