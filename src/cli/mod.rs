//! The command line, as clap sees it. These types only validate; the
//! conversion to [`Settings`](crate::settings::Settings) resolves flags,
//! environment and config file in one place.

pub mod completion;
pub mod man;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::ArgValueCandidates;
use ipnet::IpNet;

use crate::app::request;
use crate::model::host::InstanceStatus;
use crate::model::named::Named;
pub use crate::model::output::{ColorChoice, OutputFormat};
use crate::model::route::Via;
use crate::plan::exec::ExecEngine;
use crate::secrets::ephemeral::KeyType;
use crate::transport::eice::MAX_TUNNEL_SECONDS;

/// The target grammar, shown after `ssh --help` and `show --help`.
macro_rules! targets_help {
    () => {
        "\
TARGETS:
  CLUSTER                      any container instance of the cluster (a picker on a
                               terminal; otherwise exit 3 listing them, or --first)
  CLUSTER/i-0abc…              that EC2 instance, checked to be in the cluster
  CLUSTER/ID or ID-PREFIX      that container instance (id or a unique hex prefix)
  CLUSTER/NAME or CLUSTER/IP   the container instance with that Name tag or address
  i-0abc…                      that EC2 instance, in a cluster or not
  arn:aws:ecs:REGION:ACCOUNT:cluster/NAME                    the cluster (the ARN's region wins)
  arn:aws:ecs:REGION:ACCOUNT:container-instance/CLUSTER/ID   (the ARN's region wins)
  arn:aws:ecs:…:task/CLUSTER/ID or CLUSTER/task/ID           the host running that task
  CLUSTER/service/NAME         the hosts running that service's tasks
  CLUSTER.NAME.berth           CLUSTER/NAME, as ssh names it (berth ssh-config)
  (none)                       the default cluster (`cluster` in the config, BERTH_CLUSTER)"
    };
}

const TOP_LEVEL_HELP: &str = "\
EXAMPLES:
  berth ls                                   clusters of the region
  berth ls prod                              container instances of cluster prod
  berth ssh prod                             pick a host of prod (a picker on a terminal)
  berth ssh prod/web-1 -- 'sudo systemctl restart ecs'
  berth show prod/service/api --output json  what berth knows, and the ssh it would run
  berth rdp prod/win-1                       remote desktop to a Windows host, password and all
  berth doctor prod/web-1 --from 198.51.100.7/32
                                             why a connection fails, and the fix
  berth ssh prod/web-1 --open --from 198.51.100.7/32
                                             port 22 opened for this session only
  berth ssh prod/web-1 --via eice            through an EC2 Instance Connect Endpoint
  ssh -o ProxyCommand='berth proxy %h %p' ec2-user@i-0123456789abcdef0
                                             berth as your own ssh's way in

EXIT STATUS:
  the remote command's own status when one ran, else
  0 success, 2 usage or a bad target, 3 nothing matched or several did without a
  terminal, 4 a prerequisite failed, 5 an AWS error, 6 no usable AWS credentials,
  130 the picker was cancelled, 255 ssh could not connect";

/// Get onto an Amazon ECS container instance in one command.
#[derive(Debug, Parser)]
#[command(
    name = "berth",
    version,
    after_help = TOP_LEVEL_HELP,
    long_about = "Get onto an Amazon ECS container instance in one command.\n\n\
        berth finds the container instance, picks the login user from its AMI, finds the \
        private key of its key pair and the address to use, then runs your OpenSSH client \
        (so ~/.ssh/config, ssh-agent and known_hosts keep working). For a Windows host, \
        `berth rdp` decrypts its Administrator password with that key and starts an RDP \
        client.\n\n\
        AWS credentials and region come from --profile/--region, the standard AWS_* \
        variables and ~/.aws/config, exactly as for the AWS CLI."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The process's own arguments, parsed; on bad usage (or `--help`,
    /// `--version`) clap prints and exits here.
    pub fn from_process() -> Self {
        Self::parse()
    }
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// AWS profile from ~/.aws/config (default: $AWS_PROFILE, else `default`).
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// AWS region (default: $AWS_REGION, $AWS_DEFAULT_REGION, the profile's).
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
    /// Send AWS calls to this endpoint instead (e.g. a local stand-in); a
    /// service's own AWS_ENDPOINT_URL_<SERVICE> still wins for that
    /// service (`berth config --help` has the whole rule).
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Say more on stderr: the route and key chosen, the ssh command run.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print AWS calls, sequential round trips and wall time on stderr;
    /// the last line is `stats: calls=N round_trips=N wall_ms=N`.
    #[arg(long, global = true)]
    pub stats: bool,
    /// Output format of listings and plans [default: table].
    #[arg(long, global = true, value_parser = named::<OutputFormat>())]
    pub output: Option<OutputFormat>,
    /// Ignore cached facts (hosts and AMIs) and ask AWS again (and read a
    /// host's keys from its console output again).
    #[arg(long, global = true)]
    pub refresh: bool,
    /// How long one attempt of an AWS call may take (e.g. 5s, 1m). A call
    /// that is throttled, fails with 5xx, times out or loses its
    /// connection is tried 3 times in all, with the SDK's backoff
    /// [default: 20s].
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_timeout)]
    pub aws_timeout: Option<Duration>,
    /// Colour in tables and messages: `auto` (on a terminal, unless NO_COLOR
    /// is set), `always` or `never` [default: auto].
    #[arg(long, global = true, value_parser = named::<ColorChoice>(), value_name = "WHEN")]
    pub color: Option<ColorChoice>,
    /// How long host facts found in AWS are reused by later runs (e.g. 60s,
    /// 5m; 0 asks AWS every time) [default: 60s].
    #[arg(long, global = true, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub cache_ttl: Option<Duration>,
}

impl From<&GlobalArgs> for crate::settings::Flags {
    fn from(global: &GlobalArgs) -> Self {
        Self {
            profile: global.profile.clone(),
            region: global.region.clone(),
            endpoint_url: global.endpoint_url.clone(),
            verbose: global.verbose,
            stats: global.stats,
            output: global.output,
            refresh: global.refresh,
            aws_timeout: global.aws_timeout,
            color: global.color,
            cache_ttl: global.cache_ttl,
        }
    }
}

