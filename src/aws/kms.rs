//! KMS: the data key a Session Manager session encrypted with KMS needs
//! (`../shared/ssm-protocol.md` §6).

use std::collections::BTreeMap;

use super::{Aws, AwsError};
use crate::model::network::{DataKey, KmsAnswer, KmsKey};

const OPERATION: &str = "kms:GenerateDataKey";

impl Aws {
    /// GenerateDataKey: `bytes` fresh random bytes under the KMS key
    /// `key_id` (an id, ARN or alias), bound to `context` (whoever decrypts
    /// the blob must give the same context).
    pub async fn generate_data_key(
        &self,
        key_id: &str,
        bytes: i32,
        context: &BTreeMap<String, String>,
    ) -> Result<DataKey, AwsError> {
        let mut request = self
            .kms
            .generate_data_key()
            .key_id(key_id)
            .number_of_bytes(bytes);
        for (name, value) in context {
            request = request.encryption_context(name, value);
        }
        let out = self.call(OPERATION, request.send()).await?;
        match (out.plaintext(), out.ciphertext_blob()) {
            (Some(plaintext), Some(blob)) => Ok(DataKey {
                plaintext: plaintext.as_ref().to_vec(),
                ciphertext: blob.as_ref().to_vec(),
            }),
            _ => Err(AwsError::Other {
                operation: OPERATION,
                detail: "the answer has no plaintext key or no ciphertext blob".to_owned(),
            }),
        }
    }
}

impl Aws {
    /// DescribeKey on `key_id` (an id, ARN or alias): the key, or that
    /// there is none, or that the caller may not describe it.
    pub async fn describe_key(&self, key_id: &str) -> Result<KmsAnswer<KmsKey>, AwsError> {
        const DESCRIBE: &str = "kms:DescribeKey";
        let answer = self
            .call(DESCRIBE, self.kms.describe_key().key_id(key_id).send())
            .await;
        let out = match answer {
            Ok(out) => out,
            Err(e) => return refusal(e),
        };
        let Some(meta) = out.key_metadata() else {
            return Err(AwsError::Other {
                operation: DESCRIBE,
                detail: "the answer has no KeyMetadata".to_owned(),
            });
        };
        Ok(KmsAnswer::Found(KmsKey {
            arn: meta.arn().unwrap_or(meta.key_id()).to_owned(),
            state: meta
                .key_state()
                .map_or_else(|| "unknown".to_owned(), |s| s.as_str().to_owned()),
            usage: meta
                .key_usage()
                .map_or_else(|| "unknown".to_owned(), |u| u.as_str().to_owned()),
            spec: meta
                .key_spec()
                .map_or_else(|| "unknown".to_owned(), |s| s.as_str().to_owned()),
        }))
    }

    /// Whether the caller may call GenerateDataKey on `key_id`, asked with
    /// `DryRun` (KMS checks the permission and makes no key): `Found(())`
    /// when KMS answers DryRunOperationException, as it does for a call
    /// that would have succeeded.
    pub async fn may_generate_data_key(&self, key_id: &str) -> Result<KmsAnswer<()>, AwsError> {
        let request = self
            .kms
            .generate_data_key()
            .key_id(key_id)
            .number_of_bytes(DRY_RUN_BYTES)
            .dry_run(true);
        match self.call(OPERATION, request.send()).await {
            // A KMS that ignores DryRun made a key: it is thrown away.
            Ok(_) => Ok(KmsAnswer::Found(())),
            Err(e) if e.code() == Some("DryRunOperationException") => Ok(KmsAnswer::Found(())),
            Err(e) => refusal(e),
        }
    }
}

/// The bytes a session's data key has (`../shared/ssm-protocol.md` §6),
/// asked for in the dry run too.
const DRY_RUN_BYTES: i32 = 64;

/// A KMS error: NotFoundException and AccessDeniedException are answers,
/// anything else an error.
fn refusal<T>(e: AwsError) -> Result<KmsAnswer<T>, AwsError> {
    let message = match &e {
        AwsError::Service { code, message, .. } => format!("{code}: {message}"),
        _ => return Err(e),
    };
    match e.code() {
        Some("NotFoundException") => Ok(KmsAnswer::NotFound(message)),
        Some("AccessDeniedException") => Ok(KmsAnswer::Denied(message)),
        _ => Err(e),
    }
}
