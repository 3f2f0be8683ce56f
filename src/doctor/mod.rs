//! `berth doctor`: every prerequisite of a connection, checked from facts
//! gathered beforehand, each with one line of evidence and the exact fix.
//!
//! [`diagnose`] is pure: the command gathers [`Facts`] (AWS calls, the
//! local key file) and this module decides. A connection needs one working
//! route; a route works when its own checks and every check it depends on
//! (instance state, key, password) pass or only warn.

pub mod ecs_exec;
pub mod network;
pub mod ssm;
#[cfg(test)]
mod tests;

pub use crate::model::lookup::Lookup;
pub use crate::model::network::{KeyPairInfo, SsmState};
use crate::model::route::BastionMachine;
pub use crate::model::route::Route;
use crate::plan::route::BastionSearch;
use std::fmt::Write as _;
use std::time::Duration;

use ipnet::IpNet;
use serde::Serialize;

use crate::model::host::Host;
use crate::model::network::SessionKey;
use crate::model::os::Login;
use crate::plan::Via;
use network::{AclVerdict, GroupVerdict, NetworkAcl, RouteTable, SecurityGroup, Source};

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    /// Could not be decided (the operator's address is unknown, a prefix
    /// list): the route it is on does not count as working.
    Unknown,
    Fail,
    Skipped,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Warn => "warn",
            Self::Unknown => "????",
            Self::Fail => "FAIL",
            Self::Skipped => "skip",
        }
    }
}

/// Which routes a finding bears on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "route")]
pub enum Scope {
    /// Every route (the instance must be running).
    All,
    /// Routes that log in with the key pair (not SSM).
    KeyRoutes,
    /// One route.
    Route(#[serde(serialize_with = "Route::serialize_doctor_name")] Route),
}

impl Scope {
    fn covers(self, route: Route) -> bool {
        match self {
            Self::All => true,
            Self::KeyRoutes => route.uses_key(),
            Self::Route(r) => r == route,
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub check: &'static str,
    pub scope: Scope,
    pub status: Status,
    pub evidence: String,
    /// Commands or flags that fix it, real ids filled in.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fix: Vec<String>,
}

/// Whether a route can be used, and the first check that stops it.
///
/// A check berth could not decide never blocks a route: it leaves it
/// unverified (not counted as working, and said so), which is a different
/// thing to tell the user than a check that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteResult {
    /// Named as doctor names it (`instance-connect-endpoint` for `eice`).
    #[serde(serialize_with = "Route::serialize_doctor_name")]
    pub route: Route,
    pub works: bool,
    /// The first check that fails on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked_by: Option<&'static str>,
    /// Nothing fails on it, but this check could not be decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unverified_by: Option<&'static str>,
    /// `unverified_by` is set (kept for scripts that read the flag).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unverified: bool,
}

/// What doctor found for one host.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub target: String,
    pub instance_id: String,
    pub protocol: Protocol,
    pub port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<IpNet>,
    pub findings: Vec<Finding>,
    pub routes: Vec<RouteResult>,
    /// With `--via auto`: the route `berth ssh` takes, decided by the same
    /// function from the same lookups (the first of
    /// [`AUTO_ORDER`](crate::plan::route::AUTO_ORDER) it can use).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_takes: Option<Route>,
}

impl Report {
    pub fn working_routes(&self) -> impl Iterator<Item = Route> + '_ {
        self.routes.iter().filter(|r| r.works).map(|r| r.route)
    }

    /// 0 when at least one route works, 4 (a prerequisite failed) otherwise.
    pub fn exit_code(&self) -> u8 {
        if self.working_routes().next().is_some() {
            0
        } else {
            4
        }
    }

    /// The findings worth showing after a failed connection: failures and
    /// warnings.
    pub fn problems(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| matches!(f.status, Status::Fail | Status::Warn | Status::Unknown))
    }
}

/// What the connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Ssh,
    Rdp,
}

impl Protocol {
    /// RDP for Windows, SSH for everything else.
    pub fn for_os(os: crate::model::os::OsFamily) -> Self {
        if os == crate::model::os::OsFamily::Windows {
            Self::Rdp
        } else {
            Self::Ssh
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Self::Ssh => 22,
            Self::Rdp => 3389,
        }
    }

    fn command(self) -> &'static str {
        match self {
            Self::Ssh => "ssh",
            Self::Rdp => "rdp",
        }
    }
}

/// The local private key, as the command found and read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalKey {
    pub path: String,
    pub mode: Option<u32>,
    pub fingerprint: FingerprintCheck,
}

/// Whether the local key is the key pair's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FingerprintCheck {
    Matches,
    /// Its fingerprints, for the message.
    Differs {
        local: String,
    },
    /// Encrypted, unreadable, or nothing to compare with.
    Unchecked(String),
}

/// Whether the Administrator password can be had (Windows only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordState {
    Available,
    /// GetPasswordData answered empty, this long after launch (if known).
    NotYet {
        since_launch: Option<Duration>,
    },
}

