//! Which way to reach a host: the route `--via` names, or for `auto` the
//! first route whose prerequisites hold, with the reason each route was
//! taken or passed over (`-v`, `show`, `--dry-run`).
//!
//! Pure: the commands look the facts up (a bastion and the VPC's EC2
//! Instance Connect Endpoints only when a route needs them) and this
//! decides. `auto` tries, in order: the public address (no extra hop); a
//! bastion, when one is named (`--bastion`, the config file) or tagged
//! `berth:bastion` in the host's VPC (the operator's own choice); an
//! Instance Connect Endpoint in the VPC (nothing to run or maintain);
//! last, Session Manager, when its agent on the host is Online (ssh over
//! AWS-StartSSHSession: no inbound rule, no address). SSM is asked only
//! when none of the SSH routes before it can be taken, so a host an SSH
//! route reaches costs no DescribeInstanceInformation. A host reachable
//! only on its private address is not tried by `auto`: from outside the
//! VPC that would hang until ssh's timeout, so the operator says `--via
//! private`.

use serde::Serialize;

use crate::model::host::Host;
use crate::model::lookup::{Lookup, VpcSearch};
use crate::model::network::{InstanceConnectEndpoint, SsmState};
pub use crate::model::route::BASTION_TAG;
use crate::model::route::{Bastion, BastionSource, Route};

use super::Via;

/// The routes `auto` tries, in order: the one candidate list that `ssh`
/// follows and that `doctor` lists first, marking the route `ssh` takes.
pub const AUTO_ORDER: [Route; 4] = [Route::Public, Route::Bastion, Route::Eice, Route::Ssm];

/// The bastion as far as it was looked for.
pub type BastionSearch = VpcSearch<Bastion>;

/// The EC2 Instance Connect Endpoint a tunnel would go through (`eice-…`),
/// as far as it was looked for.
pub type EndpointSearch = VpcSearch<String>;

/// What Session Manager says of the host, as far as it was asked: `None`
/// when `auto` did not need to ask (an SSH route before it works, or the
/// route was named), else the answer or why there is none.
pub type AgentSearch = Option<Lookup<SsmState>>;

/// One route considered, in the order `auto` tries them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Considered {
    pub route: Route,
    pub usable: bool,
    /// Why it is usable (what it goes through) or what it lacks.
    pub reason: String,
}

/// The route taken and every route considered on the way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteChoice {
    /// The `--via` asked for (after the config file).
    pub requested: Via,
    pub route: Route,
    pub bastion: Option<Bastion>,
    pub considered: Vec<Considered>,
}

impl RouteChoice {
    /// The `--via` that asks for the route taken.
    pub fn via(&self) -> Via {
        self.route.via().unwrap_or(self.requested)
    }

    /// One line per route considered, for `-v`.
    pub fn notes(&self) -> Vec<String> {
        self.considered
            .iter()
            .map(|c| {
                let verdict = if c.route == self.route {
                    "taken"
                } else if c.usable {
                    "possible"
                } else {
                    "not possible"
                };
                format!("route {}: {verdict}: {}", c.route.name(), c.reason)
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("{instance_id} has no route berth can take: {}", .tried.join("; "))]
    NoneWorks {
        instance_id: String,
        vpc_id: Option<String>,
        tried: Vec<String>,
    },
    #[error("no bastion for {instance_id}: {reason}")]
    NoBastion {
        instance_id: String,
        vpc_id: Option<String>,
        reason: String,
    },
    #[error("{instance_id} has no private address for a bastion to reach")]
    NoPrivateAddress { instance_id: String },
    #[error("no EC2 Instance Connect Endpoint for {instance_id}: none in {}", .vpc_id.as_deref().unwrap_or("its VPC"))]
    NoEndpoint {
        instance_id: String,
        vpc_id: Option<String>,
        subnet_id: Option<String>,
    },
}

impl crate::model::hint::Hint for RouteError {
    /// The next step, with the real ids filled in.
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::NoneWorks { vpc_id, .. } | Self::NoBastion { vpc_id, .. } => {
                let vpc = vpc_id.as_deref().unwrap_or("its VPC");
                format!(
                    "name a bastion with `--bastion TARGET`, or tag one in {vpc} with \
                     `aws ec2 create-tags --resources i-… --tags Key={BASTION_TAG},Value=`, \
                     or create an endpoint with `aws ec2 create-instance-connect-endpoint \
                     --subnet-id SUBNET`, or bring its SSM agent Online (an instance profile \
                     with AmazonSSMManagedInstanceCore; `berth doctor TARGET --via ssm` says \
                     what is missing); from inside the VPC or over a VPN use `--via private`"
                )
            }
            Self::NoEndpoint { subnet_id, .. } => format!(
                "create one: `aws ec2 create-instance-connect-endpoint --subnet-id {}`",
                subnet_id.as_deref().unwrap_or("subnet-…")
            ),
            Self::NoPrivateAddress { .. } => {
                "connect to its public address with `--via public`".to_owned()
            }
        })
    }
}

