//! Temporary ingress rules: `ssh/rdp --open` for one session, `doctor
//! --fix` until an expiry. Every rule is journalled before it is added and
//! recognised afterwards by its exact description, so berth removes its
//! own rules (on exit, or on a later run after a crash) and never anyone
//! else's.

pub mod journal;

use crate::platform::process_alive;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ipnet::IpNet;

use crate::aws::{Authorized, Aws, AwsError, GroupRule};
use journal::{Journal, JournalError, OpenRule};

#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("{} has no security group to open", .0)]
    NoGroup(String),
    #[error("{0} is a network: berth opens ports to a single address (/32 or /128) only")]
    NotOneAddress(IpNet),
}

/// The longest a session rule may live if every cleanup fails.
pub const SESSION_LIMIT: Duration = Duration::from_secs(12 * 3600);

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// This boot's id (Linux), to tell a pid of this boot from an earlier one.
pub fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// What `open` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// Berth added this rule and must remove it.
    Added(Box<OpenRule>),
    /// An identical rule already existed; nothing to remove.
    AlreadyAllowed,
}

/// Adds a rule letting `cidr` reach TCP `port` through `group` for `ttl`.
pub async fn open(
    aws: &Aws,
    journal: &Journal,
    group: &str,
    cidr: IpNet,
    port: u16,
    ttl: Duration,
    session: bool,
) -> Result<Opened, FirewallError> {
    if cidr.prefix_len() != cidr.max_prefix_len() {
        return Err(FirewallError::NotOneAddress(cidr));
    }
    let pid = std::process::id();
    let expires_at = SystemTime::now() + ttl;
    let expires = unix_now() + ttl.as_secs();
    let description = format!(
        "berth temporary access, expires {} (pid {pid})",
        humantime::format_rfc3339_seconds(expires_at)
    );
    let mut rule = OpenRule {
        key: format!(
            "{pid}-{}",
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ),
        region: aws.region.clone(),
        endpoint_url: aws.endpoint_url.clone(),
        group_id: group.to_owned(),
        cidr,
        port,
        description,
        rule_id: None,
        pid,
        boot: boot_id(),
        session,
        expires,
    };
    journal.add(&rule)?;
    match aws
        .authorize_ingress(group, cidr, port, &rule.description)
        .await
    {
        Ok(Authorized::Added(id)) => {
            if let Some(id) = &id {
                journal.set_rule_id(&rule.key, id)?;
            }
            rule.rule_id = id;
            Ok(Opened::Added(Box::new(rule)))
        }
        Ok(Authorized::AlreadyThere) => {
            // Ours after all if a retried request's first try got through
            // and only its answer was lost: the description says so.
            let rules = aws.security_group_rules(group).await?;
            if let Some(ours) = rules.iter().find(|r| is_ours(&rule, r)) {
                journal.set_rule_id(&rule.key, &ours.id)?;
                rule.rule_id = Some(ours.id.clone());
                return Ok(Opened::Added(Box::new(rule)));
            }
            // Another session of this journal (same address, same group)
            // added it: share it, and the last session out removes it.
            let stale = stale_now();
            if let Some(shared) =
                journal.update(|entries| share(entries, &rule.key, &rules, |e| !stale(e)))?
            {
                return Ok(Opened::Added(Box::new(shared)));
            }
            journal.remove(&rule.key)?;
            Ok(Opened::AlreadyAllowed)
        }
        Err(e) => {
            // EC2 refused the request, so nothing was added. Any other
            // failure (throttled, a 5xx, no answer) may have added it: the
            // entry stays for a later run to find by its description.
            if e.code().is_some_and(refused) {
                journal.remove(&rule.key)?;
            }
            Err(e.into())
        }
    }
}

/// Error codes with which EC2 refuses AuthorizeSecurityGroupIngress
/// without adding anything.
fn refused(code: &str) -> bool {
    code.starts_with("InvalidGroup")
        || code.starts_with("InvalidParameter")
        || code.starts_with("InvalidPermission")
        || code == "UnauthorizedOperation"
        || code == "RulesPerSecurityGroupLimitExceeded"
        || code == "SecurityGroupLimitExceeded"
}

