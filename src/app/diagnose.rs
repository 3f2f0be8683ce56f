//! `berth doctor TARGET`: gather the facts every prerequisite depends on
//! (side by side), let [`crate::doctor::diagnose`] decide, print the
//! checklist. Also `--fix` (a temporary rule) and `--cleanup`.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use ipnet::IpNet;

use super::request::{Connect, Source};
use crate::aws::Aws;
use crate::aws::stats::branch;
use crate::doctor::{
    self, Facts, FingerprintCheck, LocalKey, Lookup, PasswordState, Protocol, Report, Route, Scope,
    Status,
};
use crate::error::Error;
use crate::firewall::{self, Opened};
use crate::model::host::Host;
use crate::model::named::Named as _;
use crate::model::network::SessionKey;
use crate::model::os::OsFamily;
use crate::plan::Via;
use crate::plan::route::{BastionSearch, choose_endpoint};
use crate::secrets::fingerprint::{self, FingerprintMatch};
use crate::transport::eice::InstanceConnectEndpoint;

use super::{Context, find_key, operator_address, resolve_host};

/// The connection doctor checks: what for, to which port, from where, and
/// by which route (`Auto`: every route).
#[derive(Debug, Clone)]
pub struct Probe {
    pub protocol: Protocol,
    pub port: u16,
    pub from: Option<IpNet>,
    pub via: Via,
    /// The bastion whose route is checked too.
    pub bastion: BastionSearch,
}

impl Probe {
    /// The `berth doctor` line that checks the same connection again.
    pub fn doctor_command(&self, target: &str) -> String {
        let name = match self.protocol {
            Protocol::Ssh => "ssh",
            Protocol::Rdp => "rdp",
        };
        let mut line = format!("berth doctor {target} --protocol {name}");
        if self.via != Via::Auto {
            let _ = write!(line, " --via {}", self.via.name());
        }
        if self.port != self.protocol.default_port() {
            let _ = write!(line, " -p {}", self.port);
        }
        if let Some(from) = self.from {
            let _ = write!(line, " --from {from}");
        }
        // An EC2 bastion named with --bastion (one outside EC2 is not
        // checked, so the line does not name it).
        if let BastionSearch::Found(bastion) = &self.bastion
            && bastion.named()
            && bastion.instance().is_some()
        {
            let _ = write!(line, " --bastion {}", bastion.target);
        }
        line
    }
}

/// Gathers the facts and diagnoses. Also used after a failed connection.
pub async fn examine(
    ctx: &Context,
    aws: &Aws,
    host: &Host,
    connect: &Connect,
    probe: &Probe,
) -> Result<Report, Error> {
    let ec2 = &host.ec2;
    let id = ec2.instance_id.as_str();
    let subnet = ec2.subnet_id.as_deref();
    let vpc = ec2.vpc_id.as_deref();
    let windows = host.os == OsFamily::Windows;
    // Only what the routes to be checked read is asked for.
    let routes = doctor::selected_routes(probe.via, &probe.bastion);
    let public = routes.contains(&Route::Public);
    let ssm_route = routes.contains(&Route::Ssm);

    let groups =
        branch(async { Lookup::from_result(aws.security_groups(&ec2.security_groups).await) });
    let route_table = branch(async {
        match (subnet, vpc) {
            _ if !public && !ssm_route => not_checked(),
            (Some(s), Some(v)) => Lookup::from_result(aws.route_table_for(s, v).await),
            _ => missing("subnet"),
        }
    });
    let igw = branch(async {
        match vpc {
            _ if !public => not_checked(),
            Some(v) => Lookup::from_result(aws.internet_gateway_of(v).await),
            None => missing("VPC"),
        }
    });
    let acl = branch(async {
        match subnet {
            Some(s) => Lookup::from_result(aws.network_acl_for(s).await),
            None => missing("subnet"),
        }
    });
    let key_pair = branch(async {
        match &ec2.key_name {
            Some(name) => Some(Lookup::from_result(aws.key_pair(name).await)),
            None => None,
        }
    });
    let ssm = branch(ssm_facts(aws, id, vpc, ssm_route));
    let endpoints = branch(async {
        match vpc {
            _ if !routes.contains(&Route::Eice) => not_checked(),
            Some(v) => endpoints_of(aws, host, v).await,
            None => missing("VPC"),
        }
    });
    let password = branch(async {
        if windows {
            Some(password_state(aws, host).await)
        } else {
            None
        }
    });
    let (groups, route_table, internet_gateway, acl, key_pair, ssm, endpoints, password) =
        Box::pin(ctx.phase("examine", async {
            futures::join!(
                groups,
                route_table,
                igw,
                acl,
                key_pair,
                ssm,
                endpoints,
                password
            )
        }))
        .await;
    let (ssm, ssm_endpoints, session_kms) = ssm;

    let ec2_fingerprint = match &key_pair {
        Some(Lookup::Known(Some(info))) => info.fingerprint.as_deref(),
        _ => None,
    };
    let local_key = local_key(ctx, connect, host, ec2_fingerprint)?;
    Ok(doctor::diagnose(&Facts {
        host,
        target: &connect.target,
        protocol: probe.protocol,
        port: probe.port,
        from: probe.from,
        via: probe.via,
        groups,
        route_table,
        internet_gateway,
        acl,
        key_pair,
        local_key,
        ssm,
        region: &aws.region,
        ssm_endpoints,
        session_kms,
        endpoints,
        password,
        bastion: probe.bastion.clone(),
    }))
}

