//! `berth ssh-config`: prints, or with `--install` puts into a marked block
//! of `~/.ssh/config`, the OpenSSH configuration that makes `ssh i-…` and
//! `ssh CLUSTER.NAME.berth` go through `berth proxy`; `--uninstall` takes
//! it out again (the work is `app::ssh_config`'s).

use std::io::Write;

use crate::app::Context;
use crate::app::ssh_config::{self, SshConfigRequest};
use crate::cli::SshConfigArgs;
use crate::error::Error;

pub async fn run(ctx: &Context, args: &SshConfigArgs, out: &mut dyn Write) -> Result<u8, Error> {
    let request = SshConfigRequest {
        hosts: args.hosts.clone(),
        via: args.via,
        file: args.file.clone(),
        resume_for: args.resume_for,
    };
    if args.uninstall {
        ssh_config::uninstall(ctx, &request)?;
        return Ok(0);
    }
    let generated = ssh_config::generate(ctx, &request).await?;
    if args.install {
        ssh_config::install(ctx, &request, &generated)?;
        return Ok(0);
    }
    for (_, text) in &generated.snapshots {
        writeln!(out, "{text}")?;
    }
    write!(out, "{}", generated.catch_all)?;
    Ok(0)
}
