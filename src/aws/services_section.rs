//! The `[services NAME]` section of the shared config file: per service,
//! its sub-properties (`ssm =` then `  endpoint_url = …`).
//!
//! Why berth reads this section itself: aws-config parses it
//! (`ProfileSet::other_sections`), but its values can only be looked up
//! with a key type (`PropertiesKey`) that aws-config does not re-export,
//! and the loaded `SdkConfig` answers service settings only through
//! another crate's key type (`ServiceConfigKey`). Naming either would
//! bring `aws-runtime`/`aws-types` back into Cargo.toml. So this reads
//! the same file aws-config reads (`AWS_CONFIG_FILE`, else
//! `~/.aws/config`) by the same rules (aws-runtime's `env_config::parse`
//! and `normalize`): comments, continuation lines, sub-properties,
//! identifiers, and a file that does not parse counting as none.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Whitespace as the profile-file format counts it: space and tab only.
const WHITESPACE: &[char] = &[' ', '\t'];
const COMMENT: &[char] = &['#', ';'];

/// Sub-properties of a `[services NAME]` section: property (a service's
/// key, lower case) → sub-property → value.
pub type ServicesSection = BTreeMap<String, BTreeMap<String, String>>;

/// The config file aws-config reads: `AWS_CONFIG_FILE` (a leading `~`
/// is the home directory), else `~/.aws/config`. `None` without a home
/// directory to put it in.
pub fn config_file_path(env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let home = env("HOME").filter(|h| !h.is_empty());
    let named = env("AWS_CONFIG_FILE").filter(|p| !p.is_empty());
    let raw = named.unwrap_or_else(|| "~/.aws/config".to_owned());
    match raw.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            Some(PathBuf::from(format!("{}{rest}", home?)))
        }
        _ => Some(PathBuf::from(raw)),
    }
}

/// The section `[services name]` of the config file `text`. Empty when
/// the file does not parse (aws-config then ignores the whole file) or
/// has no such section.
pub fn services_section(text: &str, name: &str) -> ServicesSection {
    let Some(sections) = parse(text) else {
        return ServicesSection::new();
    };
    let mut out = ServicesSection::new();
    for (header, properties) in sections {
        let Some((prefix, suffix)) = header.trim_matches(WHITESPACE).split_once(WHITESPACE) else {
            continue;
        };
        let (prefix, suffix) = (prefix.trim(), suffix.trim());
        if prefix != "services" || suffix != name || !identifier(suffix) {
            continue;
        }
        for (property, value) in properties {
            if !identifier(&property) {
                continue;
            }
            for line in value.split('\n').filter(|l| !l.is_empty()) {
                if let Some((key, value)) = line.split_once('=') {
                    out.entry(property.clone()).or_default().insert(
                        key.trim_matches(WHITESPACE).to_owned(),
                        value.trim_matches(WHITESPACE).to_owned(),
                    );
                }
            }
        }
    }
    out
}

/// `[A-Za-z0-9_\-/.%@:+]+`, the format's identifiers.
fn identifier(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-/.%@:+".contains(c))
}

/// Sections in file order (one entry per distinct header, later
/// properties replacing earlier ones), each property's value with its
/// continuation lines joined by `\n`. `None`: the file does not parse.
fn parse(text: &str) -> Option<Vec<(String, BTreeMap<String, String>)>> {
    let mut sections: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    // The section being read, the property continuation lines add to,
    // and whether that property opened a block of sub-properties
    // (`name =` with nothing after it).
    let mut section: Option<usize> = None;
    let mut property: Option<(String, bool)> = None;
    for line in text.lines() {
        if line.trim_matches(WHITESPACE).is_empty() || line.starts_with(COMMENT) {
            continue;
        }
        if line.starts_with('[') {
            let header = prepare(line, false)
                .strip_prefix('[')?
                .strip_suffix(']')?
                .to_owned();
            let at = if let Some(at) = sections.iter().position(|(h, _)| *h == header) {
                at
            } else {
                sections.push((header, BTreeMap::new()));
                sections.len() - 1
            };
            section = Some(at);
            property = None;
        } else if line.starts_with(WHITESPACE) {
            let (name, sub) = property.as_ref()?;
            if *sub {
                property_line(line)?;
            }
            let value = sections[section?].1.get_mut(name)?;
            value.push('\n');
            value.push_str(line.trim_matches(WHITESPACE));
        } else {
            let (key, value) = property_line(line)?;
            property = Some((key.clone(), value.is_empty()));
            sections[section?].1.insert(key, value);
        }
    }
    Some(sections)
}

/// `key = value` (comments after whitespace removed, the key in lower
/// case); `None` without `=` or without a key.
fn property_line(line: &str) -> Option<(String, String)> {
    let (key, value) = prepare(line, true).split_once('=')?;
    let key = key.trim_matches(WHITESPACE);
    (!key.is_empty()).then(|| {
        (
            key.to_ascii_lowercase(),
            value.trim_matches(WHITESPACE).to_owned(),
        )
    })
}

