//! berth's vocabulary, at the bottom of the layers: what a target names
//! ([`target`]), the hosts AWS describes ([`host`]) and their operating
//! systems ([`os`]), the network around them ([`network`]), and a fact
//! that was looked up or could not be ([`lookup`]). Plain data and pure parsing; it imports nothing of
//! berth, so every layer above can speak it.

pub mod host;
pub mod lookup;
pub mod network;
pub mod os;
pub mod target;
