//! The AWS boundary: one `SdkConfig` built the way the AWS CLI builds it,
//! clients that count their calls, and wrappers that return berth's own
//! types so that no SDK type leaks past this module.

pub mod ca_bundle;
mod console;
mod ec2;
mod ecs;
mod eice;
pub mod endpoint;
pub mod iam;
pub mod instance_connect;
mod kms;
mod network;
mod pages;
mod run_command;
mod services_section;
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
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use ca_bundle::{CaBundle, CaBundleError};
use endpoint::{Endpoint, EndpointSources, ProfileEndpoints, Service};
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
    /// `$AWS_ACCESS_KEY_ID` and `$AWS_SECRET_ACCESS_KEY` are both set: the
    /// SDK takes these keys first and asks no service for credentials.
    pub env_keys: bool,
    /// What flags and variables say about endpoints; the profile's part
    /// is read when the clients are built ([`endpoint::endpoint_for`]
    /// decides each client's).
    pub endpoints: EndpointSources,
    /// `$AWS_CA_BUNDLE`: a PEM file of CA certificates to trust as well
    /// (before the profile's `ca_bundle`).
    pub env_ca_bundle: Option<String>,
    /// `--aws-timeout`: how long one attempt of a call may take.
    pub timeout: Duration,
}

/// How long one attempt of an AWS call may take unless `--aws-timeout`
/// says otherwise. The SDK itself waits for ever for an answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// How long to wait for a connection to the endpoint (at most).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Attempts per call: the SDK's adaptive retry mode (the standard mode's
/// exponential backoff with jitter and retry quota, plus a client-side
/// rate limit that slows every request down once AWS throttles, for
/// thousands of hosts' worth of calls) with its default count.
pub const MAX_ATTEMPTS: u32 = 3;

