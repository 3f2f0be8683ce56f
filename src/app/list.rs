//! `ls`: the clusters, or one cluster's container instances, filtered and
//! in a stable order (by Name tag, then instance id).

use std::collections::BTreeMap;

use crate::aws::AwsError;
use crate::error::Error;
use crate::inventory::{ClusterScan, HostFilter};
use crate::model::host::{Cluster, Host, InstanceStatus};
use crate::model::lookup::Lookup;
use crate::model::network::SsmAgent;
use crate::model::target;

use super::Context;
use super::request::Filters;

/// Every cluster in the region.
pub async fn clusters(ctx: &Context) -> Result<Vec<Cluster>, Error> {
    let inventory = ctx.inventory(None).await?;
    let clusters = ctx.phase("list clusters", inventory.clusters()).await?;
    inventory.save();
    Ok(clusters)
}

/// A cluster's hosts, and what Session Manager says of them.
pub struct Listing {
    pub hosts: Vec<Host>,
    /// Each managed host's agent by instance id; unavailable when the
    /// question could not be asked (no permission, no SSM endpoint).
    pub ssm: Lookup<BTreeMap<String, SsmAgent>>,
}

/// The container instances of `cluster` (a name or an ARN) that pass
/// `filters`, with their Session Manager agents; none is not an error.
/// Without `--tag` or `--az` every host is shown, so the agents are asked
/// for beside the scan; otherwise only the hosts that pass, afterwards.
pub async fn listing(ctx: &Context, cluster: &str, filters: &Filters) -> Result<Listing, Error> {
    let query = target::parse(cluster)?;
    let aws = ctx.aws(query.region.as_deref()).await?;
    let beside = filters.tags.is_empty() && filters.az.is_none();
    let (hosts, agents) = scan(ctx, cluster, filters, beside).await?;
    let ssm = match agents {
        Some(agents) => Lookup::from_result(agents),
        None if hosts.is_empty() => Lookup::Known(BTreeMap::new()),
        None => {
            let ids: Vec<String> = hosts.iter().map(|h| h.instance_id().to_owned()).collect();
            Lookup::from_result(ctx.phase("ssm", aws.ssm_agents(&ids)).await)
        }
    };
    if let Lookup::Unavailable(why) = &ssm {
        ctx.verbose(&format!("Session Manager's view of the hosts: {why}"));
    }
    Ok(Listing { hosts, ssm })
}

/// The container instances of `cluster` (a name or an ARN) that pass
/// `filters`; none is not an error.
pub async fn hosts(ctx: &Context, cluster: &str, filters: &Filters) -> Result<Vec<Host>, Error> {
    Ok(scan(ctx, cluster, filters, false).await?.0)
}

/// The hosts of `cluster` that pass `filters`, sorted by Name tag then
/// instance id, and (with `agents`) every host's Session Manager agents.
async fn scan(
    ctx: &Context,
    cluster: &str,
    filters: &Filters,
    agents: bool,
) -> Result<
    (
        Vec<Host>,
        Option<Result<BTreeMap<String, SsmAgent>, AwsError>>,
    ),
    Error,
> {
    // A cluster name or ARN; the rest of the grammar is for ssh and show.
    let query = target::parse(cluster)?;
    let Some(cluster) = query.whole_cluster() else {
        return Err(target::TargetError::BadCluster(cluster.to_owned()).into());
    };
    let inventory = ctx.inventory(query.region.as_deref()).await?;
    let status = filters.status.map(InstanceStatus::as_str);
    let scanned = if agents {
        ctx.phase(
            "resolve",
            inventory.cluster_hosts_with_agents(cluster, status),
        )
        .await
    } else {
        ctx.phase("resolve", inventory.cluster_hosts(cluster, status))
            .await
            .map(|hosts| ClusterScan {
                hosts,
                agents: None,
            })
    };
    let ClusterScan { hosts, agents } = match scanned {
        Ok(scan) => scan,
        Err(e) => return Err(inventory.explain(e).await.into()),
    };
    inventory.remember_listing(cluster, status, &hosts);
    inventory.save();
    let filter = HostFilter::from(filters);
    let mut hosts: Vec<_> = hosts.into_iter().filter(|h| filter.matches(h)).collect();
    hosts.sort_by(|a, b| (&a.name(), &a.ec2.instance_id).cmp(&(&b.name(), &b.ec2.instance_id)));
    if hosts.is_empty() {
        ctx.reporter
            .say(&format!("no container instances in `{cluster}` match"));
    }
    Ok((hosts, agents))
}
