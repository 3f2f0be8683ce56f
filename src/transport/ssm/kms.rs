//! Where a KMS-encrypted session gets its data key: the layer above
//! implements [`DataKeys`] (it calls KMS GenerateDataKey), so that this
//! layer makes no AWS call, as with [`super::channel::Resume`].
//!
//! What berth asks KMS for and answers the agent with
//! (`../shared/ssm-protocol.md` §6; amazon-ssm-agent's `datachannel`
//! decrypts it with the same context):
//!
//! - GenerateDataKey(KeyId = the key the agent names, NumberOfBytes = 64,
//!   EncryptionContext = {"aws:ssm:SessionId": <session id>,
//!   "aws:ssm:TargetId": <StartSession's Target>});
//! - the KMSEncryption action's result `{"KMSCipherTextKey":
//!   base64(CiphertextBlob)}` ([`action_result`]), and nothing more: no
//!   `"ChallengeAcknowledgement": true`, so the context carries no
//!   `"aws:ssm:RandomChallenge"`. The released session-manager-plugin
//!   answers the same way, and every agent decrypts the key with those two
//!   context entries; an agent that does expect the acknowledgement
//!   (`Kms.RequireKMSChallengeResponse`) refuses such a client, and berth
//!   then says that the agent did not accept the session's encryption.

use std::future::Future;
use std::pin::Pin;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::model::network::DataKey;

/// The data key's length GenerateDataKey is asked for.
pub const DATA_KEY_BYTES: i32 = 64;

/// A session's data keys: GenerateDataKey under `key_id` with the
/// session's encryption context.
pub trait DataKeys: Send + Sync {
    fn data_key<'a>(
        &'a self,
        key_id: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<DataKey, DataKeyError>> + Send + 'a>>;
}

/// Why KMS gave no data key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataKeyError {
    /// KMS said access denied (the caller lacks kms:GenerateDataKey).
    pub denied: bool,
    /// KMS's (or the SDK's) words.
    pub message: String,
}

/// The KMSEncryption action's result for a data key.
pub fn action_result(key: &DataKey) -> serde_json::Value {
    serde_json::json!({ "KMSCipherTextKey": BASE64.encode(&key.ciphertext) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_action_result_is_the_blob_in_base64_and_nothing_else() {
        let key = DataKey {
            plaintext: vec![9; 64],
            ciphertext: b"blob".to_vec(),
        };
        assert_eq!(
            action_result(&key),
            serde_json::json!({ "KMSCipherTextKey": "YmxvYg==" })
        );
    }
}
