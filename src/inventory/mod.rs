//! Finding hosts: turns a [`Target`] into the [`Host`]s it names by joining
//! ECS and EC2 facts, asking only for what the target needs and overlapping
//! every call that does not depend on another.
//!
//! Sequential round trips per target, with a cold AMI cache:
//! `i-…`: DescribeInstances → DescribeImages (2).
//! `CLUSTER/i-…`: DescribeInstances → DescribeImages, beside
//! ListContainerInstances → DescribeContainerInstances (2).
//! `CLUSTER/<container instance id>`: DescribeContainerInstances →
//! DescribeInstances ‖ DescribeImages (2; the agent's `ecs.ami-id`
//! attribute lets the AMI lookup start early).
//! `CLUSTER`, `CLUSTER/<prefix>`, `CLUSTER/task/ID`, `CLUSTER/service/NAME`
//! (ListContainerInstances with `task:group == service:NAME`): one more (3).
//! `CLUSTER/<Name or address>`: DescribeInstances → ListContainerInstances
//! → DescribeContainerInstances, images beside (3).
//! A cluster of more than 100 container instances adds a round trip per
//! further page of ListContainerInstances.

pub mod cache;
pub mod host_cache;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Semaphore;

use crate::aws::stats::{branch, spawn_branch, try_join_branches};
use crate::aws::{Aws, AwsError};
use crate::model::host::{Cluster, ContainerInstance, Host, Image, Instance};
use crate::model::network::SsmAgent;
use crate::model::target::{Selector, Target};
use cache::AmiCache;
use host_cache::HostCache;

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("there is no ECS cluster `{cluster}` in {region}")]
    UnknownCluster {
        cluster: String,
        region: String,
        existing: Vec<String>,
    },
    #[error("no {what} matches")]
    NotFound { what: String, hint: String },
}

/// Joins and caches facts for one run.
pub struct Inventory {
    aws: Aws,
    amis: Mutex<AmiCache>,
    hosts: Mutex<HostCache>,
}

impl Inventory {
    pub fn new(aws: Aws, amis: AmiCache) -> Self {
        Self {
            aws,
            amis: Mutex::new(amis),
            hosts: Mutex::new(HostCache::disabled()),
        }
    }

    /// Answers targets from `hosts` while its entries are fresh, and keeps
    /// what is found there.
    #[must_use]
    pub fn with_host_cache(self, hosts: HostCache) -> Self {
        Self {
            hosts: Mutex::new(hosts),
            ..self
        }
    }

    fn host_cache(&self) -> std::sync::MutexGuard<'_, HostCache> {
        self.hosts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps a cluster's listing (as `berth ls CLUSTER` fetched it).
    pub fn remember_listing(&self, cluster: &str, status: Option<&str>, hosts: &[Host]) {
        let target = Target::Cluster {
            cluster: cluster.to_owned(),
            selector: None,
        };
        self.host_cache().put(&target, status, hosts);
    }

    /// The AWS clients, for calls beyond the inventory's own.
    pub fn aws(&self) -> &Aws {
        &self.aws
    }

    /// Writes back what was learned (the AMI and host caches).
    pub fn save(&self) {
        if let Ok(mut amis) = self.amis.lock() {
            amis.save();
        }
        self.host_cache().save();
    }

    /// All clusters of the region: ListClusters, then DescribeClusters in
    /// concurrent batches.
    pub async fn clusters(&self) -> Result<Vec<Cluster>, InventoryError> {
        let arns = self.aws.list_cluster_arns().await?;
        let mut clusters = self.aws.describe_clusters(&arns).await?;
        clusters.sort_by(|a, b| a.name.cmp(&b.name));
        self.host_cache()
            .put_clusters(clusters.iter().map(|c| c.name.clone()));
        Ok(clusters)
    }

    /// The hosts a target names, sorted by instance id: from the host
    /// cache while it is fresh (no AWS call), else from AWS.
    pub async fn resolve(
        &self,
        target: &Target,
        status: Option<&str>,
    ) -> Result<Vec<Host>, InventoryError> {
        if let Some(hosts) = self.host_cache().get(target, status) {
            return Ok(hosts);
        }
        let hosts = self.resolve_in_aws(target, status).await?;
        self.host_cache().put(target, status, &hosts);
        Ok(hosts)
    }