/// Whether `found` is the rule `rule` describes: same description (which
/// names berth, the expiry and the pid), same source and port.
fn is_ours(rule: &OpenRule, found: &GroupRule) -> bool {
    !found.egress
        && found.description.as_deref() == Some(rule.description.as_str())
        && found.cidr.as_deref() == Some(rule.cidr.to_string().as_str())
        && found.from_port == Some(i32::from(rule.port))
        && found.to_port == Some(i32::from(rule.port))
}

/// Makes the entry `key` a sharer of a rule in `rules` that another live
/// entry added for the same group, source and port: it takes that entry's
/// description, by which the rule is found again. Returns the entry.
fn share(
    entries: &mut [OpenRule],
    key: &str,
    rules: &[GroupRule],
    live: impl Fn(&OpenRule) -> bool,
) -> Option<OpenRule> {
    let at = entries.iter().position(|e| e.key == key)?;
    let (description, id) = entries
        .iter()
        .filter(|e| e.key != key && live(e) && same_opening(e, &entries[at]))
        .find_map(|e| {
            let found = rules.iter().find(|r| is_ours(e, r))?;
            Some((e.description.clone(), found.id.clone()))
        })?;
    entries[at].description = description;
    entries[at].rule_id = Some(id);
    Some(entries[at].clone())
}

/// Whether two entries open the same port of the same group to the same
/// source (EC2 holds one rule for both).
fn same_opening(a: &OpenRule, b: &OpenRule) -> bool {
    a.group_id == b.group_id
        && a.cidr == b.cidr
        && a.port == b.port
        && a.region == b.region
        && a.endpoint_url == b.endpoint_url
}

/// Removes a rule berth added, then its journal entry; while another live
/// session shares the rule, only the entry goes. Returns whether a rule was
/// found and removed.
pub async fn close(aws: &Aws, journal: &Journal, rule: &OpenRule) -> Result<bool, FirewallError> {
    // Deciding under the journal's lock: of two sessions ending at once,
    // the first leaves (its entry gone), the second sees no sharer left.
    let stale = stale_now();
    let shared = journal.update(|entries| {
        let shared = entries.iter().any(|e| {
            e.key != rule.key
                && same_opening(e, rule)
                && e.description == rule.description
                && !stale(e)
        });
        if shared {
            entries.retain(|e| e.key != rule.key);
        }
        shared
    })?;
    if shared {
        return Ok(false);
    }
    let rules = match aws.security_group_rules(&rule.group_id).await {
        Ok(rules) => rules,
        Err(e) if e.code().is_some_and(|c| c.starts_with("InvalidGroup")) => {
            journal.remove(&rule.key)?;
            return Ok(false);
        }
        Err(e) => return Err(e.into()),
    };
    // Ours: the same source, port and exact description (the id EC2 gave
    // is not needed: berth may have died before recording it).
    let ours = rules.iter().find(|r| is_ours(rule, r));
    let removed = if let Some(ours) = ours {
        aws.revoke_ingress_rule(&rule.group_id, &ours.id).await?;
        true
    } else {
        false
    };
    journal.remove(&rule.key)?;
    Ok(removed)
}

/// What a sweep did.
#[derive(Debug, Default, serde::Serialize)]
pub struct Sweep {
    /// Rules removed: `sg-…: CIDR port N`.
    pub removed: Vec<String>,
    /// Rules of sessions still running, or `--fix` rules not yet expired.
    pub in_use: usize,
    /// Stale entries for another region or endpoint, left for a run there.
    pub elsewhere: usize,
    /// Entries whose removal failed, with why.
    pub failed: Vec<String>,
}

