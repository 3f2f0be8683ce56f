//! Everything a command needs to know about its surroundings, resolved once
//! from flags, environment and config file (in that order, see
//! [`effective`](crate::effective)). Nothing downstream reads the
//! environment itself.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::aws::AwsSettings;
use crate::aws::endpoint::{EndpointSources, ProfileEndpoints, Service, parse_flag};
use crate::config::{self, Config, ConfigError};
use crate::effective::{
    Candidates, Choice, ClusterName, Effective, Layers, Source, Sourced, Timeout,
};
use crate::model::named::Named as _;
use crate::model::output::{ColorChoice, OutputFormat};
use crate::model::route::Via;

/// Program overrides, so tests (and users) can choose what berth runs.
pub const SSH_PROGRAM_VAR: &str = "BERTH_SSH";
/// The scp program `berth cp` runs (default `scp`).
pub const SCP_PROGRAM_VAR: &str = "BERTH_SCP";
/// A chooser command (fzf, sk, …) to use instead of the built-in picker.
pub const PICKER_VAR: &str = "BERTH_PICKER";
/// The address-echo service `--detect-ip` asks (plain HTTP GET, the answer
/// is the caller's address).
pub const ECHO_URL_VAR: &str = "BERTH_ECHO_URL";
pub const DEFAULT_ECHO_URL: &str = "https://checkip.amazonaws.com/";
/// A FreeRDP-compatible program to run instead of the platform's client.
pub const RDP_CLIENT_VAR: &str = "BERTH_RDP_CLIENT";
/// `ws://HOST:PORT` (or `wss://`): where EC2 Instance Connect Endpoint
/// tunnels are opened instead of `wss://{DnsName}` (a local stand-in).
pub const EICE_URL_VAR: &str = "BERTH_EICE_URL";
/// `openssh` leaves host keys to OpenSSH alone; anything else (the default,
/// `pin`) pins them per instance from the console output.
pub const HOST_KEYS_VAR: &str = "BERTH_HOST_KEYS";