/// What the `ssm` route is checked by: the agent, the VPC's endpoints and
/// the Session Manager preferences' KMS key, read side by side (and beside
/// the route table, which decides whether the endpoints matter), so the
/// route costs one round trip.
async fn ssm_facts(
    aws: &Aws,
    id: &str,
    vpc: Option<&str>,
    wanted: bool,
) -> (
    Lookup<doctor::SsmState>,
    Lookup<Vec<crate::model::network::VpcEndpoint>>,
    Lookup<Option<SessionKey>>,
) {
    if !wanted {
        return (not_checked(), not_checked(), not_checked());
    }
    let endpoints = async {
        match vpc {
            Some(v) => Lookup::from_result(aws.vpc_endpoints(v).await),
            None => missing("VPC"),
        }
    };
    let (agent, endpoints, kms) = futures::join!(aws.ssm_state(id), endpoints, session_key(aws));
    (Lookup::from_result(agent), endpoints, kms)
}

/// The preferences' KMS key, and what KMS tells the caller about it: that
/// it exists and may be used (DescribeKey), and that GenerateDataKey on it
/// would be allowed (a dry run, which makes no key), side by side.
async fn session_key(aws: &Aws) -> Lookup<Option<SessionKey>> {
    let id = match aws.session_kms_key().await {
        Ok(Some(id)) => id,
        Ok(None) => return Lookup::Known(None),
        Err(e) => return Lookup::Unavailable(e.to_string()),
    };
    let (described, generate) =
        futures::join!(aws.describe_key(&id), aws.may_generate_data_key(&id));
    Lookup::Known(Some(SessionKey {
        id,
        described: Lookup::from_result(described),
        generate: Lookup::from_result(generate),
    }))
}

/// The endpoints of `vpc` doctor evaluates, with the CIDRs of their
/// subnets and of the VPC (where an endpoint that does not preserve the
/// client's address connects from). The VPC's are read alongside the
/// endpoints, the subnets' once the endpoints name them; either failing
/// leaves that fact unknown, not the endpoints.
async fn endpoints_of(aws: &Aws, host: &Host, vpc: &str) -> Lookup<Vec<doctor::Endpoint>> {
    let (found, vpc_cidrs) =
        futures::join!(aws.instance_connect_endpoints(vpc), aws.vpc_cidrs(vpc));
    let all = match found {
        Ok(all) => all,
        Err(e) => return Lookup::Unavailable(e.to_string()),
    };
    let found = endpoints_for(&all, host);
    let vpc_cidrs = Lookup::from_result(vpc_cidrs);
    let mut subnets: Vec<String> = found.iter().map(|e| e.subnet_id.clone()).collect();
    subnets.sort();
    subnets.dedup();
    let subnet_cidrs = Lookup::from_result(aws.subnet_cidrs(&subnets).await);
    Lookup::Known(
        found
            .into_iter()
            .map(|e| {
                let subnet_cidr = match &subnet_cidrs {
                    Lookup::Known(cidrs) => {
                        cidrs.iter().find(|(id, _)| *id == e.subnet_id).map_or_else(
                            || Lookup::Unavailable(format!("EC2 does not list {}", e.subnet_id)),
                            |(_, cidr)| Lookup::Known(*cidr),
                        )
                    }
                    Lookup::Unavailable(why) => Lookup::Unavailable(why.clone()),
                };
                doctor::Endpoint {
                    id: e.id.clone(),
                    subnet_id: e.subnet_id.clone(),
                    security_groups: e.security_group_ids.clone(),
                    preserve_client_ip: e.preserve_client_ip,
                    subnet_cidr,
                    vpc_cidrs: vpc_cidrs.clone(),
                }
            })
            .collect(),
    )
}