    async fn resolve_in_aws(
        &self,
        target: &Target,
        status: Option<&str>,
    ) -> Result<Vec<Host>, InventoryError> {
        let mut hosts = match target {
            Target::Instance { instance_id } => self.instances(instance_id).await?,
            Target::Cluster {
                cluster,
                selector: None,
            } => self.cluster_hosts(cluster, status).await?,
            Target::Cluster {
                cluster,
                selector: Some(selector),
            } => self.select(cluster, selector, status).await?,
            Target::Task { cluster, task_id } => self.task_host(cluster, task_id).await?,
            Target::Service { cluster, service } => self.service_hosts(cluster, service).await?,
        };
        hosts.sort_by(|a, b| a.instance_id().cmp(b.instance_id()));
        Ok(hosts)
    }

    /// Every container instance of a cluster (see [`Inventory::cluster_scan`]).
    pub async fn cluster_hosts(
        &self,
        cluster: &str,
        status: Option<&str>,
    ) -> Result<Vec<Host>, InventoryError> {
        Ok(self.cluster_scan(cluster, status, false).await?.hosts)
    }

    /// Every container instance of a cluster, with what Session Manager
    /// says of each (its agents asked for 50 hosts at a time as the hosts
    /// are described, beside everything else).
    pub async fn cluster_hosts_with_agents(
        &self,
        cluster: &str,
        status: Option<&str>,
    ) -> Result<ClusterScan, InventoryError> {
        self.cluster_scan(cluster, status, true).await
    }

    /// A whole cluster, every call as early as it can start: each page of
    /// ListContainerInstances is described while the next page is listed;
    /// DescribeInstances goes out for each 1000 EC2 ids as soon as they are
    /// described (so the last batch is the only one left after the last
    /// page), DescribeImages for the AMIs the agents name as they appear,
    /// DescribeInstanceInformation (with `agents`) for each 50 ids. At
    /// most [`IN_FLIGHT`] requests at once. The critical path is the pages,
    /// then one describe, then one DescribeInstances: ⌈N/100⌉ + 2 round
    /// trips.
    async fn cluster_scan(
        &self,
        cluster: &str,
        status: Option<&str>,
        agents: bool,
    ) -> Result<ClusterScan, InventoryError> {
        let started = Instant::now();
        let limit = Arc::new(Semaphore::new(IN_FLIGHT));
        let (pages, mut described) = tokio::sync::mpsc::unbounded_channel();
        let list = {
            let limit = Arc::clone(&limit);
            async move {
                let mut token = None;
                loop {
                    let (arns, next) = self
                        .aws
                        .list_container_instances_page(cluster, status, None, token)
                        .await?;
                    if !arns.is_empty() {
                        let (aws, cluster) = (self.aws.clone(), cluster.to_owned());
                        let limit = Arc::clone(&limit);
                        let _ = pages.send(spawn_branch(async move {
                            let _permit = limit.acquire_owned().await;
                            aws.describe_container_instances(&cluster, &arns).await
                        }));
                    }
                    token = next;
                    if token.is_none() {
                        break;
                    }
                }
                self.aws.log.phase("list pages", started.elapsed());
                Ok::<_, AwsError>(())
            }
        };
        let join = async {
            let mut scan = Scan::new(self, Arc::clone(&limit), agents);
            while let Some(page) = described.recv().await {
                let page = page
                    .await
                    .map_err(|e| joined("ecs:DescribeContainerInstances", &e))??;
                scan.add(page);
            }
            self.aws.log.phase("describe", started.elapsed());
            Ok::<_, AwsError>(scan)
        };
        let ((), scan) = tokio::try_join!(branch(list), branch(join))
            .map_err(|e| self.cluster_error(cluster, e))?;
        if scan.cis.is_empty() {
            self.check_cluster_exists(cluster).await?;
        }
        let scan = scan.finish().await?;
        self.aws
            .log
            .phase("instances and images", started.elapsed());
        Ok(scan)
    }