/// Whether `via` on `host` needs the bastion looked up: always for
/// `bastion`, and for `auto` when there is no public address to use.
pub fn needs_bastion(via: Via, host: &Host) -> bool {
    match via {
        Via::Bastion => true,
        Via::Auto => public_address(host).is_none(),
        Via::Public | Via::Private | Via::InstanceConnect | Via::Eice | Via::Ssm => false,
    }
}

/// Whether `via` on `host` needs the VPC's endpoints: always for `eice`,
/// and for `auto` when there is no public address (looked up beside the
/// bastion, so that the two cost one round trip).
pub fn needs_endpoint(via: Via, host: &Host) -> bool {
    match via {
        Via::Eice => true,
        Via::Auto => public_address(host).is_none(),
        Via::Public | Via::Private | Via::InstanceConnect | Via::Bastion | Via::Ssm => false,
    }
}

/// Whether `auto` needs to ask Session Manager about `host`: only when
/// none of the SSH routes before `ssm` in [`AUTO_ORDER`] can be taken with
/// the bastion and endpoint found.
pub fn needs_agent(
    via: Via,
    host: &Host,
    bastion: &BastionSearch,
    endpoint: &EndpointSearch,
) -> bool {
    via == Via::Auto
        && !ssh_candidates(host, bastion, endpoint)
            .iter()
            .any(|c| c.usable)
}

/// The routes `auto` tries before `ssm`, each with why it can or cannot be
/// taken.
fn ssh_candidates(
    host: &Host,
    bastion: &BastionSearch,
    endpoint: &EndpointSearch,
) -> Vec<Considered> {
    AUTO_ORDER
        .iter()
        .filter_map(|route| match route {
            Route::Public => Some(public_considered(host)),
            Route::Bastion => Some(bastion_considered(host, bastion)),
            Route::Eice => Some(endpoint_considered(host, endpoint)),
            Route::Private => Some(private_considered(host, "asked for")),
            Route::Ssm => None,
        })
        .collect()
}

/// Session Manager as `auto`'s last candidate: usable when its agent is
/// Online; the reason says why no SSH route was taken and what SSM said.
fn agent_considered(earlier: &[Considered], agent: &AgentSearch) -> Considered {
    let (usable, said) = match agent {
        None => (false, "not asked (an SSH route works)".to_owned()),
        Some(Lookup::Unavailable(why)) => (false, format!("could not ask SSM: {why}")),
        Some(Lookup::Known(SsmState::NotManaged)) => (
            false,
            "not a managed instance (no SSM agent registered for it)".to_owned(),
        ),
        Some(Lookup::Known(SsmState::Managed(agent))) => {
            let version = agent.agent_version.as_deref().unwrap_or("version unknown");
            if agent.online() {
                (true, format!("SSM agent Online, {version}"))
            } else {
                let seen = agent
                    .last_ping
                    .as_deref()
                    .map_or_else(String::new, |t| format!(", last seen {t}"));
                (false, format!("SSM agent {}{seen}", agent.ping_status))
            }
        }
    };
    let blocked: Vec<&str> = earlier
        .iter()
        .filter(|c| !c.usable)
        .map(|c| c.reason.as_str())
        .collect();
    let reason = if usable && !blocked.is_empty() {
        format!("no SSH route ({}); {said}", blocked.join("; "))
    } else {
        said
    };
    Considered {
        route: Route::Ssm,
        usable,
        reason,
    }
}

