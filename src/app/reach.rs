//! The way to a host: the route `--via` asks for or `auto` finds
//! ([`plan::route`](crate::plan::route) decides), and the bastion when the
//! route goes through one: `--bastion`, else the config file's for the
//! cluster or VPC, else the running instance tagged `berth:bastion` in the
//! host's VPC. The bastion is looked up only when a route needs it, so a
//! host with a public address costs no extra call; Session Manager is asked
//! about the host only when `auto` has no SSH route left.

use super::request::{Connect, ConnectOptions, Filters};
use crate::aws::Aws;
use crate::error::Error;
use crate::model::host::Host;
use crate::model::lookup::Lookup;
use crate::model::named::Named as _;
use crate::model::route::{Bastion, BastionMachine, BastionSource, Route};
use crate::plan::route::{
    self, BASTION_TAG, BastionSearch, EndpointSearch, RouteChoice, choose_endpoint,
};
use crate::plan::{self, SshRequest, Via};
use crate::transport::eice::InstanceConnectEndpoint;

use super::host_keys::{self, HostKeyCheck};
use super::{Context, connect_request, effective_via, eice, resolve_one};

/// The route decided, and the bastion or the endpoint it goes through.
pub struct Reach {
    pub choice: RouteChoice,
    pub bastion: Option<Bastion>,
    pub endpoint: Option<InstanceConnectEndpoint>,
}

/// Decides how to reach `host`, looking the bastion up if a route needs it.
pub async fn reach(
    ctx: &Context,
    aws: &Aws,
    connect: &Connect,
    host: &Host,
) -> Result<Reach, Error> {
    let via = requested_via(ctx, connect, host)?;
    let bastions = async {
        if route::needs_bastion(via, host) {
            find_bastion(ctx, aws, connect, host).await
        } else {
            Ok(BastionSearch::NotNeeded)
        }
    };
    let endpoints = async {
        if route::needs_endpoint(via, host) {
            ctx.phase("endpoints", eice::endpoints_of(aws, host)).await
        } else {
            Ok(Vec::new())
        }
    };
    let (bastion, endpoints) = tokio::try_join!(bastions, endpoints)?;
    let endpoint = choose_endpoint(&endpoints, host).cloned();
    let endpoint_search = match (&endpoint, route::needs_endpoint(via, host)) {
        (_, false) => EndpointSearch::NotNeeded,
        (Some(e), true) => EndpointSearch::Found(e.id.clone()),
        (None, true) => EndpointSearch::NoneIn {
            vpc_id: host.ec2.vpc_id.clone(),
        },
    };
    // Session Manager only when no SSH route is left: a host an SSH route
    // reaches costs no DescribeInstanceInformation.
    let agent = if route::needs_agent(via, host, &bastion, &endpoint_search) {
        Some(Lookup::from_result(
            ctx.phase("ssm", aws.ssm_state(host.instance_id())).await,
        ))
    } else {
        None
    };
    let choice = route::choose(via, host, &bastion, &endpoint_search, &agent)?;
    Ok(Reach {
        bastion: choice.bastion.clone(),
        endpoint: endpoint.filter(|_| choice.route == Route::Eice),
        choice,
    })
}

/// `--via`, else the config's for the cluster; `--bastion` asks for the
/// bastion route and cannot be combined with another.
pub fn requested_via(ctx: &Context, connect: &Connect, host: &Host) -> Result<Via, Error> {
    match (&connect.bastion, connect.via) {
        (None, _) => Ok(effective_via(ctx, connect, host)),
        (Some(_), None | Some(Via::Auto | Via::Bastion | Via::InstanceConnect)) => Ok(Via::Bastion),
        (Some(bastion), Some(other)) => Err(Error::usage(
            format!(
                "--bastion {bastion} goes through a bastion, but --via {} asks for another route",
                other.name()
            ),
            "drop one of them".to_owned(),
        )),
    }
}

/// Bastions found in this run, by what found them: (`--bastion`, cluster,
/// VPC). The hosts of a fleet ask once.
pub type BastionMemo =
    std::collections::HashMap<(Option<String>, Option<String>, Option<String>), BastionSearch>;