    /// ListContainerInstances (with a cluster-query `filter`), describing
    /// the ARNs that `keep` accepts page by page while the next page is
    /// fetched.
    async fn list_and_describe(
        &self,
        cluster: &str,
        status: Option<&str>,
        filter: Option<&str>,
        keep: impl Fn(&str) -> bool,
    ) -> Result<Vec<ContainerInstance>, AwsError> {
        let mut described = Vec::new();
        let mut token = None;
        loop {
            let (mut arns, next) = self
                .aws
                .list_container_instances_page(cluster, status, filter, token)
                .await?;
            arns.retain(|arn| keep(arn));
            if !arns.is_empty() {
                let aws = self.aws.clone();
                let cluster = cluster.to_owned();
                described.push(spawn_branch(async move {
                    aws.describe_container_instances(&cluster, &arns).await
                }));
            }
            token = next;
            if token.is_none() {
                break;
            }
        }
        let mut cis = Vec::new();
        for handle in described {
            let batch = handle.await.map_err(|e| AwsError::Other {
                operation: "ecs:DescribeContainerInstances",
                detail: e.to_string(),
            })??;
            cis.extend(batch);
        }
        Ok(cis)
    }

    async fn select(
        &self,
        cluster: &str,
        selector: &Selector,
        status: Option<&str>,
    ) -> Result<Vec<Host>, InventoryError> {
        match selector {
            Selector::ContainerInstanceId(id) => {
                let cis = self
                    .aws
                    .describe_container_instances(cluster, std::slice::from_ref(id))
                    .await
                    .map_err(|e| self.cluster_error(cluster, e))?;
                self.join(cis).await
            }
            Selector::ContainerInstancePrefix(prefix) => {
                let cis = self
                    .list_and_describe(cluster, status, None, |arn| {
                        arn.rsplit('/')
                            .next()
                            .is_some_and(|id| id.starts_with(prefix.as_str()))
                    })
                    .await
                    .map_err(|e| self.cluster_error(cluster, e))?;
                if cis.is_empty() {
                    // A short hex word may just as well be a Name tag.
                    let instances = self
                        .aws
                        .find_instances(vec![("tag:Name", vec![prefix.clone()])])
                        .await?;
                    return self.in_cluster(cluster, instances).await;
                }
                self.join(cis).await
            }
            Selector::InstanceId(id) => {
                let (instances, cis) = tokio::try_join!(
                    branch(self.instance_facts(id)),
                    branch(async {
                        self.list_and_describe(
                            cluster,
                            None,
                            Some(&instance_filter(std::slice::from_ref(id))),
                            |_| true,
                        )
                        .await
                        .map_err(|e| self.cluster_error(cluster, e))
                    })
                )?;
                let cis: Vec<_> = cis
                    .into_iter()
                    .filter(|ci| &ci.ec2_instance_id == id)
                    .collect();
                if cis.is_empty() {
                    self.check_cluster_exists(cluster).await?;
                    return Err(InventoryError::NotFound {
                        what: format!("container instance of cluster `{cluster}` for {id}"),
                        hint: format!(
                            "{id} is not registered in cluster `{cluster}`; \
                             connect to it directly with `berth ssh {id}`"
                        ),
                    });
                }
                Ok(assemble(instances, cis))
            }
            Selector::Address(ip) => {
                let ip = ip.to_string();
                let (private, public) = tokio::try_join!(
                    branch(
                        self.aws
                            .find_instances(vec![("private-ip-address", vec![ip.clone()])])
                    ),
                    branch(
                        self.aws
                            .find_instances(vec![("ip-address", vec![ip.clone()])])
                    ),
                )?;
                let mut instances = private;
                instances.extend(public);
                instances.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
                instances.dedup_by(|a, b| a.instance_id == b.instance_id);
                self.in_cluster(cluster, instances).await
            }
            Selector::Name(name) => {
                let instances = self
                    .aws
                    .find_instances(vec![("tag:Name", vec![name.clone()])])
                    .await?;
                self.in_cluster(cluster, instances).await
            }
        }
    }

