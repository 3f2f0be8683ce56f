//! Layered settings: each global setting is taken from its flag, else its
//! environment variable (`BERTH_<NAME>`, then the AWS CLI's own variable
//! where there is one), else the config file's key of the same name, else
//! its default; and each records where it came from, for `berth config`.
//!
//! Pure: the environment arrives as a lookup function, so the precedence
//! is tested as a table.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;

use crate::config::ConfigError;
use crate::model::named::Named;

/// Where an effective value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// A command-line flag.
    Flag { flag: String },
    /// An environment variable.
    Env { var: String },
    /// A key of the config file.
    File { path: PathBuf, key: String },
    /// Nothing set it.
    Default,
}

/// `flag --region`, `env BERTH_REGION`, `file` (the file is listed once,
/// as `config_file`), `default`.
impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Flag { flag } => write!(f, "flag {flag}"),
            Self::Env { var } => write!(f, "env {var}"),
            Self::File { .. } => f.write_str("file"),
            Self::Default => f.write_str("default"),
        }
    }
}

/// One line of `berth config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Effective {
    pub key: String,
    /// As it would be written in the config file; `-` when unset.
    pub value: String,
    pub source: Source,
}

/// A setting's value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced<T> {
    pub value: T,
    pub source: Source,
}

/// Resolves settings layer by layer and keeps the listing.
pub struct Layers<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    path: Option<&'a Path>,
    pub listing: Vec<Effective>,
}

/// What a layer offers for one key: its flag's value (with the flag's
/// spelling), the environment variables to try in order, the config
/// file's value.
pub struct Candidates<'v, T> {
    pub key: &'static str,
    pub flag: Option<(T, &'static str)>,
    pub env: &'v [&'static str],
    pub file: Option<T>,
}

impl<'a> Layers<'a> {
    pub fn new(env: &'a dyn Fn(&str) -> Option<String>, path: Option<&'a Path>) -> Self {
        Self {
            env,
            path,
            listing: Vec::new(),
        }
    }

    /// The first layer that sets the key, or `None` (listed as `-`,
    /// or as `default_shown` when one is given).
    pub fn pick<T: Clone + Setting>(
        &mut self,
        candidates: Candidates<'_, T>,
        default_shown: Option<&str>,
    ) -> Result<Option<Sourced<T>>, ConfigError> {
        let Candidates {
            key,
            flag,
            env,
            file,
        } = candidates;
        let from_flag = flag.map(|(value, flag)| Sourced {
            value,
            source: Source::Flag {
                flag: flag.to_owned(),
            },
        });
        let found = match from_flag {
            Some(found) => Some(found),
            None => match self.env_value::<T>(env)? {
                Some(found) => Some(found),
                None => file.map(|value| Sourced {
                    value,
                    source: Source::File {
                        path: self.path.map(Path::to_owned).unwrap_or_default(),
                        key: key.to_owned(),
                    },
                }),
            },
        };
        self.listing.push(Effective {
            key: key.to_owned(),
            value: found.as_ref().map_or_else(
                || default_shown.unwrap_or("-").to_owned(),
                |f| f.value.show(),
            ),
            source: found.as_ref().map_or(Source::Default, |f| f.source.clone()),
        });
        Ok(found)
    }

    /// [`pick`](Self::pick) with a default value.
    pub fn pick_or<T: Clone + Setting>(
        &mut self,
        candidates: Candidates<'_, T>,
        default: T,
    ) -> Result<Sourced<T>, ConfigError> {
        let shown = default.show();
        Ok(self.pick(candidates, Some(&shown))?.unwrap_or(Sourced {
            value: default,
            source: Source::Default,
        }))
    }

    /// Lists a value that only the config file sets.
    pub fn file_only(&mut self, key: String, value: String) {
        self.listing.push(Effective {
            key: key.clone(),
            value,
            source: Source::File {
                path: self.path.map(Path::to_owned).unwrap_or_default(),
                key,
            },
        });
    }

    /// Lists a value whose source is decided elsewhere.
    pub fn list(&mut self, key: &str, value: String, source: Source) {
        self.listing.push(Effective {
            key: key.to_owned(),
            value,
            source,
        });
    }

    fn env_value<T: Setting>(
        &self,
        vars: &[&'static str],
    ) -> Result<Option<Sourced<T>>, ConfigError> {
        for var in vars {
            if let Some(text) = (self.env)(var) {
                let value = T::parse(&text).map_err(|message| ConfigError::Environment {
                    var: (*var).to_owned(),
                    value: text.clone(),
                    message,
                })?;
                return Ok(Some(Sourced {
                    value,
                    source: Source::Env {
                        var: (*var).to_owned(),
                    },
                }));
            }
        }
        Ok(None)
    }
}

/// A value that an environment variable can give and `berth config` can
/// show, spelt as in the config file.
pub trait Setting: Sized {
    fn parse(text: &str) -> Result<Self, String>;
    fn show(&self) -> String;
}

impl Setting for String {
    fn parse(text: &str) -> Result<Self, String> {
        Ok(text.to_owned())
    }
    fn show(&self) -> String {
        self.clone()
    }
}

impl Setting for bool {
    fn parse(text: &str) -> Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err("expected true or false (1/0, yes/no, on/off)".to_owned()),
        }
    }
    fn show(&self) -> String {
        self.to_string()
    }
}