/// clap's parser for a [`Named`] setting: its names as the possible values
/// (with their help, for `--help` and completions), parsed by the model's
/// own table, as `BERTH_*` variables and the config file are.
fn named<T: Named + Clone + Send + Sync>() -> impl clap::builder::TypedValueParser<Value = T> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(
        T::ALL
            .iter()
            .map(|(_, name, help)| clap::builder::PossibleValue::new(*name).help(*help)),
    )
    .try_map(|text: String| T::from_name(&text))
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List clusters, or the container instances of one cluster.
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Open a shell (or run a command) on a container instance over SSH.
    #[command(after_help = concat!(targets_help!(), "\n\n", "\
REMOTE COMMAND:
  Words after `--` are the remote command, with OpenSSH's rules: ssh joins them
  with spaces and the remote user's shell runs the result. Quote it as one word to
  keep it intact:  berth ssh prod/web-1 -- 'sudo systemctl restart ecs'
  The remote command's exit status becomes berth's."))]
    Ssh(SshArgs),
    /// Open a shell (or run a command) on a container instance through AWS
    /// Session Manager, with berth's own client (no session-manager-plugin).
    #[command(after_help = concat!(targets_help!(), "\n\n", "\
HOW:
  berth finds the host's instance, calls StartSession (the shell, or --document with
  its --parameter values), opens the session's data channel itself, and always
  calls TerminateSession at the end, also after an error or a signal. A connection
  that breaks is resumed (ResumeSession) without losing input or output, for up to
  --resume-for (default 10m; then exit 255). No port,
  key or security-group rule is needed: only the instance's SSM agent, online.

TERMINAL:
  On a terminal, keys go to the remote side as they are typed (raw mode: Ctrl-C,
  Ctrl-Z and Ctrl-\\ act on the remote foreground job), its size follows yours,
  and `~.` at the start of a line ends the session (as ssh; `~~` types one `~`).
  The terminal is restored however berth ends. Without a terminal, stdin is sent
  as it comes; at its end berth sends one Ctrl-D (end of transmission) and prints
  what follows until the remote side closes the session, so a script piped in
  runs to its end:  echo 'uptime; exit' | berth session prod/web-1

REMOTE COMMAND:
  Words after `--` are joined with spaces and run through AWS-StartInteractiveCommand
  on a terminal, else through AWS-StartNonInteractiveCommand (stdout and stderr kept
  apart, and the command's exit status becomes berth's). Not with --document.

KMS ENCRYPTION:
  When the Session Manager preferences name a KMS key, shells and commands are
  encrypted (AES-256-GCM both ways, with a data key berth asks KMS for). That needs
  kms:GenerateDataKey on the key for you and kms:Decrypt for the instance's role.

EXIT STATUS:
  the remote exit status when Session Manager reports one (commands without a
  terminal), else 0 when the session ended; 255 after `~.` or when the session's
  connection broke for good (or its encryption failed); 128+N after signal N; 4 when
  the instance's SSM agent is not connected; 5 when AWS refuses (access denied to
  the session, or KMS refusing the data key); 2, 3, 6 as for every command.

ENVIRONMENT:
  AWS_ENDPOINT_URL_SSM   Session Manager's endpoint, even beside --endpoint-url (see
                         `berth config --help`); plain ws:// stream URLs are accepted
                         only when this endpoint is on 127.0.0.1, localhost or ::1
  AWS_ENDPOINT_URL_KMS   KMS's endpoint, for encrypted sessions
  AWS_CA_BUNDLE          a PEM file of CA certificates trusted besides the system's
                         (else the AWS profile's ca_bundle), by the AWS clients and
                         the data channel alike
  HTTPS_PROXY, HTTP_PROXY, NO_PROXY (or lower-case)
                         the data channel's websocket goes through this HTTP proxy
                         (CONNECT, also for a ws:// stream) unless NO_PROXY names its host

EXAMPLES:
  berth session prod/web-1
  berth session i-0123456789abcdef0 -- cat /etc/os-release
  berth session prod/web-1 --document AWS-StartInteractiveCommand \\
      --parameter command='sudo journalctl -fu ecs'"))]
    Session(SessionArgs),
    /// Open a remote desktop on a Windows container instance over RDP.
    #[command(after_help = concat!(targets_help!(), "\n\n", "\
PASSWORD:
  berth asks EC2 for the Administrator password (GetPasswordData), waits for it
  with --wait while a new instance is still booting, and decrypts it with the key
  pair's private key (found as for ssh: -i, the config's key_dirs, ~/.ssh/KEYNAME.pem;
  PKCS#1, PKCS#8 and OpenSSH RSA keys, with a passphrase or not).
  The password never goes on a command line, into an environment or to disk:

  Linux     xfreerdp /v:HOST /u:USER /from-stdin:force /cert:tofu, the password on
            its stdin (--client or BERTH_RDP_CLIENT runs another FreeRDP build)
  macOS     a .rdp file opened with `open`; the password on the clipboard (pbcopy)
  Windows   cmdkey /generic:TERMSRV/HOST /user:USER /pass (which reads the password
            from its stdin), then mstsc /v:HOST

ROUTES:
  Through a bastion (ssh -N -L) or --via eice, berth holds a local port open for
  the client. The ssm route (--via ssm, or auto when only the host's SSM agent
  reaches it) does the same over one Session Manager port session to the RDP
  port (AWS-StartPortForwardingSession; needs ssm:StartSession and the
  instance's SSM agent online), so no port needs to be open to you."))]
    Rdp(RdpArgs),
    /// Carry stdin and stdout to a port of a host (an OpenSSH ProxyCommand),
    /// by the route `berth ssh` would take.
    #[command(after_help = concat!(targets_help!(), "\n\n", "\
ROUTES (--via):
  auto      the route `berth ssh` takes: the public address if the host has one,
            else the VPC's bastion, else a tunnel through an EC2 Instance Connect
            Endpoint in its VPC, else Session Manager when its SSM agent is Online,
            else an error naming what each route lacks
  public    a TCP connection to the public DNS name (else the public IPv4 address)
  private   a TCP connection to the private IPv4 address (from inside the VPC)
  bastion   the bastion's own ssh, `ssh -W ADDRESS:PORT`
  eice      a tunnel through an EC2 Instance Connect Endpoint of the host's VPC (the
            one in its subnet if any) to its private IPv4 address (else its IPv6
            one), ports 22 and 3389 only; your credentials need
            ec2-instance-connect:OpenTunnel on the endpoint
  ssm       a Session Manager port session to the port (AWS-StartSSHSession, as
            the session-manager-plugin carries stdin and stdout); needs
            ssm:StartSession and the instance's SSM agent Online

  When the connection fails, berth checks the route's prerequisites and says on
  stderr what fails (as `berth doctor` does).

  Nothing but the connection's bytes goes to stdout; messages go to stderr. When
  stdin ends, nothing more is sent, and what the far side still sends is delivered
  until it closes the connection.

EXAMPLES:
  ssh -o ProxyCommand='berth proxy %h %p' ec2-user@i-0123456789abcdef0
  scp -o ProxyCommand='berth proxy --via eice %h %p' app.tar ec2-user@i-0123456789abcdef0:
  In ~/.ssh/config, for every instance id:
    Host i-*
      ProxyCommand berth proxy %h %p

ENVIRONMENT:
  BERTH_EICE_URL   ws://HOST:PORT (or wss://): open endpoint tunnels there instead of
                   at wss://{the endpoint's DnsName}, e.g. a local stand-in
  HTTPS_PROXY, HTTP_PROXY (or https_proxy, http_proxy)
                   http://[USER:PASSWORD@]HOST:PORT: open endpoint tunnels and
                   Session Manager data channels (--via ssm) through this proxy (an
                   HTTP CONNECT), as the AWS CLI does
  NO_PROXY (or no_proxy)
                   hosts, domains (with their subdomains), addresses or CIDRs to
                   reach without the proxy; `*` for all"))]
    // mut_arg moves an argument to the end: moving PORT there too keeps it
    // after TARGET.
    #[command(
        mut_arg("target", |a| a.required(true).default_value(None)),
        mut_arg("port", |a| a)
    )]
    Proxy(ProxyArgs),
    /// Show what berth knows about a target and the connection it would make.
    #[command(after_help = targets_help!())]
    Show(ShowArgs),
    /// Check every prerequisite of a connection; say which fails and how to fix it.
    #[command(mut_arg("via", |a| a.help("Which route to check: `public`, `private` (you are inside the VPC or on a VPN), `bastion`, `eice` (an EC2 Instance Connect Endpoint), `instance-connect` (a one-time key instead of the key pair's), or `auto`: every route")))]
    #[command(after_help = concat!(targets_help!(), "\n\n", "\
