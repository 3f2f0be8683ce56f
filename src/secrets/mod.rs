//! Private keys on the operator's machine: finding the file for an
//! instance's key pair, reading its permissions, checking that it is the
//! key pair's key, and decrypting a Windows password with it. Nothing here
//! ever copies or prints key material or a password.

pub mod fingerprint;
pub mod keys;
mod openssh;
pub mod password;
