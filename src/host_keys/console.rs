//! The SSH host keys an instance printed on its console at first boot, as
//! EC2's GetConsoleOutput returns the text (already base64-decoded).
//!
//! cloud-init's `write-ssh-key-fingerprints` prints two blocks, each line
//! possibly behind a prefix (`ec2: `, a syslog stamp, `[   12.3] cloud-init[42]: `):
//!
//! ```text
//! ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----
//! ec2: 256 SHA256:mVd5…Q root@ip-10-0-1-7 (ED25519)
//! ec2: -----END SSH HOST KEY FINGERPRINTS-----
//! -----BEGIN SSH HOST KEY KEYS-----
//! ssh-ed25519 AAAAC3Nz… root@ip-10-0-1-7
//! -----END SSH HOST KEY KEYS-----
//! ```
//!
//! [`parse`] is pure and total: any text gives a [`ConsoleHostKeys`], empty
//! when nothing in it is a well-formed key or fingerprint. A key counts only
//! when its fingerprint is among the printed fingerprints, if any were
//! printed: the two blocks must agree. The console is a ring buffer, so a
//! block may be cut off at the start of the text; a block without its END
//! line (the text was cut at the end) still yields the lines that are whole.

use base64::Engine as _;
use md5::Digest as _;
use ssh_key::{HashAlg, PublicKey};

const FINGERPRINTS_BEGIN: &str = "-----BEGIN SSH HOST KEY FINGERPRINTS-----";
const FINGERPRINTS_END: &str = "-----END SSH HOST KEY FINGERPRINTS-----";
const KEYS_BEGIN: &str = "-----BEGIN SSH HOST KEY KEYS-----";
const KEYS_END: &str = "-----END SSH HOST KEY KEYS-----";

/// Key algorithms as OpenSSH names them in a public key line.
const ALGORITHMS: &[&str] = &[
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
    "ssh-dss",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// One host key: its algorithm and base64 body, as a known_hosts line
/// carries them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey {
    pub algorithm: String,
    pub base64: String,
    /// `SHA256:…`, as ssh prints it.
    pub fingerprint: String,
}

/// One printed fingerprint (`256 SHA256:… comment (ED25519)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrintedFingerprint {
    /// `SHA256:…` or `MD5:aa:bb:…`.
    pub fingerprint: String,
    /// `ED25519`, `ECDSA`, `RSA`, … when printed.
    pub kind: Option<String>,
}

/// What the console output says about the instance's host keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsoleHostKeys {
    /// Keys printed whole, and agreeing with the printed fingerprints.
    pub keys: Vec<HostKey>,
    /// Every fingerprint printed.
    pub fingerprints: Vec<PrintedFingerprint>,
    /// Keys printed whole whose fingerprint was not among those printed.
    pub disagreeing: Vec<HostKey>,
}

impl ConsoleHostKeys {
    /// No key and no fingerprint: the console output says nothing.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.fingerprints.is_empty() && self.disagreeing.is_empty()
    }
}

/// Reads the host keys and fingerprints out of console output.
pub fn parse(console: &str) -> ConsoleHostKeys {
    let fingerprints: Vec<PrintedFingerprint> =
        block(console, FINGERPRINTS_BEGIN, FINGERPRINTS_END)
            .iter()
            .filter_map(|line| fingerprint_line(line))
            .collect();
    let mut printed: Vec<HostKey> = Vec::new();
    for key in block(console, KEYS_BEGIN, KEYS_END)
        .iter()
        .filter_map(|line| key_line(line))
    {
        if !printed.contains(&key) {
            printed.push(key);
        }
    }
    let (keys, disagreeing) = if fingerprints.is_empty() {
        (printed, Vec::new())
    } else {
        printed.into_iter().partition(|key| {
            fingerprints
                .iter()
                .any(|f| f.fingerprint == key.fingerprint || md5_matches(key, &f.fingerprint))
        })
    };
    ConsoleHostKeys {
        keys,
        fingerprints,
        disagreeing,
    }
}

