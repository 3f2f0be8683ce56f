//! The config file: `$BERTH_CONFIG`, else `$XDG_CONFIG_HOME/berth/config.toml`,
//! else `~/.config/berth/config.toml`. A missing file is an empty config; a
//! malformed one is an error that names the file, the line and the key.
//!
//! Every global flag has a key of the same name here (and a `BERTH_<NAME>`
//! variable, see [`settings`](crate::settings)): flag > environment > this
//! file > default.
//!
//! ```toml
//! profile = "ops"             # AWS profile (unless --profile or AWS_PROFILE)
//! region = "eu-west-1"        # AWS region (unless --region or AWS_REGION)
//! cluster = "prod"            # the target when a command is given none
//! key_dirs = ["~/keys/aws"]   # searched before ~/.ssh for KEYNAME.pem
//! user = "ec2-user"           # login user when no tag or flag names one
//! via = "private"             # default route
//! from = "198.51.100.7/32"    # your address, for doctor and --open
//! bastion = "i-0abc…"         # the bastion for hosts without a public address
//! cache_ttl = "60s"           # how long host facts are reused
//!
//! [clusters.prod]
//! user = "ops"
//! via = "public"
//! bastion = "ops/jump-1"      # any `berth ssh` target
//!
//! [vpcs.vpc-0123456789abcdef0]
//! bastion = "i-0def…"         # a VPC's own bastion (beats the global one)
//!
//! [[amis]]
//! name = "acme-base-*"        # the AMI's name; `*` and `?` match anything
//! user = "acme"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::model::output::{ColorChoice, OutputFormat};
use crate::model::route::Via;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `--profile`'s default.
    #[serde(default, deserialize_with = "non_empty")]
    pub profile: Option<String>,
    /// `--region`'s default.
    #[serde(default, deserialize_with = "non_empty")]
    pub region: Option<String>,
    /// `--endpoint-url`'s default.
    #[serde(default, deserialize_with = "non_empty")]
    pub endpoint_url: Option<String>,
    /// The cluster a command works on when it is given no target.
    #[serde(default, deserialize_with = "cluster_name")]
    pub cluster: Option<String>,
    pub output: Option<OutputFormat>,
    pub color: Option<ColorChoice>,
    pub verbose: Option<u8>,
    pub stats: Option<bool>,
    pub refresh: Option<bool>,
    /// How long host facts are reused (`--cache-ttl`).
    #[serde(default, deserialize_with = "duration")]
    pub cache_ttl: Option<Duration>,
    /// How long one attempt of an AWS call may take (`--aws-timeout`).
    #[serde(default, deserialize_with = "positive_duration")]
    pub aws_timeout: Option<Duration>,
    #[serde(default)]
    pub key_dirs: Vec<PathBuf>,
    #[serde(default, deserialize_with = "non_empty")]
    pub user: Option<String>,
    pub via: Option<Via>,
    /// Where the operator connects from (`--from`'s default).
    pub from: Option<ipnet::IpNet>,
    /// The bastion (a target) for hosts no other setting covers.
    #[serde(default, deserialize_with = "non_empty")]
    pub bastion: Option<String>,
    #[serde(default)]
    pub clusters: BTreeMap<String, ClusterConfig>,
    #[serde(default)]
    pub vpcs: BTreeMap<String, VpcConfig>,
    /// Login users by AMI name, in file order: the first match wins.
    #[serde(default)]
    pub amis: Vec<AmiConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    #[serde(default, deserialize_with = "non_empty")]
    pub user: Option<String>,
    pub via: Option<Via>,
    #[serde(default, deserialize_with = "non_empty")]
    pub bastion: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpcConfig {
    #[serde(default, deserialize_with = "non_empty")]
    pub bastion: Option<String>,
}

/// `[[amis]]`: the login user of the AMIs whose name matches a pattern.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmiConfig {
    /// A pattern on the AMI's name: `*` is any run of characters, `?` any
    /// one character, everything else itself.
    #[serde(deserialize_with = "required_non_empty")]
    pub name: String,
    #[serde(deserialize_with = "required_non_empty")]
    pub user: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "config file {} is not valid: {}{}{message}",
        .path.display(),
        .line.map(|l| format!("line {l}, ")).unwrap_or_default(),
        .key.as_ref().map(|k| format!("key `{k}`: ")).unwrap_or_default()
    )]
    Parse {
        path: PathBuf,
        /// 1-based.
        line: Option<usize>,
        /// The dotted key the mistake is in (`clusters.prod.via`).
        key: Option<String>,
        message: String,
    },
    #[error("{var}={value}: {message}")]
    Environment {
        var: String,
        value: String,
        message: String,
    },
}

