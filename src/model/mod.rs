//! berth's vocabulary, at the bottom of the layers: what a target names
//! ([`target`]), the hosts AWS describes ([`host`]) and their operating
//! systems ([`os`]), the network around them ([`network`]), a fact that
//! was looked up or could not be, or looked for in a VPC ([`lookup`]),
//! routes and bastions ([`route`]), how output is shown ([`output`]) and how
//! an error names its fix ([`hint`]); settings with a fixed
//! set of values are [`named`] once for flags, variables and the config. Plain data and pure parsing; it imports nothing of
//! berth, so every layer above can speak it.

pub mod hint;
pub mod host;
pub mod lookup;
pub mod named;
pub mod network;
pub mod os;
pub mod output;
pub mod route;
pub mod target;
