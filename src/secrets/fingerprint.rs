//! Does a local private key belong to an EC2 key pair? Compares the key
//! file's fingerprints with the pair's `KeyFingerprint`.
//!
//! EC2 fingerprints a key pair one of three ways (EC2 User Guide, "Verify
//! the fingerprint of your key pair"):
//!
//! * RSA key pairs EC2 created: SHA-1 of the private key as PKCS#8 DER,
//!   hex with colons (`openssl pkcs8 -topk8 -nocrypt -outform DER | openssl sha1 -c`);
//! * imported RSA keys: MD5 of the public key as SubjectPublicKeyInfo DER,
//!   hex with colons (the RFC 4716 fingerprint);
//! * ED25519 key pairs, created or imported: SHA-256 of the OpenSSH public
//!   key blob in base64, as `ssh-keygen -l` prints it, but without the
//!   `SHA256:` prefix and with `=` padding.
//!
//! Any hash of the same public key identifies the same key, so a match on
//! another hash of it is as good as a match on the documented one. berth
//! therefore also accepts the forms moto (the tests' stand-in for EC2)
//! reports: SHA-1 of the SubjectPublicKeyInfo for RSA keys it created and
//! SHA-256 of the SubjectPublicKeyInfo, hex with colons, for ED25519.
//!
//! Only the created-RSA form needs the private half. An encrypted OpenSSH
//! key still shows its public half, so every other form can be checked
//! without the passphrase; an encrypted PEM key shows nothing, and the
//! answer is [`FingerprintMatch::Encrypted`]. Nothing here keeps or prints
//! key material: only digests leave this module.

use std::fmt;

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use pkcs8::der::asn1::{BitStringRef, ObjectIdentifier, OctetStringRef};
use pkcs8::der::{Decode, Encode};
use pkcs8::spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};
use pkcs8::{PrivateKeyInfo, der};
use rsa::BigUint;
use rsa::pkcs1;
use sha2::Digest;
use ssh_key::private::{Ed25519Keypair, KeypairData, RsaKeypair};
use ssh_key::public::{Ed25519PublicKey, KeyData, RsaPublicKey};
use ssh_key::{HashAlg, Mpint};

/// Standard base64 that reads EC2's padded and ssh-keygen's unpadded form.
const BASE64_PADDING_OPTIONAL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// id-Ed25519 (RFC 8410).
const ED25519_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// The key types EC2 key pairs come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    Rsa,
    Ed25519,
}

/// How a fingerprint was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FingerprintKind {
    /// SHA-1 of the private key's PKCS#8 DER: EC2's form for RSA key pairs
    /// it created. Needs the private half.
    Ec2CreatedRsa,
    /// MD5 of the public key's SubjectPublicKeyInfo DER: EC2's form for
    /// imported RSA keys.
    Ec2ImportedRsa,
    /// SHA-256 of the OpenSSH public key blob: EC2's form for ED25519 key
    /// pairs, and what `ssh-keygen -l` prints for any key.
    OpenSshSha256,
    /// SHA-1 of the SubjectPublicKeyInfo DER: moto's form for RSA key
    /// pairs it created.
    SpkiSha1,
    /// SHA-256 of the SubjectPublicKeyInfo DER: moto's form for ED25519.
    SpkiSha256,
}

impl FingerprintKind {
    /// Whether EC2 documents this form for some key pair of `algorithm`.
    pub fn documented_for(self, algorithm: KeyAlgorithm) -> bool {
        match self {
            Self::Ec2CreatedRsa | Self::Ec2ImportedRsa => algorithm == KeyAlgorithm::Rsa,
            Self::OpenSshSha256 => algorithm == KeyAlgorithm::Ed25519,
            Self::SpkiSha1 | Self::SpkiSha256 => false,
        }
    }

    /// Length of the digest in bytes.
    fn digest_len(self) -> usize {
        match self {
            Self::Ec2ImportedRsa => 16,
            Self::Ec2CreatedRsa | Self::SpkiSha1 => 20,
            Self::OpenSshSha256 | Self::SpkiSha256 => 32,
        }
    }

