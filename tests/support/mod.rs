//! The test environment: one sandbox per test binary (moto in server mode
//! plus a real sshd on 127.X.0.N and xrdp on prod-windows's 127.X.0.13;
//! EC2 Instance Connect's pushed keys reach that sshd as on Amazon Linux,
//! and an EC2 Instance Connect Endpoint's tunnels are served by a local
//! stand-in),
//! started on first use by
//! `tests/support/sandbox.py` and torn down when this process exits and
//! closes the sandbox's stdin. Each test runs the real `berth` binary with
//! a scrubbed environment and a fresh HOME of its own.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use serde::Deserialize;

pub mod cases;
mod changes;
pub mod desktop;
// The quick tier's fake AWS endpoint; the sandbox tier has moto.
#[allow(dead_code)]
pub mod fake_aws;
pub mod faults;
pub mod helper;
// The sandbox tier's recorded fleet at scale.
#[allow(dead_code)]
pub mod recorded;

#[derive(Debug, Deserialize)]
pub struct SandboxHost {
    pub instance_id: String,
    pub container_instance_arn: Option<String>,
    pub private_ip: Option<String>,
    pub public_ip: Option<String>,
    pub public_dns: Option<String>,
    pub user: Option<String>,
    pub cluster: Option<String>,
    pub key_name: Option<String>,
    /// Its AMI's id.
    #[serde(default)]
    pub ami: Option<String>,
    /// The private key of the instance's key pair, where the sandbox has
    /// it (broken and open hosts only).
    #[serde(default)]
    pub key_path: Option<PathBuf>,
    /// `running` or `stopped` (broken and open hosts only).
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub vpc_id: Option<String>,
    #[serde(default)]
    pub subnet_id: Option<String>,
    #[serde(default)]
    pub security_group_ids: Vec<String>,
}

/// The `broken` cluster's supporting cast (`build_broken_fleet` in
/// sandbox.py): key files, groups, subnets.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct BrokenFleet {
    pub cluster: String,
    /// The key pair broken-keygone was launched with, deleted since.
    pub deleted_key_name: String,
    pub deleted_key_path: PathBuf,
    /// The key pair of broken-wrongkey.
    pub wrong_key_name: String,
    /// A private key that is *not* `wrong_key_name`'s: copy it to
    /// `~/.ssh/berth-wrong.pem` for a fingerprint mismatch.
    pub wrong_key_path: PathBuf,
    /// The key that is `wrong_key_name`'s (sshd on broken-wrongkey takes it).
    pub wrong_key_pair_key_path: PathBuf,
    /// The ED25519 key pair of broken-win-ed25519.
    pub ed25519_key_name: String,
    pub ed25519_key_path: PathBuf,
    /// The group broken-groupref admits port 22 from.
    pub bastion_security_group_id: String,
    pub rdp_security_group_id: String,
    /// open-int, open-term, open-kill -> the one group each is in.
    pub open_security_group_ids: BTreeMap<String, String>,
    pub nacl_subnet_id: String,
    pub network_acl_id: String,
    pub public_vpc_id: String,
    pub internet_gateway_id: String,
    pub public_subnet_id: String,
    pub public_route_table_id: String,
    pub noigw_subnet_id: String,
    pub noigw_route_table_id: String,
}

/// One ingress rule of a security group, as DescribeSecurityGroupRules
/// reports it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct IngressRule {
    pub rule_id: String,
    /// `tcp`, `udp`, `icmp`, or `-1` for all.
    pub protocol: String,
    /// `-1` for all ports.
    pub from_port: i32,
    pub to_port: i32,
    /// An IPv4 or IPv6 CIDR, a security group id or a prefix list id.
    pub source: String,
    pub description: Option<String>,
}