CHECKS:
  instance state, container instance status and agent; each route (public address
  and internet gateway; private address; Instance Connect Endpoint; SSM agent); the
  security groups and network ACL for the port from --from; the key pair (exists in
  EC2, local private key found, fingerprint matches, file mode); for Windows, an RSA
  key pair and the password.

EXIT STATUS:
  0 when at least one route works, 4 when none does."))]
    Doctor(DoctorArgs),
    /// Run a command on every host a target matches, and report each host.
    #[command(after_help = concat!(targets_help!(), "\n\n", "\
OUTPUT:
  Each line of output as it arrives, prefixed with its host (--group: each host's
  output together when it is done), then a summary on stderr: ok, failed (with the
  exit status), unreachable (with ssh's reason) or timed out, per host.
  --output json prints one object with every host's stdout, stderr, status and
  duration instead.

CONNECTIONS:
  Hosts are planned as for `berth ssh` (user, key, route, bastion). ssh runs with
  BatchMode=yes (no prompts) and shares one connection per host between runs
  (ControlMaster=auto, ControlPersist=60s, sockets in a private directory).

EXIT STATUS:
  0 when every host ran the command with status 0, 1 when any did not; 2, 3, 5, 6
  as for every command (bad usage, nothing matched, AWS, credentials)."))]
    Run(RunArgs),
    /// Open a shell (or run a command) in a task's container: ECS Exec, or
    /// docker exec over ssh on its host.
    #[command(after_help = concat!(targets_help!(), "\n\n", "\
HOW:
  A task target (CLUSTER/task/ID, the task ARN) is looked up with DescribeTasks; a
  service target (CLUSTER/service/NAME) lists the service's tasks and picks one (a
  picker on a terminal, --first, else exit 3 listing them); a host target offers
  the containers of the tasks it runs.

  --engine ecs-exec calls ECS ExecuteCommand and joins its Session Manager
  session with berth's own client (no plugin, no ssh, Fargate tasks too). The
  agent runs commands without a shell and reports no exit status, so berth runs
  COMMAND through `sh -c` itself and reads the status back: the command's exit
  status becomes berth's. A container without `sh` runs nothing, and berth says
  the status is unknown (exit 255). A broken connection is resumed
  (ResumeSession) for up to --resume-for.
  --engine docker runs `docker exec -it <runtime id> COMMAND` (default `sh`) over
  ssh on the task's host (`-i` without a terminal), planned as for `berth ssh`.
  --engine auto (the default) takes ECS Exec when the task has enableExecuteCommand
  and its ExecuteCommandAgent is RUNNING, else docker on an EC2 host; it says which.

EXIT STATUS:
  the command's own; 3 no task or container matched (or several without a terminal);
  4 ECS Exec is not possible (not enabled on the task, its agent not RUNNING: the
  fix is named); 255 the connection failed, or the status is unknown.

EXAMPLES:
  berth exec prod/task/0f1e2d… -c app -- cat /etc/os-release
  berth exec prod/service/api --first -- sh -c 'ps aux'
  berth exec prod/web-1 --container nginx --engine docker"))]
    Exec(ExecArgs),
    /// Collect the ECS diagnostic logs of every host a target matches.
    #[command(after_help = concat!(targets_help!(), "\n\n", "\
