//! EC2 Instance Connect Endpoint (EICE) tunnels, natively: what
//! `aws ec2-instance-connect open-tunnel` does, without the AWS CLI.
//!
//! An endpoint is an interface in the instance's VPC. To reach
//! `PRIVATE-IP:PORT` through it, the client opens a websocket to
//! `wss://{DnsName}/openTunnel?instanceConnectEndpointId=…&remotePort=…&privateIpAddress=…`,
//! presigned with SigV4 in the query (service `ec2-instance-connect`,
//! valid for 60 seconds); the endpoint then connects to the instance and
//! carries the TCP bytes both ways in binary frames. IAM decides with the
//! action `ec2-instance-connect:OpenTunnel` on the endpoint; the instance's
//! security groups must admit the endpoint (its group, or its address).
//!
//! - [`endpoint`]: an endpoint's name for tunnels, and the error when a
//!   VPC has none to use (which one to use is `plan::route::choose_endpoint`);
//! - [`presign`]: the presigned URL (pure: credentials and time are given);
//! - the HTTP proxy the environment names, if any: [`crate::transport::proxy`],
//!   shared with Session Manager's data channel;
//! - [`TunnelOpener`]: opens one tunnel (a fresh URL each time, since one
//!   expires in a minute), and [`carry`] pipes it to any byte streams;
//! - [`forward`]: a local port whose every connection gets its own tunnel.
//!
//! `$BERTH_EICE_URL` (`ws://127.0.0.1:PORT`) replaces the scheme and host
//! of every tunnel, for a local stand-in; the signature covers the host
//! actually connected to.

pub mod endpoint;
pub mod forward;
pub mod presign;
mod websocket;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_types::error::display::DisplayErrorContext;

use crate::aws::ca_bundle::CaBundle;
use crate::settings::ProxyEnv;
use crate::transport::proxy::{ProxyError, proxy_for};

pub use endpoint::InstanceConnectEndpoint;
pub use presign::{TunnelBase, TunnelTarget, presign};
pub use websocket::{Carried, InputEnd, Tunnel, carry};

/// The IAM action that lets a principal open a tunnel through an endpoint.
pub const OPEN_TUNNEL_ACTION: &str = "ec2-instance-connect:OpenTunnel";

/// How long a presigned URL stays valid (what the AWS CLI signs for).
pub const URL_EXPIRES: Duration = Duration::from_secs(60);

/// The ports an endpoint tunnels to: SSH and RDP.
pub const ENDPOINT_PORTS: [u16; 2] = [22, 3389];

/// What to say after a tunnel that carried bytes ended badly: it was let
/// in, so the security groups are not the cause.
const MID_SESSION_HINT: &str = "the tunnel was open and carrying data, so the security groups \
    let it in; the network, the endpoint or the far side cut it: connect again";

/// The longest an endpoint keeps a tunnel open, in seconds, and how long it
/// keeps one when `maxTunnelDuration` does not say (an hour).
pub const MAX_TUNNEL_SECONDS: u64 = 3600;

#[derive(Debug, thiserror::Error)]
pub enum EiceError {
    #[error("{}", no_endpoint_message(.instance_id, .vpc_id.as_deref(), *.no_public_address))]
    NoEndpoint {
        instance_id: String,
        vpc_id: Option<String>,
        subnet_id: Option<String>,
        /// Said when `auto` looked for an endpoint because there is no
        /// public address either.
        no_public_address: bool,
    },
    #[error("FIPS endpoints are asked for, and {endpoint_id} has no FIPS DNS name")]
    NoFipsName { endpoint_id: String },
    #[error("{instance_id} has neither a private IPv4 nor an IPv6 address to tunnel to")]
    NoPrivateAddress { instance_id: String },
    #[error("`{value}` is not a ws:// or wss:// URL with a host (from {var})")]
    BadBaseUrl { var: &'static str, value: String },
    #[error("cannot sign the tunnel request: {0}")]
    Signing(String),
    #[error("no usable AWS credentials to sign the tunnel with: {0}")]
    Credentials(String),
    #[error("{endpoint_id} refused the tunnel to {target} (HTTP {status}){}", detail_suffix(.detail))]
    Refused {
        endpoint_id: String,
        target: String,
        /// The port asked for: an endpoint admits 22 and 3389 only.
        port: u16,
        status: u16,
        detail: String,
    },
    #[error("cannot reach {url}: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("cannot reach {url} through the proxy {proxy} (from {var}): {detail}")]
    Proxy {
        url: String,
        /// `host:port`, never the credentials of the proxy URL.
        proxy: String,
        var: &'static str,
        detail: String,
    },
    #[error("the tunnel through {endpoint_id} closed with an error ({code}){}{}", detail_suffix(.reason), after(.carried))]
    Closed {
        endpoint_id: String,
        code: u16,
        reason: String,
        /// What went through before: a tunnel that carried bytes was let in.
        carried: Carried,
    },
    /// Broke before any byte went through (a protocol error, a reset).
    #[error("the tunnel broke: {0}")]
    Broken(String),
    /// Broke after bytes went through: the route was open, then the
    /// connection was cut (network, endpoint, or the process on the far side).
    #[error(
        "the tunnel through {endpoint_id} to {target} broke mid-session \
         ({} bytes sent, {} received, then the connection was cut)",
        .carried.sent, .carried.received
    )]
    BrokeMidSession {
        endpoint_id: String,
        target: String,
        carried: Carried,
    },
    #[error(
        "the tunnel through {endpoint_id} to {target} reached its time limit: the endpoint \
         closes a tunnel after {seconds} s ({} bytes sent, {} received)",
        .carried.sent, .carried.received
    )]
    TimeLimit {
        endpoint_id: String,
        target: String,
        seconds: u64,
        carried: Carried,
    },
    #[error("cannot listen on 127.0.0.1:{port} for the tunnel: {detail}")]
    Listen { port: u16, detail: String },
}