    /// A short name for output: what EC2 (or moto) would call it.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Ec2CreatedRsa => "SHA-1 of the PKCS#8 private key (key pair created by EC2)",
            Self::Ec2ImportedRsa => "MD5 of the public key (imported key pair)",
            Self::OpenSshSha256 => "SHA-256 of the OpenSSH public key",
            Self::SpkiSha1 => "SHA-1 of the public key",
            Self::SpkiSha256 => "SHA-256 of the public key",
        }
    }
}

/// One fingerprint of a local key. Displays as EC2 (or moto) writes it:
/// base64 with padding for [`FingerprintKind::OpenSshSha256`], otherwise
/// lower-case hex pairs joined by colons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub kind: FingerprintKind,
    digest: Vec<u8>,
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind == FingerprintKind::OpenSshSha256 {
            return f.write_str(&STANDARD.encode(&self.digest));
        }
        for (i, byte) in self.digest.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// What could be learnt from a private key file without its passphrase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalKey {
    /// `None` only for an encrypted PKCS#8 file, which hides even that.
    pub algorithm: Option<KeyAlgorithm>,
    /// The file is passphrase-protected.
    pub encrypted: bool,
    /// Every fingerprint computable without the passphrase.
    pub fingerprints: Vec<Fingerprint>,
    /// Forms that would need the passphrase.
    pub unavailable: Vec<FingerprintKind>,
}

impl LocalKey {
    /// Reads a private key file's contents: PKCS#1 or PKCS#8 PEM, or the
    /// OpenSSH format; RSA or ED25519; encrypted or not.
    pub fn parse(text: &str) -> Result<Self, FingerprintError> {
        let text = text.trim_start();
        if text.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----") {
            return from_openssh(text);
        }
        let Some(start) = text.find("-----BEGIN ") else {
            return Err(FingerprintError::NotAKey);
        };
        from_pem(&text[start..])
    }

    /// The fingerprints EC2 documents for this key's type, in the order
    /// worth showing: the forms it reports for created, then imported keys.
    pub fn documented(&self) -> impl Iterator<Item = &Fingerprint> {
        let algorithm = self.algorithm;
        self.fingerprints
            .iter()
            .filter(move |f| algorithm.is_some_and(|a| f.kind.documented_for(a)))
    }

    /// Compares with a `KeyFingerprint` as EC2 reports it.
    pub fn matches(&self, ec2_fingerprint: &str) -> Result<FingerprintMatch, FingerprintError> {
        let candidates = decode_fingerprint(ec2_fingerprint)?;
        if let Some(found) = self
            .fingerprints
            .iter()
            .find(|f| candidates.contains(&f.digest))
        {
            return Ok(FingerprintMatch::Match(found.kind));
        }
        let might_be_hidden = self
            .unavailable
            .iter()
            .any(|kind| candidates.iter().any(|c| c.len() == kind.digest_len()));
        Ok(if might_be_hidden {
            FingerprintMatch::Encrypted
        } else {
            FingerprintMatch::Mismatch
        })
    }
}

/// The verdict on a local key against EC2's fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FingerprintMatch {
    /// The key is the key pair's; the form that matched.
    Match(FingerprintKind),
    /// The key belongs to another key pair.
    Mismatch,
    /// The key is encrypted, and the fingerprint is of a form only the
    /// decrypted key gives: cannot check without the passphrase.
    Encrypted,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FingerprintError {
    #[error("not a private key in a format berth reads (PEM or OpenSSH)")]
    NotAKey,
    #[error("the key is {0}; EC2 key pairs are RSA or ED25519")]
    UnsupportedAlgorithm(String),
    #[error("the private key file is damaged: {0}")]
    Malformed(String),
    #[error("{0:?} is not a key fingerprint (hex pairs or base64)")]
    BadFingerprint(String),
}

/// Whether the private key in `local_key_text` is the one EC2 reports as
/// `ec2_fingerprint`.
pub fn matches(
    local_key_text: &str,
    ec2_fingerprint: &str,
) -> Result<FingerprintMatch, FingerprintError> {
    LocalKey::parse(local_key_text)?.matches(ec2_fingerprint)
}

