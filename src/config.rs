//! The config file: `$BERTH_CONFIG`, else `$XDG_CONFIG_HOME/berth/config.toml`,
//! else `~/.config/berth/config.toml`. A missing file is an empty config; a
//! malformed one is an error that names the file and the line.
//!
//! ```toml
//! key_dirs = ["~/keys/aws"]   # searched before ~/.ssh for KEYNAME.pem
//! user = "ec2-user"           # login user when no tag or flag names one
//! via = "private"             # default route
//! from = "198.51.100.7/32"    # your address, for doctor and --open
//!
//! [clusters.prod]
//! user = "ops"
//! via = "public"
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
    #[serde(default)]
    pub clusters: BTreeMap<String, ClusterConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    pub user: Option<String>,
    pub via: Option<Via>,
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

    fn parse(text: &str, home: Option<&Path>) -> Result<Self, String> {
        let mut config: Self = toml::from_str(text).map_err(|e| e.to_string())?;
        let users = std::iter::once(&config.user).chain(config.clusters.values().map(|c| &c.user));
        if users.flatten().any(String::is_empty) {
            return Err("`user` must not be empty".to_owned());
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
        ] {
            assert!(Config::parse(text, None).is_err(), "{text}");
        }
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
