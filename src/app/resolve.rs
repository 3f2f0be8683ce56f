//! From a target as written to the hosts it names: parse it (or take the
//! default cluster), look the hosts up in the target's region, filter,
//! and pick one; and the facts a plan asks of the operator's side (key,
//! user, route, address).

use ipnet::IpNet;

use crate::aws::Aws;
use crate::error::Error;
use crate::inventory::{HostFilter, Inventory, InventoryError};
use crate::model::hint::Hint as _;
use crate::model::host::{Host, InstanceStatus};
use crate::model::os::Login;
use crate::model::target;
use crate::model::target::{Target, TargetQuery};
use crate::plan::{OneTimeKey, SshRequest, Via};
use crate::secrets::ephemeral::KeyType;
use crate::secrets::keys::{self, KeyLookup};
use crate::transport::echo;

use super::context::{Choice, Context, Offer};
use super::request::{Connect, Filters, Source};

impl From<&Filters> for HostFilter {
    fn from(f: &Filters) -> Self {
        Self {
            tags: f.tags.clone(),
            az: f.az.clone(),
            status: f.status.map(|s| s.as_str().to_owned()),
        }
    }
}

/// Resolves a target to hosts and applies the filters; an empty result is
/// an error that says what was looked for.
pub async fn find_hosts(
    ctx: &Context,
    inventory: &Inventory,
    query: &TargetQuery,
    filters: &Filters,
) -> Result<Vec<Host>, Error> {
    if let (Target::Instance { instance_id }, Some(status)) = (&query.target, filters.status) {
        return Err(Error::usage(
            format!(
                "--status {} needs a cluster target; {instance_id} names an instance",
                status.as_str()
            ),
            format!("write the target as CLUSTER/{instance_id}"),
        ));
    }
    let filter = HostFilter::from(filters);
    let status = filters.status.map(InstanceStatus::as_str);
    let resolved = ctx
        .phase(
            "resolve",
            Box::pin(inventory.resolve(&query.target, status)),
        )
        .await;
    let hosts = match resolved {
        Ok(hosts) => hosts,
        Err(e) => {
            let e = inventory.explain(e).await;
            if matches!(
                e,
                InventoryError::UnknownCluster { .. } | InventoryError::NotFound { .. }
            ) && let Some(hint) = other_account(inventory, query).await
            {
                return Err(Error::no_match(format!("{} ({e})", query.target), hint));
            }
            return Err(e.into());
        }
    };
    let found = hosts.len();
    let hosts: Vec<Host> = hosts.into_iter().filter(|h| filter.matches(h)).collect();
    if hosts.is_empty() {
        let hint = if found > 0 {
            format!("{found} host(s) matched before --tag/--az/--status; loosen the filters")
        } else if let Some(hint) = other_account(inventory, query).await {
            hint
        } else {
            match &query.target {
                Target::Cluster { cluster, .. } => {
                    format!("list what the cluster has with `berth ls {cluster}`")
                }
                _ => "check the target with `berth ls`".to_owned(),
            }
        };
        return Err(Error::no_match(query.target.to_string(), hint));
    }
    Ok(hosts)
}

/// When an ARN target found nothing: the hint that the ARN names another
/// account than the credentials reach (read from the region's cluster
/// ARNs).
async fn other_account(inventory: &Inventory, query: &TargetQuery) -> Option<String> {
    let wanted = query.account.as_deref()?;
    let ours = inventory
        .aws()
        .list_cluster_arns()
        .await
        .ok()?
        .iter()
        .find_map(|arn| arn.split(':').nth(4).map(str::to_owned));
    // With no cluster in sight, the account cannot be told: the region is
    // the likelier miss, and the usual hint says so.
    let ours = ours?;
    (ours != wanted).then(|| {
        format!(
            "the ARN is of account {wanted}, but your credentials are for account {ours}: \
             use --profile with a profile of account {wanted}"
        )
    })
}

