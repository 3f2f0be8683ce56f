//! Pure planning of an RDP connection to a Windows container instance:
//! the user, the address, the key that decrypts the Administrator
//! password, and what to run on the operator's platform.
//!
//! The password itself is never part of a plan. Where a program needs it,
//! the plan says so with a [`PasswordInput`] for that program's stdin,
//! which `transport::rdp` fills in at the last moment. So a plan is safe
//! to print (`--dry-run`, `berth show`), and no argv, environment or file
//! a plan describes can hold the password.
//!
//! - Linux, or any platform with `--client PROGRAM`: FreeRDP,
//!   `xfreerdp /v:HOST[:PORT] /u:USER /from-stdin:force /cert:tofu`, the
//!   password on stdin. `/from-stdin:force` makes FreeRDP 2 and 3 read it
//!   from there even though the server has not asked for credentials yet;
//!   `/cert:tofu` trusts the instance's self-signed certificate on first
//!   use and refuses a changed one (as ssh's `accept-new` does), where
//!   `/cert:ignore` would hand the Administrator password to anyone in the
//!   middle. FreeRDP keeps what it trusted in `~/.config/freerdp`.
//! - macOS: a `.rdp` file (address and user, never the password) opened
//!   with `open`, the password copied to the clipboard by `pbcopy` reading
//!   its stdin, to paste when Microsoft's client asks.
//! - Windows: `cmdkey /generic:TERMSRV/HOST /user:USER /pass` stores the
//!   credential that `mstsc /v:HOST` then uses. Given `/pass` without a
//!   value cmdkey asks for the password instead of taking it on its command
//!   line, and berth answers on its stdin.
//! - `--rdp-file PATH`: only the `.rdp` file, for any client; nothing runs.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Serialize, Serializer};

use super::{PlanError, UserSource, Via, choose_address, login_user};
use crate::model::host::Host;
use crate::model::os::Login;
use crate::model::route::RouteTo;
use crate::secrets::keys::{KeyFile, KeyLookup, KeySource};
use crate::secrets::password::PasswordError;

/// The port RDP listens on unless `--port` says otherwise.
pub const RDP_PORT: u16 = 3389;

/// The FreeRDP client berth runs on Linux.
pub const FREERDP_PROGRAM: &str = "xfreerdp";

/// The user Windows AMIs log in with.
const WINDOWS_USER: &str = "Administrator";

/// Where the RDP client runs, which decides how berth launches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Platform {
    Linux,
    MacOs,
    Windows,
}

impl Platform {
    /// The platform berth was built for (other Unixes count as Linux:
    /// FreeRDP is their RDP client too).
    pub fn current() -> Self {
        if cfg!(target_os = "macos") {
            Self::MacOs
        } else if cfg!(windows) {
            Self::Windows
        } else {
            Self::Linux
        }
    }
}

/// What the operator asked for, after flags, config and environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RdpRequest {
    /// `--user`.
    pub user: Option<String>,
    /// The config file's user for this cluster (or its global one).
    pub config_user: Option<String>,
    pub via: Via,
    /// `--port`.
    pub port: Option<u16>,
    pub platform: Platform,
    /// `--client PROGRAM` (or `$BERTH_RDP_CLIENT`): a FreeRDP-compatible
    /// program to run in xfreerdp's place, on any platform.
    pub client: Option<String>,
    /// `--rdp-file PATH`: write a `.rdp` file there and run nothing.
    pub rdp_file: Option<PathBuf>,
    /// A private directory for the `.rdp` file the macOS launcher opens.
    pub scratch_dir: PathBuf,
    /// `--jump` or `--via eice`: a tunnel that forwards this local port to
    /// the instance; the client connects to it instead of the instance.
    pub tunnel: Option<Tunnel>,
}

/// A port forward from 127.0.0.1:`local_port` to the instance's RDP port,
/// through a jump host or an EC2 Instance Connect Endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tunnel {
    pub local_port: u16,
    /// What the forward goes through, as a label: the jump host, or the
    /// endpoint.
    pub through: String,
    /// What holds the forward open.
    pub forwarder: Forwarder,
}