impl Setting for u8 {
    fn parse(text: &str) -> Result<Self, String> {
        u8::from_str(text).map_err(|_| "expected a small number (0, 1, 2)".to_owned())
    }
    fn show(&self) -> String {
        self.to_string()
    }
}

impl Setting for Duration {
    fn parse(text: &str) -> Result<Self, String> {
        humantime::parse_duration(text)
            .map_err(|e| format!("expected a duration like 60s or 5m ({e})"))
    }
    fn show(&self) -> String {
        humantime::format_duration(*self).to_string()
    }
}

/// A duration that must not be zero (`aws_timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout(pub Duration);

impl Setting for Timeout {
    fn parse(text: &str) -> Result<Self, String> {
        match Duration::parse(text)? {
            d if d.is_zero() => Err("the timeout must be more than 0".to_owned()),
            d => Ok(Self(d)),
        }
    }
    fn show(&self) -> String {
        self.0.show()
    }
}

/// Settings with a fixed set of names: the same spellings as their flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice<T>(pub T);

impl<T: Named> Setting for Choice<T> {
    fn parse(text: &str) -> Result<Self, String> {
        T::from_name(text)
            .map(Choice)
            .map_err(|e| format!("expected one of {}", e.accepted.join(", ")))
    }
    fn show(&self) -> String {
        self.0.name().to_owned()
    }
}

/// A cluster name, as `cluster` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterName(pub String);

impl Setting for ClusterName {
    fn parse(text: &str) -> Result<Self, String> {
        crate::model::target::bare_cluster(text)
            .map(Self)
            .ok_or_else(|| "expected a cluster name (letters, digits, `-` and `_`)".to_owned())
    }
    fn show(&self) -> String {
        self.0.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::output::OutputFormat;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    /// (flag, environment, file, expected value and source).
    type Case = (
        Option<&'static str>,
        &'static [(&'static str, &'static str)],
        Option<&'static str>,
        Option<(&'static str, Source)>,
    );

    #[test]
    fn flag_beats_env_beats_file_beats_default() {
        let path = Path::new("/home/op/.config/berth/config.toml");
        let file_source = Source::File {
            path: path.to_owned(),
            key: "region".into(),
        };
        let env_source = |var: &str| Source::Env { var: var.into() };
        let flag_source = Source::Flag {
            flag: "--region".into(),
        };
        let cases: Vec<Case> = vec![
            (
                Some("f"),
                &[("BERTH_REGION", "e")],
                Some("c"),
                Some(("f", flag_source.clone())),
            ),
            (
                None,
                &[("BERTH_REGION", "e"), ("AWS_REGION", "a")],
                Some("c"),
                Some(("e", env_source("BERTH_REGION"))),
            ),
            (
                None,
                &[("AWS_REGION", "a")],
                Some("c"),
                Some(("a", env_source("AWS_REGION"))),
            ),
            (None, &[], Some("c"), Some(("c", file_source.clone()))),
            (None, &[], None, None),
        ];
        for (flag, env, file, expected) in cases {
            let lookup = env_of(env);
            let mut layers = Layers::new(&lookup, Some(path));
            let found = layers
                .pick(
                    Candidates {
                        key: "region",
                        flag: flag.map(|f| (f.to_owned(), "--region")),
                        env: &["BERTH_REGION", "AWS_REGION"],
                        file: file.map(str::to_owned),
                    },
                    None,
                )
                .expect("valid");
            let found = found.map(|s| (s.value, s.source));
            assert_eq!(
                found,
                expected.clone().map(|(v, s)| (v.to_owned(), s)),
                "{flag:?} {env:?} {file:?}"
            );
            let row = &layers.listing[0];
            assert_eq!(row.key, "region");
            assert_eq!(row.source, expected.map_or(Source::Default, |(_, s)| s),);
        }
    }

    #[test]
    fn environment_values_are_checked() {
        let lookup = env_of(&[("BERTH_OUTPUT", "yaml"), ("BERTH_STATS", "maybe")]);
        let mut layers = Layers::new(&lookup, None);
        let err = layers
            .pick_or(
                Candidates::<Choice<OutputFormat>> {
                    key: "output",
                    flag: None,
                    env: &["BERTH_OUTPUT"],
                    file: None,
                },
                Choice(OutputFormat::Table),
            )
            .expect_err("bad");
        assert_eq!(
            err.to_string(),
            "BERTH_OUTPUT=yaml: expected one of table, json"
        );
        let err = layers
            .pick_or(
                Candidates::<bool> {
                    key: "stats",
                    flag: None,
                    env: &["BERTH_STATS"],
                    file: None,
                },
                false,
            )
            .expect_err("bad");
        assert!(
            err.to_string()
                .starts_with("BERTH_STATS=maybe: expected true or false")
        );
    }

    #[test]
    fn defaults_are_listed_as_such() {
        let lookup = env_of(&[]);
        let mut layers = Layers::new(&lookup, None);
        let ttl = layers
            .pick_or(
                Candidates::<Duration> {
                    key: "cache_ttl",
                    flag: None,
                    env: &["BERTH_CACHE_TTL"],
                    file: None,
                },
                Duration::from_secs(60),
            )
            .expect("valid");
        assert_eq!(ttl.value, Duration::from_secs(60));
        assert_eq!(
            layers.listing,
            vec![Effective {
                key: "cache_ttl".into(),
                value: "1m".into(),
                source: Source::Default
            }]
        );
    }
}