/// EC2 Instance Connect as the sandbox emulates it (`emulate_instance_connect`
/// in aws_emulation.py).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SandboxInstanceConnect {
    /// Where SendSSHPublicKey keeps each pushed key:
    /// `KEY_STORE/INSTANCE_ID/OS_USER/EXPIRES_MS-ID.pub`.
    pub key_store: PathBuf,
    /// How long a pushed key is served (60, as AWS documents).
    pub key_lifetime_seconds: u64,
    /// The sshd AuthorizedKeysCommand that serves them.
    pub authorized_keys_command: PathBuf,
    /// The hosts whose sshd asks for pushed keys (AMIs that ship
    /// ec2-instance-connect: Amazon Linux 2023, Ubuntu).
    pub hosts: Vec<String>,
}

/// xrdp standing in for prod-windows's RDP server.
#[derive(Debug, Deserialize)]
pub struct SandboxRdp {
    /// 127.X.0.13, listening on port 3389.
    pub address: String,
    pub user: String,
    /// Shows `login successful for user Administrator` after a login.
    pub xrdp_log: PathBuf,
}

/// Cluster `fleet` (`build_fleet_cluster` in sandbox.py).
#[derive(Debug, Deserialize)]
pub struct SandboxFleet {
    pub cluster: String,
    /// The hosts' names, in order.
    pub hosts: Vec<String>,
    /// No sshd answers on its address.
    pub unreachable: String,
    /// Its sshd runs a command that prints `failing_message` on stderr and
    /// exits `failing_status`, whatever was asked.
    pub failing: String,
    pub failing_status: i32,
    pub failing_message: String,
    /// Host name -> the ARN of the task it runs (a `service:web` task on
    /// the first three, among others).
    pub tasks: BTreeMap<String, String>,
    /// Tag `maintenance` value -> the hosts that carry it: `a` goes through,
    /// `b` holds the failing host, `c`'s standalone task never drains, `d`
    /// holds the unreachable host beside one that answers.
    pub maintenance: BTreeMap<String, Vec<String>>,
    /// A host that runs two tasks, so two containers.
    pub pair: SandboxPair,
}

/// Two tasks on one host (see [`SandboxFleet::pair`]).
#[derive(Debug, Deserialize)]
pub struct SandboxPair {
    pub host: String,
    /// The ARNs of its `web` task and of its `batch` task.
    pub tasks: Vec<String>,
}

/// The EC2 Instance Connect Endpoint in the sandbox subnet and the
/// stand-in that serves its tunnels.
#[derive(Debug, Deserialize)]
pub struct SandboxEice {
    pub endpoint_id: String,
    pub dns_name: String,
    pub vpc_id: String,
    pub subnet_id: String,
    /// The endpoint's own group, which the prod hosts' group admits.
    pub security_group_id: String,
    /// The endpoint's network interface address: where tunnels come from.
    pub address: String,
    /// `ws://127.0.0.1:PORT`, for BERTH_EICE_URL.
    pub url: String,
    /// JSON lines: `open`, `closed` (with bytes each way) and `refused`.
    pub log: PathBuf,
}

impl SandboxEice {
    /// The stand-in's log entries so far.
    pub fn log_entries(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }

