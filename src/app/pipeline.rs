//! The one pipeline of an ssh-based connection (ssh, exec, cp, tunnel, and
//! each host of a fleet run): [`connect`] resolves the target, reaches it
//! (route, bastion, endpoint) and plans (pure; `--dry-run` stops there);
//! [`Session::run`] gets it ready (host keys, the `--open` rule, one-time
//! keys), runs the client, and when the client could not connect says
//! which prerequisite fails, then cleans up.

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
use crate::plan::{self, OneTimeKey, Plan, SshRequest, Via};
use crate::secrets::ephemeral::{EphemeralKey, KeyType};
use crate::secrets::keys::{self, KeyError};
use crate::transport;
use crate::transport::session::Interrupts;

use super::host_keys::{self, HostKeyCheck};
use super::instance_connect::push_planned;
use super::reach::{self, Reach};
use super::session::{self, OpenedRule};
use super::{Context, connect_request, eice, resolve_host};

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

/// The pipeline up to the plan: resolve `connect`'s target to one host,
/// reach and plan it with `extras`, and say the plan's warnings (and its
/// notes with `-v`).
pub async fn connect(
    ctx: &Context,
    connect: &Connect,
    extras: SshExtras,
) -> Result<Session, Error> {
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
    let (plan, choice) = plan_with_route(ctx, &aws, connect, &host, extras).await?;
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
    let Reach {
        choice, bastion, ..
    } = reach::reach(ctx, aws, connect, host).await?;
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

/// The plan's one-time keys (the host's, the bastion's), pushed; the argv
/// with their files in place, and the keys, removed when dropped.
async fn push_keys(
    ctx: &Context,
    aws: &Aws,
    plan: &Plan,
) -> Result<(Vec<String>, Vec<EphemeralKey>), Error> {
    let bastion_key = match &plan.bastion_instance_connect {
        Some(push) => Some(push_planned(ctx, aws, push).await?),
        None => None,
    };
    let key = match &plan.instance_connect {
        Some(push) => Some(push_planned(ctx, aws, push).await?),
        None => None,
    };
    let argv = plan.argv_with_keys(
        key.as_ref().map(EphemeralKey::path),
        bastion_key.as_ref().map(EphemeralKey::path),
    );
    Ok((argv, key.into_iter().chain(bastion_key).collect()))
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
}

/// The tail every ssh-based session shares (ssh, exec, cp, tunnel): get the
/// plan ready (host keys, the `--open` rule, one-time keys), run the client
/// that `command_line` makes of the ready ssh argv, remove the one-time
/// keys, and when the client could not connect say why (a host key refused
/// on either hop, else doctor's checks for the route taken), then close the
/// rule. The client's outcome is the caller's to turn into a status.
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
    let remote_len = launch.connection.remote_len;
    let Ready {
        argv,
        one_time_keys,
        opened,
        host_key,
    } = ready(ctx, aws, host, plan, launch.connection).await?;
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
    let outcome = transport::session::run(&command_line, interrupts).await;
    // Removed as soon as the client is done with them, whatever happened.
    drop(one_time_keys);
    // Diagnosed while an --open rule still stands, so that it is counted.
    let failed = outcome
        .as_ref()
        .is_ok_and(|o| o.code == SSH_FAILED && o.interrupted_by.is_none());
    if failed && !host_keys::explain_refusal(ctx, host_key.as_ref(), plan, &argv, remote_len).await
    {
        let probe = Probe {
            protocol: Protocol::Ssh,
            port: launch.port,
            from: launch.from,
            via: choice.via(),
            bastion: BastionSearch::NotNeeded,
        };
        session::explain_failure(ctx, aws, host, connect, probe).await;
    }
    session::close(aws, opened).await;
    Ok(outcome?)
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

/// Gets a planned connection ready, side by side: the host keys it is
/// checked against (pinned from the console output on first contact), and
/// the `--open` rule followed by the one-time keys.
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
    let (host_key, pushed) = tokio::join!(
        branch(host_keys::prepare(ctx, aws, host, passthrough, early)),
        branch(open_and_push(ctx, aws, host, plan, open)),
    );
    let (opened, argv, one_time_keys) = pushed?;
    let argv = match &host_key {
        Some(check) => host_keys::with_options(argv, remote_len, check.ssh_options()),
        None => argv,
    };
    Ok(Ready {
        argv,
        one_time_keys,
        opened,
        host_key,
    })
}

/// With `open` (the operator's address and the port), the temporary rule;
/// then the one-time keys, last, since the instance keeps them for a minute
/// only. A failed push removes the rule again.
async fn open_and_push(
    ctx: &Context,
    aws: &Aws,
    host: &Host,
    plan: &Plan,
    open: Option<(Option<IpNet>, u16)>,
) -> Result<(Option<OpenedRule>, Vec<String>, Vec<EphemeralKey>), Error> {
    let opened = match open {
        Some((from, port)) => session::open(ctx, aws, host, from, port).await?,
        None => None,
    };
    match push_keys(ctx, aws, plan).await {
        Ok((argv, keys)) => Ok((opened, argv, keys)),
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
