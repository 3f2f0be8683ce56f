//! The AWS boundary: one `SdkConfig` built the way the AWS CLI builds it,
//! clients that count their calls, and wrappers that return berth's own
//! types so that no SDK type leaks past this module.

mod console;
mod ec2;
mod ecs;
mod eice;
pub mod instance_connect;
mod kms;
mod network;
mod pages;
mod run_command;
mod ssm;
pub mod stats;

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

pub use network::{Authorized, GroupRule};
use stats::{CallCounter, CallLog};

/// Where AWS is and who we are there: `--profile`, `--region`,
/// `--endpoint-url`. Anything unset falls back to the standard `AWS_*`
/// environment and the shared config files, exactly as the AWS CLI does.
#[derive(Debug, Clone)]
pub struct AwsSettings {
    /// `--profile`.
    pub profile: Option<String>,
    /// `--region`.
    pub region: Option<String>,
    /// `--endpoint-url`.
    pub endpoint_url: Option<String>,
    /// `$AWS_PROFILE`, to name in messages (the SDK reads it itself).
    pub env_profile: Option<String>,
    /// `$AWS_ENDPOINT_URL`, to keep caches apart (the SDK reads it itself).
    pub env_endpoint_url: Option<String>,
    /// `$AWS_ENDPOINT_URL_SSM`: Session Manager's own endpoint, which wins
    /// over `--endpoint-url` for the SSM client (a local Session Manager
    /// beside a moto that serves the rest).
    pub env_ssm_endpoint_url: Option<String>,
    /// `$AWS_ENDPOINT_URL_KMS`: KMS's own endpoint, which wins over
    /// `--endpoint-url` for the KMS client, as the SSM one does.
    pub env_kms_endpoint_url: Option<String>,
    /// `--aws-timeout`: how long one attempt of a call may take.
    pub timeout: Duration,
}

/// How long one attempt of an AWS call may take unless `--aws-timeout`
/// says otherwise. The SDK itself waits for ever for an answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// How long to wait for a connection to the endpoint (at most).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Attempts per call: the SDK's standard retry mode (exponential backoff
/// with jitter, a retry quota against throttling) with its default count.
pub const MAX_ATTEMPTS: u32 = 3;

/// The clients of one berth run.
#[derive(Debug, Clone)]
pub struct Aws {
    ecs: aws_sdk_ecs::Client,
    ec2: aws_sdk_ec2::Client,
    ssm: aws_sdk_ssm::Client,
    kms: aws_sdk_kms::Client,
    instance_connect: aws_sdk_ec2instanceconnect::Client,
    /// What signs every call; EC2 Instance Connect Endpoint tunnels too.
    credentials: Option<SharedCredentialsProvider>,
    /// `use_fips_endpoint` / `AWS_USE_FIPS_ENDPOINT`: FIPS endpoints only.
    pub use_fips: bool,
    pub region: String,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    pub log: Arc<CallLog>,
    /// How long one attempt of a call may take (`--aws-timeout`).
    pub timeout: Duration,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum AwsError {
    #[error("no AWS region is configured")]
    NoRegion,
    #[error("no usable AWS credentials{}: {detail}", profile_suffix(.profile.as_deref()))]
    Credentials {
        profile: Option<String>,
        detail: String,
    },
    #[error("{operation}: {code}: {message}")]
    Service {
        operation: &'static str,
        code: String,
        message: String,
    },
    #[error("{operation}: cannot reach the AWS endpoint: {detail}")]
    Unreachable {
        operation: &'static str,
        detail: String,
    },
    #[error(
        "{operation}: AWS did not answer within {} ({MAX_ATTEMPTS} attempts)",
        humantime::format_duration(*.timeout)
    )]
    TimedOut {
        operation: &'static str,
        timeout: Duration,
    },
    #[error("{operation} failed: {detail}")]
    Other {
        operation: &'static str,
        detail: String,
    },
}

fn profile_suffix(profile: Option<&str>) -> String {
    profile.map_or_else(String::new, |p| format!(" for profile `{p}`"))
}

