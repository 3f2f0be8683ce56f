//! Network facts as EC2 reports them: security groups and their inbound
//! permissions, network ACLs, route tables. Data with the small questions
//! each answers about itself; what they mean for a connection is
//! [`doctor`](crate::doctor)'s to decide.

use super::lookup::Lookup;
use ipnet::IpNet;
use serde::Serialize;

/// One inbound permission of a security group, as EC2 reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Permission {
    /// `tcp`, `udp`, `icmp`, a protocol number, or `-1` for all traffic.
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub cidrs: Vec<IpNet>,
    pub prefix_lists: Vec<String>,
    pub groups: Vec<String>,
}

impl Permission {
    /// Whether the permission covers TCP `port`.
    pub fn covers_tcp(&self, port: u16) -> bool {
        match self.protocol.as_str() {
            "-1" | "all" => true,
            "tcp" | "6" => match (self.from_port, self.to_port) {
                (Some(from), Some(to)) if from >= 0 && to >= 0 => {
                    (from..=to).contains(&i32::from(port))
                }
                // EC2 reports "all ports" of a TCP rule as 0-65535; an
                // absent or -1 range means the same.
                _ => true,
            },
            _ => false,
        }
    }

    /// `tcp/22`, `tcp/0-65535`, `all traffic`.
    pub fn ports(&self) -> String {
        match (self.protocol.as_str(), self.from_port, self.to_port) {
            ("-1" | "all", _, _) => "all traffic".to_owned(),
            (p, Some(from), Some(to)) if from == to => format!("{p}/{from}"),
            (p, Some(from), Some(to)) => format!("{p}/{from}-{to}"),
            (p, _, _) => format!("{p}/all"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
    pub ingress: Vec<Permission>,
}

/// One entry of a network ACL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AclEntry {
    pub rule_number: i32,
    pub egress: bool,
    /// `-1` for all, else a protocol number (`6` is TCP).
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub cidr: IpNet,
    pub allow: bool,
}

impl AclEntry {
    pub fn is_tcp(&self) -> bool {
        matches!(self.protocol.as_str(), "-1" | "6" | "tcp")
    }

    /// The TCP ports the entry covers, as an inclusive range.
    pub fn port_range(&self) -> (u16, u16) {
        if self.protocol == "-1" {
            return (0, u16::MAX);
        }
        let clamp = |p: i32| u16::try_from(p.max(0)).unwrap_or(u16::MAX);
        match (self.from_port, self.to_port) {
            (Some(from), Some(to)) => (clamp(from), clamp(to)),
            _ => (0, u16::MAX),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct NetworkAcl {
    pub id: String,
    pub entries: Vec<AclEntry>,
}

/// One route of a route table: destination and target (`igw-…`, `local`,
/// `nat-…`, `pcx-…`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    pub destination: String,
    pub target: String,
    /// `active` or `blackhole`.
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct RouteTable {
    pub id: String,
    /// The VPC's main table, used by subnets without one of their own.
    pub main: bool,
    pub routes: Vec<Route>,
}

impl RouteTable {
    /// The route replies to `to` take: the most specific destination that
    /// contains it (prefix-list destinations are not expanded).
    pub fn route_for(&self, to: &IpNet) -> Option<&Route> {
        self.routes
            .iter()
            .filter_map(|r| Some((r.destination.parse::<IpNet>().ok()?, r)))
            .filter(|(dest, _)| dest.contains(to))
            .max_by_key(|(dest, _)| dest.prefix_len())
            .map(|(_, r)| r)
    }

    /// The default IPv4 route out to the internet, through an internet
    /// gateway or a NAT gateway, if the table has one that works: what lets
    /// an agent in the subnet reach AWS's public endpoints.
    pub fn outbound_route(&self) -> Option<&Route> {
        self.routes.iter().find(|r| {
            r.destination == "0.0.0.0/0"
                && r.state != "blackhole"
                && (r.target.starts_with("igw-") || r.target.starts_with("nat-"))
        })
    }

    /// The default route to an internet gateway, if the table has one that
    /// works: what makes a subnet public.
    pub fn internet_route(&self, ipv6: bool) -> Option<&Route> {
        let default = if ipv6 { "::/0" } else { "0.0.0.0/0" };
        self.routes
            .iter()
            .find(|r| r.destination == default && r.reaches_internet())
    }
}

impl Route {
    /// To a working internet gateway.
    pub fn reaches_internet(&self) -> bool {
        self.target.starts_with("igw-") && self.state != "blackhole"
    }

    /// A default route (`0.0.0.0/0`, `::/0`).
    pub fn is_default(&self) -> bool {
        self.destination == "0.0.0.0/0" || self.destination == "::/0"
    }
}

/// The key pair as EC2 knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyPairInfo {
    pub name: String,
    pub fingerprint: Option<String>,
    /// `rsa` or `ed25519`.
    pub key_type: Option<String>,
}

/// A managed instance's Session Manager agent, as DescribeInstanceInformation
/// reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SsmAgent {
    /// `Online`, `ConnectionLost`, `Inactive`.
    pub ping_status: String,
    pub agent_version: Option<String>,
    /// When the agent last reached Systems Manager (RFC 3339, UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_ping: Option<String>,
}

impl SsmAgent {
    /// Whether Session Manager can start a session on it now.
    pub fn online(&self) -> bool {
        self.ping_status == "Online"
    }
}

/// What Session Manager says of the instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SsmState {
    /// Not a managed instance (no agent, no role, or no route to SSM).
    NotManaged,
    /// Registered: its agent's ping status, version and last contact.
    Managed(SsmAgent),
}

/// The document Session Manager's preferences live in (the console's
/// Preferences tab writes it; none means the defaults).
pub const PREFERENCES_DOCUMENT: &str = "SSM-SessionManagerRunShell";

/// An SSM agent version (`3.3.987.0`), compared part by
/// part as numbers, as the agent and the plugin compare them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AgentVersion(Vec<u64>);

impl AgentVersion {
    /// `None` unless every dot-separated part is a number.
    pub fn parse(text: &str) -> Option<Self> {
        let parts: Option<Vec<u64>> = text.trim().split('.').map(|p| p.parse().ok()).collect();
        parts.filter(|p| !p.is_empty()).map(Self)
    }
}

/// A VPC endpoint (DescribeVpcEndpoints), as far as doctor asks: which
/// service it reaches, of which type, in which state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VpcEndpoint {
    pub id: String,
    /// `com.amazonaws.us-east-1.ssmmessages`, …
    pub service_name: String,
    /// `Interface`, `Gateway`, `GatewayLoadBalancer`.
    pub endpoint_type: String,
    /// `available`, `pending`, `deleting`, …
    pub state: String,
}

/// One endpoint, in berth's terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceConnectEndpoint {
    pub id: String,
    pub vpc_id: String,
    pub subnet_id: String,
    /// `create-complete`, `create-in-progress`, `delete-in-progress`, …
    pub state: String,
    /// Where tunnels are opened: `wss://{dns_name}`.
    pub dns_name: String,
    pub fips_dns_name: Option<String>,
    pub security_group_ids: Vec<String>,
    pub preserve_client_ip: bool,
}

