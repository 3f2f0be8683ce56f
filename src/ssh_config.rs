//! OpenSSH configuration that sends instance ids and `CLUSTER.NAME.berth`
//! names through `berth proxy`, so that plain `ssh`, `scp`, `rsync`,
//! `sftp`, VS Code and Ansible reach container instances (pure: text in,
//! text out).
//!
//! Two parts:
//! - the catch-all block: `Host i-XXXXXXXX i-XXXXXXXXXXXXXXXXX *.berth`
//!   with `ProxyCommand berth proxy %h %p`. It supplies the transport only:
//!   user and key are ssh's own (your config, `-l`, the agent);
//! - per-host blocks (a snapshot of one cluster): every name of a host
//!   (`CLUSTER.NAME.berth`, `CLUSTER.i-….berth`, `i-…`) with the `User`
//!   and `IdentityFile` berth would use, a `ProxyCommand` with the exact
//!   target, and `HostKeyAlias` set to the instance id (a Name tag moves
//!   to a new instance when one is replaced; an instance id never does).
//!
//! OpenSSH takes the first value it finds for each option, so these
//! blocks go first in `~/.ssh/config` and end with `Host *`: everything
//! after them applies as before, and your own block above berth's, or a
//! flag (`-l`, `-i`, `-o`), still wins. OpenSSH lowercases the host name
//! it is given before matching `Host` patterns, so every name here is
//! lowercase (the ProxyCommand keeps the exact target).

use std::fmt::Write as _;
use std::path::Path;

/// The lines that open and close berth's block in `~/.ssh/config`.
pub const BLOCK_BEGIN: &str =
    "# >>> berth: managed by `berth ssh-config --install`; edits inside are replaced >>>";
pub const BLOCK_END: &str = "# <<< berth <<<";

/// The host patterns of the catch-all block: instance ids (8 or 17 hex
/// digits after `i-`) and `….berth` names.
pub const CATCH_ALL_PATTERNS: &str = "i-???????? i-????????????????? *.berth";

/// One host of a per-host snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntry {
    /// Every name ssh should know it by (lowercase).
    pub names: Vec<String>,
    /// What the host is, for the comment above its block.
    pub label: String,
    pub user: String,
    pub identity_file: Option<String>,
    /// Why there is no `IdentityFile`, as a comment.
    pub identity_note: Option<String>,
    /// The complete `ProxyCommand` value (already quoted for ssh).
    pub proxy_command: String,
    pub host_key_alias: String,
}

/// A host berth cannot write a block for, and why (Windows, no shell).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedHost {
    pub label: String,
    pub reason: String,
}

/// The catch-all block.
pub fn catch_all(proxy_command: &str) -> String {
    format!(
        "# Instance ids and CLUSTER.NAME.berth names go through berth (user and key: ssh's own).\n\
         Host {CATCH_ALL_PATTERNS}\n    ProxyCommand {proxy_command}\n"
    )
}

/// The blocks of one cluster's snapshot.
pub fn host_blocks(header: &str, hosts: &[HostEntry], skipped: &[SkippedHost]) -> String {
    let mut out = String::new();
    for line in header.lines() {
        let _ = writeln!(out, "# {line}");
    }
    for skip in skipped {
        let _ = writeln!(out, "# {}: {}", skip.label, skip.reason);
    }
    for host in hosts {
        let _ = writeln!(out, "\n# {}", host.label);
        let _ = writeln!(out, "Host {}", host.names.join(" "));
        let _ = writeln!(out, "    User {}", quote(&host.user));
        match (&host.identity_file, &host.identity_note) {
            (Some(file), _) => {
                let _ = writeln!(out, "    IdentityFile {}", quote(file));
            }
            (None, Some(note)) => {
                let _ = writeln!(out, "    # {note}");
            }
            (None, None) => {}
        }
        let _ = writeln!(out, "    HostKeyAlias {}", host.host_key_alias);
        let _ = writeln!(out, "    ProxyCommand {}", host.proxy_command);
    }
    out
}