/// Decides the route for `host`.
pub fn choose(
    via: Via,
    host: &Host,
    bastion: &BastionSearch,
    endpoint: &EndpointSearch,
    agent: &AgentSearch,
) -> Result<RouteChoice, RouteError> {
    let instance_id = host.ec2.instance_id.clone();
    let public = public_considered(host);
    let take = |route: Route, considered: Vec<Considered>| RouteChoice {
        requested: via,
        route,
        bastion: (route == Route::Bastion)
            .then(|| bastion.found().cloned())
            .flatten(),
        considered,
    };
    match via {
        Via::Public => Ok(take(Route::Public, vec![public])),
        // A one-time key over the public address, else the private one.
        Via::InstanceConnect if public.usable => Ok(take(Route::Public, vec![public])),
        Via::InstanceConnect => Ok(take(
            Route::Private,
            vec![public, private_considered(host, "no public one")],
        )),
        Via::Private => Ok(take(
            Route::Private,
            vec![private_considered(host, "asked for with --via private")],
        )),
        Via::Bastion => match bastion {
            VpcSearch::Found(_) if host.ec2.private_ip.is_none() => {
                Err(RouteError::NoPrivateAddress { instance_id })
            }
            VpcSearch::Found(_) => Ok(take(
                Route::Bastion,
                vec![bastion_considered(host, bastion)],
            )),
            VpcSearch::NoneIn { vpc_id } => Err(RouteError::NoBastion {
                instance_id,
                vpc_id: vpc_id.clone(),
                reason: no_bastion_reason(vpc_id.as_deref()),
            }),
            VpcSearch::NotNeeded => Err(RouteError::NoBastion {
                instance_id,
                vpc_id: host.ec2.vpc_id.clone(),
                reason: "none was looked up".to_owned(),
            }),
        },
        Via::Eice => match endpoint {
            VpcSearch::Found(_) if host.ec2.tunnel_address().is_none() => {
                Err(RouteError::NoPrivateAddress { instance_id })
            }
            VpcSearch::Found(_) => Ok(take(Route::Eice, vec![endpoint_considered(host, endpoint)])),
            VpcSearch::NoneIn { .. } | VpcSearch::NotNeeded => Err(RouteError::NoEndpoint {
                instance_id,
                vpc_id: host.ec2.vpc_id.clone(),
                subnet_id: host.ec2.subnet_id.clone(),
            }),
        },
        // Session Manager needs no address and no open port: the agent
        // dials the port on the host itself.
        Via::Ssm => Ok(take(
            Route::Ssm,
            vec![Considered {
                route: Route::Ssm,
                usable: true,
                reason: "asked for with --via ssm (SSH over Session Manager)".to_owned(),
            }],
        )),
        Via::Auto => {
            let mut considered = ssh_candidates(host, bastion, endpoint);
            let ssm = agent_considered(&considered, agent);
            considered.push(ssm);
            match considered.iter().find(|c| c.usable) {
                Some(first) => Ok(take(first.route, considered)),
                None => Err(RouteError::NoneWorks {
                    instance_id,
                    vpc_id: host.ec2.vpc_id.clone(),
                    tried: considered
                        .iter()
                        .map(|c| format!("{}: {}", c.route.name(), c.reason))
                        .collect(),
                }),
            }
        }
    }
}

fn public_considered(host: &Host) -> Considered {
    let address = public_address(host);
    Considered {
        route: Route::Public,
        usable: address.is_some(),
        reason: address.map_or_else(
            || "no public address".to_owned(),
            |a| format!("public address {a}"),
        ),
    }
}

fn private_considered(host: &Host, why: &str) -> Considered {
    Considered {
        route: Route::Private,
        usable: host.ec2.private_ip.is_some(),
        reason: host.ec2.private_ip.as_ref().map_or_else(
            || "no private address".to_owned(),
            |ip| format!("private address {ip} ({why})"),
        ),
    }
}