impl InstanceConnectEndpoint {
    /// Whether it takes tunnels in this state (the states the AWS CLI
    /// accepts: created, and updating or updated).
    pub fn usable(&self) -> bool {
        matches!(
            self.state.as_str(),
            "create-complete" | "update-in-progress" | "update-complete" | "update-failed"
        )
    }
}

/// What one tunnel through an EC2 Instance Connect Endpoint reaches:
/// through which endpoint, which address and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelTarget {
    pub endpoint_id: String,
    pub private_ip: String,
    pub port: u16,
    /// `maxTunnelDuration`: the endpoint closes the tunnel after this long
    /// (1 s to 1 h; the endpoint's default is 1 h).
    pub max_duration: Option<std::time::Duration>,
}

impl TunnelTarget {
    /// `10.0.1.5:22`, or `[2600:…]:22`.
    pub fn address(&self) -> String {
        if self.private_ip.contains(':') {
            format!("[{}]:{}", self.private_ip, self.port)
        } else {
            format!("{}:{}", self.private_ip, self.port)
        }
    }
}

/// An endpoint in `vpc`'s `subnet`, for tests.
#[cfg(test)]
pub fn example_endpoint(id: &str, vpc: &str, subnet: &str, state: &str) -> InstanceConnectEndpoint {
    InstanceConnectEndpoint {
        id: id.into(),
        vpc_id: vpc.into(),
        subnet_id: subnet.into(),
        state: state.into(),
        dns_name: format!("{id}.example"),
        fips_dns_name: None,
        security_group_ids: vec!["sg-eice".into()],
        preserve_client_ip: false,
    }
}

/// A Session Manager session as StartSession or ResumeSession answers:
/// the id, the token that authenticates the data channel, and the
/// websocket URL to open (passed on untouched).
#[derive(Clone, PartialEq, Eq)]
pub struct SessionGrant {
    pub session_id: String,
    pub token: String,
    pub stream_url: String,
}

/// The token is a secret: never in a log or a debug print.
impl std::fmt::Debug for SessionGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionGrant")
            .field("session_id", &self.session_id)
            .field("token", &"…")
            .field("stream_url", &self.stream_url)
            .finish()
    }
}

/// A data key as KMS GenerateDataKey answers: the key itself (a secret)
/// and the same key encrypted under the KMS key (the `CiphertextBlob`, which
/// only KMS can turn back into the key).
#[derive(Clone, PartialEq, Eq)]
pub struct DataKey {
    pub plaintext: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// The key is a secret: never in a log or a debug print.
impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey")
            .field(
                "plaintext",
                &format_args!("<{} bytes>", self.plaintext.len()),
            )
            .field(
                "ciphertext",
                &format_args!("<{} bytes>", self.ciphertext.len()),
            )
            .finish()
    }
}

/// A KMS key as DescribeKey tells the caller of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsKey {
    /// Its ARN (an alias resolves to its key).
    pub arn: String,
    /// `KeyState`: `Enabled`, `Disabled`, `PendingDeletion`, …
    pub state: String,
    /// `KeyUsage`: a session key must be `ENCRYPT_DECRYPT`.
    pub usage: String,
    /// `KeySpec`: a data key needs `SYMMETRIC_DEFAULT`.
    pub spec: String,
}

/// What KMS answered the caller about a key: the answer, that there is no
/// such key (NotFoundException), or that the caller may not ask
/// (AccessDeniedException, with KMS's message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KmsAnswer<T> {
    Found(T),
    NotFound(String),
    Denied(String),
}

/// The KMS key the Session Manager preferences encrypt sessions with, and
/// what the caller may do with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionKey {
    /// As the preferences name it (an id, ARN or alias).
    pub id: String,
    /// DescribeKey.
    pub described: Lookup<KmsAnswer<KmsKey>>,
    /// GenerateDataKey with `DryRun`: `Found(())` when KMS says the call
    /// would succeed (DryRunOperationException); no key is made.
    pub generate: Lookup<KmsAnswer<()>>,
}