/// Everything [`diagnose`] decides from.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub host: &'a Host,
    /// The target as the user wrote it, for fix lines.
    pub target: &'a str,
    pub protocol: Protocol,
    pub port: u16,
    /// The operator's address or network.
    pub from: Option<IpNet>,
    /// `Auto` checks every route.
    pub via: Via,
    pub groups: Lookup<Vec<SecurityGroup>>,
    pub route_table: Lookup<Option<RouteTable>>,
    /// The internet gateway attached to the VPC, for the fix line.
    pub internet_gateway: Lookup<Option<String>>,
    pub acl: Lookup<Option<NetworkAcl>>,
    /// `None` when the instance has no key pair (nothing to look up).
    pub key_pair: Option<Lookup<Option<KeyPairInfo>>>,
    /// The local key; `Err` lists where berth looked.
    pub local_key: Result<LocalKey, Vec<String>>,
    pub ssm: Lookup<SsmState>,
    /// The host's region, for the names of its VPC endpoints' services.
    pub region: &'a str,
    /// The VPC endpoints of the host's VPC (the `ssm` route, when its
    /// subnet has no route to the internet).
    pub ssm_endpoints: Lookup<Vec<crate::model::network::VpcEndpoint>>,
    /// The KMS key the Session Manager preferences encrypt sessions with,
    /// and what KMS told the caller about it (`None`: no preferences ask
    /// for one).
    pub session_kms: Lookup<Option<SessionKey>>,
    /// Instance Connect Endpoints in the VPC, the one a tunnel would take
    /// first.
    pub endpoints: Lookup<Vec<Endpoint>>,
    /// Windows hosts only.
    pub password: Option<Lookup<PasswordState>>,
    /// The bastion (`--bastion`, the config's, or tagged in the VPC), when
    /// a route needs it.
    pub bastion: BastionSearch,
}

/// An EC2 Instance Connect Endpoint, as far as the route through it
/// depends on it (DescribeInstanceConnectEndpoints, and the CIDRs of its
/// subnet and VPC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub id: String,
    pub subnet_id: String,
    pub security_groups: Vec<String>,
    /// `PreserveClientIp`: its connections come from the operator's
    /// address; otherwise from its own private address in its subnet.
    pub preserve_client_ip: bool,
    /// The IPv4 CIDR of its subnet.
    pub subnet_cidr: Lookup<IpNet>,
    /// The IPv4 CIDRs of its VPC.
    pub vpc_cidrs: Lookup<Vec<IpNet>>,
}

/// About how long Windows takes after launch to make its password: the
/// EC2 docs ask to wait at least 4 minutes.
pub const PASSWORD_DELAY: Duration = Duration::from_secs(4 * 60);

/// Runs every check on `facts`.
pub fn diagnose(facts: &Facts) -> Report {
    let mut findings = Vec::new();
    instance_checks(facts, &mut findings);
    protocol_check(facts, &mut findings);
    let routes = selected_routes(facts.via, &facts.bastion);
    for &route in &routes {
        route_checks(facts, route, &mut findings);
    }
    // The Windows checks first: with an ED25519 key pair, that is the
    // reason, whatever the local key file.
    if facts.password.is_some() {
        password_checks(facts, &mut findings);
    }
    key_checks(facts, &mut findings);
    let routes = routes
        .into_iter()
        .map(|route| {
            let on_route = |f: &&Finding| f.scope.covers(route);
            let gate = findings.iter().filter(on_route).find(|f| {
                f.status == Status::Fail
                    || (f.scope == Scope::Route(route)
                        && ROUTE_GATES.contains(&f.check)
                        && !matches!(f.status, Status::Pass | Status::Unknown))
            });
            let unknown = findings
                .iter()
                .filter(on_route)
                .find(|f| f.status == Status::Unknown);
            let unverified_by = if gate.is_none() {
                unknown.map(|f| f.check)
            } else {
                None
            };
            RouteResult {
                route,
                works: gate.is_none() && unknown.is_none(),
                blocked_by: gate.map(|f| f.check),
                unverified_by,
                unverified: unverified_by.is_some(),
            }
        })
        .collect();
    Report {
        target: facts.target.to_owned(),
        instance_id: facts.host.ec2.instance_id.clone(),
        protocol: facts.protocol,
        port: facts.port,
        from: facts.from,
        findings,
        routes,
        auto_takes: (facts.via == Via::Auto)
            .then(|| auto_route(facts))
            .flatten(),
    }
}

/// The route `berth ssh` takes with `--via auto`: [`plan::route::choose`]
/// on the bastion and endpoint doctor found.
///
/// [`plan::route::choose`]: crate::plan::route::choose
fn auto_route(facts: &Facts) -> Option<Route> {
    use crate::plan::route::{self, EndpointSearch};
    let endpoint = match &facts.endpoints {
        Lookup::Known(found) => found.first().map_or_else(
            || EndpointSearch::NoneIn {
                vpc_id: facts.host.ec2.vpc_id.clone(),
            },
            |e| EndpointSearch::Found(e.id.clone()),
        ),
        Lookup::Unavailable(_) => EndpointSearch::NotNeeded,
    };
    let agent = route::needs_agent(Via::Auto, facts.host, &facts.bastion, &endpoint)
        .then(|| facts.ssm.clone());
    route::choose(Via::Auto, facts.host, &facts.bastion, &endpoint, &agent)
        .ok()
        .map(|choice| choice.route)
}

/// The check that opens each route: a route whose gate did not pass (was
/// skipped or only warned) is not counted as working.
const ROUTE_GATES: [&str; 5] = [
    "public-address",
    "private-address",
    "bastion",
    "instance-connect-endpoint",
    "ssm-agent",
];

