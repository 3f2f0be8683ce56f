//! The subcommands, each a function from parsed arguments and [`Context`]
//! to an exit code. They glue the pure parts (target, plan, render) to the
//! impure ones (inventory, transport) and hold no logic of their own.

pub mod config;
pub mod copy;
pub mod doctor;
pub mod eice;
pub mod exec;
pub mod host_keys;
pub mod instance_connect;
pub mod logs;
pub mod ls;
pub mod maintain;
pub mod proxy;
pub mod rdp;
pub mod route;
pub mod run;
pub mod session;
pub mod show;
pub mod ssh;
pub mod ssh_config;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use ipnet::IpNet;

use crate::aws::Aws;
use crate::aws::stats::CallLog;
use crate::cli::{ConnectArgs, FilterArgs, InstanceStatus, SourceArgs};
use crate::error::Error;
use crate::firewall::{self, journal::Journal};
use crate::inventory::cache::AmiCache;
use crate::inventory::host_cache::{self, HostCache};
use crate::inventory::{HostFilter, Inventory, InventoryError};
use crate::model::hint::Hint as _;
use crate::model::host::Host;
use crate::model::os::Login;
use crate::model::target;
use crate::model::target::{Target, TargetQuery};
use crate::plan::{OneTimeKey, SshRequest, Via};
use crate::secrets::ephemeral::KeyType;
use crate::secrets::keys::{self, KeyLookup};
use crate::settings::Settings;
use crate::transport::echo;
use crate::ui::picker;
use crate::ui::render::{self, HostRow};

/// How long a phase runs before its spinner shows: a warm run never
/// flickers one.
const SPINNER_AFTER: Duration = Duration::from_millis(250);

/// What every command shares: settings, the call log behind `--stats`,
/// and the bastions found so far (a fleet's hosts share them).
pub struct Context {
    pub settings: Settings,
    pub log: Arc<CallLog>,
    bastions: std::sync::Mutex<route::BastionMemo>,
    /// The instances this run connects to (see [`Context::connecting_to`]).
    connected: std::sync::Mutex<Vec<String>>,
    /// AWS clients by region override, made once and shared (one config
    /// load, one connection pool) by everything the run does at once.
    clients: tokio::sync::Mutex<BTreeMap<Option<String>, Aws>>,
}

impl Context {
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            log: CallLog::new(),
            bastions: std::sync::Mutex::default(),
            connected: std::sync::Mutex::default(),
            clients: tokio::sync::Mutex::default(),
        }
    }

    /// The AWS clients for the settings' region, or `region_override`;
    /// connected on first use.
    pub async fn aws(&self, region_override: Option<&str>) -> Result<Aws, Error> {
        let mut clients = self.clients.lock().await;
        let key = region_override.map(str::to_owned);
        if let Some(aws) = clients.get(&key) {
            return Ok(aws.clone());
        }
        let aws = Aws::connect(&self.settings.aws, region_override, Arc::clone(&self.log)).await?;
        clients.insert(key, aws.clone());
        Ok(aws)
    }

    /// Connects to AWS with the AMI cache attached. No call is made, unless
    /// an earlier berth left temporary rules behind: those go first.
    pub async fn inventory(&self, region_override: Option<&str>) -> Result<Inventory, Error> {
        let aws = self.aws(region_override).await?;
        self.remove_leftovers(&aws).await;
        let amis = match (&self.settings.cache_dir, self.settings.refresh) {
            (Some(dir), false) => AmiCache::open(dir, &aws.region, aws.endpoint_url.as_deref()),
            _ => AmiCache::disabled(),
        };
        let hosts = match &self.settings.cache_dir {
            Some(dir) => HostCache::open(
                dir,
                aws.profile.as_deref().unwrap_or("default"),
                &aws.region,
                aws.endpoint_url.as_deref(),
                self.settings.cache_ttl,
                self.settings.refresh,
            ),
            None => HostCache::disabled(),
        };
        Ok(Inventory::new(aws, amis).with_host_cache(hosts))
    }

    /// Notes the host a command connects to: if the connection fails, the
    /// cached facts that led there are dropped.
    pub fn connecting_to(&self, host: &Host) {
        self.connected
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(host.instance_id().to_owned());
    }

    /// Drops the cached facts of the hosts this run connected to (after a
    /// failed connection: they may be stale).
    pub fn forget_cached_hosts(&self) {
        let ids = std::mem::take(
            &mut *self
                .connected
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        if let Some(dir) = &self.settings.cache_dir {
            host_cache::forget(dir, &ids);
        }
    }

    /// The journal of temporary security-group rules.
    pub fn journal(&self) -> Result<Journal, Error> {
        self.settings
            .state_dir
            .as_deref()
            .map(Journal::new)
            .ok_or_else(|| {
                Error::usage(
                    "no state directory for the journal of temporary rules".to_owned(),
                    "set HOME or XDG_STATE_HOME".to_owned(),
                )
            })
    }

    /// Removes rules of sessions that were killed before they could, and
    /// `--fix` rules that expired. Problems are reported, never fatal.
    async fn remove_leftovers(&self, aws: &Aws) {
        let Ok(journal) = self.journal() else { return };
        if !firewall::has_stale(&journal) {
            return;
        }
        match firewall::sweep(aws, &journal, false).await {
            Ok(sweep) => {
                for removed in sweep.removed {
                    eprintln!("berth: removed a temporary rule an earlier berth left: {removed}");
                }
                for failed in sweep.failed {
                    eprintln!(
                        "berth: warning: could not remove a leftover temporary rule: {failed}"
                    );
                }
            }
            Err(e) => eprintln!("berth: warning: leftover temporary rules: {e}"),
        }
    }

    /// Prints the `--stats` report to stderr, if asked for.
    pub fn print_stats(&self) {
        if self.settings.stats {
            eprintln!("{}", self.log.report());
        }
    }

    /// The colours for what goes to stdout (tables, checklists).
    pub fn stdout_palette(&self) -> render::Palette {
        render::Palette::new(self.settings.color_on(std::io::stdout().is_terminal()))
    }

    /// The colours for what goes to stderr (messages, summaries).
    pub fn stderr_palette(&self) -> render::Palette {
        render::Palette::new(self.settings.color_on(std::io::stderr().is_terminal()))
    }

    /// Warnings always, notes with `-v`: what a plan wants said.
    pub fn announce(&self, warnings: &[String], notes: &[String]) {
        let palette = self.stderr_palette();
        for warning in warnings {
            eprintln!("{} {warning}", palette.warning("berth: warning:"));
        }
        for note in notes {
            self.verbose(note);
        }
    }

    pub fn verbose(&self, message: &str) {
        if self.settings.verbose > 0 {
            eprintln!("berth: {message}");
        }
    }

    /// Times `work` as a named phase of `--stats`, with a spinner on
    /// stderr (a terminal only) once it has taken longer than a moment.
    pub async fn phase<T>(&self, name: &str, work: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let mut work = std::pin::pin!(work);
        let out = if self.settings.progress {
            tokio::select! {
                out = &mut work => out,
                () = tokio::time::sleep(SPINNER_AFTER) => {
                    let spinner = ProgressBar::new_spinner().with_message(format!("{name}…"));
                    spinner.enable_steady_tick(Duration::from_millis(120));
                    let out = work.await;
                    spinner.finish_and_clear();
                    out
                }
            }
        } else {
            work.await
        };
        self.log.phase(name, started.elapsed());
        out
    }
}

