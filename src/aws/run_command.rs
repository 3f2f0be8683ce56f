//! SSM Run Command calls (`berth run --engine ssm`), returning berth's own
//! types.

use super::pages::all_pages;
use std::collections::BTreeMap;

use aws_sdk_ssm::types::InstanceInformationStringFilter;

use super::{Aws, AwsError};

/// One instance's invocation of a command, as GetCommandInvocation says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub status: String,
    pub details: String,
    pub response_code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// DescribeInstanceInformation's filter takes at most 50 ids.
const INFORMATION_BATCH: usize = 50;

impl Aws {
    /// The SSM ping status (`Online`, `ConnectionLost`, …) of each of `ids`
    /// that is a managed instance.
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
                    operation: "ssm:DescribeInstanceInformation",
                    detail: e.to_string(),
                })?;
            let pings = all_pages(|token| {
                let filter = filter.clone();
                async move {
                    let out = self
                        .call(
                            "ssm:DescribeInstanceInformation",
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

    /// SendCommand of `document` with `commands` to `ids` (at most 50);
    /// the command id.
    pub async fn send_command(
        &self,
        document: &str,
        ids: &[String],
        commands: &[String],
        execution_timeout_secs: Option<u64>,
    ) -> Result<String, AwsError> {
        let mut request = self
            .ssm
            .send_command()
            .document_name(document)
            .set_instance_ids(Some(ids.to_vec()))
            .comment("berth run")
            .parameters("commands", commands.to_vec());
        if let Some(secs) = execution_timeout_secs {
            request = request.parameters("executionTimeout", vec![secs.to_string()]);
        }
        let out = self.call("ssm:SendCommand", request.send()).await?;
        Ok(out
            .command()
            .and_then(|c| c.command_id())
            .unwrap_or_default()
            .to_owned())
    }

    /// ListCommandInvocations of a command: each instance and its status.
    pub async fn command_statuses(
        &self,
        command_id: &str,
    ) -> Result<Vec<(String, String)>, AwsError> {
        all_pages(|token| async move {
            let out = self
                .call(
                    "ssm:ListCommandInvocations",
                    self.ssm
                        .list_command_invocations()
                        .command_id(command_id)
                        .set_next_token(token)
                        .send(),
                )
                .await?;
            let found = out
                .command_invocations()
                .iter()
                .map(|i| {
                    (
                        i.instance_id().unwrap_or_default().to_owned(),
                        i.status().map_or("Pending", |s| s.as_str()).to_owned(),
                    )
                })
                .collect();
            Ok((found, out.next_token().map(str::to_owned)))
        })
        .await
    }

    /// GetCommandInvocation: one instance's result and output.
    pub async fn command_invocation(
        &self,
        command_id: &str,
        instance_id: &str,
    ) -> Result<Invocation, AwsError> {
        let out = self
            .call(
                "ssm:GetCommandInvocation",
                self.ssm
                    .get_command_invocation()
                    .command_id(command_id)
                    .instance_id(instance_id)
                    .send(),
            )
            .await?;
        Ok(Invocation {
            status: out.status().map_or("Pending", |s| s.as_str()).to_owned(),
            details: out.status_details().unwrap_or_default().to_owned(),
            response_code: out.response_code(),
            stdout: out.standard_output_content().unwrap_or_default().to_owned(),
            stderr: out.standard_error_content().unwrap_or_default().to_owned(),
        })
    }
}
