//! The config file parser: any text is a config or a message.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(message) =
        berth::config::Config::parse(&text, Some(std::path::Path::new("/home/op")))
    {
        assert!(!message.is_empty());
    }
});