/// The proxy variables as curl (and the AWS CLI) read them: each
/// upper-case name first, then its lower-case one. Values are kept with
/// the name they came from, for messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyEnv {
    pub https: Option<(&'static str, String)>,
    pub http: Option<(&'static str, String)>,
    pub no_proxy: Option<String>,
}

impl ProxyEnv {
    pub fn resolve(env: &dyn Fn(&str) -> Option<String>) -> Self {
        let first = |names: [&'static str; 2]| {
            names
                .into_iter()
                .find_map(|name| env(name).map(|value| (name, value)))
        };
        Self {
            https: first(["HTTPS_PROXY", "https_proxy"]),
            http: first(["HTTP_PROXY", "http_proxy"]),
            no_proxy: first(["NO_PROXY", "no_proxy"]).map(|(_, value)| value),
        }
    }
}

#[derive(Debug, Clone)]
#[allow(clippy::struct_excessive_bools)] // independent switches, each from its own flag or variable
pub struct Settings {
    pub aws: AwsSettings,
    pub verbose: u8,
    pub stats: bool,
    pub output: OutputFormat,
    pub refresh: bool,
    /// `--color`, `BERTH_COLOR`, `color`, then `NO_COLOR` (never).
    pub color: ColorChoice,
    /// How long cached host facts are reused (`--cache-ttl`).
    pub cache_ttl: Duration,
    /// Spinners on stderr for slow phases (on a terminal only; off for
    /// `berth proxy`, whose stderr is ssh's).
    pub progress: bool,
    /// `BERTH_CLUSTER`, else the config's `cluster`: the target of a
    /// command given none.
    pub cluster: Option<String>,
    /// `BERTH_VIA`: the route when `--via` is not given, before the
    /// config file's (which [`Config::via_for`] gives).
    pub via_from_env: Option<Via>,
    pub config: Config,
    /// The config file berth read (or would have read: it may not exist).
    pub config_path: Option<PathBuf>,
    /// Every setting, its value and where it came from (`berth config`).
    pub effective: Vec<Effective>,
    pub home: Option<PathBuf>,
    /// `$XDG_CACHE_HOME/berth`, else `~/.cache/berth`.
    pub cache_dir: Option<PathBuf>,
    /// `$XDG_STATE_HOME/berth`, else `~/.local/state/berth`: the journal
    /// of temporary security-group rules.
    pub state_dir: Option<PathBuf>,
    /// `$XDG_RUNTIME_DIR`: the user's own runtime directory (a tmpfs on
    /// most Linux systems), where one-time keys go.
    pub runtime_dir: Option<PathBuf>,
    /// `$BERTH_ECHO_URL`: the address-echo service of `--detect-ip`.
    pub echo_url: String,
    pub ssh_program: String,
    /// `$BERTH_SCP`: the scp program of `berth cp`.
    pub scp_program: String,
    /// `$BERTH_PICKER`: an external chooser for several matches.
    pub picker: Option<String>,
    /// `$BERTH_RDP_CLIENT`: what `berth rdp` runs unless `--client` says.
    pub rdp_client: Option<String>,
    /// `$BERTH_EICE_URL`: the scheme and host every endpoint tunnel goes
    /// to instead of the endpoint's own.
    pub eice_url: Option<String>,
    /// `HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY` (or their lower-case
    /// names): the proxy endpoint tunnels go through.
    pub proxy: ProxyEnv,
    /// Pin host keys per instance from its console output (unless
    /// `$BERTH_HOST_KEYS` is `openssh`).
    pub pin_host_keys: bool,
    /// `$SSH_AUTH_SOCK` or `$SSH_ASKPASS` is set: ssh has a way to a key's
    /// passphrase (or the key itself) without a terminal.
    pub ssh_passphrase_helper: bool,
}

/// How long one attempt of an AWS call may take unless configured otherwise.
pub const DEFAULT_AWS_TIMEOUT: Duration = Duration::from_secs(20);

/// How long host facts are reused unless configured otherwise.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(60);

/// The global flags as given on the command line (`None`, 0 or `false`
/// where not given), for [`Settings::resolve`]. `cli` fills it from its
/// clap definitions; nothing here knows how they were parsed.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    pub verbose: u8,
    pub stats: bool,
    pub output: Option<OutputFormat>,
    pub refresh: bool,
    pub aws_timeout: Option<Duration>,
    pub color: Option<ColorChoice>,
    pub cache_ttl: Option<Duration>,
}