impl From<&FilterArgs> for HostFilter {
    fn from(f: &FilterArgs) -> Self {
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
    filters: &FilterArgs,
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
    let rows: Vec<HostRow<'_>> = hosts
        .iter()
        .map(|h| HostRow::new(h, None, config_user(ctx, h).as_deref()))
        .collect();
    let (header, lines) = render::host_choices(&rows);
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
/// Esc or Ctrl-C in the finder is [`Error::Cancelled`] (exit 130), a
/// chooser that picks none of the rows a miss of `what`.
pub fn choose(
    ctx: &Context,
    prompt: &str,
    header: Option<&str>,
    rows: &[String],
    what: &str,
) -> Result<Option<usize>, Error> {
    let chooser = picker::Chooser::from_setting(ctx.settings.picker.as_deref());
    let offer = picker::Offer {
        prompt,
        header,
        rows,
        color: ctx.settings.color_on(std::io::stderr().is_terminal()),
    };
    match picker::choose(&chooser, &offer)? {
        picker::Choice::Picked(i) => Ok(Some(i)),
        picker::Choice::Cancelled => Err(Error::cancelled()),
        picker::Choice::NothingChosen => Err(Error::no_match(
            what.to_owned(),
            "nothing was picked".to_owned(),
        )),
        picker::Choice::NoTerminal => Ok(None),
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
pub async fn resolve_one(ctx: &Context, connect: &ConnectArgs) -> Result<Host, Error> {
    Ok(resolve_host(ctx, connect).await?.0)
}

/// [`resolve_one`], keeping the AWS clients (of the target's region) for
/// further calls.
pub async fn resolve_host(ctx: &Context, connect: &ConnectArgs) -> Result<(Host, Aws), Error> {
    resolve_host_preferring(ctx, connect, |_| true).await
}

/// Every host `connect` matches (a fleet command's targets), and the AWS
/// clients they were found with.
pub async fn resolve_all(ctx: &Context, connect: &ConnectArgs) -> Result<(Vec<Host>, Aws), Error> {
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
    connect: &ConnectArgs,
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
pub async fn operator_address(ctx: &Context, source: &SourceArgs) -> Result<Option<IpNet>, Error> {
    if let Some(from) = source.from {
        return Ok(Some(from));
    }
    if source.detect_ip {
        let addr = ctx
            .phase("detect-ip", echo::public_address(&ctx.settings.echo_url))
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
    connect: &ConnectArgs,
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
pub fn find_key(ctx: &Context, connect: &ConnectArgs, host: &Host) -> Result<KeyLookup, Error> {
    Ok(keys::find_key(
        connect.identity.as_deref(),
        host.ec2.key_name.as_deref(),
        &ctx.settings.config.key_dirs,
        ctx.settings.home.as_deref(),
    )?)
}

/// The route to use: `--via`, else `BERTH_VIA`, else the config's for the
/// cluster, else auto.
pub fn effective_via(ctx: &Context, args: &ConnectArgs, host: &Host) -> Via {
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