    /// Keeps the instances that are container instances of `cluster`,
    /// looking their ECS side up while their AMIs are fetched.
    async fn in_cluster(
        &self,
        cluster: &str,
        instances: Vec<Instance>,
    ) -> Result<Vec<Host>, InventoryError> {
        if instances.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = instances.iter().map(|i| i.instance_id.clone()).collect();
        let ami_ids: Vec<String> = instances
            .iter()
            .filter_map(|i| i.image_id.clone())
            .collect();
        // A Name shared by a whole Auto Scaling group can match many
        // instances: keep each query expression short, run them together.
        let lookups = ids.chunks(FILTER_IDS).map(|chunk| async move {
            self.list_and_describe(cluster, None, Some(&instance_filter(chunk)), |_| true)
                .await
                .map_err(|e| self.cluster_error(cluster, e))
        });
        let (cis, images) = tokio::try_join!(
            branch(async { Ok(try_join_branches(lookups).await?.concat()) }),
            branch(self.images(&ami_ids))
        )?;
        let cis: Vec<_> = cis
            .into_iter()
            .filter(|ci| ids.contains(&ci.ec2_instance_id))
            .collect();
        if cis.is_empty() {
            self.check_cluster_exists(cluster).await?;
        }
        let mut hosts = assemble((instances, images), cis);
        hosts.retain(|h| h.container_instance.is_some());
        Ok(hosts)
    }

    async fn task_host(&self, cluster: &str, task_id: &str) -> Result<Vec<Host>, InventoryError> {
        let tasks = self
            .aws
            .describe_tasks(cluster, &[task_id.to_owned()])
            .await
            .map_err(|e| self.cluster_error(cluster, e))?;
        let Some(task) = tasks.first() else {
            self.check_cluster_exists(cluster).await?;
            return Err(InventoryError::NotFound {
                what: format!("task `{task_id}` in cluster `{cluster}`"),
                hint: format!(
                    "list the cluster's tasks with `aws ecs list-tasks --cluster {cluster}`"
                ),
            });
        };
        let Some(ci_arn) = &task.container_instance_arn else {
            return Err(InventoryError::NotFound {
                what: format!("container instance for task `{task_id}`"),
                hint: format!(
                    "the task has no container instance: it runs on Fargate, where there \
                     is no host to log in to; get into its container with ECS Exec: \
                     `berth exec {cluster}/task/{task_id}` (what `aws ecs execute-command` does)"
                ),
            });
        };
        let cis = self
            .aws
            .describe_container_instances(cluster, std::slice::from_ref(ci_arn))
            .await?;
        self.join(cis).await
    }

    /// The hosts of a service's tasks, in one query: ECS selects the
    /// container instances hosting tasks of the group `service:NAME`.
    async fn service_hosts(
        &self,
        cluster: &str,
        service: &str,
    ) -> Result<Vec<Host>, InventoryError> {
        let filter = format!("task:group == service:{service}");
        let cis = self
            .list_and_describe(cluster, None, Some(&filter), |_| true)
            .await
            .map_err(|e| self.cluster_error(cluster, e))?;
        if cis.is_empty() {
            self.check_cluster_exists(cluster).await?;
            return Err(InventoryError::NotFound {
                what: format!("running task of service `{service}` on a container instance"),
                hint: format!(
                    "check the service with `aws ecs describe-services --cluster {cluster} \
                     --services {service}` (Fargate tasks have no host to log in to)"
                ),
            });
        }
        self.join(cis).await
    }

    /// The running instances of a VPC that carry tag `key` (any value),
    /// with their AMIs, e.g. the bastions tagged `berth:bastion`.
    pub async fn tagged_in_vpc(
        &self,
        vpc_id: &str,
        key: &str,
    ) -> Result<Vec<Host>, InventoryError> {
        self.running_where(vec![
            ("vpc-id", vec![vpc_id.to_owned()]),
            ("tag-key", vec![key.to_owned()]),
        ])
        .await
    }

    /// The running instances whose Name tag is `name`.
    pub async fn named(&self, name: &str) -> Result<Vec<Host>, InventoryError> {
        self.running_where(vec![("tag:Name", vec![name.to_owned()])])
            .await
    }

    /// The running instances that match `filters`, with their AMIs, in id
    /// order; outside any cluster (bastions).
    async fn running_where(
        &self,
        mut filters: Vec<(&str, Vec<String>)>,
    ) -> Result<Vec<Host>, InventoryError> {
        filters.push(("instance-state-name", vec!["running".to_owned()]));
        let instances = self.aws.find_instances(filters).await?;
        let ami_ids: Vec<String> = instances
            .iter()
            .filter_map(|i| i.image_id.clone())
            .collect();
        let images = self.images(&ami_ids).await?;
        let mut hosts = assemble((instances, images), Vec::new());
        hosts.sort_by(|a, b| a.instance_id().cmp(b.instance_id()));
        Ok(hosts)
    }

