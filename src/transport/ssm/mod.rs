//! Session Manager, natively: the pieces of berth's own client for the
//! protocol `session-manager-plugin` speaks (`../shared/ssm-protocol.md`
//! collects the facts and their public sources).
//!
//! First the codec, which is pure and synchronous (no sockets, no
//! clock, no randomness: times and message ids are given by the caller),
//! and so can be fuzzed:
//!
//! - [`message`]: the binary frame every websocket message carries after
//!   the opening text frame (header, SHA-256 digest, payload), and the JSON
//!   payloads (acknowledgements, `channel_closed`, the handshake, terminal
//!   size, the opening token message);
//! - [`smux`]: the smux v1 frames that multiplex a port session's streams
//!   over the byte stream carried in Output payloads.
//!
//! Decoders never panic: any input is either a value or a typed error.
//!
//! On the codec, with sockets and clocks:
//!
//! - [`channel`]: one session's websocket, with sequencing,
//!   acknowledgements, resends, pause and start publication, and resume
//!   through a [`channel::Resume`] the layer above implements (this layer
//!   calls no AWS API).
//!
//! Still to come on top: the handshake, shell sessions and port sessions.

pub mod channel;
pub mod message;
pub mod smux;

#[cfg(test)]
mod random_inputs;
