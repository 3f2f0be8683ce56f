//! `berth ssh-config`: the OpenSSH configuration that makes `ssh i-…` and
//! `ssh CLUSTER.NAME.berth` (and scp, rsync, sftp, VS Code, Ansible) go
//! through `berth proxy`, printed or put into a marked block of
//! `~/.ssh/config`; per cluster, a snapshot of its hosts with the user and
//! key berth would use (see [`crate::ssh_config`] for the design).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::aws::Aws;
use crate::error::Error;
use crate::model::host::Host;
use crate::model::named::Named as _;
use crate::model::os::Login;
use crate::model::target;
use crate::plan::{self, Via};
use crate::platform::files::{private_dir, write_atomically};
use crate::secrets::keys;
use crate::ssh_config::{self, HostEntry, Installed, SkippedHost};

use super::request::Filters;
use super::{Context, config_user, find_hosts};

/// ssh's tokens for the host name it connects to and the port.
const HOST_TOKEN: &str = "%h";

/// Where the per-cluster snapshots go, under berth's state directory.
const SNAPSHOT_DIR: &str = "ssh_config.d";

/// What `ssh-config` is asked for.
#[derive(Debug, Clone, Default)]
pub struct SshConfigRequest {
    /// Clusters whose hosts get a block each (`--hosts`).
    pub hosts: Vec<String>,
    /// The route the ProxyCommands take (`--via`).
    pub via: Option<Via>,
    /// The ssh config file (`--file`), else `~/.ssh/config`.
    pub file: Option<PathBuf>,
    /// `--resume-for`, passed on to `berth proxy` in the ProxyCommands.
    pub resume_for: Option<Duration>,
}

/// The configuration: a snapshot per cluster, and the catch-all block.
pub struct Generated {
    pub snapshots: Vec<(String, String)>,
    pub catch_all: String,
}

/// Makes the configuration (looking the clusters' hosts up).
pub async fn generate(ctx: &Context, request: &SshConfigRequest) -> Result<Generated, Error> {
    let catch_all = ssh_config::catch_all(&command_line(&proxy_words(None, request, HOST_TOKEN)));
    let mut snapshots = Vec::new();
    for cluster in &request.hosts {
        snapshots.push((cluster.clone(), snapshot(ctx, cluster, request).await?));
    }
    Ok(Generated {
        snapshots,
        catch_all,
    })
}

/// Writes the snapshots and puts berth's block into the ssh config.
pub fn install(
    ctx: &Context,
    request: &SshConfigRequest,
    generated: &Generated,
) -> Result<(), Error> {
    let dir = snapshot_dir(ctx)?;
    for (cluster, text) in &generated.snapshots {
        let file = dir.join(format!("{cluster}.conf"));
        write_config(&file, text).map_err(|e| write_error(&file, &e))?;
        ctx.reporter.say(&format!("wrote {}", file.display()));
    }
    let path = ssh_config_path(ctx, request)?;
    let existing = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(write_error(&path, &e)),
    };
    let block = ssh_config::managed_block(&dir.join("*.conf"), &generated.catch_all);
    let (updated, outcome) = ssh_config::install(&existing, &block);
    if outcome != Installed::Unchanged {
        write_config(&path, &updated).map_err(|e| write_error(&path, &e))?;
    }
    let what = match outcome {
        Installed::Added => "added berth's block at the top",
        Installed::Replaced => "updated berth's block",
        Installed::Unchanged => "berth's block is up to date",
    };
    ctx.reporter.say(&format!("{}: {what}", path.display()));
    Ok(())
}