/// The documented EC2 fingerprints of a local key, for display.
pub fn documented_fingerprints(local_key_text: &str) -> Result<Vec<Fingerprint>, FingerprintError> {
    Ok(LocalKey::parse(local_key_text)?
        .documented()
        .cloned()
        .collect())
}

fn malformed(e: impl fmt::Display) -> FingerprintError {
    FingerprintError::Malformed(e.to_string())
}

fn from_openssh(text: &str) -> Result<LocalKey, FingerprintError> {
    let key = super::openssh::read(text).map_err(malformed)?;
    match key.key_data() {
        KeypairData::Rsa(pair) => rsa_key(&pkcs1_from_openssh(pair)?),
        KeypairData::Ed25519(pair) => Ok(ed25519_key(&pair.public, false)),
        // The public half of an encrypted key is stored in the clear.
        KeypairData::Encrypted(_) => match key.public_key().key_data() {
            KeyData::Rsa(public) => {
                let spki = rsa_spki(&public.n, &public.e)?;
                Ok(LocalKey {
                    algorithm: Some(KeyAlgorithm::Rsa),
                    encrypted: true,
                    fingerprints: rsa_public_fingerprints(&spki, key.public_key().key_data()),
                    unavailable: vec![FingerprintKind::Ec2CreatedRsa],
                })
            }
            KeyData::Ed25519(public) => Ok(ed25519_key(public, true)),
            other => Err(FingerprintError::UnsupportedAlgorithm(
                other.algorithm().to_string(),
            )),
        },
        other => Err(FingerprintError::UnsupportedAlgorithm(
            other
                .algorithm()
                .map_or_else(|_| "unknown".to_owned(), |a| a.to_string()),
        )),
    }
}

fn from_pem(text: &str) -> Result<LocalKey, FingerprintError> {
    let label = der::pem::decode_label(text.as_bytes()).map_err(|_| FingerprintError::NotAKey)?;
    // RFC 1421 encryption headers ("Proc-Type: 4,ENCRYPTED") inside a
    // PKCS#1 block, or a PKCS#8 EncryptedPrivateKeyInfo: nothing readable.
    let encrypted_pkcs1 = label == "RSA PRIVATE KEY" && text.contains("Proc-Type: 4,ENCRYPTED");
    if encrypted_pkcs1 || label == "ENCRYPTED PRIVATE KEY" {
        let algorithm = encrypted_pkcs1.then_some(KeyAlgorithm::Rsa);
        return Ok(LocalKey {
            algorithm,
            encrypted: true,
            fingerprints: Vec::new(),
            unavailable: vec![
                FingerprintKind::Ec2CreatedRsa,
                FingerprintKind::Ec2ImportedRsa,
                FingerprintKind::OpenSshSha256,
                FingerprintKind::SpkiSha1,
                FingerprintKind::SpkiSha256,
            ],
        });
    }
    let (label, der_bytes) = der::pem::decode_vec(text.as_bytes()).map_err(malformed)?;
    match label {
        "RSA PRIVATE KEY" => rsa_key(&der_bytes),
        "PRIVATE KEY" => {
            let info = PrivateKeyInfo::from_der(&der_bytes).map_err(malformed)?;
            if info.algorithm.oid == pkcs1::ALGORITHM_OID {
                rsa_key(info.private_key)
            } else if info.algorithm.oid == ED25519_OID {
                // RFC 8410: the private key is an OCTET STRING holding the seed.
                let seed = OctetStringRef::from_der(info.private_key).map_err(malformed)?;
                let seed: &[u8; 32] = seed
                    .as_bytes()
                    .try_into()
                    .map_err(|_| malformed("an ED25519 seed is 32 bytes"))?;
                Ok(ed25519_key(&Ed25519Keypair::from_seed(seed).public, false))
            } else {
                Err(FingerprintError::UnsupportedAlgorithm(format!(
                    "a key with algorithm {}",
                    info.algorithm.oid
                )))
            }
        }
        "EC PRIVATE KEY" => Err(FingerprintError::UnsupportedAlgorithm("ECDSA".to_owned())),
        "DSA PRIVATE KEY" => Err(FingerprintError::UnsupportedAlgorithm("DSA".to_owned())),
        _ => Err(FingerprintError::NotAKey),
    }
}

