//! Which endpoint each AWS client calls: one rule for every service, in
//! one function ([`endpoint_for`]), so that `berth config`, `--help` and
//! the clients agree.
//!
//! aws-config already reads a service's own variable
//! (`AWS_ENDPOINT_URL_<SERVICE_ID>`), `AWS_ENDPOINT_URL` and the profile's
//! `services` section and `endpoint_url` when a client is built from its
//! `SdkConfig`, in the SDKs' order. berth decides itself for two reasons:
//! an endpoint given in code (berth's `--endpoint-url`) makes the SDK drop
//! every service's own setting, so a stand-in for one service could not
//! sit beside `--endpoint-url` (berth special-cased `AWS_ENDPOINT_URL_SSM`
//! for that before); and the aws-config berth builds with does not apply
//! `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` to the service-specific settings
//! (awslabs/aws-sdk-rust#1194). berth sets the endpoint it chose on each
//! client, or clears it so that AWS's own endpoint resolution runs.
//!
//! The rule, first match wins:
//!
//! 1. the service's own variable, `AWS_ENDPOINT_URL_<SERVICE_ID>`;
//! 2. `--endpoint-url`, then `BERTH_ENDPOINT_URL`;
//! 3. `AWS_ENDPOINT_URL`;
//! 4. `endpoint_url` in berth's config file;
//! 5. the profile's `services` section, the service's `endpoint_url`;
//! 6. the profile's own `endpoint_url`;
//! 7. AWS's endpoint for the region.
//!
//! Among AWS's own settings this is the order of the AWS SDKs (a service's
//! variable, the global variable, the profile's service, the profile).
//! `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true` (else the profile's
//! `ignore_configured_endpoint_urls = true`) drops steps 1, 3, 5 and 6, as
//! in the SDKs; berth's own settings still count, as an endpoint given in
//! code does there.

use std::collections::BTreeMap;

/// The services berth builds clients for, with the service id the SDKs
/// name their settings by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Service {
    Ecs,
    Ec2,
    Ssm,
    Ec2InstanceConnect,
    Kms,
    /// For ECS Exec's checks: iam:SimulatePrincipalPolicy.
    Iam,
    /// For ECS Exec's checks: sts:GetCallerIdentity.
    Sts,
}

impl Service {
    pub const ALL: [Service; 7] = [
        Service::Ecs,
        Service::Ec2,
        Service::Ssm,
        Service::Ec2InstanceConnect,
        Service::Kms,
        Service::Iam,
        Service::Sts,
    ];

    /// The service id as the SDK's model has it.
    pub fn id(self) -> &'static str {
        match self {
            Service::Ecs => "ECS",
            Service::Ec2 => "EC2",
            Service::Ssm => "SSM",
            Service::Ec2InstanceConnect => "EC2 Instance Connect",
            Service::Kms => "KMS",
            Service::Iam => "IAM",
            Service::Sts => "STS",
        }
    }

    /// `AWS_ENDPOINT_URL_<ID>`: the id upper-cased, spaces as `_`.
    pub fn env_var(self) -> String {
        format!(
            "AWS_ENDPOINT_URL_{}",
            self.id().to_uppercase().replace(' ', "_")
        )
    }

    /// The key in the profile's `services` section: the id lower-cased,
    /// spaces as `-`.
    pub fn profile_key(self) -> String {
        self.id().to_lowercase().replace(' ', "-")
    }
}

/// What the profile says about endpoints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileEndpoints {
    /// The profile's name, for messages.
    pub name: String,
    /// `endpoint_url`.
    pub global: Option<String>,
    /// The `services` section it names: service key → `endpoint_url`.
    pub services: BTreeMap<String, String>,
    /// `ignore_configured_endpoint_urls`.
    pub ignore: Option<bool>,
}

/// Everything that may name an endpoint: flags and variables (read by
/// `settings`) and the profile (read when the clients are built).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointSources {
    /// `--endpoint-url` or `BERTH_ENDPOINT_URL`, with the name it came by.
    pub berth: Option<(String, &'static str)>,
    /// `AWS_ENDPOINT_URL`.
    pub env_global: Option<String>,
    /// `endpoint_url` in berth's config file.
    pub config_file: Option<String>,
    /// The `AWS_ENDPOINT_URL_<SERVICE>` variables that are set.
    pub env_services: BTreeMap<String, String>,
    /// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`.
    pub env_ignore: Option<bool>,
    pub profile: ProfileEndpoints,
}

