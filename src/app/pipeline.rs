//! The one pipeline of every connection berth makes (ssh, exec, cp,
//! tunnel, proxy, rdp, and each host of a fleet run): [`reach_target`]
//! resolves the target and reaches it (route, bastion, endpoint); the
//! purpose plans (pure; `--dry-run` stops there); [`run_transport`] runs
//! the pre-flight (host keys, the `--open` rule, one-time keys), the
//! transport step (a client as a child, berth's own relay or forwarder, or
//! ssh in berth's place), the doctor's diagnosis when the connection
//! failed, and the clean-up. [`connect`] and [`Session::run`] are that
//! pipeline for the ssh-based purposes.

use std::ffi::OsString;
use std::time::{Duration, Instant};

use ipnet::IpNet;

use super::diagnose::Probe;
use super::request::Connect;
use crate::aws::Aws;
use crate::aws::stats::branch;
use crate::doctor::Protocol;
use crate::error::Error;
use crate::model::host::Host;
use crate::model::route::Route;
use crate::plan::route::BastionSearch;
use crate::plan::route::RouteChoice;
use crate::plan::{self, InstanceConnectPush, OneTimeKey, Plan, SshRequest, Via};
use crate::secrets::ephemeral::{EphemeralKey, KeyType};
use crate::secrets::keys::{self, KeyError};
use crate::transport;
use crate::transport::session::Interrupts;

use super::host_keys::{self, HostKeyCheck};
use super::instance_connect::push_planned;
use super::reach::{self, Reach};
use super::session::{self, OpenedRule};
use super::{Context, connect_request, eice, resolve_host, resolve_host_preferring};

/// ssh's own status when it could not connect (or authenticate).
const SSH_FAILED: i32 = crate::error::CONNECTION_FAILED as i32;

/// What `ssh` adds to a plan beyond the target: `-p`, the pass-through
/// options, the remote command and the one-time key asked for.
#[derive(Debug, Default)]
pub struct SshExtras {
    pub port: Option<u16>,
    pub passthrough: Vec<String>,
    pub command: Vec<String>,
    /// `--ephemeral-key`.
    pub ephemeral_key: bool,
    pub ephemeral_key_type: KeyType,
    /// Planned only (`--dry-run`, `show`): nothing is read to pin a
    /// bastion's host key.
    pub dry_run: bool,
}

/// A connection planned end to end: the host (with the AWS clients of its
/// region), what was asked, the plan and the route it takes.
pub struct Session {
    pub host: Host,
    pub aws: Aws,
    pub connect: Connect,
    pub plan: Plan,
    pub choice: RouteChoice,
}

/// A target resolved and reached: its host (with the AWS clients of its
/// region) and the way to it.
pub struct Reached {
    pub host: Host,
    pub aws: Aws,
    pub reach: Reach,
}

/// The pipeline's first steps: resolve `connect`'s target to one host
/// (among several matches, one that `prefer` likes), then reach it (the
/// route, and the bastion or endpoint it goes through).
pub async fn reach_target(
    ctx: &Context,
    connect: &Connect,
    prefer: impl Fn(&Host) -> bool,
) -> Result<Reached, Error> {
    let (host, aws) = resolve_host_preferring(ctx, connect, prefer).await?;
    let reach = reach::reach(ctx, &aws, connect, &host).await?;
    Ok(Reached { host, aws, reach })
}

/// `-i FILE` and `--via instance-connect` both choose the key: refused.
pub fn check_key_choice(connect: &Connect) -> Result<(), Error> {
    if let (Some(file), Some(Via::InstanceConnect)) = (&connect.identity, connect.via) {
        return Err(Error::usage(
            format!(
                "-i {} and --via instance-connect both choose the key",
                file.display()
            ),
            "drop -i to log in with a one-time key, or drop --via instance-connect to log in \
             with the file",
        ));
    }
    Ok(())
}

/// The pipeline up to the plan: resolve `connect`'s target to one host,
/// reach and plan it with `extras`, and say the plan's warnings (and its
/// notes with `-v`).
pub async fn connect(
    ctx: &Context,
    connect: &Connect,
    extras: SshExtras,
) -> Result<Session, Error> {
    check_key_choice(connect)?;
    let (host, aws) = resolve_host(ctx, connect).await?;
    plan_session(ctx, connect, host, aws, extras, Vec::new()).await
}

