//! KMS encryption of a session's payloads (`../shared/ssm-protocol.md` §6),
//! pure: no sockets, no AWS. The agent's side of the wire decides every
//! detail here (amazon-ssm-agent's `session/crypto` and `datachannel`):
//!
//! - a 64-byte data key from KMS GenerateDataKey: bytes 0–31 are the
//!   agent's key (it encrypts what it sends with them, so berth decrypts
//!   with them), bytes 32–63 berth's (berth encrypts what it sends, the
//!   agent decrypts);
//! - AES-256-GCM, a fresh random 12-byte nonce per message in front of the
//!   ciphertext, the 16-byte tag at its end, no associated data;
//! - what is encrypted: from the agent Output, StdErr and ExitCode
//!   ([`encrypted_from_agent`]); from berth Output only
//!   ([`encrypted_to_agent`]); sizes, flags and the handshake stay clear;
//! - the challenge: once it has the key, the agent sends an
//!   EncChallengeRequest `{"Challenge": base64(nonce | GCM(agent key,
//!   64 random bytes))}`; berth decrypts it and sends the same bytes back
//!   encrypted with its own key as an EncChallengeResponse
//!   ([`SessionCipher::answer_challenge`]), which proves to the agent that
//!   both ends hold the same key the right way round.
//!
//! Nothing here panics on any input: a short, altered or foreign message
//! is a [`CryptoError`].

use aes_gcm::aead::AeadInPlace as _;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce, Tag};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use super::message::PayloadType;

/// The data key's length: two AES-256 keys.
pub const DATA_KEY_BYTES: usize = 64;
/// The nonce in front of every encrypted payload.
pub const NONCE_BYTES: usize = 12;
/// The GCM tag at the end of every encrypted payload.
pub const TAG_BYTES: usize = 16;
/// The shortest encrypted payload (of nothing).
const MIN_SEALED: usize = NONCE_BYTES + TAG_BYTES;

/// Why a payload could not be encrypted or decrypted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("the KMS data key has {0} bytes, not {DATA_KEY_BYTES}")]
    KeyLength(usize),
    #[error(
        "an encrypted payload of {0} bytes is shorter than a nonce and a tag ({MIN_SEALED} bytes)"
    )]
    TooShort(usize),
    /// The tag does not match: altered in transit, or another key.
    #[error(
        "an encrypted payload failed its integrity check (altered, or not under this session's key)"
    )]
    Tampered,
    #[error("the system's random source failed: {0}")]
    Random(String),
    #[error("cannot encrypt a payload")]
    Seal,
    /// The EncChallengeRequest is not `{"Challenge": base64}`.
    #[error("the agent's encryption challenge is malformed: {0}")]
    BadChallenge(String),
}

/// Whether a payload of this type from the agent is encrypted once the
/// session is (Output, StdErr, ExitCode).
pub fn encrypted_from_agent(payload_type: Option<PayloadType>) -> bool {
    matches!(
        payload_type,
        Some(PayloadType::Output | PayloadType::StdErr | PayloadType::ExitCode)
    )
}

/// Whether a payload of this type from berth is encrypted once the
/// session is (Output only).
pub fn encrypted_to_agent(payload_type: PayloadType) -> bool {
    payload_type == PayloadType::Output
}

/// One session's two keys.
#[derive(Clone)]
pub struct SessionCipher {
    /// Bytes 0–31: decrypts what the agent sends.
    agent: Aes256Gcm,
    /// Bytes 32–63: encrypts what berth sends.
    client: Aes256Gcm,
}

/// The keys are secrets: never in a log or a debug print.
impl std::fmt::Debug for SessionCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionCipher(…)")
    }
}

impl SessionCipher {
    /// The cipher of a 64-byte data key (GenerateDataKey's plaintext).
    pub fn new(data_key: &[u8]) -> Result<SessionCipher, CryptoError> {
        if data_key.len() != DATA_KEY_BYTES {
            return Err(CryptoError::KeyLength(data_key.len()));
        }
        let (agent, client) = data_key.split_at(DATA_KEY_BYTES / 2);
        let key = |half: &[u8]| {
            Aes256Gcm::new_from_slice(half).map_err(|_| CryptoError::KeyLength(data_key.len()))
        };
        Ok(SessionCipher {
            agent: key(agent)?,
            client: key(client)?,
        })
    }

    /// `plaintext` as berth sends it: a fresh nonce, then the ciphertext
    /// and its tag under berth's key.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        seal(&self.client, plaintext)
    }

    /// What the agent sent, decrypted with the agent's key.
    pub fn decrypt(&self, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        open(&self.agent, sealed)
    }

    /// The EncChallengeResponse payload for an EncChallengeRequest
    /// payload: the challenge decrypted with the agent's key, encrypted
    /// again with berth's.
    pub fn answer_challenge(&self, request: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let request: Challenge = serde_json::from_slice(request)
            .map_err(|e| CryptoError::BadChallenge(e.to_string()))?;
        let sealed = BASE64
            .decode(request.challenge.as_bytes())
            .map_err(|e| CryptoError::BadChallenge(e.to_string()))?;
        let challenge = self.decrypt(&sealed)?;
        let answer = Challenge {
            challenge: BASE64.encode(self.encrypt(&challenge)?),
        };
        serde_json::to_vec(&answer).map_err(|e| CryptoError::BadChallenge(e.to_string()))
    }
}

