//! Reading an OpenSSH-format private key file whatever its line width.
//!
//! `ssh_key::PrivateKey::from_openssh` insists on OpenSSH's own 70-column
//! lines; other writers (Python's cryptography, hence moto and EC2-like
//! tools) wrap at 64. The body is plain base64 either way.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ssh_key::PrivateKey;

const END: &str = "-----END OPENSSH PRIVATE KEY-----";

/// The key in an `OPENSSH PRIVATE KEY` PEM block (possibly encrypted).
pub fn read(text: &str) -> Result<PrivateKey, String> {
    let body: String = text
        .lines()
        .skip_while(|line| !line.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"))
        .skip(1)
        .take_while(|line| !line.starts_with(END))
        .flat_map(str::split_whitespace)
        .collect();
    let bytes = STANDARD.decode(body).map_err(|e| e.to_string())?;
    PrivateKey::from_bytes(&bytes).map_err(|e| e.to_string())
}