/// [`connect`] for a host already resolved; `notes` are said with the
/// plan's (what the caller found on the way, e.g. the container).
pub async fn plan_session(
    ctx: &Context,
    connect: &Connect,
    host: Host,
    aws: Aws,
    extras: SshExtras,
    notes: Vec<String>,
) -> Result<Session, Error> {
    let reach = reach::reach(ctx, &aws, connect, &host).await?;
    plan_reached(ctx, connect, Reached { host, aws, reach }, extras, notes).await
}

/// The ssh plan for a target already reached, its warnings said (and its
/// notes with `-v`, after `notes`).
pub async fn plan_reached(
    ctx: &Context,
    connect: &Connect,
    reached: Reached,
    extras: SshExtras,
    notes: Vec<String>,
) -> Result<Session, Error> {
    let Reached { host, aws, reach } = reached;
    let (plan, choice) = plan_for_reach(ctx, &aws, connect, &host, reach, extras).await?;
    ctx.announce(
        &plan.warnings,
        &[choice.notes(), notes, plan.notes.clone()].concat(),
    );
    Ok(Session {
        host,
        aws,
        connect: connect.clone(),
        plan,
        choice,
    })
}

impl Session {
    pub fn planned(&self) -> Planned<'_> {
        Planned::new(
            &self.host,
            &self.aws,
            &self.connect,
            &self.plan,
            &self.choice,
        )
    }

    /// The rest of the pipeline: from here a Ctrl-C, SIGTERM or SIGHUP goes
    /// to the client, and berth still cleans up after it (see
    /// [`run_planned`]).
    pub async fn run(
        &self,
        ctx: &Context,
        launch: Launch<'_>,
        command_line: impl FnOnce(Vec<String>) -> Vec<OsString>,
    ) -> Result<transport::session::Outcome, Error> {
        if let Some(file) = &self.plan.key {
            check_key_file(ctx, &file.path)?;
        }
        let mut interrupts = Interrupts::install()?;
        run_planned(ctx, &self.planned(), launch, command_line, &mut interrupts).await
    }
}

/// The ssh plan for `host` by the route [`reach::reach`] decides; through a
/// bastion, ssh's ProxyCommand is the bastion's own ssh with `-W`.
pub async fn plan_with_route(
    ctx: &Context,
    aws: &Aws,
    connect: &Connect,
    host: &Host,
    extras: SshExtras,
) -> Result<(Plan, RouteChoice), Error> {
    let reach = reach::reach(ctx, aws, connect, host).await?;
    plan_for_reach(ctx, aws, connect, host, reach, extras).await
}

/// The ssh plan for `host` by the route decided in `reach`.
async fn plan_for_reach(
    ctx: &Context,
    aws: &Aws,
    connect: &Connect,
    host: &Host,
    reach: Reach,
    extras: SshExtras,
) -> Result<(Plan, RouteChoice), Error> {
    let Reach {
        choice, bastion, ..
    } = reach;
    let started = Instant::now();
    let (request, key) = connect_request(ctx, connect, host)?;
    let mut passthrough = extras.passthrough;
    let mut bastion_push = None;
    let mut jump = None;
    if let Some(bastion) = &bastion {
        let hop = crate::app::reach::Hop {
            forward: vec!["-W".to_owned(), plan::JUMP_FORWARD.to_owned()],
            connecting: !extras.dry_run,
        };
        let mut hop = reach::bastion_plan(ctx, aws, &connect.options, bastion, hop).await?;
        passthrough.extend([
            "-o".to_owned(),
            format!("ProxyCommand={}", plan::proxy_command(&hop.argv)),
        ]);
        // The plan shows the bastion's push as its own field.
        bastion_push = hop.push.take();
        jump = Some(hop);
    } else if choice.route == Route::Eice {
        // The tunnel is berth's own: `berth proxy` as ssh's ProxyCommand.
        let proxy = eice::ssh_proxy_command(
            ctx,
            &aws.region,
            host.instance_id(),
            connect.max_tunnel_duration,
        );
        passthrough.extend(["-o".to_owned(), format!("ProxyCommand={proxy}")]);
    } else if choice.route == Route::Ssm {
        // Session Manager's AWS-StartSSHSession: `berth proxy --via ssm`.
        let proxy = eice::berth_proxy_command(
            ctx,
            &aws.region,
            Via::Ssm,
            &ssm_proxy_options(connect.resume_for),
            host.instance_id(),
        );
        passthrough.extend(["-o".to_owned(), format!("ProxyCommand={proxy}")]);
    }
    let request = SshRequest {
        port: extras.port,
        passthrough,
        remote_command: extras.command,
        // `--via instance-connect` asks for the key; the route is decided.
        one_time_key: if extras.ephemeral_key || choice.requested == Via::InstanceConnect {
            OneTimeKey::Always
        } else {
            request.one_time_key
        },
        one_time_key_type: extras.ephemeral_key_type,
        via: choice.via(),
        ..request
    };
    let mut plan = plan::plan_ssh(host, &request, &key)?;
    plan.bastion_instance_connect = bastion_push;
    plan.jump = jump;
    ctx.log.phase("plan", started.elapsed());
    Ok((plan, choice))
}

