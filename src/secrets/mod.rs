//! Private keys on the operator's machine: finding the file for an
//! instance's key pair, reading its permissions and checking that it is the
//! key pair's key. Nothing here ever copies or prints key material.

pub mod fingerprint;
pub mod keys;
