//! SSM Run Command calls (`berth run --engine ssm`), returning berth's own
//! types.

use super::pages::all_pages;
use super::{Aws, AwsError};

/// ListCommandInvocations returns at most 50 invocations a page.
const INVOCATIONS_PAGE: i32 = 50;

/// One instance's invocation as ListCommandInvocations (with details)
/// reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub instance_id: String,
    pub status: String,
    pub details: String,
    pub response_code: i32,
    /// The plugins' output (standard error follows standard output there).
    pub output: String,
}

/// One instance's invocation of a command, as GetCommandInvocation says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub status: String,
    pub details: String,
    pub response_code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Aws {
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

    /// ListCommandInvocations of a command, with details, every page (one
    /// for a command sent to at most 50 instances).
    pub async fn command_invocations(&self, command_id: &str) -> Result<Vec<Listed>, AwsError> {
        all_pages(|token| self.command_invocations_page(command_id, token)).await
    }

    /// One page (at most 50 invocations) of ListCommandInvocations of a
    /// command, with details: each instance's status, exit code and the
    /// plugin's output (its first 2,500 characters); the next token.
    async fn command_invocations_page(
        &self,
        command_id: &str,
        token: Option<String>,
    ) -> Result<(Vec<Listed>, Option<String>), AwsError> {
        let out = self
            .call(
                "ssm:ListCommandInvocations",
                self.ssm
                    .list_command_invocations()
                    .command_id(command_id)
                    .details(true)
                    .max_results(INVOCATIONS_PAGE)
                    .set_next_token(token)
                    .send(),
            )
            .await?;
        let found = out
            .command_invocations()
            .iter()
            .map(|i| {
                let plugins = i.command_plugins();
                Listed {
                    instance_id: i.instance_id().unwrap_or_default().to_owned(),
                    status: i.status().map_or("Pending", |s| s.as_str()).to_owned(),
                    details: i.status_details().unwrap_or_default().to_owned(),
                    // One plugin per shell document; the last one's code
                    // is the command's.
                    response_code: plugins
                        .last()
                        .map_or(-1, aws_sdk_ssm::types::CommandPlugin::response_code),
                    output: plugins
                        .iter()
                        .filter_map(|p| p.output())
                        .collect::<Vec<_>>()
                        .concat(),
                }
            })
            .collect();
        Ok((found, out.next_token().map(str::to_owned)))
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