/// The routes doctor checks for `--via`; with `auto` the bastion's too
/// when one was found.
pub fn selected_routes(via: Via, bastion: &BastionSearch) -> Vec<Route> {
    let bastion_found = bastion.found().is_some();
    let mut routes = match via {
        Via::Public => vec![Route::Public],
        Via::Private => vec![Route::Private],
        Via::Bastion => return vec![Route::Bastion],
        // A one-time key travels the default network route.
        Via::InstanceConnect => vec![Route::Public, Route::Private],
        Via::Eice => vec![Route::Eice],
        // ssh over Session Manager: the agent, its version, its way to
        // Session Manager, the permission, the preferences' KMS key.
        Via::Ssm => return vec![Route::Ssm],
        // ssh's candidates in ssh's order, then the routes auto does not
        // take but doctor still checks.
        Via::Auto => {
            let mut routes: Vec<Route> = crate::plan::route::AUTO_ORDER
                .iter()
                .copied()
                .filter(|&route| route != Route::Bastion || bastion_found)
                .collect();
            for other in [Route::Private, Route::Ssm] {
                if !routes.contains(&other) {
                    routes.push(other);
                }
            }
            return routes;
        }
    };
    if bastion_found {
        routes.push(Route::Bastion);
    }
    routes
}

fn finding(
    check: &'static str,
    scope: Scope,
    status: Status,
    evidence: impl Into<String>,
    fix: Vec<String>,
) -> Finding {
    Finding {
        check,
        scope,
        status,
        evidence: evidence.into(),
        fix,
    }
}

/// Whether the host speaks the protocol at all.
fn protocol_check(facts: &Facts, out: &mut Vec<Finding>) {
    let host = facts.host;
    let problem = match (facts.protocol, host.os.login()) {
        (Protocol::Rdp, Login::Rdp(_)) | (Protocol::Ssh, Login::Ssh(_)) => None,
        (Protocol::Rdp, _) => Some((
            format!("{} has no RDP server", host.os.label()),
            format!("berth ssh {}", facts.target),
        )),
        (Protocol::Ssh, Login::Rdp(_)) => Some((
            format!("{} is reached with RDP, not ssh", host.os.label()),
            format!("berth rdp {}", facts.target),
        )),
        (Protocol::Ssh, _) => Some((
            format!("{} has no SSH on the host", host.os.label()),
            format!("aws ssm start-session --target {}", host.ec2.instance_id),
        )),
    };
    if let Some((evidence, fix)) = problem {
        out.push(finding(
            "protocol",
            Scope::All,
            Status::Fail,
            evidence,
            vec![fix],
        ));
    }
}

fn instance_checks(facts: &Facts, out: &mut Vec<Finding>) {
    let id = &facts.host.ec2.instance_id;
    let state = facts.host.ec2.state.as_str();
    let (status, fix) = match state {
        "running" => (Status::Pass, vec![]),
        "stopped" => (
            Status::Fail,
            vec![format!("aws ec2 start-instances --instance-ids {id}")],
        ),
        "pending" => (
            Status::Fail,
            vec![format!("aws ec2 wait instance-running --instance-ids {id}")],
        ),
        _ => (Status::Fail, vec![]),
    };
    out.push(finding("instance-state", Scope::All, status, state, fix));

    let Some(ci) = &facts.host.container_instance else {
        out.push(finding(
            "container-instance",
            Scope::All,
            Status::Skipped,
            "not registered with an ECS cluster",
            vec![],
        ));
        return;
    };
    let (status, fix) = if ci.status == "ACTIVE" {
        (Status::Pass, vec![])
    } else {
        (
            Status::Warn,
            vec![format!(
                "aws ecs update-container-instances-state --cluster {} --container-instances {} --status ACTIVE",
                ci.cluster, ci.id
            )],
        )
    };
    out.push(finding(
        "container-instance",
        Scope::All,
        status,
        format!("{} in cluster {}", ci.status, ci.cluster),
        fix,
    ));
    let (status, evidence, fix) = if ci.agent_connected {
        (Status::Pass, "connected", vec![])
    } else if state != "running" {
        (
            Status::Skipped,
            "disconnected, as the instance is not running",
            vec![],
        )
    } else {
        (
            Status::Warn,
            "disconnected: ECS cannot place tasks here",
            vec!["on the instance: sudo systemctl restart ecs".to_owned()],
        )
    };
    out.push(finding("ecs-agent", Scope::All, status, evidence, fix));
}

fn route_checks(facts: &Facts, route: Route, out: &mut Vec<Finding>) {
    match route {
        Route::Public => public_route(facts, out),
        Route::Private => private_route(facts, out),
        Route::Eice => endpoint_route(facts, out),
        Route::Ssm => ssm::route(facts, out),
        Route::Bastion => bastion_route(facts, out),
    }
}