/// The endpoint a client calls, and where it was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    /// `AWS_ENDPOINT_URL_SSM`, `--endpoint-url`, `profile dev (services)`, …
    pub source: String,
}

impl EndpointSources {
    /// Whether the endpoint settings of the environment and the profile
    /// are to be ignored: the variable, else the profile's key.
    pub fn ignores_configured(&self) -> bool {
        self.env_ignore.or(self.profile.ignore).unwrap_or(false)
    }
}

/// A true/false setting as the SDKs read it (`true`/`false`, any case).
pub fn parse_flag(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// The endpoint `service`'s client calls (`None`: AWS's own), by the
/// rule in this module's documentation.
pub fn endpoint_for(service: Service, sources: &EndpointSources) -> Option<Endpoint> {
    let configured = !sources.ignores_configured();
    let found = |url: &String, source: String| Endpoint {
        url: url.clone(),
        source,
    };
    let var = service.env_var();
    let profile = &sources.profile;
    let candidates = [
        configured
            .then(|| sources.env_services.get(&var))
            .flatten()
            .map(|url| found(url, var.clone())),
        sources
            .berth
            .as_ref()
            .map(|(url, name)| found(url, (*name).to_owned())),
        configured
            .then_some(sources.env_global.as_ref())
            .flatten()
            .map(|url| found(url, "AWS_ENDPOINT_URL".to_owned())),
        sources
            .config_file
            .as_ref()
            .map(|url| found(url, "endpoint_url in berth's config file".to_owned())),
        configured
            .then(|| profile.services.get(&service.profile_key()))
            .flatten()
            .map(|url| {
                found(
                    url,
                    format!("the services section of profile {}", profile.name),
                )
            }),
        configured
            .then_some(profile.global.as_ref())
            .flatten()
            .map(|url| found(url, format!("endpoint_url of profile {}", profile.name))),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|e| !e.url.trim().is_empty())
}

/// Whether Session Manager's stream URLs may be plain `ws://`, given the
/// SSM client's endpoint: only when it was set to this machine (a
/// stand-in), never with AWS's own endpoint or any other host.
pub fn allows_plain_streams(ssm: Option<&Endpoint>) -> bool {
    ssm.is_some_and(|e| is_loopback(&e.url))
}

/// Whether `url`'s host is this machine: a loopback address or
/// `localhost`.
pub fn is_loopback(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return false;
    }
    let host = if let Some(bracketed) = authority.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_ids_are_spelt_as_the_sdks_spell_them() {
        let spelt: Vec<(String, String)> = Service::ALL
            .iter()
            .map(|s| (s.env_var(), s.profile_key()))
            .collect();
        let want = [
            ("AWS_ENDPOINT_URL_ECS", "ecs"),
            ("AWS_ENDPOINT_URL_EC2", "ec2"),
            ("AWS_ENDPOINT_URL_SSM", "ssm"),
            (
                "AWS_ENDPOINT_URL_EC2_INSTANCE_CONNECT",
                "ec2-instance-connect",
            ),
            ("AWS_ENDPOINT_URL_KMS", "kms"),
            ("AWS_ENDPOINT_URL_IAM", "iam"),
            ("AWS_ENDPOINT_URL_STS", "sts"),
        ];
        assert_eq!(
            spelt,
            want.map(|(v, k)| (v.to_owned(), k.to_owned())).to_vec()
        );
    }

    /// Every source set, each to a URL naming it.
    fn all_set() -> EndpointSources {
        EndpointSources {
            berth: Some(("http://flag".to_owned(), "--endpoint-url")),
            env_global: Some("http://env-global".to_owned()),
            config_file: Some("http://berth-file".to_owned()),
            env_services: [
                ("AWS_ENDPOINT_URL_SSM", "http://env-ssm"),
                ("AWS_ENDPOINT_URL_EC2_INSTANCE_CONNECT", "http://env-eic"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
            env_ignore: None,
            profile: ProfileEndpoints {
                name: "dev".to_owned(),
                global: Some("http://profile-global".to_owned()),
                services: [("ssm", "http://profile-ssm"), ("ecs", "http://profile-ecs")]
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
                ignore: None,
            },
        }
    }

    fn url(service: Service, sources: &EndpointSources) -> String {
        endpoint_for(service, sources).map_or_else(|| "aws".to_owned(), |e| e.url)
    }

    #[test]
    fn each_step_of_the_rule_wins_over_the_ones_after_it() {
        // Take the sources away one by one, from the top of the rule.
        let mut s = all_set();
        let mut seen = Vec::new();
        let steps: [fn(&mut EndpointSources); 6] = [
            |s| {
                s.env_services.remove("AWS_ENDPOINT_URL_SSM");
            },
            |s| s.berth = None,
            |s| s.env_global = None,
            |s| s.config_file = None,
            |s| s.profile.services.clear(),
            |s| s.profile.global = None,
        ];
        seen.push(url(Service::Ssm, &s));
        for step in steps {
            step(&mut s);
            seen.push(url(Service::Ssm, &s));
        }
        assert_eq!(
            seen,
            [
                "http://env-ssm",
                "http://flag",
                "http://env-global",
                "http://berth-file",
                "http://profile-ssm",
                "http://profile-global",
                "aws",
            ]
        );
    }

    #[test]
    fn a_services_own_setting_is_for_that_service_only() {
        let mut s = all_set();
        assert_eq!(url(Service::Ssm, &s), "http://env-ssm");
        assert_eq!(url(Service::Ec2InstanceConnect, &s), "http://env-eic");
        assert_eq!(url(Service::Ec2, &s), "http://flag");
        assert_eq!(url(Service::Ecs, &s), "http://flag");
        s.berth = None;
        s.env_global = None;
        s.config_file = None;
        assert_eq!(url(Service::Ecs, &s), "http://profile-ecs");
        assert_eq!(url(Service::Ec2, &s), "http://profile-global");
        let source = endpoint_for(Service::Ecs, &s).map(|e| e.source);
        assert_eq!(
            source.as_deref(),
            Some("the services section of profile dev")
        );
    }

    #[test]
    fn ignoring_configured_endpoints_keeps_only_berths_own() {
        for (env, profile, ignored) in [
            (Some(true), None, true),
            (None, Some(true), true),
            // The variable beats the profile's key, either way.
            (Some(false), Some(true), false),
            (Some(true), Some(false), true),
            (None, None, false),
        ] {
            let mut s = all_set();
            s.env_ignore = env;
            s.profile.ignore = profile;
            let want = if ignored {
                "http://flag"
            } else {
                "http://env-ssm"
            };
            assert_eq!(url(Service::Ssm, &s), want, "{env:?} {profile:?}");
            s.berth = None;
            let want = if ignored {
                "http://berth-file"
            } else {
                "http://env-ssm"
            };
            assert_eq!(url(Service::Ssm, &s), want, "{env:?} {profile:?}");
            s.config_file = None;
            let want = if ignored { "aws" } else { "http://env-ssm" };
            assert_eq!(url(Service::Ssm, &s), want, "{env:?} {profile:?}");
        }
    }

    #[test]
    fn an_empty_value_is_no_endpoint() {
        let mut s = EndpointSources::default();
        s.env_services
            .insert("AWS_ENDPOINT_URL_SSM".to_owned(), String::new());
        s.env_global = Some("http://env-global".to_owned());
        assert_eq!(url(Service::Ssm, &s), "http://env-global");
    }

    #[test]
    fn flags_read_as_the_sdks_read_them() {
        assert_eq!(parse_flag("TRUE"), Some(true));
        assert_eq!(parse_flag(" false "), Some(false));
        assert_eq!(parse_flag("1"), None);
    }

    #[test]
    fn plain_streams_only_when_the_ssm_endpoint_is_on_this_machine() {
        let at = |url: &str| Endpoint {
            url: url.to_owned(),
            source: "AWS_ENDPOINT_URL_SSM".to_owned(),
        };
        assert!(!allows_plain_streams(None));
        assert!(allows_plain_streams(Some(&at("http://127.0.0.1:4566"))));
        assert!(allows_plain_streams(Some(&at("http://localhost:4566/"))));
        assert!(!allows_plain_streams(Some(&at(
            "https://ssm.eu-west-1.amazonaws.com"
        ))));
        assert!(!allows_plain_streams(Some(&at("http://10.1.2.3:4566"))));
    }

    #[test]
    fn loopback_hosts() {
        for (url, ok) in [
            ("http://127.0.0.1:4000", true),
            ("ws://127.3.0.9/v1", true),
            ("http://localhost:9/x", true),
            ("https://[::1]:9/x", true),
            ("http://10.0.0.1:9", false),
            ("https://ssm.us-east-1.amazonaws.com", false),
            ("http://127.0.0.1.example.com/", false),
            ("http://user@127.0.0.1/", false),
            ("127.0.0.1:4000", false),
        ] {
            assert_eq!(is_loopback(url), ok, "{url}");
        }
    }
}
