//! What every use case shares: the settings, the AWS clients, the call
//! log behind `--stats`, and the two ways out to the operator that `ui`
//! provides: a [`Reporter`] for messages and progress, a [`Chooser`] for
//! picking one of several.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pkcs8::der::zeroize::Zeroizing;

use crate::aws::Aws;
use crate::aws::stats::CallLog;
use crate::doctor::Report;
use crate::error::Error;
use crate::firewall::{self, journal::Journal};
use crate::inventory::Inventory;
use crate::inventory::cache::AmiCache;
use crate::inventory::host_cache::{self, HostCache};
use crate::model::host::Host;
use crate::settings::Settings;

use super::reach::BastionMemo;

/// How berth speaks to the operator while it works: `ui` implements it
/// for the terminal, tests and the console their own way. Nothing below
/// `ui` prints; use cases say what happened here.
pub trait Reporter: Send + Sync {
    /// Something the operator should know (`berth: …`).
    fn say(&self, message: &str);
    /// Something that may be wrong (`berth: warning: …`).
    fn warn(&self, message: &str);
    /// A warning, and what to do about it.
    fn warn_with_hints(&self, message: &str, hints: &[String]);
    /// Detail for `-v` only.
    fn verbose(&self, message: &str);
    /// A failure that does not end the command, and what to do about it.
    fn problem(&self, message: &str, hints: &[String]);
    /// doctor's findings after a connection failed, and the command
    /// that shows the full checklist.
    fn diagnosis(&self, report: &Report, full_checklist: &str);
    /// A spinner for work that takes a while, until the guard is dropped.
    fn waiting(&self, label: &str) -> Box<dyn Send>;
    /// A spinner whose label the work keeps changing (a countdown), until
    /// it is dropped.
    fn counting_down(&self) -> Box<dyn Countdown>;
    /// The `--stats` report.
    fn stats(&self, report: &str);
    /// A bar over `hosts` hosts done, or a spinner when `None`, until it
    /// is finished.
    fn progress(&self, hosts: Option<u64>) -> Box<dyn Progress>;
}

/// Work under way, as [`Reporter::progress`] shows it.
pub trait Progress: Send + Sync {
    /// One more host done.
    fn inc(&self);
    /// What the work is at now.
    fn message(&self, message: &str);
    /// Writes `text` to stdout (stderr if `to_stderr`) above the bar.
    fn echo(&self, text: &[u8], to_stderr: bool);
    /// The work is over: the bar goes.
    fn finish(&self);
}

/// The spinner of [`Reporter::counting_down`].
pub trait Countdown: Send {
    fn show(&self, label: &str);
}

/// What a [`Chooser`] is offered: rows to pick one of.
pub struct Offer<'a> {
    pub prompt: &'a str,
    pub header: Option<&'a str>,
    pub rows: &'a [String],
}

/// What came of an offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Picked(usize),
    /// The operator pressed Esc (or Ctrl-C).
    Cancelled,
    /// A chooser program printed nothing it was offered.
    NothingChosen,
    /// Nobody is there to choose: no chooser and no terminal.
    NoTerminal,
}

/// Picks one of several (hosts, containers): `ui` implements it with
/// `BERTH_PICKER` and its finder.
pub trait Chooser: Send + Sync {
    fn choose(&self, offer: &Offer<'_>) -> Result<Choice, Error>;
    /// The header and one line per host, as the picker shows them.
    fn host_lines(&self, hosts: &[Host], config_users: &[Option<String>]) -> (String, Vec<String>);
    /// A secret typed at the terminal after `prompt` (a key's passphrase),
    /// unnoticed by any screen; `None` when nobody is there to type it.
    fn secret(&self, prompt: &str) -> Result<Option<Zeroizing<Vec<u8>>>, Error>;
}

/// How long a phase runs before its spinner shows: a warm run never
/// flickers one.
const SPINNER_AFTER: Duration = Duration::from_millis(250);

/// What every command shares: settings, the call log behind `--stats`,
/// and the bastions found so far (a fleet's hosts share them).
pub struct Context {
    pub settings: Settings,
    pub log: Arc<CallLog>,
    pub reporter: Box<dyn Reporter>,
    pub chooser: Box<dyn Chooser>,
    pub(super) bastions: std::sync::Mutex<BastionMemo>,
    /// The instances this run connects to (see [`Context::connecting_to`]).
    connected: std::sync::Mutex<Vec<String>>,
    /// AWS clients by region override, made once and shared (one config
    /// load, one connection pool) by everything the run does at once.
    clients: tokio::sync::Mutex<BTreeMap<Option<String>, Aws>>,
}

impl Context {
    pub fn new(settings: Settings, reporter: Box<dyn Reporter>, chooser: Box<dyn Chooser>) -> Self {
        Self {
            settings,
            log: CallLog::new(),
            reporter,
            chooser,
            bastions: std::sync::Mutex::default(),
            connected: std::sync::Mutex::default(),
            clients: tokio::sync::Mutex::default(),
        }
    }

