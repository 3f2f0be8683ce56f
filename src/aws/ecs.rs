//! ECS calls, returning berth's model types.

use super::pages::all_pages;
use aws_sdk_ecs::types::ContainerInstanceStatus;

use super::stats::try_join_branches;
use super::{Aws, AwsError};
use crate::model::host::{
    Cluster, ContainerInstance, ExecuteCommandConfiguration, ManagedAgent, TaskContainer,
    TaskPlacement,
};
use crate::model::network::SessionGrant;

/// DescribeClusters, DescribeContainerInstances and DescribeTasks take at
/// most 100 names a call.
pub const ECS_BATCH: usize = 100;

/// UpdateContainerInstancesState takes at most 10 a call.
pub const STATE_BATCH: usize = 10;

impl Aws {
    pub async fn list_cluster_arns(&self) -> Result<Vec<String>, AwsError> {
        all_pages(|token| async move {
            let page = self
                .call(
                    "ecs:ListClusters",
                    self.ecs.list_clusters().set_next_token(token).send(),
                )
                .await?;
            Ok((
                page.cluster_arns().to_vec(),
                page.next_token().map(str::to_owned),
            ))
        })
        .await
    }

    /// DescribeClusters in concurrent batches of 100.
    pub async fn describe_clusters(&self, names: &[String]) -> Result<Vec<Cluster>, AwsError> {
        let batches = names.chunks(ECS_BATCH).map(|batch| async move {
            let out = self
                .call(
                    "ecs:DescribeClusters",
                    self.ecs
                        .describe_clusters()
                        .set_clusters(Some(batch.to_vec()))
                        .send(),
                )
                .await?;
            Ok::<_, AwsError>(
                out.clusters()
                    .iter()
                    .map(|c| Cluster {
                        name: c.cluster_name().unwrap_or_default().to_owned(),
                        arn: c.cluster_arn().unwrap_or_default().to_owned(),
                        status: c.status().unwrap_or_default().to_owned(),
                        container_instances: c.registered_container_instances_count(),
                        running_tasks: c.running_tasks_count(),
                        pending_tasks: c.pending_tasks_count(),
                        active_services: c.active_services_count(),
                    })
                    .collect::<Vec<_>>(),
            )
        });
        Ok(try_join_branches(batches).await?.concat())
    }

    /// One page of ListContainerInstances: the ARNs and the next token.
    pub async fn list_container_instances_page(
        &self,
        cluster: &str,
        status: Option<&str>,
        filter: Option<&str>,
        token: Option<String>,
    ) -> Result<(Vec<String>, Option<String>), AwsError> {
        let page = self
            .call(
                "ecs:ListContainerInstances",
                self.ecs
                    .list_container_instances()
                    .cluster(cluster)
                    .set_status(status.map(ContainerInstanceStatus::from))
                    .set_filter(filter.map(str::to_owned))
                    .set_next_token(token)
                    .max_results(100)
                    .send(),
            )
            .await?;
        Ok((
            page.container_instance_arns().to_vec(),
            page.next_token().map(str::to_owned),
        ))
    }

    /// DescribeContainerInstances in concurrent batches of 100. Ids that do
    /// not exist are left out, as ECS reports them as failures.
    pub async fn describe_container_instances(
        &self,
        cluster: &str,
        ids: &[String],
    ) -> Result<Vec<ContainerInstance>, AwsError> {
        let batches = ids.chunks(ECS_BATCH).map(|batch| async move {
            let out = self
                .call(
                    "ecs:DescribeContainerInstances",
                    self.ecs
                        .describe_container_instances()
                        .cluster(cluster)
                        .set_container_instances(Some(batch.to_vec()))
                        .send(),
                )
                .await?;
            Ok::<_, AwsError>(
                out.container_instances()
                    .iter()
                    .map(|ci| {
                        let arn = ci.container_instance_arn().unwrap_or_default().to_owned();
                        ContainerInstance {
                            id: arn.rsplit('/').next().unwrap_or_default().to_owned(),
                            arn,
                            cluster: cluster.to_owned(),
                            ec2_instance_id: ci.ec2_instance_id().unwrap_or_default().to_owned(),
                            status: ci.status().unwrap_or_default().to_owned(),
                            agent_connected: ci.agent_connected(),
                            running_tasks: ci.running_tasks_count(),
                            pending_tasks: ci.pending_tasks_count(),
                            ami_id: ci
                                .attributes()
                                .iter()
                                .find(|a| a.name() == "ecs.ami-id")
                                .and_then(|a| a.value())
                                .map(str::to_owned),
                        }
                    })
                    .collect::<Vec<_>>(),
            )
        });
        Ok(try_join_branches(batches).await?.concat())
    }

