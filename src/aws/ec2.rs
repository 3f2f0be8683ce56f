//! EC2 calls, returning berth's model types.

use super::pages::all_pages;
use aws_sdk_ec2::types::Filter;

use super::stats::try_join_branches;
use super::{Aws, AwsError};
use crate::model::host::{Image, Instance};

/// DescribeInstances takes up to 1000 instance ids a call.
pub const INSTANCE_BATCH: usize = 1000;
/// Values per EC2 filter (EC2 accepts at most 200).
const FILTER_VALUES: usize = 200;

pub(super) fn filter(name: &str, values: Vec<String>) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values))
        .build()
}

/// EC2 reports "no public DNS name" as an empty string.
pub(super) fn non_empty(s: Option<&str>) -> Option<String> {
    s.filter(|s| !s.is_empty()).map(str::to_owned)
}

fn convert(i: &aws_sdk_ec2::types::Instance) -> Instance {
    Instance {
        instance_id: i.instance_id().unwrap_or_default().to_owned(),
        state: i
            .state()
            .and_then(|s| s.name())
            .map_or_else(|| "unknown".to_owned(), |n| n.as_str().to_owned()),
        image_id: non_empty(i.image_id()),
        platform: i.platform().map(|p| p.as_str().to_ascii_lowercase()),
        key_name: non_empty(i.key_name()),
        public_dns: non_empty(i.public_dns_name()),
        public_ip: non_empty(i.public_ip_address()),
        private_ip: non_empty(i.private_ip_address()),
        private_dns: non_empty(i.private_dns_name()),
        launch_time: i
            .launch_time()
            .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok()),
        ipv6: non_empty(i.ipv6_address()),
        availability_zone: non_empty(i.placement().and_then(|p| p.availability_zone())),
        vpc_id: non_empty(i.vpc_id()),
        subnet_id: non_empty(i.subnet_id()),
        security_groups: i
            .security_groups()
            .iter()
            .filter_map(|g| g.group_id().map(str::to_owned))
            .collect(),
        tags: i
            .tags()
            .iter()
            .filter_map(|t| {
                Some((
                    t.key()?.to_owned(),
                    t.value().unwrap_or_default().to_owned(),
                ))
            })
            .collect(),
    }
}

impl Aws {
    /// DescribeInstances by id, in concurrent batches of 1000. Unknown ids
    /// fail the call, as EC2 answers `InvalidInstanceID.NotFound`.
    pub async fn describe_instances(&self, ids: &[String]) -> Result<Vec<Instance>, AwsError> {
        let batches = ids.chunks(INSTANCE_BATCH).map(|batch| async move {
            match self
                .describe_instances_where(Some(batch.to_vec()), Vec::new())
                .await
            {
                // One stale id fails the whole call; an `instance-id` filter
                // returns the instances that exist and skips the rest.
                Err(e) if e.code().is_some_and(|c| c.starts_with("InvalidInstanceID")) => {
                    let lookups = batch.chunks(FILTER_VALUES).map(|ids| {
                        self.describe_instances_where(
                            None,
                            vec![filter("instance-id", ids.to_vec())],
                        )
                    });
                    Ok(try_join_branches(lookups).await?.concat())
                }
                other => other,
            }
        });
        Ok(try_join_branches(batches).await?.concat())
    }

    /// DescribeInstances with filters (`tag:Name`, `private-ip-address`, …).
    pub async fn find_instances(
        &self,
        filters: Vec<(&str, Vec<String>)>,
    ) -> Result<Vec<Instance>, AwsError> {
        let filters = filters
            .into_iter()
            .map(|(name, values)| filter(name, values))
            .collect();
        self.describe_instances_where(None, filters).await
    }

    async fn describe_instances_where(
        &self,
        ids: Option<Vec<String>>,
        filters: Vec<Filter>,
    ) -> Result<Vec<Instance>, AwsError> {
        all_pages(|token| {
            let (ids, filters) = (ids.clone(), filters.clone());
            async move {
                let page = self
                    .call(
                        "ec2:DescribeInstances",
                        self.ec2
                            .describe_instances()
                            .set_instance_ids(ids)
                            .set_filters((!filters.is_empty()).then_some(filters))
                            .set_next_token(token)
                            .send(),
                    )
                    .await?;
                let found: Vec<Instance> = page
                    .reservations()
                    .iter()
                    .flat_map(aws_sdk_ec2::types::Reservation::instances)
                    .map(convert)
                    .collect();
                Ok((found, page.next_token().map(str::to_owned)))
            }
        })
        .await
    }

    /// DescribeImages by `image-id` filter, so that a deregistered AMI is
    /// simply absent instead of failing the whole call.
    pub async fn describe_images(&self, ids: &[String]) -> Result<Vec<Image>, AwsError> {
        let batches = ids.chunks(FILTER_VALUES).map(|batch| async move {
            let out = self
                .call(
                    "ec2:DescribeImages",
                    self.ec2
                        .describe_images()
                        .filters(filter("image-id", batch.to_vec()))
                        .send(),
                )
                .await?;
            Ok::<_, AwsError>(
                out.images()
                    .iter()
                    .map(|i| Image {
                        id: i.image_id().unwrap_or_default().to_owned(),
                        name: non_empty(i.name()),
                        description: non_empty(i.description()),
                        owner_id: non_empty(i.owner_id()),
                        platform: i.platform().map(|p| p.as_str().to_ascii_lowercase()),
                    })
                    .collect::<Vec<_>>(),
            )
        });
        Ok(try_join_branches(batches).await?.concat())
    }

    /// GetPasswordData: a Windows instance's Administrator password,
    /// RSA-encrypted to its key pair, in base64. Empty until EC2 has it
    /// (the AWS docs say to allow at least 4 minutes after launch).
    pub async fn get_password_data(&self, instance_id: &str) -> Result<String, AwsError> {
        let out = self
            .call(
                "ec2:GetPasswordData",
                self.ec2.get_password_data().instance_id(instance_id).send(),
            )
            .await?;
        Ok(out.password_data().unwrap_or_default().trim().to_owned())
    }
}