/// The `Host` pattern of a name tag, or `None` when ssh could not take it
/// as one (patterns are split on spaces, and `*`, `?`, `!` and `,` are
/// special).
pub fn host_name_alias(cluster: &str, name: &str) -> Option<String> {
    let usable = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    (usable(cluster) && usable(name)).then(|| format!("{cluster}.{name}.berth").to_lowercase())
}

/// Quotes a value for ssh_config when it needs it.
pub fn quote(value: &str) -> String {
    if !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '#' | '\\'))
    {
        return value.to_owned();
    }
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// berth's block for `~/.ssh/config`: the snapshots (`Include`), the
/// catch-all, and `Host *` so that what follows applies to every host
/// again.
pub fn managed_block(include: &Path, catch_all: &str) -> String {
    let include = include.display().to_string();
    format!(
        "{BLOCK_BEGIN}\n\
         # Per-host snapshots (berth ssh-config --install --hosts CLUSTER): user, key, exact target.\n\
         Include {}\n\
         {catch_all}\
         Host *\n\
         {BLOCK_END}\n",
        quote(&include)
    )
}

/// What installing did to the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Installed {
    Added,
    Replaced,
    Unchanged,
}

/// `text` with `block` in place of berth's old block, or before everything
/// else when it has none (OpenSSH takes the first value of an option, and
/// an `Include` inside someone's `Host` block would only apply there).
pub fn install(text: &str, block: &str) -> (String, Installed) {
    match find_block(text) {
        Some((start, end)) => {
            let updated = format!("{}{block}{}", &text[..start], &text[end..]);
            let outcome = if updated == text {
                Installed::Unchanged
            } else {
                Installed::Replaced
            };
            (updated, outcome)
        }
        None if text.trim().is_empty() => (block.to_owned(), Installed::Added),
        None => (format!("{block}\n{text}"), Installed::Added),
    }
}

/// `text` without berth's block (and the blank line after it that
/// [`install`] added), or `None` when it has none.
pub fn uninstall(text: &str) -> Option<String> {
    let (start, mut end) = find_block(text)?;
    if text[end..].starts_with('\n') {
        end += 1;
    }
    Some(format!("{}{}", &text[..start], &text[end..]))
}