/// The line trimmed and cut at its comment: `#` or `;`, after whitespace
/// only when `comments_need_whitespace`.
fn prepare(line: &str, comments_need_whitespace: bool) -> &str {
    let line = line.trim_matches(WHITESPACE);
    let mut previous_blank = false;
    let mut cut = line.len();
    for (at, c) in line.char_indices() {
        if COMMENT.contains(&c) && (previous_blank || !comments_need_whitespace) {
            cut = at;
            break;
        }
        previous_blank = c.is_whitespace();
    }
    line[..cut].trim_matches(WHITESPACE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint<'a>(section: &'a ServicesSection, service: &str) -> Option<&'a str> {
        section
            .get(service)
            .and_then(|s| s.get("endpoint_url"))
            .map(String::as_str)
    }

    #[test]
    fn reads_the_named_sections_sub_properties() {
        let text = "\
[default]
region = us-east-1
services = local

[services local]
ssm =
  endpoint_url = http://127.0.0.1:4566
kms =
\tendpoint_url = http://127.0.0.1:4567 ; kept: sub-property values keep comments
; a comment line
ec2 =
  endpoint_url = http://127.0.0.1:4568

[services other]
ssm =
  endpoint_url = http://127.0.0.1:9999
";
        let local = services_section(text, "local");
        assert_eq!(endpoint(&local, "ssm"), Some("http://127.0.0.1:4566"));
        assert_eq!(
            endpoint(&local, "kms"),
            Some("http://127.0.0.1:4567 ; kept: sub-property values keep comments")
        );
        assert_eq!(endpoint(&local, "ec2"), Some("http://127.0.0.1:4568"));
        assert_eq!(local.len(), 3);
        let other = services_section(text, "other");
        assert_eq!(endpoint(&other, "ssm"), Some("http://127.0.0.1:9999"));
        assert!(services_section(text, "missing").is_empty());
    }

    #[test]
    fn follows_the_formats_rules() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            // Property names are case-insensitive, sub-property names not.
            (
                "[services s]\nSSM =\n  endpoint_url = http://a\n",
                "ssm",
                Some("http://a"),
            ),
            (
                "[services s]\nssm =\n  Endpoint_URL = http://a\n",
                "ssm",
                None,
            ),
            // Extra blanks in the header; a comment after it.
            (
                "[ services   s ] # c\nssm =\n  endpoint_url = http://b\n",
                "ssm",
                Some("http://b"),
            ),
            // A later block replaces an earlier one; sections with one name merge.
            (
                "[services s]\nssm =\n  endpoint_url = http://1\n[services s]\nssm =\n  endpoint_url = http://2\n",
                "ssm",
                Some("http://2"),
            ),
            (
                "[services s]\nssm =\n  endpoint_url = http://1\n[default]\nx = y\n[services s]\nkms =\n  endpoint_url = http://k\n",
                "ssm",
                Some("http://1"),
            ),
            // A plain value is no block of sub-properties.
            ("[services s]\nssm = http://c\n", "ssm", None),
            // Blank lines inside a block are fine.
            (
                "[services s]\nssm =\n\n  endpoint_url = http://d\n",
                "ssm",
                Some("http://d"),
            ),
            // Another prefix is another section.
            (
                "[service s]\nssm =\n  endpoint_url = http://e\n",
                "ssm",
                None,
            ),
            // Not an identifier: the property is ignored.
            (
                "[services s]\ns s m =\n  endpoint_url = http://f\n",
                "s s m",
                None,
            ),
        ];
        for (text, service, want) in cases {
            assert_eq!(
                endpoint(&services_section(text, "s"), service),
                *want,
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_file_that_does_not_parse_counts_as_none() {
        let bad = [
            // A property before any section.
            "ssm = x\n[services s]\nssm =\n  endpoint_url = http://a\n",
            // A header without its bracket.
            "[services s\nssm =\n  endpoint_url = http://a\n",
            // A continuation with no property.
            "[services s]\n  endpoint_url = http://a\n",
            // A sub-property without `=`.
            "[services s]\nssm =\n  endpoint_url http://a\n",
            // A property without a name.
            "[services s]\n= x\nssm =\n  endpoint_url = http://a\n",
        ];
        for text in bad {
            assert!(services_section(text, "s").is_empty(), "{text:?}");
        }
    }

    #[test]
    fn the_config_file_is_where_aws_config_looks() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(
            config_file_path(env(&[("HOME", "/home/u")])),
            Some(PathBuf::from("/home/u/.aws/config"))
        );
        assert_eq!(
            config_file_path(env(&[("HOME", "/home/u"), ("AWS_CONFIG_FILE", "/etc/aws")])),
            Some(PathBuf::from("/etc/aws"))
        );
        assert_eq!(
            config_file_path(env(&[("HOME", "/home/u"), ("AWS_CONFIG_FILE", "~/c")])),
            Some(PathBuf::from("/home/u/c"))
        );
        // `~x` is not the home directory.
        assert_eq!(
            config_file_path(env(&[("AWS_CONFIG_FILE", "~x/c")])),
            Some(PathBuf::from("~x/c"))
        );
        assert_eq!(config_file_path(env(&[])), None);
    }
}
