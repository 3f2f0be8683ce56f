//! EC2 Instance Connect: SendSSHPublicKey lends a public key to one OS user
//! of one instance for [`KEY_LIFETIME`]. The instance's sshd asks for it
//! (on Amazon Linux 2/2023 and Ubuntu, through the ec2-instance-connect
//! package's AuthorizedKeysCommand), so ssh must log in before then.

use std::time::Duration;

use super::{Aws, AwsError};

/// How long EC2 Instance Connect keeps a pushed key (the API Reference:
/// "The key remains for 60 seconds").
pub const KEY_LIFETIME: Duration = Duration::from_secs(60);

/// The IAM action a push needs, for messages.
pub const SEND_ACTION: &str = "ec2-instance-connect:SendSSHPublicKey";

/// Why a key could not be pushed, one variant per error the API documents.
#[derive(Debug, Clone, thiserror::Error)]
pub enum InstanceConnectError {
    #[error(
        "you may not push a key to {instance_id} with EC2 Instance Connect ({code}: {message})"
    )]
    AccessDenied {
        instance_id: String,
        code: String,
        message: String,
    },
    #[error("EC2 Instance Connect finds no instance {instance_id}: {message}")]
    NotFound {
        instance_id: String,
        message: String,
    },
    #[error(
        "EC2 Instance Connect cannot push a key to {instance_id} in its current state: {message}"
    )]
    NotRunning {
        instance_id: String,
        message: String,
    },
    #[error("{instance_id} is unavailable to EC2 Instance Connect for now: {message}")]
    Unavailable {
        instance_id: String,
        message: String,
    },
    #[error("EC2 Instance Connect refused the key for {user}@{instance_id}: {message}")]
    InvalidArgs {
        instance_id: String,
        user: String,
        message: String,
    },
    #[error("EC2 Instance Connect is throttling your requests: {message}")]
    Throttled { message: String },
    #[error("EC2 Instance Connect did not accept the key for {instance_id}")]
    NotAccepted { instance_id: String },
    /// Credentials, the endpoint, or an error the API does not document.
    #[error(transparent)]
    Aws(AwsError),
}

impl InstanceConnectError {
    /// Sorts a failed SendSSHPublicKey by its error code.
    pub fn from_aws(error: AwsError, instance_id: &str, user: &str) -> Self {
        let AwsError::Service { code, message, .. } = &error else {
            return Self::Aws(error);
        };
        let instance_id = instance_id.to_owned();
        let message = message.clone();
        match code.as_str() {
            // AuthException is the service's own "no access to this
            // instance"; IAM's denial is AccessDenied(Exception).
            "AuthException" | "AccessDenied" | "AccessDeniedException" => Self::AccessDenied {
                instance_id,
                code: code.clone(),
                message,
            },
            "EC2InstanceNotFoundException" => Self::NotFound {
                instance_id,
                message,
            },
            "EC2InstanceStateInvalidException" => Self::NotRunning {
                instance_id,
                message,
            },
            "EC2InstanceUnavailableException" | "EC2InstanceTypeInvalidException" => {
                Self::Unavailable {
                    instance_id,
                    message,
                }
            }
            "InvalidArgsException" => Self::InvalidArgs {
                instance_id,
                user: user.to_owned(),
                message,
            },
            "ThrottlingException" => Self::Throttled { message },
            _ => Self::Aws(error),
        }
    }
}