/// A connection planned for a host: what [`run_planned`] runs.
pub struct Planned<'a> {
    pub host: &'a Host,
    pub aws: &'a Aws,
    pub connect: &'a Connect,
    pub plan: &'a Plan,
    pub choice: &'a RouteChoice,
}

impl<'a> Planned<'a> {
    pub fn new(
        host: &'a Host,
        aws: &'a Aws,
        connect: &'a Connect,
        plan: &'a Plan,
        choice: &'a RouteChoice,
    ) -> Self {
        Self {
            host,
            aws,
            connect,
            plan,
            choice,
        }
    }
}

/// How a planned session is launched: what gets it ready, and what the
/// diagnosis of a failed connection checks.
pub struct Launch<'a> {
    pub connection: Connection<'a>,
    /// The port the client connects to.
    pub port: u16,
    /// The operator's address, as `--source`/`--detect-ip` gave it.
    pub from: Option<IpNet>,
    /// ssh may take berth's place when nothing is left to do after it
    /// (see [`may_replace`]): `berth ssh`, whose client's status is the
    /// answer as it is.
    pub replace: bool,
}

/// The tail every ssh-based session shares (ssh, exec, cp, tunnel): the
/// pre-flight (host keys, the `--open` rule, one-time keys), the client
/// that `command_line` makes of the ready ssh argv (in berth's place when
/// [`may_replace`] allows, else as a child), and when it could not connect
/// the reason (a host key refused on either hop, else doctor's checks for
/// the route taken), then clean-up; all through [`run_transport`]. The
/// client's outcome is the caller's to turn into a status.
pub async fn run_planned(
    ctx: &Context,
    planned: &Planned<'_>,
    launch: Launch<'_>,
    command_line: impl FnOnce(Vec<String>) -> Vec<OsString>,
    interrupts: &mut Interrupts,
) -> Result<transport::session::Outcome, Error> {
    let Planned {
        host,
        aws,
        connect,
        plan,
        choice,
    } = *planned;
    let Launch {
        connection,
        port,
        from,
        replace,
    } = launch;
    let remote_len = connection.remote_len;
    let target = Target {
        host,
        aws,
        connect,
        via: choice.via(),
    };
    let diagnosis = Diagnosis {
        protocol: Protocol::Ssh,
        port,
        from,
    };
    let step = async |prepared: &Prepared, interrupts: &mut Interrupts| {
        let argv = ssh_argv(plan, prepared, remote_len);
        let command_line = command_line(argv.clone());
        ctx.verbose(&format!(
            "running {}",
            crate::plan::shell_words(
                &command_line
                    .iter()
                    .map(|w| w.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
            )
        ));
        if replace && may_replace(ctx, choice, prepared) {
            // Returns only when ssh could not be started.
            let failed = transport::session::replace(&command_line);
            return Transported {
                result: Err(failed.into()),
                failed: false,
            };
        }
        let outcome = transport::session::run(&command_line, interrupts).await;
        let failed = outcome
            .as_ref()
            .is_ok_and(|o| o.code == SSH_FAILED && o.interrupted_by.is_none())
            && !host_keys::explain_refusal(
                ctx,
                prepared.host_key.as_ref(),
                plan,
                &argv,
                remote_len,
            )
            .await;
        Transported {
            result: outcome.map_err(Error::from),
            failed,
        }
    };
    let pre = PreFlight {
        host_keys: Some((connection.passthrough, connection.early)),
        open: connection.open,
        host_push: plan.instance_connect.as_ref(),
        bastion_push: plan.bastion_instance_connect.as_ref(),
    };
    run_transport(ctx, target, pre, diagnosis, interrupts, step).await
}

/// Whether ssh may replace berth's process (exec) instead of running as
/// its child: only when berth has nothing left to do once ssh ends.
/// Standard input is a terminal (a person's session; a script or a fleet
/// gets a child and berth's account of it), the pre-flight holds nothing
/// (no `--open` rule to close, no one-time key file to remove), `--stats`
/// is off, and no diagnosis is pending here: the route is one that `berth
/// proxy` carries (an EC2 Instance Connect Endpoint, Session Manager), and
/// that proxy diagnoses its own failed connection. On the public, private
/// and bastion routes ssh connects by itself, and only berth, as its
/// parent, can say why it could not: ssh stays a child there.
pub fn may_replace(ctx: &Context, choice: &RouteChoice, prepared: &Prepared) -> bool {
    use std::io::IsTerminal as _;
    matches!(choice.route, Route::Eice | Route::Ssm)
        && prepared.holds_nothing()
        && !ctx.settings.stats
        && std::io::stdin().is_terminal()
}

/// The plan's argv with the one-time key files and the host key options
/// in place.
fn ssh_argv(plan: &Plan, prepared: &Prepared, remote_len: usize) -> Vec<String> {
    let argv = plan.argv_with_keys(
        prepared.host_key_file.as_ref().map(EphemeralKey::path),
        prepared.bastion_key_file.as_ref().map(EphemeralKey::path),
    );
    match &prepared.host_key {
        Some(check) => host_keys::with_options(argv, remote_len, check.ssh_options()),
        None => argv,
    }
}

/// Who a transport step connects to, and by which route.
#[derive(Clone, Copy)]
pub struct Target<'a> {
    pub host: &'a Host,
    pub aws: &'a Aws,
    pub connect: &'a Connect,
    /// The route taken (what the diagnosis checks).
    pub via: Via,
}