/// The fingerprints of an RSA key given as PKCS#1 RSAPrivateKey DER.
fn rsa_key(pkcs1_der: &[u8]) -> Result<LocalKey, FingerprintError> {
    let private = pkcs1::RsaPrivateKey::from_der(pkcs1_der).map_err(malformed)?;
    // Re-encoded rather than hashed as read, so the hash is over DER exactly
    // as `openssl pkcs8 -topk8` writes it.
    let pkcs1_der = private.to_der().map_err(malformed)?;
    let pkcs8_der = PrivateKeyInfo::new(pkcs1::ALGORITHM_ID, &pkcs1_der)
        .to_der()
        .map_err(malformed)?;
    let n = Mpint::from_positive_bytes(private.modulus.as_bytes()).map_err(malformed)?;
    let e = Mpint::from_positive_bytes(private.public_exponent.as_bytes()).map_err(malformed)?;
    let spki = rsa_spki(&n, &e)?;
    let openssh = KeyData::Rsa(RsaPublicKey { e, n });
    let mut fingerprints = vec![Fingerprint {
        kind: FingerprintKind::Ec2CreatedRsa,
        digest: sha1::Sha1::digest(&pkcs8_der).to_vec(),
    }];
    fingerprints.extend(rsa_public_fingerprints(&spki, &openssh));
    Ok(LocalKey {
        algorithm: Some(KeyAlgorithm::Rsa),
        encrypted: false,
        fingerprints,
        unavailable: Vec::new(),
    })
}

/// Everything that hashes an RSA public key.
fn rsa_public_fingerprints(spki: &[u8], openssh: &KeyData) -> Vec<Fingerprint> {
    vec![
        Fingerprint {
            kind: FingerprintKind::Ec2ImportedRsa,
            digest: md5::Md5::digest(spki).to_vec(),
        },
        Fingerprint {
            kind: FingerprintKind::OpenSshSha256,
            digest: openssh.fingerprint(HashAlg::Sha256).as_bytes().to_vec(),
        },
        Fingerprint {
            kind: FingerprintKind::SpkiSha1,
            digest: sha1::Sha1::digest(spki).to_vec(),
        },
    ]
}

/// SubjectPublicKeyInfo DER of an RSA public key.
fn rsa_spki(n: &Mpint, e: &Mpint) -> Result<Vec<u8>, FingerprintError> {
    let public = pkcs1::RsaPublicKey {
        modulus: uint(positive(n)?)?,
        public_exponent: uint(positive(e)?)?,
    }
    .to_der()
    .map_err(malformed)?;
    SubjectPublicKeyInfoRef {
        algorithm: pkcs1::ALGORITHM_ID,
        subject_public_key: BitStringRef::from_bytes(&public).map_err(malformed)?,
    }
    .to_der()
    .map_err(malformed)
}

/// An OpenSSH RSA key as PKCS#1 RSAPrivateKey DER. OpenSSH keeps n, e, d,
/// p, q and q⁻¹ mod p; PKCS#1 adds d mod (p-1) and d mod (q-1).
fn pkcs1_from_openssh(pair: &RsaKeypair) -> Result<Vec<u8>, FingerprintError> {
    let bytes = positive;
    let d = BigUint::from_bytes_be(bytes(&pair.private.d)?);
    let p = BigUint::from_bytes_be(bytes(&pair.private.p)?);
    let q = BigUint::from_bytes_be(bytes(&pair.private.q)?);
    let one = BigUint::from(1u8);
    if p <= one || q <= one {
        return Err(malformed("RSA primes are greater than 1"));
    }
    let dp = (&d % (&p - &one)).to_bytes_be();
    let dq = (&d % (&q - &one)).to_bytes_be();
    pkcs1::RsaPrivateKey {
        modulus: uint(bytes(&pair.public.n)?)?,
        public_exponent: uint(bytes(&pair.public.e)?)?,
        private_exponent: uint(bytes(&pair.private.d)?)?,
        prime1: uint(bytes(&pair.private.p)?)?,
        prime2: uint(bytes(&pair.private.q)?)?,
        exponent1: uint(&dp)?,
        exponent2: uint(&dq)?,
        coefficient: uint(bytes(&pair.private.iqmp)?)?,
        other_prime_infos: None,
    }
    .to_der()
    .map_err(malformed)
}