/// The bastion for `host`: named (flag, then config) or tagged in its VPC.
pub async fn find_bastion(
    ctx: &Context,
    aws: &Aws,
    connect: &Connect,
    host: &Host,
) -> Result<BastionSearch, Error> {
    let cluster = host.container_instance.as_ref().map(|c| c.cluster.clone());
    let key = (connect.bastion.clone(), cluster, host.ec2.vpc_id.clone());
    let memo = |ctx: &Context| {
        ctx.bastions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
            .cloned()
    };
    let found = if let Some(found) = memo(ctx) {
        found
    } else {
        let found = look_for_bastion(ctx, aws, connect, host).await?;
        ctx.bastions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key.clone(), found.clone());
        found
    };
    // A host is never its own bastion.
    Ok(match found {
        BastionSearch::Found(b)
            if b.instance()
                .is_some_and(|b| b.instance_id() == host.instance_id()) =>
        {
            BastionSearch::NoneIn {
                vpc_id: host.ec2.vpc_id.clone(),
            }
        }
        found => found,
    })
}

async fn look_for_bastion(
    ctx: &Context,
    aws: &Aws,
    connect: &Connect,
    host: &Host,
) -> Result<BastionSearch, Error> {
    let cluster = host.container_instance.as_ref().map(|c| c.cluster.as_str());
    let vpc = host.ec2.vpc_id.as_deref();
    let named = match &connect.bastion {
        Some(target) => Some((target.clone(), BastionSource::Flag)),
        None => ctx
            .settings
            .config
            .bastion_for(cluster, vpc)
            .map(|(target, key)| (target, BastionSource::Config(key))),
    };
    if let Some((target, source)) = named {
        let machine = resolve_bastion(ctx, aws, &target, &connect.options).await?;
        // doctor names it again by `--bastion`'s value, else by its id.
        let target = match (&source, &machine) {
            (BastionSource::Flag, _) => target,
            (_, BastionMachine::Instance(b)) => b.instance_id().to_owned(),
            (_, BastionMachine::External(name)) => name.clone(),
        };
        return Ok(BastionSearch::Found(Bastion {
            label: machine_label(&machine),
            source,
            target,
            machine,
        }));
    }
    let Some(vpc) = vpc else {
        return Ok(BastionSearch::NoneIn { vpc_id: None });
    };
    let inventory = ctx.inventory(Some(&aws.region)).await?;
    let mut tagged = ctx
        .phase("bastion", inventory.tagged_in_vpc(vpc, BASTION_TAG))
        .await?;
    inventory.save();
    // Never the host itself; the nearest first: its subnet, then its zone.
    tagged.retain(|b| b.instance_id() != host.instance_id());
    tagged.sort_by_key(|b| {
        (
            b.ec2.subnet_id != host.ec2.subnet_id,
            b.ec2.availability_zone != host.ec2.availability_zone,
            b.instance_id().to_owned(),
        )
    });
    if tagged.len() > 1 {
        ctx.verbose(&format!(
            "{} instances in {vpc} are tagged {BASTION_TAG}; taking {}",
            tagged.len(),
            tagged[0].label()
        ));
    }
    Ok(match tagged.into_iter().next() {
        Some(bastion) => BastionSearch::Found(Bastion {
            label: bastion.label(),
            source: BastionSource::Tag,
            target: bastion.instance_id().to_owned(),
            machine: BastionMachine::Instance(Box::new(bastion)),
        }),
        None => BastionSearch::NoneIn {
            vpc_id: Some(vpc.to_owned()),
        },
    })
}

/// An EC2 bastion's label, else the name ssh knows it by.
fn machine_label(machine: &BastionMachine) -> String {
    match machine {
        BastionMachine::Instance(host) => host.label(),
        BastionMachine::External(name) => name.clone(),
    }
}