/// The clients of one berth run.
#[derive(Debug, Clone)]
pub struct Aws {
    ecs: aws_sdk_ecs::Client,
    ec2: aws_sdk_ec2::Client,
    ssm: aws_sdk_ssm::Client,
    kms: aws_sdk_kms::Client,
    /// ECS Exec's checks: the policy simulator and the caller's identity.
    iam: aws_sdk_iam::Client,
    sts: aws_sdk_sts::Client,
    instance_connect: aws_sdk_ec2instanceconnect::Client,
    /// What signs every call; EC2 Instance Connect Endpoint tunnels too.
    credentials: Option<SharedCredentialsProvider>,
    /// The SSM client's endpoint when one is set (else AWS's own).
    ssm_endpoint: Option<Endpoint>,
    /// `AWS_CA_BUNDLE` or the profile's `ca_bundle`, read: trusted by the
    /// clients here and by berth's own TLS.
    ca_bundle: Option<Arc<CaBundle>>,
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
    #[error(transparent)]
    CaBundle(CaBundleError),
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

/// What berth reads of the AWS profile itself.
#[derive(Debug, Default)]
struct ProfileSettings {
    endpoints: ProfileEndpoints,
    /// `ca_bundle`.
    ca_bundle: Option<String>,
}

/// The endpoint and CA bundle settings of the profile berth uses (`--profile`, else
/// what aws-config selects: `AWS_PROFILE`, else `default`), read from the
/// shared config files as aws-config reads them. A file that cannot be
/// read or parsed counts as none: aws-config itself carries on then.
async fn read_profile(profile: Option<&str>) -> ProfileSettings {
    let selected = profile.map(|p| std::borrow::Cow::Owned(p.to_owned()));
    // The file system, the environment and the files: aws-config's own
    // (the real ones, `~/.aws/config` and `~/.aws/credentials` unless
    // `AWS_CONFIG_FILE`/`AWS_SHARED_CREDENTIALS_FILE` say otherwise).
    // Their types are aws-types' and aws-runtime's, which berth does not
    // name: `Default::default()` is the only spelling without them.
    #[allow(clippy::default_trait_access)]
    let Ok(set) = aws_config::profile::load(
        &Default::default(),
        &Default::default(),
        &Default::default(),
        selected,
    )
    .await
    else {
        return ProfileSettings::default();
    };
    let services = match set.get("services") {
        Some(section) => services_of(section),
        None => std::collections::BTreeMap::new(),
    };
    ProfileSettings {
        endpoints: ProfileEndpoints {
            name: set.selected_profile().to_owned(),
            global: set.get("endpoint_url").map(str::to_owned),
            services,
            ignore: set
                .get("ignore_configured_endpoint_urls")
                .and_then(endpoint::parse_flag),
        },
        ca_bundle: set
            .get("ca_bundle")
            .filter(|p| !p.trim().is_empty())
            .map(str::to_owned),
    }
}

/// The endpoint URLs of the `[services NAME]` section the profile names,
/// for the services berth has clients of (see [`services_section`] for
/// why berth reads it itself).
fn services_of(section: &str) -> std::collections::BTreeMap<String, String> {
    let Some(path) = services_section::config_file_path(|name| std::env::var(name).ok()) else {
        return std::collections::BTreeMap::new();
    };
    let Ok(text) = std::fs::read_to_string(&path) else {
        return std::collections::BTreeMap::new();
    };
    let mut found = services_section::services_section(&text, section);
    Service::ALL
        .iter()
        .filter_map(|service| {
            let key = service.profile_key();
            let url = found.get_mut(&key)?.remove("endpoint_url")?;
            Some((key, url))
        })
        .collect()
}

/// `AWS_CA_BUNDLE`, else the profile's `ca_bundle`, read and checked.
fn read_ca_bundle(
    settings: &AwsSettings,
    profile: &ProfileSettings,
) -> Result<Option<CaBundle>, AwsError> {
    let named = match (&settings.env_ca_bundle, &profile.ca_bundle) {
        (Some(path), _) => (path, "AWS_CA_BUNDLE".to_owned()),
        (None, Some(path)) => (
            path,
            format!("ca_bundle of profile {}", profile.endpoints.name),
        ),
        (None, None) => return Ok(None),
    };
    CaBundle::read(std::path::Path::new(named.0), &named.1)
        .map(Some)
        .map_err(AwsError::CaBundle)
}

/// Whether the SDK's clients can do without TLS: every client's endpoint is
/// plain `http://` (a local endpoint: moto, LocalStack, a stand-in) and the
/// keys come from the environment, so that no credential service (STS,
/// SSO) is called either.
fn without_tls(settings: &AwsSettings, sources: &EndpointSources) -> bool {
    settings.env_keys
        && settings.profile.is_none()
        && Service::ALL.iter().all(|&service| {
            endpoint::endpoint_for(service, sources)
                .is_some_and(|e| e.url.to_ascii_lowercase().starts_with("http://"))
        })
}

/// The SDK's HTTP client as the SDK builds it by default (rustls with
/// aws-lc, the system's roots), with the bundle's certificates trusted
/// too.
fn http_client_trusting(bundle: &CaBundle) -> Result<SharedHttpClient, AwsError> {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
    let context = TlsContext::builder()
        .with_trust_store(TrustStore::default().with_pem_certificate(bundle.to_pem().into_bytes()))
        .build()
        .map_err(|e| AwsError::Other {
            operation: "loading the CA bundle",
            detail: e.to_string(),
        })?;
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(context)
        .build_https())
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
            .retry_config(RetryConfig::adaptive().with_max_attempts(MAX_ATTEMPTS))
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
        let profile = read_profile(settings.profile.as_deref()).await;
        let ca_bundle = read_ca_bundle(settings, &profile)?;
        let sources = EndpointSources {
            profile: profile.endpoints,
            ..settings.endpoints.clone()
        };
        if without_tls(settings, &sources) {
            // Nothing the SDK will connect to uses TLS: no trust store to
            // load (tens of milliseconds where the system's roots are many
            // files).
            loader = loader.http_client(aws_smithy_http_client::Builder::new().build_http());
        } else if let Some(bundle) = &ca_bundle {
            loader = loader.http_client(http_client_trusting(bundle)?);
        }
        let sdk = loader.load().await;
        let region = sdk.region().ok_or(AwsError::NoRegion)?.to_string();
        let endpoint = |service| endpoint::endpoint_for(service, &sources);
        let url = |service| endpoint(service).map(|e| e.url);
        let counter = CallCounter::new(Arc::clone(&log));
        // Each client gets the endpoint berth's rule chose, or none (AWS's
        // own): whatever the SDK took from the environment is replaced.
        let mut ecs = aws_sdk_ecs::config::Builder::from(&sdk);
        ecs.set_endpoint_url(url(Service::Ecs));
        let ecs = aws_sdk_ecs::Client::from_conf(ecs.interceptor(counter.clone()).build());
        let mut ec2 = aws_sdk_ec2::config::Builder::from(&sdk);
        ec2.set_endpoint_url(url(Service::Ec2));
        let ec2 = aws_sdk_ec2::Client::from_conf(ec2.interceptor(counter.clone()).build());
        let ssm_endpoint = endpoint(Service::Ssm);
        let mut ssm = aws_sdk_ssm::config::Builder::from(&sdk);
        ssm.set_endpoint_url(ssm_endpoint.as_ref().map(|e| e.url.clone()));
        let ssm = aws_sdk_ssm::Client::from_conf(ssm.interceptor(counter.clone()).build());
        let mut kms = aws_sdk_kms::config::Builder::from(&sdk);
        kms.set_endpoint_url(url(Service::Kms));
        let kms = aws_sdk_kms::Client::from_conf(kms.interceptor(counter.clone()).build());
        let mut iam = aws_sdk_iam::config::Builder::from(&sdk);
        iam.set_endpoint_url(url(Service::Iam));
        let iam = aws_sdk_iam::Client::from_conf(iam.interceptor(counter.clone()).build());
        let mut sts = aws_sdk_sts::config::Builder::from(&sdk);
        sts.set_endpoint_url(url(Service::Sts));
        let sts = aws_sdk_sts::Client::from_conf(sts.interceptor(counter.clone()).build());
        let mut instance_connect = aws_sdk_ec2instanceconnect::config::Builder::from(&sdk);
        instance_connect.set_endpoint_url(url(Service::Ec2InstanceConnect));
        let instance_connect = aws_sdk_ec2instanceconnect::Client::from_conf(
            instance_connect.interceptor(counter).build(),
        );
        Ok(Self {
            ecs,
            ec2,
            ssm,
            kms,
            iam,
            sts,
            instance_connect,
            credentials: sdk.credentials_provider(),
            ssm_endpoint,
            ca_bundle: ca_bundle.map(Arc::new),
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

    /// Whether Session Manager's stream URLs may be plain `ws://`: only
    /// when the SSM endpoint was set to this machine (a stand-in), never
    /// for AWS's own or any other.
    pub fn plain_streams_allowed(&self) -> bool {
        endpoint::allows_plain_streams(self.ssm_endpoint.as_ref())
    }

    /// The CA bundle berth trusts besides the system's roots, if any.
    pub fn ca_bundle(&self) -> Option<&Arc<CaBundle>> {
        self.ca_bundle.as_ref()
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
