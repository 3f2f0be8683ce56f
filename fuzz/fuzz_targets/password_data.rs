//! GetPasswordData's answer, decrypted with a fixed RSA key: any text is a
//! password or an error, never a panic.
#![no_main]

use std::sync::OnceLock;

use berth::secrets::password::{RsaKey, decrypt_password, load_private_key};
use libfuzzer_sys::fuzz_target;

fn key() -> &'static RsaKey {
    static KEY: OnceLock<RsaKey> = OnceLock::new();
    KEY.get_or_init(|| {
        load_private_key(
            include_str!("../../src/secrets/testdata/rsa-pkcs1.pem"),
            None,
        )
        .expect("the test key loads")
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = decrypt_password(&text, key());
    // The same text as a key file (without a passphrase: no KDF to run).
    let _ = load_private_key(&text, None);
});