impl Settings {
    pub fn resolve(global: &Flags) -> Result<Self, ConfigError> {
        let env = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(|v| v.to_string_lossy().into_owned())
        };
        Self::resolve_with(global, &env)
    }

    /// [`resolve`](Self::resolve) with the environment given as a lookup.
    pub fn resolve_with(
        global: &Flags,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let home = env("HOME").map(PathBuf::from);
        let config_path = config::default_path(
            env("BERTH_CONFIG").map(PathBuf::from),
            env("XDG_CONFIG_HOME").map(PathBuf::from),
            home.as_deref(),
        );
        let config = match &config_path {
            Some(path) => Config::load(path, home.as_deref())?,
            None => Config::default(),
        };
        let mut layers = Layers::new(env, config_path.as_deref());
        layers.list(
            "config_file",
            config_path.as_ref().map_or_else(
                || "-".to_owned(),
                |p| {
                    if p.exists() {
                        p.display().to_string()
                    } else {
                        format!("{} (none there)", p.display())
                    }
                },
            ),
            ["BERTH_CONFIG", "XDG_CONFIG_HOME"]
                .into_iter()
                .find(|var| env(var).is_some_and(|v| Path::new(&v).is_absolute()))
                .map_or(Source::Default, |var| Source::Env {
                    var: var.to_owned(),
                }),
        );
        let aws = resolve_aws(global, &config, &mut layers, env)?;
        let cluster = layers.pick(
            Candidates {
                key: "cluster",
                flag: None,
                env: &["BERTH_CLUSTER"],
                file: config.cluster.clone().map(ClusterName),
            },
            None,
        )?;
        let via = layers.pick_or(
            Candidates {
                key: "via",
                flag: None,
                env: &["BERTH_VIA"],
                file: config.via.map(Choice),
            },
            Choice(Via::Auto),
        )?;
        let shown = resolve_presentation(global, &config, &mut layers, env)?;
        list_file_settings(&mut layers, &config);
        list_environment_only(&mut layers, env);
        let effective = layers.listing;

        let cache_dir = env("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| home.as_ref().map(|h| h.join(".cache")))
            .map(|d| d.join("berth"));
        let state_dir = env("XDG_STATE_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| home.as_ref().map(|h| h.join(".local/state")))
            .map(|d| d.join("berth"));
        let runtime_dir = env("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute());
        Ok(Self {
            aws,
            verbose: shown.verbose,
            stats: shown.stats,
            output: shown.output,
            refresh: shown.refresh,
            color: shown.color,
            cache_ttl: shown.cache_ttl,
            progress: true,
            cluster: cluster.map(|c| c.value.0),
            via_from_env: matches!(via.source, Source::Env { .. }).then_some(via.value.0),
            config,
            config_path,
            effective,
            home,
            cache_dir,
            state_dir,
            runtime_dir,
            echo_url: env(ECHO_URL_VAR).unwrap_or_else(|| DEFAULT_ECHO_URL.to_owned()),
            ssh_program: env(SSH_PROGRAM_VAR).unwrap_or_else(|| "ssh".to_owned()),
            scp_program: env(SCP_PROGRAM_VAR).unwrap_or_else(|| "scp".to_owned()),
            picker: env(PICKER_VAR),
            rdp_client: env(RDP_CLIENT_VAR),
            eice_url: env(EICE_URL_VAR),
            proxy: ProxyEnv::resolve(env),
            pin_host_keys: env(HOST_KEYS_VAR).is_none_or(|v| v != "openssh"),
            ssh_passphrase_helper: env("SSH_AUTH_SOCK").is_some() || env("SSH_ASKPASS").is_some(),
        })
    }
}

/// How berth talks and how long it remembers: the settings that need
/// no AWS.
struct Presentation {
    output: OutputFormat,
    color: ColorChoice,
    verbose: u8,
    stats: bool,
    refresh: bool,
    cache_ttl: Duration,
}

fn resolve_presentation(
    global: &Flags,
    config: &Config,
    layers: &mut Layers<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Presentation, ConfigError> {
    let output = layers.pick_or(
        Candidates {
            key: "output",
            flag: global.output.map(|o| (Choice(o), "--output")),
            env: &["BERTH_OUTPUT"],
            file: config.output.map(Choice),
        },
        Choice(OutputFormat::Table),
    )?;
    let color = layers.pick(
        Candidates {
            key: "color",
            flag: global.color.map(|c| (Choice(c), "--color")),
            env: &["BERTH_COLOR"],
            file: config.color.map(Choice),
        },
        None,
    )?;
    // NO_COLOR (no-color.org) below flags and config, above the default.
    let color = match (color, env("NO_COLOR")) {
        (Some(chosen), _) => chosen.value.0,
        (None, Some(_)) => {
            layers.listing.pop();
            layers.list(
                "color",
                "never".to_owned(),
                Source::Env {
                    var: "NO_COLOR".to_owned(),
                },
            );
            ColorChoice::Never
        }
        (None, None) => {
            if let Some(row) = layers.listing.last_mut() {
                "auto".clone_into(&mut row.value);
            }
            ColorChoice::Auto
        }
    };
    let verbose = layers.pick_or(
        Candidates {
            key: "verbose",
            flag: (global.verbose > 0).then_some((global.verbose, "-v")),
            env: &["BERTH_VERBOSE"],
            file: config.verbose,
        },
        0,
    )?;
    let stats = layers.pick_or(
        Candidates {
            key: "stats",
            flag: global.stats.then_some((true, "--stats")),
            env: &["BERTH_STATS"],
            file: config.stats,
        },
        false,
    )?;
    let refresh = layers.pick_or(
        Candidates {
            key: "refresh",
            flag: global.refresh.then_some((true, "--refresh")),
            env: &["BERTH_REFRESH"],
            file: config.refresh,
        },
        false,
    )?;
    let cache_ttl = layers.pick_or(
        Candidates {
            key: "cache_ttl",
            flag: global.cache_ttl.map(|t| (t, "--cache-ttl")),
            env: &["BERTH_CACHE_TTL"],
            file: config.cache_ttl,
        },
        DEFAULT_CACHE_TTL,
    )?;
    Ok(Presentation {
        output: output.value.0,
        color,
        verbose: verbose.value,
        stats: stats.value,
        refresh: refresh.value,
        cache_ttl: cache_ttl.value,
    })
}

impl Settings {
    /// Whether to colour output on a stream (`--color`, `NO_COLOR`, and
    /// for `auto` whether the stream is a terminal).
    pub fn color_on(&self, stream_is_terminal: bool) -> bool {
        match self.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => stream_is_terminal,
        }
    }
}

/// Profile, region and endpoint: berth's own flag and variable, then the
/// AWS CLI's variable, then the config file. What the AWS variables (or
/// nothing) decide is left to the SDK, which reads them itself.
fn resolve_aws(
    global: &Flags,
    config: &Config,
    layers: &mut Layers<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<AwsSettings, ConfigError> {
    let ours = |found: Option<Sourced<String>>| {
        found
            .filter(|f| !matches!(&f.source, Source::Env { var } if var.starts_with("AWS_")))
            .map(|f| f.value)
    };
    let profile = layers.pick(
        Candidates {
            key: "profile",
            flag: global.profile.clone().map(|p| (p, "--profile")),
            env: &["BERTH_PROFILE", "AWS_PROFILE"],
            file: config.profile.clone(),
        },
        Some("default"),
    )?;
    let region = layers.pick(
        Candidates {
            key: "region",
            flag: global.region.clone().map(|r| (r, "--region")),
            env: &["BERTH_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"],
            file: config.region.clone(),
        },
        Some("(the AWS profile's)"),
    )?;
    let endpoint_url = layers.pick(
        Candidates {
            key: "endpoint_url",
            flag: global.endpoint_url.clone().map(|e| (e, "--endpoint-url")),
            env: &["BERTH_ENDPOINT_URL", "AWS_ENDPOINT_URL"],
            file: config.endpoint_url.clone(),
        },
        None,
    )?;
    let timeout = layers.pick_or(
        Candidates {
            key: "aws_timeout",
            flag: global.aws_timeout.map(|t| (Timeout(t), "--aws-timeout")),
            env: &["BERTH_AWS_TIMEOUT"],
            file: config.aws_timeout.map(Timeout),
        },
        Timeout(DEFAULT_AWS_TIMEOUT),
    )?;
    // Each client's endpoint is decided later, by `aws::endpoint`'s rule:
    // here only what the flags and the environment say.
    let berth_endpoint = endpoint_url.as_ref().and_then(|e| match &e.source {
        Source::Flag { .. } => Some((e.value.clone(), "--endpoint-url")),
        Source::Env { var } if var == "BERTH_ENDPOINT_URL" => {
            Some((e.value.clone(), "BERTH_ENDPOINT_URL"))
        }
        _ => None,
    });
    let endpoints = EndpointSources {
        berth: berth_endpoint,
        env_global: env("AWS_ENDPOINT_URL"),
        config_file: config.endpoint_url.clone(),
        env_services: Service::ALL
            .iter()
            .filter_map(|service| {
                let var = service.env_var();
                env(&var).map(|url| (var, url))
            })
            .collect(),
        env_ignore: env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").and_then(|v| parse_flag(&v)),
        profile: ProfileEndpoints::default(),
    };
    Ok(AwsSettings {
        profile: ours(profile),
        region: ours(region),
        endpoint_url: ours(endpoint_url),
        env_profile: env("AWS_PROFILE"),
        env_endpoint_url: env("AWS_ENDPOINT_URL"),
        env_keys: env("AWS_ACCESS_KEY_ID").is_some() && env("AWS_SECRET_ACCESS_KEY").is_some(),
        endpoints,
        env_ca_bundle: env("AWS_CA_BUNDLE"),
        timeout: timeout.value.0,
    })
}

/// The programs and services only a variable sets, for `berth config`.
fn list_environment_only(layers: &mut Layers<'_>, env: &dyn Fn(&str) -> Option<String>) {
    let programs = [
        (SSH_PROGRAM_VAR, "ssh"),
        (SCP_PROGRAM_VAR, "scp"),
        (HOST_KEYS_VAR, "pin"),
        (PICKER_VAR, "(the built-in finder)"),
        (RDP_CLIENT_VAR, "(the platform's)"),
        (EICE_URL_VAR, "(the endpoint's own)"),
        (ECHO_URL_VAR, DEFAULT_ECHO_URL),
    ];
    for (var, default) in programs {
        let (value, source) = match env(var) {
            Some(value) => (
                value,
                Source::Env {
                    var: var.to_owned(),
                },
            ),
            None => (default.to_owned(), Source::Default),
        };
        layers.list(var, value, source);
    }
}

/// The keys only the config file sets, for `berth config`.
fn list_file_settings(layers: &mut Layers<'_>, config: &Config) {
    let paths = |dirs: &[PathBuf]| {
        dirs.iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if config.key_dirs.is_empty() {
        layers.list("key_dirs", "~/.ssh".to_owned(), Source::Default);
    } else {
        layers.file_only(
            "key_dirs".to_owned(),
            format!("{}, ~/.ssh", paths(&config.key_dirs)),
        );
    }
    let mut optional = |key: &str, value: Option<String>, default: &str| match value {
        Some(value) => layers.file_only(key.to_owned(), value),
        None => layers.list(key, default.to_owned(), Source::Default),
    };
    optional("user", config.user.clone(), "(the AMI's)");
    optional("from", config.from.map(|f| f.to_string()), "-");
    optional("bastion", config.bastion.clone(), "(tagged berth:bastion)");
    for (name, cluster) in &config.clusters {
        let keys = [
            ("user", cluster.user.clone()),
            ("via", cluster.via.map(|v| v.name().to_owned())),
            ("bastion", cluster.bastion.clone()),
        ];
        for (key, value) in keys {
            if let Some(value) = value {
                layers.file_only(format!("clusters.{name}.{key}"), value);
            }
        }
    }
    for (vpc, settings) in &config.vpcs {
        if let Some(bastion) = &settings.bastion {
            layers.file_only(format!("vpcs.{vpc}.bastion"), bastion.clone());
        }
    }
    for (i, ami) in config.amis.iter().enumerate() {
        layers.file_only(
            format!("amis[{i}]"),
            format!("name = {:?}, user = {:?}", ami.name, ami.user),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_variables_upper_case_first_then_lower_case() {
        let resolve = |vars: &[(&str, &str)]| {
            let vars: Vec<(String, String)> = vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            ProxyEnv::resolve(&move |name: &str| {
                vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
            })
        };
        assert_eq!(resolve(&[]), ProxyEnv::default());
        let both = resolve(&[
            ("https_proxy", "http://lower:1"),
            ("HTTPS_PROXY", "http://upper:1"),
            ("http_proxy", "http://plain:2"),
            ("no_proxy", ".corp"),
        ]);
        assert_eq!(
            both,
            ProxyEnv {
                https: Some(("HTTPS_PROXY", "http://upper:1".to_owned())),
                http: Some(("http_proxy", "http://plain:2".to_owned())),
                no_proxy: Some(".corp".to_owned()),
            }
        );
    }
}
