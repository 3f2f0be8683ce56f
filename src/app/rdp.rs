//! `berth rdp TARGET`: resolve a Windows host, plan the client, get and
//! decrypt its Administrator password, then hand over to the client.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use pkcs8::der::zeroize::Zeroizing;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::aws::Aws;
use crate::doctor::Protocol;
use crate::error::Error;
use crate::model::hint::Hint as _;
use crate::model::host::Host;
use crate::model::os::Login;
use crate::model::route::{Bastion, Route};
use crate::plan::rdp::{self, Forwarder, Platform, RdpError, RdpPlan, Tunnel};
use crate::plan::route::RouteChoice;
use crate::plan::{InstanceConnectPush, Via, shell_words, with_bastion_key};
use crate::secrets::password::{self, PasswordError, RsaKey, WindowsPassword};
use crate::transport;
use crate::transport::eice::TunnelTarget;
use crate::transport::eice::forward::{ForwardProblem, LocalForward};
use crate::transport::session::Interrupts;
use crate::transport::tunnel::TunnelProcess;

use super::pipeline::{self, Diagnosis, PreFlight, Reached, Target, Transported};
use super::ports::HeldPorts;
use super::reach::{self, Reach};
use super::request::{Connect, Source};
use super::{Context, connect_request, eice, operator_address};

/// How often to ask EC2 again while the password is not there yet.
const POLL_EVERY: Duration = Duration::from_secs(5);

/// What `berth rdp` was asked to do.
#[derive(Debug, Clone)]
#[allow(clippy::struct_excessive_bools)] // flags
pub struct RdpRequest {
    pub connect: Connect,
    pub source: Source,
    /// `--port` (default: 3389).
    pub port: Option<u16>,
    /// How long to wait for EC2 to have the password.
    pub wait: Duration,
    /// Where the key's passphrase is (default: ask on a terminal).
    pub passphrase_file: Option<PathBuf>,
    /// The client to run in xfreerdp's place.
    pub client: Option<String>,
    /// Write a `.rdp` file here, and start no client.
    pub rdp_file: Option<PathBuf>,
    pub print_password: bool,
    pub dry_run: bool,
    /// Open the port to the operator's address for this session.
    pub open: bool,
}

/// A plan, and the password when running it needs one.
pub struct Prepared {
    pub host: Host,
    pub aws: Aws,
    pub plan: RdpPlan,
    /// How the route was chosen.
    pub route: RouteChoice,
    /// The one-time key to push for the bastion of the tunnel.
    pub tunnel_push: Option<InstanceConnectPush>,
    pub password: Option<WindowsPassword>,
}

/// What became of a request that was not a dry run.
pub enum Handover<'a> {
    /// The client ran (or none was needed): exit with this.
    Exit(u8),
    /// `--print-password`: the password, for stdout.
    PrintPassword(&'a WindowsPassword),
}

/// Resolves and plans; unless this is a dry run, also reads the key and
/// gets the password (waiting for it up to `--wait`). Says the plan's
/// warnings, and its notes with `-v`.
pub async fn prepare(ctx: &Context, request: &RdpRequest) -> Result<Prepared, Error> {
    let prepared = resolve_and_plan(ctx, request).await?;
    let notes = [prepared.route.notes(), prepared.plan.notes.clone()].concat();
    ctx.announce(&prepared.plan.warnings, &notes);
    Ok(prepared)
}