    /// One instance by id, without any ECS lookup.
    async fn instances(&self, instance_id: &str) -> Result<Vec<Host>, InventoryError> {
        let instances = self.instance_facts(instance_id).await?;
        Ok(assemble(instances, Vec::new()))
    }

    /// DescribeInstances, then DescribeImages for its AMI unless cached.
    async fn instance_facts(
        &self,
        instance_id: &str,
    ) -> Result<(Vec<Instance>, BTreeMap<String, Image>), InventoryError> {
        let instances = match self.aws.describe_instances(&[instance_id.to_owned()]).await {
            Ok(found) => found,
            Err(e) if e.code().is_some_and(|c| c.starts_with("InvalidInstanceID")) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        if instances.is_empty() {
            return Err(InventoryError::NotFound {
                what: format!("EC2 instance `{instance_id}` in {}", self.aws.region),
                hint: "check the id, and the region (--region) and account (--profile) it lives in"
                    .to_owned(),
            });
        }
        let ami_ids: Vec<String> = instances
            .iter()
            .filter_map(|i| i.image_id.clone())
            .collect();
        let images = self.images(&ami_ids).await?;
        Ok((instances, images))
    }

    /// Joins container instances with their EC2 instances and AMIs. The AMI
    /// ids the agent registered let DescribeImages run beside
    /// DescribeInstances; only AMIs it did not name are fetched afterwards.
    async fn join(&self, cis: Vec<ContainerInstance>) -> Result<Vec<Host>, InventoryError> {
        if cis.is_empty() {
            return Ok(Vec::new());
        }
        // Only EC2 ids go to EC2: one `mi-…` id would fail the whole batch.
        let ids: Vec<String> = cis
            .iter()
            .map(|c| c.ec2_instance_id.clone())
            .filter(|id| crate::model::target::is_instance_id(id))
            .collect();
        let early_amis: Vec<String> = cis.iter().filter_map(|c| c.ami_id.clone()).collect();
        let (instances, images) = tokio::try_join!(
            branch(async {
                self.aws
                    .describe_instances(&ids)
                    .await
                    .map_err(InventoryError::from)
            }),
            branch(self.images(&early_amis)),
        )?;
        self.complete(cis, instances, images, &early_amis).await
    }

    /// Adds what EC2 did not answer for (gone, or not EC2 at all) and the
    /// AMIs the agents did not name, then joins. An AMI asked for already
    /// and not found (deregistered) is not asked for twice.
    async fn complete(
        &self,
        cis: Vec<ContainerInstance>,
        mut instances: Vec<Instance>,
        mut images: BTreeMap<String, Image>,
        asked: &[String],
    ) -> Result<Vec<Host>, InventoryError> {
        let found: HashSet<String> = instances.iter().map(|i| i.instance_id.clone()).collect();
        for ci in &cis {
            if !found.contains(&ci.ec2_instance_id) {
                let state = if crate::model::target::is_instance_id(&ci.ec2_instance_id) {
                    Instance::NOT_FOUND
                } else {
                    Instance::EXTERNAL
                };
                instances.push(Instance::bare(&ci.ec2_instance_id, state));
            }
        }
        let late_amis: BTreeSet<String> = instances
            .iter()
            .filter_map(|i| i.image_id.clone())
            .filter(|id| !images.contains_key(id) && !asked.contains(id))
            .collect();
        if !late_amis.is_empty() {
            let late: Vec<String> = late_amis.into_iter().collect();
            images.extend(self.images(&late).await?);
        }
        Ok(assemble((instances, images), cis))
    }

    /// The cached AMIs among `ids`, and the ids not cached.
    fn cached_images(&self, ids: &[String]) -> (BTreeMap<String, Image>, Vec<String>) {
        let wanted: BTreeSet<&String> = ids.iter().collect();
        let cache = self
            .amis
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut found = BTreeMap::new();
        let mut missing = Vec::new();
        for id in wanted {
            match cache.get(id) {
                Some(image) => {
                    found.insert(id.clone(), image.clone());
                }
                None => missing.push(id.clone()),
            }
        }
        (found, missing)
    }

    /// Keeps fetched AMIs in the cache; the same, by id.
    fn keep_images(&self, fetched: Vec<Image>) -> BTreeMap<String, Image> {
        let mut cache = self
            .amis
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        fetched
            .into_iter()
            .map(|image| {
                cache.insert(image.clone());
                (image.id.clone(), image)
            })
            .collect()
    }

    /// AMI facts by id: from the cache, else one DescribeImages call.
    async fn images(&self, ids: &[String]) -> Result<BTreeMap<String, Image>, InventoryError> {
        let (mut found, missing) = self.cached_images(ids);
        if missing.is_empty() {
            return Ok(found);
        }
        let fetched = self.aws.describe_images(&missing).await?;
        found.extend(self.keep_images(fetched));
        Ok(found)
    }

    /// Maps ECS's "no such cluster" to the error that lists real clusters.
    fn cluster_error(&self, cluster: &str, err: AwsError) -> InventoryError {
        if err.code() == Some("ClusterNotFoundException") {
            return InventoryError::UnknownCluster {
                cluster: cluster.to_owned(),
                region: self.aws.region.clone(),
                existing: Vec::new(),
            };
        }
        err.into()
    }

    /// An empty answer may mean "no such cluster": tell the two apart, and
    /// when it is unknown, name the clusters that do exist.
    async fn check_cluster_exists(&self, cluster: &str) -> Result<(), InventoryError> {
        let found = self.aws.describe_clusters(&[cluster.to_owned()]).await?;
        if found.iter().any(|c| c.status == "ACTIVE") {
            return Ok(());
        }
        Err(InventoryError::UnknownCluster {
            cluster: cluster.to_owned(),
            region: self.aws.region.clone(),
            existing: Vec::new(),
        })
    }

    /// Fills in the cluster names of an `UnknownCluster` error (an extra
    /// ListClusters, paid only on the error path).
    pub async fn explain(&self, err: InventoryError) -> InventoryError {
        match err {
            InventoryError::UnknownCluster {
                cluster, region, ..
            } => {
                let existing = match self.aws.list_cluster_arns().await {
                    Ok(arns) => arns
                        .iter()
                        .filter_map(|a| a.rsplit('/').next().map(str::to_owned))
                        .collect(),
                    Err(_) => Vec::new(),
                };
                InventoryError::UnknownCluster {
                    cluster,
                    region,
                    existing,
                }
            }
            other => other,
        }
    }
}

/// Instance ids per cluster-query expression.
const FILTER_IDS: usize = 50;

/// The cluster query language expression that selects container instances
/// by EC2 instance id.
fn instance_filter(ids: &[String]) -> String {
    match ids {
        [id] => format!("ec2InstanceId == {id}"),
        _ => format!("ec2InstanceId in [{}]", ids.join(", ")),
    }
}

/// Joins EC2 instances with their AMIs and (when known) container instances.
fn assemble(
    (instances, images): (Vec<Instance>, BTreeMap<String, Image>),
    cis: Vec<ContainerInstance>,
) -> Vec<Host> {
    // The first container instance of an EC2 instance, as a list's order has it.
    let mut by_instance: HashMap<String, ContainerInstance> = HashMap::with_capacity(cis.len());
    for ci in cis {
        by_instance.entry(ci.ec2_instance_id.clone()).or_insert(ci);
    }
    instances
        .into_iter()
        .map(|ec2| {
            let image = ec2.image_id.as_ref().and_then(|id| images.get(id)).cloned();
            let ci = by_instance.remove(&ec2.instance_id);
            Host::new(ec2, image, ci)
        })
        .collect()
}

/// Requests a cluster scan has in flight at most.
pub const IN_FLIGHT: usize = 16;

/// EC2 ids per DescribeInstances of a cluster scan: as many as a call takes.
const SCAN_BATCH: usize = 1000;

/// A task's failure to finish, as the call's error.
fn joined(operation: &'static str, err: &tokio::task::JoinError) -> AwsError {
    AwsError::Other {
        operation,
        detail: err.to_string(),
    }
}

/// A spawned request (holding one of the scan's permits while it runs).
type Pending<T> = std::pin::Pin<
    Box<dyn Future<Output = Result<Result<T, AwsError>, tokio::task::JoinError>> + Send>,
>;

/// What a cluster scan found: the hosts, and (when asked for) each
/// managed host's Session Manager agent, or why that could not be known.
pub struct ClusterScan {
    pub hosts: Vec<Host>,
    pub agents: Option<Result<BTreeMap<String, SsmAgent>, AwsError>>,
}

/// The joining side of a cluster scan: described container instances in,
/// EC2, image and SSM requests out as soon as each batch is full.
struct Scan<'a> {
    inventory: &'a Inventory,
    limit: Arc<Semaphore>,
    cis: Vec<ContainerInstance>,
    /// EC2 ids described but not yet sent to DescribeInstances.
    ec2_ids: Vec<String>,
    ec2: Vec<Pending<Vec<Instance>>>,
    /// AMIs the agents named, fetched or being fetched.
    amis: BTreeSet<String>,
    cached: BTreeMap<String, Image>,
    images: Vec<Pending<Vec<Image>>>,
    /// Ids not yet sent to DescribeInstanceInformation (None: not asked).
    ssm_ids: Option<Vec<String>>,
    ssm: Vec<Pending<BTreeMap<String, SsmAgent>>>,
}

