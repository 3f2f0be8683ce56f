//! `berth tunnel TARGET FORWARD…`: local ports forwarded to the host (or to
//! a host it reaches), by the route `berth ssh` would take. The route
//! decides the transport: on `ssm` (asked for, or `auto`'s last resort)
//! berth's own forwarder over Session Manager port sessions
//! (`app::ports`); on every other route `ssh -N -L` through the one
//! pipeline. Either way it is one pipeline: resolve, reach, plan
//! (`--dry-run` stops there), pre-flight, transport, the diagnosis of a
//! failed connection, clean-up.

use crate::aws::Aws;
use crate::doctor::Protocol;
use crate::error::Error;
use crate::model::host::Host;
use crate::model::route::Route;
use crate::plan::copy;
use crate::plan::route::RouteChoice;
use crate::transport::session::Interrupts;

use super::Context;
use super::pipeline::{
    self, Connection, Diagnosis, Launch, PreFlight, Reached, Session, SshExtras, Target,
    Transported, plain_words,
};
use super::ports::{self, Listening, PortForward};
use super::request::Connect;

/// A tunnel planned: how its forwards are carried.
pub enum TunnelPlan {
    /// `ssh -N -L …` by the route (public, private, bastion, eice).
    Ssh {
        session: Box<Session>,
        /// The forwards, as `-L` takes them.
        specs: Vec<String>,
    },
    /// One Session Manager port session per forward (route `ssm`).
    Ssm {
        host: Box<Host>,
        aws: Box<Aws>,
        choice: RouteChoice,
        forwards: Vec<PortForward>,
    },
}

/// Resolves and reaches the target, and plans its forwards (`specs` as
/// `plan::copy::forward_spec` writes them) by the route taken; says the
/// plan's warnings (and its notes with `-v`).
pub async fn plan(
    ctx: &Context,
    connect: &Connect,
    specs: &[String],
    dry_run: bool,
) -> Result<TunnelPlan, Error> {
    pipeline::check_key_choice(connect)?;
    let reached = pipeline::reach_target(ctx, connect, |_| true).await?;
    if reached.reach.choice.route == Route::Ssm {
        // No ssh runs: ssh's options have nothing to apply to.
        connect.refuse_ssh_options("berth tunnel goes by the ssm route (Session Manager)")?;
        let Reached { host, aws, reach } = reached;
        ctx.announce(&[], &reach.choice.notes());
        return Ok(TunnelPlan::Ssm {
            host: Box::new(host),
            aws: Box::new(aws),
            choice: reach.choice,
            forwards: specs
                .iter()
                .filter_map(|s| PortForward::from_spec(s))
                .collect(),
        });
    }
    let mut passthrough = connect.ssh_option_words();
    passthrough.extend(["-N", "-o", "ExitOnForwardFailure=yes"].map(str::to_owned));
    for spec in specs {
        passthrough.extend(["-L".to_owned(), spec.clone()]);
    }
    let extras = SshExtras {
        passthrough,
        dry_run,
        ..SshExtras::default()
    };
    let session = pipeline::plan_reached(ctx, connect, reached, extras, Vec::new()).await?;
    Ok(TunnelPlan::Ssh {
        session: Box::new(session),
        specs: specs.to_vec(),
    })
}

/// Runs a planned tunnel until Ctrl-C (exit 0) or until it fails;
/// `listening` gets the Session Manager forwards once they listen.
pub async fn run(
    ctx: &Context,
    connect: &Connect,
    plan: TunnelPlan,
    listening: &mut dyn FnMut(&[Listening]) -> Result<(), Error>,
) -> Result<u8, Error> {
    match plan {
        TunnelPlan::Ssm {
            host,
            aws,
            choice,
            forwards,
        } => {
            let mut interrupts = Interrupts::install()?;
            let target = Target {
                host: &host,
                aws: &aws,
                connect,
                via: choice.via(),
            };
            let diagnosis = Diagnosis {
                protocol: Protocol::Ssh,
                port: forwards.first().map_or(0, |f| f.port),
                from: None,
            };
            let step = async |_: &pipeline::Prepared, interrupts: &mut Interrupts| {
                Transported::from_result(
                    ports::tunnel(
                        ctx,
                        (&host, &aws),
                        connect,
                        &forwards,
                        interrupts,
                        listening,
                    )
                    .await,
                )
            };
            pipeline::run_transport(
                ctx,
                target,
                PreFlight::default(),
                diagnosis,
                &mut interrupts,
                step,
            )
            .await
        }
        TunnelPlan::Ssh { session, specs } => {
            let host = &session.host;
            for spec in &specs {
                let (local, remote) = copy::split_forward(spec);
                let name = host.name().map_or_else(String::new, |n| format!(" ({n})"));
                ctx.reporter.say(&format!(
                    "forwarding {local} to {remote} on {}{name}; Ctrl-C to stop",
                    host.instance_id()
                ));
            }
            let operator = connect.ssh_option_words();
            let launch = Launch {
                connection: Connection {
                    passthrough: &operator,
                    ..Connection::plain()
                },
                port: Protocol::Ssh.default_port(),
                from: None,
                replace: false,
            };
            let outcome = session.run(ctx, launch, plain_words).await?;
            // Ctrl-C is how a tunnel is meant to end.
            Ok(if outcome.interrupted_by.is_some() {
                0
            } else {
                outcome.exit_code()
            })
        }
    }
}