/// What holds a [`Tunnel`] open while the client runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Forwarder {
    /// This ssh command to the jump host (`-N -L …`).
    Ssh { argv: Vec<String> },
    /// berth itself: each connection to the local port gets its own tunnel
    /// through this endpoint.
    Eice {
        endpoint_id: String,
        dns_name: String,
    },
    /// berth itself: one Session Manager port session
    /// (AWS-StartPortForwardingSession) carries every connection.
    Ssm,
}

impl Tunnel {
    /// The local address the client connects to.
    pub const LOCAL_ADDRESS: &'static str = "127.0.0.1";

    /// The `-L` spec that forwards the local port to `address:port`.
    pub fn forward(local_port: u16, address: &str, port: u16) -> String {
        format!("{}:{local_port}:{address}:{port}", Self::LOCAL_ADDRESS)
    }
}

/// An RDP connection, decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RdpPlan {
    pub instance_id: String,
    pub user: String,
    pub user_from: UserSource,
    pub address: String,
    pub route: RouteTo,
    pub port: u16,
    /// The private key that decrypts the password.
    pub key: KeyFile,
    /// The ssh tunnel to open first (`--jump`); the client then connects
    /// to its local end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<Tunnel>,
    /// A `.rdp` file to write before anything runs (never the password).
    pub rdp_file: Option<RdpFile>,
    /// Programs to run in order; the last one's exit status is berth's.
    pub steps: Vec<Step>,
    /// How the choices were made (shown with `-v` and by `show`).
    pub notes: Vec<String>,
    /// Things the operator should know before connecting (always shown).
    pub warnings: Vec<String>,
}

impl RdpPlan {
    /// `HOST` or `HOST:PORT`, as RDP clients write an address.
    pub fn endpoint(&self) -> String {
        endpoint(&self.address, self.port)
    }

    /// Whether running the plan needs the password (`--rdp-file` alone
    /// does not).
    pub fn needs_password(&self) -> bool {
        self.steps.iter().any(|s| s.stdin.is_some())
    }
}

/// A `.rdp` file: a path and the text to write there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RdpFile {
    pub path: PathBuf,
    pub text: String,
}

/// One program to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// The exact command line; `argv[0]` is the program.
    pub argv: Vec<String>,
    /// The password to write to its stdin (then closed), if it needs it.
    pub stdin: Option<PasswordInput>,
}

/// The password written to a program's stdin, followed by `terminator`.
/// It prints as `<password>` plus the terminator: the plan never holds the
/// password itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordInput {
    pub terminator: &'static str,
}

impl PasswordInput {
    /// How `--dry-run` and `show` write it.
    pub const PLACEHOLDER: &'static str = "<password>";

    /// The bytes to write, given the password.
    pub fn render(self, password: &str) -> String {
        format!("{password}{}", self.terminator)
    }

    pub fn redacted(self) -> String {
        self.render(Self::PLACEHOLDER)
    }
}