async fn resolve_and_plan(ctx: &Context, request: &RdpRequest) -> Result<Prepared, Error> {
    let connect = &request.connect;
    // Among several matches only the Windows hosts can take RDP; a single
    // Linux match is refused by the planner, with the way to it.
    let Reached {
        host,
        aws,
        reach: Reach {
            choice,
            bastion,
            endpoint,
        },
    } = pipeline::reach_target(ctx, connect, |h| matches!(h.os.login(), Login::Rdp(_))).await?;
    if bastion.is_none() {
        connect.options.refuse_ssh_options(&format!(
            "berth rdp goes by the {} route",
            choice.route.name()
        ))?;
    }
    let (tunnel, tunnel_push) = match (&bastion, choice.route) {
        (Some(bastion), _) => {
            let (tunnel, push) = bastion_tunnel(ctx, &aws, request, bastion, &host).await?;
            (Some(tunnel), push)
        }
        (None, Route::Eice) => match &endpoint {
            Some(endpoint) => (Some(eice::rdp_tunnel(&aws, &host, endpoint)?), None),
            None => (None, None),
        },
        // A port session to the instance's RDP port, held by berth.
        (None, Route::Ssm) => (
            Some(Tunnel {
                local_port: transport::tunnel::local_port_for(host.instance_id())?,
                through: "Session Manager".to_owned(),
                forwarder: Forwarder::Ssm,
            }),
            None,
        ),
        (None, _) => (None, None),
    };

    let started = Instant::now();
    let plan = plan(
        ctx,
        connect,
        &host,
        RdpOptions {
            port: request.port,
            client: request.client.as_deref(),
            rdp_file: request.rdp_file.as_deref(),
            tunnel,
            via: Some(choice.via()),
        },
    )?;
    ctx.log.phase("plan", started.elapsed());
    if request.dry_run || !(plan.needs_password() || request.print_password) {
        return Ok(Prepared {
            host,
            aws,
            plan,
            route: choice,
            tunnel_push,
            password: None,
        });
    }
    // The key first: a wrong file or passphrase should not wait minutes.
    let key = tokio::task::block_in_place(|| load_key(ctx, &plan.key.path, request))?;
    let data = wait_for_password(ctx, &aws, &host, request.wait).await?;
    let password =
        password::decrypt_password(&data, &key).map_err(|source| RdpError::Password {
            key: plan.key.path.clone(),
            source,
        })?;
    Ok(Prepared {
        host,
        aws,
        plan,
        route: choice,
        tunnel_push,
        password: Some(password),
    })
}

/// What `rdp` adds to the connect arguments (`show` uses none of it).
#[derive(Default)]
pub struct RdpOptions<'a> {
    pub port: Option<u16>,
    pub client: Option<&'a str>,
    pub rdp_file: Option<&'a Path>,
    pub tunnel: Option<Tunnel>,
    /// The route decided (default: `--via`, else the config's).
    pub via: Option<Via>,
}

/// The RDP plan for `host`, as `rdp` and `show` make it: the user, route
/// and key settled as for ssh, then `--port`, `--client`, `--rdp-file` and
/// the tunnel through a bastion.
pub fn plan(
    ctx: &Context,
    connect: &Connect,
    host: &Host,
    options: RdpOptions,
) -> Result<RdpPlan, Error> {
    let RdpOptions {
        port,
        client,
        rdp_file,
        tunnel,
        via,
    } = options;
    let (ssh, key) = connect_request(ctx, connect, host)?;
    let request = rdp::RdpRequest {
        user: ssh.user,
        config_user: ssh.config_user,
        via: via.unwrap_or(ssh.via),
        port,
        platform: Platform::current(),
        client: client
            .map(str::to_owned)
            .or_else(|| ctx.settings.rdp_client.clone()),
        rdp_file: rdp_file.map(Path::to_owned),
        scratch_dir: std::env::temp_dir().join("berth-rdp"),
        tunnel,
    };
    Ok(rdp::plan_rdp(host, &request, &key)?)
}

/// Plans the ssh to the bastion that forwards a free local port to the
/// instance's private address, and the one-time key it needs, if any (its
/// file at [`crate::plan::BASTION_ONE_TIME_KEY`] in the tunnel's argv).
async fn bastion_tunnel(
    ctx: &Context,
    aws: &Aws,
    request: &RdpRequest,
    bastion: &Bastion,
    host: &Host,
) -> Result<(Tunnel, Option<InstanceConnectPush>), Error> {
    let address = host.ec2.private_ip.clone().ok_or_else(|| {
        Error::usage(
            format!("{} has no private address to tunnel to", host.instance_id()),
            "connect to its public address with `--via public`".to_owned(),
        )
    })?;
    let local_port = transport::tunnel::local_port_for(host.instance_id())?;
    let port = request.port.unwrap_or(Protocol::Rdp.default_port());
    let forward = vec![
        "-N".to_owned(),
        "-o".to_owned(),
        "ExitOnForwardFailure=yes".to_owned(),
        "-L".to_owned(),
        Tunnel::forward(local_port, &address, port),
    ];
    let hop = reach::Hop {
        forward,
        connecting: !request.dry_run,
    };
    let options = &request.connect.options;
    let jump = reach::bastion_plan(ctx, aws, options, bastion, hop).await?;
    Ok((
        Tunnel {
            local_port,
            through: bastion.label.clone(),
            forwarder: Forwarder::Ssh { argv: jump.argv },
        },
        jump.push,
    ))
}