/// The endpoints doctor evaluates: the one a tunnel would go through first
/// (see [`choose_endpoint`]), then any other usable one.
fn endpoints_for<'a>(
    found: &'a [InstanceConnectEndpoint],
    host: &Host,
) -> Vec<&'a InstanceConnectEndpoint> {
    let chosen = choose_endpoint(found, host);
    chosen
        .into_iter()
        .chain(found.iter().filter(|e| e.usable() && Some(*e) != chosen))
        .collect()
}

/// The bastion as [`route::find_bastion`] finds it; doctor checks the
/// route through it from its machine.
pub async fn bastion(
    ctx: &Context,
    aws: &Aws,
    connect: &Connect,
    host: &Host,
) -> Result<BastionSearch, Error> {
    super::reach::find_bastion(ctx, aws, connect, host).await
}

/// Whether GetPasswordData has the password yet, and if not, how long
/// the instance has been up.
async fn password_state(aws: &Aws, host: &Host) -> Lookup<PasswordState> {
    let data = aws.get_password_data(host.instance_id()).await;
    Lookup::from_result(data).map(|data| {
        if data.is_empty() {
            PasswordState::NotYet {
                since_launch: since_launch(host.ec2.launch_time.as_deref()),
            }
        } else {
            PasswordState::Available
        }
    })
}

fn not_checked<T>() -> Lookup<T> {
    Lookup::Unavailable("not needed for the routes checked".to_owned())
}

fn missing<T>(what: &str) -> Lookup<T> {
    Lookup::Unavailable(format!("the instance has no {what}"))
}

fn since_launch(launch_time: Option<&str>) -> Option<Duration> {
    let launched = humantime::parse_rfc3339_weak(launch_time?).ok()?;
    SystemTime::now().duration_since(launched).ok()
}

/// Finds the local private key as `ssh` would and compares it with EC2's
/// fingerprint.
fn local_key(
    ctx: &Context,
    connect: &Connect,
    host: &Host,
    ec2_fingerprint: Option<&str>,
) -> Result<Result<LocalKey, Vec<String>>, Error> {
    let lookup = find_key(ctx, connect, host)?;
    let Some(found) = lookup.found else {
        return Ok(Err(lookup
            .searched
            .iter()
            .map(|p| p.display().to_string())
            .collect()));
    };
    let fingerprint = match (std::fs::read_to_string(&found.path), ec2_fingerprint) {
        (Err(e), _) => FingerprintCheck::Unchecked(format!("cannot read it: {e}")),
        (Ok(_), None) => {
            FingerprintCheck::Unchecked("EC2 has no fingerprint to compare with".to_owned())
        }
        (Ok(text), Some(theirs)) => compare_fingerprint(&text, theirs),
    };
    Ok(Ok(LocalKey {
        path: found.path.display().to_string(),
        mode: found.mode,
        fingerprint,
    }))
}