fn positive(m: &Mpint) -> Result<&[u8], FingerprintError> {
    m.as_positive_bytes()
        .ok_or_else(|| malformed("RSA numbers are positive"))
}

fn uint(bytes: &[u8]) -> Result<pkcs1::UintRef<'_>, FingerprintError> {
    pkcs1::UintRef::new(bytes).map_err(malformed)
}

/// The fingerprints of an ED25519 public key; all of them are public.
fn ed25519_key(public: &Ed25519PublicKey, encrypted: bool) -> LocalKey {
    let openssh = KeyData::Ed25519(*public);
    let mut fingerprints = vec![Fingerprint {
        kind: FingerprintKind::OpenSshSha256,
        digest: openssh.fingerprint(HashAlg::Sha256).as_bytes().to_vec(),
    }];
    let spki = BitStringRef::from_bytes(public.as_ref()).and_then(|bits| {
        SubjectPublicKeyInfoRef {
            algorithm: AlgorithmIdentifierRef {
                oid: ED25519_OID,
                parameters: None,
            },
            subject_public_key: bits,
        }
        .to_der()
    });
    // Encoding 32 bytes under a fixed header cannot fail; were it to, the
    // documented form above still identifies the key.
    if let Ok(spki) = spki {
        fingerprints.push(Fingerprint {
            kind: FingerprintKind::SpkiSha256,
            digest: sha2::Sha256::digest(&spki).to_vec(),
        });
    }
    LocalKey {
        algorithm: Some(KeyAlgorithm::Ed25519),
        encrypted,
        fingerprints,
        unavailable: Vec::new(),
    }
}

/// The digest(s) a fingerprint string may stand for. Hex (EC2's RSA forms,
/// moto's) compares case-insensitively with or without colons; base64
/// (ED25519) is case-sensitive by nature and its `=` padding optional, as
/// EC2 pads and `ssh-keygen` does not. Both readings are tried: no hex
/// string of a digest's length decodes as base64 to a digest's length.
fn decode_fingerprint(text: &str) -> Result<Vec<Vec<u8>>, FingerprintError> {
    let trimmed = text.trim();
    let body = ["SHA256:", "SHA1:", "MD5:"]
        .iter()
        .find_map(|prefix| {
            trimmed
                .get(..prefix.len())
                .filter(|head| head.eq_ignore_ascii_case(prefix))
                .map(|_| &trimmed[prefix.len()..])
        })
        .unwrap_or(trimmed);
    let mut candidates = Vec::new();
    if let Some(digest) = decode_hex(body) {
        candidates.push(digest);
    }
    if let Ok(digest) = BASE64_PADDING_OPTIONAL.decode(body) {
        candidates.push(digest);
    }
    candidates.retain(|c| [16, 20, 32].contains(&c.len()));
    if candidates.is_empty() {
        return Err(FingerprintError::BadFingerprint(text.to_owned()));
    }
    Ok(candidates)
}