/// Where in the file a parse error is.
#[derive(Debug, PartialEq, Eq)]
struct ParseFailure {
    line: Option<usize>,
    key: Option<String>,
    message: String,
}

impl ConfigError {
    /// The file at fault (none for a bad environment variable).
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::Read { path, .. } | Self::Parse { path, .. } => Some(path),
            Self::Environment { .. } => None,
        }
    }
}

impl std::fmt::Display for ParseFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}, ")?;
        }
        if let Some(key) = &self.key {
            write!(f, "key `{key}`: ")?;
        }
        f.write_str(&self.message)
    }
}

impl Config {
    /// Reads `path`; a file that does not exist is an empty config.
    pub fn load(path: &Path, home: Option<&Path>) -> Result<Self, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        Self::parse_located(&text, home).map_err(|failure| ConfigError::Parse {
            path: path.to_owned(),
            line: failure.line,
            key: failure.key,
            message: failure.message,
        })
    }

    /// Parses config text (`~` in key_dirs expands to `home`); the message
    /// says what is wrong and where (`line 3, key `via`: …`).
    pub fn parse(text: &str, home: Option<&Path>) -> Result<Self, String> {
        Self::parse_located(text, home).map_err(|failure| failure.to_string())
    }

    fn parse_located(text: &str, home: Option<&Path>) -> Result<Self, ParseFailure> {
        let mut config: Self = toml::from_str(text).map_err(|e| {
            let at = e.span().map(|span| span.start);
            ParseFailure {
                line: at.map(|at| line_of(text, at)),
                key: at.and_then(|at| key_at(text, at)),
                message: e.message().trim().to_owned(),
            }
        })?;
        config.key_dirs = config
            .key_dirs
            .iter()
            .map(|d| expand_tilde(d, home))
            .collect();
        Ok(config)
    }

    /// The configured user for a host: its cluster's, else the first
    /// `[[amis]]` pattern its AMI's name matches, else the global one.
    pub fn user_for(&self, cluster: Option<&str>, ami_name: Option<&str>) -> Option<String> {
        let by_cluster = cluster
            .and_then(|c| self.clusters.get(c))
            .and_then(|c| c.user.clone());
        let by_ami = || {
            let name = ami_name?;
            self.amis
                .iter()
                .find(|ami| glob_matches(&ami.name, name))
                .map(|ami| ami.user.clone())
        };
        by_cluster.or_else(by_ami).or_else(|| self.user.clone())
    }

    /// The configured bastion for a cluster, else for a VPC, else the
    /// global one; with the key it was found under.
    pub fn bastion_for(
        &self,
        cluster: Option<&str>,
        vpc: Option<&str>,
    ) -> Option<(String, String)> {
        let by_cluster = cluster.and_then(|c| {
            let bastion = self.clusters.get(c)?.bastion.clone()?;
            Some((bastion, format!("clusters.{c}.bastion")))
        });
        let by_vpc = || {
            vpc.and_then(|v| {
                let bastion = self.vpcs.get(v)?.bastion.clone()?;
                Some((bastion, format!("vpcs.{v}.bastion")))
            })
        };
        let global = || self.bastion.clone().map(|b| (b, "bastion".to_owned()));
        by_cluster.or_else(by_vpc).or_else(global)
    }

    /// The configured route for a cluster, else the global one.
    pub fn via_for(&self, cluster: Option<&str>) -> Option<Via> {
        cluster
            .and_then(|c| self.clusters.get(c))
            .and_then(|c| c.via)
            .or(self.via)
    }
}

/// `*` matches any run of characters, `?` any one; the rest matches itself.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    // The classic two-pointer match with backtracking to the last `*`.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// The 1-based line of byte `offset`.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(0, |before| before.matches('\n').count())
        + 1
}

/// The dotted key whose line holds byte `offset`: the table header in
/// force there, joined with the key before `=` on that line (or the
/// header itself, when the offset is on one).
fn key_at(text: &str, offset: usize) -> Option<String> {
    let line_start = text.get(..offset)?.rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or_default().trim();
    let header = |line: &str| {
        let line = line.trim();
        let inner = line
            .strip_prefix("[[")
            .and_then(|l| l.split("]]").next())
            .or_else(|| line.strip_prefix('[').and_then(|l| l.split(']').next()))?;
        Some(unquote_key(inner))
    };
    if let Some(table) = header(line) {
        return Some(table);
    }
    let table = text[..line_start]
        .lines()
        .rev()
        .find_map(header)
        .filter(|t| !t.is_empty());
    let key = line
        .split_once('=')
        .map(|(key, _)| unquote_key(key))
        .filter(|k| !k.is_empty());
    match (table, key) {
        (Some(table), Some(key)) => Some(format!("{table}.{key}")),
        (None, key) => key,
        (table, None) => table,
    }
}