/// The lines between `begin` and `end` in every block of that name (the
/// last one wins where a reboot printed it again); a block cut off before
/// its end runs to the end of the text.
fn block<'a>(text: &'a str, begin: &str, end: &str) -> Vec<&'a str> {
    let mut lines = Vec::new();
    let mut inside: Option<Vec<&str>> = None;
    for line in text.lines() {
        if line.contains(begin) {
            inside = Some(Vec::new());
        } else if line.contains(end) {
            if let Some(found) = inside.take() {
                lines = found;
            }
        } else if let Some(found) = inside.as_mut() {
            found.push(line);
        }
    }
    if let Some(unfinished) = inside
        && !unfinished.is_empty()
    {
        lines = unfinished;
    }
    lines
}

/// `[prefix] ALGORITHM BASE64 [comment]`, the key checked to be one.
fn key_line(line: &str) -> Option<HostKey> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| ALGORITHMS.contains(w))?;
    let algorithm = words[at];
    let body = words.get(at + 1)?;
    let key = PublicKey::from_openssh(&format!("{algorithm} {body}")).ok()?;
    if key.algorithm().as_str() != algorithm {
        return None;
    }
    Some(HostKey {
        algorithm: algorithm.to_owned(),
        base64: (*body).to_owned(),
        fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
    })
}

/// `[prefix] BITS SHA256:… [comment] (TYPE)`, or the MD5 form of older
/// cloud-init (`BITS aa:bb:…:ff …`).
fn fingerprint_line(line: &str) -> Option<PrintedFingerprint> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().enumerate().position(|(i, w)| {
        i > 0 && words[i - 1].parse::<u32>().is_ok() && (is_sha256(w) || is_md5(w))
    })?;
    let word = words[at];
    let fingerprint = if is_md5(word) && !word.starts_with("MD5:") {
        format!("MD5:{word}")
    } else {
        word.to_owned()
    };
    let kind = words
        .last()
        .filter(|w| w.len() > 2 && w.starts_with('(') && w.ends_with(')'))
        .map(|w| w[1..w.len() - 1].to_owned());
    Some(PrintedFingerprint { fingerprint, kind })
}

fn is_sha256(word: &str) -> bool {
    word.strip_prefix("SHA256:").is_some_and(|b64| {
        b64.len() == 43
            && b64
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/')
    })
}

fn is_md5(word: &str) -> bool {
    let hex = word.strip_prefix("MD5:").unwrap_or(word);
    hex.len() == 47
        && hex.split(':').count() == 16
        && hex
            .split(':')
            .all(|b| b.len() == 2 && b.chars().all(|c| c.is_ascii_hexdigit()))
}

