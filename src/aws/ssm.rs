//! Session Manager's control plane: what it knows of instances (one
//! DescribeInstanceInformation reader for every command that asks: doctor,
//! `run --engine ssm`), and the calls that start, resume and end a session.

use std::collections::BTreeMap;

use aws_sdk_ssm::types::InstanceInformationStringFilter;

use super::pages::all_pages;
use super::stats::try_join_branches;
use super::{Aws, AwsError};
use crate::model::network::{PREFERENCES_DOCUMENT, SessionGrant, SsmAgent, SsmState};

/// Ids per DescribeInstanceInformation: a page holds at most 50 instances
/// (MaxResults 5–50), so 50 ids are answered in one page.
const INFORMATION_BATCH: usize = 50;

const OPERATION: &str = "ssm:DescribeInstanceInformation";

impl Aws {
    /// The Session Manager agent of each of `ids` that is a managed
    /// instance; the others are missing from the map. 50 ids a call, as
    /// the API takes them, the calls side by side.
    pub async fn ssm_agents(&self, ids: &[String]) -> Result<BTreeMap<String, SsmAgent>, AwsError> {
        let batches = try_join_branches(
            ids.chunks(INFORMATION_BATCH)
                .map(|batch| self.agents_of(batch)),
        )
        .await?;
        Ok(batches.into_iter().flatten().collect())
    }

    /// One batch (at most 50 ids) of [`Aws::ssm_agents`], every page.
    async fn agents_of(&self, batch: &[String]) -> Result<Vec<(String, SsmAgent)>, AwsError> {
        let filter = InstanceInformationStringFilter::builder()
            .key("InstanceIds")
            .set_values(Some(batch.to_vec()))
            .build()
            .map_err(|e| AwsError::Other {
                operation: OPERATION,
                detail: e.to_string(),
            })?;
        all_pages(|token| {
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
                let agents: Vec<(String, SsmAgent)> = out
                    .instance_information_list()
                    .iter()
                    .filter_map(|info| {
                        Some((
                            info.instance_id()?.to_owned(),
                            SsmAgent {
                                ping_status: info.ping_status()?.as_str().to_owned(),
                                agent_version: info.agent_version().map(str::to_owned),
                                last_ping: info.last_ping_date_time().and_then(|t| {
                                    t.fmt(aws_smithy_types::date_time::Format::DateTime).ok()
                                }),
                            },
                        ))
                    })
                    .collect();
                Ok((agents, out.next_token().map(str::to_owned)))
            }
        })
        .await
    }

    /// The SSM ping status (`Online`, `ConnectionLost`, …) of each of `ids`
    /// that is a managed instance.
    pub async fn ssm_ping_statuses(
        &self,
        ids: &[String],
    ) -> Result<BTreeMap<String, String>, AwsError> {
        Ok(self
            .ssm_agents(ids)
            .await?
            .into_iter()
            .map(|(id, agent)| (id, agent.ping_status))
            .collect())
    }

    /// What Session Manager says of one instance.
    pub async fn ssm_state(&self, instance_id: &str) -> Result<SsmState, AwsError> {
        let mut agents = self.ssm_agents(&[instance_id.to_owned()]).await?;
        Ok(agents
            .remove(instance_id)
            .map_or(SsmState::NotManaged, SsmState::Managed))
    }

    /// The KMS key the account's Session Manager preferences encrypt
    /// sessions with: GetDocument of `SSM-SessionManagerRunShell` (the
    /// document the console's preferences write), its `inputs.kmsKeyId`.
    /// No such document means no preferences, so no key.
    pub async fn session_kms_key(&self) -> Result<Option<String>, AwsError> {
        const GET: &str = "ssm:GetDocument";
        let answer = self
            .call(
                GET,
                self.ssm.get_document().name(PREFERENCES_DOCUMENT).send(),
            )
            .await;
        let out = match answer {
            Ok(out) => out,
            Err(e) if e.code() == Some("InvalidDocument") => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(out.content().and_then(preferences_kms_key))
    }

    /// StartSession on `target` with `document` (none: the shell document)
    /// and its parameters.
    pub async fn start_session(
        &self,
        target: &str,
        document: Option<&str>,
        parameters: &BTreeMap<String, Vec<String>>,
    ) -> Result<SessionGrant, AwsError> {
        let mut request = self.ssm.start_session().target(target);
        if let Some(document) = document {
            request = request.document_name(document);
        }
        for (name, values) in parameters {
            request = request.parameters(name, values.clone());
        }
        let out = self.call("ssm:StartSession", request.send()).await?;
        grant(
            "ssm:StartSession",
            out.session_id(),
            out.token_value(),
            out.stream_url(),
        )
    }

    /// ResumeSession: a new token (and URL) for a session whose websocket
    /// dropped.
    pub async fn resume_session(&self, session_id: &str) -> Result<SessionGrant, AwsError> {
        let out = self
            .call(
                "ssm:ResumeSession",
                self.ssm.resume_session().session_id(session_id).send(),
            )
            .await?;
        grant(
            "ssm:ResumeSession",
            out.session_id().or(Some(session_id)),
            out.token_value(),
            out.stream_url(),
        )
    }

    /// TerminateSession: the service closes the data channel and the agent
    /// ends what the session ran.
    pub async fn terminate_session(&self, session_id: &str) -> Result<(), AwsError> {
        self.call(
            "ssm:TerminateSession",
            self.ssm.terminate_session().session_id(session_id).send(),
        )
        .await?;
        Ok(())
    }
}