/// What the pre-flight gets ready before the transport step.
#[derive(Default)]
pub struct PreFlight<'a> {
    /// An ssh client's host keys, pinned (from the console output on first
    /// contact) and checked: the operator's own ssh options (they may
    /// decide host keys), and the console output if it was read early.
    pub host_keys: Option<(&'a [String], Option<host_keys::EarlyConsole>)>,
    /// `--open`: the operator's address and the port to admit.
    pub open: Option<(Option<IpNet>, u16)>,
    /// The one-time key to push for the host's login.
    pub host_push: Option<&'a InstanceConnectPush>,
    /// The one-time key to push for the bastion hop.
    pub bastion_push: Option<&'a InstanceConnectPush>,
}

/// What the pre-flight got ready, held while the transport step runs.
pub struct Prepared {
    pub host_key: Option<HostKeyCheck>,
    /// The host's one-time key (its file removed when dropped).
    pub host_key_file: Option<EphemeralKey>,
    /// The bastion's one-time key (its file removed when dropped).
    pub bastion_key_file: Option<EphemeralKey>,
    /// The `--open` rule, closed after the step and its diagnosis.
    opened: Option<OpenedRule>,
}

impl Prepared {
    /// Nothing to clean up once the transport is done: no `--open` rule,
    /// no one-time key file.
    pub fn holds_nothing(&self) -> bool {
        self.opened.is_none() && self.host_key_file.is_none() && self.bastion_key_file.is_none()
    }

