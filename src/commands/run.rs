//! `berth run TARGET -- COMMAND`: the command on every host the target
//! matches, planned as for `berth ssh`, at most `-j` at once, then what
//! happened on each host.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{ConnectArgs, OutputFormat, RunArgs};
use crate::error::Error;
use futures::StreamExt;

use crate::aws::Aws;
use crate::fleet::{Finished, HostReport, Tally};
use crate::inventory::model::Host;
use crate::plan::Plan;
use crate::render;
use crate::target;
use crate::transport::fleet::{self, Job, Live};

use super::Context;
use super::find_hosts;
use super::ssh::{SshExtras, plan_with_route, push_keys};

/// How long ssh may take to connect when no `--timeout` says otherwise.
const CONNECT_TIMEOUT_SECS: u64 = 15;

/// What a fleet command runs on each host, and how.
#[derive(Debug, Clone)]
pub struct FleetRun {
    /// At most this many hosts at once.
    pub jobs: u16,
    pub timeout: Option<Duration>,
    pub port: Option<u16>,
    /// `-o` options for ssh.
    pub options: Vec<String>,
    pub command: Vec<String>,
}

impl From<&RunArgs> for FleetRun {
    fn from(args: &RunArgs) -> Self {
        Self {
            jobs: args.jobs,
            timeout: args.timeout,
            port: args.port,
            options: args.options.clone(),
            command: args.command.clone(),
        }
    }
}

pub async fn run(ctx: &Context, args: &RunArgs, out: &mut dyn Write) -> Result<u8, Error> {
    let query = target::parse(&args.connect.target)?;
    let inventory = ctx.inventory(query.region.as_deref()).await?;
    let hosts = find_hosts(ctx, &inventory, &query, &args.connect.filters).await?;
    inventory.save();
    let aws = inventory.aws().clone();
    let live = match (ctx.settings.output, args.group) {
        (OutputFormat::Table, false) => Live::Prefixed,
        _ => Live::Quiet,
    };
    let reports = run_on(
        ctx,
        &aws,
        &args.connect,
        &hosts,
        &FleetRun::from(args),
        live,
    )
    .await?;
    let tally = Tally::of(&reports);
    match ctx.settings.output {
        OutputFormat::Json => render::json(
            out,
            &serde_json::json!({ "hosts": reports, "tally": tally }),
        )?,
        OutputFormat::Table => {
            if args.group {
                render::fleet_grouped(out, &reports)?;
            }
            render::fleet_summary(&mut std::io::stderr().lock(), &reports, tally)?;
        }
    }
    Ok(tally.exit_code())
}

/// Runs `spec` on `hosts`, each planned as `berth ssh` would (a host that
/// cannot be planned is reported, not fatal), at most `spec.jobs` at once;
/// the reports are in the hosts' order, unplanned hosts last.
pub async fn run_on(
    ctx: &Context,
    aws: &Aws,
    connect: &ConnectArgs,
    hosts: &[Host],
    spec: &FleetRun,
    live: Live,
) -> Result<Vec<HostReport>, Error> {
    let passthrough = ssh_options(ctx, spec);
    let mut jobs = Vec::new();
    let mut unplanned = Vec::new();
    let width = hosts.iter().map(|h| label(h).len()).max().unwrap_or(0);
    for host in hosts {
        let extras = SshExtras {
            port: spec.port,
            passthrough: passthrough.clone(),
            command: spec.command.clone(),
            ..SshExtras::default()
        };
        match plan_with_route(ctx, aws, connect, host, extras).await {
            Ok((plan, _)) => jobs.push((host, plan)),
            // Nothing about one host stops the others; AWS and usage
            // errors are not about one host.
            Err(e @ (Error::Plan(_) | Error::Route(_) | Error::Key(_))) => {
                let reason = match e.hint() {
                    Some(hint) => format!("{e} ({hint})"),
                    None => e.to_string(),
                };
                unplanned.push(HostReport::unplanned(
                    host.instance_id(),
                    &label(host),
                    reason,
                ));
            }
            Err(e) => return Err(e),
        }
    }
    let progress = progress_bar(jobs.len());
    ctx.verbose(&format!(
        "running on {} host(s), {} at a time",
        jobs.len(),
        spec.jobs
    ));
    let runs = jobs.into_iter().map(|(host, plan)| {
        let progress = &progress;
        async move {
            let name = label(host);
            let job = Job {
                prefix: format!("{name:<width$} | "),
                argv: plan.argv.clone(),
            };
            let finished = run_host(ctx, aws, &plan, job, spec.timeout, live, progress).await;
            progress.inc(1);
            HostReport::new(host.instance_id(), &name, &finished, spec.timeout)
        }
    });
    let mut reports: Vec<HostReport> = futures::stream::iter(runs)
        .buffered(usize::from(spec.jobs))
        .collect()
        .await;
    progress.finish_and_clear();
    reports.extend(unplanned);
    Ok(reports)
}

