//! The on-disk host cache: what each target resolved to, per AWS profile,
//! region and endpoint (`hosts-PROFILE-REGION-SCOPE.json` in berth's cache
//! directory), reused for a short time (`--cache-ttl`, 60 s by default) so
//! that a second `berth ssh` to the same host makes no AWS call at all.
//!
//! Invariants:
//! - A cache that cannot be read (missing, corrupt, another version) is an
//!   empty one, and is rewritten by the next save; it is never an error.
//! - Writes go to a temporary file that is renamed over the old one, and
//!   each save merges its own changes into what is on disk then, so that
//!   concurrent berth processes never leave half a file and rarely lose
//!   each other's entries.
//! - Only non-empty answers are kept: a host launched a moment ago is
//!   never hidden by a cached "nothing matches".
//! - A cluster's full listing also answers `CLUSTER/NAME`, `CLUSTER/i-…`,
//!   `CLUSTER/ADDRESS` and `CLUSTER/CONTAINER-INSTANCE`, when it holds the
//!   host.
//! - Cluster names are kept for ever (they only feed shell completion).

use crate::platform::files::{private_dir, write_atomically};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::model::host::{ContainerInstance, Host, Image, Instance};
use crate::model::target::{Selector, Target};

/// Bumped when the file's shape changes; other versions are ignored.
const VERSION: u32 = 1;

/// Entries this old are dropped when the file is written, whatever the TTL.
const KEEP_AT_MOST: Duration = Duration::from_secs(24 * 60 * 60);

const FILE_PREFIX: &str = "hosts-";

#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    /// By target (as [`Target`] displays it) and status filter.
    entries: BTreeMap<String, Entry>,
    /// Every cluster name seen, for completion.
    clusters: BTreeSet<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    /// Seconds since the Unix epoch.
    fetched_at: u64,
    hosts: Vec<HostFacts>,
}

/// What a [`Host`] is made of; its OS is derived again when it is read,
/// so that a newer berth classifies cached hosts as it would fresh ones.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct HostFacts {
    ec2: Instance,
    image: Option<Image>,
    container_instance: Option<ContainerInstance>,
}

impl From<&Host> for HostFacts {
    fn from(host: &Host) -> Self {
        Self {
            ec2: host.ec2.clone(),
            image: host.image.clone(),
            container_instance: host.container_instance.clone(),
        }
    }
}

impl From<HostFacts> for Host {
    fn from(facts: HostFacts) -> Self {
        Host::new(facts.ec2, facts.image, facts.container_instance)
    }
}

/// The host cache of one profile, region and endpoint.
#[derive(Debug, Default)]
pub struct HostCache {
    path: Option<PathBuf>,
    ttl: Duration,
    /// Whether reads are allowed (`--refresh` writes but never reads).
    read: bool,
    file: CacheFile,
    /// What this run learned, merged into the file on save.
    learned: BTreeMap<String, Entry>,
    learned_clusters: BTreeSet<String>,
}

impl HostCache {
    /// A cache that remembers nothing (no cache directory).
    pub fn disabled() -> Self {
        Self::default()
    }

    /// The cache of `profile` in `region` (and `endpoint`, a stand-in's
    /// URL) under `dir`. With `refresh`, nothing is read but what is found
    /// is still written.
    pub fn open(
        dir: &Path,
        profile: &str,
        region: &str,
        endpoint: Option<&str>,
        ttl: Duration,
        refresh: bool,
    ) -> Self {
        let scope = endpoint.map_or_else(|| "aws".to_owned(), |e| format!("endpoint-{e}"));
        let name = format!(
            "{FILE_PREFIX}{}-{}-{}.json",
            file_safe(profile),
            file_safe(region),
            file_safe(&scope)
        );
        let path = dir.join(name);
        Self {
            file: read(&path),
            path: Some(path),
            ttl,
            read: !refresh,
            learned: BTreeMap::new(),
            learned_clusters: BTreeSet::new(),
        }
    }

    /// The hosts `target` resolved to less than the TTL ago, if any.
    pub fn get(&self, target: &Target, status: Option<&str>) -> Option<Vec<Host>> {
        if !self.read || self.ttl.is_zero() {
            return None;
        }
        let now = now();
        let fresh = |key: &str| {
            self.file
                .entries
                .get(key)
                .filter(|e| now.saturating_sub(e.fetched_at) < self.ttl.as_secs())
        };
        if let Some(entry) = fresh(&key(target, status)) {
            return Some(entry.hosts.iter().cloned().map(Host::from).collect());
        }
        // A selector within a cluster: the cluster's full listing knows.
        let Target::Cluster {
            cluster,
            selector: Some(selector),
        } = target
        else {
            return None;
        };
        let listing = fresh(&key(
            &Target::Cluster {
                cluster: cluster.clone(),
                selector: None,
            },
            None,
        ))?;
        let hosts: Vec<Host> = select(&listing.hosts, selector)
            .into_iter()
            .cloned()
            .map(Host::from)
            .collect();
        (!hosts.is_empty()).then_some(hosts)
    }