WHAT:
  From each host (over ssh, as `berth run` reaches it): /var/log/ecs (the agent's
  and ecs-init's logs; the ECS log directory under ProgramData on Windows), the
  agent's introspection API (localhost:51678/v1/metadata and /v1/tasks), the
  journal of ecs, docker and containerd (since --since), `docker ps -a` and `docker
  info`, and the system log. One gzipped tar per host in --output-dir, named
  NAME-INSTANCE.tar.gz, with a MANIFEST of what was collected and what was missing
  (and why). Reads as root with `sudo -n` where the login user may.

EXIT STATUS:
  0 when every host gave its archive, 1 otherwise."))]
    Logs(LogsArgs),
    /// Rolling maintenance: drain a batch of container instances, run a
    /// command on them, make them ACTIVE again; batch by batch.
    #[command(after_help = concat!(targets_help!(), "\n\n", "\
HOW:
  For each batch of --batch container instances (in the order `berth ls` lists
  them): set them DRAINING (UpdateContainerInstancesState), wait until ECS has
  moved their tasks away (running task count 0; up to --drain-timeout), run the
  command on them as `berth run` does, then set them ACTIVE again. The first batch
  that fails (a drain that does not finish, a host where the command fails or
  cannot run) stops the run: its instances stay DRAINING, so no task lands on
  them, and later batches are left untouched. The summary says what state each
  instance was left in. ECS drains only service tasks; standalone tasks keep
  running until they end (see --drain-timeout).

EXIT STATUS:
  0 when every instance was maintained and is ACTIVE again, 1 otherwise."))]
    Maintain(MaintainArgs),
    /// Copy files to or from a host with scp, by the route `berth ssh` takes.
    #[command(after_help = concat!(targets_help!(), "\n\n", "\
PATHS:
  The host's side is written with a colon in front: `:PATH`. Copy from the host
  (sources on the host, destination here) or to it, not both:
    berth cp prod/web-1 :/var/log/ecs/ecs-agent.log .
    berth cp prod/web-1 -r ./config :/tmp/
  scp runs with the same user, key, route, bastion or endpoint (and your ssh
  config) as `berth ssh`; its exit status is berth's."))]
    // The target comes before PATH here: required, with PATH moved after it
    // (mut_arg moves an argument to the end).
    #[command(
        mut_arg("target", |a| a.required(true).default_value(None)),
        mut_arg("paths", |a| a)
    )]
    Cp(CpArgs),
    /// Forward a local port to a port on (or reachable from) a host.
    #[command(after_help = concat!(targets_help!(), "\n\n", "\
FORWARDS:
  LOCAL:REMOTE forwards 127.0.0.1:LOCAL to port REMOTE on the host itself;
  ADDRESS:LOCAL:REMOTE listens on ADDRESS; LOCAL:HOST:REMOTE reaches HOST from
  the host (e.g. a database in its VPC). Repeat for several. berth runs
  `ssh -N -L …` by the route `berth ssh` takes, until Ctrl-C.

  On the ssm route (--via ssm, or auto when only the host's SSM agent reaches
  it) no ssh runs: berth listens itself and carries the connections over
  one Session Manager port session per forward (AWS-StartPortForwardingSession;
  LOCAL:HOST:REMOTE through AWS-StartPortForwardingSessionToRemoteHost, the
  instance's agent dialling HOST), many at once, until Ctrl-C; the sessions are
  terminated then. `--output json` prints where it listens."))]
    #[command(
        mut_arg("target", |a| a.required(true).default_value(None)),
        mut_arg("forwards", |a| a)
    )]
    Tunnel(TunnelArgs),
    /// Print (or --install) an OpenSSH config that sends `ssh i-…` and
    /// `ssh CLUSTER.NAME.berth` (scp, rsync, sftp, VS Code, …) through berth.
    #[command(after_help = "\
WHAT IT WRITES:
  A catch-all block for instance ids and *.berth names whose ProxyCommand is
  `berth proxy %h %p` (the route berth would take: public, private, bastion or an
  EC2 Instance Connect Endpoint); user and key are then ssh's own. With --hosts
  CLUSTER, a block per host of the cluster besides: its names
  (CLUSTER.NAME.berth, CLUSTER.i-….berth, i-…), the User and IdentityFile berth
  would use, HostKeyAlias i-… and a ProxyCommand naming the exact host.

  --install puts the snapshots under berth's state directory and one marked block
  (an Include of them, the catch-all, then `Host *`) at the top of ~/.ssh/config,
  replacing it in place when it is there already. Your own options keep working:
  OpenSSH takes the first value of each option, so a Host block of yours above
  berth's, or -l/-i/-o on the command line, still wins.

EXAMPLES:
  berth ssh-config --install --hosts prod
  ssh prod.web-1.berth                       scp app.tar prod.web-1.berth:
  rsync -a ./site/ prod.i-0123456789abcdef0.berth:/srv/site/
  ssh -F <(berth ssh-config --hosts prod) i-0123456789abcdef0")]
    SshConfig(SshConfigArgs),
    /// Print the effective settings and where each came from (flag,
    /// environment, config file or default).
    #[command(after_help = "\
PRECEDENCE:
  A flag, else its environment variable (BERTH_<NAME>, e.g. BERTH_VIA=private;
  for profile, region and endpoint_url then AWS_PROFILE, AWS_REGION,
  AWS_DEFAULT_REGION, AWS_ENDPOINT_URL), else the key of the same name in the
  config file ($BERTH_CONFIG, else $XDG_CONFIG_HOME/berth/config.toml, else
  ~/.config/berth/config.toml), else the default. NO_COLOR means --color never
  unless a flag, variable or key says otherwise.

ENDPOINTS:
  Each AWS client (ECS, EC2, SSM, EC2 Instance Connect, KMS) calls the first of:
  its service's variable (AWS_ENDPOINT_URL_ECS, _EC2, _SSM, _EC2_INSTANCE_CONNECT,
  _KMS), --endpoint-url, BERTH_ENDPOINT_URL, AWS_ENDPOINT_URL, endpoint_url in
  this config file, the AWS profile's `services` section for the service, the
  profile's endpoint_url, else AWS's endpoint for the region.
  AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true (or the profile's
  ignore_configured_endpoint_urls) drops the AWS variables and the profile's
  settings; --endpoint-url, BERTH_ENDPOINT_URL and this file still apply.")]
    Config,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(after_help = "\
The script asks berth for candidates as you type (BERTH_COMPLETE=SHELL berth -- …):
flags, subcommands and values, and for targets the clusters and hosts in berth's
cache (no AWS call; `berth ls` fills it).

  bash  echo 'source <(berth completions bash)' >> ~/.bashrc
  zsh   echo 'source <(berth completions zsh)' >> ~/.zshrc
  fish  berth completions fish > ~/.config/fish/completions/berth.fish")]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to stdout: berth's, or one command's
    /// (`berth man ssh`); or, with --dir, write every page into a folder.
    #[command(after_help = "Examples:
  berth man | man -l -
  berth man ssh | man -l -
  berth man --dir ~/.local/share/man/man1")]
    Man {
        /// The command whose page to print (default: berth's own).
        #[arg(value_name = "COMMAND")]
        command: Option<String>,
        /// Write berth.1, berth-ssh.1, … into this folder instead.
        #[arg(long, value_name = "DIR", conflicts_with = "command")]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct SshConfigArgs {
    /// Also write a block per host of CLUSTER (its names, user, key and
    /// exact target) (repeatable).
    #[arg(long = "hosts", value_name = "CLUSTER", add = ArgValueCandidates::new(completion::clusters))]
    pub hosts: Vec<String>,
    /// The route `berth proxy` takes (written into the ProxyCommands;
    /// default: what the config and environment say when ssh runs).
    #[arg(long, value_parser = named::<Via>())]
    pub via: Option<Via>,
    /// Write the snapshots and berth's block into ~/.ssh/config (or --file)
    /// instead of printing them.
    #[arg(long, conflicts_with = "uninstall")]
    pub install: bool,
    /// Remove berth's block from ~/.ssh/config (or --file) and the snapshots.
    #[arg(long, conflicts_with = "hosts")]
    pub uninstall: bool,
    /// The ssh config file to change [default: ~/.ssh/config].
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Written into the ProxyCommands: how long a broken Session Manager
    /// connection may take to come back before `berth proxy` gives up
    /// (e.g. 30s, 2m) [default: 10m].
    #[arg(long, value_name = "DURATION", value_parser = parse_resume_for)]
    pub resume_for: Option<Duration>,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Cluster (name or ARN) whose container instances to list; without it,
    /// list clusters.
    #[arg(add = ArgValueCandidates::new(completion::clusters))]
    pub cluster: Option<String>,
    #[command(flatten)]
    pub filters: FilterArgs,
}

/// Filters that narrow any target.
#[derive(Debug, Clone, Default, Args)]
pub struct FilterArgs {
    /// Only hosts whose EC2 tag KEY has VALUE (repeatable; all must match).
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_tag)]
    pub tags: Vec<(String, String)>,
    /// Only hosts in this availability zone.
    #[arg(long, value_name = "AZ")]
    pub az: Option<String>,
    /// Only container instances with this status.
    #[arg(long, value_parser = named::<InstanceStatus>())]
    pub status: Option<InstanceStatus>,
}