impl Serialize for PasswordInput {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.redacted())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RdpError {
    #[error("{instance_id} runs {os}, not Windows: it has no RDP server")]
    NotWindows {
        instance_id: String,
        os: &'static str,
    },
    #[error(
        "{instance_id} was launched without a key pair, so EC2 holds no Administrator password for it"
    )]
    NoKeyPair { instance_id: String },
    #[error("no private key found for key pair `{key_name}` (looked in {})", list(.searched))]
    KeyNotFound {
        key_name: String,
        searched: Vec<PathBuf>,
    },
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(
        "the Administrator password of {instance_id} is still not available after waiting {waited}"
    )]
    PasswordNotReady {
        instance_id: String,
        /// How long berth waited, in words (`3s`, `5m`).
        waited: String,
        /// When EC2 says the instance launched, and how long ago, in words.
        launched: Option<String>,
    },
    #[error("cannot use {}: {source}", .key.display())]
    Password { key: PathBuf, source: PasswordError },
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl crate::model::hint::Hint for RdpError {
    /// The next step, with the real ids filled in.
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::NotWindows { instance_id, .. } => {
                format!("connect over SSH instead: `berth ssh {instance_id}`")
            }
            Self::NoKeyPair { instance_id } => format!(
                "reset the password from a shell on the instance: \
                 `aws ssm start-session --target {instance_id}`, then `net user Administrator *`"
            ),
            Self::KeyNotFound { key_name, .. } => format!(
                "pass the private key with -i FILE, or save it as ~/.ssh/{key_name}.pem \
                 (or in a key_dirs directory of the config file)"
            ),
            Self::Plan(e) => return e.hint(),
            Self::PasswordNotReady {
                instance_id,
                launched,
                ..
            } => {
                let mut hint = String::from(
                    "EC2 has the password once Windows has booted and EC2Launch has set it; \
                     the AWS docs say to allow at least 4 minutes after launch",
                );
                if let Some(launched) = launched {
                    let _ = write!(hint, " ({instance_id} launched {launched})");
                }
                hint.push_str(
                    ". Wait longer with `--wait 10m`; if it never appears, the AMI keeps a \
                     password of its own (EC2Launch sets a random one only when configured \
                     to), so ask whoever built the AMI",
                );
                hint
            }
            Self::Password { source, .. } => return source.hint(),
        })
    }
}

/// Plans an RDP connection to `host` with the key the search found.
pub fn plan_rdp(host: &Host, request: &RdpRequest, key: &KeyLookup) -> Result<RdpPlan, RdpError> {
    let instance_id = host.ec2.instance_id.clone();
    if !matches!(host.os.login(), Login::Rdp(_)) {
        // Named with its cluster, so that the cluster's settings (its
        // route, its user) apply to the ssh the hint suggests.
        return Err(RdpError::NotWindows {
            instance_id: host
                .cluster()
                .map_or(instance_id.clone(), |c| format!("{c}/{instance_id}")),
            os: host.os.label(),
        });
    }
    if host.ec2.state != "running" {
        return Err(PlanError::NotRunning {
            instance_id,
            state: host.ec2.state.clone(),
        }
        .into());
    }
    let mut notes = Vec::new();
    let mut warnings = super::container_warnings(host);
    let key = match (&key.found, &host.ec2.key_name) {
        (Some(file), _) => file.clone(),
        (None, None) => return Err(RdpError::NoKeyPair { instance_id }),
        (None, Some(name)) => {
            return Err(RdpError::KeyNotFound {
                key_name: name.clone(),
                searched: key.searched.clone(),
            });
        }
    };
    if key.too_open() {
        warnings.push(format!(
            "private key {} is readable by others; `chmod 600 {}`",
            key.path.display(),
            key.path.display()
        ));
    }
    notes.push(format!(
        "key: {} ({})",
        key.path.display(),
        match key.source {
            KeySource::Flag => "-i",
            KeySource::ConfigDir => "the config file's key_dirs",
            KeySource::SshDir => "~/.ssh",
        }
    ));
    let (user, user_from) = login_user(
        host,
        request.user.as_deref(),
        request.config_user.as_deref(),
    )
    .unwrap_or_else(|| (WINDOWS_USER.to_owned(), UserSource::Ami));
    let (address, route) = choose_address(host, request.via)?;
    notes.push(format!("route: {} via {address}", route.label()));
    let port = request.port.unwrap_or(RDP_PORT);
    // Through a tunnel the client talks to its local end; the instance's
    // own address is where the jump host forwards to.
    let (client_address, client_port) = match &request.tunnel {
        Some(tunnel) => {
            notes.push(format!(
                "tunnel: {}:{} forwards through {} to {address}:{port}",
                Tunnel::LOCAL_ADDRESS,
                tunnel.local_port,
                tunnel.through
            ));
            (Tunnel::LOCAL_ADDRESS.to_owned(), tunnel.local_port)
        }
        None => (address.clone(), port),
    };
    if request.rdp_file.is_some() {
        notes.push("--rdp-file: writing the file only; no client runs".to_owned());
    }
    let (rdp_file, steps) =
        client_steps(request, &instance_id, &client_address, client_port, &user);
    Ok(RdpPlan {
        instance_id,
        user,
        user_from,
        address,
        route,
        port,
        key,
        tunnel: request.tunnel.clone(),
        rdp_file,
        steps,
        notes,
        warnings,
    })
}

