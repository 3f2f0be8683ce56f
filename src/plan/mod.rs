//! Pure planning: from the facts about one host and what the operator asked
//! for, decide the user, the key, the address and the exact ssh argv.
//!
//! Nothing here touches the network, the file system or the clock; a plan
//! is data that `--dry-run` prints and `transport` runs. Every refusal is a
//! [`PlanError`] naming the prerequisite that failed and how to fix it.
//!
//! A plan that logs in with a one-time key ([`InstanceConnectPush`]) says
//! so; the command makes the key, pushes it with EC2 Instance Connect and
//! puts its file in the argv ([`Plan::argv_with_key`]) just before ssh runs.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::model::host::{Host, Instance};
use crate::model::os::{Login, OsFamily};
use crate::secrets::ephemeral::KeyType;
use crate::secrets::keys::{KeyFile, KeyLookup, KeySource};

pub mod copy;
pub use crate::model::route::Via;
use crate::model::route::{AddressKind, Route, RouteTo};

pub mod exec;
pub mod proxy;
pub mod rdp;
pub mod route;

/// Where the login user came from, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UserSource {
    Flag,
    Tag,
    Config,
    Ami,
}

/// The instance tag that names its login user.
pub const USER_TAG: &str = "berth:user";

/// What the operator asked for, after flags, config and environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshRequest {
    /// `--user`.
    pub user: Option<String>,
    /// The config file's user for this cluster (or its global one).
    pub config_user: Option<String>,
    pub port: Option<u16>,
    pub via: Via,
    /// ssh options passed through verbatim, in order (`-o X`, `-L …`, `-A`).
    pub passthrough: Vec<String>,
    /// Words after `--`; ssh joins them and the remote shell runs them.
    pub remote_command: Vec<String>,
    /// The ssh program (`ssh`, or `$BERTH_SSH`).
    pub program: String,
    /// When to log in with a one-time key pushed with EC2 Instance Connect.
    pub one_time_key: OneTimeKey,
    /// The kind of one-time key, when one is pushed.
    pub one_time_key_type: KeyType,
}

/// When a plan logs in with a one-time key pushed with EC2 Instance Connect
/// instead of the key pair's. `-i FILE` always wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OneTimeKey {
    /// When no private key is found for the instance (it has no key pair,
    /// or its file is not here) and its AMI ships ec2-instance-connect.
    #[default]
    Auto,
    /// Always (`--ephemeral-key`; `--via instance-connect` implies it).
    Always,
    /// Never: the key pair's file, or ssh-agent. For a jump host, whose
    /// ProxyCommand or tunnel is fixed before a key could be pushed.
    Never,
}

/// Where the one-time key's file goes in a plan's argv until it exists.
pub const ONE_TIME_KEY: &str = "<one-time-key>";

/// Where the bastion's one-time key goes, inside the ProxyCommand word.
pub const BASTION_ONE_TIME_KEY: &str = "<bastion-one-time-key>";

/// A bastion's own ssh argv (a tunnel's, or `berth proxy`'s `-W`) with its
/// one-time key's file, once pushed, where [`BASTION_ONE_TIME_KEY`] stands.
pub fn with_bastion_key(argv: &[String], key: Option<&Path>) -> Vec<String> {
    argv.iter()
        .map(|w| match key {
            Some(key) if w == BASTION_ONE_TIME_KEY => key.display().to_string(),
            _ => w.clone(),
        })
        .collect()
}

/// A one-time key to push with EC2 Instance Connect before ssh runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceConnectPush {
    pub instance_id: String,
    /// The OS user the key is for: the plan's login user.
    pub os_user: String,
    pub availability_zone: Option<String>,
    pub key_type: KeyType,
    /// Why berth logs in this way.
    pub reason: String,
    /// Where [`ONE_TIME_KEY`] stands in the plan's argv.
    #[serde(skip)]
    argv_index: usize,
}

/// The bastion's own ssh, as a ProxyCommand of a plan runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jump {
    /// The bastion's instance id; `None` for a host outside EC2.
    pub instance_id: Option<String>,
    /// The address its ssh connects to.
    pub address: String,
    /// Its ssh argv, with `-W` [`JUMP_FORWARD`] (or the hop's own forward)
    /// and its host key options; its one-time key's file, when it pushes
    /// one, goes where [`BASTION_ONE_TIME_KEY`] stands.
    pub argv: Vec<String>,
    /// A one-time key to push for the bastion first.
    pub push: Option<InstanceConnectPush>,
}