/// Picks one host: the only match, the first with `--first`, the user's
/// choice on a terminal, or an error listing the candidates.
pub fn pick_one(
    ctx: &Context,
    mut hosts: Vec<Host>,
    query: &TargetQuery,
    first: bool,
) -> Result<Host, Error> {
    if hosts.is_empty() {
        return Err(Error::no_match(
            query.target.to_string(),
            "check the target with `berth ls`".to_owned(),
        ));
    }
    // Hosts one can log in to and that are not being drained come first, so
    // `--first` and the picker's default are the sensible choice.
    hosts.sort_by_key(|h| {
        let no_shell = !matches!(h.os.login(), Login::Ssh(_));
        let not_active = h
            .container_instance
            .as_ref()
            .is_some_and(|ci| ci.status != "ACTIVE");
        (
            no_shell,
            not_active,
            h.name().map(str::to_owned),
            h.ec2.instance_id.clone(),
        )
    });
    if hosts.len() == 1 || first {
        return Ok(hosts.remove(0));
    }
    let users: Vec<Option<String>> = hosts.iter().map(|h| config_user(ctx, h)).collect();
    let (header, lines) = ctx.chooser.host_lines(&hosts, &users);
    let prompt = format!("{} hosts match", hosts.len());
    let what = query.target.to_string();
    if let Some(i) = choose(ctx, &prompt, Some(&header), &lines, &what)? {
        return Ok(hosts.remove(i));
    }
    Err(Error::ambiguous(
        query.target.to_string(),
        hosts
            .iter()
            .map(|h| (h.label(), precise_target(h)))
            .collect(),
    ))
}

/// One of `rows`, chosen as `BERTH_PICKER` says (`first`, a chooser
/// program, else the built-in finder on a terminal): the one picker every
/// command shares, so that each choice behaves alike. `Ok(None)` when
/// nobody is there to choose (the caller lists the candidates instead);
/// Esc or Ctrl-C in the finder is [`Error::cancelled`] (exit 130), a
/// chooser that picks none of the rows a miss of `what`.
pub fn choose(
    ctx: &Context,
    prompt: &str,
    header: Option<&str>,
    rows: &[String],
    what: &str,
) -> Result<Option<usize>, Error> {
    let offer = Offer {
        prompt,
        header,
        rows,
    };
    match ctx.chooser.choose(&offer)? {
        Choice::Picked(i) => Ok(Some(i)),
        Choice::Cancelled => Err(Error::cancelled()),
        Choice::NothingChosen => Err(Error::no_match(
            what.to_owned(),
            "nothing was picked".to_owned(),
        )),
        Choice::NoTerminal => Ok(None),
    }
}

/// The target that names exactly this host.
fn precise_target(host: &Host) -> String {
    match &host.container_instance {
        Some(ci) => format!("{}/{}", ci.cluster, host.ec2.instance_id),
        None => host.ec2.instance_id.clone(),
    }
}

/// The target a command works on: the one given, else the default cluster
/// (`BERTH_CLUSTER`, or `cluster` in the config file).
pub fn target_query(ctx: &Context, target: &str) -> Result<TargetQuery, Error> {
    if !target.trim().is_empty() {
        return Ok(target::parse(target)?);
    }
    match &ctx.settings.cluster {
        Some(cluster) => Ok(target::parse(cluster)?),
        None => Err(Error::usage(
            "the target is empty, and there is no default cluster".to_owned(),
            format!(
                "{}; or set a default cluster: `cluster = \"NAME\"` in the config file, or \
                 BERTH_CLUSTER",
                target::TargetError::Empty.hint().unwrap_or_default()
            ),
        )),
    }
}

/// Resolves a connect target to the one host it names (picking if needed).
pub async fn resolve_one(ctx: &Context, connect: &Connect) -> Result<Host, Error> {
    Ok(resolve_host(ctx, connect).await?.0)
}

/// [`resolve_one`], keeping the AWS clients (of the target's region) for
/// further calls.
pub async fn resolve_host(ctx: &Context, connect: &Connect) -> Result<(Host, Aws), Error> {
    resolve_host_preferring(ctx, connect, |_| true).await
}