/// `clusters."prod"` → `clusters.prod`, for messages.
fn unquote_key(key: &str) -> String {
    key.split('.')
        .map(|part| part.trim().trim_matches('"').trim_matches('\''))
        .collect::<Vec<_>>()
        .join(".")
}

fn non_empty<'de, D: Deserializer<'de>>(de: D) -> Result<Option<String>, D::Error> {
    required_non_empty(de).map(Some)
}

fn required_non_empty<'de, D: Deserializer<'de>>(de: D) -> Result<String, D::Error> {
    let value = String::deserialize(de)?;
    if value.trim().is_empty() {
        return Err(serde::de::Error::custom("must not be empty"));
    }
    Ok(value)
}

fn cluster_name<'de, D: Deserializer<'de>>(de: D) -> Result<Option<String>, D::Error> {
    let value = String::deserialize(de)?;
    crate::model::target::bare_cluster(&value)
        .map(Some)
        .ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{value}` is not a cluster name (letters, digits, `-` and `_`)"
            ))
        })
}

fn positive_duration<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Duration>, D::Error> {
    match duration(de)? {
        Some(d) if d.is_zero() => Err(serde::de::Error::custom("must be more than 0")),
        d => Ok(d),
    }
}

fn duration<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Duration>, D::Error> {
    let value = String::deserialize(de)?;
    humantime::parse_duration(&value).map(Some).map_err(|e| {
        serde::de::Error::custom(format!("`{value}` is not a duration like 60s or 5m: {e}"))
    })
}

/// Where the config file lives, from the environment.
pub fn default_path(
    berth_config: Option<PathBuf>,
    xdg_config_home: Option<PathBuf>,
    home: Option<&Path>,
) -> Option<PathBuf> {
    berth_config.or_else(|| {
        xdg_config_home
            .filter(|p| p.is_absolute())
            .or_else(|| home.map(|h| h.join(".config")))
            .map(|dir| dir.join("berth").join("config.toml"))
    })
}

fn expand_tilde(path: &Path, home: Option<&Path>) -> PathBuf {
    match (path.strip_prefix("~"), home) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_expands_home() {
        let config = Config::parse(
            r#"
key_dirs = ["~/keys", "/etc/keys"]
user = "ec2-user"
via = "private"

[clusters.prod]
user = "ops"
via = "public"
"#,
            Some(Path::new("/home/op")),
        )
        .expect("valid");
        assert_eq!(
            config.key_dirs,
            vec![PathBuf::from("/home/op/keys"), PathBuf::from("/etc/keys")]
        );
        assert_eq!(config.user_for(Some("prod"), None).as_deref(), Some("ops"));
        assert_eq!(
            config.user_for(Some("dev"), None).as_deref(),
            Some("ec2-user")
        );
        assert_eq!(config.user_for(None, None).as_deref(), Some("ec2-user"));
        assert_eq!(config.via_for(Some("prod")), Some(Via::Public));
        assert_eq!(config.via_for(Some("dev")), Some(Via::Private));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors_with_line_and_key() {
        for (text, line, key) in [
            ("usr = \"x\"", 1, "usr"),
            ("user = \"a\"\nvia = \"teleport\"", 2, "via"),
            ("key_dirs = 3", 1, "key_dirs"),
            ("user = \"\"", 1, "user"),
            ("[clusters.prod]\nuser = \"\"", 2, "clusters.prod.user"),
            ("bastion = \" \"", 1, "bastion"),
            ("[vpcs.vpc-1]\nbastion = \"\"", 2, "vpcs.vpc-1.bastion"),
            ("[vpcs.vpc-1]\nuser = \"x\"", 2, "vpcs.vpc-1.user"),
            ("cluster = \"prod/web-1\"", 1, "cluster"),
            ("cache_ttl = \"soon\"", 1, "cache_ttl"),
            ("color = \"sometimes\"", 1, "color"),
            ("output = \"yaml\"", 1, "output"),
            ("stats = \"yes\"", 1, "stats"),
            (
                "# ok\n\n[[amis]]\nname = \"x-*\"\nuser = \"\"",
                5,
                "amis.user",
            ),
            ("[[amis]]\nuser = \"ops\"", 1, "amis"),
            (
                "[clusters.\"prod\"]\nvia = \"sideways\"",
                2,
                "clusters.prod.via",
            ),
        ] {
            let failure = Config::parse_located(text, None).expect_err(text);
            assert_eq!(failure.line, Some(line), "{text}: {failure:?}");
            assert_eq!(failure.key.as_deref(), Some(key), "{text}: {failure:?}");
            assert!(!failure.message.is_empty(), "{text}");
        }
    }

    #[test]
    fn the_error_names_file_line_and_key() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "region = \"eu-west-1\"\n\n[clusters.prod]\nvia = \"teleport\"\n",
        )
        .expect("write");
        let message = Config::load(&path, None).expect_err("bad").to_string();
        assert!(
            message.starts_with(&format!(
                "config file {} is not valid: line 4, key `clusters.prod.via`: `teleport` is not a route: expected one of auto, public",
                path.display()
            )),
            "{message}"
        );
    }

    #[test]
    fn every_global_setting_has_a_key() {
        let config = Config::parse(
            r#"
profile = "ops"
region = "eu-west-1"
endpoint_url = "http://127.0.0.1:5000"
cluster = "prod"
output = "json"
color = "never"
verbose = 2
stats = true
refresh = false
cache_ttl = "5m"
"#,
            None,
        )
        .expect("valid");
        assert_eq!(config.profile.as_deref(), Some("ops"));
        assert_eq!(config.region.as_deref(), Some("eu-west-1"));
        assert_eq!(
            config.endpoint_url.as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(config.cluster.as_deref(), Some("prod"));
        assert_eq!(config.output, Some(OutputFormat::Json));
        assert_eq!(config.color, Some(ColorChoice::Never));
        assert_eq!(config.verbose, Some(2));
        assert_eq!(config.stats, Some(true));
        assert_eq!(config.refresh, Some(false));
        assert_eq!(config.cache_ttl, Some(Duration::from_secs(300)));
    }

    #[test]
    fn users_by_cluster_then_ami_pattern_then_global() {
        let config = Config::parse(
            r#"
user = "fallback"
[clusters.prod]
user = "ops"
[[amis]]
name = "acme-base-*-arm64"
user = "acme-arm"
[[amis]]
name = "acme-base-*"
user = "acme"
"#,
            None,
        )
        .expect("valid");
        let user = |cluster, ami| config.user_for(cluster, ami);
        assert_eq!(
            user(Some("prod"), Some("acme-base-1")).as_deref(),
            Some("ops")
        );
        assert_eq!(
            user(Some("dev"), Some("acme-base-7-arm64")).as_deref(),
            Some("acme-arm")
        );
        assert_eq!(
            user(Some("dev"), Some("acme-base-7-x86")).as_deref(),
            Some("acme")
        );
        assert_eq!(
            user(None, Some("ubuntu-noble")).as_deref(),
            Some("fallback")
        );
        assert_eq!(user(None, None).as_deref(), Some("fallback"));
    }

    #[test]
    fn glob_patterns() {
        for (pattern, text, matches) in [
            ("al2023-*", "al2023-ami-ecs-hvm", true),
            ("al2023-*", "al2-ami", false),
            ("*ecs*", "amzn2-ami-ecs-hvm", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*", "", true),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("*-x86_64", "ubuntu-22.04-x86_64", true),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYbZ", false),
        ] {
            assert_eq!(glob_matches(pattern, text), matches, "{pattern} {text}");
        }
    }

    #[test]
    fn bastion_by_cluster_then_vpc_then_global() {
        let config = Config::parse(
            r#"
bastion = "i-0global"
[clusters.prod]
bastion = "ops/jump-1"
[vpcs.vpc-1]
bastion = "i-0vpc"
"#,
            None,
        )
        .expect("valid");
        let found = |cluster, vpc| config.bastion_for(cluster, vpc);
        assert_eq!(
            found(Some("prod"), Some("vpc-1")),
            Some(("ops/jump-1".into(), "clusters.prod.bastion".into()))
        );
        assert_eq!(
            found(Some("dev"), Some("vpc-1")),
            Some(("i-0vpc".into(), "vpcs.vpc-1.bastion".into()))
        );
        assert_eq!(
            found(None, Some("vpc-2")),
            Some(("i-0global".into(), "bastion".into()))
        );
        assert_eq!(Config::default().bastion_for(Some("prod"), None), None);
    }

    #[test]
    fn missing_file_is_empty_config() {
        let dir = tempfile::tempdir().expect("tmp");
        let config = Config::load(&dir.path().join("none.toml"), None).expect("ok");
        assert_eq!(config, Config::default());
    }

    #[test]
    fn path_precedence() {
        let home = Path::new("/home/op");
        assert_eq!(
            default_path(Some("/x.toml".into()), Some("/xdg".into()), Some(home)),
            Some(PathBuf::from("/x.toml"))
        );
        assert_eq!(
            default_path(None, Some("/xdg".into()), Some(home)),
            Some(PathBuf::from("/xdg/berth/config.toml"))
        );
        assert_eq!(
            default_path(None, Some("relative".into()), Some(home)),
            Some(PathBuf::from("/home/op/.config/berth/config.toml"))
        );
        assert_eq!(default_path(None, None, None), None);
    }
}