impl Jump {
    /// The bastion's argv without the `-W` forward: an ssh to the bastion
    /// itself, ending in `-- USER@ADDRESS`.
    pub fn own_argv(&self) -> Vec<String> {
        let mut argv = Vec::with_capacity(self.argv.len());
        let mut words = self.argv.iter();
        while let Some(word) = words.next() {
            if word == "-W" {
                words.next();
            } else {
                argv.push(word.clone());
            }
        }
        argv
    }
}

/// A connection, decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub instance_id: String,
    pub user: String,
    pub user_from: UserSource,
    pub address: String,
    /// The route to the address (a bastion's plan says `private`: its
    /// ProxyCommand is added later).
    pub route: RouteTo,
    pub port: Option<u16>,
    pub key: Option<KeyFile>,
    /// A one-time key to push first; `argv` holds [`ONE_TIME_KEY`] where
    /// its file goes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_connect: Option<InstanceConnectPush>,
    /// A one-time key to push for the bastion first; the ProxyCommand in
    /// `argv` holds [`BASTION_ONE_TIME_KEY`] where its file goes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bastion_instance_connect: Option<InstanceConnectPush>,
    /// The bastion hop the ProxyCommand in `argv` runs, when there is one:
    /// after a failed connection it is asked on its own, so that a host
    /// key refused there is blamed on the bastion, not on the target.
    #[serde(skip)]
    pub jump: Option<Jump>,
    /// The exact command line; `argv[0]` is the program.
    pub argv: Vec<String>,
    /// How the choices were made (shown with `-v` and by `show`).
    pub notes: Vec<String>,
    /// Things the operator should know before connecting (always shown).
    pub warnings: Vec<String>,
}

impl Plan {
    /// The argv to run once the one-time key is at `key` (the argv itself
    /// when the plan pushes no key).
    pub fn argv_with_key(&self, key: &Path) -> Vec<String> {
        self.argv_with_keys(Some(key), None)
    }

    /// The argv to run once the one-time keys are on disk: the host's at
    /// `key`, the bastion's at `bastion_key` (shell-quoted inside the
    /// ProxyCommand, which ssh runs with the shell).
    pub fn argv_with_keys(&self, key: Option<&Path>, bastion_key: Option<&Path>) -> Vec<String> {
        let mut argv = self.argv.clone();
        if let (Some(push), Some(key)) = (&self.instance_connect, key)
            && let Some(word) = argv.get_mut(push.argv_index)
        {
            *word = key.display().to_string();
        }
        if let Some(bastion_key) = bastion_key {
            let placeholder = shlex::try_quote(BASTION_ONE_TIME_KEY)
                .map(std::borrow::Cow::into_owned)
                .unwrap_or_default();
            let path = bastion_key.display().to_string();
            let quoted = shlex::try_quote(&path).map_or(path.clone(), std::borrow::Cow::into_owned);
            for word in &mut argv {
                if word.contains(&placeholder) {
                    *word = word.replace(&placeholder, &quoted.replace('%', "%%"));
                }
            }
        }
        argv
    }

    /// The argv of a bastion's own ssh with [`BASTION_ONE_TIME_KEY`] where
    /// its one-time key goes (the argv itself when it pushes none).
    pub fn bastion_argv(&self) -> Vec<String> {
        let mut argv = self.argv.clone();
        if let Some(push) = &self.instance_connect
            && let Some(word) = argv.get_mut(push.argv_index)
        {
            BASTION_ONE_TIME_KEY.clone_into(word);
        }
        argv
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("{instance_id} is a Windows instance: it has no SSH server to log in to")]
    Windows { instance_id: String },
    #[error("{instance_id} runs {os}, which has no SSH server on the host")]
    NoShell {
        instance_id: String,
        os: &'static str,
    },
    #[error("{instance_id} is {state}, not running")]
    NotRunning { instance_id: String, state: String },
    #[error(
        "{instance_id} was launched without a key pair, so there is no private key to log in with"
    )]
    NoKeyPair { instance_id: String },
    #[error("{instance_id} has no {wanted} address")]
    NoRoute {
        instance_id: String,
        wanted: &'static str,
        available: Vec<String>,
    },
    #[error("private key {} is readable by others (mode {mode:03o}); ssh will refuse it", .path.display())]
    KeyTooOpen { path: PathBuf, mode: u32 },
}