    /// DescribeTasks in concurrent batches of 100.
    pub async fn describe_tasks(
        &self,
        cluster: &str,
        ids: &[String],
    ) -> Result<Vec<TaskPlacement>, AwsError> {
        let batches = ids.chunks(ECS_BATCH).map(|batch| async move {
            let out = self
                .call(
                    "ecs:DescribeTasks",
                    self.ecs
                        .describe_tasks()
                        .cluster(cluster)
                        .set_tasks(Some(batch.to_vec()))
                        .send(),
                )
                .await?;
            Ok::<_, AwsError>(
                out.tasks()
                    .iter()
                    .map(|t| TaskPlacement {
                        arn: t.task_arn().unwrap_or_default().to_owned(),
                        container_instance_arn: t
                            .container_instance_arn()
                            .filter(|arn| !arn.is_empty())
                            .map(str::to_owned),
                        task_definition: t
                            .task_definition_arn()
                            .and_then(|arn| arn.rsplit('/').next())
                            .map(str::to_owned),
                        containers: t.containers().iter().map(task_container).collect(),
                        launch_type: t
                            .launch_type()
                            .map(|l| l.as_str().to_owned())
                            .filter(|l| !l.is_empty()),
                        platform_version: t
                            .platform_version()
                            .filter(|v| !v.is_empty())
                            .map(str::to_owned),
                        enable_execute_command: t.enable_execute_command(),
                        group: t.group().filter(|g| !g.is_empty()).map(str::to_owned),
                        last_status: t.last_status().map(str::to_owned),
                        subnet_id: t
                            .attachments()
                            .iter()
                            .flat_map(aws_sdk_ecs::types::Attachment::details)
                            .find(|d| d.name() == Some("subnetId"))
                            .and_then(|d| d.value())
                            .map(str::to_owned),
                    })
                    .collect::<Vec<_>>(),
            )
        });
        Ok(try_join_branches(batches).await?.concat())
    }

    /// ListTasks of a service's tasks (those desired running), every page.
    pub async fn list_service_tasks(
        &self,
        cluster: &str,
        service: &str,
    ) -> Result<Vec<String>, AwsError> {
        self.list_tasks(cluster, TasksOf::Service(service)).await
    }

    /// ExecuteCommand (ECS Exec): a Session Manager session into
    /// `container` of `task` running `command` (the API accepts only
    /// interactive sessions).
    pub async fn execute_command(
        &self,
        cluster: &str,
        task: &str,
        container: &str,
        command: &str,
    ) -> Result<SessionGrant, AwsError> {
        let out = self
            .call(
                "ecs:ExecuteCommand",
                self.ecs
                    .execute_command()
                    .cluster(cluster)
                    .task(task)
                    .container(container)
                    .command(command)
                    .interactive(true)
                    .send(),
            )
            .await?;
        let session = out.session();
        let field = |v: Option<&str>| v.unwrap_or_default().to_owned();
        Ok(SessionGrant {
            session_id: field(session.and_then(|s| s.session_id())),
            token: field(session.and_then(|s| s.token_value())),
            stream_url: field(session.and_then(|s| s.stream_url())),
        })
    }

