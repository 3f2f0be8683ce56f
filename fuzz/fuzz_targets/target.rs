//! The target grammar (`berth ssh TARGET`): any text parses or fails
//! cleanly, and what parses keeps the grammar's promises.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match berth::model::target::parse(&text) {
        Ok(query) => assert!(!query.target.to_string().is_empty()),
        Err(e) => assert!(!e.to_string().is_empty() && !e.hint().is_empty()),
    }
});