/// Every host `connect` matches (a fleet command's targets), and the AWS
/// clients they were found with.
pub async fn resolve_all(ctx: &Context, connect: &Connect) -> Result<(Vec<Host>, Aws), Error> {
    let query = target_query(ctx, &connect.target)?;
    let inventory = ctx.inventory(query.region.as_deref()).await?;
    let hosts = find_hosts(ctx, &inventory, &query, &connect.filters).await?;
    inventory.save();
    Ok((hosts, inventory.aws().clone()))
}

/// [`resolve_host`]; among several matches only those `prefer` accepts are
/// candidates, if any is (`rdp` prefers Windows hosts). A single match is
/// kept whatever it is, for the planner to refuse with its reasons.
pub async fn resolve_host_preferring(
    ctx: &Context,
    connect: &Connect,
    prefer: impl Fn(&Host) -> bool,
) -> Result<(Host, Aws), Error> {
    let query = target_query(ctx, &connect.target)?;
    let inventory = ctx.inventory(query.region.as_deref()).await?;
    let mut hosts = find_hosts(ctx, &inventory, &query, &connect.filters).await?;
    inventory.save();
    if hosts.len() > 1 && hosts.iter().any(&prefer) {
        hosts.retain(&prefer);
    }
    let host = pick_one(ctx, hosts, &query, connect.first)?;
    ctx.connecting_to(&host);
    Ok((host, inventory.aws().clone()))
}

/// The operator's address: `--from`, else the config file's `from`, else
/// (only with `--detect-ip`) what the address-echo service says.
pub async fn operator_address(ctx: &Context, source: &Source) -> Result<Option<IpNet>, Error> {
    if let Some(from) = source.from {
        return Ok(Some(from));
    }
    if source.detect_ip {
        // The echo trusts the CA bundle the AWS clients trust.
        let aws = ctx.aws(None).await?;
        let addr = ctx
            .phase(
                "detect-ip",
                echo::public_address(&ctx.settings.echo_url, aws.ca_bundle().map(|b| &**b)),
            )
            .await?;
        ctx.verbose(&format!(
            "{} says your address is {addr}",
            ctx.settings.echo_url
        ));
        return Ok(Some(IpNet::from(addr)));
    }
    Ok(ctx.settings.config.from)
}

/// What to ask of the planner for `host`: the key found for its key pair,
/// and a request with the user, route and ssh program settled (no port,
/// pass-through options or remote command; `ssh` adds its own).
pub fn connect_request(
    ctx: &Context,
    connect: &Connect,
    host: &Host,
) -> Result<(SshRequest, KeyLookup), Error> {
    let key = find_key(ctx, connect, host)?;
    let request = SshRequest {
        user: connect.user.clone(),
        config_user: config_user(ctx, host),
        port: None,
        via: effective_via(ctx, connect, host),
        passthrough: Vec::new(),
        remote_command: Vec::new(),
        program: ctx.settings.ssh_program.clone(),
        one_time_key: OneTimeKey::Auto,
        one_time_key_type: KeyType::default(),
    };
    Ok((request, key))
}

/// The private key of the host's key pair, found as ssh would use it.
pub fn find_key(ctx: &Context, connect: &Connect, host: &Host) -> Result<KeyLookup, Error> {
    Ok(keys::find_key(
        connect.identity.as_deref(),
        host.ec2.key_name.as_deref(),
        &ctx.settings.config.key_dirs,
        ctx.settings.home.as_deref(),
    )?)
}

/// The route to use: `--via`, else `BERTH_VIA`, else the config's for the
/// cluster, else auto.
pub fn effective_via(ctx: &Context, args: &Connect, host: &Host) -> Via {
    if let Some(via) = args.via {
        return via;
    }
    let cluster = host.container_instance.as_ref().map(|c| c.cluster.as_str());
    ctx.settings
        .via_from_env
        .or_else(|| ctx.settings.config.via_for(cluster))
        .unwrap_or(Via::Auto)
}

/// The config file's user for this host (by its cluster, its AMI's name).
pub fn config_user(ctx: &Context, host: &Host) -> Option<String> {
    let ami_name = host.image.as_ref().and_then(|i| i.name.as_deref());
    ctx.settings.config.user_for(host.cluster(), ami_name)
}