/// How to pick and reach one host; shared by `ssh`, `show` and `doctor`.
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// What to connect to (see TARGETS below); without it, the default
    /// cluster (`cluster` in the config file, or BERTH_CLUSTER).
    #[arg(default_value = "", hide_default_value = true, add = ArgValueCandidates::new(completion::targets))]
    pub target: String,
    #[command(flatten)]
    pub options: ConnectOptions,
}

/// `ConnectArgs` reads as its options (`args.connect.via`): the target
/// and its options travel together everywhere but in `doctor --cleanup`.
impl std::ops::Deref for ConnectArgs {
    type Target = ConnectOptions;
    fn deref(&self) -> &ConnectOptions {
        &self.options
    }
}

/// Everything of [`ConnectArgs`] but the target.
#[derive(Debug, Clone, Args)]
pub struct ConnectOptions {
    /// Private key file (default: the key pair's KEYNAME.pem in the config's
    /// key_dirs, then ~/.ssh; if there is none and the AMI ships
    /// ec2-instance-connect, a one-time key pushed with EC2 Instance Connect).
    #[arg(short = 'i', value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Login user (default: the instance's `berth:user` tag, the config
    /// file, then the AMI's default: ec2-user, ubuntu, core, …).
    #[arg(short = 'l', long, value_name = "USER", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub user: Option<String>,
    /// Route to the host: `public` (public DNS, else public IPv4), `private`
    /// (from inside the VPC or a VPN), `bastion` (through a bastion to the
    /// private address), `eice` (a tunnel through an EC2 Instance Connect
    /// Endpoint in its VPC), `instance-connect` (a one-time key pushed with
    /// EC2 Instance Connect, over the public address, else the private one),
    /// `ssm` (ssh over Session Manager), `auto` (the public address, else
    /// a bastion, else an endpoint, else Session Manager when its agent is
    /// Online).
    /// Default: BERTH_VIA, else the config's `via`, else `auto`.
    #[arg(long, value_parser = named::<Via>())]
    pub via: Option<Via>,
    /// Go through this bastion (any target: an instance id, CLUSTER/NAME, …;
    /// implies --via bastion). Without it berth uses the config file's
    /// bastion for the cluster or VPC, else the running instance tagged
    /// `berth:bastion` in the host's VPC. The bastion's user, key and
    /// address are its own; ssh reaches the host with a ProxyCommand
    /// `ssh -W`, so your ssh config and agent apply to both.
    #[arg(long, visible_alias = "jump", value_name = "TARGET")]
    pub bastion: Option<String>,
    /// With several matches and no terminal, take the first instead of failing.
    #[arg(long)]
    pub first: bool,
    /// Through an EC2 Instance Connect Endpoint: the endpoint closes each
    /// tunnel after SECONDS (1 to 3600; its default is 3600). Sent as
    /// `maxTunnelDuration`, which an IAM policy may require.
    #[arg(long, value_name = "SECONDS", value_parser = parse_tunnel_duration)]
    pub max_tunnel_duration: Option<Duration>,
    /// Through Session Manager (`berth session`, `--via ssm`): how long a
    /// broken connection may take to come back (ResumeSession) before
    /// berth gives up (e.g. 30s, 2m) [default: 10m].
    #[arg(long, value_name = "DURATION", value_parser = parse_resume_for)]
    pub resume_for: Option<Duration>,
    /// Passed as `-o OPTION` to every ssh berth starts, the bastion's
    /// included (repeatable). Refused on a route that starts no ssh.
    #[arg(short = 'o', value_name = "OPTION")]
    pub ssh_options: Vec<String>,
    #[command(flatten)]
    pub filters: FilterArgs,
}

impl From<&FilterArgs> for request::Filters {
    fn from(f: &FilterArgs) -> Self {
        Self {
            tags: f.tags.clone(),
            az: f.az.clone(),
            status: f.status,
        }
    }
}

impl From<&ConnectOptions> for request::ConnectOptions {
    fn from(o: &ConnectOptions) -> Self {
        Self {
            identity: o.identity.clone(),
            user: o.user.clone(),
            via: o.via,
            bastion: o.bastion.clone(),
            first: o.first,
            max_tunnel_duration: o.max_tunnel_duration,
            resume_for: o.resume_for,
            ssh_options: o.ssh_options.clone(),
            filters: (&o.filters).into(),
        }
    }
}

impl From<&ConnectArgs> for request::Connect {
    fn from(c: &ConnectArgs) -> Self {
        Self {
            target: c.target.clone(),
            options: (&c.options).into(),
        }
    }
}

impl From<&SourceArgs> for request::Source {
    fn from(s: &SourceArgs) -> Self {
        Self {
            from: s.from,
            detect_ip: s.detect_ip,
        }
    }
}