/// A tunnel held open while the client runs, and what goes wrong with
/// its connections (an EC2 Instance Connect Endpoint's only).
struct Opened {
    tunnel: HeldTunnel,
    problems: Option<UnboundedReceiver<ForwardProblem>>,
}

/// Starts what holds the plan's tunnel open: the bastion's ssh (with the
/// one-time key the pre-flight pushed for it, kept until the tunnel
/// closes), berth's own listener for an EC2 Instance Connect Endpoint, or
/// a Session Manager port session.
async fn open_tunnel(
    ctx: &Context,
    aws: &Aws,
    tunnel: &Tunnel,
    plan: &RdpPlan,
    bastion_key: Option<&Path>,
    max_tunnel_duration: Option<Duration>,
    resume_for: Option<Duration>,
) -> Result<Opened, Error> {
    match &tunnel.forwarder {
        Forwarder::Ssh { argv } => {
            let argv = with_bastion_key(argv, bastion_key);
            ctx.verbose(&format!("tunnel: {}", shell_words(&argv)));
            let process = transport::tunnel::open(&argv, tunnel.local_port).await?;
            Ok(Opened {
                tunnel: HeldTunnel::Ssh(process),
                problems: None,
            })
        }
        Forwarder::Eice {
            endpoint_id,
            dns_name,
        } => {
            let target = TunnelTarget {
                endpoint_id: endpoint_id.clone(),
                private_ip: plan.address.clone(),
                port: plan.port,
                max_duration: max_tunnel_duration,
            };
            let opener = eice::tunnel_opener(ctx, aws, dns_name, target)?;
            ctx.verbose(&format!(
                "tunnel: {}:{} through {}",
                Tunnel::LOCAL_ADDRESS,
                tunnel.local_port,
                opener.describe()
            ));
            let (forward, problems) = LocalForward::open(tunnel.local_port, opener).await?;
            Ok(Opened {
                tunnel: HeldTunnel::Eice(forward),
                problems: Some(problems),
            })
        }
        Forwarder::Ssm => {
            ctx.verbose(&format!(
                "tunnel: {}:{} over a Session Manager port session to port {} of {}",
                Tunnel::LOCAL_ADDRESS,
                tunnel.local_port,
                plan.port,
                plan.instance_id
            ));
            let held = HeldPorts::open(
                ctx,
                aws,
                &plan.instance_id,
                (plan.port, tunnel.local_port),
                resume_for,
            )
            .await?;
            Ok(Opened {
                tunnel: HeldTunnel::Ssm(Box::new(held)),
                problems: None,
            })
        }
    }
}

/// Says the tunnel's problems as they happen (the client keeps running,
/// and may connect again); never ends of itself.
async fn say_problems(ctx: &Context, problems: Option<UnboundedReceiver<ForwardProblem>>) {
    if let Some(mut problems) = problems {
        while let Some(problem) = problems.recv().await {
            let hints: Vec<String> = problem.hint().into_iter().collect();
            ctx.reporter.problem(&problem.to_string(), &hints);
        }
    }
    std::future::pending::<()>().await;
}