/// A bastion named by a target (`i-…`, `CLUSTER/NAME`, an ARN), else by
/// its Name tag, else a host name for ssh.
async fn resolve_bastion(
    ctx: &Context,
    aws: &Aws,
    name: &str,
    options: &ConnectOptions,
) -> Result<BastionMachine, Error> {
    let is_target = crate::model::target::is_instance_id(name)
        || name.contains('/')
        || name.starts_with("arn:");
    if is_target {
        let host = resolve_one(ctx, &bastion_connect(name, options)).await?;
        return Ok(BastionMachine::Instance(Box::new(host)));
    }
    let inventory = ctx.inventory(Some(&aws.region)).await?;
    let mut named = ctx.phase("bastion", inventory.named(name)).await?;
    inventory.save();
    if named.len() > 1 {
        return Err(Error::ambiguous(
            format!("bastion `{name}` (Name tag)"),
            named
                .iter()
                .map(|h| (h.label(), h.instance_id().to_owned()))
                .collect(),
        ));
    }
    if let Some(host) = named.pop() {
        return Ok(BastionMachine::Instance(Box::new(host)));
    }
    ctx.verbose(&format!(
        "no running instance is named `{name}`; using it as an ssh host name"
    ));
    Ok(BastionMachine::External(name.to_owned()))
}

/// How to reach a bastion: the command's options without what belongs to
/// its target (key file, user, filters, route).
pub fn bastion_connect(target: &str, options: &ConnectOptions) -> Connect {
    Connect {
        target: target.to_owned(),
        options: ConnectOptions {
            identity: None,
            user: None,
            via: None,
            bastion: None,
            filters: Filters::default(),
            ..options.clone()
        },
    }
}

/// How the bastion's own ssh is asked for: what it forwards, and how its
/// host key is checked.
pub struct Hop {
    /// `-W %h:%p` for a ProxyCommand, `-N -L …` for a tunnel.
    pub forward: Vec<String>,
    /// berth is about to connect: the bastion's console output may be read
    /// to pin its keys. On a dry run only keys pinned already are used.
    pub connecting: bool,
}

/// The ssh argv to the bastion itself, with the operator's `-o` options
/// first (as every ssh berth starts has them) and the hop's forward. Its user and
/// key are its own; its address is the config's route for its cluster, else
/// its public address, else its private one (a bastion without a public
/// address is reached over a VPN). An EC2 bastion's host key is pinned per
/// instance id and checked as the target's is, so that a machine that has
/// never seen it needs no terminal to ask on.
pub async fn bastion_plan(
    ctx: &Context,
    aws: &Aws,
    options: &ConnectOptions,
    bastion: &Bastion,
    hop: Hop,
) -> Result<plan::Jump, Error> {
    let operator = options.ssh_option_words();
    let bastion = match &bastion.machine {
        BastionMachine::Instance(host) => host,
        BastionMachine::External(name) => {
            let passthrough = [operator, hop.forward].concat();
            let argv = route::external_bastion_argv(&ctx.settings.ssh_program, passthrough, name);
            return Ok(plan::Jump {
                instance_id: None,
                address: name.clone(),
                argv,
                push: None,
            });
        }
    };
    let connect = bastion_connect(bastion.instance_id(), options);
    let (request, key) = connect_request(ctx, &connect, bastion)?;
    let via = match request.via {
        Via::Auto if bastion.ec2.public_dns.is_none() && bastion.ec2.public_ip.is_none() => {
            Via::Private
        }
        Via::Auto | Via::Bastion => Via::Public,
        other => other,
    };
    let pins = host_keys::for_hop(ctx, aws, bastion, &operator, hop.connecting).await;
    let mut passthrough = operator;
    passthrough.extend(
        pins.as_ref()
            .map(HostKeyCheck::ssh_options)
            .unwrap_or_default(),
    );
    passthrough.extend(hop.forward);
    let request = SshRequest {
        via,
        passthrough,
        ..request
    };
    let plan = plan::plan_ssh(bastion, &request, &key)?;
    ctx.announce(&plan.warnings, &[]);
    if let Some(push) = &plan.instance_connect {
        ctx.verbose(&format!("bastion {}: {}", bastion.label(), push.reason));
    }
    Ok(plan::Jump {
        instance_id: Some(bastion.instance_id().to_owned()),
        address: plan.address.clone(),
        argv: plan.bastion_argv(),
        push: plan.instance_connect,
    })
}
