//! Decrypting a Windows instance's Administrator password.
//!
//! EC2's GetPasswordData answers with the password RSA-encrypted (PKCS#1
//! v1.5 padding) to the public key of the instance's key pair, in base64.
//! This module turns that and the key pair's private key into the password:
//! pure functions over text, no files, no prompts, no processes.
//!
//! Accepted private keys are the encodings people actually hold: PKCS#1
//! (`BEGIN RSA PRIVATE KEY`, what EC2's CreateKeyPair returns), PKCS#8
//! (`BEGIN PRIVATE KEY`), encrypted PKCS#8 (`BEGIN ENCRYPTED PRIVATE
//! KEY`) and OpenSSH's own format, passphrase-protected or not. ED25519
//! key pairs cannot decrypt anything, and EC2 never encrypts a Windows
//! password to one: that is a typed error with the explanation.
//!
//! Invariant: the password and the passphrase live in buffers that are
//! wiped when dropped, and neither ever appears in a `Debug` output or an
//! error message.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use pkcs8::der::zeroize::Zeroizing;
use pkcs8::{EncryptedPrivateKeyInfo, ObjectIdentifier, PrivateKeyInfo, SecretDocument};
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::{BigUint, Pkcs1v15Encrypt, RsaPrivateKey};

/// `rsaEncryption` (RFC 8017).
const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// `id-Ed25519` (RFC 8410).
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// `id-ecPublicKey` (RFC 5480).
const OID_EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

/// A decrypted Windows password. It never prints itself: `Debug` shows
/// `<redacted>`, there is no `Display`, and its memory is wiped on drop.
/// [`expose`](Self::expose) is the one way to read it.
pub struct WindowsPassword(Zeroizing<String>);

impl WindowsPassword {
    /// The password itself, for the one place that must hand it over
    /// (a client's stdin, the clipboard, or `--print-password`).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for WindowsPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WindowsPassword(<redacted>)")
    }
}

/// An RSA private key, ready to decrypt. Its `Debug` names only the size.
pub struct RsaKey(RsaPrivateKey);

impl fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use rsa::traits::PublicKeyParts as _;
        write!(f, "RsaKey({} bits)", self.0.size() * 8)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("this is an ED25519 key; Windows passwords are encrypted to RSA key pairs only")]
    Ed25519,
    #[error("this is {kind} key; Windows passwords are encrypted to RSA key pairs only")]
    NotRsa { kind: &'static str },
    #[error("this is not a private key berth can read ({detail})")]
    NotAKey { detail: String },
    #[error("the private key is protected by a passphrase")]
    PassphraseNeeded,
    #[error("the passphrase does not open this private key")]
    WrongPassphrase,
    #[error("the private key is encrypted with OpenSSL's legacy PEM encryption")]
    LegacyPemEncryption,
    #[error("EC2's password data is not base64")]
    BadPasswordData,
    #[error("this key did not encrypt the password: is it the key pair's private key?")]
    WrongKey,
}

impl crate::model::hint::Hint for PasswordError {
    /// What to do next.
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::Ed25519 | Self::NotRsa { .. } => {
                "if the instance's key pair is RSA, pass its private key with -i FILE; if the \
                 key pair itself is not RSA, no key can decrypt the password: reset it through \
                 Session Manager (the AWSSupport-ResetAccess automation)"
                    .to_owned()
            }
            Self::NotAKey { .. } => "pass the key pair's private key (the .pem file EC2 gave you, \
                 or an OpenSSH private key) with -i FILE"
                .to_owned(),
            Self::PassphraseNeeded => {
                "run berth on a terminal to be asked for it, or pass --passphrase-file FILE"
                    .to_owned()
            }
            Self::WrongPassphrase => "check the passphrase (or the --passphrase-file)".to_owned(),
            Self::LegacyPemEncryption => "convert it to encrypted PKCS#8 with \
                 `openssl pkcs8 -topk8 -in OLD.pem -out NEW.pem` (or to OpenSSH's format with \
                 `ssh-keygen -p -f FILE`), then use the new file"
                .to_owned(),
            Self::BadPasswordData => "EC2 answered something unexpected; ask again with \
                 `aws ec2 get-password-data --instance-id ID`"
                .to_owned(),
            Self::WrongKey => "the instance was launched with another key pair: pass its \
                 private key with -i FILE (`berth show TARGET` names the key pair)"
                .to_owned(),
        })
    }
}