/// Removes berth's block and the snapshots.
pub fn uninstall(ctx: &Context, request: &SshConfigRequest) -> Result<(), Error> {
    let path = ssh_config_path(ctx, request)?;
    match fs::read_to_string(&path)
        .ok()
        .and_then(|t| ssh_config::uninstall(&t))
    {
        Some(text) => {
            write_config(&path, &text).map_err(|e| write_error(&path, &e))?;
            ctx.reporter
                .say(&format!("{}: removed berth's block", path.display()));
        }
        None => ctx
            .reporter
            .say(&format!("{}: has no berth block", path.display())),
    }
    let dir = snapshot_dir(ctx)?;
    if let Ok(entries) = fs::read_dir(&dir) {
        for entry in entries.flatten() {
            if entry.path().extension().is_some_and(|e| e == "conf") {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
    Ok(())
}

/// The per-host blocks of one cluster.
async fn snapshot(
    ctx: &Context,
    cluster: &str,
    request: &SshConfigRequest,
) -> Result<String, Error> {
    let query = target::parse(cluster)?;
    let Some(cluster) = query.whole_cluster() else {
        return Err(Error::usage(
            format!("--hosts takes a cluster, not `{cluster}`"),
            "name the cluster whose hosts to write, e.g. --hosts prod".to_owned(),
        ));
    };
    let inventory = ctx.inventory(query.region.as_deref()).await?;
    let hosts = find_hosts(ctx, &inventory, &query, &Filters::default()).await?;
    inventory.save();
    let aws = inventory.aws();
    let mut hosts = hosts;
    hosts.sort_by(|a, b| (a.name(), a.instance_id()).cmp(&(b.name(), b.instance_id())));
    let mut entries = Vec::new();
    let mut skipped = Vec::new();
    for host in &hosts {
        match host.os.login() {
            Login::Ssh(_) => entries.push(host_entry(ctx, aws, cluster, &hosts, host, request)?),
            Login::Rdp(_) => skipped.push(SkippedHost {
                label: host.label(),
                reason: "Windows, no ssh: use `berth rdp`".to_owned(),
            }),
            Login::NoShell => skipped.push(SkippedHost {
                label: host.label(),
                reason: format!("{} has no shell on the host", host.os.label()),
            }),
        }
    }
    let header = format!(
        "berth ssh-config --hosts {cluster}: {} of {} hosts of cluster {cluster} in {}{}",
        entries.len(),
        hosts.len(),
        aws.region,
        aws.profile
            .as_ref()
            .map(|p| format!(" (profile {p})"))
            .unwrap_or_default()
    );
    Ok(ssh_config::host_blocks(&header, &entries, &skipped))
}

fn host_entry(
    ctx: &Context,
    aws: &Aws,
    cluster: &str,
    hosts: &[Host],
    host: &Host,
    request: &SshConfigRequest,
) -> Result<HostEntry, Error> {
    let id = host.instance_id();
    // A Name shared by several hosts would pick one silently: left out.
    let unique_name = host
        .name()
        .filter(|name| hosts.iter().filter(|h| h.name() == Some(name)).count() == 1);
    let mut names: Vec<String> = unique_name
        .and_then(|name| ssh_config::host_name_alias(cluster, name))
        .into_iter()
        .collect();
    names.extend(ssh_config::host_name_alias(cluster, id));
    names.push(id.to_owned());
    let user = plan::login_user(host, None, config_user(ctx, host).as_deref())
        .map_or_else(|| "ec2-user".to_owned(), |(user, _)| user);
    let key = keys::find_key(
        None,
        host.ec2.key_name.as_deref(),
        &ctx.settings.config.key_dirs,
        ctx.settings.home.as_deref(),
    )?;
    let identity_note = match (&key.found, &host.ec2.key_name) {
        (Some(_), _) => None,
        (None, Some(name)) => Some(format!(
            "no private key for key pair {name} found; ssh tries your agent and its own keys"
        )),
        (None, None) => {
            Some("launched without a key pair; ssh tries your agent and its own keys".to_owned())
        }
    };
    let target = format!("{cluster}/{id}");
    Ok(HostEntry {
        names,
        label: host.label(),
        user,
        identity_file: key.found.map(|k| k.path.display().to_string()),
        identity_note,
        proxy_command: command_line(&proxy_words(Some(aws), request, &target)),
        host_key_alias: id.to_owned(),
    })
}

/// `berth [--region R --profile P --endpoint-url E] proxy [--via V]
/// [--resume-for D] TARGET %p`: a host's snapshot pins where it was found
/// (`pinned`); the catch-all follows the settings in force when ssh runs.
fn proxy_words(pinned: Option<&Aws>, request: &SshConfigRequest, target: &str) -> Vec<String> {
    let exe =
        std::env::current_exe().map_or_else(|_| "berth".to_owned(), |p| p.display().to_string());
    let mut words = vec![exe];
    if let Some(aws) = pinned {
        words.extend(["--region".to_owned(), aws.region.clone()]);
        if let Some(profile) = &aws.profile {
            words.extend(["--profile".to_owned(), profile.clone()]);
        }
        if let Some(url) = &aws.endpoint_url {
            words.extend(["--endpoint-url".to_owned(), url.clone()]);
        }
    }
    words.push("proxy".to_owned());
    if let Some(via) = request.via {
        words.extend(["--via".to_owned(), via.name().to_owned()]);
    }
    words.extend(super::pipeline::ssm_proxy_options(request.resume_for));
    words.extend([target.to_owned(), plan::PORT_TOKEN.to_owned()]);
    words
}

/// A ProxyCommand value: the words quoted for the shell ssh runs it with,
/// every `%` doubled but in ssh's own tokens (`%h`, `%p`).
fn command_line(words: &[String]) -> String {
    let words: Vec<String> = words
        .iter()
        .map(|w| {
            if w == HOST_TOKEN || w == plan::PORT_TOKEN {
                w.clone()
            } else {
                w.replace('%', "%%")
            }
        })
        .collect();
    shlex::try_join(words.iter().map(String::as_str)).unwrap_or_else(|_| words.join(" "))
}

fn snapshot_dir(ctx: &Context) -> Result<PathBuf, Error> {
    ctx.settings
        .state_dir
        .as_ref()
        .map(|d| d.join(SNAPSHOT_DIR))
        .ok_or_else(|| {
            Error::usage(
                "no state directory for the ssh config snapshots".to_owned(),
                "set HOME or XDG_STATE_HOME".to_owned(),
            )
        })
}

/// `--file`, else `~/.ssh/config`; a symbolic link (a dotfiles manager's)
/// is followed, so that the file it points to is the one changed.
fn ssh_config_path(ctx: &Context, request: &SshConfigRequest) -> Result<PathBuf, Error> {
    let path = request
        .file
        .clone()
        .or_else(|| ctx.settings.home.as_ref().map(|h| h.join(".ssh/config")))
        .ok_or_else(|| {
            Error::usage(
                "no home directory to find ~/.ssh/config in".to_owned(),
                "set HOME, or name the file with --file".to_owned(),
            )
        })?;
    Ok(fs::canonicalize(&path).unwrap_or(path))
}

fn write_error(path: &Path, e: &std::io::Error) -> Error {
    Error::usage(
        format!("cannot write {}: {e}", path.display()),
        "check the directory's permissions, or name another file with --file".to_owned(),
    )
}

/// Writes through a temporary file and a rename, mode 0600 (ssh refuses a
/// config others can write), in a directory that is created 0700 (an
/// existing one, the user's `~/.ssh`, is left as it is).
fn write_config(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.exists() {
        private_dir(dir)?;
    }
    write_atomically(path, text.as_bytes())
}
