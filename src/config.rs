//! The config file: `$BERTH_CONFIG`, else `$XDG_CONFIG_HOME/berth/config.toml`,
//! else `~/.config/berth/config.toml`. A missing file is an empty config; a
//! malformed one is an error that names the file and the line.
//!
//! ```toml
//! key_dirs = ["~/keys/aws"]   # searched before ~/.ssh for KEYNAME.pem
//! user = "ec2-user"           # login user when no tag or flag names one
//! via = "private"             # default route
//! from = "198.51.100.7/32"    # your address, for doctor and --open
//! bastion = "i-0abc…"         # the bastion for hosts without a public address
//!
//! [clusters.prod]
//! user = "ops"
//! via = "public"
//! bastion = "ops/jump-1"      # any `berth ssh` target
//!
//! [vpcs.vpc-0123456789abcdef0]
//! bastion = "i-0def…"         # a VPC's own bastion (beats the global one)
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::plan::Via;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub key_dirs: Vec<PathBuf>,
    pub user: Option<String>,
    pub via: Option<Via>,
    /// Where the operator connects from (`--from`'s default).
    pub from: Option<ipnet::IpNet>,
    /// The bastion (a target) for hosts no other setting covers.
    pub bastion: Option<String>,
    #[serde(default)]
    pub clusters: BTreeMap<String, ClusterConfig>,
    #[serde(default)]
    pub vpcs: BTreeMap<String, VpcConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    pub user: Option<String>,
    pub via: Option<Via>,
    pub bastion: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpcConfig {
    pub bastion: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {} is not valid: {message}", .path.display())]
    Parse { path: PathBuf, message: String },
}

impl ConfigError {
    /// The file at fault.
    pub fn path(&self) -> &Path {
        match self {
            Self::Read { path, .. } | Self::Parse { path, .. } => path,
        }
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
        Self::parse(&text, home).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses config text (`~` in key_dirs expands to `home`); the message
    /// says what is wrong and where.
    pub fn parse(text: &str, home: Option<&Path>) -> Result<Self, String> {
        let mut config: Self = toml::from_str(text).map_err(|e| e.to_string())?;
        let users = std::iter::once(&config.user).chain(config.clusters.values().map(|c| &c.user));
        if users.flatten().any(String::is_empty) {
            return Err("`user` must not be empty".to_owned());
        }
        let bastions = std::iter::once(&config.bastion)
            .chain(config.clusters.values().map(|c| &c.bastion))
            .chain(config.vpcs.values().map(|v| &v.bastion));
        if bastions.flatten().any(|b| b.trim().is_empty()) {
            return Err("`bastion` must name a target".to_owned());
        }
        config.key_dirs = config
            .key_dirs
            .iter()
            .map(|d| expand_tilde(d, home))
            .collect();
        Ok(config)
    }

    /// The configured user for a cluster, else the global one.
    pub fn user_for(&self, cluster: Option<&str>) -> Option<String> {
        cluster
            .and_then(|c| self.clusters.get(c))
            .and_then(|c| c.user.clone())
            .or_else(|| self.user.clone())
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
        assert_eq!(config.user_for(Some("prod")).as_deref(), Some("ops"));
        assert_eq!(config.user_for(Some("dev")).as_deref(), Some("ec2-user"));
        assert_eq!(config.user_for(None).as_deref(), Some("ec2-user"));
        assert_eq!(config.via_for(Some("prod")), Some(Via::Public));
        assert_eq!(config.via_for(Some("dev")), Some(Via::Private));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        for text in [
            "usr = \"x\"",
            "via = \"teleport\"",
            "key_dirs = 3",
            "user = \"\"",
            "[clusters.prod]\nuser = \"\"",
            "bastion = \" \"",
            "[vpcs.vpc-1]\nbastion = \"\"",
            "[vpcs.vpc-1]\nuser = \"x\"",
        ] {
            assert!(Config::parse(text, None).is_err(), "{text}");
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