    /// The cluster's `executeCommandConfiguration` (DescribeClusters with
    /// `CONFIGURATIONS`); none when the cluster has none.
    pub async fn exec_configuration(
        &self,
        cluster: &str,
    ) -> Result<Option<ExecuteCommandConfiguration>, AwsError> {
        let out = self
            .call(
                "ecs:DescribeClusters",
                self.ecs
                    .describe_clusters()
                    .clusters(cluster)
                    .include(aws_sdk_ecs::types::ClusterField::Configurations)
                    .send(),
            )
            .await?;
        Ok(out
            .clusters()
            .first()
            .and_then(|c| c.configuration())
            .and_then(|c| c.execute_command_configuration())
            .map(|c| ExecuteCommandConfiguration {
                logging: c.logging().map(|l| l.as_str().to_owned()),
                kms_key_id: c.kms_key_id().map(str::to_owned),
                log_group: c
                    .log_configuration()
                    .and_then(|l| l.cloud_watch_log_group_name())
                    .map(str::to_owned),
                s3_bucket: c
                    .log_configuration()
                    .and_then(|l| l.s3_bucket_name())
                    .map(str::to_owned),
            }))
    }

    /// The `taskRoleArn` of a task definition (`family:revision` or ARN).
    pub async fn task_role(&self, task_definition: &str) -> Result<Option<String>, AwsError> {
        let out = self
            .call(
                "ecs:DescribeTaskDefinition",
                self.ecs
                    .describe_task_definition()
                    .task_definition(task_definition)
                    .send(),
            )
            .await?;
        Ok(out
            .task_definition()
            .and_then(|d| d.task_role_arn())
            .filter(|r| !r.is_empty())
            .map(str::to_owned))
    }

    /// ListTasks of one container instance, every page.
    pub async fn list_tasks_on(
        &self,
        cluster: &str,
        container_instance_arn: &str,
    ) -> Result<Vec<String>, AwsError> {
        self.list_tasks(cluster, TasksOf::ContainerInstance(container_instance_arn))
            .await
    }

    /// ListTasks of `cluster` narrowed to `of`, every page.
    async fn list_tasks(&self, cluster: &str, of: TasksOf<'_>) -> Result<Vec<String>, AwsError> {
        all_pages(|token| async move {
            let request = self.ecs.list_tasks().cluster(cluster).set_next_token(token);
            let request = match of {
                TasksOf::Service(name) => request.service_name(name),
                TasksOf::ContainerInstance(arn) => request.container_instance(arn),
            };
            let out = self.call("ecs:ListTasks", request.send()).await?;
            Ok((
                out.task_arns().to_vec(),
                out.next_token().map(str::to_owned),
            ))
        })
        .await
    }

    /// UpdateContainerInstancesState (`ACTIVE` or `DRAINING`), 10 container
    /// instances a call as the API takes them; the ids ECS could not
    /// update, with its reason.
    pub async fn set_container_instances_state(
        &self,
        cluster: &str,
        arns: &[String],
        status: &str,
    ) -> Result<Vec<(String, String)>, AwsError> {
        let mut failures = Vec::new();
        for batch in arns.chunks(STATE_BATCH) {
            let out = self
                .call(
                    "ecs:UpdateContainerInstancesState",
                    self.ecs
                        .update_container_instances_state()
                        .cluster(cluster)
                        .set_container_instances(Some(batch.to_vec()))
                        .status(ContainerInstanceStatus::from(status))
                        .send(),
                )
                .await?;
            failures.extend(out.failures().iter().map(|f| {
                (
                    f.arn().unwrap_or_default().to_owned(),
                    f.reason().unwrap_or("no reason given").to_owned(),
                )
            }));
        }
        Ok(failures)
    }
}

/// One container of DescribeTasks' answer.
fn task_container(c: &aws_sdk_ecs::types::Container) -> TaskContainer {
    TaskContainer {
        name: c.name().unwrap_or_default().to_owned(),
        runtime_id: c
            .runtime_id()
            .filter(|id| !id.is_empty())
            .map(str::to_owned),
        last_status: c.last_status().map(str::to_owned),
        managed_agents: c
            .managed_agents()
            .iter()
            .map(|a| ManagedAgent {
                name: a.name().map(|n| n.as_str().to_owned()).unwrap_or_default(),
                last_status: a.last_status().map(str::to_owned),
                reason: a.reason().map(str::to_owned),
            })
            .collect(),
    }
}

/// Which tasks of a cluster ListTasks is asked for.
#[derive(Debug, Clone, Copy)]
enum TasksOf<'a> {
    Service(&'a str),
    ContainerInstance(&'a str),
}