    /// Remembers what `target` resolved to (nothing, when it is empty).
    pub fn put(&mut self, target: &Target, status: Option<&str>, hosts: &[Host]) {
        if self.path.is_none() || hosts.is_empty() {
            return;
        }
        let entry = Entry {
            fetched_at: now(),
            hosts: hosts.iter().map(HostFacts::from).collect(),
        };
        let key = key(target, status);
        self.file.entries.insert(key.clone(), entry.clone());
        self.learned.insert(key, entry);
        self.learned_clusters
            .extend(hosts.iter().filter_map(|h| h.cluster().map(str::to_owned)));
    }

    /// Remembers the names of the region's clusters.
    pub fn put_clusters(&mut self, names: impl IntoIterator<Item = String>) {
        if self.path.is_some() {
            self.learned_clusters.extend(names);
        }
    }

    /// Writes what this run learned, merged into the file as it is now.
    pub fn save(&mut self) {
        let Some(path) = &self.path else { return };
        if self.learned.is_empty()
            && self
                .learned_clusters
                .iter()
                .all(|c| self.file.clusters.contains(c))
        {
            return;
        }
        let learned = std::mem::take(&mut self.learned);
        let clusters = std::mem::take(&mut self.learned_clusters);
        update(path, |file| {
            file.entries.extend(learned);
            file.clusters.extend(clusters);
        });
        self.file = read(path);
    }
}

/// The cluster names any cache under `dir` has seen, sorted.
pub fn cluster_names(dir: &Path) -> Vec<String> {
    let mut names = BTreeSet::new();
    for path in cache_files(dir) {
        let file = read(&path);
        names.extend(file.clusters);
        for entry in file.entries.values() {
            names.extend(
                entry
                    .hosts
                    .iter()
                    .filter_map(|h| h.container_instance.as_ref().map(|c| c.cluster.clone())),
            );
        }
    }
    names.into_iter().collect()
}

/// The Name tags (else instance ids) of the hosts of `cluster` that any
/// cache under `dir` holds, sorted.
pub fn host_names(dir: &Path, cluster: &str) -> Vec<String> {
    let mut names = BTreeSet::new();
    for path in cache_files(dir) {
        for entry in read(&path).entries.values() {
            for host in &entry.hosts {
                if host
                    .container_instance
                    .as_ref()
                    .is_some_and(|c| c.cluster == cluster)
                {
                    let name = host.ec2.tags.get("Name").cloned();
                    names.insert(name.unwrap_or_else(|| host.ec2.instance_id.clone()));
                }
            }
        }
    }
    names.into_iter().collect()
}

/// Drops, from every host cache under `dir`, each entry that holds one of
/// `instance_ids`: the facts a failed connection used are asked for again
/// next time.
pub fn forget(dir: &Path, instance_ids: &[String]) {
    if instance_ids.is_empty() {
        return;
    }
    for path in cache_files(dir) {
        let holds = |entry: &Entry| {
            entry
                .hosts
                .iter()
                .any(|h| instance_ids.contains(&h.ec2.instance_id))
        };
        if read(&path).entries.values().any(holds) {
            update(&path, |file| file.entries.retain(|_, entry| !holds(entry)));
        }
    }
}

/// The cache's key for a target and a status filter.
fn key(target: &Target, status: Option<&str>) -> String {
    match status {
        Some(status) => format!("{target} status {status}"),
        None => target.to_string(),
    }
}