/// Reads a private key in any accepted encoding. `passphrase` is used only
/// if the key is encrypted; without one an encrypted key is
/// [`PasswordError::PassphraseNeeded`], so a caller can ask and retry.
pub fn load_private_key(text: &str, passphrase: Option<&[u8]>) -> Result<RsaKey, PasswordError> {
    let label = pem_label(text).ok_or_else(|| PasswordError::NotAKey {
        detail: "no `-----BEGIN … PRIVATE KEY-----` line".to_owned(),
    })?;
    let not_a_key = |e: &dyn fmt::Display| PasswordError::NotAKey {
        detail: e.to_string(),
    };
    match label {
        "RSA PRIVATE KEY" => {
            if text.contains("Proc-Type:") && text.contains("ENCRYPTED") {
                return Err(PasswordError::LegacyPemEncryption);
            }
            RsaPrivateKey::from_pkcs1_pem(text)
                .map(RsaKey)
                .map_err(|e| not_a_key(&e))
        }
        "PRIVATE KEY" => {
            let (_, document) = SecretDocument::from_pem(text).map_err(|e| not_a_key(&e))?;
            from_pkcs8_der(document.as_bytes())
        }
        "ENCRYPTED PRIVATE KEY" => {
            let (_, document) = SecretDocument::from_pem(text).map_err(|e| not_a_key(&e))?;
            let info = EncryptedPrivateKeyInfo::try_from(document.as_bytes())
                .map_err(|e| not_a_key(&e))?;
            let passphrase = passphrase.ok_or(PasswordError::PassphraseNeeded)?;
            let decrypted = info
                .decrypt(passphrase)
                .map_err(|_| PasswordError::WrongPassphrase)?;
            // A wrong passphrase can decrypt to garbage with valid padding.
            from_pkcs8_der(decrypted.as_bytes()).map_err(|e| match e {
                PasswordError::NotAKey { .. } => PasswordError::WrongPassphrase,
                other => other,
            })
        }
        "OPENSSH PRIVATE KEY" => from_openssh(text, passphrase),
        "EC PRIVATE KEY" => Err(PasswordError::NotRsa { kind: "an ECDSA" }),
        "DSA PRIVATE KEY" => Err(PasswordError::NotRsa { kind: "a DSA" }),
        other => Err(PasswordError::NotAKey {
            detail: format!("a PEM block labelled `{other}`"),
        }),
    }
}

/// Decrypts GetPasswordData's `PasswordData` with the key pair's key.
pub fn decrypt_password(
    password_data: &str,
    key: &RsaKey,
) -> Result<WindowsPassword, PasswordError> {
    let compact: String = password_data
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let ciphertext = BASE64
        .decode(compact)
        .map_err(|_| PasswordError::BadPasswordData)?;
    // PKCS#1 v1.5 padding fails to check out under any other key (bar a
    // chance of about 2^-16, which the UTF-8 check below narrows further).
    let plain = Zeroizing::new(
        key.0
            .decrypt(Pkcs1v15Encrypt, &ciphertext)
            .map_err(|_| PasswordError::WrongKey)?,
    );
    let text = std::str::from_utf8(&plain).map_err(|_| PasswordError::WrongKey)?;
    if text.is_empty() || text.chars().any(char::is_control) {
        return Err(PasswordError::WrongKey);
    }
    Ok(WindowsPassword(Zeroizing::new(text.to_owned())))
}

/// The label of the first PEM block (`RSA PRIVATE KEY`, …).
fn pem_label(text: &str) -> Option<&str> {
    text.lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("-----BEGIN ")?.strip_suffix("-----"))
}

