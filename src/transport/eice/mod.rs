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
//! - [`endpoint`]: the endpoints of a VPC and which one to use (pure);
//! - [`presign`]: the presigned URL (pure: credentials and time are given);
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

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_types::error::display::DisplayErrorContext;

pub use endpoint::{InstanceConnectEndpoint, choose_endpoint};
pub use presign::{TunnelBase, TunnelTarget, presign};
pub use websocket::{Carried, Tunnel, carry};

/// The IAM action that lets a principal open a tunnel through an endpoint.
pub const OPEN_TUNNEL_ACTION: &str = "ec2-instance-connect:OpenTunnel";

/// How long a presigned URL stays valid (what the AWS CLI signs for).
pub const URL_EXPIRES: Duration = Duration::from_secs(60);

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
    #[error("{instance_id} has no private IPv4 address to tunnel to")]
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
        status: u16,
        detail: String,
    },
    #[error("cannot reach {url}: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("the tunnel through {endpoint_id} closed with an error ({code}){}", detail_suffix(.reason))]
    Closed {
        endpoint_id: String,
        code: u16,
        reason: String,
    },
    #[error("the tunnel broke: {0}")]
    Broken(String),
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

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}

impl EiceError {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::BadBaseUrl { .. } => 2,
            Self::NoEndpoint { .. }
            | Self::NoPrivateAddress { .. }
            | Self::NoFipsName { .. }
            | Self::Listen { .. } => 4,
            Self::Credentials(_) => 6,
            Self::Signing(_)
            | Self::Refused { .. }
            | Self::Unreachable { .. }
            | Self::Closed { .. }
            | Self::Broken(_) => 5,
        }
    }

    /// The next step, with the real ids filled in.
    pub fn hint(&self) -> String {
        match self {
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
                "an endpoint reaches instances by their private IPv4 address; use another --via"
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
            Self::Refused { .. } => {
                "check the endpoint's state with `aws ec2 describe-instance-connect-endpoints`"
                    .to_owned()
            }
            Self::Unreachable { .. } => format!(
                "check the network and the region; {} points berth at a stand-in",
                crate::settings::EICE_URL_VAR
            ),
            Self::Closed { .. } | Self::Broken(_) => {
                "the instance's security groups must let the endpoint in on the port, and \
                 something must listen there; `berth doctor TARGET --via eice` checks"
                    .to_owned()
            }
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
        websocket::open(&url, &self.base, &self.target).await
    }

    /// `eice-… to 10.0.1.5:22`, for messages.
    pub fn describe(&self) -> String {
        format!("{} to {}", self.target.endpoint_id, self.target.address())
    }
}
