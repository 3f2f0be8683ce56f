//! Private keys on the operator's machine: finding the file for an
//! instance's key pair, reading its permissions, checking that it is the
//! key pair's key, and decrypting a Windows password with it; and one-time
//! keys for EC2 Instance Connect. Nothing here ever copies or prints key
//! material or a password; a one-time key is written once, to a private
//! file that goes away with it.

pub mod ephemeral;
pub mod fingerprint;
pub mod keys;
mod openssh;
pub mod password;
