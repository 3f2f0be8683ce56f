//! EC2 Instance Connect Endpoint tunnels wired into the commands: `ssh
//! --via eice` runs ssh with `berth proxy` as its ProxyCommand, `rdp --via
//! eice` holds a local forward for the client, and `proxy` opens one
//! tunnel on its standard streams.

use std::time::Duration;

use crate::aws::Aws;
use crate::error::Error;
use crate::model::host::Host;
use crate::model::named::Named as _;
use crate::model::route::Via;
use crate::plan;
use crate::plan::rdp::{Forwarder, Tunnel};
use crate::settings::EICE_URL_VAR;
use crate::transport;
use crate::transport::eice::{
    self, InstanceConnectEndpoint, TunnelBase, TunnelOpener, TunnelTarget,
};

use super::Context;

/// The endpoints of the host's VPC (none when it is in no VPC).
pub async fn endpoints_of(aws: &Aws, host: &Host) -> Result<Vec<InstanceConnectEndpoint>, Error> {
    match &host.ec2.vpc_id {
        Some(vpc) => Ok(aws.instance_connect_endpoints(vpc).await?),
        None => Ok(Vec::new()),
    }
}

/// The endpoint a tunnel to `host` goes through, or why there is none.
pub async fn endpoint_for(aws: &Aws, host: &Host) -> Result<InstanceConnectEndpoint, Error> {
    let endpoints = endpoints_of(aws, host).await?;
    crate::plan::route::choose_endpoint(&endpoints, host)
        .cloned()
        .ok_or_else(|| eice::EiceError::no_endpoint(host).into())
}

/// Where tunnels through an endpoint are opened: `$BERTH_EICE_URL` when
/// set, else the endpoint's own `wss://{DnsName}` (`endpoint_dns`, see
/// [`InstanceConnectEndpoint::tunnel_host`]).
pub fn tunnel_base(ctx: &Context, endpoint_dns: &str) -> Result<TunnelBase, Error> {
    Ok(match &ctx.settings.eice_url {
        Some(url) => TunnelBase::parse(url, EICE_URL_VAR)?,
        None => TunnelBase::endpoint(endpoint_dns)?,
    })
}

/// What opens tunnels to `target` through the endpoint named
/// `endpoint_dns`, signed with this run's credentials.
pub fn tunnel_opener(
    ctx: &Context,
    aws: &Aws,
    endpoint_dns: &str,
    target: TunnelTarget,
) -> Result<TunnelOpener, Error> {
    Ok(TunnelOpener {
        credentials: aws.credentials_provider()?,
        region: aws.region.clone(),
        base: tunnel_base(ctx, endpoint_dns)?,
        target,
        proxy: ctx.settings.proxy.clone(),
        ca_bundle: aws.ca_bundle().cloned(),
    })
}

/// The `ProxyCommand` that makes ssh reach `instance_id` through an
/// endpoint: this berth, with the region it resolved the host in and the
/// profile and endpoint URL it was given, running `proxy --via eice
/// [--max-tunnel-duration SECONDS] INSTANCE-ID %p`.
pub fn ssh_proxy_command(
    ctx: &Context,
    region: &str,
    instance_id: &str,
    max_tunnel_duration: Option<Duration>,
) -> String {
    let options = max_tunnel_duration
        .map(|limit| {
            vec![
                "--max-tunnel-duration".to_owned(),
                limit.as_secs().to_string(),
            ]
        })
        .unwrap_or_default();
    berth_proxy_command(ctx, region, Via::Eice, &options, instance_id)
}

/// The `ProxyCommand` that makes ssh reach `instance_id` by berth's own
/// `route`: this berth, with the region it resolved the host in and the
/// profile and endpoint URL it was given, running `proxy --via ROUTE
/// [OPTIONS…] INSTANCE-ID %p`.
pub fn berth_proxy_command(
    ctx: &Context,
    region: &str,
    route: Via,
    options: &[String],
    instance_id: &str,
) -> String {
    let exe =
        std::env::current_exe().map_or_else(|_| "berth".to_owned(), |p| p.display().to_string());
    let mut words = vec![exe, "--region".to_owned(), region.to_owned()];
    let aws = &ctx.settings.aws;
    if let Some(profile) = &aws.profile {
        words.extend(["--profile".to_owned(), profile.clone()]);
    }
    if let Some(url) = &aws.endpoint_url {
        words.extend(["--endpoint-url".to_owned(), url.clone()]);
    }
    if ctx.settings.verbose > 0 {
        words.push("-v".to_owned());
    }
    words.extend(["proxy", "--via", route.name()].map(str::to_owned));
    words.extend(options.iter().cloned());
    words.extend([instance_id, plan::PORT_TOKEN].map(str::to_owned));
    plan::proxy_command(&words)
}

/// `rdp --via eice`: the local forward the client connects to, through
/// the endpoint of the host's VPC.
pub fn rdp_tunnel(
    aws: &Aws,
    host: &Host,
    endpoint: &InstanceConnectEndpoint,
) -> Result<Tunnel, Error> {
    let dns_name = endpoint.tunnel_host(aws.use_fips)?.to_owned();
    let local_port = transport::tunnel::local_port_for(host.instance_id())?;
    Ok(Tunnel {
        local_port,
        through: format!("EC2 Instance Connect Endpoint {}", endpoint.id),
        forwarder: Forwarder::Eice {
            endpoint_id: endpoint.id.clone(),
            dns_name,
        },
    })
}
