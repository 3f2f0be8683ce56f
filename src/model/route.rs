//! How to reach a host: the request (`--via`, `BERTH_VIA`, the config
//! file's `via`), the one [`Route`] type that plan, doctor and proxy share,
//! which form of address a plan connects to ([`RouteTo`]), and the one
//! [`Bastion`] type for a bastion that was found.

use serde::{Serialize, Serializer};

use super::host::Host;
use super::named::Named;

/// A way from the operator to the host. `ssh` and `doctor` name the same
/// routes with the same values; `auto` tries some of them in the order of
/// `plan::route::AUTO_ORDER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Route {
    /// The public address, over the internet.
    Public,
    /// The private address, from inside the VPC or over a VPN.
    Private,
    /// A bastion: a host inside the VPC that connects onwards.
    Bastion,
    /// An EC2 Instance Connect Endpoint tunnel to the private address.
    Eice,
    /// Session Manager (the SSM agent), which needs no inbound rule or
    /// public address: ssh over AWS-StartSSHSession (`--via ssm`). `auto`
    /// takes it last, when its agent is Online and no SSH route can be
    /// taken.
    Ssm,
}

impl Route {
    /// The route's name as `--via` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Private => "private",
            Self::Bastion => "bastion",
            Self::Eice => "eice",
            Self::Ssm => "ssm",
        }
    }

    /// The route's name in doctor's report (lines and JSON), where the
    /// endpoint route is `instance-connect-endpoint`, as its check is.
    pub fn doctor_name(self) -> &'static str {
        match self {
            Self::Eice => "instance-connect-endpoint",
            other => other.name(),
        }
    }

    /// The `--via` value that asks for this route.
    pub fn via(self) -> Option<Via> {
        match self {
            Self::Public => Some(Via::Public),
            Self::Private => Some(Via::Private),
            Self::Bastion => Some(Via::Bastion),
            Self::Eice => Some(Via::Eice),
            Self::Ssm => Some(Via::Ssm),
        }
    }

    /// Routes that log in with the key pair. `--via ssm` carries ssh, which
    /// logs in with a key as on every other route; doctor's own SSM check
    /// (the agent's shell) needs none.
    pub fn uses_key(self) -> bool {
        self != Self::Ssm
    }

    /// Serializes the route by [`Route::doctor_name`], for doctor's JSON.
    pub fn serialize_doctor_name<S: Serializer>(route: &Self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(route.doctor_name())
    }
}

/// The form of the address a plan connects to: the public DNS name, or an
/// IP address (public, or private), or the instance id (`ssm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressKind {
    DnsName,
    Ip,
    /// The instance id, which only berth's own ProxyCommand resolves
    /// (Session Manager's target).
    InstanceId,
}

/// The route a plan takes and the form of the address at its end. It is
/// shown (and serialized) as one word, as plans always have: `public-dns`,
/// `public-ip`, `private`, `eice`, `ssm`; a plan through a bastion goes to the
/// private address, and says `private`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteTo {
    pub route: Route,
    pub address: AddressKind,
}

impl RouteTo {
    /// `public-dns`, `public-ip`, `private`, `eice`, …
    pub fn word(self) -> &'static str {
        match (self.route, self.address) {
            (Route::Public, AddressKind::DnsName) => "public-dns",
            (Route::Public, AddressKind::Ip) => "public-ip",
            (route, _) => route.name(),
        }
    }

    /// What the address is, for notes: `public DNS name`, `public IPv4`, …
    pub fn label(self) -> &'static str {
        match (self.route, self.address) {
            (Route::Public, AddressKind::DnsName) => "public DNS name",
            (Route::Public, AddressKind::Ip | AddressKind::InstanceId) => "public IPv4",
            (Route::Eice, _) => "private IPv4 through an EC2 Instance Connect Endpoint",
            (Route::Ssm, _) => "Session Manager",
            (Route::Private | Route::Bastion, _) => "private IPv4",
        }
    }
}