impl crate::model::hint::Hint for PlanError {
    /// The next step, with the real ids filled in.
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::Windows { instance_id } => {
                format!("connect over RDP instead: `berth rdp {instance_id}`")
            }
            Self::NoShell { instance_id, .. } => format!(
                "use its control container through SSM: `aws ssm start-session --target {instance_id}`, \
                 then `enter-admin-container` for a root shell"
            ),
            Self::NotRunning { instance_id, state } => match state.as_str() {
                "stopped" | "stopping" => format!(
                    "start it with `aws ec2 start-instances --instance-ids {instance_id}`, \
                     or pick another host"
                ),
                Instance::EXTERNAL => format!(
                    "it is an ECS Anywhere (external) instance, not an EC2 one: reach it over \
                     SSM with `aws ssm start-session --target {instance_id}`"
                ),
                Instance::NOT_FOUND => "EC2 no longer knows this instance; ECS will deregister \
                     it: pick another host"
                    .to_owned(),
                "terminated" | "shutting-down" => {
                    "a terminated instance never comes back: pick another host (`berth ls` \
                     lists them)"
                        .to_owned()
                }
                _ => "wait until it is running, or pick another host".to_owned(),
            },
            Self::NoKeyPair { instance_id } => format!(
                "the key-pair route the AWS docs describe is closed for this instance; if it has \
                 the ec2-instance-connect package (Amazon Linux 2 and 2023 and Ubuntu ship it), \
                 log in with a one-time key: `berth ssh {instance_id} --via instance-connect`; \
                 else use SSM Session Manager (`aws ssm start-session --target {instance_id}`), \
                 or pass `-i FILE` if the AMI trusts a key of yours"
            ),
            Self::NoRoute { available, .. } if available.is_empty() => {
                "the instance has no address at all; is it still starting?".to_owned()
            }
            Self::NoRoute { available, .. } => {
                format!("routes that exist: {}", available.join("; "))
            }
            Self::KeyTooOpen { path, .. } => format!("run `chmod 600 {}`", path.display()),
        })
    }
}

/// What the operator should know about a container instance before
/// connecting to it: it is being drained, or its agent is gone.
pub fn container_warnings(host: &Host) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(ci) = &host.container_instance {
        if ci.status != "ACTIVE" {
            warnings.push(format!(
                "container instance {}/{} is {}: ECS is moving its tasks away",
                ci.cluster, ci.id, ci.status
            ));
        }
        if !ci.agent_connected {
            warnings.push(format!(
                "the ECS agent on {} is disconnected (`sudo systemctl status ecs` on the host)",
                host.ec2.instance_id
            ));
        }
    }
    warnings
}

/// The `-W` word that makes a jump host's ssh forward stdin and stdout to
/// the target, which ssh fills in for `%h:%p`.
pub const JUMP_FORWARD: &str = "%h:%p";

/// The word ssh replaces with the port it connects to, for a ProxyCommand
/// that opens the connection itself (`berth proxy … %p`).
pub const PORT_TOKEN: &str = "%p";

/// The `ProxyCommand` that reaches the target through a jump host, from the
/// jump host's ssh argv (planned with `-W` [`JUMP_FORWARD`]), or through
/// `berth proxy` (ending in [`PORT_TOKEN`]). A command line given to `-o`
/// does not reach a `-J` jump host; a ProxyCommand with the jump host's own
/// options does. ssh expands `%` tokens in it and runs it with the shell:
/// other `%` are doubled and every word is quoted.
pub fn proxy_command(jump_argv: &[String]) -> String {
    let words: Vec<String> = jump_argv
        .iter()
        .map(|w| {
            if w == JUMP_FORWARD || w == PORT_TOKEN {
                w.clone()
            } else {
                w.replace('%', "%%")
            }
        })
        .collect();
    shlex::try_join(words.iter().map(String::as_str)).unwrap_or_else(|_| words.join(" "))
}

