//! Pure planning of `berth proxy`: which way the bytes to one port of a
//! host go. `public` and `private` connect straight to that address;
//! `eice` tunnels to the private IPv4 address (else the IPv6 one) through
//! an EC2 Instance Connect Endpoint of the host's VPC; `auto` takes the public address when there
//! is one, else the endpoint tunnel, else says what is missing.
//!
//! The endpoints are facts like the host's: the caller lists them (only
//! when [`needs_endpoints`] says so) and passes them in.

use std::fmt;

use super::route::choose_endpoint;
use super::{PlanError, Via, available_routes, choose_address};
use crate::model::host::Host;
use crate::model::network::{InstanceConnectEndpoint, TunnelTarget};
use crate::model::route::{Route, RouteTo};

/// How `berth proxy` carries the bytes to the port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyPlan {
    /// A TCP connection straight to the address (route `public` or
    /// `private`).
    Direct {
        address: String,
        port: u16,
        route: RouteTo,
    },
    /// A tunnel through the endpoint to the private address (route `eice`).
    Tunnel {
        endpoint: Box<InstanceConnectEndpoint>,
        target: TunnelTarget,
    },
    /// A Session Manager port session (AWS-StartSSHSession) to the port
    /// on the instance itself (route `ssm`).
    Ssm { instance_id: String, port: u16 },
}

impl ProxyPlan {
    /// The route the bytes take.
    pub fn route(&self) -> Route {
        match self {
            Self::Direct { route, .. } => route.route,
            Self::Tunnel { .. } => Route::Eice,
            Self::Ssm { .. } => Route::Ssm,
        }
    }
}

impl fmt::Display for ProxyPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Direct {
                address,
                port,
                route,
            } => write!(f, "straight to {address}:{port} ({})", route.label()),
            Self::Tunnel { endpoint, target } => write!(
                f,
                "to {} through EC2 Instance Connect Endpoint {} ({})",
                target.address(),
                endpoint.id,
                endpoint.dns_name
            ),
            Self::Ssm { instance_id, port } => write!(
                f,
                "to port {port} of {instance_id} over Session Manager (AWS-StartSSHSession)"
            ),
        }
    }
}

/// Why `berth proxy` has no way to the port. The command reports the
/// endpoint cases as the tunnel's own errors (`EiceError`), with the same
/// ids.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("no EC2 Instance Connect Endpoint for {instance_id} in {}", .vpc_id.as_deref().unwrap_or("its VPC"))]
    NoEndpoint {
        instance_id: String,
        vpc_id: Option<String>,
        subnet_id: Option<String>,
        /// `auto` looked for an endpoint because there is no public
        /// address either.
        no_public_address: bool,
    },
    #[error("{instance_id} has neither a private IPv4 nor an IPv6 address to tunnel to")]
    NoPrivateAddress { instance_id: String },
}

/// Whether planning `via` for `host` needs the endpoints of its VPC.
pub fn needs_endpoints(host: &Host, via: Via) -> bool {
    match via {
        Via::Eice => true,
        Via::Auto => {
            host.ec2.public_dns.is_none()
                && host.ec2.public_ip.is_none()
                && host.ec2.tunnel_address().is_some()
        }
        Via::Public | Via::Private | Via::Bastion | Via::InstanceConnect | Via::Ssm => false,
    }
}