    /// Where the bastion's one-time key is, if one was pushed.
    pub fn bastion_key_path(&self) -> Option<&std::path::Path> {
        self.bastion_key_file.as_ref().map(EphemeralKey::path)
    }
}

/// What a transport step came to.
pub struct Transported<T> {
    pub result: Result<T, Error>,
    /// Its connection failed: the doctor's diagnosis of the route runs.
    pub failed: bool,
}

impl<T> Transported<T> {
    /// A step whose failure is an error: a failed connection when
    /// [`connection_failed`] says so.
    pub fn from_result(result: Result<T, Error>) -> Self {
        let failed = result.as_ref().is_err_and(connection_failed);
        Self { result, failed }
    }
}

/// What the doctor checks when the connection fails.
pub struct Diagnosis {
    pub protocol: Protocol,
    /// The port the transport connects to.
    pub port: u16,
    /// The operator's address, as `--source`/`--detect-ip` gave it.
    pub from: Option<IpNet>,
}

/// The pipeline after the plan, whatever the transport: the pre-flight
/// (host keys ∥ the `--open` rule, then the one-time keys), the transport
/// `step` (given what the pre-flight readied and the interrupts, it holds
/// its own tunnels and lets go of them before it returns), the one-time
/// keys removed, the doctor's diagnosis when the step's connection failed
/// (while the `--open` rule still stands, so that it is counted), and the
/// rule closed, whatever happened.
pub async fn run_transport<T>(
    ctx: &Context,
    target: Target<'_>,
    pre: PreFlight<'_>,
    diagnosis: Diagnosis,
    interrupts: &mut Interrupts,
    step: impl AsyncFnOnce(&Prepared, &mut Interrupts) -> Transported<T>,
) -> Result<T, Error> {
    let prepared = pre_flight(ctx, target.aws, target.host, pre).await?;
    let Transported { result, failed } = step(&prepared, interrupts).await;
    let Prepared {
        opened,
        host_key_file,
        bastion_key_file,
        ..
    } = prepared;
    // Removed as soon as the client is done with them, whatever happened.
    drop((host_key_file, bastion_key_file));
    if failed {
        diagnose(ctx, target, diagnosis).await;
    }
    session::close(target.aws, opened).await;
    result
}

/// The doctor's checks for the route a failed connection took, on stderr;
/// left to the caller when a berth that diagnoses it started this one (a
/// `berth proxy` inside berth's own ssh: see
/// `transport::process::CALLER_DIAGNOSES`).
pub async fn diagnose(ctx: &Context, target: Target<'_>, diagnosis: Diagnosis) {
    if transport::process::caller_diagnoses() {
        ctx.verbose("the connection failed; the berth that started this one checks why");
        return;
    }
    let probe = Probe {
        protocol: diagnosis.protocol,
        port: diagnosis.port,
        from: diagnosis.from,
        via: target.via,
        bastion: BastionSearch::NotNeeded,
    };
    session::explain_failure(ctx, target.aws, target.host, target.connect, probe).await;
}

/// Whether `e` says the connection itself failed (the doctor's checks for
/// the route may say why), rather than berth's input, AWS or berth's own
/// state.
pub fn connection_failed(e: &Error) -> bool {
    use crate::error::{Cause, Kind};
    use crate::transport::TransportError;
    use crate::transport::eice::EiceError;
    use crate::transport::ssm::SessionError;
    e.kind() == Kind::ConnectionFailed
        || matches!(
            e.cause(),
            Cause::Transport(
                TransportError::Connect { .. } | TransportError::TunnelNotReady { .. }
            ) | Cause::Eice(
                EiceError::Refused { .. }
                    | EiceError::Unreachable { .. }
                    | EiceError::Closed { .. }
            ) | Cause::Ssm(SessionError::NotConnected { .. })
        )
}

/// How a planned connection is made ready (see [`ready`]).
pub struct Connection<'a> {
    /// How many words at the end of the plan's argv are the remote command.
    pub remote_len: usize,
    /// The operator's own ssh options (they may decide host keys).
    pub passthrough: &'a [String],
    /// The console output, if it was read while the target resolved.
    pub early: Option<host_keys::EarlyConsole>,
    /// `--open`: the operator's address and the port to admit.
    pub open: Option<(Option<IpNet>, u16)>,
}