/// One host: its one-time keys pushed (if it needs any) right before its
/// ssh runs, and removed when it ends.
async fn run_host(
    ctx: &Context,
    aws: &Aws,
    plan: &Plan,
    mut job: Job,
    timeout: Option<Duration>,
    live: Live,
    progress: &ProgressBar,
) -> Finished {
    let started = std::time::Instant::now();
    let (command_line, keys) = match push_keys(ctx, aws, plan).await {
        Ok(pushed) => pushed,
        Err(e) => {
            return Finished {
                spawn_error: Some(e.to_string()),
                duration: started.elapsed(),
                ..Finished::default()
            };
        }
    };
    job.argv = command_line;
    let finished = fleet::run_one(&job, timeout, live, progress).await;
    drop(keys);
    finished
}

/// The host as the output names it: its Name tag, else its id.
fn label(host: &Host) -> String {
    host.name()
        .map_or_else(|| host.instance_id().to_owned(), str::to_owned)
}

/// ssh options for a run: the operator's first (ssh keeps the first value
/// of an option), then no prompts, no terminal, a connect timeout, and a
/// shared connection per host when berth has a private socket directory.
fn ssh_options(ctx: &Context, spec: &FleetRun) -> Vec<String> {
    let mut words = Vec::new();
    for option in &spec.options {
        words.push("-o".to_owned());
        words.push(option.clone());
    }
    let connect_timeout = spec.timeout.map_or(CONNECT_TIMEOUT_SECS, |t| {
        t.as_secs().clamp(1, CONNECT_TIMEOUT_SECS)
    });
    words.push("-T".to_owned());
    for option in [
        "BatchMode=yes".to_owned(),
        format!("ConnectTimeout={connect_timeout}"),
    ] {
        words.push("-o".to_owned());
        words.push(option);
    }
    if let Some(dir) = control_dir(ctx) {
        for option in [
            "ControlMaster=auto".to_owned(),
            format!("ControlPath={}/%C", dir.display()),
            "ControlPersist=60".to_owned(),
        ] {
            words.push("-o".to_owned());
            words.push(option);
        }
    }
    words
}

/// A private (0700) directory for ssh's connection sockets: under
/// `$XDG_RUNTIME_DIR`, else berth's state directory. `None` (no sharing)
/// when neither can be made private.
fn control_dir(ctx: &Context) -> Option<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .map(|p| p.join("berth"))
        .or_else(|| ctx.settings.state_dir.clone())?;
    let dir = base.join("ssh");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .ok()?;
    let mode = std::fs::metadata(&dir).ok()?.permissions().mode() & 0o777;
    (mode == 0o700).then_some(dir)
}

/// A bar on stderr, only on a terminal.
fn progress_bar(hosts: usize) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(hosts as u64),
        if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} hosts done {elapsed}") {
        bar.set_style(style);
    }
    bar
}