fn no_endpoint_message(instance_id: &str, vpc: Option<&str>, no_public: bool) -> String {
    let vpc = vpc.unwrap_or("its VPC");
    if no_public {
        format!(
            "{instance_id} has no public address, and {vpc} has no EC2 Instance Connect Endpoint to tunnel through"
        )
    } else {
        format!("{vpc} (of {instance_id}) has no EC2 Instance Connect Endpoint")
    }
}

/// `after 12 bytes sent and 34 received`, when any went through.
fn after(carried: &Carried) -> String {
    if *carried == Carried::default() {
        String::new()
    } else {
        format!(
            " after {} bytes sent and {} received",
            carried.sent, carried.received
        )
    }
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}

impl crate::model::hint::Hint for EiceError {
    /// The next step, with the real ids filled in.
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::NoEndpoint {
                subnet_id,
                no_public_address,
                ..
            } => {
                let subnet = subnet_id.as_deref().unwrap_or("SUBNET-ID");
                let create = format!(
                    "create one in the instance's subnet: `aws ec2 create-instance-connect-endpoint --subnet-id {subnet}` \
                     (its security group must be let in on the port by the instance's)"
                );
                if *no_public_address {
                    format!("{create}; or connect with --via private from inside the VPC")
                } else {
                    create
                }
            }
            Self::NoFipsName { .. } => {
                "unset AWS_USE_FIPS_ENDPOINT (or use_fips_endpoint in the profile) for this \
                 endpoint, or use one in a region with FIPS endpoints"
                    .to_owned()
            }
            Self::NoPrivateAddress { .. } => {
                "an endpoint reaches instances by their private IPv4 or IPv6 address; use another --via"
                    .to_owned()
            }
            Self::BadBaseUrl { var, .. } => {
                format!("set {var} to the stand-in's base, e.g. ws://127.0.0.1:8080, or unset it")
            }
            Self::Signing(_) => "run berth again; if it persists, report a bug".to_owned(),
            Self::Listen { .. } => "another program took the port; run berth again".to_owned(),
            Self::Credentials(_) => {
                "log in (`aws sso login`) or configure credentials; the tunnel is signed with them"
                    .to_owned()
            }
            Self::Refused {
                endpoint_id,
                status: 403,
                ..
            } => format!(
                "your credentials need `{OPEN_TUNNEL_ACTION}` on {endpoint_id} (its conditions may \
                 limit the port, the address and the duration); a clock off by minutes also fails"
            ),
            Self::Refused {
                status: 400, port, ..
            } if !ENDPOINT_PORTS.contains(port) => format!(
                "an EC2 Instance Connect Endpoint tunnels to ports 22 (SSH) and 3389 (RDP) only, \
                 not {port}: connect to one of those, or use another --via for port {port}"
            ),
            Self::Refused { status: 400, .. } => {
                "the endpoint takes the instance's private IPv4 (or IPv6) address in its own VPC, \
                 ports 22 and 3389, and --max-tunnel-duration 1 to 3600"
                    .to_owned()
            }
            Self::Refused { .. } => {
                "check the endpoint's state with `aws ec2 describe-instance-connect-endpoints`"
                    .to_owned()
            }
            Self::Unreachable { detail, .. } if detail.contains("certificate") => {
                "the endpoint's TLS certificate is not trusted: if a CA of your own signs it (a \
                 TLS-inspecting proxy), point AWS_CA_BUNDLE (or the profile's ca_bundle) at that \
                 CA's certificate in PEM"
                    .to_owned()
            }
            Self::Unreachable { .. } => format!(
                "check the network and the region; {} points berth at a stand-in",
                crate::settings::EICE_URL_VAR
            ),
            Self::Proxy { var, .. } => format!(
                "check {var} (http://[USER:PASSWORD@]HOST:PORT), or name the endpoint's host in \
                 NO_PROXY to connect without the proxy"
            ),
            Self::Closed { carried, .. } if *carried != Carried::default() => {
                MID_SESSION_HINT.to_owned()
            }
            Self::BrokeMidSession { .. } => MID_SESSION_HINT.to_owned(),
            Self::Closed { .. } | Self::Broken(_) => {
                "the instance's security groups must let the endpoint in on the port, and \
                 something must listen there; `berth doctor TARGET --via eice` checks"
                    .to_owned()
            }
            Self::TimeLimit { seconds, .. } if *seconds < MAX_TUNNEL_SECONDS => format!(
                "connect again; --max-tunnel-duration asks for up to {MAX_TUNNEL_SECONDS} s \
                 (an IAM policy may cap it)"
            ),
            Self::TimeLimit { .. } => {
                "connect again: an endpoint keeps no tunnel open longer than an hour".to_owned()
            }
        })
    }
}

