//! `berth proxy TARGET PORT`: carry standard input and output to PORT on
//! the host, straight over TCP or through an EC2 Instance Connect Endpoint
//! tunnel, so that OpenSSH can use it as a `ProxyCommand`
//! (`ssh -o ProxyCommand='berth proxy %h %p' ec2-user@i-…`).
//!
//! Nothing but the connection's bytes goes to stdout; everything berth has
//! to say goes to stderr.

use std::time::Duration;

use tokio::net::TcpStream;

use crate::cli::ProxyArgs;
use crate::error::Error;
use crate::plan::proxy::{self, ProxyRoute};
use crate::transport::TransportError;
use crate::transport::eice;
use crate::transport::relay::{self, StandardStreams};

use super::eice::{endpoints_of, tunnel_opener};
use super::{Context, effective_via, resolve_host};

/// How long a direct TCP connection may take to open.
const CONNECT_WITHIN: Duration = Duration::from_secs(15);

pub async fn run(ctx: &Context, args: &ProxyArgs) -> Result<u8, Error> {
    let (host, aws) = resolve_host(ctx, &args.connect).await?;
    let via = effective_via(ctx, &args.connect, &host);
    let endpoints = if proxy::needs_endpoints(&host, via) {
        endpoints_of(&aws, &host).await?
    } else {
        Vec::new()
    };
    let route = proxy::plan_proxy(&host, via, args.port, &endpoints)?;
    ctx.verbose(&format!(
        "proxy: {} port {} {route}",
        host.label(),
        args.port
    ));

    let mut streams = StandardStreams::open().map_err(TransportError::Stdio)?;
    let result = match &route {
        ProxyRoute::Direct { address, port, .. } => {
            let where_to = format!("{address}:{port}");
            let connection = tokio::time::timeout(
                CONNECT_WITHIN,
                TcpStream::connect((address.as_str(), *port)),
            )
            .await
            .unwrap_or_else(|_| {
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer within {}s", CONNECT_WITHIN.as_secs()),
                ))
            })
            .map_err(|source| TransportError::Connect {
                address: where_to.clone(),
                source,
            })?;
            relay::relay(connection, &mut streams.input, &mut streams.output)
                .await
                .map_err(|source| {
                    TransportError::Relay {
                        address: where_to,
                        source,
                    }
                    .into()
                })
        }
        ProxyRoute::Eice { endpoint, target } => {
            let dns_name = endpoint.tunnel_host(aws.use_fips)?;
            let opener = tunnel_opener(ctx, &aws, dns_name, target.clone())?;
            let tunnel = opener.open().await?;
            eice::carry(tunnel, &mut streams.input, &mut streams.output)
                .await
                .map(|carried| {
                    ctx.verbose(&format!(
                        "proxy: {} bytes sent, {} received",
                        carried.sent, carried.received
                    ));
                })
                .map_err(Error::from)
        }
    };
    streams.finish().await;
    result.map(|()| 0)
}
