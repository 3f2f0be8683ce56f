//! KMS: the data key a Session Manager session encrypted with KMS needs
//! (`../shared/ssm-protocol.md` §6).

use std::collections::BTreeMap;

use super::{Aws, AwsError};
use crate::model::network::DataKey;

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
