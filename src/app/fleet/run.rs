//! `berth run TARGET -- COMMAND`: the command on every host the target
//! matches, planned as for `berth ssh`, at most `-j` at once, then what
//! happened on each host.

use std::path::PathBuf;

use std::collections::BTreeMap;

use futures::{StreamExt, TryStreamExt};

use crate::app::Context;
use crate::app::context::Progress;
use crate::app::pipeline::{Connection, Ready, SshExtras, plan_with_route, ready};
use crate::app::request::Connect;
use crate::aws::Aws;
use crate::aws::stats::branch;
use crate::error::{Cause, Error};
use crate::fleet::{Finished, HostReport, ssm};
use crate::model::host::Host;
use crate::model::os::OsFamily;
use crate::plan::Plan;
use crate::transport::fleet::{self, Job, Live};

use super::{Engine, FleetRun, label};

/// How long ssh may take to connect when no `--timeout` says otherwise.
const CONNECT_TIMEOUT_SECS: u64 = 15;

/// `berth run`: what to run where, and how.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub connect: Connect,
    pub engine: Engine,
    pub spec: FleetRun,
    /// Each host's output as it arrives, prefixed with the host.
    pub echo: bool,
}

/// Runs the request on every host its target matches; the reports are in
/// the hosts' order, unplanned hosts last (ssh).
pub async fn run(ctx: &Context, request: &RunRequest) -> Result<Vec<HostReport>, Error> {
    let (hosts, aws) = crate::app::resolve_all(ctx, &request.connect).await?;
    let live = if request.echo {
        Live::Prefixed
    } else {
        Live::Quiet
    };
    match request.engine {
        Engine::Ssh => run_on(ctx, &aws, &request.connect, &hosts, &request.spec, live).await,
        Engine::Ssm => run_ssm(ctx, &aws, &hosts, &request.spec, live).await,
    }
}

/// Runs `spec` on `hosts`, each planned as `berth ssh` would (a host that
/// cannot be planned is reported, not fatal), at most `spec.jobs` at once;
/// the reports are in the hosts' order, unplanned hosts last.
pub async fn run_on(
    ctx: &Context,
    aws: &Aws,
    connect: &Connect,
    hosts: &[Host],
    spec: &FleetRun,
    live: Live,
) -> Result<Vec<HostReport>, Error> {
    Ok(run_collecting(ctx, aws, connect, hosts, spec, live)
        .await?
        .into_iter()
        .map(|(host, done)| match done {
            Ok(finished) => {
                HostReport::new(host.instance_id(), &label(host), &finished, spec.timeout)
            }
            Err(reason) => HostReport::unplanned(host.instance_id(), &label(host), reason),
        })
        .collect())
}

/// [`run_on`], keeping what each ssh wrote as bytes (`berth logs` takes a
/// tar archive from it); a host that cannot be planned has the reason.
pub async fn run_collecting<'h>(
    ctx: &Context,
    aws: &Aws,
    connect: &Connect,
    hosts: &'h [Host],
    spec: &FleetRun,
    live: Live,
) -> Result<Vec<(&'h Host, Result<Finished, String>)>, Error> {
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
            Err(e) if matches!(e.cause(), Cause::Plan(_) | Cause::Route(_) | Cause::Key(_)) => {
                let reason = match e.hints() {
                    [] => e.to_string(),
                    hints => format!("{e} ({})", hints.join("; ")),
                };
                unplanned.push((host, Err(reason)));
            }
            Err(e) => return Err(e),
        }
    }
    let progress = ctx.reporter.progress(Some(jobs.len() as u64));
    ctx.verbose(&format!(
        "running on {} host(s), {} at a time",
        jobs.len(),
        spec.jobs
    ));
    let runs = jobs.into_iter().map(|(host, plan)| {
        let progress = progress.as_ref();
        async move {
            let job = Job {
                prefix: format!("{:<width$} | ", label(host)),
                argv: plan.argv.clone(),
            };
            let finished = run_host(ctx, aws, (host, &plan), job, spec, live, progress).await;
            progress.inc();
            (host, Ok(finished))
        }
    });
    let mut done: Vec<(&Host, Result<Finished, String>)> = futures::stream::iter(runs)
        .buffered(usize::from(spec.jobs))
        .collect()
        .await;
    progress.finish();
    done.extend(unplanned);
    Ok(done)
}

