//! The quick tier: the built `berth` binary against an in-process fake AWS
//! endpoint, with stub clients. It needs no root, no Python, no sshd and
//! no network, and runs with a plain `cargo test` as any user. The sandbox
//! tier (`--features sandbox`, tests/berth) runs berth against moto and
//! real servers.

// The support kit serves both tiers; this one uses the part that needs no
// sandbox.
#[allow(dead_code)]
#[path = "../support/mod.rs"]
mod support;

mod aws_errors;
mod layers;
mod plans;
mod usage;

use support::Berth;
use support::fake_aws::{Answer, FakeAws};

/// The region every quick test's berth is in.
pub const REGION: &str = "us-east-1";

/// The ssh, scp and RDP client of every quick test: a program that does
/// not exist, so plans show it as their `argv[0]`.
pub const NO_CLIENT: &str = "/nonexistent/the-quick-tier-runs-no-client";

/// berth whose AWS is a fake with no replies: any call it made would fail.
pub fn no_aws() -> Berth {
    with_aws(Vec::new()).0
}

/// berth against a fake answering `replies`, and the fake. No client
/// program can run: a test that meant a dry run and connected instead
/// fails here without touching the network.
pub fn with_aws(replies: Vec<(&str, Answer)>) -> (Berth, FakeAws) {
    let aws = FakeAws::start(replies);
    let mut berth = Berth::against(aws.url(), REGION);
    for program in ["BERTH_SSH", "BERTH_SCP", "BERTH_RDP_CLIENT"] {
        berth.env(program, Some(NO_CLIENT));
    }
    (berth, aws)
}