/// The route to `port` of `host` for `via`, given the endpoints of its
/// VPC (empty when [`needs_endpoints`] said they are not needed).
pub fn plan_proxy(
    host: &Host,
    via: Via,
    port: u16,
    endpoints: &[InstanceConnectEndpoint],
) -> Result<ProxyPlan, ProxyError> {
    let instance_id = &host.ec2.instance_id;
    if host.ec2.state != "running" {
        return Err(PlanError::NotRunning {
            instance_id: instance_id.clone(),
            state: host.ec2.state.clone(),
        }
        .into());
    }
    let direct = |via| {
        choose_address(host, via).map(|(address, route)| ProxyPlan::Direct {
            address,
            port,
            route,
        })
    };
    let tunnel = |no_public_address| -> Result<ProxyPlan, ProxyError> {
        let private_ip = host
            .ec2
            .tunnel_address()
            .map(str::to_owned)
            .ok_or_else(|| ProxyError::NoPrivateAddress {
                instance_id: instance_id.clone(),
            })?;
        let endpoint = choose_endpoint(endpoints, host).ok_or_else(|| ProxyError::NoEndpoint {
            instance_id: instance_id.clone(),
            vpc_id: host.ec2.vpc_id.clone(),
            subnet_id: host.ec2.subnet_id.clone(),
            no_public_address,
        })?;
        Ok(ProxyPlan::Tunnel {
            target: TunnelTarget {
                endpoint_id: endpoint.id.clone(),
                private_ip,
                port,
                max_duration: None,
            },
            endpoint: Box::new(endpoint.clone()),
        })
    };
    match via {
        Via::Public | Via::Private => Ok(direct(via)?),
        // A one-time key is no matter for bytes; `berth proxy` runs the
        // bastion's ssh itself.
        Via::InstanceConnect => Ok(direct(Via::InstanceConnect)?),
        Via::Bastion => Err(PlanError::NoRoute {
            instance_id: instance_id.clone(),
            wanted: "direct or endpoint",
            available: available_routes(host),
        }
        .into()),
        Via::Eice => tunnel(false),
        Via::Ssm => Ok(ProxyPlan::Ssm {
            instance_id: instance_id.clone(),
            port,
        }),
        Via::Auto => match direct(Via::Public) {
            Ok(route) => Ok(route),
            Err(_) if host.ec2.tunnel_address().is_some() => tunnel(true),
            Err(_) => Err(PlanError::NoRoute {
                instance_id: instance_id.clone(),
                wanted: "public",
                available: available_routes(host),
            }
            .into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::host::example_host;

    fn host(public: bool, private: bool) -> Host {
        let mut host = example_host();
        host.ec2.vpc_id = Some("vpc-a".into());
        host.ec2.subnet_id = Some("subnet-1".into());
        if !public {
            host.ec2.public_dns = None;
            host.ec2.public_ip = None;
        }
        if !private {
            host.ec2.private_ip = None;
        }
        host
    }

    fn endpoint() -> InstanceConnectEndpoint {
        InstanceConnectEndpoint {
            id: "eice-0123456789abcdef0".into(),
            vpc_id: "vpc-a".into(),
            subnet_id: "subnet-1".into(),
            state: "create-complete".into(),
            dns_name: "eice-0123456789abcdef0.1a2b3c4d.example".into(),
            fips_dns_name: None,
            security_group_ids: vec![],
            preserve_client_ip: false,
        }
    }

    /// What a plan comes to, in a word: where it goes, or why not.
    fn outcome(result: Result<ProxyPlan, ProxyError>) -> String {
        match result {
            Ok(ProxyPlan::Direct { address, port, .. }) => format!("direct {address}:{port}"),
            Ok(ProxyPlan::Tunnel { endpoint, target }) => {
                format!("eice {} {}", endpoint.id, target.address())
            }
            Ok(ProxyPlan::Ssm { instance_id, port }) => format!("ssm {instance_id}:{port}"),
            Err(ProxyError::NoEndpoint {
                no_public_address, ..
            }) => format!("no endpoint (no public address: {no_public_address})"),
            Err(ProxyError::NoPrivateAddress { .. }) => "no private address".into(),
            Err(ProxyError::Plan(PlanError::NoRoute { wanted, .. })) => {
                format!("no {wanted} route")
            }
            Err(ProxyError::Plan(PlanError::NotRunning { state, .. })) => {
                format!("not running: {state}")
            }
            Err(other) => format!("other: {other}"),
        }
    }

    #[test]
    fn routes_by_via_and_facts() {
        let with = vec![endpoint()];
        let none: Vec<InstanceConnectEndpoint> = vec![];
        let dns = "ec2-3-4-5-6.compute-1.amazonaws.com";
        let cases: Vec<(&str, Host, Via, &[InstanceConnectEndpoint], String)> = vec![
            (
                "auto: the public address first",
                host(true, true),
                Via::Auto,
                &with,
                format!("direct {dns}:22"),
            ),
            (
                "auto: no public address, an endpoint",
                host(false, true),
                Via::Auto,
                &with,
                "eice eice-0123456789abcdef0 10.0.1.7:22".into(),
            ),
            (
                "auto: neither",
                host(false, true),
                Via::Auto,
                &none,
                "no endpoint (no public address: true)".into(),
            ),
            (
                "auto: no address at all",
                host(false, false),
                Via::Auto,
                &with,
                "no public route".into(),
            ),
            (
                "private",
                host(true, true),
                Via::Private,
                &none,
                "direct 10.0.1.7:22".into(),
            ),
            (
                "public without one",
                host(false, true),
                Via::Public,
                &with,
                "no public route".into(),
            ),
            (
                "ssm, with no address at all",
                host(false, false),
                Via::Ssm,
                &none,
                "ssm i-0123456789abcdef0:22".into(),
            ),
            (
                "eice, even with a public address",
                host(true, true),
                Via::Eice,
                &with,
                "eice eice-0123456789abcdef0 10.0.1.7:22".into(),
            ),
            (
                "eice without an endpoint",
                host(true, true),
                Via::Eice,
                &none,
                "no endpoint (no public address: false)".into(),
            ),
            (
                "eice without a private address",
                host(true, false),
                Via::Eice,
                &with,
                "no private address".into(),
            ),
        ];
        for (name, host, via, endpoints, want) in cases {
            assert_eq!(
                outcome(plan_proxy(&host, via, 22, endpoints)),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn a_stopped_host_is_refused_first() {
        let mut stopped = host(false, true);
        stopped.ec2.state = "stopped".into();
        assert_eq!(
            outcome(plan_proxy(&stopped, Via::Eice, 22, &[endpoint()])),
            "not running: stopped"
        );
    }

    #[test]
    fn endpoints_are_listed_only_when_needed() {
        assert!(needs_endpoints(&host(true, true), Via::Eice));
        assert!(needs_endpoints(&host(false, true), Via::Auto));
        assert!(!needs_endpoints(&host(true, true), Via::Auto));
        assert!(!needs_endpoints(&host(false, true), Via::Private));
    }

    #[test]
    fn an_ipv6_only_host_is_tunnelled_to_its_ipv6_address() {
        let mut v6 = host(false, false);
        v6.ec2.ipv6 = Some("2600:1f18:abcd:1::7".into());
        for via in [Via::Eice, Via::Auto] {
            assert_eq!(
                outcome(plan_proxy(&v6, via, 22, &[endpoint()])),
                "eice eice-0123456789abcdef0 [2600:1f18:abcd:1::7]:22",
                "{via:?}"
            );
        }
        assert!(needs_endpoints(&v6, Via::Auto));
        // With both, the private IPv4 (as the AWS CLI takes it).
        let mut both = host(false, true);
        both.ec2.ipv6 = Some("2600:1f18:abcd:1::7".into());
        assert_eq!(
            outcome(plan_proxy(&both, Via::Eice, 22, &[endpoint()])),
            "eice eice-0123456789abcdef0 10.0.1.7:22"
        );
    }

    #[test]
    fn the_port_goes_through() {
        match plan_proxy(&host(false, true), Via::Auto, 3389, &[endpoint()]) {
            Ok(ProxyPlan::Tunnel { target, .. }) => assert_eq!(target.port, 3389),
            other => panic!("{other:?}"),
        }
    }
}