/// Both directions of the challenge: `{"Challenge": base64(…)}`.
#[derive(Debug, Serialize, Deserialize)]
struct Challenge {
    #[serde(rename = "Challenge")]
    challenge: String,
}

/// `plaintext` under `cipher`: a fresh nonce, the ciphertext, the tag.
pub(crate) fn seal(cipher: &Aes256Gcm, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::with_capacity(NONCE_BYTES + plaintext.len() + TAG_BYTES);
    out.extend_from_slice(&random_nonce()?);
    out.extend_from_slice(plaintext);
    let (nonce, body) = out.split_at_mut(NONCE_BYTES);
    let tag = cipher
        .encrypt_in_place_detached(Nonce::from_slice(nonce), &[], body)
        .map_err(|_| CryptoError::Seal)?;
    out.extend_from_slice(&tag);
    Ok(out)
}

/// What `seal` made under `cipher`, checked and decrypted.
pub(crate) fn open(cipher: &Aes256Gcm, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < MIN_SEALED {
        return Err(CryptoError::TooShort(sealed.len()));
    }
    let (nonce, rest) = sealed.split_at(NONCE_BYTES);
    let (body, tag) = rest.split_at(rest.len() - TAG_BYTES);
    let mut plain = body.to_vec();
    cipher
        .decrypt_in_place_detached(
            Nonce::from_slice(nonce),
            &[],
            &mut plain,
            Tag::from_slice(tag),
        )
        .map_err(|_| CryptoError::Tampered)?;
    Ok(plain)
}

