//! Pure planning of `berth proxy`: which way the bytes to one port of a
//! host go. `public` and `private` connect straight to that address;
//! `eice` tunnels to the private IPv4 address (else the IPv6 one) through
//! an EC2 Instance Connect Endpoint of the host's VPC; `auto` takes the public address when there
//! is one, else the endpoint tunnel, else says what is missing.
//!
//! The endpoints are facts like the host's: the caller lists them (only
//! when [`needs_endpoints`] says so) and passes them in.

use std::fmt;

use serde::Serialize;

use super::{PlanError, Route, Via, available_routes, choose_address, route_label};
use crate::error::Error;
use crate::model::host::Host;
use crate::transport::eice::{EiceError, InstanceConnectEndpoint, TunnelTarget, choose_endpoint};

/// How `berth proxy` reaches the port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum ProxyRoute {
    /// A TCP connection straight to the address.
    Direct {
        address: String,
        port: u16,
        route: Route,
    },
    /// A tunnel through the endpoint to the private address.
    Eice {
        endpoint: Box<InstanceConnectEndpoint>,
        #[serde(skip)]
        target: TunnelTarget,
    },
}

impl fmt::Display for ProxyRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Direct {
                address,
                port,
                route,
            } => write!(f, "straight to {address}:{port} ({})", route_label(*route)),
            Self::Eice { endpoint, target } => write!(
                f,
                "to {} through EC2 Instance Connect Endpoint {} ({})",
                target.address(),
                endpoint.id,
                endpoint.dns_name
            ),
        }
    }
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
        Via::Public | Via::Private | Via::Bastion | Via::InstanceConnect => false,
    }
}

/// The route to `port` of `host` for `via`, given the endpoints of its
/// VPC (empty when [`needs_endpoints`] said they are not needed).
pub fn plan_proxy(
    host: &Host,
    via: Via,
    port: u16,
    endpoints: &[InstanceConnectEndpoint],
) -> Result<ProxyRoute, Error> {
    let instance_id = &host.ec2.instance_id;
    if host.ec2.state != "running" {
        return Err(PlanError::NotRunning {
            instance_id: instance_id.clone(),
            state: host.ec2.state.clone(),
        }
        .into());
    }
    let direct = |via| {
        choose_address(host, via).map(|(address, route)| ProxyRoute::Direct {
            address,
            port,
            route,
        })
    };
    let tunnel = |no_public_address| {
        let private_ip = host
            .ec2
            .tunnel_address()
            .map(str::to_owned)
            .ok_or_else(|| EiceError::NoPrivateAddress {
                instance_id: instance_id.clone(),
            })?;
        let endpoint = choose_endpoint(endpoints, host).map_err(|e| match e {
            EiceError::NoEndpoint {
                instance_id,
                vpc_id,
                subnet_id,
                ..
            } => EiceError::NoEndpoint {
                instance_id,
                vpc_id,
                subnet_id,
                no_public_address,
            },
            other => other,
        })?;
        Ok::<_, EiceError>(ProxyRoute::Eice {
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
        Via::Eice => Ok(tunnel(false)?),
        Via::Auto => match direct(Via::Public) {
            Ok(route) => Ok(route),
            Err(_) if host.ec2.tunnel_address().is_some() => Ok(tunnel(true)?),
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
    use crate::error::Cause;
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
    fn outcome(result: Result<ProxyRoute, Error>) -> String {
        match result.map_err(Error::into_cause) {
            Ok(ProxyRoute::Direct { address, port, .. }) => format!("direct {address}:{port}"),
            Ok(ProxyRoute::Eice { endpoint, target }) => {
                format!("eice {} {}", endpoint.id, target.address())
            }
            Err(Cause::Eice(EiceError::NoEndpoint {
                no_public_address, ..
            })) => format!("no endpoint (no public address: {no_public_address})"),
            Err(Cause::Eice(EiceError::NoPrivateAddress { .. })) => "no private address".into(),
            Err(Cause::Plan(PlanError::NoRoute { wanted, .. })) => format!("no {wanted} route"),
            Err(Cause::Plan(PlanError::NotRunning { state, .. })) => {
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
            Ok(ProxyRoute::Eice { target, .. }) => assert_eq!(target.port, 3389),
            other => panic!("{other:?}"),
        }
    }
}
