//! Private keys on the operator's machine: finding the file for an
//! instance's key pair and reading its permissions. Nothing here ever
//! copies or prints key material.

pub mod fingerprint;
pub mod keys;