/// 12 fresh random bytes from the TLS provider's random source (the one
/// the channel's message ids come from).
fn random_nonce() -> Result<[u8; NONCE_BYTES], CryptoError> {
    let mut nonce = [0_u8; NONCE_BYTES];
    rustls::crypto::aws_lc_rs::default_provider()
        .secure_random
        .fill(&mut nonce)
        .map_err(|e| CryptoError::Random(format!("{e:?}")))?;
    Ok(nonce)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A data key with its halves spelled out: 0x11 the agent's, 0x22
    /// berth's.
    fn halves() -> Vec<u8> {
        let mut key = vec![0x11_u8; 32];
        key.extend([0x22_u8; 32]);
        key
    }

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
            .collect()
    }

    /// "from the agent" under key 0x11…, nonce 00 01 … 0b, as Python's
    /// `cryptography` AESGCM computes it (nonce in front, tag at the end).
    const FROM_THE_AGENT: &str =
        "000102030405060708090a0b7591d97e5bd75d9134d9b4faaadb04475de3b410266708f3f6cd50272d57";
    /// "from berth" under key 0x22…, the same nonce.
    const FROM_BERTH: &str =
        "000102030405060708090a0b20b2f8729b4fedb64c5ed4d0ea4c7339dea4aa28d12b98cd3119";

    #[test]
    fn the_agents_half_decrypts_and_berths_half_encrypts() {
        let cipher = SessionCipher::new(&halves()).expect("cipher");
        assert_eq!(
            cipher.decrypt(&hex(FROM_THE_AGENT)).expect("agent's"),
            b"from the agent"
        );
        // Berth's own message is not something it decrypts (the halves are
        // not swapped, nor one key for both).
        assert_eq!(cipher.decrypt(&hex(FROM_BERTH)), Err(CryptoError::Tampered));
        // What berth sends opens under bytes 32..64 only.
        let sealed = cipher.encrypt(b"from berth").expect("sealed");
        let client = Aes256Gcm::new_from_slice(&[0x22; 32]).expect("key");
        let agent = Aes256Gcm::new_from_slice(&[0x11; 32]).expect("key");
        assert_eq!(open(&client, &sealed).expect("berth's"), b"from berth");
        assert_eq!(open(&agent, &sealed), Err(CryptoError::Tampered));
        // And the known vector under berth's half is what `open` reads.
        assert_eq!(
            open(&client, &hex(FROM_BERTH)).expect("vector"),
            b"from berth"
        );
    }

    #[test]
    fn a_sealed_payload_is_nonce_ciphertext_tag_with_a_fresh_nonce() {
        let cipher = SessionCipher::new(&halves()).expect("cipher");
        let one = cipher.encrypt(b"same text").expect("one");
        let two = cipher.encrypt(b"same text").expect("two");
        assert_eq!(one.len(), NONCE_BYTES + b"same text".len() + TAG_BYTES);
        assert_ne!(one[..NONCE_BYTES], two[..NONCE_BYTES], "nonces repeat");
        assert_ne!(one, two);
        // The nonce in front is the one the ciphertext was made with, and
        // the tag is at the end: the known vector has the same layout.
        let client = Aes256Gcm::new_from_slice(&[0x22; 32]).expect("key");
        assert_eq!(open(&client, &one).expect("opens"), b"same text");
        let vector = hex(FROM_BERTH);
        assert_eq!(vector[..NONCE_BYTES], (0..12).collect::<Vec<u8>>());
        // Empty payloads round-trip too.
        let empty = cipher.encrypt(b"").expect("empty");
        assert_eq!(empty.len(), NONCE_BYTES + TAG_BYTES);
    }

    #[test]
    fn round_trips_with_an_agent_holding_the_same_key() {
        let cipher = SessionCipher::new(&halves()).expect("cipher");
        let agent = Aes256Gcm::new_from_slice(&[0x11; 32]).expect("key");
        for text in [&b""[..], b"x", &[0_u8; 1024], "é ✓ \r\n".as_bytes()] {
            let sealed = seal(&agent, text).expect("agent seals");
            assert_eq!(cipher.decrypt(&sealed).expect("opens"), text);
        }
    }

    #[test]
    fn tampering_and_short_payloads_are_errors_not_panics() {
        let cipher = SessionCipher::new(&halves()).expect("cipher");
        let good = hex(FROM_THE_AGENT);
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            assert_eq!(cipher.decrypt(&bad), Err(CryptoError::Tampered), "byte {i}");
        }
        for len in 0..NONCE_BYTES + TAG_BYTES {
            assert_eq!(
                cipher.decrypt(&good[..len]),
                Err(CryptoError::TooShort(len)),
                "{len}"
            );
        }
        assert_eq!(
            cipher.decrypt(&good[..good.len() - 1]),
            Err(CryptoError::Tampered)
        );
        assert!(
            CryptoError::Tampered
                .to_string()
                .contains("integrity check")
        );
    }

    #[test]
    fn a_data_key_has_64_bytes() {
        for len in [0, 32, 63, 65] {
            assert_eq!(
                SessionCipher::new(&vec![0; len]).map(|_| ()),
                Err(CryptoError::KeyLength(len))
            );
        }
        assert_eq!(
            format!("{:?}", SessionCipher::new(&halves()).expect("ok")),
            "SessionCipher(…)"
        );
    }

    #[test]
    fn the_challenge_comes_back_under_berths_key() {
        let cipher = SessionCipher::new(&halves()).expect("cipher");
        let agent = Aes256Gcm::new_from_slice(&[0x11; 32]).expect("key");
        let client = Aes256Gcm::new_from_slice(&[0x22; 32]).expect("key");
        let random: Vec<u8> = (0..64).collect();
        let request = serde_json::json!({
            "Challenge": BASE64.encode(seal(&agent, &random).expect("seal")),
        });
        let response = cipher
            .answer_challenge(request.to_string().as_bytes())
            .expect("answered");
        let response: serde_json::Value = serde_json::from_slice(&response).expect("json");
        let sealed = BASE64
            .decode(response["Challenge"].as_str().expect("Challenge"))
            .expect("base64");
        assert_eq!(open(&client, &sealed).expect("berth's key"), random);
        assert_eq!(open(&agent, &sealed), Err(CryptoError::Tampered));
    }

    /// A challenge request and what its error must be.
    type Case<'a> = (&'a [u8], fn(&CryptoError) -> bool);

    #[test]
    fn a_bad_challenge_is_an_error() {
        let cipher = SessionCipher::new(&halves()).expect("cipher");
        let foreign = Aes256Gcm::new_from_slice(&[0x33; 32]).expect("key");
        let cases: [Case<'_>; 4] = [
            (b"not json", |e| matches!(e, CryptoError::BadChallenge(_))),
            (br#"{"Challenge": "%%%"}"#, |e| {
                matches!(e, CryptoError::BadChallenge(_))
            }),
            (br#"{"Challenge": "AAAA"}"#, |e| {
                matches!(e, CryptoError::TooShort(3))
            }),
            (br#"{"Other": 1}"#, |e| {
                matches!(e, CryptoError::BadChallenge(_))
            }),
        ];
        for (request, expected) in cases {
            let e = cipher.answer_challenge(request).expect_err("refused");
            assert!(expected(&e), "{e:?}");
        }
        let under_another_key = serde_json::json!({
            "Challenge": BASE64.encode(seal(&foreign, b"x").expect("seal")),
        });
        assert_eq!(
            cipher.answer_challenge(under_another_key.to_string().as_bytes()),
            Err(CryptoError::Tampered)
        );
    }

    #[test]
    fn only_the_protocols_payload_types_are_encrypted() {
        use PayloadType as P;
        let from_agent: Vec<_> = P::ALL
            .into_iter()
            .filter(|&t| encrypted_from_agent(Some(t)))
            .collect();
        assert_eq!(from_agent, [P::Output, P::StdErr, P::ExitCode]);
        assert!(!encrypted_from_agent(None));
        let to_agent: Vec<_> = P::ALL
            .into_iter()
            .filter(|&t| encrypted_to_agent(t))
            .collect();
        assert_eq!(to_agent, [P::Output]);
    }
}
