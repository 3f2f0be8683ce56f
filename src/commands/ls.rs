//! `berth ls [CLUSTER]`: clusters, or one cluster's container instances.

use std::io::Write;

use crate::cli::{LsArgs, OutputFormat};
use crate::error::Error;
use crate::inventory::HostFilter;
use crate::model::host::InstanceStatus;
use crate::model::target::{self, Target};
use crate::ui::render::{self, HostRow};

use crate::app::Context;

pub async fn run(ctx: &Context, args: &LsArgs, out: &mut dyn Write) -> Result<u8, Error> {
    let Some(cluster) = &args.cluster else {
        let inventory = ctx.inventory(None).await?;
        let clusters = ctx.phase("list clusters", inventory.clusters()).await?;
        inventory.save();
        match ctx.settings.output {
            OutputFormat::Json => render::json(out, &clusters)?,
            OutputFormat::Table => {
                render::clusters_table(out, &clusters, render::stdout_palette(&ctx.settings))?;
            }
        }
        return Ok(0);
    };
    // A cluster name or ARN; the rest of the grammar is for ssh and show.
    let query = target::parse(cluster)?;
    let Target::Cluster {
        cluster,
        selector: None,
    } = &query.target
    else {
        return Err(target::TargetError::BadCluster(cluster.clone()).into());
    };
    let inventory = ctx.inventory(query.region.as_deref()).await?;
    let status = args.filters.status.map(InstanceStatus::as_str);
    let hosts = match ctx
        .phase("resolve", inventory.cluster_hosts(cluster, status))
        .await
    {
        Ok(hosts) => hosts,
        Err(e) => return Err(inventory.explain(e).await.into()),
    };
    inventory.remember_listing(cluster, status, &hosts);
    inventory.save();
    let filter = HostFilter::from(&crate::app::request::Filters::from(&args.filters));
    let mut hosts: Vec<_> = hosts.into_iter().filter(|h| filter.matches(h)).collect();
    hosts.sort_by(|a, b| (&a.name(), &a.ec2.instance_id).cmp(&(&b.name(), &b.ec2.instance_id)));
    let rows: Vec<HostRow<'_>> = hosts
        .iter()
        .map(|h| HostRow::new(h, None, crate::app::config_user(ctx, h).as_deref()))
        .collect();
    if rows.is_empty() {
        eprintln!("berth: no container instances in `{cluster}` match");
    }
    match ctx.settings.output {
        OutputFormat::Json => render::json(out, &rows)?,
        OutputFormat::Table => {
            render::hosts_table(out, &rows, render::stdout_palette(&ctx.settings))?;
        }
    }
    Ok(0)
}