/// Requests `run --engine ssm` has in flight at most.
const SSM_IN_FLIGHT: usize = 16;

/// Runs `spec` through SSM Run Command: hosts whose agent is not Online
/// are reported unreachable; the rest get SendCommand with their instance
/// ids (never tag targets, which could reach hosts outside the resolved
/// set), 50 a call (one document per platform), the calls side by side.
/// Then berth polls, 1 s after sending and backing off to 5 s, with one
/// ListCommandInvocations page (with details) per command that still has
/// hosts running, and reports each host as its invocation ends; only a
/// host whose listed output cannot be its whole result (a failure, output
/// cut at 2,500 characters, or standard error, which the agent appends to
/// the listed output) is asked for with GetCommandInvocation.
async fn run_ssm(
    ctx: &Context,
    aws: &Aws,
    hosts: &[Host],
    spec: &FleetRun,
    live: Live,
) -> Result<Vec<HostReport>, Error> {
    let ids: Vec<String> = hosts.iter().map(|h| h.instance_id().to_owned()).collect();
    let pings = ctx.phase("ssm", aws.ssm_ping_statuses(&ids)).await?;
    let mut reports = Vec::new();
    let mut reachable = Vec::new();
    for host in hosts {
        match ssm::not_reachable(pings.get(host.instance_id()).map(String::as_str)) {
            Some(reason) => reports.push(HostReport::unplanned(
                host.instance_id(),
                &label(host),
                reason,
            )),
            None => reachable.push(host),
        }
    }
    // As ssh would hand it to the remote shell: the words joined.
    let script = vec![spec.command.join(" ")];
    let timeout = spec.timeout.map(|t| t.as_secs().max(1));
    let started = std::time::Instant::now();
    let mut commands = ctx
        .phase(
            "send",
            send_commands(ctx, aws, &reachable, &script, timeout),
        )
        .await?;
    let total: usize = commands.iter().map(|(_, running)| running.len()).sum();
    let progress = ctx.reporter.progress(Some(total as u64));
    let width = hosts.iter().map(|h| label(h).len()).max().unwrap_or(0);
    let mut poll = 0;
    while commands.iter().any(|(_, running)| !running.is_empty()) {
        tokio::time::sleep(ssm::poll_delay(poll)).await;
        poll += 1;
        for (host, ended) in poll_round(aws, &mut commands).await? {
            let name = label(host);
            if live == Live::Prefixed {
                let prefix = format!("{name:<width$} | ");
                let out = crate::fleet::prefixed(&prefix, ended.stdout.as_bytes());
                progress.echo(&out, false);
                let err = crate::fleet::prefixed(&prefix, ended.stderr.as_bytes());
                progress.echo(&err, true);
            }
            progress.inc();
            let status = ssm::judge(
                &ended.status,
                &ended.details,
                ended.response_code,
                spec.timeout,
            );
            reports.push(HostReport::reported(
                host.instance_id(),
                &name,
                status,
                ended.stdout,
                ended.stderr,
                started.elapsed(),
            ));
        }
    }
    progress.finish();
    // In the hosts' order, as with ssh.
    let order: std::collections::HashMap<&str, usize> = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| (h.instance_id(), i))
        .collect();
    reports.sort_by_key(|r| order.get(r.instance_id.as_str()).copied());
    Ok(reports)
}

/// The commands sent, each with its hosts still running, by instance id.
type Sent<'h> = Vec<(String, BTreeMap<String, &'h Host>)>;

/// How a host's invocation ended.
struct Ended {
    status: String,
    details: String,
    response_code: i32,
    stdout: String,
    stderr: String,
}

/// SendCommand to `hosts` by instance id, 50 a call (one document per
/// platform), the calls side by side.
async fn send_commands<'h>(
    ctx: &Context,
    aws: &Aws,
    hosts: &[&'h Host],
    script: &[String],
    timeout: Option<u64>,
) -> Result<Sent<'h>, Error> {
    let sends = ssm::batches(hosts, |h| h.os == OsFamily::Windows)
        .into_iter()
        .map(|(document, batch)| {
            branch(async move {
                let ids: Vec<String> = batch.iter().map(|h| h.instance_id().to_owned()).collect();
                let command_id = aws.send_command(document, &ids, script, timeout).await?;
                ctx.verbose(&format!(
                    "SendCommand {command_id}: {} host(s), {document}",
                    batch.len()
                ));
                let running: BTreeMap<String, &Host> = batch
                    .into_iter()
                    .map(|h| (h.instance_id().to_owned(), *h))
                    .collect();
                Ok::<_, Error>((command_id, running))
            })
        });
    futures::stream::iter(sends)
        .buffered(SSM_IN_FLIGHT)
        .try_collect()
        .await
}

