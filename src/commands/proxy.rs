//! `berth proxy TARGET PORT`: carry standard input and output to PORT on
//! the host, straight over TCP, through an EC2 Instance Connect Endpoint
//! tunnel, or through a bastion (its ssh `-W`), by the route `berth ssh`
//! would take, so that OpenSSH can use it as a `ProxyCommand`
//! (`ssh -o ProxyCommand='berth proxy %h %p' ec2-user@i-…`).
//!
//! Nothing but the connection's bytes goes to stdout; everything berth has
//! to say goes to stderr.

use crate::app::request::Connect;
use crate::app::{Context, proxy};
use crate::cli::ProxyArgs;
use crate::error::Error;

pub async fn run(ctx: &Context, args: &ProxyArgs) -> Result<u8, Error> {
    proxy::carry(ctx, &Connect::from(&args.connect), args.port).await
}