    /// The AWS clients for the settings' region, or `region_override`;
    /// connected on first use.
    pub async fn aws(&self, region_override: Option<&str>) -> Result<Aws, Error> {
        let mut clients = self.clients.lock().await;
        let key = region_override.map(str::to_owned);
        if let Some(aws) = clients.get(&key) {
            return Ok(aws.clone());
        }
        let aws = Aws::connect(&self.settings.aws, region_override, Arc::clone(&self.log)).await?;
        clients.insert(key, aws.clone());
        Ok(aws)
    }

    /// Connects to AWS with the AMI cache attached. No call is made, unless
    /// an earlier berth left temporary rules behind: those go first.
    pub async fn inventory(&self, region_override: Option<&str>) -> Result<Inventory, Error> {
        let aws = self.aws(region_override).await?;
        self.remove_leftovers(&aws).await;
        let amis = match (&self.settings.cache_dir, self.settings.refresh) {
            (Some(dir), false) => AmiCache::open(dir, &aws.region, aws.endpoint_url.as_deref()),
            _ => AmiCache::disabled(),
        };
        let hosts = match &self.settings.cache_dir {
            Some(dir) => HostCache::open(
                dir,
                aws.profile.as_deref().unwrap_or("default"),
                &aws.region,
                aws.endpoint_url.as_deref(),
                self.settings.cache_ttl,
                self.settings.refresh,
            ),
            None => HostCache::disabled(),
        };
        Ok(Inventory::new(aws, amis).with_host_cache(hosts))
    }

    /// Notes the host a command connects to: if the connection fails, the
    /// cached facts that led there are dropped.
    pub fn connecting_to(&self, host: &Host) {
        self.connected
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(host.instance_id().to_owned());
    }

    /// Drops the cached facts of the hosts this run connected to (after a
    /// failed connection: they may be stale).
    pub fn forget_cached_hosts(&self) {
        let ids = std::mem::take(
            &mut *self
                .connected
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        if let Some(dir) = &self.settings.cache_dir {
            host_cache::forget(dir, &ids);
        }
    }

    /// The journal of temporary security-group rules.
    pub fn journal(&self) -> Result<Journal, Error> {
        self.settings
            .state_dir
            .as_deref()
            .map(Journal::new)
            .ok_or_else(|| {
                Error::usage(
                    "no state directory for the journal of temporary rules".to_owned(),
                    "set HOME or XDG_STATE_HOME".to_owned(),
                )
            })
    }

    /// Removes rules of sessions that were killed before they could, and
    /// `--fix` rules that expired. Problems are reported, never fatal.
    async fn remove_leftovers(&self, aws: &Aws) {
        let Ok(journal) = self.journal() else { return };
        if !firewall::has_stale(&journal) {
            return;
        }
        match firewall::sweep(aws, &journal, false).await {
            Ok(sweep) => {
                for removed in sweep.removed {
                    self.reporter.say(&format!(
                        "removed a temporary rule an earlier berth left: {removed}"
                    ));
                }
                for failed in sweep.failed {
                    self.reporter.warn(&format!(
                        "could not remove a leftover temporary rule: {failed}"
                    ));
                }
            }
            Err(e) => self
                .reporter
                .warn(&format!("leftover temporary rules: {e}")),
        }
    }

    /// The `--stats` report, if asked for.
    pub fn report_stats(&self) {
        if self.settings.stats {
            self.reporter.stats(&self.log.report());
        }
    }

    /// Warnings always, notes with `-v`: what a plan wants said.
    pub fn announce(&self, warnings: &[String], notes: &[String]) {
        for warning in warnings {
            self.reporter.warn(warning);
        }
        for note in notes {
            self.verbose(note);
        }
    }

    pub fn verbose(&self, message: &str) {
        self.reporter.verbose(message);
    }

    /// Times `work` as a named phase of `--stats`, with a spinner on
    /// stderr (a terminal only) once it has taken longer than a moment.
    pub async fn phase<T>(&self, name: &str, work: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let mut work = std::pin::pin!(work);
        let out = if self.settings.progress {
            tokio::select! {
                out = &mut work => out,
                () = tokio::time::sleep(SPINNER_AFTER) => {
                    let _spinner = self.reporter.waiting(&format!("{name}…"));
                    work.await
                }
            }
        } else {
            work.await
        };
        self.log.phase(name, started.elapsed());
        out
    }
}