/// Removes the rules of sessions that ended without cleaning up (berth was
/// killed) and of `--fix` rules that expired; `all` also removes live ones
/// (`doctor --cleanup --all`).
pub async fn sweep(aws: &Aws, journal: &Journal, all: bool) -> Result<Sweep, FirewallError> {
    let me = std::process::id();
    let is_stale = stale_now();
    let (stale, in_use): (Vec<OpenRule>, Vec<OpenRule>) = journal
        .entries()?
        .into_iter()
        .filter(|e| e.pid != me)
        .partition(|e| all || is_stale(e));
    let mut sweep = Sweep {
        in_use: in_use.len(),
        ..Sweep::default()
    };
    for entry in stale {
        if entry.region != aws.region || entry.endpoint_url != aws.endpoint_url {
            sweep.elsewhere += 1;
            continue;
        }
        let what = format!("{}: {} port {}", entry.group_id, entry.cidr, entry.port);
        match close(aws, journal, &entry).await {
            Ok(true) => sweep.removed.push(what),
            Ok(false) => {}
            Err(e) => sweep.failed.push(format!("{what}: {e}")),
        }
    }
    Ok(sweep)
}

/// Whether the journal has anything a sweep could act on (no AWS call).
pub fn has_stale(journal: &Journal) -> bool {
    let me = std::process::id();
    let stale = stale_now();
    journal
        .entries()
        .is_ok_and(|entries| entries.iter().any(|e| e.pid != me && stale(e)))
}

/// [`OpenRule::is_stale`] as of now, in this boot, with this machine's
/// processes.
fn stale_now() -> impl Fn(&OpenRule) -> bool {
    let now = unix_now();
    let boot = boot_id();
    move |e| e.is_stale(now, boot.as_deref(), process_alive)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, cidr: &str, description: &str) -> OpenRule {
        OpenRule {
            key: key.to_owned(),
            region: "us-east-1".to_owned(),
            endpoint_url: None,
            group_id: "sg-1".to_owned(),
            cidr: cidr.parse().expect("cidr"),
            port: 22,
            description: description.to_owned(),
            rule_id: None,
            pid: 1,
            boot: None,
            session: true,
            expires: u64::MAX,
        }
    }

    fn rule(id: &str, cidr: &str, description: &str) -> GroupRule {
        GroupRule {
            id: id.to_owned(),
            egress: false,
            protocol: "tcp".to_owned(),
            from_port: Some(22),
            to_port: Some(22),
            cidr: Some(cidr.to_owned()),
            description: Some(description.to_owned()),
        }
    }

    #[test]
    fn a_second_session_shares_the_live_rule_of_the_first() {
        let first = "berth temporary access, expires … (pid 1)";
        let mut entries = vec![
            entry("a", "203.0.113.7/32", first),
            entry(
                "b",
                "203.0.113.7/32",
                "berth temporary access, expires … (pid 2)",
            ),
        ];
        let rules = vec![rule("sgr-9", "203.0.113.7/32", first)];
        let shared = share(&mut entries, "b", &rules, |_| true).expect("shared");
        assert_eq!(shared.description, first);
        assert_eq!(shared.rule_id.as_deref(), Some("sgr-9"));
        assert_eq!(entries[1], shared, "the journal entry is updated too");
    }

    #[test]
    fn nothing_is_shared_with_a_dead_session_another_source_or_someone_elses_rule() {
        let first = "berth temporary access, expires … (pid 1)";
        let rules = vec![rule("sgr-9", "203.0.113.7/32", first)];
        let mine = entry("b", "203.0.113.7/32", "berth temporary access (pid 2)");
        // The first session is gone.
        let mut entries = vec![entry("a", "203.0.113.7/32", first), mine.clone()];
        assert_eq!(share(&mut entries, "b", &rules, |e| e.key != "a"), None);
        // The first session opened another address.
        let mut entries = vec![entry("a", "198.51.100.1/32", first), mine.clone()];
        assert_eq!(share(&mut entries, "b", &rules, |_| true), None);
        // The rule in EC2 is not the one the journal describes.
        let mut entries = vec![entry("a", "203.0.113.7/32", "someone else's"), mine.clone()];
        assert_eq!(share(&mut entries, "b", &rules, |_| true), None);
        assert_eq!(entries[1], mine, "the entry is left as it was");
    }
}