/// Through a bastion: it runs and has a private address, and the
/// instance's groups and ACL let it in (by its group or its address).
fn bastion_route(facts: &Facts, out: &mut Vec<Finding>) {
    let route = Route::Bastion;
    let scope = Scope::Route(route);
    let bastion = match &facts.bastion {
        BastionSearch::Found(bastion) => bastion,
        BastionSearch::NoneIn { vpc_id } => {
            out.push(finding(
                "bastion",
                scope,
                Status::Fail,
                crate::plan::route::no_bastion_reason(vpc_id.as_deref()),
                vec![format!(
                    "name one with --bastion TARGET, or tag one: aws ec2 create-tags \
                     --resources i-… --tags Key={},Value=",
                    crate::plan::route::BASTION_TAG
                )],
            ));
            return;
        }
        BastionSearch::NotNeeded => return,
    };
    let machine = match &bastion.machine {
        BastionMachine::Instance(machine) => machine,
        // A host outside EC2: its way in cannot be checked.
        BastionMachine::External(name) => {
            out.push(finding(
                "bastion",
                scope,
                Status::Unknown,
                format!(
                    "bastion {name} ({}) is not an EC2 instance berth can look at",
                    bastion.source.short()
                ),
                vec![],
            ));
            return;
        }
    };
    let private_ip: Option<std::net::IpAddr> = machine
        .ec2
        .private_ip
        .as_deref()
        .and_then(|ip| ip.parse().ok());
    let ip = match (machine.ec2.state.as_str(), private_ip) {
        ("running", Some(ip)) => ip,
        (state, _) => {
            out.push(finding(
                "bastion",
                scope,
                Status::Fail,
                format!("{} is {state} or has no private address", bastion.label),
                vec![format!(
                    "aws ec2 start-instances --instance-ids {}",
                    machine.ec2.instance_id
                )],
            ));
            return;
        }
    };
    out.push(finding(
        "bastion",
        scope,
        Status::Pass,
        format!(
            "{} at {ip} (check the way to it with `berth doctor {}`)",
            bastion.label, bastion.target
        ),
        vec![],
    ));
    let source = Source::Member {
        groups: machine.ec2.security_groups.clone(),
        address: IpNet::from(ip),
    };
    out.push(group_check(facts, route, &source));
    out.push(acl_check(facts, route, Some(IpNet::from(ip))));
}

fn public_route(facts: &Facts, out: &mut Vec<Finding>) {
    let scope = Scope::Route(Route::Public);
    let ec2 = &facts.host.ec2;
    let address = ec2.public_dns.as_ref().or(ec2.public_ip.as_ref());
    let Some(address) = address else {
        out.push(finding(
            "public-address",
            scope,
            Status::Fail,
            "no public IPv4 address or DNS name",
            vec![
                format!(
                    "from inside the VPC or over a VPN: berth {} {} --via private",
                    facts.protocol.command(),
                    facts.target
                ),
                format!(
                    "or give it an Elastic IP: aws ec2 associate-address --instance-id {} --allocation-id eipalloc-…",
                    ec2.instance_id
                ),
            ],
        ));
        return;
    };
    out.push(finding(
        "public-address",
        scope,
        Status::Pass,
        address.clone(),
        vec![],
    ));
    out.push(internet_gateway(facts));
    network_checks(facts, Route::Public, out);
}

fn internet_gateway(facts: &Facts) -> Finding {
    let scope = Scope::Route(Route::Public);
    let subnet = facts.host.ec2.subnet_id.as_deref().unwrap_or("its subnet");
    let table = match &facts.route_table {
        Lookup::Unavailable(why) => {
            return finding(
                "internet-gateway",
                scope,
                Status::Skipped,
                why.clone(),
                vec![],
            );
        }
        Lookup::Known(None) => {
            return finding(
                "internet-gateway",
                scope,
                Status::Fail,
                format!("no route table applies to {subnet}"),
                vec![],
            );
        }
        Lookup::Known(Some(table)) => table,
    };
    // With the operator's address known, a more specific route for it than
    // the default decides where replies go; otherwise the default route.
    let specific = facts
        .from
        .as_ref()
        .and_then(|from| table.route_for(from))
        .filter(|r| !r.is_default());
    match specific.or_else(|| table.internet_route(false)) {
        Some(route) if route.reaches_internet() => {
            return finding(
                "internet-gateway",
                scope,
                Status::Pass,
                format!(
                    "{} sends {} to {}",
                    table.id, route.destination, route.target
                ),
                vec![],
            );
        }
        Some(route) => {
            return finding(
                "internet-gateway",
                scope,
                Status::Fail,
                format!(
                    "{} sends replies to {} by {} to {} ({}), not to an internet gateway",
                    table.id,
                    facts.from.map_or_else(String::new, |f| f.to_string()),
                    route.destination,
                    route.target,
                    route.state
                ),
                vec![],
            );
        }
        None => {}
    }
    let fix = match &facts.internet_gateway {
        Lookup::Known(Some(igw)) => vec![format!(
            "aws ec2 create-route --route-table-id {} --destination-cidr-block 0.0.0.0/0 --gateway-id {igw}",
            table.id
        )],
        _ => vec![format!(
            "attach an internet gateway to {}, then: aws ec2 create-route --route-table-id {} --destination-cidr-block 0.0.0.0/0 --gateway-id igw-…",
            facts.host.ec2.vpc_id.as_deref().unwrap_or("the VPC"),
            table.id
        )],
    };
    finding(
        "internet-gateway",
        scope,
        Status::Fail,
        format!(
            "{} ({subnet}{}) has no default route to an internet gateway: the public address cannot be reached",
            table.id,
            if table.main {
                ", the VPC's main table"
            } else {
                ""
            }
        ),
        fix,
    )
}

fn private_route(facts: &Facts, out: &mut Vec<Finding>) {
    let scope = Scope::Route(Route::Private);
    let ec2 = &facts.host.ec2;
    let vpc = ec2.vpc_id.as_deref().unwrap_or("its VPC");
    let Some(address) = &ec2.private_ip else {
        out.push(finding(
            "private-address",
            scope,
            Status::Fail,
            "no private address",
            vec![],
        ));
        return;
    };
    if facts.via != Via::Private {
        out.push(finding(
            "private-address",
            scope,
            Status::Skipped,
            format!("{address} is reachable only from inside {vpc} (VPN, peering, Direct Connect)"),
            vec![format!(
                "if you are inside it: berth doctor {} --via private",
                facts.target
            )],
        ));
        return;
    }
    out.push(finding(
        "private-address",
        scope,
        Status::Pass,
        format!("{address} in {vpc} (you are inside it, as --via private says)"),
        vec![],
    ));
    network_checks(facts, Route::Private, out);
}