/// Plans an ssh connection to `host`.
pub fn plan_ssh(host: &Host, request: &SshRequest, key: &KeyLookup) -> Result<Plan, PlanError> {
    let instance_id = host.ec2.instance_id.clone();
    match host.os.login() {
        Login::Rdp(_) => return Err(PlanError::Windows { instance_id }),
        Login::NoShell => {
            return Err(PlanError::NoShell {
                instance_id,
                os: host.os.label(),
            });
        }
        Login::Ssh(_) => {}
    }
    if host.ec2.state != "running" {
        return Err(PlanError::NotRunning {
            instance_id,
            state: host.ec2.state.clone(),
        });
    }
    let mut notes = Vec::new();
    let mut warnings = container_warnings(host);
    let key = choose_key(host, request, key, &mut warnings)?;
    let (user, user_from) = choose_user(host, request);
    if host.os == OsFamily::Unknown && user_from == UserSource::Ami {
        warnings.push(format!(
            "the AMI of {instance_id} is unknown to berth; guessed user `{user}` (use --user or tag the instance {USER_TAG}=NAME)"
        ));
    }
    let (address, route) = choose_address(host, request.via)?;
    notes.push(format!("route: {} via {address}", route.label()));

    // The operator's options come first: for `-o`, OpenSSH keeps the first
    // value it sees, so theirs must beat berth's defaults.
    let mut argv = vec![request.program.clone()];
    if let Some(port) = request.port {
        argv.push("-p".to_owned());
        argv.push(port.to_string());
    }
    argv.extend(request.passthrough.iter().cloned());
    let mut instance_connect = None;
    let key = match key {
        KeyChoice::File(file) => {
            notes.push(format!(
                "key: {} ({})",
                file.path.display(),
                match file.source {
                    KeySource::Flag => "-i",
                    KeySource::ConfigDir => "the config file's key_dirs",
                    KeySource::SshDir => "~/.ssh",
                }
            ));
            Some(file)
        }
        KeyChoice::InstanceConnect { reason } => {
            notes.push(format!(
                "key: a one-time {} key for {user}, pushed with EC2 Instance Connect ({reason})",
                request.one_time_key_type.label()
            ));
            instance_connect = Some(InstanceConnectPush {
                instance_id: instance_id.clone(),
                os_user: user.clone(),
                availability_zone: host.ec2.availability_zone.clone(),
                key_type: request.one_time_key_type,
                reason,
                argv_index: argv.len() + 1,
            });
            None
        }
        KeyChoice::Agent => None,
    };
    let key_word = match (&key, &instance_connect) {
        (Some(file), _) => Some(file.path.display().to_string()),
        (None, Some(_)) => Some(ONE_TIME_KEY.to_owned()),
        (None, None) => None,
    };
    if let Some(word) = key_word {
        argv.push("-i".to_owned());
        argv.push(word);
        // An agent full of other keys can exhaust MaxAuthTries first.
        argv.push("-o".to_owned());
        argv.push("IdentitiesOnly=yes".to_owned());
    }
    argv.push("--".to_owned());
    argv.push(format!("{user}@{address}"));
    argv.extend(request.remote_command.iter().cloned());

    Ok(Plan {
        instance_id,
        user,
        user_from,
        address,
        route,
        port: request.port,
        key,
        instance_connect,
        bastion_instance_connect: None,
        jump: None,
        argv,
        notes,
        warnings,
    })
}

/// How ssh will authenticate.
enum KeyChoice {
    /// With this private key file.
    File(KeyFile),
    /// As ssh-agent and ~/.ssh/config decide.
    Agent,
    /// With a one-time key pushed with EC2 Instance Connect.
    InstanceConnect { reason: String },
}