fn from_pkcs8_der(der: &[u8]) -> Result<RsaKey, PasswordError> {
    let info = PrivateKeyInfo::try_from(der).map_err(|e| PasswordError::NotAKey {
        detail: e.to_string(),
    })?;
    match info.algorithm.oid {
        OID_RSA => {
            RsaPrivateKey::from_pkcs8_der(der)
                .map(RsaKey)
                .map_err(|e| PasswordError::NotAKey {
                    detail: e.to_string(),
                })
        }
        OID_ED25519 => Err(PasswordError::Ed25519),
        OID_EC => Err(PasswordError::NotRsa { kind: "an ECDSA" }),
        oid => Err(PasswordError::NotAKey {
            detail: format!("a PKCS#8 key of algorithm {oid}"),
        }),
    }
}

fn from_openssh(text: &str, passphrase: Option<&[u8]>) -> Result<RsaKey, PasswordError> {
    use ssh_key::Algorithm;
    use ssh_key::private::KeypairData;

    let key = super::openssh::read(text).map_err(|detail| PasswordError::NotAKey { detail })?;
    // The algorithm is in the clear, so an ED25519 key is told apart
    // without asking for its passphrase.
    match key.algorithm() {
        Algorithm::Rsa { .. } => {}
        Algorithm::Ed25519 | Algorithm::SkEd25519 => return Err(PasswordError::Ed25519),
        Algorithm::Ecdsa { .. } | Algorithm::SkEcdsaSha2NistP256 => {
            return Err(PasswordError::NotRsa { kind: "an ECDSA" });
        }
        Algorithm::Dsa => return Err(PasswordError::NotRsa { kind: "a DSA" }),
        _ => return Err(PasswordError::NotRsa { kind: "a non-RSA" }),
    }
    let key = if key.is_encrypted() {
        let passphrase = passphrase.ok_or(PasswordError::PassphraseNeeded)?;
        key.decrypt(passphrase)
            .map_err(|_| PasswordError::WrongPassphrase)?
    } else {
        key
    };
    let KeypairData::Rsa(pair) = key.key_data() else {
        return Err(PasswordError::NotRsa { kind: "a non-RSA" });
    };
    let int = |m: &ssh_key::Mpint| {
        m.as_positive_bytes()
            .map(BigUint::from_bytes_be)
            .ok_or_else(|| PasswordError::NotAKey {
                detail: "an RSA key with a negative component".to_owned(),
            })
    };
    // Built from the components (not ssh-key's own conversion) so that both
    // primes are used as they are.
    RsaPrivateKey::from_components(
        int(&pair.public.n)?,
        int(&pair.public.e)?,
        int(&pair.private.d)?,
        vec![int(&pair.private.p)?, int(&pair.private.q)?],
    )
    .map(RsaKey)
    .map_err(|e| PasswordError::NotAKey {
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::hint::Hint as _;

    /// Vectors made with openssl and ssh-keygen: see testdata/README.md.
    const PASSWORD_DATA: &str = include_str!("testdata/password-data.b64");
    const PASSWORD: &str = "Xy7%kq;P2m(Tz!9aVb=L";
    const PASSPHRASE: &[u8] = b"correct-horse";
    const PKCS1: &str = include_str!("testdata/rsa-pkcs1.pem");
    const PKCS8: &str = include_str!("testdata/rsa-pkcs8.pem");
    const PKCS8_ENCRYPTED: &str = include_str!("testdata/rsa-pkcs8-encrypted.pem");
    const OPENSSH: &str = include_str!("testdata/rsa-openssh.key");
    const OPENSSH_ENCRYPTED: &str = include_str!("testdata/rsa-openssh-encrypted.key");
    const ED25519_OPENSSH: &str = include_str!("testdata/ed25519-openssh.key");
    const ED25519_PKCS8: &str = include_str!("testdata/ed25519-pkcs8.pem");
    const OTHER_RSA: &str = include_str!("testdata/other-rsa-pkcs1.pem");

    fn decrypt(key: &str, passphrase: Option<&[u8]>) -> Result<WindowsPassword, PasswordError> {
        decrypt_password(PASSWORD_DATA, &load_private_key(key, passphrase)?)
    }

    #[test]
    fn every_rsa_encoding_decrypts_the_password() {
        for (name, key, passphrase) in [
            ("PKCS#1", PKCS1, None),
            ("PKCS#8", PKCS8, None),
            ("encrypted PKCS#8", PKCS8_ENCRYPTED, Some(PASSPHRASE)),
            ("OpenSSH", OPENSSH, None),
            (
                "OpenSSH with a passphrase",
                OPENSSH_ENCRYPTED,
                Some(PASSPHRASE),
            ),
            // A passphrase given for a key that has none is not used.
            ("PKCS#1, passphrase unused", PKCS1, Some(PASSPHRASE)),
        ] {
            let password = decrypt(key, passphrase).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(password.expose(), PASSWORD, "{name}");
        }
    }

    #[test]
    fn an_openssh_key_wrapped_at_64_columns_reads_too() {
        // Python's cryptography (and so moto) wraps OpenSSH keys at 64.
        let mut lines = OPENSSH.lines();
        let begin = lines.next().expect("BEGIN");
        let body: String = lines
            .by_ref()
            .take_while(|l| !l.starts_with("-----END"))
            .collect();
        let wrapped: Vec<String> = body
            .as_bytes()
            .chunks(64)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        let key = format!(
            "{begin}\n{}\n-----END OPENSSH PRIVATE KEY-----\n",
            wrapped.join("\n")
        );
        assert_ne!(key, OPENSSH);
        let password = decrypt(&key, None).expect("64-column key");
        assert_eq!(password.expose(), PASSWORD);
    }

    #[test]
    fn encrypted_keys_ask_for_their_passphrase_and_check_it() {
        for key in [PKCS8_ENCRYPTED, OPENSSH_ENCRYPTED] {
            assert_eq!(
                decrypt(key, None).map(|_| ()),
                Err(PasswordError::PassphraseNeeded)
            );
            assert_eq!(
                decrypt(key, Some(b"wrong")).map(|_| ()),
                Err(PasswordError::WrongPassphrase)
            );
        }
    }

    #[test]
    fn ed25519_keys_are_explained_not_tried() {
        for key in [ED25519_OPENSSH, ED25519_PKCS8] {
            let err = load_private_key(key, None).expect_err("ed25519");
            assert_eq!(err, PasswordError::Ed25519);
            assert!(err.to_string().contains("RSA key pairs only"), "{err}");
            assert!(
                err.hint().unwrap_or_default().contains("-i FILE"),
                "{}",
                err.hint().unwrap_or_default()
            );
        }
    }

    #[test]
    fn another_rsa_key_is_the_wrong_key() {
        let err = decrypt(OTHER_RSA, None).expect_err("wrong key");
        assert_eq!(err, PasswordError::WrongKey);
        assert_eq!(
            err.to_string(),
            "this key did not encrypt the password: is it the key pair's private key?"
        );
    }

    #[test]
    fn malformed_input_is_a_clear_error() {
        let key = load_private_key(PKCS1, None).expect("key");
        assert_eq!(
            decrypt_password("not base64!", &key).map(|_| ()),
            Err(PasswordError::BadPasswordData)
        );
        // Line breaks inside the base64 are fine, as EC2 may send them.
        let wrapped = format!("{}\r\n{}", &PASSWORD_DATA[..40], &PASSWORD_DATA[40..]);
        assert_eq!(
            decrypt_password(&wrapped, &key).expect("wrapped").expose(),
            PASSWORD
        );
        for text in ["", "hello", "-----BEGIN CERTIFICATE-----\nAAAA\n"] {
            assert!(
                matches!(
                    load_private_key(text, None),
                    Err(PasswordError::NotAKey { .. })
                ),
                "{text:?}"
            );
        }
        let legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\
                      DEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        assert_eq!(
            load_private_key(legacy, None).map(|_| ()),
            Err(PasswordError::LegacyPemEncryption)
        );
    }

    #[test]
    fn secrets_never_print_themselves() {
        let password = decrypt(PKCS1, None).expect("password");
        let key = load_private_key(PKCS1, None).expect("key");
        let shown = format!("{password:?} {key:?}");
        assert_eq!(shown, "WindowsPassword(<redacted>) RsaKey(2048 bits)");
        assert!(!shown.contains(PASSWORD));
    }
}
