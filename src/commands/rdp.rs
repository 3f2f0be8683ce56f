//! `berth rdp TARGET`: resolve a Windows host, plan the client, get and
//! decrypt its Administrator password, then hand over to the client.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use indicatif::ProgressBar;
use pkcs8::der::zeroize::Zeroizing;
use serde_json::json;

use crate::app::diagnose::Probe;
use crate::app::instance_connect::push_planned;
use crate::app::request::Connect;
use crate::aws::Aws;
use crate::cli::{OutputFormat, RdpArgs};
use crate::doctor::Protocol;
use crate::error::Error;
use crate::model::hint::Hint as _;
use crate::model::host::Host;
use crate::model::os::Login;
use crate::model::route::{Bastion, Route};
use crate::plan::rdp::{self, Forwarder, Platform, RdpError, RdpPlan, RdpRequest, Tunnel};
use crate::plan::route::BastionSearch;
use crate::plan::route::RouteChoice;
use crate::plan::{InstanceConnectPush, Via, with_bastion_key};
use crate::secrets::ephemeral::EphemeralKey;
use crate::secrets::password::{self, PasswordError, RsaKey, WindowsPassword};
use crate::transport;
use crate::transport::eice::TunnelTarget;
use crate::transport::eice::forward::LocalForward;
use crate::transport::session::Interrupts;
use crate::transport::tunnel::TunnelProcess;
use crate::ui::render;

use crate::app::reach::Reach;
use crate::app::{
    Context, connect_request, eice, operator_address, resolve_host_preferring, session,
};

/// How often to ask EC2 again while the password is not there yet.
const POLL_EVERY: Duration = Duration::from_secs(5);

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

