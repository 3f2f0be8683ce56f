//! Private keys on the operator's machine: finding the file for an
//! instance's key pair and reading its permissions, and decrypting a
//! Windows password with it. Nothing here ever copies or prints key
//! material or a password.

pub mod keys;
pub mod password;