/// The hosts of a cluster's listing that `selector` names, as the
/// inventory would find them.
fn select<'a>(hosts: &'a [HostFacts], selector: &Selector) -> Vec<&'a HostFacts> {
    let name_is = |h: &&HostFacts, name: &str| h.ec2.tags.get("Name").is_some_and(|n| n == name);
    let ci_id = |h: &HostFacts| h.container_instance.as_ref().map(|c| c.id.clone());
    match selector {
        Selector::InstanceId(id) => hosts.iter().filter(|h| &h.ec2.instance_id == id).collect(),
        Selector::ContainerInstanceId(id) => hosts
            .iter()
            .filter(|h| {
                h.container_instance
                    .as_ref()
                    .is_some_and(|c| &c.id == id || &c.arn == id)
            })
            .collect(),
        Selector::ContainerInstancePrefix(prefix) => {
            let by_id: Vec<_> = hosts
                .iter()
                .filter(|h| ci_id(h).is_some_and(|id| id.starts_with(prefix.as_str())))
                .collect();
            if by_id.is_empty() {
                hosts.iter().filter(|h| name_is(h, prefix)).collect()
            } else {
                by_id
            }
        }
        Selector::Address(ip) => {
            let ip = ip.to_string();
            hosts
                .iter()
                .filter(|h| {
                    h.ec2.private_ip.as_deref() == Some(ip.as_str())
                        || h.ec2.public_ip.as_deref() == Some(ip.as_str())
                })
                .collect()
        }
        Selector::Name(name) => hosts.iter().filter(|h| name_is(h, name)).collect(),
    }
}

fn cache_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let named = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(FILE_PREFIX));
            named && p.extension().is_some_and(|e| e == "json")
        })
        .collect()
}

/// The file's contents, or an empty cache when it is missing, corrupt or
/// of another version.
fn read(path: &Path) -> CacheFile {
    fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<CacheFile>(&bytes).ok())
        .filter(|file| file.version == VERSION)
        .unwrap_or_default()
}

/// Reads the file as it is now, changes it, drops stale entries, and
/// writes it back atomically. Failures only cost the next run a call.
fn update(path: &Path, change: impl FnOnce(&mut CacheFile)) {
    let Some(dir) = path.parent() else { return };
    let mut file = read(path);
    file.version = VERSION;
    change(&mut file);
    let oldest = now().saturating_sub(KEEP_AT_MOST.as_secs());
    file.entries.retain(|_, e| e.fetched_at >= oldest);
    let Ok(json) = serde_json::to_vec(&file) else {
        return;
    };
    // A cache that cannot be written is only a cache: the next run asks AWS.
    let _ = private_dir(dir).and_then(|()| write_atomically(path, &json));
}

