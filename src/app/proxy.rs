//! `berth proxy`'s use case: carry standard input and output to a port of
//! the host, straight over TCP, through an EC2 Instance Connect Endpoint
//! tunnel, through a bastion (its ssh `-W`), or over a Session Manager
//! port session (AWS-StartSSHSession), by the route `berth ssh` would take
//! (`auto` included: an ssm-only host is reached over Session Manager).
//! Nothing but the connection's bytes goes to stdout.

use std::time::Duration;

use crate::aws::Aws;
use crate::doctor::Protocol;
use crate::error::Error;
use crate::model::host::Host;
use crate::model::route::Bastion;
use crate::plan::proxy::{self, ProxyError, ProxyPlan};
use crate::plan::{Jump, with_bastion_key};
use crate::transport::eice::{self, EiceError, InputEnd, InstanceConnectEndpoint, TunnelTarget};
use crate::transport::relay::{self, StandardStreams};
use crate::transport::session::Interrupts;
use crate::transport::{self, TransportError};

use super::Context;
use super::eice::tunnel_opener;
use super::pipeline::{
    Diagnosis, PreFlight, Prepared, Reached, Target, Transported, reach_target, run_transport,
};
use super::reach::Reach;
use super::request::Connect;

/// How long a direct TCP connection may take to open.
const CONNECT_WITHIN: Duration = Duration::from_secs(15);

/// How the bytes go, once planned.
enum Carry {
    /// The bastion's own ssh with `-W ADDRESS:PORT`.
    Bastion(Jump),
    /// Straight, through an endpoint, or over Session Manager.
    Plan(ProxyPlan),
}

/// Carries standard input and output to `port` on `connect`'s host, by
/// the route `berth ssh` would take, through the one pipeline: resolve,
/// reach, plan, pre-flight (the bastion's one-time key), the transport,
/// the doctor's diagnosis when the connection fails, clean-up. The status
/// of the bastion's ssh when it goes through one, else 0.
pub async fn carry(ctx: &Context, connect: &Connect, port: u16) -> Result<u8, Error> {
    // ssh ends its ProxyCommand with SIGHUP: caught from now on, so that
    // what was started is ended all the same.
    let mut interrupts = Interrupts::install()?;
    let Reached {
        host,
        aws,
        reach: Reach {
            choice,
            bastion,
            endpoint,
        },
    } = reach_target(ctx, connect, |_| true).await?;
    let carry = if let Some(bastion) = &bastion {
        Carry::Bastion(bastion_hop(ctx, &aws, connect, port, &host, bastion).await?)
    } else {
        let endpoints: Vec<_> = endpoint.into_iter().collect();
        let route =
            proxy::plan_proxy(&host, choice.via(), port, &endpoints).map_err(proxy_error)?;
        // Over Session Manager this is ssh's ProxyCommand (`--via ssm` puts
        // it there), and the operator's ssh options are ssh's business:
        // refused on the other routes only.
        if !matches!(route, ProxyPlan::Ssm { .. }) {
            connect.refuse_ssh_options(&format!("berth proxy goes {route}"))?;
        }
        ctx.verbose(&format!("proxy: {} port {} {route}", host.label(), port));
        Carry::Plan(route)
    };
    let target = Target {
        host: &host,
        aws: &aws,
        connect,
        via: choice.via(),
    };
    let pre = PreFlight {
        bastion_push: match &carry {
            Carry::Bastion(jump) => jump.push.as_ref(),
            Carry::Plan(_) => None,
        },
        ..PreFlight::default()
    };
    let diagnosis = Diagnosis {
        protocol: if port == Protocol::Rdp.default_port() {
            Protocol::Rdp
        } else {
            Protocol::Ssh
        },
        port,
        from: None,
    };
    let step = async |prepared: &Prepared, interrupts: &mut Interrupts| match &carry {
        Carry::Bastion(jump) => {
            let command_line = with_bastion_key(&jump.argv, prepared.bastion_key_path());
            let outcome = transport::session::run(&command_line, interrupts).await;
            // The bastion's ssh could not connect (to the bastion, or on
            // to the port).
            let failed = outcome.as_ref().is_ok_and(|o| {
                o.code == i32::from(crate::error::CONNECTION_FAILED) && o.interrupted_by.is_none()
            });
            Transported {
                result: outcome
                    .map(transport::session::Outcome::exit_code)
                    .map_err(Error::from),
                failed,
            }
        }
        Carry::Plan(route) => {
            Transported::from_result(carry_planned(ctx, &aws, connect, route, interrupts).await)
        }
    };
    run_transport(ctx, target, pre, diagnosis, &mut interrupts, step).await
}