/// What runs (and what file is written) to connect a client to
/// `address:port` as `user`.
fn client_steps(
    request: &RdpRequest,
    instance_id: &str,
    address: &str,
    port: u16,
    user: &str,
) -> (Option<RdpFile>, Vec<Step>) {
    if let Some(path) = &request.rdp_file {
        (Some(rdp_file(path, address, port, user)), Vec::new())
    } else if let Some(program) = &request.client {
        (None, vec![freerdp(program, address, port, user)])
    } else {
        match request.platform {
            Platform::Linux => (None, vec![freerdp(FREERDP_PROGRAM, address, port, user)]),
            Platform::MacOs => {
                let path = request.scratch_dir.join(format!("{instance_id}.rdp"));
                let steps = macos(&path);
                (Some(rdp_file(&path, address, port, user)), steps)
            }
            Platform::Windows => (None, windows(address, port, user)),
        }
    }
}

/// `2025-11-21T10:00:00Z, 1m 5s ago`: EC2's launch time, and how long
/// before `now` that was.
pub fn launched_words(launch_time: &str, now: SystemTime) -> Option<String> {
    let launched = humantime::parse_rfc3339_weak(launch_time).ok()?;
    let ago = now.duration_since(launched).ok()?;
    Some(format!(
        "{launch_time}, {} ago",
        humantime::format_duration(Duration::from_secs(ago.as_secs()))
    ))
}

fn endpoint(address: &str, port: u16) -> String {
    if port == RDP_PORT {
        address.to_owned()
    } else {
        format!("{address}:{port}")
    }
}

/// FreeRDP 2 or 3: the password on stdin, never on the command line.
fn freerdp(program: &str, address: &str, port: u16, user: &str) -> Step {
    Step {
        argv: vec![
            program.to_owned(),
            format!("/v:{}", endpoint(address, port)),
            format!("/u:{user}"),
            "/from-stdin:force".to_owned(),
            "/cert:tofu".to_owned(),
        ],
        stdin: Some(PasswordInput { terminator: "\n" }),
    }
}

/// The `.rdp` file for Microsoft's clients (and any other): where and who,
/// never the password.
pub fn rdp_file(path: &Path, address: &str, port: u16, user: &str) -> RdpFile {
    let mut text = String::new();
    for line in [
        format!("full address:s:{}", endpoint(address, port)),
        format!("username:s:{user}"),
        "prompt for credentials:i:1".to_owned(),
        "screen mode id:i:2".to_owned(),
    ] {
        // Microsoft's clients write CRLF; every client reads it.
        let _ = write!(text, "{line}\r\n");
    }
    RdpFile {
        path: path.to_owned(),
        text,
    }
}

/// macOS: the password to the clipboard first, then the file opened by
/// whichever app handles `.rdp` (Microsoft's Windows App / Remote Desktop).
fn macos(path: &Path) -> Vec<Step> {
    vec![
        Step {
            argv: vec!["pbcopy".to_owned()],
            stdin: Some(PasswordInput { terminator: "" }),
        },
        Step {
            argv: vec!["open".to_owned(), path.display().to_string()],
            stdin: None,
        },
    ]
}

/// Windows: store the credential for mstsc, then start it.
fn windows(address: &str, port: u16, user: &str) -> Vec<Step> {
    vec![
        Step {
            argv: vec![
                "cmdkey".to_owned(),
                format!("/generic:TERMSRV/{address}"),
                format!("/user:{user}"),
                // No value: cmdkey asks, and reads the answer from stdin.
                "/pass".to_owned(),
            ],
            stdin: Some(PasswordInput { terminator: "\r\n" }),
        },
        Step {
            argv: vec![
                "mstsc".to_owned(),
                format!("/v:{}", endpoint(address, port)),
            ],
            stdin: None,
        },
    ]
}

#[cfg(test)]
mod tests;