impl AwsError {
    /// The service's error code, when AWS answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Service { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// Error codes that mean "your credentials", not "your request".
const CREDENTIAL_CODES: &[&str] = &[
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidAccessKeyId",
    "AuthFailure",
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "SignatureDoesNotMatch",
    "MissingAuthenticationToken",
];

/// Why credentials failed, in words a person can act on.
fn credentials_detail(err: &(dyn StdError + 'static), profile: Option<&str>) -> String {
    let cause = root_cause(err);
    // The profile provider answers "not enabled" when no config or
    // credentials file exists at all.
    match profile {
        Some(p) if cause.contains("not enabled") => {
            format!("profile `{p}` is not defined (no ~/.aws/config or ~/.aws/credentials found)")
        }
        _ => cause,
    }
}

/// The innermost error's message: the part a person can act on.
fn root_cause(err: &(dyn StdError + 'static)) -> String {
    let mut current = err;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

impl Aws {
    /// Loads configuration as the AWS CLI would. `region_override` (from an
    /// ARN in the target) beats `--region` and the environment.
    pub async fn connect(
        settings: &AwsSettings,
        region_override: Option<&str>,
        log: Arc<CallLog>,
    ) -> Result<Self, AwsError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(settings.timeout.min(CONNECT_TIMEOUT))
                    .operation_attempt_timeout(settings.timeout)
                    .build(),
            );
        if let Some(profile) = &settings.profile {
            // As with the AWS CLI, an explicit --profile beats credentials in
            // the environment; AWS_PROFILE alone does not.
            loader = loader.profile_name(profile).credentials_provider(
                ProfileFileCredentialsProvider::builder()
                    .profile_name(profile)
                    .build(),
            );
        }
        if let Some(region) = region_override.or(settings.region.as_deref()) {
            loader = loader.region(Region::new(region.to_owned()));
        }
        if let Some(endpoint) = &settings.endpoint_url {
            loader = loader.endpoint_url(endpoint);
        }
        let sdk = loader.load().await;
        let region = sdk.region().ok_or(AwsError::NoRegion)?.to_string();
        let counter = CallCounter::new(Arc::clone(&log));
        let ecs = aws_sdk_ecs::Client::from_conf(
            aws_sdk_ecs::config::Builder::from(&sdk)
                .interceptor(counter.clone())
                .build(),
        );
        let ec2 = aws_sdk_ec2::Client::from_conf(
            aws_sdk_ec2::config::Builder::from(&sdk)
                .interceptor(counter.clone())
                .build(),
        );
        let mut ssm_config = aws_sdk_ssm::config::Builder::from(&sdk).interceptor(counter.clone());
        if let Some(endpoint) = &settings.env_ssm_endpoint_url {
            ssm_config = ssm_config.endpoint_url(endpoint);
        }
        let ssm = aws_sdk_ssm::Client::from_conf(ssm_config.build());
        let mut kms_config = aws_sdk_kms::config::Builder::from(&sdk).interceptor(counter.clone());
        if let Some(endpoint) = &settings.env_kms_endpoint_url {
            kms_config = kms_config.endpoint_url(endpoint);
        }
        let kms = aws_sdk_kms::Client::from_conf(kms_config.build());
        let instance_connect = aws_sdk_ec2instanceconnect::Client::from_conf(
            aws_sdk_ec2instanceconnect::config::Builder::from(&sdk)
                .interceptor(counter)
                .build(),
        );
        Ok(Self {
            ecs,
            ec2,
            ssm,
            kms,
            instance_connect,
            credentials: sdk.credentials_provider(),
            use_fips: sdk.use_fips().unwrap_or(false),
            region,
            profile: settings
                .profile
                .clone()
                .or_else(|| settings.env_profile.clone()),
            endpoint_url: settings
                .endpoint_url
                .clone()
                .or_else(|| settings.env_endpoint_url.clone()),
            log,
            timeout: settings.timeout,
        })
    }

    /// Sends one request as a step of the critical path (for `--stats`) and
    /// turns its failure into one of berth's. The SDK's request futures are
    /// large: they live on the heap, not in every caller's future.
    fn call<'a, T, E, R>(
        &'a self,
        operation: &'static str,
        request: impl Future<Output = Result<T, SdkError<E, R>>> + 'a,
    ) -> impl Future<Output = Result<T, AwsError>> + 'a
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
        R: std::fmt::Debug + 'static,
    {
        let request = Box::pin(request);
        async move {
            self.log
                .step(request)
                .await
                .map_err(|e| self.error(operation, &e))
        }
    }

    /// Turns an SDK failure into one of berth's, keeping what the user needs.
    fn error<E, R>(&self, operation: &'static str, err: &SdkError<E, R>) -> AwsError
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
        R: std::fmt::Debug + 'static,
    {
        let detail = DisplayErrorContext(err).to_string();
        if let SdkError::ServiceError(service) = err {
            let code = service.err().code().unwrap_or("Unknown").to_owned();
            let message = service.err().message().unwrap_or_default().to_owned();
            if CREDENTIAL_CODES.contains(&code.as_str()) {
                return AwsError::Credentials {
                    profile: self.profile.clone(),
                    detail: format!("{code}: {message}"),
                };
            }
            return AwsError::Service {
                operation,
                code,
                message,
            };
        }
        if detail.contains("credentials") || detail.contains("Credentials") {
            return AwsError::Credentials {
                profile: self.profile.clone(),
                detail: credentials_detail(err, self.profile.as_deref()),
            };
        }
        match err {
            SdkError::DispatchFailure(d) if d.is_timeout() => AwsError::TimedOut {
                operation,
                timeout: self.timeout,
            },
            SdkError::TimeoutError(_) => AwsError::TimedOut {
                operation,
                timeout: self.timeout,
            },
            SdkError::DispatchFailure(d) if d.is_io() => {
                AwsError::Unreachable { operation, detail }
            }
            _ => AwsError::Other { operation, detail },
        }
    }
}