fn endpoint_considered(host: &Host, endpoint: &EndpointSearch) -> Considered {
    let (usable, reason) = match (endpoint, host.ec2.tunnel_address()) {
        (VpcSearch::Found(id), Some(ip)) => (
            true,
            format!("through EC2 Instance Connect Endpoint {id} to {ip}"),
        ),
        (VpcSearch::Found(id), None) => (
            false,
            format!("endpoint {id} found, but no private IPv4 or IPv6 address"),
        ),
        (VpcSearch::NoneIn { vpc_id }, _) => (
            false,
            format!(
                "no EC2 Instance Connect Endpoint in {}",
                vpc_id.as_deref().unwrap_or("the host's VPC (it has none)")
            ),
        ),
        (VpcSearch::NotNeeded, _) => (false, "not looked up".to_owned()),
    };
    Considered {
        route: Route::Eice,
        usable,
        reason,
    }
}

fn bastion_considered(host: &Host, bastion: &BastionSearch) -> Considered {
    let (usable, reason) = match (bastion, &host.ec2.private_ip) {
        (VpcSearch::Found(found), Some(ip)) => {
            (true, format!("through {} to {ip}", describe(found)))
        }
        (VpcSearch::Found(found), None) => (
            false,
            format!("{} found, but no private address", describe(found)),
        ),
        (VpcSearch::NoneIn { vpc_id }, _) => (false, no_bastion_reason(vpc_id.as_deref())),
        (VpcSearch::NotNeeded, _) => (false, "not looked up".to_owned()),
    };
    Considered {
        route: Route::Bastion,
        usable,
        reason,
    }
}

/// The ssh to a bastion outside EC2, known to ssh by `name`: its user,
/// key and address come from the operator's ssh config.
pub fn external_bastion_argv(program: &str, passthrough: Vec<String>, name: &str) -> Vec<String> {
    let mut argv = vec![program.to_owned()];
    argv.extend(passthrough);
    argv.push("--".to_owned());
    argv.push(name.to_owned());
    argv
}

fn public_address(host: &Host) -> Option<&str> {
    host.ec2
        .public_dns
        .as_deref()
        .or(host.ec2.public_ip.as_deref())
}

fn describe(bastion: &Bastion) -> String {
    match &bastion.source {
        BastionSource::Flag => format!("bastion {} (--bastion)", bastion.label),
        BastionSource::Config(key) => format!("bastion {} (config `{key}`)", bastion.label),
        BastionSource::Tag => format!("bastion {} (tagged {BASTION_TAG})", bastion.label),
    }
}

/// The endpoint to reach `host` through: a usable one in its VPC, the one
/// in its own subnet if there is one, else the first listed (the AWS CLI's
/// `open-tunnel` chooses the same way).
pub fn choose_endpoint<'a>(
    endpoints: &'a [InstanceConnectEndpoint],
    host: &Host,
) -> Option<&'a InstanceConnectEndpoint> {
    let vpc = host.ec2.vpc_id.as_deref();
    let subnet = host.ec2.subnet_id.as_deref();
    let candidates = || {
        endpoints
            .iter()
            .filter(|e| e.usable() && Some(e.vpc_id.as_str()) == vpc)
    };
    candidates()
        .find(|e| Some(e.subnet_id.as_str()) == subnet)
        .or_else(|| candidates().next())
}