/// The key: `-i FILE`; else a one-time one when asked for; else the key
/// pair's file when found; else, where the AMI ships ec2-instance-connect,
/// a one-time one; else ssh-agent's, or a refusal when there is no key pair
/// at all. [`OneTimeKey::Never`] rules out one-time keys.
fn choose_key(
    host: &Host,
    request: &SshRequest,
    key: &KeyLookup,
    warnings: &mut Vec<String>,
) -> Result<KeyChoice, PlanError> {
    let instance_id = &host.ec2.instance_id;
    let given = key
        .found
        .as_ref()
        .is_some_and(|f| f.source == KeySource::Flag);
    let ships = host.os.ships_instance_connect();
    let asked = match request.one_time_key {
        OneTimeKey::Always => true,
        OneTimeKey::Auto => request.via == Via::InstanceConnect,
        OneTimeKey::Never => false,
    };
    // Where berth may fall back to a one-time key.
    let fallback = ships && request.one_time_key != OneTimeKey::Never;
    if asked && !given {
        if !ships {
            warnings.push(format!(
                "{} AMIs do not ship ec2-instance-connect: {instance_id}'s sshd takes the pushed \
                 key only if that package is installed",
                host.os.label()
            ));
        }
        return Ok(KeyChoice::InstanceConnect {
            reason: "asked for".to_owned(),
        });
    }
    let looked = || {
        key.searched
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (&key.found, &host.ec2.key_name) {
        (Some(file), _) if file.too_open() => Err(PlanError::KeyTooOpen {
            path: file.path.clone(),
            mode: file.mode.unwrap_or_default(),
        }),
        (Some(file), _) => Ok(KeyChoice::File(file.clone())),
        (None, None) if fallback => Ok(KeyChoice::InstanceConnect {
            reason: format!("{instance_id} was launched without a key pair"),
        }),
        (None, None) => Err(PlanError::NoKeyPair {
            instance_id: instance_id.clone(),
        }),
        (None, Some(name)) if fallback => Ok(KeyChoice::InstanceConnect {
            reason: format!(
                "no private key found for key pair `{name}` (looked in {}); -i FILE uses yours",
                looked()
            ),
        }),
        (None, Some(name)) => {
            warnings.push(format!(
                "no file found for key pair `{name}` (looked in {}); leaving the key to ssh-agent and ~/.ssh/config",
                looked()
            ));
            Ok(KeyChoice::Agent)
        }
    }
}

fn choose_user(host: &Host, request: &SshRequest) -> (String, UserSource) {
    login_user(
        host,
        request.user.as_deref(),
        request.config_user.as_deref(),
    )
    .unwrap_or_else(|| ("ec2-user".to_owned(), UserSource::Ami))
}

/// The login user and where it came from: `--user`, the `berth:user` tag,
/// the config file, then the AMI's default. `None` for hosts without a
/// login (Bottlerocket) when nothing names one.
pub fn login_user<'a>(
    host: &'a Host,
    flag: Option<&'a str>,
    config_user: Option<&'a str>,
) -> Option<(String, UserSource)> {
    let tag = host
        .ec2
        .tags
        .get(USER_TAG)
        .map(String::as_str)
        .filter(|u| !u.is_empty());
    let given = |u: Option<&'a str>| u.filter(|u| !u.is_empty());
    given(flag)
        .map(|u| (u, UserSource::Flag))
        .or(tag.map(|u| (u, UserSource::Tag)))
        .or(given(config_user).map(|u| (u, UserSource::Config)))
        .or(host.os.default_user().map(|u| (u, UserSource::Ami)))
        .map(|(user, from)| (user.to_owned(), from))
}

fn choose_address(host: &Host, via: Via) -> Result<(String, RouteTo), PlanError> {
    let to = |route, address| RouteTo { route, address };
    let public = host
        .ec2
        .public_dns
        .as_ref()
        .map(|d| (d.clone(), to(Route::Public, AddressKind::DnsName)))
        .or_else(|| {
            host.ec2
                .public_ip
                .as_ref()
                .map(|ip| (ip.clone(), to(Route::Public, AddressKind::Ip)))
        });
    let private = host
        .ec2
        .private_ip
        .as_ref()
        .map(|ip| (ip.clone(), to(Route::Private, AddressKind::Ip)));
    let chosen = match via {
        Via::Auto | Via::Public => public,
        // A bastion reaches the private address.
        Via::Private | Via::Bastion => private,
        Via::InstanceConnect => public.or(private),
        Via::Eice => host
            .ec2
            .tunnel_address()
            .map(|ip| (ip.to_owned(), to(Route::Eice, AddressKind::Ip))),
        // berth's ProxyCommand takes the instance id to Session Manager.
        Via::Ssm => Some((
            host.ec2.instance_id.clone(),
            to(Route::Ssm, AddressKind::InstanceId),
        )),
    };
    chosen.ok_or_else(|| PlanError::NoRoute {
        instance_id: host.ec2.instance_id.clone(),
        wanted: match via {
            Via::Auto | Via::Public => "public",
            Via::Private | Via::Bastion | Via::Eice => "private",
            Via::InstanceConnect => "public or private",
            Via::Ssm => "Session Manager",
        },
        available: available_routes(host),
    })
}

/// Routes that exist, phrased as what to type.
fn available_routes(host: &Host) -> Vec<String> {
    let mut routes = Vec::new();
    if let Some(dns) = &host.ec2.public_dns {
        routes.push(format!("public DNS {dns} (--via public)"));
    } else if let Some(ip) = &host.ec2.public_ip {
        routes.push(format!("public IP {ip} (--via public)"));
    }
    if let Some(ip) = &host.ec2.private_ip {
        routes.push(format!(
            "private IP {ip} (--via private, from inside the VPC, over a VPN or a peered network)"
        ));
        routes.push(format!(
            "private IP {ip} through an EC2 Instance Connect Endpoint in its VPC (--via eice)"
        ));
    }
    routes
}

/// A command line as a shell would take it back (for display only: berth
/// runs argv vectors, never a shell string).
pub fn shell_words(argv: &[String]) -> String {
    shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_else(|_| argv.join(" "))
}

#[cfg(test)]
mod tests;
