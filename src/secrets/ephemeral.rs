//! One-time SSH keys, for EC2 Instance Connect: made in memory, written in
//! OpenSSH format (mode 0600) into a fresh private directory (0700) so that
//! ssh can take it with `-i`, and removed, file and directory, when the
//! [`EphemeralKey`] is dropped.
//!
//! Only the file's path ever goes on a command line; the private key never
//! does, nor into an environment. A berth killed outright (SIGKILL) cannot
//! remove its key: the next key made in the same place removes the
//! directories of berths that are gone. (The instance itself forgets the
//! public half 60 seconds after the push.)

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::model::named::Named;
use crate::platform::files::{new_private_dir, private_dir, write_new_private};
use ssh_key::private::{Ed25519Keypair, KeypairData, RsaKeypair};
use ssh_key::rand_core::{OsRng, RngCore as _};
use ssh_key::{LineEnding, PrivateKey};

/// The kind of key to make. EC2 Instance Connect takes RSA and ED25519.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyType {
    /// ED25519: small and fast to make.
    #[default]
    Ed25519,
    /// RSA of [`RSA_BITS`] bits, for instances whose ec2-instance-connect
    /// package predates ED25519 support.
    Rsa,
}

impl Named for KeyType {
    const WHAT: &'static str = "a key type";
    const ALL: &'static [(Self, &'static str, &'static str)] = &[
        (Self::Ed25519, "ed25519", "ED25519: small and fast to make"),
        (
            Self::Rsa,
            "rsa",
            "RSA, for instances whose ec2-instance-connect package predates ED25519",
        ),
    ];
}

crate::model::named::named_text!(KeyType);

impl KeyType {
    pub fn label(self) -> &'static str {
        match self {
            Self::Ed25519 => "ED25519",
            Self::Rsa => "RSA",
        }
    }

    /// The file name ssh-keygen would give it.
    fn file_name(self) -> &'static str {
        match self {
            Self::Ed25519 => "id_ed25519",
            Self::Rsa => "id_rsa",
        }
    }
}

/// The size of an RSA key: what EC2 itself makes for key pairs.
pub const RSA_BITS: usize = 2048;

/// The comment the public key carries, so that it can be told apart in an
/// instance's sshd log.
const COMMENT: &str = "berth-instance-connect";

/// The name of each key's directory: this prefix, then the pid of the berth
/// that made it, then random hex.
const DIR_PREFIX: &str = "ephemeral-";

#[derive(Debug, thiserror::Error)]
pub enum EphemeralKeyError {
    #[error("cannot make a one-time SSH key: {0}")]
    Generate(#[from] ssh_key::Error),
    #[error("cannot write the one-time SSH key to {}: {source}", .path.display())]
    Io { path: PathBuf, source: io::Error },
}

/// A one-time key pair whose private half is a file for ssh's `-i`.
#[derive(Debug)]
pub struct EphemeralKey {
    dir: PathBuf,
    path: PathBuf,
    public: String,
    key_type: KeyType,
}

impl EphemeralKey {
    /// Makes a key of `key_type` and writes its private half into a new
    /// directory under `parent` (created 0700 if missing).
    pub fn generate(parent: &Path, key_type: KeyType) -> Result<Self, EphemeralKeyError> {
        let private = new_private_key(key_type)?;
        let public = private.public_key().to_openssh()?;
        let pem = private.to_openssh(LineEnding::LF)?;
        let io_error = |path: &Path| {
            let path = path.to_owned();
            move |source| EphemeralKeyError::Io { path, source }
        };
        private_dir(parent).map_err(io_error(parent))?;
        remove_abandoned(parent);
        let dir = parent.join(format!(
            "{DIR_PREFIX}{}-{:016x}",
            std::process::id(),
            OsRng.next_u64()
        ));
        new_private_dir(&dir).map_err(io_error(&dir))?;
        // From here on, dropping the value cleans up after a failure too.
        let key = Self {
            path: dir.join(key_type.file_name()),
            dir,
            public,
            key_type,
        };
        write_new_private(&key.path, pem.as_bytes()).map_err(io_error(&key.path))?;
        Ok(key)
    }

    /// The private key file, for `ssh -i`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory that holds it, removed with it.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The public key in OpenSSH format (`ssh-ed25519 AAAA… comment`).
    pub fn public_openssh(&self) -> &str {
        &self.public
    }