/// Resolves and plans; unless this is a dry run, also reads the key and
/// gets the password (waiting for it up to `--wait`).
pub async fn prepare(ctx: &Context, args: &RdpArgs) -> Result<Prepared, Error> {
    let connect = Connect::from(&args.connect);
    let connect = &connect;
    // Among several matches only the Windows hosts can take RDP; a single
    // Linux match is refused by the planner, with the way to it.
    let (host, aws) =
        resolve_host_preferring(ctx, connect, |h| matches!(h.os.login(), Login::Rdp(_))).await?;
    let Reach {
        choice,
        bastion,
        endpoint,
    } = crate::app::reach::reach(ctx, &aws, connect, &host).await?;
    if bastion.is_none() {
        super::proxy::refuse_ssh_options(
            &connect.options,
            &format!("berth rdp goes by the {} route", choice.route.name()),
        )?;
    }
    let (tunnel, tunnel_push) = match (&bastion, choice.route) {
        (Some(bastion), _) => {
            let (tunnel, push) = bastion_tunnel(ctx, &aws, args, bastion, &host).await?;
            (Some(tunnel), push)
        }
        (None, Route::Eice) => match &endpoint {
            Some(endpoint) => (Some(eice::rdp_tunnel(&aws, &host, endpoint)?), None),
            None => (None, None),
        },
        (None, _) => (None, None),
    };

    let started = Instant::now();
    let plan = plan(
        ctx,
        connect,
        &host,
        RdpOptions {
            port: args.port,
            client: args.client.as_deref(),
            rdp_file: args.rdp_file.as_deref(),
            tunnel,
            via: Some(choice.via()),
        },
    )?;
    ctx.log.phase("plan", started.elapsed());
    if args.dry_run || !(plan.needs_password() || args.print_password) {
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
    let key = tokio::task::block_in_place(|| load_key(&plan.key.path, args))?;
    let data = wait_for_password(ctx, &aws, &host, args.wait).await?;
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
    let request = RdpRequest {
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
    args: &RdpArgs,
    bastion: &Bastion,
    host: &Host,
) -> Result<(Tunnel, Option<InstanceConnectPush>), Error> {
    let connect = Connect::from(&args.connect);
    let address = host.ec2.private_ip.clone().ok_or_else(|| {
        Error::usage(
            format!("{} has no private address to tunnel to", host.instance_id()),
            "connect to its public address with `--via public`".to_owned(),
        )
    })?;
    let local_port = transport::tunnel::local_port_for(host.instance_id())?;
    let port = args.port.unwrap_or(Protocol::Rdp.default_port());
    let forward = vec![
        "-N".to_owned(),
        "-o".to_owned(),
        "ExitOnForwardFailure=yes".to_owned(),
        "-L".to_owned(),
        Tunnel::forward(local_port, &address, port),
    ];
    let hop = crate::app::reach::Hop {
        forward,
        connecting: !args.dry_run,
    };
    let jump = crate::app::reach::bastion_plan(ctx, aws, &connect.options, bastion, hop).await?;
    Ok((
        Tunnel {
            local_port,
            through: bastion.label.clone(),
            forwarder: Forwarder::Ssh { argv: jump.argv },
        },
        jump.push,
    ))
}

/// Starts what holds the plan's tunnel open: the bastion's ssh (its
/// one-time key pushed first when it needs one, and kept until the tunnel
/// closes), or berth's own listener for an EC2 Instance Connect Endpoint.
async fn open_tunnel(
    ctx: &Context,
    aws: &Aws,
    tunnel: &Tunnel,
    plan: &RdpPlan,
    push: Option<&InstanceConnectPush>,
    max_tunnel_duration: Option<Duration>,
) -> Result<(HeldTunnel, Option<EphemeralKey>), Error> {
    match &tunnel.forwarder {
        Forwarder::Ssh { argv } => {
            let key = match push {
                Some(push) => Some(push_planned(ctx, aws, push).await?),
                None => None,
            };
            let argv = with_bastion_key(argv, key.as_ref().map(EphemeralKey::path));
            ctx.verbose(&format!("tunnel: {}", render::shell_words(&argv)));
            let process = transport::tunnel::open(&argv, tunnel.local_port).await?;
            Ok((HeldTunnel::Ssh(process), key))
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
            let (forward, mut problems) = LocalForward::open(tunnel.local_port, opener).await?;
            // Said as they happen: the client keeps running, and may
            // connect again.
            tokio::spawn(async move {
                while let Some(problem) = problems.recv().await {
                    eprintln!("berth: error: {problem}");
                    if let Some(hint) = problem.hint() {
                        eprintln!("  hint: {hint}");
                    }
                }
            });
            Ok((HeldTunnel::Eice(forward), None))
        }
    }
}

/// Reads and opens the private key, asking for its passphrase if it has one.
fn load_key(path: &Path, args: &RdpArgs) -> Result<RsaKey, Error> {
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
    let passphrase = match &args.passphrase_file {
        Some(file) => read_passphrase_file(file)?,
        None if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() => {
            Zeroizing::new(
                dialoguer::Password::new()
                    .with_prompt(format!("Passphrase for {}", path.display()))
                    .interact()
                    .map_err(|dialoguer::Error::IO(e)| e)?
                    .into_bytes(),
            )
        }
        None => return Err(password_error(PasswordError::PassphraseNeeded).into()),
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
    eprintln!(
        "berth: EC2 has no password for {id} yet (it has one about 4 minutes after launch); \
         waiting up to {}",
        humantime::format_duration(wait)
    );
    let spinner = ProgressBar::new_spinner();
    spinner.enable_steady_tick(Duration::from_millis(120));
    let mut data = String::new();
    while data.is_empty() && Instant::now() < deadline {
        let next = (Instant::now() + POLL_EVERY).min(deadline);
        while Instant::now() < next {
            let left = deadline.saturating_duration_since(Instant::now());
            spinner.set_message(format!(
                "waiting for the password of {id}: {} left",
                humantime::format_duration(Duration::from_secs(left.as_secs()))
            ));
            tokio::time::sleep(Duration::from_secs(1).min(next - Instant::now())).await;
        }
        data = aws.get_password_data(id).await?;
    }
    spinner.finish_and_clear();
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

/// Resolves, plans, gets the password, then prints, writes or runs the plan.
pub async fn run(ctx: &Context, args: &RdpArgs, out: &mut dyn Write) -> Result<u8, Error> {
    let prepared = prepare(ctx, args).await?;
    let plan = &prepared.plan;
    let notes = [prepared.route.notes(), plan.notes.clone()].concat();
    ctx.announce(&plan.warnings, &notes);
    if args.dry_run {
        match ctx.settings.output {
            OutputFormat::Json => {
                let client = plan.steps.last().map(|s| &s.argv);
                let route = &prepared.route;
                render::json(
                    out,
                    &json!({ "argv": client, "plan": plan, "route": route }),
                )?;
            }
            OutputFormat::Table => render::rdp_steps(out, plan)?,
        }
        return Ok(0);
    }
    if let Some(file) = &plan.rdp_file {
        write_rdp_file(&file.path, &file.text)?;
        if args.rdp_file.is_some() {
            eprintln!(
                "berth: wrote {} for {} (it holds no password{})",
                file.path.display(),
                plan.endpoint(),
                if args.print_password {
                    ""
                } else {
                    "; `--print-password` prints it"
                }
            );
        }
    }
    let Some(password) = &prepared.password else {
        return Ok(0);
    };
    if args.print_password {
        writeln!(out, "{}", password.expose())?;
        return Ok(0);
    }
    for step in &plan.steps {
        ctx.verbose(&format!(
            "running {}{}",
            render::shell_words(&step.argv),
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
    let from = operator_address(ctx, &(&args.source).into()).await?;
    let port = args.port.unwrap_or(Protocol::Rdp.default_port());
    let (host, aws) = (&prepared.host, &prepared.aws);
    let opened = if args.open {
        session::open(ctx, aws, host, from, port).await?
    } else {
        None
    };
    let tunnel = match &plan.tunnel {
        Some(tunnel) => {
            let opening = open_tunnel(
                ctx,
                aws,
                tunnel,
                plan,
                prepared.tunnel_push.as_ref(),
                args.connect.max_tunnel_duration,
            );
            match opening.await {
                Ok(held) => Some(held),
                Err(e) => {
                    session::close(aws, opened).await;
                    return Err(e);
                }
            }
        }
        None => None,
    };
    let outcome = transport::rdp::run(&plan.steps, password, &mut interrupts).await;
    if let Some((tunnel, key)) = tunnel {
        tunnel.close().await;
        drop(key);
    }
    // Diagnosed while an --open rule still stands, so that it is counted.
    if outcome.as_ref().is_ok_and(|o| o.failed_by_itself()) {
        let route = prepared.route.via();
        let probe = Probe {
            protocol: Protocol::Rdp,
            port,
            from,
            via: route,
            bastion: BastionSearch::NotNeeded,
        };
        session::explain_failure(ctx, aws, host, &Connect::from(&args.connect), probe).await;
    }
    session::close(aws, opened).await;
    Ok(outcome?.exit_code())
}

/// A tunnel held open while the client runs.
enum HeldTunnel {
    Ssh(TunnelProcess),
    Eice(LocalForward),
}

impl HeldTunnel {
    async fn close(self) {
        match self {
            Self::Ssh(process) => process.close().await,
            Self::Eice(forward) => forward.close().await,
        }
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