/// Carries the standard streams by `route`; 0 once the connection ended,
/// 128 + N when signal N ended it (ssh ends its ProxyCommand with SIGHUP).
async fn carry_planned(
    ctx: &Context,
    aws: &Aws,
    connect: &Connect,
    route: &ProxyPlan,
    interrupts: &mut Interrupts,
) -> Result<u8, Error> {
    let mut streams = StandardStreams::open().map_err(TransportError::Stdio)?;
    let result = if let ProxyPlan::Ssm { instance_id, port } = route {
        // The port session ends on a signal itself, and is terminated.
        super::ssm::carry_port(
            ctx,
            aws,
            instance_id,
            *port,
            connect.resume_for,
            (&mut streams.input, &mut streams.output),
            interrupts,
        )
        .await
    } else {
        let carried = async {
            match route {
                ProxyPlan::Direct { address, port, .. } => relay::relay_to(
                    address,
                    *port,
                    CONNECT_WITHIN,
                    &mut streams.input,
                    &mut streams.output,
                )
                .await
                .map(|()| 0)
                .map_err(Error::from),
                ProxyPlan::Tunnel { endpoint, target } => {
                    carry_through_endpoint(ctx, aws, connect, endpoint, target, &mut streams).await
                }
                ProxyPlan::Ssm { .. } => unreachable!("carried above"),
            }
        };
        tokio::select! {
            result = carried => result,
            signal = interrupts.next() => {
                ctx.verbose(&format!("proxy: signal {signal}: ending"));
                Ok(u8::try_from(128 + signal).unwrap_or(255))
            }
        }
    };
    streams.finish().await;
    result
}

/// Through an EC2 Instance Connect Endpoint's tunnel to the private
/// address.
async fn carry_through_endpoint(
    ctx: &Context,
    aws: &Aws,
    connect: &Connect,
    endpoint: &InstanceConnectEndpoint,
    target: &TunnelTarget,
    streams: &mut StandardStreams,
) -> Result<u8, Error> {
    let dns_name = endpoint.tunnel_host(aws.use_fips)?;
    let target = TunnelTarget {
        max_duration: connect.max_tunnel_duration,
        ..target.clone()
    };
    let opener = tunnel_opener(ctx, aws, dns_name, target)?;
    let tunnel = opener.open().await?;
    // ssh's end of stdin is no end of the session: the far side's last
    // words (and its close) still come through.
    let carried = eice::carry(
        tunnel,
        &mut streams.input,
        &mut streams.output,
        InputEnd::KeepReceiving,
    )
    .await?;
    ctx.verbose(&format!(
        "proxy: {} bytes sent, {} received",
        carried.sent, carried.received
    ));
    Ok(0)
}

/// The planner's refusal as berth reports it: no endpoint or no address
/// to tunnel to are the tunnel's own errors, with their hints.
fn proxy_error(e: ProxyError) -> Error {
    match e {
        ProxyError::Plan(e) => e.into(),
        ProxyError::NoEndpoint {
            instance_id,
            vpc_id,
            subnet_id,
            no_public_address,
        } => EiceError::NoEndpoint {
            instance_id,
            vpc_id,
            subnet_id,
            no_public_address,
        }
        .into(),
        ProxyError::NoPrivateAddress { instance_id } => {
            EiceError::NoPrivateAddress { instance_id }.into()
        }
    }
}

/// Through a bastion: its own ssh with `-W ADDRESS:PORT` carries standard
/// input and output (its one-time key, if it needs one, pushed in the
/// pre-flight).
async fn bastion_hop(
    ctx: &Context,
    aws: &Aws,
    connect: &Connect,
    port: u16,
    host: &Host,
    bastion: &Bastion,
) -> Result<Jump, Error> {
    let address = host.ec2.private_ip.clone().ok_or_else(|| {
        crate::plan::route::RouteError::NoPrivateAddress {
            instance_id: host.instance_id().to_owned(),
        }
    })?;
    let forward = vec!["-W".to_owned(), format!("{address}:{}", port)];
    let hop = super::reach::Hop {
        forward,
        connecting: true,
    };
    let jump = super::reach::bastion_plan(ctx, aws, &connect.options, bastion, hop).await?;
    ctx.verbose(&format!(
        "proxy: {} port {} through bastion {}",
        host.label(),
        port,
        bastion.label
    ));
    Ok(jump)
}