/// The byte range of berth's block, its final newline included.
fn find_block(text: &str) -> Option<(usize, usize)> {
    let mut offset = 0;
    let mut start = None;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_end();
        if start.is_none() && trimmed == BLOCK_BEGIN {
            start = Some(offset);
        } else if start.is_some() && trimmed == BLOCK_END {
            return start.map(|s| (s, offset + line.len()));
        }
        offset += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block() -> String {
        managed_block(
            Path::new("/home/op/.local/state/berth/ssh/*.conf"),
            &catch_all("/usr/bin/berth proxy %h %p"),
        )
    }

    #[test]
    fn the_block_includes_snapshots_then_the_catch_all_then_resets() {
        assert_eq!(
            block(),
            format!(
                "{BLOCK_BEGIN}\n\
                 # Per-host snapshots (berth ssh-config --install --hosts CLUSTER): user, key, exact target.\n\
                 Include /home/op/.local/state/berth/ssh/*.conf\n\
                 # Instance ids and CLUSTER.NAME.berth names go through berth (user and key: ssh's own).\n\
                 Host i-???????? i-????????????????? *.berth\n    \
                 ProxyCommand /usr/bin/berth proxy %h %p\n\
                 Host *\n\
                 {BLOCK_END}\n"
            )
        );
    }

    #[test]
    fn install_goes_first_then_replaces_in_place_and_is_idempotent() {
        let user = "ServerAliveInterval 30\n\nHost bastion\n    User me\n";
        let (once, outcome) = install(user, &block());
        assert_eq!(outcome, Installed::Added);
        assert_eq!(once, format!("{}\n{user}", block()));
        let (twice, outcome) = install(&once, &block());
        assert_eq!(outcome, Installed::Unchanged);
        assert_eq!(twice, once);
        // A new block replaces the old one where the user moved it.
        let moved = format!("Host mine\n    User me\n\n{}\n{user}", block());
        let newer = managed_block(Path::new("/x/*.conf"), &catch_all("berth proxy %h %p"));
        let (updated, outcome) = install(&moved, &newer);
        assert_eq!(outcome, Installed::Replaced);
        assert_eq!(
            updated,
            format!("Host mine\n    User me\n\n{newer}\n{user}")
        );
        assert_eq!(install("", &block()), (block(), Installed::Added));
    }

    #[test]
    fn uninstall_leaves_the_users_config_as_it_was() {
        let user = "Host bastion\n    User me\n";
        let (installed, _) = install(user, &block());
        assert_eq!(uninstall(&installed).as_deref(), Some(user));
        assert_eq!(uninstall(user), None);
        // An unterminated block is not berth's to cut.
        let broken = format!("{BLOCK_BEGIN}\nHost x\n{user}");
        assert_eq!(uninstall(&broken), None);
    }

    #[test]
    fn host_blocks_carry_user_key_alias_and_exact_target() {
        let hosts = [
            HostEntry {
                names: vec![
                    "prod.web-1.berth".into(),
                    "prod.i-0123456789abcdef0.berth".into(),
                    "i-0123456789abcdef0".into(),
                ],
                label: "i-0123456789abcdef0 (web-1)".into(),
                user: "ec2-user".into(),
                identity_file: Some("/home/op/My Keys/prod.pem".into()),
                identity_note: None,
                proxy_command:
                    "/usr/bin/berth --region us-east-1 proxy prod/i-0123456789abcdef0 %p".into(),
                host_key_alias: "i-0123456789abcdef0".into(),
            },
            HostEntry {
                names: vec!["i-0fedcba9876543210".into()],
                label: "i-0fedcba9876543210".into(),
                user: "ubuntu".into(),
                identity_file: None,
                identity_note: Some("no private key found for key pair prod".into()),
                proxy_command: "berth proxy prod/i-0fedcba9876543210 %p".into(),
                host_key_alias: "i-0fedcba9876543210".into(),
            },
        ];
        let skipped = [SkippedHost {
            label: "i-0aaaaaaaaaaaaaaaa (win-1)".into(),
            reason: "Windows: use berth rdp".into(),
        }];
        assert_eq!(
            host_blocks("cluster prod\nsecond line", &hosts, &skipped),
            "# cluster prod\n\
             # second line\n\
             # i-0aaaaaaaaaaaaaaaa (win-1): Windows: use berth rdp\n\
             \n\
             # i-0123456789abcdef0 (web-1)\n\
             Host prod.web-1.berth prod.i-0123456789abcdef0.berth i-0123456789abcdef0\n    \
             User ec2-user\n    \
             IdentityFile \"/home/op/My Keys/prod.pem\"\n    \
             HostKeyAlias i-0123456789abcdef0\n    \
             ProxyCommand /usr/bin/berth --region us-east-1 proxy prod/i-0123456789abcdef0 %p\n\
             \n\
             # i-0fedcba9876543210\n\
             Host i-0fedcba9876543210\n    \
             User ubuntu\n    \
             # no private key found for key pair prod\n    \
             HostKeyAlias i-0fedcba9876543210\n    \
             ProxyCommand berth proxy prod/i-0fedcba9876543210 %p\n"
        );
    }

    #[test]
    fn only_plain_names_become_host_patterns() {
        assert_eq!(
            host_name_alias("Prod", "Web-1").as_deref(),
            Some("prod.web-1.berth")
        );
        assert_eq!(
            host_name_alias("prod", "db.primary").as_deref(),
            Some("prod.db.primary.berth")
        );
        for name in ["web 1", "web*", "a,b", "", "!x", "wé"] {
            assert_eq!(host_name_alias("prod", name), None, "{name}");
        }
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("/home/op/.ssh/k.pem"), "/home/op/.ssh/k.pem");
        assert_eq!(
            quote("/home/op/My Keys/k.pem"),
            "\"/home/op/My Keys/k.pem\""
        );
        assert_eq!(quote("a\"b"), "\"a\\\"b\"");
        assert_eq!(quote(""), "\"\"");
    }
}