fn md5_matches(key: &HostKey, printed: &str) -> bool {
    let Some(hex) = printed.strip_prefix("MD5:") else {
        return false;
    };
    // The key's blob is its base64 body, decoded (RFC 4716).
    let Ok(blob) = base64::engine::general_purpose::STANDARD.decode(&key.base64) else {
        return false;
    };
    let digest = md5::Md5::digest(&blob);
    let ours: Vec<String> = digest.iter().map(|b| format!("{b:02x}")).collect();
    ours.join(":").eq_ignore_ascii_case(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ssh-keygen -t ed25519; `ssh-keygen -l` says
    /// SHA256:tOCsbPRBUx+XlzQ2+k60TNrkLitNYBVFWDoH7/ErFQY and, with `-E md5`,
    /// MD5:51:4c:a9:7f:a1:be:28:3f:17:69:48:86:3e:7d:0b:2e.
    const ED25519: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIB5c8FLrXJf9TJIuiZu/eSTkbhN4l+diH73ZImnCwjX0";
    const ED25519_SHA256: &str = "SHA256:tOCsbPRBUx+XlzQ2+k60TNrkLitNYBVFWDoH7/ErFQY";
    const ED25519_MD5: &str = "51:4c:a9:7f:a1:be:28:3f:17:69:48:86:3e:7d:0b:2e";

    fn ed25519_fingerprint() -> String {
        ED25519_SHA256.to_owned()
    }

    fn ed25519() -> HostKey {
        HostKey {
            algorithm: "ssh-ed25519".into(),
            base64: ED25519.into(),
            fingerprint: ed25519_fingerprint(),
        }
    }

    fn console(fingerprint_lines: &[String], key_lines: &[String]) -> String {
        let mut text = String::from(
            "[    0.000000] Linux version 6.1.0\r\n\
             [   12.345678] cloud-init[1234]: Cloud-init v. 22.2.2 running 'modules:final'\r\n\
             ec2: \r\nec2: #############################################################\r\n",
        );
        text.push_str("ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----\r\n");
        for line in fingerprint_lines {
            text.push_str("ec2: ");
            text.push_str(line);
            text.push_str("\r\n");
        }
        text.push_str("ec2: -----END SSH HOST KEY FINGERPRINTS-----\r\n");
        text.push_str("ec2: #############################################################\r\n");
        text.push_str("-----BEGIN SSH HOST KEY KEYS-----\r\n");
        for line in key_lines {
            text.push_str(line);
            text.push_str("\r\n");
        }
        text.push_str("-----END SSH HOST KEY KEYS-----\r\n");
        text.push_str("[   13.000000] cloud-init[1234]: Cloud-init v. 22.2.2 finished\r\n");
        text
    }

    #[test]
    #[allow(clippy::too_many_lines)] // a table of console texts reads best in one piece
    fn reads_keys_that_agree_with_the_fingerprints() {
        let fp = ed25519_fingerprint();
        let key_line = format!("ssh-ed25519 {ED25519} root@ip-10-0-1-7");
        let other_fp = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let table: Vec<(&str, String, Vec<HostKey>, usize, usize)> = vec![
            // (case, console text, keys, fingerprints, disagreeing)
            (
                "cloud-init's two blocks",
                console(
                    &[format!("256 {fp} root@ip-10-0-1-7 (ED25519)")],
                    std::slice::from_ref(&key_line),
                ),
                vec![ed25519()],
                1,
                0,
            ),
            (
                "keys only (fingerprints not printed)",
                format!(
                    "-----BEGIN SSH HOST KEY KEYS-----\n{key_line}\n-----END SSH HOST KEY KEYS-----\n"
                ),
                vec![ed25519()],
                0,
                0,
            ),
            (
                "fingerprints only",
                format!(
                    "-----BEGIN SSH HOST KEY FINGERPRINTS-----\n256 {fp} root@h (ED25519)\n-----END SSH HOST KEY FINGERPRINTS-----\n"
                ),
                vec![],
                1,
                0,
            ),
            (
                "a key the fingerprints do not vouch for",
                console(
                    &[format!("256 {other_fp} root@h (ED25519)")],
                    std::slice::from_ref(&key_line),
                ),
                vec![],
                1,
                1,
            ),
            (
                "lines behind a syslog and a cloud-init prefix",
                format!(
                    "<14>Jul  6 07:30:24 ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----\n\
                     <14>Jul  6 07:30:24 ec2: 256 {fp} no comment (ED25519)\n\
                     <14>Jul  6 07:30:24 ec2: -----END SSH HOST KEY FINGERPRINTS-----\n\
                     [   14.1] cloud-init[99]: -----BEGIN SSH HOST KEY KEYS-----\n\
                     [   14.1] cloud-init[99]: {key_line}\n\
                     [   14.1] cloud-init[99]: -----END SSH HOST KEY KEYS-----\n"
                ),
                vec![ed25519()],
                1,
                0,
            ),
            (
                "no blocks at all",
                "Linux version 6.1\nlogin: ".to_owned(),
                vec![],
                0,
                0,
            ),
            ("empty", String::new(), vec![], 0, 0),
            (
                "a keys block cut off at the end of the buffer",
                format!("-----BEGIN SSH HOST KEY KEYS-----\n{key_line}\nssh-rsa AAAAB3Nz"),
                vec![ed25519()],
                0,
                0,
            ),
            (
                "a block cut off at the start: only its END is left",
                format!("{key_line}\n-----END SSH HOST KEY KEYS-----\n"),
                vec![],
                0,
                0,
            ),
            (
                "a body that is not a key of its algorithm",
                format!(
                    "-----BEGIN SSH HOST KEY KEYS-----\nssh-rsa {ED25519}\nssh-ed25519 not-base64!\nssh-ed25519\n-----END SSH HOST KEY KEYS-----\n"
                ),
                vec![],
                0,
                0,
            ),
            (
                "printed twice (a second boot): the last block wins, keys once",
                format!(
                    "{}{}",
                    console(&[format!("256 {other_fp} x (ED25519)")], &[]),
                    console(
                        &[format!("256 {fp} x (ED25519)")],
                        &[key_line.clone(), key_line.clone()]
                    )
                ),
                vec![ed25519()],
                1,
                0,
            ),
        ];
        for (case, text, keys, fingerprints, disagreeing) in table {
            let parsed = parse(&text);
            assert_eq!(parsed.keys, keys, "{case}");
            assert_eq!(parsed.fingerprints.len(), fingerprints, "{case}");
            assert_eq!(parsed.disagreeing.len(), disagreeing, "{case}");
        }
    }

    #[test]
    fn fingerprint_lines_in_both_hashes() {
        let fp = ed25519_fingerprint();
        let parsed = parse(&format!(
            "-----BEGIN SSH HOST KEY FINGERPRINTS-----\n\
             256 {fp} root@h (ED25519)\n\
             2048 MD5:0b:7e:1c:2a:3b:4c:5d:6e:7f:80:91:a2:b3:c4:d5:e6 root@h (RSA)\n\
             1024 0b:7e:1c:2a:3b:4c:5d:6e:7f:80:91:a2:b3:c4:d5:e6 root@h (DSA)\n\
             SHA256:notafingerprint\n\
             -----END SSH HOST KEY FINGERPRINTS-----\n"
        ));
        let printed: Vec<(&str, Option<&str>)> = parsed
            .fingerprints
            .iter()
            .map(|f| (f.fingerprint.as_str(), f.kind.as_deref()))
            .collect();
        assert_eq!(
            printed,
            vec![
                (fp.as_str(), Some("ED25519")),
                (
                    "MD5:0b:7e:1c:2a:3b:4c:5d:6e:7f:80:91:a2:b3:c4:d5:e6",
                    Some("RSA")
                ),
                (
                    "MD5:0b:7e:1c:2a:3b:4c:5d:6e:7f:80:91:a2:b3:c4:d5:e6",
                    Some("DSA")
                ),
            ]
        );
    }

    #[test]
    fn an_md5_fingerprint_vouches_for_its_key() {
        let text = format!(
            "-----BEGIN SSH HOST KEY FINGERPRINTS-----\n256 {ED25519_MD5} root@h (ED25519)\n-----END SSH HOST KEY FINGERPRINTS-----\n\
             -----BEGIN SSH HOST KEY KEYS-----\nssh-ed25519 {ED25519}\n-----END SSH HOST KEY KEYS-----\n"
        );
        assert_eq!(parse(&text).keys, vec![ed25519()]);
    }

    #[test]
    fn no_text_panics() {
        let pieces = [
            FINGERPRINTS_BEGIN,
            FINGERPRINTS_END,
            KEYS_BEGIN,
            KEYS_END,
            "\n",
            "\r\n",
            "ssh-ed25519 ",
            ED25519,
            "256 ",
            "SHA256:",
            "é",
            "(",
            ")",
            " ",
        ];
        let mut texts = vec![String::new()];
        for _ in 0..4 {
            texts = texts
                .iter()
                .flat_map(|t| pieces.iter().map(move |p| format!("{t}{p}")))
                .collect();
            for text in &texts {
                let parsed = parse(text);
                for key in &parsed.keys {
                    assert!(key.fingerprint.starts_with("SHA256:"), "{text:?}");
                }
            }
        }
    }
}