impl Serialize for RouteTo {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.word())
    }
}

/// The tag that marks an instance as its VPC's bastion (any value).
pub const BASTION_TAG: &str = "berth:bastion";

/// How the bastion was found, strongest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "from", content = "detail")]
pub enum BastionSource {
    /// `--bastion TARGET`.
    Flag,
    /// The config file, under this key (`clusters.prod.bastion`, …).
    Config(String),
    /// Tagged `berth:bastion` in the host's VPC.
    Tag,
}

impl BastionSource {
    /// `--bastion`, `config `KEY``, `tagged`: how it was found, in a word.
    pub fn short(&self) -> String {
        match self {
            Self::Flag => "--bastion".to_owned(),
            Self::Config(key) => format!("config `{key}`"),
            Self::Tag => "tagged".to_owned(),
        }
    }
}

/// A bastion that was found: its label, how it was found, and the machine
/// (whose state, address and groups doctor checks the route through it by).
/// A plan's JSON shows the label and the source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bastion {
    pub label: String,
    pub source: BastionSource,
    /// What names it again: `--bastion`'s value, else its instance id (or
    /// its ssh name, outside EC2), for `berth doctor` lines.
    #[serde(skip)]
    pub target: String,
    #[serde(skip)]
    pub machine: BastionMachine,
}

/// What a bastion is: an EC2 instance, or a host outside EC2 that ssh
/// knows by name (its ssh config supplies user, key and address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BastionMachine {
    Instance(Box<Host>),
    External(String),
}

impl Bastion {
    /// The bastion's instance, when it is an EC2 one.
    pub fn instance(&self) -> Option<&Host> {
        match &self.machine {
            BastionMachine::Instance(host) => Some(host),
            BastionMachine::External(_) => None,
        }
    }

    /// Named with `--bastion` (not configured or tagged).
    pub fn named(&self) -> bool {
        self.source == BastionSource::Flag
    }
}

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
    /// SSH over Session Manager (AWS-StartSSHSession).
    Ssm,
}

impl Named for Via {
    const WHAT: &'static str = "a route";
    const ALL: &'static [(Self, &'static str, &'static str)] = &[
        (
            Self::Auto,
            "auto",
            "The first route whose prerequisites hold: the public address, else a bastion, else an endpoint, else Session Manager when its agent is Online",
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
        (
            Self::Ssm,
            "ssm",
            "SSH over Session Manager (AWS-StartSSHSession): no open port or public address needed",
        ),
    ];
}

crate::model::named::named_text!(Via);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_names_its_route_in_one_word_as_before() {
        let to = |route, address| RouteTo { route, address };
        let table = [
            (
                to(Route::Public, AddressKind::DnsName),
                "public-dns",
                "public DNS name",
            ),
            (
                to(Route::Public, AddressKind::Ip),
                "public-ip",
                "public IPv4",
            ),
            (
                to(Route::Private, AddressKind::Ip),
                "private",
                "private IPv4",
            ),
            (
                to(Route::Eice, AddressKind::Ip),
                "eice",
                "private IPv4 through an EC2 Instance Connect Endpoint",
            ),
        ];
        for (route, word, label) in table {
            assert_eq!(route.word(), word);
            assert_eq!(route.label(), label);
            assert_eq!(
                serde_json::to_value(route).expect("json"),
                serde_json::json!(word)
            );
        }
    }

    #[test]
    fn doctor_names_the_endpoint_route_by_its_check() {
        assert_eq!(Route::Eice.name(), "eice");
        assert_eq!(Route::Eice.doctor_name(), "instance-connect-endpoint");
        assert_eq!(Route::Public.doctor_name(), "public");
        assert_eq!(
            serde_json::to_value(Route::Eice).expect("json"),
            serde_json::json!("eice")
        );
        assert_eq!(Route::Ssm.via(), Some(Via::Ssm));
        assert_eq!(Route::Bastion.via(), Some(Via::Bastion));
    }
}
