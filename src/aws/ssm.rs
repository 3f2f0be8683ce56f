//! What Session Manager knows of instances: one DescribeInstanceInformation
//! reader for every command that asks (doctor, `run --engine ssm`).

use std::collections::BTreeMap;

use aws_sdk_ssm::types::InstanceInformationStringFilter;

use super::pages::all_pages;
use super::{Aws, AwsError};
use crate::model::network::SsmState;

/// DescribeInstanceInformation's filter takes at most 50 ids.
const INFORMATION_BATCH: usize = 50;

const OPERATION: &str = "ssm:DescribeInstanceInformation";

impl Aws {
    /// The SSM ping status (`Online`, `ConnectionLost`, …) of each of `ids`
    /// that is a managed instance; the others are missing from the map.
    pub async fn ssm_ping_statuses(
        &self,
        ids: &[String],
    ) -> Result<BTreeMap<String, String>, AwsError> {
        let mut found = BTreeMap::new();
        for batch in ids.chunks(INFORMATION_BATCH) {
            let filter = InstanceInformationStringFilter::builder()
                .key("InstanceIds")
                .set_values(Some(batch.to_vec()))
                .build()
                .map_err(|e| AwsError::Other {
                    operation: OPERATION,
                    detail: e.to_string(),
                })?;
            let pings = all_pages(|token| {
                let filter = filter.clone();
                async move {
                    let out = self
                        .call(
                            OPERATION,
                            self.ssm
                                .describe_instance_information()
                                .filters(filter)
                                .set_next_token(token)
                                .send(),
                        )
                        .await?;
                    let pings: Vec<(String, String)> = out
                        .instance_information_list()
                        .iter()
                        .filter_map(|info| {
                            Some((
                                info.instance_id()?.to_owned(),
                                info.ping_status()?.as_str().to_owned(),
                            ))
                        })
                        .collect();
                    Ok((pings, out.next_token().map(str::to_owned)))
                }
            })
            .await?;
            found.extend(pings);
        }
        Ok(found)
    }

    /// What Session Manager says of one instance.
    pub async fn ssm_state(&self, instance_id: &str) -> Result<SsmState, AwsError> {
        let mut pings = self.ssm_ping_statuses(&[instance_id.to_owned()]).await?;
        Ok(pings
            .remove(instance_id)
            .map_or(SsmState::NotManaged, SsmState::Ping))
    }
}