/// `aa:BB:cc…` or `aabbcc…` as bytes.
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.is_ascii() {
        return None;
    }
    let pairs: Vec<&str> = if text.contains(':') {
        text.split(':').collect()
    } else if text.len().is_multiple_of(2) {
        (0..text.len())
            .step_by(2)
            .map(|i| &text[i..i + 2])
            .collect()
    } else {
        return None;
    };
    pairs
        .into_iter()
        .map(|pair| {
            let hex = pair.len() == 2 && pair.bytes().all(|b| b.is_ascii_hexdigit());
            hex.then(|| u8::from_str_radix(pair, 16).ok()).flatten()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    //! Vectors in `testdata/fingerprint/`; its README says how each was made.
    use super::*;

    macro_rules! vector {
        ($name:literal) => {
            include_str!(concat!("testdata/fingerprint/", $name))
        };
    }

    fn fp(text: &str) -> &str {
        text.trim()
    }

    fn check(key: &str, ec2: &str) -> FingerprintMatch {
        matches(key, ec2).unwrap_or_else(|e| panic!("{ec2}: {e}"))
    }

    #[test]
    fn keys_moto_created_match_motos_and_ec2s_fingerprints() {
        let rsa = vector!("moto-created-rsa.pem");
        assert_eq!(
            check(rsa, fp(vector!("moto-created-rsa.fingerprint"))),
            FingerprintMatch::Match(FingerprintKind::SpkiSha1)
        );
        assert_eq!(
            check(rsa, fp(vector!("moto-created-rsa.ec2.fingerprint"))),
            FingerprintMatch::Match(FingerprintKind::Ec2CreatedRsa)
        );
        let ed = vector!("moto-created-ed25519.pem");
        assert_eq!(
            check(ed, fp(vector!("moto-created-ed25519.fingerprint"))),
            FingerprintMatch::Match(FingerprintKind::SpkiSha256)
        );
        assert_eq!(
            check(ed, fp(vector!("moto-created-ed25519.ec2.fingerprint"))),
            FingerprintMatch::Match(FingerprintKind::OpenSshSha256)
        );
    }

    #[test]
    fn an_rsa_key_in_every_format_has_openssls_fingerprints() {
        let created = fp(vector!("rsa.ec2-created.fingerprint"));
        let imported = fp(vector!("rsa.ec2-imported.fingerprint"));
        for (name, key) in [
            ("PKCS#1", vector!("rsa.pem")),
            ("PKCS#8", vector!("rsa.pkcs8.pem")),
            ("OpenSSH", vector!("rsa.openssh")),
        ] {
            let local = LocalKey::parse(key).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(local.algorithm, Some(KeyAlgorithm::Rsa), "{name}");
            let shown: Vec<String> = local.documented().map(ToString::to_string).collect();
            assert_eq!(shown, [created, imported], "{name}");
            assert_eq!(
                local.matches(created),
                Ok(FingerprintMatch::Match(FingerprintKind::Ec2CreatedRsa)),
                "{name}"
            );
            assert_eq!(
                local.matches(imported),
                Ok(FingerprintMatch::Match(FingerprintKind::Ec2ImportedRsa)),
                "{name}"
            );
        }
    }

    #[test]
    fn an_imported_rsa_key_matches_ec2s_and_motos_md5() {
        let moto = fp(vector!("rsa.moto-imported.fingerprint"));
        assert_eq!(moto, fp(vector!("rsa.ec2-imported.fingerprint")));
        assert_eq!(
            check(vector!("rsa.pem"), moto),
            FingerprintMatch::Match(FingerprintKind::Ec2ImportedRsa)
        );
    }

    #[test]
    fn an_imported_ed25519_key_matches_in_every_spelling() {
        let ec2 = fp(vector!("ed25519.ec2.fingerprint"));
        let unpadded = ec2.trim_end_matches('=');
        let ssh_keygen = format!("SHA256:{unpadded}");
        for key in [vector!("ed25519.openssh"), vector!("ed25519.pkcs8.pem")] {
            for spelling in [ec2, unpadded, ssh_keygen.as_str()] {
                assert_eq!(
                    check(key, spelling),
                    FingerprintMatch::Match(FingerprintKind::OpenSshSha256),
                    "{spelling}"
                );
            }
            assert_eq!(
                check(key, fp(vector!("ed25519.moto-imported.fingerprint"))),
                FingerprintMatch::Match(FingerprintKind::SpkiSha256)
            );
            let shown: Vec<String> = documented_fingerprints(key)
                .expect("key")
                .iter()
                .map(ToString::to_string)
                .collect();
            assert_eq!(shown, [ec2]);
        }
    }

    #[test]
    fn hex_is_compared_without_regard_to_case_or_colons() {
        let created = fp(vector!("rsa.ec2-created.fingerprint"));
        let key = vector!("rsa.pem");
        for spelling in [
            created.to_uppercase(),
            created.replace(':', ""),
            format!("  SHA1:{created}\n"),
        ] {
            assert_eq!(
                check(key, &spelling),
                FingerprintMatch::Match(FingerprintKind::Ec2CreatedRsa),
                "{spelling}"
            );
        }
        // Base64 is case-sensitive: a changed case is another digest.
        let ed_upper = fp(vector!("ed25519.ec2.fingerprint")).to_uppercase();
        assert_eq!(
            check(vector!("ed25519.openssh"), &ed_upper),
            FingerprintMatch::Mismatch
        );
    }

    #[test]
    fn another_keys_fingerprint_is_a_mismatch() {
        for (key, other) in [
            (vector!("rsa.pem"), vector!("moto-created-rsa.fingerprint")),
            (
                vector!("rsa.pem"),
                vector!("moto-created-rsa.ec2.fingerprint"),
            ),
            (
                vector!("moto-created-rsa.pem"),
                vector!("rsa.ec2-imported.fingerprint"),
            ),
            (
                vector!("ed25519.openssh"),
                vector!("moto-created-ed25519.ec2.fingerprint"),
            ),
            (
                vector!("ed25519.openssh"),
                vector!("rsa.ec2-created.fingerprint"),
            ),
        ] {
            assert_eq!(check(key, fp(other)), FingerprintMatch::Mismatch, "{other}");
        }
    }

    #[test]
    fn an_encrypted_openssh_key_is_checked_by_its_public_half() {
        let rsa = vector!("rsa.openssh-encrypted");
        let local = LocalKey::parse(rsa).expect("public half");
        assert!(local.encrypted);
        assert_eq!(
            local.matches(fp(vector!("rsa.ec2-imported.fingerprint"))),
            Ok(FingerprintMatch::Match(FingerprintKind::Ec2ImportedRsa))
        );
        // The created form hashes the private key: cannot tell.
        assert_eq!(
            local.matches(fp(vector!("rsa.ec2-created.fingerprint"))),
            Ok(FingerprintMatch::Encrypted)
        );
        // An MD5 of another key is a certain mismatch.
        assert_eq!(
            local.matches("00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff"),
            Ok(FingerprintMatch::Mismatch)
        );
        let ed = vector!("ed25519.openssh-encrypted");
        assert_eq!(
            check(ed, fp(vector!("ed25519.ec2.fingerprint"))),
            FingerprintMatch::Match(FingerprintKind::OpenSshSha256)
        );
    }

    #[test]
    fn an_encrypted_pem_key_cannot_be_checked() {
        for key in [
            vector!("rsa.pkcs1-encrypted.pem"),
            vector!("rsa.pkcs8-encrypted.pem"),
        ] {
            for ec2 in [
                vector!("rsa.ec2-created.fingerprint"),
                vector!("rsa.ec2-imported.fingerprint"),
                vector!("ed25519.ec2.fingerprint"),
            ] {
                assert_eq!(check(key, fp(ec2)), FingerprintMatch::Encrypted);
            }
            assert_eq!(documented_fingerprints(key), Ok(Vec::new()));
        }
    }

    #[test]
    fn garbage_is_an_error() {
        let key = vector!("rsa.pem");
        for bad in [
            "",
            "not a fingerprint",
            "ab:cd",
            "zz:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff",
        ] {
            assert!(
                matches!(matches(key, bad), Err(FingerprintError::BadFingerprint(_))),
                "{bad:?}"
            );
        }
        for garbage in [
            "",
            "hello",
            vector!("rsa.pub"),
            "-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n-----END RSA PRIVATE KEY-----\n",
            "-----BEGIN OPENSSH PRIVATE KEY-----\nbm90IGEga2V5\n-----END OPENSSH PRIVATE KEY-----\n",
            "-----BEGIN CERTIFICATE-----\nbm90IGEga2V5\n-----END CERTIFICATE-----\n",
        ] {
            assert!(
                matches!(
                    LocalKey::parse(garbage),
                    Err(FingerprintError::NotAKey | FingerprintError::Malformed(_))
                ),
                "{garbage:?}"
            );
        }
    }
}