fn file_safe(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::host as model;

    const TTL: Duration = Duration::from_secs(60);

    /// The model's example host, its OS derived as a fresh lookup's is.
    fn example_host() -> Host {
        let host = model::example_host();
        Host::new(host.ec2, host.image, host.container_instance)
    }

    fn prod() -> Target {
        Target::Cluster {
            cluster: "prod".into(),
            selector: None,
        }
    }

    fn in_prod(selector: Selector) -> Target {
        Target::Cluster {
            cluster: "prod".into(),
            selector: Some(selector),
        }
    }

    fn open(dir: &Path) -> HostCache {
        HostCache::open(dir, "default", "us-east-1", None, TTL, false)
    }

    #[test]
    fn remembers_per_profile_region_and_endpoint() {
        let dir = tempfile::tempdir().expect("tempdir");
        let host = example_host();
        let mut cache = open(dir.path());
        assert!(cache.get(&prod(), None).is_none());
        cache.put(&prod(), None, std::slice::from_ref(&host));
        cache.save();
        assert_eq!(open(dir.path()).get(&prod(), None), Some(vec![host]));
        for other in [
            HostCache::open(dir.path(), "ops", "us-east-1", None, TTL, false),
            HostCache::open(dir.path(), "default", "eu-west-1", None, TTL, false),
            HostCache::open(
                dir.path(),
                "default",
                "us-east-1",
                Some("http://127.0.0.1:5000"),
                TTL,
                false,
            ),
        ] {
            assert!(other.get(&prod(), None).is_none());
        }
        // The status filter is part of the key.
        assert!(open(dir.path()).get(&prod(), Some("DRAINING")).is_none());
    }

    #[test]
    fn a_cluster_listing_answers_its_hosts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let host = example_host();
        let mut cache = open(dir.path());
        cache.put(&prod(), None, std::slice::from_ref(&host));
        for selector in [
            Selector::Name("web-1".into()),
            Selector::InstanceId("i-0123456789abcdef0".into()),
            Selector::Address("10.0.1.7".parse().expect("ip")),
            Selector::ContainerInstanceId("abc".into()),
            Selector::ContainerInstancePrefix("ab".into()),
            Selector::ContainerInstancePrefix("web-1".into()),
        ] {
            assert_eq!(
                cache.get(&in_prod(selector.clone()), None),
                Some(vec![host.clone()]),
                "{selector:?}"
            );
        }
        // A host it does not hold is asked for: it may be new.
        assert!(
            cache
                .get(&in_prod(Selector::Name("web-2".into())), None)
                .is_none()
        );
        // Nor does another cluster's, or a filtered listing, answer.
        let dev = Target::Cluster {
            cluster: "dev".into(),
            selector: Some(Selector::Name("web-1".into())),
        };
        assert!(cache.get(&dev, None).is_none());
        let mut filtered = open(dir.path());
        filtered.put(&prod(), Some("ACTIVE"), std::slice::from_ref(&host));
        assert!(
            filtered
                .get(&in_prod(Selector::Name("web-1".into())), None)
                .is_none()
        );
    }

    #[test]
    fn stale_entries_refresh_and_zero_ttl_never_reads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cache = open(dir.path());
        cache.put(&prod(), None, &[example_host()]);
        cache.save();
        let path = cache.path.clone().expect("path");
        let mut file = read(&path);
        for entry in file.entries.values_mut() {
            entry.fetched_at -= 61;
        }
        fs::write(&path, serde_json::to_vec(&file).expect("json")).expect("write");
        assert!(open(dir.path()).get(&prod(), None).is_none());
        let long = HostCache::open(
            dir.path(),
            "default",
            "us-east-1",
            None,
            Duration::from_secs(300),
            false,
        );
        assert!(long.get(&prod(), None).is_some());
        let never = HostCache::open(
            dir.path(),
            "default",
            "us-east-1",
            None,
            Duration::ZERO,
            false,
        );
        assert!(never.get(&prod(), None).is_none());
        let refresh = HostCache::open(
            dir.path(),
            "default",
            "us-east-1",
            None,
            Duration::from_secs(300),
            true,
        );
        assert!(refresh.get(&prod(), None).is_none());
    }

    #[test]
    fn empty_answers_are_not_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cache = open(dir.path());
        cache.put(&prod(), None, &[]);
        cache.save();
        assert!(cache_files(dir.path()).is_empty());
    }

    #[test]
    fn a_corrupt_file_is_ignored_and_rewritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cache = open(dir.path());
        let path = cache.path.clone().expect("path");
        fs::write(
            &path,
            b"{\"version\": 1, \"entries\": {\"cluster prod\": [tru",
        )
        .expect("write");
        let mut cache2 = open(dir.path());
        assert!(cache2.get(&prod(), None).is_none());
        cache2.put(&prod(), None, &[example_host()]);
        cache2.save();
        assert!(open(dir.path()).get(&prod(), None).is_some());
        serde_json::from_slice::<serde_json::Value>(&fs::read(&path).expect("read"))
            .expect("valid JSON again");
        // A save from a run that opened the corrupt file keeps the new entry.
        cache.put(
            &in_prod(Selector::Name("web-1".into())),
            None,
            &[example_host()],
        );
        cache.save();
        let file = read(&path);
        assert_eq!(file.entries.len(), 2, "{:?}", file.entries.keys());
    }

    #[test]
    fn saves_merge_with_what_other_processes_wrote() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut first = open(dir.path());
        let mut second = open(dir.path());
        first.put(&prod(), None, &[example_host()]);
        second.put(
            &in_prod(Selector::Name("web-1".into())),
            None,
            &[example_host()],
        );
        first.save();
        second.save();
        let reopened = open(dir.path());
        assert!(reopened.get(&prod(), None).is_some());
        assert!(
            reopened
                .file
                .entries
                .contains_key("Name tag web-1 in cluster prod")
        );
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .expect("dir")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }

    #[test]
    fn forgetting_an_instance_drops_every_entry_that_holds_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let host = example_host();
        let mut other = example_host();
        other.ec2.instance_id = "i-0fedcba9876543210".into();
        let mut cache = open(dir.path());
        cache.put(&prod(), None, &[host.clone(), other.clone()]);
        let by_id = Target::Instance {
            instance_id: other.ec2.instance_id.clone(),
        };
        cache.put(&by_id, None, std::slice::from_ref(&other));
        cache.save();
        forget(dir.path(), std::slice::from_ref(&host.ec2.instance_id));
        let reopened = open(dir.path());
        assert!(reopened.get(&prod(), None).is_none());
        assert!(reopened.get(&by_id, None).is_some());
    }

    #[test]
    fn names_for_completion() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cache = open(dir.path());
        cache.put(&prod(), None, &[example_host()]);
        cache.put_clusters(["edge".to_owned(), "prod".to_owned()]);
        cache.save();
        assert_eq!(cluster_names(dir.path()), vec!["edge", "prod"]);
        assert_eq!(host_names(dir.path(), "prod"), vec!["web-1"]);
        assert!(host_names(dir.path(), "edge").is_empty());
        assert!(cluster_names(&dir.path().join("none")).is_empty());
    }
}