impl<'a> Scan<'a> {
    fn new(inventory: &'a Inventory, limit: Arc<Semaphore>, agents: bool) -> Self {
        Self {
            inventory,
            limit,
            cis: Vec::new(),
            ec2_ids: Vec::new(),
            ec2: Vec::new(),
            amis: BTreeSet::new(),
            cached: BTreeMap::new(),
            images: Vec::new(),
            ssm_ids: agents.then(Vec::new),
            ssm: Vec::new(),
        }
    }

    fn spawn<T, F>(&self, work: impl FnOnce(crate::aws::Aws) -> F) -> Pending<T>
    where
        F: Future<Output = Result<T, AwsError>> + Send + 'static,
        T: Send + 'static,
    {
        let limit = Arc::clone(&self.limit);
        let request = work(self.inventory.aws.clone());
        Box::pin(spawn_branch(async move {
            let _permit = limit.acquire_owned().await;
            request.await
        }))
    }

    /// One page of described container instances.
    fn add(&mut self, page: Vec<ContainerInstance>) {
        let mut new_amis = Vec::new();
        for ci in &page {
            if crate::model::target::is_instance_id(&ci.ec2_instance_id) {
                self.ec2_ids.push(ci.ec2_instance_id.clone());
            }
            if let Some(ids) = &mut self.ssm_ids {
                ids.push(ci.ec2_instance_id.clone());
            }
            if let Some(ami) = &ci.ami_id
                && self.amis.insert(ami.clone())
            {
                new_amis.push(ami.clone());
            }
        }
        self.cis.extend(page);
        if !new_amis.is_empty() {
            let (cached, missing) = self.inventory.cached_images(&new_amis);
            self.cached.extend(cached);
            if !missing.is_empty() {
                let pending = self.spawn(|aws| async move { aws.describe_images(&missing).await });
                self.images.push(pending);
            }
        }
        self.send(SCAN_BATCH, SSM_BATCH);
    }

