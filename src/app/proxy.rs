//! `berth proxy`'s use case: carry standard input and output to a port of
//! the host, straight over TCP, through an EC2 Instance Connect Endpoint
//! tunnel, through a bastion (its ssh `-W`), or over a Session Manager
//! port session (AWS-StartSSHSession, `--via ssm`), by the route `berth
//! ssh` would take. Nothing but the connection's bytes goes to stdout.

use std::time::Duration;

use crate::aws::Aws;
use crate::error::Error;
use crate::model::host::Host;
use crate::model::route::Bastion;
use crate::plan::proxy::{self, ProxyError, ProxyPlan};
use crate::plan::with_bastion_key;
use crate::secrets::ephemeral::EphemeralKey;
use crate::transport::eice::{self, EiceError, InputEnd, TunnelTarget};
use crate::transport::relay::{self, StandardStreams};
use crate::transport::session::Interrupts;
use crate::transport::{self, TransportError};

use super::eice::tunnel_opener;
use super::instance_connect::push_planned;
use super::reach::Reach;
use super::request::Connect;
use super::{Context, resolve_host};

/// How long a direct TCP connection may take to open.
const CONNECT_WITHIN: Duration = Duration::from_secs(15);

/// Carries standard input and output to `port` on `connect`'s host, by
/// the route `berth ssh` would take; the status of the bastion's ssh when
/// it goes through one, else 0.
pub async fn carry(ctx: &Context, connect: &Connect, port: u16) -> Result<u8, Error> {
    let (host, aws) = resolve_host(ctx, connect).await?;
    let Reach {
        choice,
        bastion,
        endpoint,
    } = super::reach::reach(ctx, &aws, connect, &host).await?;
    if let Some(bastion) = &bastion {
        return through_bastion(ctx, &aws, connect, port, &host, bastion).await;
    }
    let endpoints: Vec<_> = endpoint.into_iter().collect();
    let route = proxy::plan_proxy(&host, choice.via(), port, &endpoints).map_err(proxy_error)?;
    // `--via ssm` refuses nothing: it is ssh's ProxyCommand, and the
    // operator's ssh options are ssh's business.
    if !matches!(route, ProxyPlan::Ssm { .. }) {
        connect.refuse_ssh_options(&format!("berth proxy goes {route}"))?;
    }
    ctx.verbose(&format!("proxy: {} port {} {route}", host.label(), port));

    let mut streams = StandardStreams::open().map_err(TransportError::Stdio)?;
    let result = match &route {
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
            let dns_name = endpoint.tunnel_host(aws.use_fips)?;
            let target = TunnelTarget {
                max_duration: connect.max_tunnel_duration,
                ..target.clone()
            };
            let opener = tunnel_opener(ctx, &aws, dns_name, target)?;
            let tunnel = opener.open().await?;
            // ssh's end of stdin is no end of the session: the far side's
            // last words (and its close) still come through.
            eice::carry(
                tunnel,
                &mut streams.input,
                &mut streams.output,
                InputEnd::KeepReceiving,
            )
            .await
            .map(|carried| {
                ctx.verbose(&format!(
                    "proxy: {} bytes sent, {} received",
                    carried.sent, carried.received
                ));
                0
            })
            .map_err(Error::from)
        }
        ProxyPlan::Ssm { instance_id, port } => {
            super::ssm::carry_port(
                ctx,
                &aws,
                instance_id,
                *port,
                connect.resume_for,
                &mut streams.input,
                &mut streams.output,
            )
            .await
        }
    };
    streams.finish().await;
    result
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
/// input and output (its one-time key pushed first if it needs one).
async fn through_bastion(
    ctx: &Context,
    aws: &Aws,
    connect: &Connect,
    port: u16,
    host: &Host,
    bastion: &Bastion,
) -> Result<u8, Error> {
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
    let key = match &jump.push {
        Some(push) => Some(push_planned(ctx, aws, push).await?),
        None => None,
    };
    let command_line = with_bastion_key(&jump.argv, key.as_ref().map(EphemeralKey::path));
    ctx.verbose(&format!(
        "proxy: {} port {} through bastion {}",
        host.label(),
        port,
        bastion.label
    ));
    let mut interrupts = Interrupts::install()?;
    let outcome = transport::session::run(&command_line, &mut interrupts).await;
    drop(key);
    Ok(outcome?.exit_code())
}
