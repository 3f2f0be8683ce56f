//! `berth ls [CLUSTER]`: clusters, or one cluster's container instances.

use std::io::Write;

use crate::app::request::Filters;
use crate::app::{Context, config_user, list};
use crate::cli::{LsArgs, OutputFormat};
use crate::error::Error;
use crate::ui::render::{self, HostRow, SsmCell};

pub async fn run(ctx: &Context, args: &LsArgs, out: &mut dyn Write) -> Result<u8, Error> {
    let palette = render::stdout_palette(&ctx.settings);
    let Some(cluster) = &args.cluster else {
        let clusters = list::clusters(ctx).await?;
        match ctx.settings.output {
            OutputFormat::Json => render::json(out, &clusters)?,
            OutputFormat::Table => render::clusters_table(out, &clusters, palette)?,
        }
        return Ok(0);
    };
    let listing = list::listing(ctx, cluster, &Filters::from(&args.filters)).await?;
    let rows: Vec<HostRow<'_>> = listing
        .hosts
        .iter()
        .map(|h| HostRow {
            ssm: Some(SsmCell::of(&listing.ssm, h.instance_id())),
            ..HostRow::new(h, None, config_user(ctx, h).as_deref())
        })
        .collect();
    match ctx.settings.output {
        OutputFormat::Json => render::json(out, &rows)?,
        OutputFormat::Table => render::hosts_table(out, &rows, palette)?,
    }
    Ok(0)
}