#[derive(Debug, Args)]
#[allow(clippy::struct_excessive_bools)] // flags
pub struct SshArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// SSH port (default: ssh's, normally 22).
    #[arg(short = 'p', long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
    /// Passed to ssh: local port forward (repeatable).
    #[arg(short = 'L', value_name = "SPEC")]
    pub local: Vec<String>,
    /// Passed to ssh: remote port forward (repeatable).
    #[arg(short = 'R', value_name = "SPEC")]
    pub remote: Vec<String>,
    /// Passed to ssh: dynamic (SOCKS) forward (repeatable).
    #[arg(short = 'D', value_name = "SPEC")]
    pub dynamic: Vec<String>,
    /// Passed to ssh: forward the authentication agent.
    #[arg(short = 'A')]
    pub forward_agent: bool,
    /// Passed to ssh: force a pseudo-terminal for the remote command (for
    /// `sudo`, `top`, …).
    #[arg(short = 't')]
    pub tty: bool,
    /// Print the exact ssh command line instead of running it.
    #[arg(long)]
    pub dry_run: bool,
    /// Open the port to your address (--from or --detect-ip) for this
    /// session only: a temporary rule in the instance's first security group,
    /// removed when ssh ends (also on Ctrl-C, SIGTERM, SIGHUP; after a crash,
    /// by the next berth run).
    #[arg(long, conflicts_with = "bastion")]
    pub open: bool,
    /// Log in with a one-time key, whatever key the instance has: berth
    /// makes it, pushes it with EC2 Instance Connect (SendSSHPublicKey; the
    /// instance keeps it 60 seconds) just before ssh runs, and removes it
    /// when ssh ends. Needs ec2-instance-connect:SendSSHPublicKey and the
    /// ec2-instance-connect package on the instance (Amazon Linux 2 and
    /// 2023 and Ubuntu ship it).
    #[arg(long, conflicts_with = "identity")]
    pub ephemeral_key: bool,
    /// The kind of one-time key (rsa for an ec2-instance-connect package
    /// older than ED25519 support).
    #[arg(long, value_parser = named::<KeyType>(), value_name = "TYPE", default_value_t = KeyType::Ed25519)]
    pub ephemeral_key_type: KeyType,
    #[command(flatten)]
    pub source: SourceArgs,
    /// Remote command, after `--` (bytes that are not UTF-8 pass through).
    #[arg(last = true, value_name = "COMMAND", value_parser = clap::value_parser!(std::ffi::OsString))]
    pub command: Vec<std::ffi::OsString>,
}

impl SshArgs {
    /// The ssh options to pass through, as argv words in a stable order.
    pub fn passthrough(&self) -> Vec<String> {
        let mut words = Vec::new();
        for (flag, values) in [
            ("-o", &self.connect.ssh_options),
            ("-L", &self.local),
            ("-R", &self.remote),
            ("-D", &self.dynamic),
        ] {
            for value in values {
                words.push(flag.to_owned());
                words.push(value.clone());
            }
        }
        if self.forward_agent {
            words.push("-A".to_owned());
        }
        if self.tty {
            words.push("-t".to_owned());
        }
        words
    }
}

/// How `berth run` reaches the hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Engine {
    /// ssh from this machine to each host, as `berth ssh` would.
    Ssh,
    /// AWS Systems Manager Run Command (AWS-RunShellScript, or
    /// AWS-RunPowerShellScript on Windows): AWS runs it, berth submits and
    /// collects; for fleets too big for one machine's connections.
    Ssm,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// How to reach the hosts.
    #[arg(long, value_enum, default_value_t = Engine::Ssh)]
    pub engine: Engine,
    /// How many hosts at once.
    #[arg(short = 'j', long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,
    /// Stop a host's command after this long (e.g. 30s, 5m) and report it
    /// as timed out.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub timeout: Option<Duration>,
    /// Print each host's output together when it is done, instead of
    /// line by line as it arrives.
    #[arg(long)]
    pub group: bool,
    /// SSH port (default: ssh's, normally 22).
    #[arg(short = 'p', long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
    /// The command, after `--` (ssh joins the words; the remote shell runs
    /// the result).
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// The container's name (from its task definition); needed when the
    /// tasks there run several and there is no terminal to pick on.
    #[arg(short = 'c', long, value_name = "NAME")]
    pub container: Option<String>,
    /// How to get in: `ecs-exec` (ECS Exec through Session Manager: no
    /// ssh, works on Fargate), `docker` (docker exec over ssh on the
    /// task's host; --via picks the route), `auto` (ECS Exec when the task
    /// has it enabled and its agent is RUNNING, else docker; berth says
    /// which and why).
    #[arg(long, value_parser = named::<ExecEngine>(), default_value = "auto")]
    pub engine: ExecEngine,
    /// Print the command line (ssh, or the equivalent `aws ecs
    /// execute-command`) instead of running it.
    #[arg(long)]
    pub dry_run: bool,
    /// The command to run in the container (default: sh), after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SessionArgs {
    /// What to connect to (see TARGETS below); without it, the default
    /// cluster (`cluster` in the config file, or BERTH_CLUSTER).
    #[arg(default_value = "", hide_default_value = true, add = ArgValueCandidates::new(completion::targets))]
    pub target: String,
    /// The Session Manager document to start (default: the shell,
    /// SSM-SessionManagerRunShell).
    #[arg(long, value_name = "NAME")]
    pub document: Option<String>,
    /// A parameter of the document (repeatable; a repeated KEY collects
    /// its values in order).
    #[arg(long = "parameter", value_name = "KEY=VALUE", value_parser = parse_tag)]
    pub parameters: Vec<(String, String)>,
    /// With several matches and no terminal, take the first instead of failing.
    #[arg(long)]
    pub first: bool,
    /// How long a broken connection may take to come back (ResumeSession)
    /// before berth gives up (e.g. 30s, 2m) [default: 10m].
    #[arg(long, value_name = "DURATION", value_parser = parse_resume_for)]
    pub resume_for: Option<Duration>,
    #[command(flatten)]
    pub filters: FilterArgs,
    /// A command to run instead of a shell, after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

