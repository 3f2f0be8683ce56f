//! Everything a command needs to know about its surroundings, resolved once
//! from flags, environment and config file. Nothing downstream reads the
//! environment itself.

use std::path::PathBuf;

use crate::aws::AwsSettings;
use crate::cli::{GlobalArgs, OutputFormat};
use crate::config::{self, Config, ConfigError};

/// Program overrides, so tests (and users) can choose what berth runs.
pub const SSH_PROGRAM_VAR: &str = "BERTH_SSH";
/// The scp program `berth cp` runs (default `scp`).
pub const SCP_PROGRAM_VAR: &str = "BERTH_SCP";
/// A chooser command (fzf, sk, …) to use instead of the built-in picker.
pub const PICKER_VAR: &str = "BERTH_PICKER";
/// The address-echo service `--detect-ip` asks (plain HTTP GET, the answer
/// is the caller's address).
pub const ECHO_URL_VAR: &str = "BERTH_ECHO_URL";
pub const DEFAULT_ECHO_URL: &str = "https://checkip.amazonaws.com/";
/// A FreeRDP-compatible program to run instead of the platform's client.
pub const RDP_CLIENT_VAR: &str = "BERTH_RDP_CLIENT";
/// `ws://HOST:PORT` (or `wss://`): where EC2 Instance Connect Endpoint
/// tunnels are opened instead of `wss://{DnsName}` (a local stand-in).
pub const EICE_URL_VAR: &str = "BERTH_EICE_URL";
/// `openssh` leaves host keys to OpenSSH alone; anything else (the default,
/// `pin`) pins them per instance from the console output.
pub const HOST_KEYS_VAR: &str = "BERTH_HOST_KEYS";

#[derive(Debug, Clone)]
#[allow(clippy::struct_excessive_bools)] // independent switches, each from its own flag or variable
pub struct Settings {
    pub aws: AwsSettings,
    pub verbose: u8,
    pub stats: bool,
    pub output: OutputFormat,
    pub refresh: bool,
    pub config: Config,
    pub home: Option<PathBuf>,
    /// `$XDG_CACHE_HOME/berth`, else `~/.cache/berth`.
    pub cache_dir: Option<PathBuf>,
    /// `$XDG_STATE_HOME/berth`, else `~/.local/state/berth`: the journal
    /// of temporary security-group rules.
    pub state_dir: Option<PathBuf>,
    /// `$XDG_RUNTIME_DIR`: the user's own runtime directory (a tmpfs on
    /// most Linux systems), where one-time keys go.
    pub runtime_dir: Option<PathBuf>,
    /// `$BERTH_ECHO_URL`: the address-echo service of `--detect-ip`.
    pub echo_url: String,
    pub ssh_program: String,
    /// `$BERTH_SCP`: the scp program of `berth cp`.
    pub scp_program: String,
    /// `$BERTH_PICKER`: an external chooser for several matches.
    pub picker: Option<String>,
    /// `$BERTH_RDP_CLIENT`: what `berth rdp` runs unless `--client` says.
    pub rdp_client: Option<String>,
    /// `$BERTH_EICE_URL`: the scheme and host every endpoint tunnel goes
    /// to instead of the endpoint's own.
    pub eice_url: Option<String>,
    /// Pin host keys per instance from its console output (unless
    /// `$BERTH_HOST_KEYS` is `openssh`).
    pub pin_host_keys: bool,
    /// `$SSH_AUTH_SOCK` or `$SSH_ASKPASS` is set: ssh has a way to a key's
    /// passphrase (or the key itself) without a terminal.
    pub ssh_passphrase_helper: bool,
}

impl Settings {
    pub fn resolve(global: &GlobalArgs) -> Result<Self, ConfigError> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let text = |name: &str| var(name).map(|v| v.to_string_lossy().into_owned());
        let home = var("HOME").map(PathBuf::from);
        let config_path = config::default_path(
            var("BERTH_CONFIG").map(PathBuf::from),
            var("XDG_CONFIG_HOME").map(PathBuf::from),
            home.as_deref(),
        );
        let config = match &config_path {
            Some(path) => Config::load(path, home.as_deref())?,
            None => Config::default(),
        };
        let cache_dir = var("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| home.as_ref().map(|h| h.join(".cache")))
            .map(|d| d.join("berth"));
        let state_dir = var("XDG_STATE_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| home.as_ref().map(|h| h.join(".local/state")))
            .map(|d| d.join("berth"));
        let runtime_dir = var("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute());
        Ok(Self {
            aws: AwsSettings {
                profile: global.profile.clone(),
                region: global.region.clone(),
                endpoint_url: global.endpoint_url.clone(),
                env_profile: text("AWS_PROFILE"),
                env_endpoint_url: text("AWS_ENDPOINT_URL"),
                timeout: global.aws_timeout,
            },
            verbose: global.verbose,
            stats: global.stats,
            output: global.output,
            refresh: global.refresh,
            config,
            home,
            cache_dir,
            state_dir,
            runtime_dir,
            echo_url: text(ECHO_URL_VAR).unwrap_or_else(|| DEFAULT_ECHO_URL.to_owned()),
            ssh_program: text(SSH_PROGRAM_VAR).unwrap_or_else(|| "ssh".to_owned()),
            scp_program: text(SCP_PROGRAM_VAR).unwrap_or_else(|| "scp".to_owned()),
            picker: text(PICKER_VAR),
            rdp_client: text(RDP_CLIENT_VAR),
            eice_url: text(EICE_URL_VAR),
            pin_host_keys: text(HOST_KEYS_VAR).is_none_or(|v| v != "openssh"),
            ssh_passphrase_helper: var("SSH_AUTH_SOCK").is_some() || var("SSH_ASKPASS").is_some(),
        })
    }
}