impl EiceError {
    /// The proxy's failure on the way to `base`.
    fn through(base: &TunnelBase, e: ProxyError) -> EiceError {
        EiceError::Proxy {
            url: base.shown(),
            proxy: e.proxy,
            var: e.var,
            detail: e.detail,
        }
    }
}

/// Opens tunnels to one target through one endpoint, each with a URL
/// presigned at the moment it is opened.
#[derive(Debug, Clone)]
pub struct TunnelOpener {
    pub credentials: SharedCredentialsProvider,
    pub region: String,
    pub base: TunnelBase,
    pub target: TunnelTarget,
    /// The proxy variables (see [`crate::transport::proxy`]).
    pub proxy: ProxyEnv,
    /// CA certificates trusted besides the system's (`AWS_CA_BUNDLE`).
    pub ca_bundle: Option<Arc<CaBundle>>,
}

impl TunnelOpener {
    /// Presigns a URL now and opens the websocket.
    pub async fn open(&self) -> Result<Tunnel, EiceError> {
        let credentials = self
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| EiceError::Credentials(DisplayErrorContext(&e).to_string()))?;
        let url = presign(
            &credentials,
            &self.region,
            &self.base,
            &self.target,
            SystemTime::now(),
        )?;
        let hop = proxy_for(&self.proxy, self.base.secure(), self.base.authority())
            .map_err(|e| EiceError::through(&self.base, e))?;
        websocket::open(
            &url,
            &self.base,
            &self.target,
            hop.as_ref(),
            self.ca_bundle.as_deref(),
        )
        .await
    }

    /// `eice-… to 10.0.1.5:22`, for messages.
    pub fn describe(&self) -> String {
        format!("{} to {}", self.target.endpoint_id, self.target.address())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::hint::Hint as _;

    fn refused(status: u16, port: u16) -> EiceError {
        EiceError::Refused {
            endpoint_id: "eice-1".into(),
            target: format!("10.0.0.5:{port}"),
            port,
            status,
            detail: String::new(),
        }
    }

    #[test]
    fn an_untrusted_certificate_names_aws_ca_bundle() {
        let unreachable = |detail: &str| EiceError::Unreachable {
            url: "wss://eice/openTunnel".into(),
            detail: detail.into(),
        };
        let hint = unreachable("TLS: invalid peer certificate: UnknownIssuer")
            .hint()
            .unwrap_or_default();
        assert!(hint.contains("AWS_CA_BUNDLE"), "{hint}");
        let hint = unreachable("connection refused").hint().unwrap_or_default();
        assert!(!hint.contains("AWS_CA_BUNDLE"), "{hint}");
    }

    #[test]
    fn a_refused_port_names_the_port_rule_not_the_endpoints_state() {
        let hint = refused(400, 2222).hint().unwrap_or_default();
        assert!(
            hint.contains("22 (SSH) and 3389 (RDP) only, not 2222"),
            "{hint}"
        );
        assert!(!hint.contains("state"), "{hint}");
        // Another 400 on an admitted port is no port matter.
        assert!(
            !refused(400, 22)
                .hint()
                .unwrap_or_default()
                .contains("not 22")
        );
        assert!(
            refused(404, 22)
                .hint()
                .unwrap_or_default()
                .contains("state")
        );
        assert!(
            refused(403, 22)
                .hint()
                .unwrap_or_default()
                .contains(OPEN_TUNNEL_ACTION)
        );
    }
}