    /// Sends the EC2 and SSM batches that are full (at least `ec2` and
    /// `ssm` ids).
    fn send(&mut self, ec2: usize, ssm: usize) {
        while !self.ec2_ids.is_empty() && self.ec2_ids.len() >= ec2 {
            let n = self.ec2_ids.len().min(SCAN_BATCH);
            let batch: Vec<String> = self.ec2_ids.drain(..n).collect();
            let pending = self.spawn(|aws| async move { aws.describe_instances(&batch).await });
            self.ec2.push(pending);
        }
        let mut batches = Vec::new();
        if let Some(ids) = &mut self.ssm_ids {
            while !ids.is_empty() && ids.len() >= ssm {
                let n = ids.len().min(SSM_BATCH);
                batches.push(ids.drain(..n).collect::<Vec<String>>());
            }
        }
        for batch in batches {
            let pending = self.spawn(|aws| async move { aws.ssm_agents(&batch).await });
            self.ssm.push(pending);
        }
    }

    /// Sends what is left, waits for every answer and joins.
    async fn finish(mut self) -> Result<ClusterScan, InventoryError> {
        self.send(1, 1);
        let mut instances = Vec::new();
        for pending in std::mem::take(&mut self.ec2) {
            instances.extend(
                pending
                    .await
                    .map_err(|e| joined("ec2:DescribeInstances", &e))??,
            );
        }
        let mut images = std::mem::take(&mut self.cached);
        for pending in std::mem::take(&mut self.images) {
            let fetched = pending
                .await
                .map_err(|e| joined("ec2:DescribeImages", &e))??;
            images.extend(self.inventory.keep_images(fetched));
        }
        let agents = if self.ssm_ids.is_some() {
            let mut agents = BTreeMap::new();
            let mut failed = None;
            for pending in std::mem::take(&mut self.ssm) {
                match pending.await {
                    Ok(Ok(found)) => agents.extend(found),
                    Ok(Err(e)) => failed = failed.or(Some(e)),
                    Err(e) => failed = failed.or(Some(joined(SSM_OPERATION, &e))),
                }
            }
            Some(failed.map_or(Ok(agents), Err))
        } else {
            None
        };
        let asked: Vec<String> = self.amis.iter().cloned().collect();
        let hosts = self
            .inventory
            .complete(self.cis, instances, images, &asked)
            .await?;
        Ok(ClusterScan { hosts, agents })
    }
}