impl Connection<'static> {
    /// No remote command, no options of the operator's, no `--open`.
    pub fn plain() -> Self {
        Self {
            remote_len: 0,
            passthrough: &[],
            early: None,
            open: None,
        }
    }
}

/// A connection ready to run: the argv with the one-time key files and the
/// host key options in place, and what must outlive it.
pub struct Ready {
    pub argv: Vec<String>,
    /// Removed when dropped: drop them once the client is done.
    pub one_time_keys: Vec<EphemeralKey>,
    /// The `--open` rule, to close after the session.
    pub opened: Option<OpenedRule>,
    pub host_key: Option<HostKeyCheck>,
}

/// Gets a planned ssh connection ready (a fleet run's host: its own
/// transport runs many at once): the pre-flight, and the argv with what it
/// readied in place.
pub async fn ready(
    ctx: &Context,
    aws: &Aws,
    host: &Host,
    plan: &Plan,
    connection: Connection<'_>,
) -> Result<Ready, Error> {
    let Connection {
        remote_len,
        passthrough,
        early,
        open,
    } = connection;
    let pre = PreFlight {
        host_keys: Some((passthrough, early)),
        open,
        host_push: plan.instance_connect.as_ref(),
        bastion_push: plan.bastion_instance_connect.as_ref(),
    };
    let prepared = pre_flight(ctx, aws, host, pre).await?;
    let argv = ssh_argv(plan, &prepared, remote_len);
    let Prepared {
        host_key,
        host_key_file,
        bastion_key_file,
        opened,
    } = prepared;
    Ok(Ready {
        argv,
        one_time_keys: host_key_file.into_iter().chain(bastion_key_file).collect(),
        opened,
        host_key,
    })
}

/// The pre-flight, side by side: the host keys the client is checked
/// against (pinned from the console output on first contact), and the
/// `--open` rule followed by the one-time keys.
pub async fn pre_flight(
    ctx: &Context,
    aws: &Aws,
    host: &Host,
    pre: PreFlight<'_>,
) -> Result<Prepared, Error> {
    let PreFlight {
        host_keys: pins,
        open,
        host_push,
        bastion_push,
    } = pre;
    let pin = async {
        match pins {
            Some((passthrough, early)) => {
                host_keys::prepare(ctx, aws, host, passthrough, early).await
            }
            None => None,
        }
    };
    let (host_key, pushed) = tokio::join!(
        branch(pin),
        branch(open_and_push(
            ctx,
            aws,
            host,
            open,
            [host_push, bastion_push]
        )),
    );
    let (opened, host_key_file, bastion_key_file) = pushed?;
    Ok(Prepared {
        host_key,
        host_key_file,
        bastion_key_file,
        opened,
    })
}

/// With `open` (the operator's address and the port), the temporary rule;
/// then the one-time keys (the bastion's, then the host's), last, since
/// the instance keeps them for a minute only. A failed push removes the
/// rule again.
async fn open_and_push(
    ctx: &Context,
    aws: &Aws,
    host: &Host,
    open: Option<(Option<IpNet>, u16)>,
    [host_push, bastion_push]: [Option<&InstanceConnectPush>; 2],
) -> Result<
    (
        Option<OpenedRule>,
        Option<EphemeralKey>,
        Option<EphemeralKey>,
    ),
    Error,
> {
    let opened = match open {
        Some((from, port)) => session::open(ctx, aws, host, from, port).await?,
        None => None,
    };
    let pushed = async {
        let bastion_key = match bastion_push {
            Some(push) => Some(push_planned(ctx, aws, push).await?),
            None => None,
        };
        let key = match host_push {
            Some(push) => Some(push_planned(ctx, aws, push).await?),
            None => None,
        };
        Ok::<_, Error>((key, bastion_key))
    };
    match pushed.await {
        Ok((key, bastion_key)) => Ok((opened, key, bastion_key)),
        Err(e) => {
            session::close(aws, opened).await;
            Err(e)
        }
    }
}