/// The preferences' KMS key: `inputs.kmsKeyId`, when set and not empty.
fn preferences_kms_key(content: &str) -> Option<String> {
    let document: serde_json::Value = serde_json::from_str(content).ok()?;
    document["inputs"]["kmsKeyId"]
        .as_str()
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
}

/// A session's answer, all three parts present (an empty token means the
/// session is gone: the reference client calls that a timeout).
fn grant(
    operation: &'static str,
    session_id: Option<&str>,
    token: Option<&str>,
    stream_url: Option<&str>,
) -> Result<SessionGrant, AwsError> {
    match (session_id, token, stream_url) {
        (Some(id), Some(token), Some(url))
            if !id.is_empty() && !token.is_empty() && !url.is_empty() =>
        {
            Ok(SessionGrant {
                session_id: id.to_owned(),
                token: token.to_owned(),
                stream_url: url.to_owned(),
            })
        }
        _ => Err(AwsError::Other {
            operation,
            detail: "the answer has no session id, token or stream URL (the session may have \
                     ended or timed out)"
                .to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preferences_name_their_kms_key_or_none() {
        let with = r#"{"schemaVersion":"1.0","sessionType":"Standard_Stream",
            "inputs":{"s3BucketName":"","kmsKeyId":"alias/sessions","runAsEnabled":false}}"#;
        assert_eq!(preferences_kms_key(with), Some("alias/sessions".to_owned()));
        let empty = r#"{"inputs":{"kmsKeyId":""}}"#;
        assert_eq!(preferences_kms_key(empty), None);
        assert_eq!(preferences_kms_key(r#"{"inputs":{}}"#), None);
        assert_eq!(preferences_kms_key("not json"), None);
    }

    #[test]
    fn a_grant_needs_all_three_parts() {
        let ok = grant(
            "op",
            Some("me-0123"),
            Some("tok"),
            Some("wss://h/v1/data-channel/me-0123"),
        )
        .expect("complete");
        assert_eq!(ok.session_id, "me-0123");
        assert!(!format!("{ok:?}").contains("\"tok\""), "{ok:?}");
        for (id, token, url) in [
            (None, Some("t"), Some("u")),
            (Some("i"), Some(""), Some("u")),
            (Some("i"), Some("t"), None),
        ] {
            assert!(
                grant("op", id, token, url).is_err(),
                "{id:?} {token:?} {url:?}"
            );
        }
    }
}