impl crate::model::hint::Hint for InstanceConnectError {
    /// The next step, with the real names filled in.
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::AccessDenied { instance_id, .. } => format!(
                "your IAM identity needs `{SEND_ACTION}` on arn:aws:ec2:REGION:ACCOUNT:instance/{instance_id} \
                 (the AWS docs' EC2 Instance Connect policy, optionally limited with the \
                 ec2:osuser condition); or log in with the key pair's private key: -i FILE"
            ),
            Self::NotFound { instance_id, .. } => format!(
                "check the instance id and the region (--region): `berth ls` lists what berth sees; \
                 `aws ec2 describe-instances --instance-ids {instance_id}`"
            ),
            Self::NotRunning { instance_id, .. } => format!(
                "it stopped or is stopping: start it with `aws ec2 start-instances --instance-ids {instance_id}`, \
                 or pick another host"
            ),
            Self::Unavailable { .. } => "wait a few minutes and try again".to_owned(),
            Self::InvalidArgs { user, .. } => format!(
                "check the login user `{user}` (--user); an ec2-instance-connect package older than \
                 ED25519 support takes RSA keys only: --ephemeral-key-type rsa"
            ),
            Self::Throttled { .. } => "wait a little and try again".to_owned(),
            Self::NotAccepted { .. } => "try again; if it persists, ask AWS support".to_owned(),
            Self::Aws(_) => return None,
        })
    }
}

impl Aws {
    /// Pushes `public_key` (OpenSSH format) for `os_user` of `instance_id`,
    /// usable for [`KEY_LIFETIME`]. `availability_zone` is the instance's
    /// (optional: EC2 Instance Connect looks it up).
    pub async fn send_ssh_public_key(
        &self,
        instance_id: &str,
        os_user: &str,
        public_key: &str,
        availability_zone: Option<&str>,
    ) -> Result<(), InstanceConnectError> {
        let request = self
            .instance_connect
            .send_ssh_public_key()
            .instance_id(instance_id)
            .instance_os_user(os_user)
            .ssh_public_key(public_key)
            .set_availability_zone(availability_zone.map(str::to_owned))
            .send();
        let sent = self
            .call("ec2-instance-connect:SendSSHPublicKey", request)
            .await
            .map_err(|e| InstanceConnectError::from_aws(e, instance_id, os_user))?;
        if sent.success() {
            Ok(())
        } else {
            Err(InstanceConnectError::NotAccepted {
                instance_id: instance_id.to_owned(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::hint::Hint as _;

    fn service(code: &str) -> AwsError {
        AwsError::Service {
            operation: "ec2-instance-connect:SendSSHPublicKey",
            code: code.to_owned(),
            message: "said the service".to_owned(),
        }
    }

    #[test]
    fn each_documented_error_has_its_own_message_and_hint() {
        let sort = |code| InstanceConnectError::from_aws(service(code), "i-0abc", "ec2-user");
        let denied = sort("AccessDeniedException");
        assert!(matches!(denied, InstanceConnectError::AccessDenied { .. }));
        let hint = denied.hint().expect("hint");
        assert!(
            hint.contains(SEND_ACTION) && hint.contains("instance/i-0abc"),
            "{hint}"
        );
        assert!(matches!(
            sort("AuthException"),
            InstanceConnectError::AccessDenied { .. }
        ));

        let stopped = sort("EC2InstanceStateInvalidException");
        assert!(stopped.to_string().contains("i-0abc"), "{stopped}");
        assert!(
            stopped
                .hint()
                .is_some_and(|h| h.contains("aws ec2 start-instances --instance-ids i-0abc"))
        );
        assert!(matches!(
            sort("EC2InstanceNotFoundException"),
            InstanceConnectError::NotFound { .. }
        ));
        assert!(matches!(
            sort("EC2InstanceUnavailableException"),
            InstanceConnectError::Unavailable { .. }
        ));
        assert!(matches!(
            sort("ThrottlingException"),
            InstanceConnectError::Throttled { .. }
        ));
        let invalid = sort("InvalidArgsException");
        assert!(invalid.to_string().contains("ec2-user@i-0abc"), "{invalid}");
        assert!(invalid.hint().is_some_and(|h| h.contains("--user")));

        // Anything else stays an AWS error, credentials included.
        assert!(matches!(
            sort("ServiceException"),
            InstanceConnectError::Aws(AwsError::Service { .. })
        ));
        let creds = InstanceConnectError::from_aws(
            AwsError::Credentials {
                profile: None,
                detail: String::new(),
            },
            "i-0abc",
            "ec2-user",
        );
        assert!(matches!(
            creds,
            InstanceConnectError::Aws(AwsError::Credentials { .. })
        ));
    }
}