/// One poll: a ListCommandInvocations page (with details) per command
/// that still has hosts running, side by side; the hosts whose
/// invocations ended, taken out of `commands`. A host whose listed output
/// cannot be its whole result is asked for with GetCommandInvocation.
async fn poll_round<'h>(
    aws: &Aws,
    commands: &mut Sent<'h>,
) -> Result<Vec<(&'h Host, Ended)>, Error> {
    let polls = commands
        .iter()
        .filter(|(_, running)| !running.is_empty())
        .map(|(command_id, _)| {
            branch(async move {
                let listed = aws.command_invocations(command_id).await?;
                Ok::<_, Error>((command_id.clone(), listed))
            })
        });
    let answers: Vec<_> = futures::stream::iter(polls)
        .buffer_unordered(SSM_IN_FLIGHT)
        .try_collect()
        .await?;
    let mut ended = Vec::new();
    let mut ask = Vec::new();
    for (command_id, listed) in answers {
        let Some((_, running)) = commands.iter_mut().find(|(c, _)| *c == command_id) else {
            continue;
        };
        for invocation in listed {
            if !ssm::is_final(&invocation.status) {
                continue;
            }
            let Some(host) = running.remove(&invocation.instance_id) else {
                continue;
            };
            if ssm::listed_is_whole(&invocation.status, &invocation.output) {
                ended.push((
                    host,
                    Ended {
                        status: invocation.status,
                        details: invocation.details,
                        response_code: invocation.response_code,
                        stdout: invocation.output,
                        stderr: String::new(),
                    },
                ));
            } else {
                ask.push((command_id.clone(), host));
            }
        }
    }
    let asks = ask.into_iter().map(|(command_id, host)| {
        branch(async move {
            let i = aws
                .command_invocation(&command_id, host.instance_id())
                .await?;
            let ended = Ended {
                status: i.status,
                details: i.details,
                response_code: i.response_code,
                stdout: i.stdout,
                stderr: i.stderr,
            };
            Ok::<_, Error>((host, ended))
        })
    });
    let whole: Vec<_> = futures::stream::iter(asks)
        .buffer_unordered(SSM_IN_FLIGHT)
        .try_collect()
        .await?;
    ended.extend(whole);
    Ok(ended)
}

/// One host: its host keys pinned on first contact, and its one-time keys
/// pushed (if it needs any) right before its ssh runs and removed when it
/// ends.
async fn run_host(
    ctx: &Context,
    aws: &Aws,
    (host, plan): (&Host, &Plan),
    mut job: Job,
    spec: &FleetRun,
    live: Live,
    progress: &dyn Progress,
) -> Finished {
    let started = std::time::Instant::now();
    let operators: Vec<String> = spec
        .options
        .iter()
        .flat_map(|option| ["-o".to_owned(), option.clone()])
        .collect();
    let connection = Connection {
        remote_len: spec.command.len(),
        passthrough: &operators,
        early: None,
        open: None,
    };
    let (command_line, keys) = match ready(ctx, aws, host, plan, connection).await {
        Ok(Ready {
            argv,
            one_time_keys,
            ..
        }) => (argv, one_time_keys),
        Err(e) => {
            return Finished {
                spawn_error: Some(e.to_string()),
                duration: started.elapsed(),
                ..Finished::default()
            };
        }
    };
    job.argv = command_line;
    let echo = |text: &[u8], to_stderr: bool| progress.echo(text, to_stderr);
    let finished = fleet::run_one(&job, spec.timeout, live, &echo).await;
    drop(keys);
    finished
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
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .map(|p| p.join("berth"))
        .or_else(|| ctx.settings.state_dir.clone())?;
    let dir = base.join("ssh");
    crate::platform::files::private_dir(&dir).ok()?;
    Some(dir)
}