/// Whether the key file's text is the private key EC2 fingerprinted.
fn compare_fingerprint(text: &str, ec2: &str) -> FingerprintCheck {
    let key = match fingerprint::LocalKey::parse(text) {
        Ok(key) => key,
        Err(e) => return FingerprintCheck::Unchecked(e.to_string()),
    };
    match key.matches(ec2) {
        Ok(FingerprintMatch::Match(_)) => FingerprintCheck::Matches,
        Ok(FingerprintMatch::Mismatch) => FingerprintCheck::Differs {
            local: key
                .documented()
                .map(|f| format!("{f} ({})", f.kind.describe()))
                .collect::<Vec<_>>()
                .join(", "),
        },
        Ok(FingerprintMatch::Encrypted) => FingerprintCheck::Unchecked(
            "the key is encrypted; its fingerprint needs the passphrase".to_owned(),
        ),
        Err(e) => FingerprintCheck::Unchecked(e.to_string()),
    }
}

/// Whether a security-group rule for the operator would help: some route's
/// group check failed while its address check passed.
pub fn needs_group_fix(report: &Report) -> bool {
    report.findings.iter().any(|f| {
        f.check == "security-group"
            && f.status == Status::Fail
            && matches!(f.scope, Scope::Route(Route::Public | Route::Private))
    })
}

/// The security group `--open`/`--fix` adds to: the instance's first.
pub fn first_group(host: &Host) -> Result<String, Error> {
    host.ec2
        .security_groups
        .first()
        .cloned()
        .ok_or_else(|| firewall::FirewallError::NoGroup(host.ec2.instance_id.clone()).into())
}

/// What `doctor` is asked to check.
#[derive(Debug, Clone)]
pub struct DoctorRequest {
    pub connect: Connect,
    pub source: Source,
    /// `--protocol`; else the host's (RDP for Windows, else SSH).
    pub protocol: Option<Protocol>,
    /// `--port`; else the protocol's.
    pub port: Option<u16>,
    /// `--fix`, and for how long the rule stands.
    pub fix: Option<std::time::Duration>,
}

/// Resolves the target, checks every prerequisite, and with `--fix` adds
/// the rule that is missing and checks again.
pub async fn check(ctx: &Context, request: &DoctorRequest) -> Result<(Host, Report), Error> {
    let connect = &request.connect;
    let (host, aws) = resolve_host(ctx, connect).await?;
    let from = operator_address(ctx, &request.source).await?;
    let protocol = request.protocol.unwrap_or(Protocol::for_os(host.os));
    let port = request.port.unwrap_or(protocol.default_port());
    let via = super::reach::requested_via(ctx, connect, &host)?;
    let bastion = match via {
        Via::Auto | Via::Bastion => bastion(ctx, &aws, connect, &host).await?,
        Via::Public | Via::Private | Via::InstanceConnect | Via::Eice | Via::Ssm => {
            BastionSearch::NotNeeded
        }
    };
    let probe = Probe {
        protocol,
        port,
        from,
        via,
        bastion,
    };
    let mut report = Box::pin(examine(ctx, &aws, &host, connect, &probe)).await?;

    if let Some(fix_for) = request.fix {
        let Some(cidr) = from else {
            return Err(Error::usage(
                "--fix needs your address".to_owned(),
                "pass --from YOUR-ADDRESS/32, set `from` in the config file, or use --detect-ip"
                    .to_owned(),
            ));
        };
        if needs_group_fix(&report) {
            let group = first_group(&host)?;
            let journal = ctx.journal()?;
            match firewall::open(&aws, &journal, &group, cidr, port, fix_for, false).await? {
                Opened::Added(rule) => ctx.reporter.say(&format!(
                    "added to {group}: tcp/{port} from {cidr}, \"{}\"",
                    rule.description
                )),
                Opened::AlreadyAllowed => ctx
                    .reporter
                    .say(&format!("{group} already allows tcp/{port} from {cidr}")),
            }
            report = Box::pin(examine(ctx, &aws, &host, connect, &probe)).await?;
        } else {
            ctx.reporter.say("--fix: no security group needs fixing");
        }
    }

    Ok((host, report))
}

/// `doctor --cleanup`: removes leftover temporary rules (`all`: also those
/// still in use or not yet expired).
pub async fn sweep_leftovers(ctx: &Context, all: bool) -> Result<firewall::Sweep, Error> {
    // Not through ctx.inventory(): its automatic sweep would take the
    // leftovers first and leave this report empty.
    let aws = ctx.aws(None).await?;
    let journal = ctx.journal()?;
    Ok(firewall::sweep(&aws, &journal, all).await?)
}