    /// Waits (up to 10 s) for a log entry `matching`, and returns it.
    #[track_caller]
    pub fn wait_for_entry(
        &self,
        matching: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Some(entry) = self.log_entries().into_iter().find(&matching) {
                return entry;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no such entry in {}: {:#?}",
                self.log.display(),
                self.log_entries()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

/// Cluster `huge` (`start_huge_cluster` in sandbox.py), built in the
/// background after the sandbox is ready.
#[derive(Debug, Deserialize)]
pub struct SandboxHuge {
    pub cluster: String,
    /// A region of its own: no other test's lookups scan its instances.
    pub region: String,
    pub instances: usize,
    /// Appears when every container instance is registered.
    pub ready_file: PathBuf,
}

impl SandboxHuge {
    /// Waits (up to 10 minutes: a busy machine) until the cluster is
    /// complete.
    pub fn wait_ready(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
        let failed = self.ready_file.with_file_name("huge.failed");
        while !self.ready_file.exists() {
            if let Ok(why) = std::fs::read_to_string(&failed) {
                panic!(
                    "the sandbox could not build cluster {}: {why}",
                    self.cluster
                );
            }
            assert!(
                std::time::Instant::now() < deadline,
                "cluster {} was not built within 10 minutes",
                self.cluster
            );
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct Sandbox {
    pub endpoint: String,
    /// The group of the `prod` hosts: tcp/22 and tcp/3389 from loopback.
    pub security_group_id: String,
    pub region: String,
    pub ssh: PathBuf,
    pub key_name: String,
    pub key_path: PathBuf,
    pub hosts: BTreeMap<String, SandboxHost>,
    pub tasks: BTreeMap<String, String>,
    #[serde(default)]
    pub clusters: Vec<String>,
    #[serde(default)]
    pub broken: BrokenFleet,
    /// The Administrator password GetPasswordData encrypts for Windows hosts.
    pub windows_password: String,
    pub rdp: Option<SandboxRdp>,
    /// The log (DEBUG1) of the bastion's own sshd: each forward it opens
    /// shows as `direct-tcpip` with its target.
    pub bastion_sshd_log: PathBuf,
    pub fleet: SandboxFleet,
    /// Every call of the `docker` stand-in on the hosts: `SERVER-IP USER
    /// docker ARGS…`.
    pub docker_log: PathBuf,
    #[serde(default)]
    pub instance_connect: SandboxInstanceConnect,
    /// The sandbox subnet (127.X.0.0/24) of the prod hosts.
    #[serde(default)]
    pub subnet_id: String,
    /// sshd's log (LogLevel VERBOSE: each accepted key's type and
    /// fingerprint).
    #[serde(default)]
    pub sshd_log: PathBuf,
    pub eice: SandboxEice,
    /// The public host key of every sandbox sshd (what GetConsoleOutput
    /// prints for the hosts).
    #[serde(default)]
    pub host_key_pub: PathBuf,
    /// Cluster `huge`, for a target with 10,000 matches.
    #[serde(default)]
    pub huge: Option<SandboxHuge>,
    #[serde(skip)]
    keepalive: Option<Mutex<(Child, ChildStdin)>>,
}

impl Sandbox {
    pub fn host(&self, name: &str) -> &SandboxHost {
        self.hosts
            .get(name)
            .unwrap_or_else(|| panic!("sandbox has no host {name}"))
    }

    /// The ingress rules of security group `group_id`, sorted, read from
    /// the sandbox's EC2 as the far side sees them.
    /// An EC2 client of the sandbox, and a runtime to drive it.
    fn ec2(&self) -> (aws_sdk_ec2::Client, tokio::runtime::Runtime) {
        use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
        let config = aws_sdk_ec2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new(
                "testing", "testing", None, None, "sandbox",
            ))
            .build();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        (aws_sdk_ec2::Client::from_conf(config), runtime)
    }

    /// Adds an ingress rule as someone other than berth would.
    pub fn add_ingress_rule(&self, group_id: &str, cidr: &str, port: i32, description: &str) {
        use aws_sdk_ec2::types::{IpPermission, IpRange};
        let (client, runtime) = self.ec2();
        let permission = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(port)
            .to_port(port)
            .ip_ranges(
                IpRange::builder()
                    .cidr_ip(cidr)
                    .description(description)
                    .build(),
            )
            .build();
        runtime
            .block_on(
                client
                    .authorize_security_group_ingress()
                    .group_id(group_id)
                    .ip_permissions(permission)
                    .send(),
            )
            .unwrap_or_else(|e| panic!("AuthorizeSecurityGroupIngress {group_id}: {e:?}"));
    }

    /// Launches an instance of `ami` without a key pair in the sandbox
    /// subnet, outside any cluster, for a test to change as it likes.
    pub fn launch_instance(&self, ami: &str, name: &str) -> String {
        use aws_sdk_ec2::types::{InstanceType, ResourceType, Tag, TagSpecification};
        let (client, runtime) = self.ec2();
        let output = runtime
            .block_on(
                client
                    .run_instances()
                    .image_id(ami)
                    .instance_type(InstanceType::T3Micro)
                    .min_count(1)
                    .max_count(1)
                    .subnet_id(&self.subnet_id)
                    .tag_specifications(
                        TagSpecification::builder()
                            .resource_type(ResourceType::Instance)
                            .tags(Tag::builder().key("Name").value(name).build())
                            .build(),
                    )
                    .send(),
            )
            .unwrap_or_else(|e| panic!("RunInstances {ami}: {e:?}"));
        output.instances()[0]
            .instance_id()
            .expect("instance id")
            .to_owned()
    }

    /// The private IPv4 address EC2 gave an instance.
    pub fn private_ip_of(&self, instance_id: &str) -> String {
        let (client, runtime) = self.ec2();
        let output = runtime
            .block_on(client.describe_instances().instance_ids(instance_id).send())
            .unwrap_or_else(|e| panic!("DescribeInstances {instance_id}: {e:?}"));
        output
            .reservations()
            .iter()
            .flat_map(aws_sdk_ec2::types::Reservation::instances)
            .find_map(aws_sdk_ec2::types::Instance::private_ip_address)
            .unwrap_or_else(|| panic!("{instance_id} has no private address"))
            .to_owned()
    }

    /// Stops an instance as its owner would.
    pub fn stop_instance(&self, instance_id: &str) {
        let (client, runtime) = self.ec2();
        runtime
            .block_on(client.stop_instances().instance_ids(instance_id).send())
            .unwrap_or_else(|e| panic!("StopInstances {instance_id}: {e:?}"));
    }

    /// Pushes `public_key` with EC2 Instance Connect as any client would;
    /// the error code if it is refused.
    pub fn send_ssh_public_key(
        &self,
        instance_id: &str,
        user: &str,
        public_key: &str,
        availability_zone: Option<&str>,
    ) -> Result<(), String> {
        use aws_sdk_ec2instanceconnect::config::{BehaviorVersion, Credentials, Region};
        use aws_sdk_ec2instanceconnect::error::ProvideErrorMetadata;
        let config = aws_sdk_ec2instanceconnect::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new(
                "testing", "testing", None, None, "sandbox",
            ))
            .build();
        let client = aws_sdk_ec2instanceconnect::Client::from_conf(config);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        runtime
            .block_on(
                client
                    .send_ssh_public_key()
                    .instance_id(instance_id)
                    .instance_os_user(user)
                    .ssh_public_key(public_key)
                    .set_availability_zone(availability_zone.map(str::to_owned))
                    .send(),
            )
            .map(|_| ())
            .map_err(|e| e.code().unwrap_or("no error code").to_owned())
    }

    /// The public keys pushed for `user` of `instance_id` that the key store
    /// still holds (expired ones included, until the next push prunes them).
    pub fn pushed_keys(&self, instance_id: &str, user: &str) -> Vec<String> {
        let dir = self.instance_connect.key_store.join(instance_id).join(user);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut keys: Vec<String> = entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".pub"))
            .map(|e| std::fs::read_to_string(e.path()).expect("read pushed key"))
            .map(|k| k.trim().to_owned())
            .collect();
        keys.sort();
        keys
    }

    /// DescribeInstanceConnectEndpoints with `filters` (name, value), as
    /// the sandbox's EC2 answers it.
    pub fn instance_connect_endpoints(
        &self,
        filters: &[(&str, &str)],
    ) -> Vec<aws_sdk_ec2::types::Ec2InstanceConnectEndpoint> {
        use aws_sdk_ec2::types::Filter;
        let (client, runtime) = self.ec2();
        runtime
            .block_on(
                client
                    .describe_instance_connect_endpoints()
                    .set_filters(Some(
                        filters
                            .iter()
                            .map(|(name, value)| {
                                Filter::builder().name(*name).values(*value).build()
                            })
                            .collect(),
                    ))
                    .send(),
            )
            .unwrap_or_else(|e| panic!("DescribeInstanceConnectEndpoints {filters:?}: {e:?}"))
            .instance_connect_endpoints()
            .to_vec()
    }

    pub fn ingress_rules(&self, group_id: &str) -> Vec<IngressRule> {
        use aws_sdk_ec2::types::Filter;
        let (client, runtime) = self.ec2();
        let output = runtime
            .block_on(
                client
                    .describe_security_group_rules()
                    .filters(Filter::builder().name("group-id").values(group_id).build())
                    .max_results(1000)
                    .send(),
            )
            .unwrap_or_else(|e| panic!("DescribeSecurityGroupRules {group_id}: {e:?}"));
        let mut rules: Vec<IngressRule> = output
            .security_group_rules()
            .iter()
            .filter(|r| r.is_egress() == Some(false))
            .map(|r| IngressRule {
                rule_id: r.security_group_rule_id().unwrap_or_default().to_owned(),
                protocol: r.ip_protocol().unwrap_or_default().to_owned(),
                from_port: r.from_port().unwrap_or(-1),
                to_port: r.to_port().unwrap_or(-1),
                source: r
                    .cidr_ipv4()
                    .or(r.cidr_ipv6())
                    .or(r.referenced_group_info().and_then(|g| g.group_id()))
                    .or(r.prefix_list_id())
                    .unwrap_or_default()
                    .to_owned(),
                description: r.description().map(str::to_owned),
            })
            .collect();
        rules.sort();
        rules
    }
}

static SANDBOX: OnceLock<Sandbox> = OnceLock::new();

/// Container instances in the sandbox's `bench` cluster.
pub const BENCH_INSTANCES: usize = 150;
/// Container instances in the sandbox's `huge` cluster.
pub const HUGE_INSTANCES: usize = 10_000;

/// The shared sandbox, started on first use. A missing stand-in fails the
/// test with what to install; it never skips.
pub fn sandbox() -> &'static Sandbox {
    SANDBOX.get_or_init(start)
}

fn start() -> Sandbox {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = helper::python();
    assert!(
        python.exists(),
        "{} is missing: run scripts/test, which creates the virtualenv with moto",
        python.display()
    );
    let mut child = Command::new(&python)
        .arg(root.join("tests/support/sandbox.py"))
        // Enough instances for two pages of ListContainerInstances.
        .args(["--bench-instances", &BENCH_INSTANCES.to_string()])
        // A target with 10,000 matches; built in the background.
        .args(["--huge-instances", &HUGE_INSTANCES.to_string()])
        // xrdp for prod-windows: it starts in well under a second.
        .arg("--rdp")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the sandbox with {}: {e}", python.display()));
    let stdout = child.stdout.take().expect("sandbox stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read sandbox description");
    assert!(
        !line.trim().is_empty(),
        "the sandbox exited before it was ready (see its stderr above)"
    );
    let mut sandbox: Sandbox = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("bad sandbox description {line:?}: {e}"));
    let stdin = child.stdin.take().expect("sandbox stdin");
    sandbox.keepalive = Some(Mutex::new((child, stdin)));
    sandbox
}

/// The result of one berth run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }

    /// Asserts the exit code, showing everything when it is wrong.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "unexpected exit status: {self:#?}");
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}: {self:#?}"
        );
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}: {self:#?}"
        );
        self
    }
}

/// A sealed berth invocation: nothing from the outer environment leaks in,
/// every AWS call goes to the sandbox, HOME is a fresh directory holding
/// the sandbox key as `~/.ssh/KEYNAME.pem`.
pub struct Berth {
    home: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Berth {
    pub fn new(sandbox: &Sandbox) -> Self {
        let mut berth = Self::against(&sandbox.endpoint, &sandbox.region);
        let ssh_dir = berth.home().join(".ssh");
        let key = ssh_dir.join(format!("{}.pem", sandbox.key_name));
        std::fs::copy(&sandbox.key_path, &key).expect("copy key");
        set_mode(&key, 0o600);
        berth.env("BERTH_SSH", Some(&sandbox.ssh.display().to_string()));
        // Endpoint tunnels go to the stand-in, never to a real DnsName.
        berth.env("BERTH_EICE_URL", Some(&sandbox.eice.url));
        berth
    }

    /// berth with a fresh HOME (an empty `~/.ssh`), fake credentials and
    /// every AWS client pointed at `endpoint`: the quick tier's fake, or
    /// the sandbox's moto.
    pub fn against(endpoint: &str, region: &str) -> Self {
        let home = tempfile::tempdir().expect("home");
        let ssh_dir = home.path().join(".ssh");
        std::fs::create_dir_all(&ssh_dir).expect("mkdir .ssh");
        set_mode(&ssh_dir, 0o700);
        let h = home.path().display().to_string();
        let env = vec![
            ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
            ("HOME".into(), h.clone()),
            ("XDG_CONFIG_HOME".into(), format!("{h}/.config")),
            ("XDG_CACHE_HOME".into(), format!("{h}/.cache")),
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
            ("AWS_REGION".into(), region.to_owned()),
            ("AWS_ENDPOINT_URL".into(), endpoint.to_owned()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            ("AWS_CONFIG_FILE".into(), format!("{h}/.aws/config")),
            (
                "AWS_SHARED_CREDENTIALS_FILE".into(),
                format!("{h}/.aws/credentials"),
            ),
        ];
        Self { home, env }
    }

    /// The environment each run gets.
    pub fn envs(&self) -> impl Iterator<Item = (&String, &String)> {
        self.env.iter().map(|(k, v)| (k, v))
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// Sets (or with `None`, removes) one variable for later runs.
    pub fn env(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        self.env.retain(|(k, _)| k != key);
        if let Some(value) = value {
            self.env.push((key.to_owned(), value.to_owned()));
        }
        self
    }

    /// The sealed command, for a test that needs the running process.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
        command
            .args(args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        command
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let output = self.command(args).output().expect("run berth");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Berth {
    /// Runs berth on a pseudo-terminal (util-linux `script`), typing `keys`
    /// once it has had a moment to draw. Output is the terminal's bytes.
    /// Runs berth on a pseudo-terminal (script(1)); once its output shows
    /// `prompt`, types `keys`. An empty `keys` types nothing.
    pub fn run_on_terminal(&self, args: &[&str], prompt: &str, keys: &str) -> Run {
        use std::io::{Read, Write};
        let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
        let line = std::iter::once(env!("CARGO_BIN_EXE_berth"))
            .chain(args.iter().copied())
            .map(quote)
            .collect::<Vec<_>>()
            .join(" ");
        let mut child = Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("TERM", "xterm")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run script(1) from util-linux");
        let mut stdin = child.stdin.take().expect("stdin");
        let mut stdout = child.stdout.take().expect("stdout");
        let mut stderr = child.stderr.take().expect("stderr");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let reader = {
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut chunk = [0u8; 4096];
                while let Ok(n @ 1..) = stdout.read(&mut chunk) {
                    seen.lock().expect("lock").extend_from_slice(&chunk[..n]);
                }
            })
        };
        let errors = std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = stderr.read_to_end(&mut text);
            text
        });
        if !keys.is_empty() {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            loop {
                let text = String::from_utf8_lossy(&seen.lock().expect("lock")).into_owned();
                if text.contains(prompt) {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline && !reader.is_finished(),
                    "berth never showed {prompt:?} on the terminal: {text}"
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            // Let berth finish drawing and switch the terminal's mode.
            std::thread::sleep(std::time::Duration::from_millis(200));
            stdin.write_all(keys.as_bytes()).expect("type");
            stdin.flush().expect("flush");
        }
        let status = child.wait().expect("wait");
        drop(stdin);
        reader.join().expect("stdout reader");
        let stderr = errors.join().expect("stderr reader");
        let stdout = std::mem::take(&mut *seen.lock().expect("lock"));
        Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }
}

pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// `stats: calls=N round_trips=N wall_ms=N` from the last stderr line.
pub fn stats_line(stderr: &str) -> BTreeMap<String, u64> {
    let last = stderr.lines().last().unwrap_or_default();
    let rest = last
        .strip_prefix("stats: ")
        .unwrap_or_else(|| panic!("last stderr line is not a stats line: {stderr}"));
    rest.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.parse().expect("number")))
        .collect()
}