/// Reads and opens the private key, asking for its passphrase if it has one.
fn load_key(ctx: &Context, path: &Path, request: &RdpRequest) -> Result<RsaKey, Error> {
    let password_error = |source| RdpError::Password {
        key: path.to_owned(),
        source,
    };
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
        password_error(PasswordError::NotAKey {
            detail: format!("cannot read it: {e}"),
        })
    })?);
    match password::load_private_key(&text, None) {
        Err(PasswordError::PassphraseNeeded) => {}
        other => return Ok(other.map_err(password_error)?),
    }
    let passphrase = match &request.passphrase_file {
        Some(file) => read_passphrase_file(file)?,
        None => match ctx
            .chooser
            .secret(&format!("Passphrase for {}", path.display()))?
        {
            Some(passphrase) => passphrase,
            None => return Err(password_error(PasswordError::PassphraseNeeded).into()),
        },
    };
    Ok(password::load_private_key(&text, Some(&passphrase)).map_err(password_error)?)
}

/// The passphrase is the file's first line.
fn read_passphrase_file(file: &Path) -> Result<Zeroizing<Vec<u8>>, Error> {
    let bytes = Zeroizing::new(std::fs::read(file).map_err(|e| {
        Error::usage(
            format!("cannot read --passphrase-file {}: {e}", file.display()),
            "give a readable file whose first line is the passphrase".to_owned(),
        )
    })?);
    let line = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    Ok(Zeroizing::new(line.to_vec()))
}

/// Asks GetPasswordData until it answers with data or `wait` has passed,
/// counting down on a terminal.
async fn wait_for_password(
    ctx: &Context,
    aws: &Aws,
    host: &Host,
    wait: Duration,
) -> Result<String, Error> {
    let id = host.instance_id();
    let started = Instant::now();
    let data = aws.get_password_data(id).await?;
    if !data.is_empty() {
        ctx.log.phase("password", started.elapsed());
        return Ok(data);
    }
    let deadline = started + wait;
    ctx.reporter.say(&format!(
        "EC2 has no password for {id} yet (it has one about 4 minutes after launch); \
         waiting up to {}",
        humantime::format_duration(wait)
    ));
    let countdown = ctx.reporter.counting_down();
    let mut data = String::new();
    while data.is_empty() && Instant::now() < deadline {
        let next = (Instant::now() + POLL_EVERY).min(deadline);
        while Instant::now() < next {
            let left = deadline.saturating_duration_since(Instant::now());
            countdown.show(&format!(
                "waiting for the password of {id}: {} left",
                humantime::format_duration(Duration::from_secs(left.as_secs()))
            ));
            tokio::time::sleep(Duration::from_secs(1).min(next - Instant::now())).await;
        }
        data = aws.get_password_data(id).await?;
    }
    drop(countdown);
    ctx.log.phase("password", started.elapsed());
    if data.is_empty() {
        return Err(RdpError::PasswordNotReady {
            instance_id: id.to_owned(),
            waited: humantime::format_duration(wait).to_string(),
            launched: host
                .ec2
                .launch_time
                .as_deref()
                .and_then(|t| rdp::launched_words(t, SystemTime::now())),
        }
        .into());
    }
    Ok(data)
}

/// Writes the plan's `.rdp` file if it has one, then hands over: nothing
/// more without a password, the password itself for `--print-password`,
/// else the client runs (through the tunnel, with an `--open` rule while
/// it does) and its exit code is the answer.
pub async fn hand_over<'a>(
    ctx: &Context,
    request: &RdpRequest,
    prepared: &'a Prepared,
) -> Result<Handover<'a>, Error> {
    let plan = &prepared.plan;
    if let Some(file) = &plan.rdp_file {
        write_rdp_file(&file.path, &file.text)?;
        if request.rdp_file.is_some() {
            ctx.reporter.say(&format!(
                "wrote {} for {} (it holds no password{})",
                file.path.display(),
                plan.endpoint(),
                if request.print_password {
                    ""
                } else {
                    "; `--print-password` prints it"
                }
            ));
        }
    }
    let Some(password) = &prepared.password else {
        return Ok(Handover::Exit(0));
    };
    if request.print_password {
        return Ok(Handover::PrintPassword(password));
    }
    run_client(ctx, request, prepared, password)
        .await
        .map(Handover::Exit)
}