impl From<&SessionArgs> for crate::app::ssm::SessionRequest {
    fn from(a: &SessionArgs) -> Self {
        let mut parameters = std::collections::BTreeMap::<String, Vec<String>>::new();
        for (key, value) in &a.parameters {
            parameters
                .entry(key.clone())
                .or_default()
                .push(value.clone());
        }
        Self {
            connect: request::Connect {
                target: a.target.clone(),
                options: request::ConnectOptions {
                    first: a.first,
                    resume_for: a.resume_for,
                    filters: (&a.filters).into(),
                    ..request::ConnectOptions::default()
                },
            },
            document: a.document.clone(),
            parameters,
            command: a.command.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Only the journal since this long ago (e.g. 2h, 30m); default: all.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub since: Option<Duration>,
    /// Where to write the archives.
    #[arg(short = 'd', long, value_name = "DIR", default_value = ".")]
    pub output_dir: PathBuf,
    /// How many hosts at once.
    #[arg(short = 'j', long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,
    /// Give up on a host after this long.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

#[derive(Debug, Args)]
pub struct MaintainArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// How many container instances to take out at a time.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub batch: u16,
    /// How long to wait for a batch's tasks to move away.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = humantime::parse_duration)]
    pub drain_timeout: Duration,
    /// Stop a host's command after this long (it counts as failed).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub timeout: Option<Duration>,
    /// The maintenance command, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CpArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Sources, then the destination; the host's side as `:PATH`.
    #[arg(required = true, num_args = 2.., value_name = "PATH")]
    pub paths: Vec<String>,
    /// Copy directories recursively.
    #[arg(short = 'r')]
    pub recursive: bool,
    /// SSH port (default: ssh's, normally 22).
    #[arg(short = 'p', long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
    /// Print the scp command line instead of running it.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct TunnelArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// LOCAL:REMOTE, ADDRESS:LOCAL:REMOTE or LOCAL:HOST:REMOTE (repeatable).
    #[arg(required = true, value_name = "LOCAL:REMOTE")]
    pub forwards: Vec<String>,
    /// Print the ssh command line (with --via ssm, each forward's session)
    /// instead of running it.
    #[arg(long)]
    pub dry_run: bool,
}

/// Where the operator connects from, for security-group and ACL checks.
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// Your address or network as the instance sees it (e.g. 198.51.100.7/32;
    /// a bare address means /32 or /128). Default: `from` in the config file.
    #[arg(long, value_name = "CIDR", value_parser = parse_cidr)]
    pub from: Option<IpNet>,
    /// Ask an address-echo service ($BERTH_ECHO_URL, default
    /// checkip.amazonaws.com) for your public address. Off unless given.
    #[arg(long, conflicts_with = "from")]
    pub detect_ip: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProtocolArg {
    Ssh,
    Rdp,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// What to check (see TARGETS below); not needed with --cleanup.
    #[arg(required_unless_present = "cleanup", add = ArgValueCandidates::new(completion::targets))]
    pub target: Option<String>,
    #[command(flatten)]
    pub options: ConnectOptions,
    #[command(flatten)]
    pub source: SourceArgs,
    /// On a task or service target: check only this container's ECS Exec
    /// agent (default: every container's).
    #[arg(short = 'c', long, value_name = "NAME")]
    pub container: Option<String>,
    /// What the connection is for (default: rdp for Windows, else ssh).
    #[arg(long, value_enum)]
    pub protocol: Option<ProtocolArg>,
    /// The port to check (default: 22 for ssh, 3389 for rdp).
    #[arg(short = 'p', long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
    /// Add a temporary ingress rule for your address (needs --from or
    /// --detect-ip) to the instance's first security group when none lets
    /// you in; it is removed after --fix-for by the next berth run, or by
    /// `berth doctor --cleanup`.
    #[arg(long)]
    pub fix: bool,
    /// How long a --fix rule lasts.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = humantime::parse_duration, requires = "fix")]
    pub fix_for: std::time::Duration,
    /// Remove the temporary rules berth added and did not remove (a killed
    /// session, an expired --fix), then exit.
    #[arg(long, conflicts_with_all = ["target", "fix"])]
    pub cleanup: bool,
    /// With --cleanup: also rules of sessions still running and --fix rules
    /// that have not expired.
    #[arg(long, requires = "cleanup")]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct ProxyArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// The port to reach on the host (ssh's `%p`).
    #[arg(value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,
}

#[derive(Debug, Args)]
pub struct RdpArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// RDP port (default: 3389).
    #[arg(short = 'p', long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
    /// How long to wait for EC2 to have the password of a new instance (the
    /// AWS docs say to allow at least 4 minutes after launch).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = humantime::parse_duration)]
    pub wait: Duration,
    /// Read the private key's passphrase from FILE (default: ask on a
    /// terminal).
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// Run PROGRAM in xfreerdp's place, with the same arguments and the
    /// password on its stdin (default: $BERTH_RDP_CLIENT, else xfreerdp on
    /// Linux, Microsoft's clients on macOS and Windows).
    #[arg(long, value_name = "PROGRAM", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub client: Option<String>,
    /// Write a .rdp file (address and user, never the password) to PATH for
    /// any RDP client, and start none.
    #[arg(long, value_name = "PATH")]
    pub rdp_file: Option<PathBuf>,
    /// Print the decrypted password on stdout and start no client.
    #[arg(long)]
    pub print_password: bool,
    /// Print what berth would run (the password redacted) instead of running it.
    #[arg(long)]
    pub dry_run: bool,
    /// Open the port to your address (--from or --detect-ip) for this
    /// session only: a temporary rule in the instance's first security group,
    /// removed when the client ends (also on Ctrl-C, SIGTERM, SIGHUP; after a
    /// crash, by the next berth run).
    #[arg(long, conflicts_with = "bastion")]
    pub open: bool,
    #[command(flatten)]
    pub source: SourceArgs,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// A CIDR, or a bare address as its host network.
fn parse_cidr(s: &str) -> Result<IpNet, String> {
    s.parse::<IpNet>()
        // 10.0.0.1/8 means the network 10.0.0.0/8, as AWS would write it.
        .map(|net| net.trunc())
        .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{s}` is not an address or CIDR (e.g. 198.51.100.7/32)"))
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if d.is_zero() => Err("the timeout must be more than 0".to_owned()),
        Ok(d) => Ok(d),
        Err(e) => Err(format!("`{s}` is not a duration (e.g. 10s, 1m): {e}")),
    }
}

/// A duration for `--resume-for` (0 gives up at the first break).
fn parse_resume_for(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration (e.g. 30s, 2m, 1h): {e}"))
}

/// Whole seconds, 1 to 3600: what an endpoint takes as `maxTunnelDuration`
/// (the AWS CLI's `--max-tunnel-duration` has the same range).
fn parse_tunnel_duration(s: &str) -> Result<Duration, String> {
    match s.parse::<u64>() {
        Ok(seconds @ 1..=MAX_TUNNEL_SECONDS) => Ok(Duration::from_secs(seconds)),
        _ => Err(format!(
            "`{s}` is not a number of seconds from 1 to {MAX_TUNNEL_SECONDS} \
             (an endpoint keeps a tunnel open for an hour at most)"
        )),
    }
}

fn parse_tag(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn ssh_flags_and_remote_command_parse() {
        let cli = Cli::try_parse_from([
            "berth",
            "--region",
            "eu-west-1",
            "ssh",
            "prod/web-1",
            "-i",
            "k.pem",
            "-p",
            "2222",
            "-o",
            "A=1",
            "-L",
            "1:h:2",
            "-A",
            "-t",
            "--tag",
            "role=web",
            "--",
            "exit",
            "7",
        ])
        .expect("parses");
        let Command::Ssh(args) = cli.command else {
            panic!("not ssh")
        };
        assert_eq!(cli.global.region.as_deref(), Some("eu-west-1"));
        assert_eq!(args.port, Some(2222));
        assert_eq!(args.command, vec!["exit", "7"]);
        assert_eq!(
            args.passthrough(),
            vec!["-o", "A=1", "-L", "1:h:2", "-A", "-t"]
        );
        assert_eq!(
            args.connect.filters.tags,
            vec![("role".into(), "web".into())]
        );
    }

    #[test]
    fn rdp_flags_parse() {
        let cli = Cli::try_parse_from([
            "berth",
            "rdp",
            "prod/win-1",
            "--via",
            "private",
            "--wait",
            "90s",
            "-p",
            "3390",
            "--client",
            "sdl-freerdp",
            "--print-password",
        ])
        .expect("parses");
        let Command::Rdp(args) = cli.command else {
            panic!("not rdp")
        };
        assert_eq!(args.wait, Duration::from_secs(90));
        assert_eq!(args.port, Some(3390));
        assert_eq!(args.client.as_deref(), Some("sdl-freerdp"));
        assert!(args.print_password && !args.dry_run);
        assert_eq!(args.connect.via, Some(Via::Private));
        let default = Cli::try_parse_from(["berth", "rdp", "prod"]).expect("parses");
        let Command::Rdp(args) = default.command else {
            panic!("not rdp")
        };
        assert_eq!(args.wait, Duration::from_secs(300));
    }

    #[test]
    fn one_time_key_flags_parse() {
        let cli = Cli::try_parse_from([
            "berth",
            "ssh",
            "prod/web-1",
            "--ephemeral-key",
            "--ephemeral-key-type",
            "rsa",
        ])
        .expect("parses");
        let Command::Ssh(args) = cli.command else {
            panic!("not ssh")
        };
        assert!(args.ephemeral_key);
        assert_eq!(args.ephemeral_key_type, KeyType::Rsa);
        let cli = Cli::try_parse_from(["berth", "ssh", "prod", "--via", "instance-connect"])
            .expect("parses");
        let Command::Ssh(args) = cli.command else {
            panic!("not ssh")
        };
        assert_eq!(args.connect.via, Some(Via::InstanceConnect));
        assert!(!args.ephemeral_key);
        assert_eq!(args.ephemeral_key_type, KeyType::Ed25519);
    }

    #[test]
    fn proxy_takes_a_target_and_a_port_like_ssh_gives_them() {
        // What ssh runs for `ProxyCommand berth --region R proxy --via eice %h %p`.
        let cli = Cli::try_parse_from([
            "berth",
            "--region",
            "eu-west-1",
            "proxy",
            "--via",
            "eice",
            "i-0123456789abcdef0",
            "22",
        ])
        .expect("parses");
        let Command::Proxy(args) = cli.command else {
            panic!("not proxy")
        };
        assert_eq!(args.connect.target, "i-0123456789abcdef0");
        assert_eq!(args.port, 22);
        assert_eq!(args.connect.via, Some(Via::Eice));
        assert_eq!(cli.global.region.as_deref(), Some("eu-west-1"));
    }

    #[test]
    fn the_max_tunnel_duration_is_1_to_3600_seconds() {
        let parsed = |value: &str| {
            Cli::try_parse_from([
                "berth",
                "proxy",
                "i-1",
                "22",
                "--max-tunnel-duration",
                value,
            ])
            .map(|cli| match cli.command {
                Command::Proxy(args) => args.connect.max_tunnel_duration,
                _ => panic!("not proxy"),
            })
        };
        assert_eq!(parsed("1").ok(), Some(Some(Duration::from_secs(1))));
        assert_eq!(parsed("3600").ok(), Some(Some(Duration::from_secs(3600))));
        for bad in ["0", "3601", "1h", "1.5", ""] {
            let err = parsed(bad).expect_err(bad);
            assert_eq!(err.exit_code(), 2, "{bad}");
            assert!(err.to_string().contains("from 1 to 3600"), "{bad}: {err}");
        }
        for command in ["ssh", "rdp", "cp", "tunnel", "doctor"] {
            let cmd = Cli::command();
            let sub = cmd.find_subcommand(command).expect(command);
            assert!(
                sub.get_arguments()
                    .any(|a| a.get_long() == Some("max-tunnel-duration")),
                "{command}"
            );
        }
    }

    #[test]
    fn bad_input_is_a_usage_error() {
        for argv in [
            vec!["berth", "ssh", "--user"],
            vec!["berth", "proxy"],
            vec!["berth", "ls", "--tag", "novalue"],
            vec!["berth", "ssh", "prod", "--via", "carrier-pigeon"],
            vec!["berth", "ls", "--status", "GONE"],
            vec!["berth", "ssh", "prod", "-p", "99999"],
            vec!["berth", "ssh", "prod", "--user", ""],
            vec!["berth", "rdp", "prod", "--wait", "soon"],
            vec!["berth", "rdp", "prod", "--client", ""],
            vec!["berth", "ssh", "prod", "--ephemeral-key", "-i", "k.pem"],
            vec!["berth", "ssh", "prod", "--ephemeral-key-type", "dsa"],
            vec!["berth", "proxy", "i-0123456789abcdef0"],
            vec!["berth", "proxy", "i-0123456789abcdef0", "0"],
            vec!["berth", "proxy", "i-0123456789abcdef0", "ssh"],
        ] {
            let err = Cli::try_parse_from(&argv).expect_err("must fail");
            assert_eq!(err.exit_code(), 2, "{argv:?}");
        }
    }
}