    pub fn key_type(&self) -> KeyType {
        self.key_type
    }
}

impl Drop for EphemeralKey {
    fn drop(&mut self) {
        // Nothing useful to do about a failure here: the key is one-time,
        // and the next key made here sweeps what this berth left.
        let _ = fs::remove_file(&self.path);
        let _ = fs::remove_dir(&self.dir);
    }
}

fn new_private_key(key_type: KeyType) -> Result<PrivateKey, ssh_key::Error> {
    let data = match key_type {
        KeyType::Ed25519 => KeypairData::from(Ed25519Keypair::random(&mut OsRng)),
        KeyType::Rsa => KeypairData::from(RsaKeypair::random(&mut OsRng, RSA_BITS)?),
    };
    PrivateKey::new(data, COMMENT)
}

/// Removes the key directories under `parent` whose berth is gone.
fn remove_abandoned(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(DIR_PREFIX))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !crate::platform::process_alive(pid) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).expect("stat").permissions().mode() & 0o777
    }

    #[test]
    fn an_ed25519_key_is_private_parses_and_goes_away() {
        let tmp = tempfile::tempdir().expect("tmp");
        let parent = tmp.path().join("berth");
        let key = EphemeralKey::generate(&parent, KeyType::default()).expect("key");
        assert_eq!(key.key_type(), KeyType::Ed25519);
        assert!(key.path().starts_with(key.dir()) && key.dir().starts_with(&parent));
        #[cfg(unix)]
        {
            assert_eq!(mode(&parent), 0o700);
            assert_eq!(mode(key.dir()), 0o700);
            assert_eq!(mode(key.path()), 0o600);
        }

        let public = ssh_key::PublicKey::from_openssh(key.public_openssh()).expect("public");
        assert_eq!(public.algorithm(), ssh_key::Algorithm::Ed25519);
        assert_eq!(public.comment(), COMMENT);
        let private = crate::secrets::openssh::read(&fs::read_to_string(key.path()).expect("read"))
            .expect("private");
        assert!(!private.is_encrypted());
        assert_eq!(private.public_key().key_data(), public.key_data());

        let (dir, path) = (key.dir().to_owned(), key.path().to_owned());
        drop(key);
        assert!(!path.exists() && !dir.exists());
        // The shared parent stays for the next key.
        assert!(parent.is_dir());
    }

    #[test]
    fn an_rsa_key_has_2048_bits_or_more() {
        let tmp = tempfile::tempdir().expect("tmp");
        let key = EphemeralKey::generate(tmp.path(), KeyType::Rsa).expect("key");
        let private = crate::secrets::openssh::read(&fs::read_to_string(key.path()).expect("read"))
            .expect("private");
        let rsa = private.key_data().rsa().expect("an RSA key");
        // The modulus is an mpint: a leading zero byte keeps it positive.
        let bits = rsa.public.n.as_positive_bytes().expect("positive").len() * 8;
        assert!(bits >= 2048, "{bits} bits");
        assert!(key.public_openssh().starts_with("ssh-rsa "));
    }

    #[test]
    fn each_key_gets_its_own_directory() {
        let tmp = tempfile::tempdir().expect("tmp");
        let a = EphemeralKey::generate(tmp.path(), KeyType::Ed25519).expect("a");
        let b = EphemeralKey::generate(tmp.path(), KeyType::Ed25519).expect("b");
        assert_ne!(a.dir(), b.dir());
        assert_ne!(a.public_openssh(), b.public_openssh());
        drop(a);
        assert!(b.path().exists(), "a live berth's key is not swept");
    }

    #[test]
    fn keys_of_berths_that_are_gone_are_swept() {
        let tmp = tempfile::tempdir().expect("tmp");
        // No process has a pid this large on Linux (pid_max is at most 2^22).
        let abandoned = tmp.path().join(format!("{DIR_PREFIX}4294967290-00ff"));
        let unrelated = tmp.path().join("something-else");
        for dir in [&abandoned, &unrelated] {
            fs::create_dir(dir).expect("mkdir");
            fs::write(dir.join("id_ed25519"), "key").expect("write");
        }
        let _key = EphemeralKey::generate(tmp.path(), KeyType::Ed25519).expect("key");
        assert!(!abandoned.exists());
        assert!(unrelated.exists());
    }

    #[test]
    fn a_parent_that_cannot_be_made_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().expect("tmp");
        let file = tmp.path().join("a-file");
        fs::write(&file, "").expect("write");
        let err = EphemeralKey::generate(&file.join("sub"), KeyType::Ed25519).expect_err("fails");
        assert!(err.to_string().contains("a-file"), "{err}");
    }
}
