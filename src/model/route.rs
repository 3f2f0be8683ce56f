//! How to reach a host, as the operator asks for it (`--via`, `BERTH_VIA`,
//! the config file's `via`).

use super::named::Named;

/// How to reach the host (`--via`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The first route whose prerequisites hold.
    Auto,
    /// The public DNS name, else the public IPv4 address.
    Public,
    /// The private IPv4 address (from inside the VPC or over a VPN).
    Private,
    /// ssh to a bastion, and from there to the private address.
    Bastion,
    /// A one-time key pushed with EC2 Instance Connect, over the public
    /// address, else the private one.
    InstanceConnect,
    /// An EC2 Instance Connect Endpoint tunnel to the private address.
    Eice,
}

impl Named for Via {
    const WHAT: &'static str = "a route";
    const ALL: &'static [(Self, &'static str, &'static str)] = &[
        (
            Self::Auto,
            "auto",
            "The first route whose prerequisites hold: the public address, else a bastion, else an endpoint",
        ),
        (
            Self::Public,
            "public",
            "The public DNS name, else the public IPv4 address",
        ),
        (
            Self::Private,
            "private",
            "The private IPv4 address (from inside the VPC or over a VPN)",
        ),
        (
            Self::Bastion,
            "bastion",
            "ssh to a bastion, and from there to the private address",
        ),
        (
            Self::InstanceConnect,
            "instance-connect",
            "A one-time key pushed with EC2 Instance Connect, over the public address, else the private one",
        ),
        (
            Self::Eice,
            "eice",
            "An EC2 Instance Connect Endpoint tunnel to the private address",
        ),
    ];
}

crate::model::named::named_text!(Via);
