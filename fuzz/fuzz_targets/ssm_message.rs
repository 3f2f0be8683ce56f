//! The Session Manager message decoder (every binary websocket message a
//! berth session reads): any bytes give a message or an error, never a
//! panic; a message encodes back to bytes that decode to it; the JSON
//! payload readers take whatever the payload holds.
#![no_main]

use berth::transport::ssm::message::{
    Acknowledgement, ChannelClosed, FlagCommand, HandshakeComplete, HandshakeRequest, Message,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match Message::decode(data) {
        Ok(message) => {
            let again = message.encode().expect("a decoded message encodes");
            assert_eq!(again.len(), data.len());
            assert_eq!(Message::decode(&again).as_ref(), Ok(&message));
            let payload = &message.payload;
            let _ = serde_json::from_slice::<Acknowledgement>(payload);
            let _ = serde_json::from_slice::<ChannelClosed>(payload);
            let _ = serde_json::from_slice::<HandshakeRequest>(payload);
            let _ = serde_json::from_slice::<HandshakeComplete>(payload);
            let _ = FlagCommand::decode(payload);
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