fn endpoint_route(facts: &Facts, out: &mut Vec<Finding>) {
    let scope = Scope::Route(Route::Eice);
    let vpc = facts.host.ec2.vpc_id.as_deref().unwrap_or("its VPC");
    match &facts.endpoints {
        Lookup::Unavailable(why) => out.push(finding(
            "instance-connect-endpoint",
            scope,
            Status::Skipped,
            format!("could not list endpoints: {why}"),
            vec![],
        )),
        Lookup::Known(endpoints) if endpoints.is_empty() => out.push(finding(
            "instance-connect-endpoint",
            scope,
            Status::Skipped,
            format!("none in {vpc}"),
            vec![],
        )),
        Lookup::Known(endpoints) => {
            let endpoint = &endpoints[0];
            let (networks, origin) = endpoint_origin(endpoint, facts.from);
            out.push(finding(
                "instance-connect-endpoint",
                scope,
                Status::Pass,
                format!("{} in {vpc} ({origin})", endpoint.id),
                vec![],
            ));
            let source = Source::Endpoint {
                groups: endpoint.security_groups.clone(),
                networks,
            };
            out.push(group_check(facts, Route::Eice, &source));
        }
    }
}

/// Where the endpoint's connections to the instance come from, as networks
/// its source address is known to lie in (empty: unknown), and the same in
/// words. Without `PreserveClientIp` that is its own address in its subnet
/// (else in its VPC, when only the VPC's CIDRs could be read); with it, the
/// operator's.
fn endpoint_origin(endpoint: &Endpoint, operator: Option<IpNet>) -> (Vec<IpNet>, String) {
    if endpoint.preserve_client_ip {
        return match operator {
            Some(from) => (vec![from], format!("it preserves your address, {from}")),
            None => (
                vec![],
                "it preserves your address, which is not known: pass --from".to_owned(),
            ),
        };
    }
    let subnet = &endpoint.subnet_id;
    match (&endpoint.subnet_cidr, &endpoint.vpc_cidrs) {
        (Lookup::Known(cidr), _) => (
            vec![*cidr],
            format!("connects from its address in {subnet}, {cidr}"),
        ),
        (Lookup::Unavailable(why), Lookup::Known(cidrs)) if !cidrs.is_empty() => (
            cidrs.clone(),
            format!(
                "connects from its address in {}; {subnet}'s own range is unknown: {why}",
                cidr_list(cidrs)
            ),
        ),
        (Lookup::Unavailable(why), _) => (
            vec![],
            format!("connects from its address in {subnet}, whose range is unknown: {why}"),
        ),
    }
}