/// A command line of plain words, as it runs.
pub fn plain_words(argv: Vec<String>) -> Vec<OsString> {
    argv.into_iter().map(OsString::from).collect()
}

/// The command line as it runs: the remote command's words as given, bytes
/// that are not UTF-8 included (the plan holds them lossily, for display).
pub fn with_raw_command(argv: &[String], remote: &[OsString]) -> Vec<OsString> {
    let keep = argv.len().saturating_sub(remote.len());
    argv[..keep]
        .iter()
        .map(OsString::from)
        .chain(remote.iter().cloned())
        .collect()
}

/// The key file ssh is given must be a private key it can load, and one
/// with a passphrase needs a terminal (or ssh-agent, or an askpass
/// program) for ssh to get it: caught here, with the fix, instead of ssh's
/// "error in libcrypto" or a prompt nobody can answer.
pub fn check_key_file(ctx: &Context, path: &std::path::Path) -> Result<(), Error> {
    let content = keys::inspect(path)?;
    // ssh asks on /dev/tty, whatever stdin is.
    let terminal = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .is_ok();
    if content.encrypted && !terminal && !ctx.settings.ssh_passphrase_helper {
        return Err(KeyError::NeedsPassphrase(path.to_owned()).into());
    }
    Ok(())
}

/// The options `berth proxy --via ssm` gets in ssh's ProxyCommand: what
/// the command was given that the session needs (`--resume-for`).
pub(super) fn ssm_proxy_options(resume_for: Option<Duration>) -> Vec<String> {
    resume_for
        .map(|d| {
            let value = if d.subsec_nanos() == 0 {
                format!("{}s", d.as_secs())
            } else {
                format!("{}ms", d.as_millis())
            };
            vec!["--resume-for".to_owned(), value]
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_connection_is_told_from_other_failures() {
        use crate::transport::TransportError;
        use crate::transport::ssm::SessionError;
        use crate::transport::ssm::channel::ChannelError;
        let io = |kind| std::io::Error::from(kind);
        let cases: Vec<(&str, Error, bool)> = vec![
            (
                "a refused TCP connection",
                TransportError::Connect {
                    address: "10.0.0.1:22".into(),
                    source: io(std::io::ErrorKind::ConnectionRefused),
                }
                .into(),
                true,
            ),
            (
                "an agent not connected",
                SessionError::NotConnected {
                    target: "i-1".into(),
                    message: "offline".into(),
                }
                .into(),
                true,
            ),
            (
                "a stream that broke",
                SessionError::Channel(ChannelError::PeerGone {
                    after: Duration::from_secs(30),
                })
                .into(),
                true,
            ),
            (
                "a port the agent could not reach",
                SessionError::Port {
                    target: "i-1".into(),
                    port: 22,
                    message: String::new(),
                }
                .into(),
                true,
            ),
            // Not the connection: what to fix is said already.
            (
                "access denied",
                SessionError::AccessDenied {
                    target: "i-1".into(),
                    message: "no".into(),
                }
                .into(),
                false,
            ),
            (
                "a local port in use",
                TransportError::Listen {
                    address: "127.0.0.1:80".into(),
                    source: io(std::io::ErrorKind::AddrInUse),
                }
                .into(),
                false,
            ),
            ("bad input", Error::usage("bad", "fix it"), false),
        ];
        for (name, error, failed) in cases {
            assert_eq!(connection_failed(&error), failed, "{name}: {error}");
        }
    }

    #[test]
    fn resume_for_travels_into_the_proxy_command_as_the_cli_reads_it() {
        assert!(ssm_proxy_options(None).is_empty());
        assert_eq!(
            ssm_proxy_options(Some(Duration::from_secs(90))),
            ["--resume-for", "90s"]
        );
        assert_eq!(
            ssm_proxy_options(Some(Duration::from_millis(1500))),
            ["--resume-for", "1500ms"]
        );
        for d in [Duration::from_secs(90), Duration::from_millis(1500)] {
            let words = ssm_proxy_options(Some(d));
            assert_eq!(humantime::parse_duration(&words[1]).ok(), Some(d));
        }
    }
}