/// Ids per DescribeInstanceInformation (one page holds at most 50).
const SSM_BATCH: usize = 50;
const SSM_OPERATION: &str = "ssm:DescribeInstanceInformation";

/// `--tag`, `--az` and `--status`, applied to resolved hosts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFilter {
    pub tags: Vec<(String, String)>,
    pub az: Option<String>,
    pub status: Option<String>,
}

impl HostFilter {
    pub fn matches(&self, host: &Host) -> bool {
        let tags_ok = self
            .tags
            .iter()
            .all(|(k, v)| host.ec2.tags.get(k).is_some_and(|have| have == v));
        let az_ok = self
            .az
            .as_ref()
            .is_none_or(|az| host.ec2.availability_zone.as_ref() == Some(az));
        let status_ok = self.status.as_ref().is_none_or(|s| {
            host.container_instance
                .as_ref()
                .is_some_and(|ci| ci.status.eq_ignore_ascii_case(s))
        });
        tags_ok && az_ok && status_ok
    }

    pub fn is_empty(&self) -> bool {
        self.tags.is_empty() && self.az.is_none() && self.status.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Host {
        let mut host = crate::model::host::example_host();
        host.ec2.tags.insert("role".into(), "web".into());
        if let Some(ci) = host.container_instance.as_mut() {
            ci.status = "DRAINING".into();
        }
        host
    }

    #[test]
    fn instance_filters_follow_the_cluster_query_language() {
        let ids = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            instance_filter(&ids(&["i-12345678"])),
            "ec2InstanceId == i-12345678"
        );
        assert_eq!(
            instance_filter(&ids(&["i-12345678", "i-0123456789abcdef0"])),
            "ec2InstanceId in [i-12345678, i-0123456789abcdef0]"
        );
    }

    #[test]
    fn filters_combine_with_and() {
        let host = sample();
        let f = |tags: &[(&str, &str)], az: Option<&str>, status: Option<&str>| HostFilter {
            tags: tags
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            az: az.map(str::to_owned),
            status: status.map(str::to_owned),
        };
        let table = [
            (f(&[], None, None), true),
            (f(&[("role", "web")], None, None), true),
            (f(&[("role", "db")], None, None), false),
            (f(&[("team", "web")], None, None), false),
            (f(&[], Some("us-east-1a"), None), true),
            (f(&[], Some("us-east-1b"), None), false),
            (f(&[], None, Some("draining")), true),
            (f(&[], None, Some("ACTIVE")), false),
            (
                f(&[("role", "web")], Some("us-east-1a"), Some("DRAINING")),
                true,
            ),
        ];
        for (filter, expected) in table {
            assert_eq!(filter.matches(&host), expected, "{filter:?}");
        }
    }
}