fn cidr_list(cidrs: &[IpNet]) -> String {
    cidrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Security groups and the network ACL, for a route from the operator.
fn network_checks(facts: &Facts, route: Route, out: &mut Vec<Finding>) {
    let source = facts.from.map_or(Source::Unknown, Source::Cidr);
    out.push(group_check(facts, route, &source));
    out.push(acl_check(facts, route, facts.from));
}

fn group_check(facts: &Facts, route: Route, source: &Source) -> Finding {
    let scope = Scope::Route(route);
    let port = facts.port;
    let groups = match &facts.groups {
        Lookup::Known(groups) => groups,
        Lookup::Unavailable(why) => {
            return finding(
                "security-group",
                scope,
                Status::Skipped,
                why.clone(),
                vec![],
            );
        }
    };
    let names = groups_phrase(groups);
    let first = groups.first().map_or("sg-…", |g| g.id.as_str());
    let verdict = network::evaluate_groups(groups, port, source);
    let from = match source {
        Source::Cidr(cidr) => cidr.to_string(),
        Source::Endpoint { groups, networks } if networks.is_empty() => {
            format!("the endpoint (group {})", groups.join(", "))
        }
        Source::Endpoint { groups, networks } => format!(
            "the endpoint (group {}, in {})",
            groups.join(", "),
            cidr_list(networks)
        ),
        Source::Member { groups, address } => format!("{address} (group {})", groups.join(", ")),
        Source::Unknown => "your address".to_owned(),
    };
    match (verdict, source) {
        (GroupVerdict::Allowed { group, rule }, _) => finding(
            "security-group",
            scope,
            Status::Pass,
            format!("{group} allows {rule}"),
            vec![],
        ),
        (GroupVerdict::Partly { group, rule }, _) => finding(
            "security-group",
            scope,
            Status::Unknown,
            format!("{group} allows {rule}: only part of {from}"),
            vec![],
        ),
        (GroupVerdict::Uncertain { cidrs }, _) => finding(
            "security-group",
            scope,
            Status::Unknown,
            format!(
                "{names} tcp/{port} from {} only; whether that covers {from} is not checked",
                cidrs.join(", ")
            ),
            vec![],
        ),
        (GroupVerdict::Unverifiable { prefix_lists }, _) => finding(
            "security-group",
            scope,
            Status::Unknown,
            format!(
                "tcp/{port} is allowed only from prefix list {}; berth cannot check its entries",
                prefix_lists.join(", ")
            ),
            vec![format!(
                "aws ec2 get-managed-prefix-list-entries --prefix-list-id {}",
                prefix_lists[0]
            )],
        ),
        (GroupVerdict::Denied { allowed }, Source::Unknown) if !allowed.is_empty() => finding(
            "security-group",
            scope,
            Status::Unknown,
            format!(
                "{names} tcp/{port} from {} only; whether that includes you is unknown",
                allowed.join(", ")
            ),
            vec!["say where you connect from: --from YOUR-ADDRESS/32 (or --detect-ip)".to_owned()],
        ),
        (GroupVerdict::Denied { allowed }, _) => {
            let evidence = if allowed.is_empty() {
                format!("{names} tcp/{port} from nowhere")
            } else {
                format!(
                    "{names} tcp/{port} only from {}, not from {from}",
                    allowed.join(", ")
                )
            };
            let fix = group_fix(facts, first, source, &allowed);
            finding("security-group", scope, Status::Fail, evidence, fix)
        }
    }
}

/// How to let `source` in: for the operator, a rule for this session
/// (`--open`) or for good; for a group, a group rule.
fn group_fix(facts: &Facts, group: &str, source: &Source, allowed: &[String]) -> Vec<String> {
    let port = facts.port;
    let for_good = |cidr: &str| match cidr.parse::<IpNet>() {
        Ok(IpNet::V6(_)) => format!(
            "or for good: aws ec2 authorize-security-group-ingress --group-id {group} --ip-permissions 'IpProtocol=tcp,FromPort={port},ToPort={port},Ipv6Ranges=[{{CidrIpv6={cidr}}}]'"
        ),
        _ => format!(
            "or for good: aws ec2 authorize-security-group-ingress --group-id {group} --protocol tcp --port {port} --cidr {cidr}"
        ),
    };
    let port_flag = if port == facts.protocol.default_port() {
        String::new()
    } else {
        format!(" -p {port}")
    };
    let operator = |cidr: &str| {
        vec![
            format!(
                "for this session only: berth {} {}{port_flag} --open --from {cidr}",
                facts.protocol.command(),
                facts.target
            ),
            for_good(cidr),
        ]
    };
    let mut fix = match source {
        Source::Cidr(cidr) => operator(&cidr.to_string()),
        Source::Unknown => operator("YOUR-ADDRESS/32"),
        Source::Endpoint { groups: g, .. } | Source::Member { groups: g, .. } => vec![format!(
            "aws ec2 authorize-security-group-ingress --group-id {group} --protocol tcp --port {port} --source-group {}",
            g.first().map_or("sg-…", String::as_str)
        )],
    };
    if allowed.iter().any(|a| a.starts_with("group ")) {
        fix.push("or connect through a host in the allowed group (a bastion)".to_owned());
    }
    fix
}

/// `sg-1 allows`, `sg-1, sg-2 allow`.
fn groups_phrase(groups: &[SecurityGroup]) -> String {
    match groups {
        [] => "no security group".to_owned(),
        [one] => format!("{} allows", one.id),
        many => format!(
            "{} allow",
            many.iter()
                .map(|g| g.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn acl_check(facts: &Facts, route: Route, from: Option<IpNet>) -> Finding {
    let scope = Scope::Route(route);
    let acl = match &facts.acl {
        Lookup::Known(Some(acl)) => acl,
        Lookup::Known(None) => {
            return finding(
                "network-acl",
                scope,
                Status::Skipped,
                "no network ACL applies to the subnet",
                vec![],
            );
        }
        Lookup::Unavailable(why) => {
            return finding("network-acl", scope, Status::Skipped, why.clone(), vec![]);
        }
    };
    let port = facts.port;
    match network::evaluate_acl(acl, port, from) {
        AclVerdict::Allowed => finding(
            "network-acl",
            scope,
            Status::Pass,
            format!(
                "{} allows tcp/{port} in and ephemeral ports {}-{} out",
                acl.id,
                network::EPHEMERAL.0,
                network::EPHEMERAL.1
            ),
            vec![],
        ),
        AclVerdict::RepliesLimited { ports, .. } => finding(
            "network-acl",
            scope,
            Status::Warn,
            format!(
                "{} lets replies out to tcp/{}-{} only, not to {}-{}: clients behind some NAT devices use those",
                acl.id,
                network::CLIENT_PORTS.0,
                network::CLIENT_PORTS.1,
                ports.0,
                ports.1
            ),
            vec![],
        ),
        AclVerdict::DependsOnSource => finding(
            "network-acl",
            scope,
            Status::Unknown,
            format!("{} has rules for some addresses only", acl.id),
            vec!["say where you connect from: --from YOUR-ADDRESS/32".to_owned()],
        ),
        AclVerdict::Denied {
            direction,
            ports,
            rule,
        } => {
            let ports_text = if ports.0 == ports.1 {
                format!("tcp/{}", ports.0)
            } else {
                format!("tcp/{}-{}", ports.0, ports.1)
            };
            let by = rule.map_or_else(
                || "the final deny (no rule matches)".to_owned(),
                |n| format!("rule {n}"),
            );
            let egress = direction == "outbound";
            let block = match from {
                Some(c @ IpNet::V6(_)) => format!("--ipv6-cidr-block {c}"),
                Some(c) => format!("--cidr-block {c}"),
                None => "--cidr-block 0.0.0.0/0".to_owned(),
            };
            let rule_number = rule.map_or(100, |n| (n - 1).max(1));
            let fix = format!(
                "aws ec2 create-network-acl-entry --network-acl-id {} {} --rule-number {rule_number} --protocol tcp --port-range From={},To={} {block} --rule-action allow",
                acl.id,
                if egress { "--egress" } else { "--ingress" },
                ports.0,
                ports.1
            );
            finding(
                "network-acl",
                scope,
                Status::Fail,
                format!("{} denies {direction} {ports_text} by {by}", acl.id),
                vec![fix],
            )
        }
    }
}

/// Whether `berth ssh` can log in with a one-time key pushed with EC2
/// Instance Connect when the key pair's key is missing: an ssh login to an
/// AMI that ships ec2-instance-connect.
fn instance_connect_applies(facts: &Facts) -> bool {
    facts.protocol == Protocol::Ssh && facts.host.os.ships_instance_connect()
}

/// The fix line that logs in with a one-time key.
fn instance_connect_fix(facts: &Facts) -> String {
    format!(
        "log in with a one-time key (EC2 Instance Connect): berth ssh {} --via instance-connect",
        facts.target
    )
}

/// `--via instance-connect`: the key pair does not matter, the package on
/// the instance does (and the IAM permission, which berth cannot check
/// without pushing a key).
fn instance_connect_check(facts: &Facts, out: &mut Vec<Finding>) {
    let os = facts.host.os.label();
    let permission = crate::aws::instance_connect::SEND_ACTION;
    out.push(if instance_connect_applies(facts) {
        finding(
            "instance-connect",
            Scope::KeyRoutes,
            Status::Pass,
            format!(
                "{os} ships ec2-instance-connect: berth pushes a one-time key (needs {permission}, not checked)"
            ),
            vec![],
        )
    } else {
        finding(
            "instance-connect",
            Scope::KeyRoutes,
            Status::Warn,
            format!(
                "{os} AMIs do not ship ec2-instance-connect: sshd takes a pushed key only if the package is installed"
            ),
            vec![format!(
                "connect with Session Manager: aws ssm start-session --target {}",
                facts.host.ec2.instance_id
            )],
        )
    });
}

fn key_checks(facts: &Facts, out: &mut Vec<Finding>) {
    let scope = Scope::KeyRoutes;
    let ec2 = &facts.host.ec2;
    if facts.via == Via::InstanceConnect && facts.protocol == Protocol::Ssh {
        instance_connect_check(facts, out);
        return;
    }
    let Some(key_name) = ec2.key_name.as_deref() else {
        let ssm = format!(
            "connect with Session Manager: aws ssm start-session --target {}",
            ec2.instance_id
        );
        out.push(if instance_connect_applies(facts) {
            // berth ssh logs in with a one-time key on its own.
            finding(
                "key-pair",
                scope,
                Status::Warn,
                format!(
                    "launched without a key pair; {} ships ec2-instance-connect, so berth ssh logs in with a one-time key (needs {}, not checked)",
                    facts.host.os.label(),
                    crate::aws::instance_connect::SEND_ACTION
                ),
                vec![instance_connect_fix(facts), format!("or {ssm}")],
            )
        } else {
            finding(
                "key-pair",
                scope,
                Status::Fail,
                "launched without a key pair: there is no key to log in with",
                vec![
                    ssm,
                    format!(
                        "or, if the instance has the ec2-instance-connect package: berth ssh {} --via instance-connect",
                        facts.target
                    ),
                    "or launch a replacement with a key pair (--key-name in the launch template)"
                        .to_owned(),
                ],
            )
        });
        return;
    };
    out.push(finding("key-pair", scope, Status::Pass, key_name, vec![]));
    let ec2_key = key_pair_check(facts, key_name, out);
    local_key_checks(facts, key_name, ec2_key, out);
}

/// Whether EC2 still has the key pair; its facts when it does.
fn key_pair_check<'f>(
    facts: &'f Facts,
    key_name: &str,
    out: &mut Vec<Finding>,
) -> Option<&'f KeyPairInfo> {
    let scope = Scope::KeyRoutes;
    match &facts.key_pair {
        Some(Lookup::Known(Some(info))) => {
            out.push(finding(
                "key-pair-exists",
                scope,
                Status::Pass,
                format!(
                    "{} key pair {key_name}{}",
                    info.key_type.as_deref().unwrap_or("a"),
                    info.fingerprint
                        .as_deref()
                        .map_or_else(String::new, |f| format!(", fingerprint {f}"))
                ),
                vec![],
            ));
            Some(info)
        }
        Some(Lookup::Known(None)) => {
            out.push(finding(
                "key-pair-exists",
                scope,
                Status::Warn,
                format!(
                    "key pair {key_name} no longer exists in EC2; the instance still accepts its key, but only the private key you kept can log in with it"
                ),
                vec![format!(
                    "to let EC2 track it again: ssh-keygen -y -f {} > {key_name}.pub && aws ec2 import-key-pair --key-name {key_name} --public-key-material fileb://{key_name}.pub",
                    facts
                        .local_key
                        .as_ref()
                        .map_or("YOUR-KEY.pem", |k| k.path.as_str())
                )],
            ));
            None
        }
        Some(Lookup::Unavailable(why)) => {
            out.push(finding(
                "key-pair-exists",
                scope,
                Status::Skipped,
                why.clone(),
                vec![],
            ));
            None
        }
        None => None,
    }
}

fn local_key_checks(
    facts: &Facts,
    key_name: &str,
    ec2_key: Option<&KeyPairInfo>,
    out: &mut Vec<Finding>,
) {
    let scope = Scope::KeyRoutes;
    let local = match &facts.local_key {
        Ok(local) => local,
        Err(searched) => {
            let save = [
                format!("save it as ~/.ssh/{key_name}.pem (chmod 600), or pass -i PATH"),
                "or add its directory to key_dirs in berth's config file".to_owned(),
            ];
            out.push(if instance_connect_applies(facts) {
                finding(
                    "local-key",
                    scope,
                    Status::Warn,
                    format!(
                        "no private key for {key_name} (looked in {}); berth ssh logs in with a one-time key pushed with EC2 Instance Connect instead",
                        searched.join(", ")
                    ),
                    [vec![instance_connect_fix(facts)], save.to_vec()].concat(),
                )
            } else {
                finding(
                    "local-key",
                    scope,
                    Status::Fail,
                    format!(
                        "no private key for {key_name}; looked in {}",
                        searched.join(", ")
                    ),
                    save.to_vec(),
                )
            });
            return;
        }
    };
    out.push(finding(
        "local-key",
        scope,
        Status::Pass,
        &*local.path,
        vec![],
    ));
    match &local.fingerprint {
        FingerprintCheck::Matches => out.push(finding(
            "key-fingerprint",
            scope,
            Status::Pass,
            format!("{} is the private key of {key_name}", local.path),
            vec![],
        )),
        FingerprintCheck::Differs { local: theirs } => out.push(finding(
            "key-fingerprint",
            scope,
            Status::Fail,
            format!(
                "{} is not the private key of {key_name}: its fingerprint {theirs} differs from EC2's {}",
                local.path,
                ec2_key
                    .and_then(|k| k.fingerprint.as_deref())
                    .unwrap_or("(unknown)")
            ),
            vec![format!(
                "find the key saved when {key_name} was created and pass it with -i PATH"
            )],
        )),
        FingerprintCheck::Unchecked(why) => out.push(finding(
            "key-fingerprint",
            scope,
            Status::Skipped,
            why.clone(),
            vec![],
        )),
    }
    if let Some(mode) = local.mode {
        let readable_by_others = mode & 0o077 != 0;
        if readable_by_others {
            // OpenSSH refuses such a key; decrypting a Windows password
            // with it works, but others can read it too.
            let status = match facts.protocol {
                Protocol::Ssh => Status::Fail,
                Protocol::Rdp => Status::Warn,
            };
            out.push(finding(
                "key-permissions",
                scope,
                status,
                format!("mode {mode:04o}: OpenSSH refuses a private key that others can read"),
                vec![format!("chmod 600 {}", local.path)],
            ));
        } else {
            out.push(finding(
                "key-permissions",
                scope,
                Status::Pass,
                format!("mode {mode:04o}"),
                vec![],
            ));
        }
    }
}

fn password_checks(facts: &Facts, out: &mut Vec<Finding>) {
    let scope = Scope::All;
    let key_type = match &facts.key_pair {
        Some(Lookup::Known(Some(info))) => info.key_type.as_deref(),
        _ => None,
    };
    if let Some(kind) = key_type {
        if kind == "rsa" {
            out.push(finding(
                "windows-key-type",
                scope,
                Status::Pass,
                "rsa",
                vec![],
            ));
        } else {
            out.push(finding(
                "windows-key-type",
                scope,
                Status::Fail,
                format!(
                    "the key pair is {kind}: Windows encrypts its Administrator password to an RSA key, so it cannot be decrypted"
                ),
                vec![
                    "launch Windows instances with an RSA key pair (aws ec2 create-key-pair --key-type rsa)".to_owned(),
                    format!(
                        "or reset the password through Session Manager: aws ssm start-automation-execution --document-name AWSSupport-ResetAccess --parameters InstanceId={}",
                        facts.host.ec2.instance_id
                    ),
                ],
            ));
            return;
        }
    }
    let Some(password) = &facts.password else {
        return;
    };
    let id = &facts.host.ec2.instance_id;
    let (status, evidence, fix) = match password {
        Lookup::Unavailable(why) => (Status::Skipped, why.clone(), vec![]),
        Lookup::Known(PasswordState::Available) => (
            Status::Pass,
            "GetPasswordData has the encrypted Administrator password".to_owned(),
            vec![],
        ),
        Lookup::Known(PasswordState::NotYet { since_launch }) => {
            let waited = since_launch.map(minutes);
            match since_launch {
                Some(age) if *age < PASSWORD_DELAY => (
                    Status::Fail,
                    format!(
                        "not available yet: launched {} ago, and Windows takes about 4 minutes after launch to make it",
                        waited.unwrap_or_default()
                    ),
                    vec![format!(
                        "wait for it: berth rdp {} --wait 10m",
                        facts.target
                    )],
                ),
                _ => (
                    Status::Fail,
                    format!(
                        "GetPasswordData is empty{}: the AMI did not generate a password (a custom AMI, or one set by hand)",
                        waited.map_or_else(String::new, |w| format!(" {w} after launch"))
                    ),
                    vec![format!(
                        "reset it through Session Manager: aws ssm start-automation-execution --document-name AWSSupport-ResetAccess --parameters InstanceId={id}"
                    )],
                ),
            }
        }
    };
    out.push(finding("windows-password", scope, status, evidence, fix));
}

/// `3 min`, `1 h 5 min`.
fn minutes(d: Duration) -> String {
    let m = d.as_secs() / 60;
    let mut s = String::new();
    if m >= 60 {
        let _ = write!(s, "{} h ", m / 60);
    }
    let _ = write!(s, "{} min", m % 60);
    s
}