/// Why no bastion was found, for messages.
pub fn no_bastion_reason(vpc_id: Option<&str>) -> String {
    format!(
        "none named (--bastion, config `bastion`) and no running instance tagged {BASTION_TAG} in {}",
        vpc_id.unwrap_or("the host's VPC (it has none)")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::hint::Hint as _;
    use crate::model::host::example_host;
    use crate::model::route::BastionMachine;

    fn host(public: bool, private: bool) -> Host {
        let mut host = example_host();
        if !public {
            host.ec2.public_dns = None;
            host.ec2.public_ip = None;
        }
        if !private {
            host.ec2.private_ip = None;
        }
        host
    }

    fn found(source: BastionSource) -> BastionSearch {
        VpcSearch::Found(Bastion {
            label: "bastion (i-0b)".to_owned(),
            source,
            target: "i-0b".to_owned(),
            machine: BastionMachine::External("bastion".to_owned()),
        })
    }

    fn none() -> BastionSearch {
        VpcSearch::NoneIn {
            vpc_id: Some("vpc-1".to_owned()),
        }
    }

    fn eice() -> EndpointSearch {
        VpcSearch::Found("eice-1".to_owned())
    }

    fn no_eice() -> EndpointSearch {
        VpcSearch::NoneIn {
            vpc_id: Some("vpc-1".to_owned()),
        }
    }

    /// (case, via, public address?, private address?, bastion, endpoint,
    /// route taken)
    type Row = (
        &'static str,
        Via,
        bool,
        bool,
        BastionSearch,
        EndpointSearch,
        Option<Route>,
    );

    #[test]
    fn an_ipv6_only_host_goes_through_the_endpoint() {
        let mut v6 = host(false, false);
        v6.ec2.ipv6 = Some("2600:1f18:abcd:1::7".to_owned());
        for via in [Via::Eice, Via::Auto] {
            let choice = choose(via, &v6, &found(BastionSource::Tag), &eice(), &None)
                .unwrap_or_else(|e| panic!("{via:?}: {e}"));
            assert_eq!(choice.route, Route::Eice, "{via:?}");
        }
        // A bastion reaches private IPv4 addresses only.
        assert!(
            choose(
                Via::Bastion,
                &v6,
                &found(BastionSource::Tag),
                &eice(),
                &None
            )
            .is_err()
        );
    }

    #[rustfmt::skip]
    fn rows() -> Vec<Row> {
        use Route::{Bastion, Eice, Private, Public};
        use VpcSearch::NotNeeded as NoBastionSearch;
        use VpcSearch::NotNeeded as NoEndpointSearch;
        let tag = || found(BastionSource::Tag);
        vec![
            ("auto: public first", Via::Auto, true, true, NoBastionSearch, NoEndpointSearch, Some(Public)),
            ("auto: public beats a bastion", Via::Auto, true, true, tag(), eice(), Some(Public)),
            ("auto: private only, tagged bastion", Via::Auto, false, true, tag(), no_eice(), Some(Bastion)),
            ("auto: a bastion beats an endpoint", Via::Auto, false, true, tag(), eice(), Some(Bastion)),
            ("auto: private only, configured bastion", Via::Auto, false, true,
             found(BastionSource::Config("bastion".into())), no_eice(), Some(Bastion)),
            ("auto: private only, an endpoint", Via::Auto, false, true, none(), eice(), Some(Eice)),
            ("auto: private only, nothing", Via::Auto, false, true, none(), no_eice(), None),
            ("auto: no address at all", Via::Auto, false, false, none(), eice(), None),
            ("auto: a bastion, no private address", Via::Auto, false, false, tag(), no_eice(), None),
            ("public, though it has none", Via::Public, false, true, NoBastionSearch, NoEndpointSearch, Some(Public)),
            ("private", Via::Private, true, true, NoBastionSearch, NoEndpointSearch, Some(Private)),
            ("bastion given", Via::Bastion, true, true, found(BastionSource::Flag), NoEndpointSearch, Some(Bastion)),
            ("bastion asked for, none found", Via::Bastion, true, true, none(), NoEndpointSearch, None),
            ("bastion, no private address", Via::Bastion, true, false, found(BastionSource::Flag), NoEndpointSearch, None),
            ("eice", Via::Eice, true, true, NoBastionSearch, eice(), Some(Eice)),
            ("eice, none in the VPC", Via::Eice, true, true, NoBastionSearch, no_eice(), None),
            ("eice, no private address", Via::Eice, true, false, NoBastionSearch, eice(), None),
            ("one-time key, public", Via::InstanceConnect, true, true, NoBastionSearch, NoEndpointSearch, Some(Public)),
            ("one-time key, private only", Via::InstanceConnect, false, true, NoBastionSearch, NoEndpointSearch, Some(Private)),
        ]
    }

    #[test]
    fn route_table() {
        for (case, via, public, private, bastion, endpoint, expected) in rows() {
            let got = choose(via, &host(public, private), &bastion, &endpoint, &None);
            assert_eq!(
                got.as_ref().ok().map(|c| c.route),
                expected,
                "{case}: {got:?}"
            );
        }
    }

    #[test]
    fn the_bastion_is_looked_up_only_when_a_route_needs_it() {
        assert!(!needs_bastion(Via::Auto, &host(true, true)));
        assert!(needs_bastion(Via::Auto, &host(false, true)));
        assert!(needs_bastion(Via::Bastion, &host(true, true)));
        assert!(!needs_bastion(Via::Private, &host(false, true)));
        assert!(needs_endpoint(Via::Eice, &host(true, true)));
        assert!(needs_endpoint(Via::Auto, &host(false, true)));
        assert!(!needs_endpoint(Via::Auto, &host(true, true)));
    }

    #[test]
    fn auto_says_why_each_route_was_taken_or_not() {
        let choice = choose(
            Via::Auto,
            &host(false, true),
            &found(BastionSource::Tag),
            &no_eice(),
            &None,
        )
        .expect("bastion");
        assert_eq!(
            choice.notes(),
            vec![
                "route public: not possible: no public address".to_owned(),
                "route bastion: taken: through bastion bastion (i-0b) (tagged berth:bastion) \
                 to 10.0.1.7"
                    .to_owned(),
                "route eice: not possible: no EC2 Instance Connect Endpoint in vpc-1".to_owned(),
                "route ssm: not possible: not asked (an SSH route works)".to_owned(),
            ]
        );
        assert_eq!(choice.bastion.map(|b| b.source), Some(BastionSource::Tag));
    }

    #[test]
    fn no_route_names_each_missing_piece_and_the_fix() {
        let err = choose(Via::Auto, &host(false, true), &none(), &no_eice(), &None)
            .expect_err("no route");
        let message = err.to_string();
        assert!(message.contains("public: no public address"), "{message}");
        assert!(
            message.contains("no running instance tagged berth:bastion in vpc-1"),
            "{message}"
        );
        assert!(
            err.hint().unwrap_or_default().contains("--via private"),
            "{}",
            err.hint().unwrap_or_default()
        );
        assert!(
            err.hint().unwrap_or_default().contains("--bastion TARGET"),
            "{}",
            err.hint().unwrap_or_default()
        );
        assert!(
            message.contains("no EC2 Instance Connect Endpoint in vpc-1"),
            "{message}"
        );
        assert!(
            err.hint()
                .unwrap_or_default()
                .contains("create-instance-connect-endpoint"),
            "{}",
            err.hint().unwrap_or_default()
        );
    }

    fn agent(ping: &str, version: Option<&str>) -> Lookup<SsmState> {
        Lookup::Known(SsmState::Managed(crate::model::network::SsmAgent {
            ping_status: ping.to_owned(),
            agent_version: version.map(str::to_owned),
            last_ping: Some("2026-12-07T18:00:00Z".to_owned()),
        }))
    }

    #[test]
    fn auto_takes_ssm_last_and_only_with_the_agent_online() {
        let private_only = host(false, true);
        let online = Some(agent("Online", Some("3.3.987.0")));
        // Nothing else works: the agent Online is taken, and says why.
        let choice =
            choose(Via::Auto, &private_only, &none(), &no_eice(), &online).expect("ssm is taken");
        assert_eq!(choice.route, Route::Ssm);
        assert_eq!(choice.via(), Via::Ssm);
        let ssm = choice.considered.last().expect("ssm considered");
        assert_eq!(
            ssm.reason,
            "no SSH route (no public address; none named (--bastion, config `bastion`) and no \
             running instance tagged berth:bastion in vpc-1; no EC2 Instance Connect Endpoint \
             in vpc-1); SSM agent Online, 3.3.987.0"
        );
        // Any SSH route before it wins, whatever the agent says.
        for (bastion, endpoint, route) in [
            (found(BastionSource::Tag), no_eice(), Route::Bastion),
            (none(), eice(), Route::Eice),
        ] {
            let got = choose(Via::Auto, &private_only, &bastion, &endpoint, &online)
                .expect("an SSH route");
            assert_eq!(got.route, route);
        }
        let public =
            choose(Via::Auto, &host(true, true), &none(), &no_eice(), &online).expect("public");
        assert_eq!(public.route, Route::Public);
        // An agent that is not Online, not registered, or not asked about
        // leaves no route, and the error says what SSM said.
        for (search, said) in [
            (
                Some(agent("ConnectionLost", Some("3.3.987.0"))),
                "ssm: SSM agent ConnectionLost, last seen 2026-12-07T18:00:00Z",
            ),
            (
                Some(Lookup::Known(SsmState::NotManaged)),
                "ssm: not a managed instance",
            ),
            (
                Some(Lookup::Unavailable("AccessDeniedException".to_owned())),
                "ssm: could not ask SSM: AccessDeniedException",
            ),
        ] {
            let err = choose(Via::Auto, &private_only, &none(), &no_eice(), &search)
                .expect_err("no route");
            let message = err.to_string();
            assert!(message.contains(said), "{message}");
            assert!(message.contains("public: no public address"), "{message}");
            assert!(
                err.hint().unwrap_or_default().contains("--via ssm"),
                "{:?}",
                err.hint()
            );
        }
    }

    #[test]
    fn ssm_is_asked_about_only_when_no_ssh_route_is_left() {
        let private_only = host(false, true);
        assert!(needs_agent(Via::Auto, &private_only, &none(), &no_eice()));
        assert!(!needs_agent(
            Via::Auto,
            &private_only,
            &found(BastionSource::Tag),
            &no_eice()
        ));
        assert!(!needs_agent(Via::Auto, &private_only, &none(), &eice()));
        assert!(!needs_agent(
            Via::Auto,
            &host(true, true),
            &VpcSearch::NotNeeded,
            &VpcSearch::NotNeeded
        ));
        // A named route never asks: --via ssm starts the session directly.
        for via in [Via::Ssm, Via::Private, Via::Eice, Via::Bastion] {
            assert!(
                !needs_agent(via, &private_only, &none(), &no_eice()),
                "{via:?}"
            );
        }
    }

    use crate::model::network::example_endpoint as endpoint;

    #[test]
    fn the_subnets_own_endpoint_first_then_the_vpcs() {
        let mut host = example_host();
        host.ec2.vpc_id = Some("vpc-a".into());
        host.ec2.subnet_id = Some("subnet-2".into());
        let cases: Vec<(&str, Vec<InstanceConnectEndpoint>, Option<&str>)> = vec![
            ("none at all", vec![], None),
            (
                "only in another VPC",
                vec![endpoint("eice-b", "vpc-b", "subnet-2", "create-complete")],
                None,
            ),
            (
                "one in another subnet of the VPC",
                vec![endpoint("eice-1", "vpc-a", "subnet-1", "create-complete")],
                Some("eice-1"),
            ),
            (
                "the instance's subnet wins over the first listed",
                vec![
                    endpoint("eice-1", "vpc-a", "subnet-1", "create-complete"),
                    endpoint("eice-2", "vpc-a", "subnet-2", "create-complete"),
                ],
                Some("eice-2"),
            ),
            (
                "one being created or deleted takes no tunnels",
                vec![
                    endpoint("eice-2", "vpc-a", "subnet-2", "create-in-progress"),
                    endpoint("eice-3", "vpc-a", "subnet-2", "delete-in-progress"),
                    endpoint("eice-1", "vpc-a", "subnet-1", "update-complete"),
                ],
                Some("eice-1"),
            ),
            (
                "failed to create",
                vec![endpoint("eice-2", "vpc-a", "subnet-2", "create-failed")],
                None,
            ),
        ];
        for (name, endpoints, want) in cases {
            let got = choose_endpoint(&endpoints, &host).map(|e| e.id.as_str());
            assert_eq!(got, want, "{name}");
        }
    }
}