/// The client through the one pipeline's tail: the pre-flight (the
/// `--open` rule, the bastion's one-time key), the transport (the tunnel
/// held while the client runs), the doctor's diagnosis when the client or
/// its tunnel could not connect, clean-up.
async fn run_client(
    ctx: &Context,
    request: &RdpRequest,
    prepared: &Prepared,
    password: &WindowsPassword,
) -> Result<u8, Error> {
    let plan = &prepared.plan;
    for step in &plan.steps {
        ctx.verbose(&format!(
            "running {}{}",
            shell_words(&step.argv),
            if step.stdin.is_some() {
                " (the password on its stdin)"
            } else {
                ""
            }
        ));
    }
    // A Ctrl-C, SIGTERM or SIGHUP goes to the client; berth outlives it to
    // remove an --open rule and pass the client's status on.
    let mut interrupts = Interrupts::install()?;
    let from = operator_address(ctx, &request.source).await?;
    let port = request.port.unwrap_or(Protocol::Rdp.default_port());
    let (host, aws) = (&prepared.host, &prepared.aws);
    let target = Target {
        host,
        aws,
        connect: &request.connect,
        via: prepared.route.via(),
    };
    let pre = PreFlight {
        open: request.open.then_some((from, port)),
        bastion_push: prepared.tunnel_push.as_ref(),
        ..PreFlight::default()
    };
    let diagnosis = Diagnosis {
        protocol: Protocol::Rdp,
        port,
        from,
    };
    let step = async |ready: &pipeline::Prepared, interrupts: &mut Interrupts| {
        let mut tunnel = match &plan.tunnel {
            Some(tunnel) => {
                let opening = open_tunnel(
                    ctx,
                    aws,
                    tunnel,
                    plan,
                    ready.bastion_key_path(),
                    request.connect.max_tunnel_duration,
                    request.connect.resume_for,
                );
                match opening.await {
                    Ok(held) => Some(held),
                    Err(e) => return Transported::from_result(Err(e)),
                }
            }
            None => None,
        };
        let problems = tunnel.as_mut().and_then(|t| t.problems.take());
        let ports = tunnel.as_mut().and_then(|t| match &mut t.tunnel {
            HeldTunnel::Ssm(held) => Some(&mut **held),
            HeldTunnel::Ssh(_) | HeldTunnel::Eice(_) => None,
        });
        let outcome = tokio::select! {
            outcome = transport::rdp::run(&plan.steps, password, interrupts) => outcome,
            () = say_problems(ctx, problems) => unreachable!("says problems until dropped"),
            () = serve_ports(ctx, ports) => unreachable!("serves until dropped"),
        };
        if let Some(Opened { tunnel, .. }) = tunnel {
            tunnel.close(ctx).await;
        }
        Transported {
            failed: outcome.as_ref().is_ok_and(|o| o.failed_by_itself()),
            result: outcome
                .map(transport::session::Outcome::exit_code)
                .map_err(Error::from),
        }
    };
    pipeline::run_transport(ctx, target, pre, diagnosis, &mut interrupts, step).await
}

/// A tunnel held open while the client runs.
enum HeldTunnel {
    Ssh(TunnelProcess),
    Eice(LocalForward),
    Ssm(Box<HeldPorts>),
}

impl HeldTunnel {
    async fn close(self, ctx: &Context) {
        match self {
            Self::Ssh(process) => process.close().await,
            Self::Eice(forward) => forward.close().await,
            Self::Ssm(held) => held.close(ctx).await,
        }
    }
}

/// Carries a Session Manager tunnel's connections (saying why, should its
/// session end); never ends of itself, as without one.
async fn serve_ports(ctx: &Context, held: Option<&mut HeldPorts>) {
    match held {
        Some(held) => held.serve(ctx).await,
        None => std::future::pending().await,
    }
}

/// The `.rdp` file holds no secret; its directory is made private anyway.
fn write_rdp_file(path: &Path, text: &str) -> Result<(), Error> {
    let usage = |e: std::io::Error| {
        Error::usage(
            format!("cannot write {}: {e}", path.display()),
            "give --rdp-file a path in a writable directory".to_owned(),
        )
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        crate::platform::files::private_dir(dir).map_err(usage)?;
    }
    std::fs::write(path, text).map_err(usage)
}
