//! The console-output host key parser: EC2 returns whatever the instance
//! printed. Any text parses, and every key it yields has a fingerprint.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let found = berth::host_keys::console::parse(&text);
    for key in &found.keys {
        assert!(key.fingerprint.starts_with("SHA256:"));
    }
});
