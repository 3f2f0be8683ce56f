#!/usr/bin/env python3
"""Local sandbox for berth's tests and demos: a fake AWS (moto) plus real sshd.

Usage (as root):

    .venv/bin/python tests/support/sandbox.py [--dir DIR] [--keep] [--bench-instances N] [--huge-instances N] [--rdp] [--until-signal]

What it sets up:

* moto in server mode on 127.0.0.1:<free port>, with a VPC 127.X.0.0/16, a
  subnet 127.X.0.0/24, ECS clusters ``prod``, ``edge``, ``empty`` (and
  ``bench`` with --bench-instances), custom AMIs, a key pair, tasks...
* one sshd listening on 127.X.0.{10,11,12,14,15}:22 (the Linux ``prod`` hosts),
  accepting the sandbox key for the local users ec2-user, ubuntu and core.
  Every user can log into every address; tell hosts apart by $SSH_CONNECTION.
* cluster ``broken``: one host per connection prerequisite that can fail
  (key pair deleted, wrong local key, port open only to another CIDR or
  group, no internet-gateway route, NACL deny, stopped, Windows with an
  ED25519 key or no password yet), and ``open-{int,term,kill}``, healthy
  hosts (sshd on 127.X.0.16-18) whose groups do not admit loopback.
* client helpers: DIR/ssh_config and DIR/bin/ssh (ssh -F DIR/ssh_config).
* GetPasswordData as EC2 answers it: the Windows hosts' Administrator password
  RSA-encrypted to their key pair (see emulate_windows_password_data), and a
  cluster ``rdp`` with ``rdp-win-pending``, a Windows host still booting.
* with --rdp: Debian's xrdp on 127.X.0.13:3389 (prod-windows), where the local
  account Administrator logs in with that password.
* EC2 Instance Connect as on Amazon Linux and Ubuntu: SendSSHPublicKey keeps
  each pushed key for 60 seconds in DIR/instance-connect-keys (see
  emulate_instance_connect), and on the hosts whose AMIs ship
  ec2-instance-connect sshd reads them through an AuthorizedKeysCommand
  (a script in /run/berth-sandbox-127.X, as sshd wants it root-owned all the
  way up). prod-nokey, launched without a key pair, accepts nothing else.
* an EC2 Instance Connect Endpoint in the sandbox subnet (the prod hosts'),
  in a group of its own that the prod hosts' group admits on 22 and 3389,
  and the tunnels it opens: a websocket stand-in on ws://127.0.0.1:<free
  port> (eice_endpoint.py) that checks each SigV4-presigned openTunnel
  request and relays to 127.X.0.N, logging each tunnel to DIR/eice.log.

It prints exactly one JSON line on stdout describing all of it, then waits
until stdin reaches EOF (or SIGTERM/SIGINT/SIGHUP) and tears everything down:
sshd (and any session processes), moto, and DIR unless --keep.
Progress messages go to stderr. Nothing talks to anything outside 127.0.0.0/8.
"""

import argparse
import ctypes
import errno
import fcntl
import grp
import json
import logging
import os
import pwd
import random
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

REGION = "us-east-1"
AZ = "us-east-1a"
# The region of cluster `huge` (--huge-instances), apart from everything else.
HUGE_REGION = "us-west-2"
KEY_NAME = "berth-sandbox"
SG_NAME = "berth-sandbox"
PROG = "sandbox.py"

AMI_AL2023 = "ami-0a1b2c3d4e5f60001"
AMI_UBUNTU = "ami-0a1b2c3d4e5f60002"
AMI_FLATCAR = "ami-0a1b2c3d4e5f60003"
AMI_WINDOWS = "ami-0a1b2c3d4e5f60004"
AMI_BOTTLEROCKET = "ami-0a1b2c3d4e5f60005"
# A private golden image, deregistered after its instance launched (as AMIs
# are, once superseded): DescribeImages no longer knows it.
AMI_GONE = "ami-0a1b2c3d4e5f60006"

# (ami id, Name, Description, owner, platform, owner alias)
AMIS = [
    (AMI_AL2023, "al2023-ami-ecs-hvm-2023.0.20251108-kernel-6.1-x86_64",
     "Amazon Linux AMI 2023.0.20251108 x86_64 ECS HVM EBS", "591542846629", None, "amazon"),
    (AMI_UBUNTU, "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20251101",
     "Canonical, Ubuntu, 24.04, amd64 noble image", "099720109477", None, None),
    (AMI_FLATCAR, "Flatcar-stable-4230.2.3-hvm",
     "Flatcar Container Linux stable 4230.2.3 (HVM)", "075585003325", None, None),
    (AMI_WINDOWS, "Windows_Server-2022-English-Full-ECS_Optimized-2025.11.13",
     "Microsoft Windows Server 2022 Full optimized for ECS", "801119661308", "windows", "amazon"),
    (AMI_BOTTLEROCKET, "bottlerocket-aws-ecs-2-x86_64-v1.50.0-5e3c1a2b",
     "bottlerocket-aws-ecs-2-x86_64-v1.50.0-5e3c1a2b", "092701018921", None, "amazon"),
    (AMI_GONE, "acme-golden-2024.03", "ACME golden image", "123456789012", None, None),
]

# name -> (last octet or None for default VPC, ami, key?, role, login user, cluster)
PROD_HOSTS = [
    ("prod-al2023", 10, AMI_AL2023, True, "web", "ec2-user"),
    ("prod-ubuntu", 11, AMI_UBUNTU, True, "web", "ubuntu"),
    ("prod-flatcar", 12, AMI_FLATCAR, True, "batch", "core"),
    ("prod-windows", 13, AMI_WINDOWS, True, "win", "Administrator"),
    ("prod-nokey", 14, AMI_AL2023, False, "batch", "ec2-user"),
    ("prod-draining", 15, AMI_AL2023, True, "batch", "ec2-user"),
]
# name -> (ami, login user, cluster, extra tags); loose-ubuntu names its
# login user with the `berth:user` tag, which beats the AMI's default.
DEFAULT_VPC_HOSTS = [
    ("edge-al2023", AMI_AL2023, "ec2-user", "edge", {}),
    ("edge-bottlerocket", AMI_BOTTLEROCKET, "ec2-user", "edge", {}),
    ("loose-ubuntu", AMI_UBUNTU, "deploy", None, {"berth:user": "deploy"}),
    ("edge-gone-ami", AMI_GONE, "ec2-user", "edge", {}),
]
# The `broken` cluster (build_broken_fleet): one host per connection
# prerequisite that can fail, and three healthy hosts whose security groups
# do not admit the operator, for `--open`. Last octets in the sandbox subnet
# 127.X.0.0/24 (the prod hosts use 10-15).
BROKEN_CLUSTER = "broken"
OPEN_HOSTS = [("open-int", 16), ("open-term", 17), ("open-kill", 18)]
BROKEN_OCTETS = {"broken-keygone": 20, "broken-wrongkey": 21, "broken-othercidr": 22,
                 "broken-groupref": 23, "broken-stopped": 24, "broken-win-ed25519": 25,
                 "broken-win-pending": 26}
# Broken hosts sshd also answers on, each accepting the key its instance was
# launched with (as cloud-init installs it), not the sandbox key.
BROKEN_SSHD_HOSTS = ("broken-keygone", "broken-wrongkey")
DELETED_KEY_NAME = "berth-deleted"
WRONG_KEY_NAME = "berth-wrong"
ED25519_KEY_NAME = "berth-ed25519"
BASTION_SG_NAME = "berth-bastion"
# Cluster `fleet` (build_fleet_cluster): hosts on 127.X.0.100+; one has no
# sshd, one's sshd forces a failing command.
FLEET_CLUSTER = "fleet"
FLEET_SIZE = 50  # --fleet-size
# The fleet has a subnet of its own, 127.X.2.0/24, hosts from .10 up.
FLEET_THIRD_OCTET = 2
FLEET_FIRST_OCTET = 10
FLEET_UNREACHABLE = 49
FLEET_FAILING = 48
FLEET_FAILING_STATUS = 3
FLEET_FAILING_MESSAGE = "fleet-48: no space left on device"
# Tag `maintenance` on some fleet hosts, for `berth maintain` tests of their
# own: a group that goes through, one with the failing host, one whose
# standalone task never drains, one with the host that has no sshd.
FLEET_MAINTENANCE = {"a": [40, 41, 42, 43], "b": [44, 45, 48], "c": [39], "d": [46, 49]}
FLEET_SERVICE_TASKS = [0, 1, 2, 40, 41, 44]
FLEET_STANDALONE_TASKS = [39]
# Two tasks (`web`, `batch`) on one host: `berth exec` there has a container
# to choose (moto gives a task one container, whatever its definition).
FLEET_PAIR_HOST = 7
# Where the ECS agent writes its logs on a container instance.
ECS_LOG_DIR = "/var/log/ecs"
# Sandboxes that use ECS_LOG_DIR, one file per sandbox's pid, under a lock:
# the directory is machine-wide, so the last sandbox out removes it, not the
# first (two test runs may overlap). A stamp inside says a sandbox made it.
ECS_LOG_USERS = "/run/berth-sandbox-ecs-log"
ECS_LOG_STAMP = os.path.join(ECS_LOG_DIR, ".made-by-berth-sandbox")
# The VPC's bastion, tagged berth:bastion; its own sshd logs each forward.
BASTION_OCTET = 27
# An instance outside any cluster whose console output prints another
# machine's host key (sandbox:console=stranger) while the sandbox sshd
# answers at its address: an address that now belongs to someone else.
STRANGER_OCTET = 28
# Every 127.X.0.N sshd listens on.
SSHD_OCTETS = ([n for _, n, ami, *_ in PROD_HOSTS if ami != AMI_WINDOWS]
               + [n for _, n in OPEN_HOSTS] + [BROKEN_OCTETS[h] for h in BROKEN_SSHD_HOSTS]
               + [STRANGER_OCTET])
SSH_USERS = ["ec2-user", "ubuntu", "core"]
# AMIs that ship the ec2-instance-connect package (Amazon Linux 2023 and
# Ubuntu do; Flatcar does not): their sshd asks EC2 Instance Connect for keys.
INSTANCE_CONNECT_AMIS = (AMI_AL2023, AMI_UBUNTU)
# Where the AuthorizedKeysCommand lives: sshd refuses a command that is not
# root-owned, or under a directory others can write to (so not /tmp).
INSTANCE_CONNECT_RUN_DIR = "/run/berth-sandbox-{net}"
# The Administrator password of the sandbox's Windows hosts. It is fixed, not
# random: the local account Administrator is shared by every sandbox on the
# machine, so concurrent sandboxes must agree on its password.
WINDOWS_PASSWORD = "Sandbox%Admin;7(Qx)=2025"
RDP_USER = "Administrator"
RDP_PORT = 3389
# An instance with this tag stands for one launched under 4 minutes ago, whose
# password EC2 does not have yet.
BOOT_IN_PROGRESS_TAG = ("sandbox:boot", "in-progress")
RDP_INSTALL_HINT = "install them with: apt-get install xrdp xorgxrdp"
INSTALL_HINT = "install it with: apt-get install openssh-server"

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def log(msg):
    print(f"[sandbox] {msg}", file=sys.stderr, flush=True)


def die(msg, code=2):
    print(f"{PROG}: {msg}", file=sys.stderr, flush=True)
    sys.exit(code)



class ecs_log_users_locked:
    """Holds the lock on ECS_LOG_USERS (made if need be) while in use."""

    def __enter__(self):
        os.makedirs(ECS_LOG_USERS, mode=0o700, exist_ok=True)
        self.fd = os.open(os.path.join(ECS_LOG_USERS, ".lock"), os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *_):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

class Stop(BaseException):
    """Raised from signal handlers so that cleanup runs in `finally`."""


def _on_signal(signum, _frame):
    raise Stop(signum)


def _prctl(option, arg):
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0) == 0
    except Exception:  # pragma: no cover - non-Linux
        return False


def run(cmd, **kw):
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(shlex.quote, cmd))} failed ({r.returncode}): "
                           f"{(r.stderr or r.stdout).strip()}")
    return r


def preflight():
    if os.name != "posix" or not sys.platform.startswith("linux"):
        die("needs Linux (binds sshd to 127.X.0.N loopback addresses)")
    if os.geteuid() != 0:
        die("must run as root (it creates local users ec2-user/ubuntu/core and runs sshd "
            "on port 22); re-run with sudo")
    tools = {}
    for name, fallback in [("sshd", "/usr/sbin/sshd"), ("ssh-keygen", "/usr/bin/ssh-keygen"),
                           ("ssh", "/usr/bin/ssh")]:
        path = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin:/sbin:/bin")
        if not path and os.access(fallback, os.X_OK):
            path = fallback
        if not path:
            die(f"`{name}` (OpenSSH) not found; {INSTALL_HINT}")
        tools[name] = os.path.abspath(path)
    for name in ("useradd", "usermod"):
        path = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
        if not path:
            die(f"`{name}` not found; install it with: apt-get install passwd")
        tools[name] = path
    tools["setpriv"] = shutil.which("setpriv", path=os.environ.get("PATH", "") + ":/usr/bin:/bin")
    try:
        import boto3  # noqa: F401
        import moto.server  # noqa: F401
    except ImportError as e:
        die(f"cannot import {e.name!r}; run with the project venv "
            f"(/work/main/.venv/bin/python, which has moto[server]==5.2.5 and boto3)")
    return tools


def free_port_on(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((addr, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def wait_tcp(addr, port, deadline):
    while True:
        try:
            with socket.create_connection((addr, port), timeout=0.5):
                return True
        except OSError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)


def _children_of(pid):
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            kids.append(int(entry))
    return kids


def _descendants(pid):
    """Every process below pid, parents before their children."""
    found, todo = [], [pid]
    while todo:
        kids = _children_of(todo.pop())
        found += kids
        todo += kids
    return found


def _reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


class Sandbox:
    def __init__(self, args, tools):
        self.args = args
        self.tools = tools
        self.dir = None
        self.created_dir = False
        self.lock_fd = None
        self.lock_path = None
        self.server = None
        self.sshd = None
        self.bastion_sshd = None
        self.bastion_listen = None
        self.fleet_sshds = []
        self.fleet_listen = []
        self.xrdp = []  # [xrdp-sesman, xrdp] Popen objects, with --rdp
        self.huge_ready = None  # DIR/huge.ready, with --huge-instances
        self.net = None
        self.subreaper = False
        self.key_store = None  # EC2 Instance Connect's pushed keys
        self.eic_run_dir = None  # holds the AuthorizedKeysCommand
        self.eice_server = None
        self.eice = None

    # ---------------------------------------------------------------- setup
    def make_dir(self):
        if self.args.dir:
            d = os.path.abspath(self.args.dir)
            if os.path.exists(d):
                if not os.path.isdir(d) or os.listdir(d):
                    die(f"--dir {d} exists and is not an empty directory")
            else:
                os.makedirs(d)
                self.created_dir = True
        else:
            d = tempfile.mkdtemp(prefix="berth-sandbox-")
            self.created_dir = True
        self.dir = d
        if any(c.isspace() or c in "\"'%\\" for c in d):
            raise RuntimeError(f"sandbox dir {d!r} must not contain whitespace, quotes, % or \\")
        # 0711 rather than 0700: sshd opens AuthorizedKeysFile *as the target
        # user*, so ec2-user/ubuntu/core must be able to traverse DIR. Nothing
        # in DIR is listable by them; the private key lives in DIR/home (0700).
        os.chmod(d, 0o711)
        parent = os.path.dirname(d)
        while True:
            if not os.stat(parent).st_mode & 0o001:
                raise RuntimeError(
                    f"{parent} is not world-traversable, but sshd opens {d}/authorized_keys/* as "
                    f"ec2-user/ubuntu/core; use a --dir elsewhere (e.g. under /tmp) or chmod o+x {parent}")
            if parent == "/":
                break
            parent = os.path.dirname(parent)

    def pick_net(self):
        lockdir = tempfile.gettempdir()
        candidates = list(range(16, 251))
        random.shuffle(candidates)
        for x in candidates:
            path = os.path.join(lockdir, f"berth-sandbox-net-127.{x}.lock")
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            try:  # a finishing sandbox may have unlinked it between our open and flock
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            # Port 22 as on EC2; if a system sshd holds *:22, another port
            # (then DIR/ssh_config tells the client which).
            for port in (22, 2222, 20022):
                if all(free_port_on(f"127.{x}.0.{n}", port) for n in SSHD_OCTETS):
                    self.lock_fd, self.lock_path, self.net = fd, path, f"127.{x}.0"
                    self.ssh_port = port
                    if port != 22:
                        log(f"port 22 is taken on 127.{x}.0.N; sshd listens on {port} instead")
                    return
            os.close(fd)
        raise RuntimeError("ports 22, 2222 and 20022 are taken on some 127.X.0.N sshd needs for every X "
                           "in 16..250 (is something listening on 0.0.0.0? stop it or "
                           "narrow its ListenAddress)")

    def keygen(self):
        home_ssh = os.path.join(self.dir, "home", ".ssh")
        os.makedirs(home_ssh, mode=0o700)
        os.chmod(os.path.join(self.dir, "home"), 0o700)
        os.chmod(home_ssh, 0o700)
        self.key_path = os.path.join(home_ssh, f"{KEY_NAME}.pem")
        self.host_key = os.path.join(self.dir, "ssh_host_ed25519_key")
        kg = self.tools["ssh-keygen"]
        procs = [
            subprocess.Popen([kg, "-q", "-t", "rsa", "-b", "2048", "-m", "PEM", "-N", "",
                              "-C", KEY_NAME, "-f", self.key_path],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE),
            subprocess.Popen([kg, "-q", "-t", "ed25519", "-N", "", "-C", "berth-sandbox-host",
                              "-f", self.host_key],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE),
            # No sshd has it: the host key of a machine that is not the one
            # answering (GetConsoleOutput of instances tagged sandbox:console=stranger).
            subprocess.Popen([kg, "-q", "-t", "ed25519", "-N", "", "-C", "berth-sandbox-stranger",
                              "-f", os.path.join(self.dir, "stranger_host_ed25519_key")],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE),
        ]
        for p in procs:
            _, err = p.communicate()
            if p.returncode != 0:
                raise RuntimeError(f"ssh-keygen failed: {err.decode().strip()}")
        os.chmod(self.key_path, 0o600)
        with open(self.key_path + ".pub") as f:
            self.pubkey = f.read().strip()

    def ensure_user(self, name):
        for _ in range(50):
            try:
                pwd.getpwnam(name)
                break
            except KeyError:
                pass
            cmd = [self.tools["useradd"], "-m", "-s", "/bin/sh"]
            try:
                grp.getgrnam(name)
                cmd += ["-g", name]
            except KeyError:
                pass
            r = subprocess.run(cmd + [name], stdin=subprocess.DEVNULL, capture_output=True, text=True)
            if r.returncode in (0, 9):  # 9: already exists (a concurrent sandbox won)
                continue
            if r.returncode == 10:  # can't lock /etc/passwd: concurrent useradd
                time.sleep(0.1)
                continue
            raise RuntimeError(f"useradd {name} failed ({r.returncode}): {r.stderr.strip()}")
        else:
            raise RuntimeError(f"could not create user {name}")
        # A fresh account has a locked password ("!"), which sshd refuses even
        # for key logins when UsePAM is off. "*" = no password, but not locked.
        for _ in range(50):
            if not self._password_locked(name):
                return
            r = subprocess.run([self.tools["usermod"], "-p", "*", name],
                               stdin=subprocess.DEVNULL, capture_output=True, text=True)
            if r.returncode == 10:
                time.sleep(0.1)
                continue
            if r.returncode != 0:
                raise RuntimeError(f"usermod -p '*' {name} failed: {r.stderr.strip()}")
        if self._password_locked(name):
            raise RuntimeError(f"could not unlock account {name}")

    @staticmethod
    def _password_locked(name):
        try:
            with open("/etc/shadow") as f:
                for line in f:
                    parts = line.split(":")
                    if parts[0] == name:
                        return parts[1].startswith("!")
        except FileNotFoundError:
            pass
        return pwd.getpwnam(name).pw_passwd.startswith("!")

    def setup_sshd(self):
        for u in SSH_USERS:
            self.ensure_user(u)
        akdir = os.path.join(self.dir, "authorized_keys")
        os.makedirs(akdir)
        os.chmod(akdir, 0o755)
        for u in SSH_USERS:
            p = os.path.join(akdir, u)
            with open(p, "w") as f:
                f.write(self.pubkey + "\n")
            os.chmod(p, 0o644)

        self.listen = [f"{self.net}.{n}" for n in SSHD_OCTETS]
        cfg = os.path.join(self.dir, "sshd_config")
        lines = [f"ListenAddress {a}:{self.ssh_port}" for a in self.listen] + [
            f"HostKey {self.host_key}",
            f"PidFile {self.dir}/sshd.pid",
            f"AuthorizedKeysFile {akdir}/%u",
            "StrictModes no",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "PermitRootLogin no",
            "LogLevel VERBOSE",
            "UseDNS no",
            "PrintMotd no",
            "PrintLastLog no",
            "X11Forwarding no",
            # tests may open many connections at once
            "MaxStartups 200:30:400",
            "MaxSessions 100",
            "Subsystem sftp internal-sftp",
            # the container engine stand-in first on every session's PATH
            f"SetEnv PATH={self.docker_bin}:/usr/local/bin:/usr/bin:/bin",
        ]
        if self._sshd_has_penalties():
            # OpenSSH >= 9.8 would otherwise lock out 127.0.0.1 after auth failures
            lines.append("PerSourcePenalties no")
        base = [l for l in lines if not l.startswith("ListenAddress")]
        self.sshd_base = base
        # Match blocks: last
        lines += self.broken_sshd_matches() + self.instance_connect_sshd_matches()
        with open(cfg, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        os.chmod("/run/sshd", 0o755)

        self.sshd_err = open(os.path.join(self.dir, "sshd.stderr"), "wb")
        self.sshd = self._spawn_sshd(cfg, "sshd.log", self.sshd_err)
        log(f"sshd pid {self.sshd.pid} on {', '.join(self.listen)} (port {self.ssh_port})")

        # The bastion's own sshd: the same accounts and keys, its own log at
        # DEBUG1, where each forward it opens shows as "direct-tcpip"
        # ("originator … target …") -- proof a connection went through it.
        self.bastion_listen = f"{self.net}.{BASTION_OCTET}"
        bastion_cfg = os.path.join(self.dir, "bastion_sshd_config")
        with open(bastion_cfg, "w") as f:
            f.write("\n".join([f"ListenAddress {self.bastion_listen}:{self.ssh_port}",
                               "LogLevel DEBUG1", f"PidFile {self.dir}/bastion-sshd.pid"]
                              + [l for l in base if not l.startswith(("LogLevel", "PidFile"))]
                              # Amazon Linux: it takes Instance Connect keys too
                              + [f"Match LocalAddress {self.bastion_listen}",
                                 f"  AuthorizedKeysCommand {self.eic_command} "
                                 f"{self.hosts['bastion']['instance_id']} %u",
                                 "  AuthorizedKeysCommandUser nobody"])
                    + "\n")
        self.bastion_sshd = self._spawn_sshd(bastion_cfg, "bastion-sshd.log", self.sshd_err)
        log(f"bastion sshd pid {self.bastion_sshd.pid} on {self.bastion_listen}")

    def _spawn_sshd(self, cfg, log_name, err):
        r = subprocess.run([self.tools["sshd"], "-t", "-f", cfg], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"sshd -t rejected {cfg}: {r.stderr.strip()}")
        cmd = [self.tools["sshd"], "-D", "-e", "-f", cfg, "-E", os.path.join(self.dir, log_name)]
        kw = {}
        if self.tools.get("setpriv"):
            # if this process is SIGKILLed, sshd still gets a SIGTERM
            cmd = [self.tools["setpriv"], "--pdeathsig", "TERM", "--"] + cmd
        else:
            kw["preexec_fn"] = lambda: _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err, **kw)

    def wait_sshd(self):
        deadline = time.monotonic() + 15
        for a in self.listen + [self.bastion_listen] + self.fleet_listen:
            while not wait_tcp(a, self.ssh_port, min(deadline, time.monotonic() + 0.3)):
                if self.sshd.poll() is not None or time.monotonic() > deadline:
                    self.sshd_err.flush()
                    tail = ""
                    for p in ("sshd.log", "sshd.stderr"):
                        try:
                            with open(os.path.join(self.dir, p)) as f:
                                tail += f.read()[-2000:]
                        except OSError:
                            pass
                    raise RuntimeError(f"sshd did not come up on {a}:{self.ssh_port} "
                                       f"(exit={self.sshd.poll()}): {tail.strip()}")

    def _sshd_has_penalties(self):
        try:
            out = subprocess.run([self.tools["ssh"], "-V"], capture_output=True, text=True).stderr
            ver = out.split("OpenSSH_", 1)[1].split(",")[0].split()[0]
            major, minor = ver.split("p")[0].split(".")[:2]
            return (int(major), int(minor)) >= (9, 8)
        except Exception:
            return False

    def client_helpers(self):
        cfg = os.path.join(self.dir, "ssh_config")
        with open(cfg, "w") as f:
            f.write("\n".join([
                "Host *",
                f"  UserKnownHostsFile {self.dir}/known_hosts",
                "  GlobalKnownHostsFile /dev/null",
                "  StrictHostKeyChecking no",
                "  BatchMode yes",
                "  LogLevel ERROR",
                "  ConnectTimeout 5",
                f"  Port {self.ssh_port}",
            ]) + "\n")
        os.chmod(cfg, 0o600)
        bindir = os.path.join(self.dir, "bin")
        os.makedirs(bindir)
        self.ssh_wrapper = os.path.join(bindir, "ssh")
        with open(self.ssh_wrapper, "w") as f:
            # absolute path to the real ssh: DIR/bin may be first in $PATH
            f.write(f'#!/bin/sh\nexec {shlex.quote(self.tools["ssh"])} -F {shlex.quote(cfg)} "$@"\n')
        os.chmod(self.ssh_wrapper, 0o755)

    def start_moto(self):
        amis_path = os.path.join(self.dir, "amis.json")
        with open(amis_path, "w") as f:
            json.dump([{
                "ami_id": ami_id, "name": name, "description": desc, "owner_id": owner,
                "platform": platform, "state": "available", "public": True,
                "architecture": "x86_64", "virtualization_type": "hvm", "hypervisor": "xen",
                "root_device_type": "ebs", "root_device_name": "/dev/xvda",
                "image_type": "machine", "sriov": "simple",
                "image_location": f"{alias or owner}/{name}",
                "creation_date": "2025-11-10T00:00:00.000Z",
            } for ami_id, name, desc, owner, platform, alias in AMIS], f, indent=1)
        # Must be set before moto.ec2 is imported: it replaces moto's bundled AMI list.
        os.environ["MOTO_AMIS_PATH"] = amis_path

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no per-request lines
        from moto.server import ThreadedMotoServer

        emulate_platform_details()

        emulate_ecs_container_instance_queries()
        from moto.ec2.models import ec2_backends
        from aws_emulation import (emulate_console_output, emulate_container_runtime_ids,
                                   emulate_instance_connect, emulate_instance_lookups_at_scale,
                                   emulate_ssm_and_instance_connect_endpoints)
        emulate_ssm_and_instance_connect_endpoints(ec2_backends)
        emulate_container_runtime_ids()
        from moto.ecs.models import ecs_backends
        from aws_emulation import emulate_ecs_draining, emulate_run_command
        emulate_ecs_draining(ecs_backends)
        emulate_run_command(ec2_backends)
        self.setup_instance_connect()
        emulate_instance_connect(ec2_backends, self.key_store)
        emulate_windows_password_data(WINDOWS_PASSWORD)
        emulate_instance_lookups_at_scale()
        # The host key files are made by keygen(), before any call is served.
        emulate_console_output(os.path.join(self.dir, "ssh_host_ed25519_key.pub"),
                               os.path.join(self.dir, "stranger_host_ed25519_key.pub"))

        # moto advances an ECS task one lifecycle step (RUNNING -> DEACTIVATING
        # -> STOPPING ...) every time it is described; keep them RUNNING.
        from moto.moto_api import state_manager
        state_manager.set_transition(model_name="ecs::task",
                                     transition={"progression": "manual", "times": 10**9})

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        log(f"moto on {self.endpoint}")

        import boto3
        from botocore.config import Config
        session = boto3.session.Session(aws_access_key_id="testing",
                                        aws_secret_access_key="testing",
                                        region_name=REGION)
        cfg = Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=120,
                     max_pool_connections=20)
        self.ec2 = session.client("ec2", endpoint_url=self.endpoint, config=cfg)
        self.ecs = session.client("ecs", endpoint_url=self.endpoint, config=cfg)
        self.sts = session.client("sts", endpoint_url=self.endpoint, config=cfg)

        # EC2 backend creation takes ~2s (default VPC etc.); do it while we set up sshd.
        self._warm_err = None

        def warm():
            try:
                self.ec2.describe_availability_zones()
                self.ecs.list_clusters()
            except BaseException as e:  # noqa: BLE001
                self._warm_err = e
        self._warm = threading.Thread(target=warm, daemon=True)
        self._warm.start()

    def _backends(self):
        from moto.ec2.models import ec2_backends
        from moto.ecs.models import ecs_backends
        acct = self.sts.get_caller_identity()["Account"]
        return acct, ec2_backends[acct][REGION], ecs_backends[acct][REGION]

    def build_fleet(self):
        self._warm.join()
        if self._warm_err:
            raise self._warm_err
        ec2, ecs = self.ec2, self.ecs
        acct, ec2_be, _ = self._backends()
        self.account = acct
        for ami_id, _, _, _, _, alias in AMIS:  # moto labels every file AMI "amazon"
            ec2_be.amis[ami_id].owner_alias = alias

        ec2.import_key_pair(KeyName=KEY_NAME, PublicKeyMaterial=self.pubkey.encode())
        tag = lambda rtype, **kv: [{"ResourceType": rtype,  # noqa: E731
                                    "Tags": [{"Key": k, "Value": v} for k, v in kv.items()]}]
        vpc = ec2.create_vpc(CidrBlock=f"{self.net.rsplit('.', 1)[0]}.0.0/16",
                             TagSpecifications=tag("vpc", Name="berth-sandbox"))["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"{self.net}.0/24", AvailabilityZone=AZ,
                                   TagSpecifications=tag("subnet", Name="berth-sandbox-private"))
        subnet = subnet["Subnet"]["SubnetId"]
        rt = ec2.create_route_table(VpcId=vpc, TagSpecifications=tag(
            "route-table", Name="berth-sandbox-private"))["RouteTable"]["RouteTableId"]
        ec2.associate_route_table(RouteTableId=rt, SubnetId=subnet)
        self.route_table = rt
        sg = ec2.create_security_group(GroupName=SG_NAME, Description="berth sandbox: ssh and rdp from loopback",
                                       VpcId=vpc)["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": port, "ToPort": port,
            "IpRanges": [{"CidrIp": "127.0.0.0/8", "Description": "loopback"}]} for port in (22, 3389)])
        self.vpc, self.subnet, self.sg = vpc, subnet, sg

        default_subnet = ec2.describe_subnets(Filters=[
            {"Name": "default-for-az", "Values": ["true"]},
            {"Name": "availability-zone", "Values": [AZ]}])["Subnets"][0]
        default_sg = ec2.describe_security_groups(Filters=[
            {"Name": "vpc-id", "Values": [default_subnet["VpcId"]]},
            {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]["GroupId"]
        default_subnet = default_subnet["SubnetId"]
        self.default_sg = default_sg

        for c in ("prod", "edge", "empty"):
            ecs.create_cluster(clusterName=c)
        self.clusters = ["prod", "edge", "empty"]

        self.hosts = {}

        def launch(name, ami, key, cluster, user, role=None, subnet_id=None, ip=None, sgs=None,
                   itype="t3.medium", extra_tags=None):
            kw = dict(ImageId=ami, MinCount=1, MaxCount=1, InstanceType=itype,
                      SubnetId=subnet_id,
                      TagSpecifications=tag("instance", Name=name,
                                            **({"role": role} if role else {}),
                                            **(extra_tags or {})))
            if key:
                kw["KeyName"] = KEY_NAME
            if ip:
                kw["PrivateIpAddress"] = ip
            if sgs:
                kw["SecurityGroupIds"] = sgs
            inst = ec2.run_instances(**kw)["Instances"][0]
            ci_arn = None
            if cluster:
                ci_arn = self.register(cluster, inst)
            self.hosts[name] = {
                "instance_id": inst["InstanceId"],
                "container_instance_arn": ci_arn,
                "private_ip": inst.get("PrivateIpAddress"),
                "public_ip": inst.get("PublicIpAddress") or None,
                "public_dns": inst.get("PublicDnsName") or None,
                "user": user,
                "cluster": cluster,
                "ami": ami,
                "key_name": KEY_NAME if key else None,
                "platform": inst.get("Platform") or "linux",
                "role": role,
                "status": "ACTIVE" if cluster else None,
            }

        for name, n, ami, key, role, user in PROD_HOSTS:
            launch(name, ami, key, "prod", user, role=role, subnet_id=subnet,
                   ip=f"{self.net}.{n}", sgs=[sg],
                   itype="m5.large" if ami == AMI_WINDOWS else "t3.medium")
        for name, ami, user, cluster, extra_tags in DEFAULT_VPC_HOSTS:
            launch(name, ami, True, cluster, user, subnet_id=default_subnet, sgs=[default_sg],
                   extra_tags=extra_tags)

        ec2.deregister_image(ImageId=AMI_GONE)

        dr = self.hosts["prod-draining"]
        ecs.update_container_instances_state(cluster="prod", status="DRAINING",
                                             containerInstances=[dr["container_instance_arn"]])
        dr["status"] = "DRAINING"

        # tasks
        ecs.register_task_definition(family="web", containerDefinitions=[{
            "name": "web", "image": "nginx", "memory": 128, "essential": True,
            "portMappings": [{"containerPort": 80, "hostPort": 0, "protocol": "tcp"}]}])
        ecs.register_task_definition(family="batch", containerDefinitions=[{
            "name": "batch", "image": "busybox", "memory": 128, "essential": True,
            "command": ["sleep", "3600"]}])
        ecs.create_service(cluster="prod", serviceName="web", taskDefinition="web",
                           desiredCount=0, launchType="EC2")
        web = ecs.start_task(cluster="prod", taskDefinition="web",
                             containerInstances=[self.hosts["prod-ubuntu"]["container_instance_arn"]],
                             group="service:web", startedBy="ecs-svc/1234567890")["tasks"][0]
        batch = ecs.start_task(cluster="prod", taskDefinition="batch",
                               containerInstances=[self.hosts["prod-al2023"]["container_instance_arn"]]
                               )["tasks"][0]
        self.tasks = {"web": web["taskArn"], "batch": batch["taskArn"]}

        # sanity: the prod hosts must look private-only
        res = ec2.describe_instances(Filters=[{"Name": "subnet-id", "Values": [subnet]}])
        for r in res["Reservations"]:
            for i in r["Instances"]:
                if i.get("PublicIpAddress") or i.get("PublicDnsName"):
                    raise RuntimeError(f"{i['InstanceId']} unexpectedly has a public address")

        self.build_broken_fleet(tag)

        if self.args.bench_instances:
            self.build_bench(default_subnet, tag)

    # ------------------------------------------------------- broken fleet
    def keygen_broken(self):
        """Key pairs of the broken fleet, kept in DIR/keys: the private key of
        `berth-deleted` (whose key pair is deleted after launch), of
        `berth-wrong` and a second RSA key that is not it (the wrong local
        key), and of the ED25519 pair `berth-ed25519`."""
        keydir = os.path.join(self.dir, "keys")
        os.makedirs(keydir, mode=0o700)
        os.chmod(keydir, 0o700)
        specs = {
            "deleted": ("rsa", f"{DELETED_KEY_NAME}.pem"),
            "wrong_pair": ("rsa", f"{WRONG_KEY_NAME}.pem"),
            "wrong_local": ("rsa", f"{WRONG_KEY_NAME}-not-it.pem"),
            "ed25519": ("ed25519", f"{ED25519_KEY_NAME}.pem"),
        }
        self.broken_keys, procs = {}, []
        for role, (ktype, file) in specs.items():
            path = os.path.join(keydir, file)
            cmd = [self.tools["ssh-keygen"], "-q", "-t", ktype, "-N", "", "-C", file, "-f", path]
            if ktype == "rsa":  # PEM, as EC2 hands out RSA keys
                cmd[4:4] = ["-b", "2048", "-m", "PEM"]
            procs.append(subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE))
            self.broken_keys[role] = path
        for p in procs:
            _, err = p.communicate()
            if p.returncode != 0:
                raise RuntimeError(f"ssh-keygen failed: {err.decode().strip()}")
        self.broken_pubkeys = {}
        for role, path in self.broken_keys.items():
            os.chmod(path, 0o600)
            with open(path + ".pub") as f:
                self.broken_pubkeys[role] = f.read().strip()

    def broken_sshd_matches(self):
        """sshd_config Match blocks: on broken-keygone and broken-wrongkey sshd
        accepts the key of the key pair each instance was launched with (EC2
        leaves it in authorized_keys even after the pair is deleted)."""
        lines = []
        for host, role in (("broken-keygone", "deleted"), ("broken-wrongkey", "wrong_pair")):
            akdir = os.path.join(self.dir, f"authorized_keys.{host}")
            os.makedirs(akdir)
            os.chmod(akdir, 0o755)
            for u in SSH_USERS:
                p = os.path.join(akdir, u)
                with open(p, "w") as f:
                    f.write(self.broken_pubkeys[role] + "\n")
                os.chmod(p, 0o644)
            lines += [f"Match LocalAddress {self.net}.{BROKEN_OCTETS[host]}",
                      f"  AuthorizedKeysFile {akdir}/%u"]
        return lines

    # ---------------------------------------------------- instance connect
    def setup_instance_connect(self):
        """The key store SendSSHPublicKey writes to (DIR/instance-connect-keys,
        readable by nobody, whom sshd runs the command as) and the
        AuthorizedKeysCommand that reads it, in a root-owned directory under
        /run. This sandbox holds the lock of its 127.X net, so a directory
        left there for 127.X by a killed sandbox is stale: replaced."""
        from aws_emulation import (INSTANCE_CONNECT_KEY_LIFETIME_SECONDS,
                                   instance_connect_authorized_keys_command)
        self.key_lifetime = INSTANCE_CONNECT_KEY_LIFETIME_SECONDS
        self.key_store = os.path.join(self.dir, "instance-connect-keys")
        os.makedirs(self.key_store)
        os.chmod(self.key_store, 0o755)
        run_dir = INSTANCE_CONNECT_RUN_DIR.format(net=self.net.rsplit(".", 1)[0])
        shutil.rmtree(run_dir, ignore_errors=True)
        os.makedirs(run_dir, mode=0o755)
        self.eic_run_dir = run_dir
        os.chown(run_dir, 0, 0)
        os.chmod(run_dir, 0o755)
        self.eic_command = os.path.join(run_dir, "eic_run_authorized_keys")
        with open(self.eic_command, "w") as f:
            f.write(instance_connect_authorized_keys_command(self.key_store))
        os.chown(self.eic_command, 0, 0)
        os.chmod(self.eic_command, 0o755)

    def instance_connect_hosts(self):
        """The hosts sshd answers for whose AMIs ship ec2-instance-connect."""
        listening = {f"{self.net}.{n}" for n in SSHD_OCTETS}
        return sorted(name for name, h in self.hosts.items()
                      if h["ami"] in INSTANCE_CONNECT_AMIS and h["private_ip"] in listening)

    def instance_connect_sshd_matches(self):
        """sshd_config Match blocks: on each host whose AMI ships
        ec2-instance-connect, sshd also takes the keys pushed to that instance
        (as that package configures sshd). prod-nokey was launched without a
        key pair, so nothing is in its authorized_keys."""
        lines = []
        for name in self.instance_connect_hosts():
            host = self.hosts[name]
            lines += [f"Match LocalAddress {host['private_ip']}",
                      f"  AuthorizedKeysCommand {self.eic_command} {host['instance_id']} %u",
                      "  AuthorizedKeysCommandUser nobody"]
            if host["key_name"] is None:
                lines.append("  AuthorizedKeysFile none")
        return lines

    def give_default_vpc_its_internet_gateway(self, tag):
        """EC2 creates every default VPC with an internet gateway and a main
        route table sending 0.0.0.0/0 to it; moto creates neither. Without
        them the default-VPC hosts (public IPs) would look unreachable."""
        vpc = self.ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
        igw = self.ec2.create_internet_gateway(TagSpecifications=tag(
            "internet-gateway", Name="default"))["InternetGateway"]["InternetGatewayId"]
        self.ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc["VpcId"])
        main = self.ec2.describe_route_tables(Filters=[
            {"Name": "vpc-id", "Values": [vpc["VpcId"]]},
            {"Name": "association.main", "Values": ["true"]}])["RouteTables"][0]
        self.ec2.create_route(RouteTableId=main["RouteTableId"], DestinationCidrBlock="0.0.0.0/0",
                              GatewayId=igw)

    def build_broken_fleet(self, tag):
        """Cluster `broken`: one container instance per prerequisite of a
        connection that can fail (what `berth doctor` must diagnose), each
        otherwise healthy, and the `open-*` hosts for `--open`. Everything is
        set up through the EC2 API as an operator would have it, so that
        moto reports it as EC2 would; where moto's defaults differ from
        EC2's, they are completed here (named where it happens)."""
        ec2, net = self.ec2, self.net
        self.give_default_vpc_its_internet_gateway(tag)
        self.ecs.create_cluster(clusterName=BROKEN_CLUSTER)
        self.clusters.append(BROKEN_CLUSTER)

        for name, role in ((DELETED_KEY_NAME, "deleted"), (WRONG_KEY_NAME, "wrong_pair"),
                           (ED25519_KEY_NAME, "ed25519")):
            ec2.import_key_pair(KeyName=name, PublicKeyMaterial=self.broken_pubkeys[role].encode())

        def group(name, description, vpc, rules):
            gid = ec2.create_security_group(GroupName=name, Description=description,
                                            VpcId=vpc)["GroupId"]
            if rules:
                ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=rules)
            return gid

        def tcp(port, cidr=None, group_id=None, description=None):
            rule = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port}
            extra = {"Description": description} if description else {}
            if cidr:
                rule["IpRanges"] = [{"CidrIp": cidr, **extra}]
            else:
                rule["UserIdGroupPairs"] = [{"GroupId": group_id, **extra}]
            return rule

        bastion = group(BASTION_SG_NAME, "bastion hosts", self.vpc,
                        [tcp(22, "127.0.0.0/8", description="operators")])
        othercidr = group("berth-broken-othercidr", "ssh from the office only", self.vpc,
                          [tcp(22, "203.0.113.0/24", description="office")])
        groupref = group("berth-broken-groupref", "ssh from the bastion only", self.vpc,
                         [tcp(22, group_id=bastion, description="bastion")])
        rdp = group("berth-broken-rdp", "rdp from loopback", self.vpc,
                    [{"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389,
                      "IpRanges": [{"CidrIp": "127.0.0.0/8", "Description": "loopback"}]}])

        # A subnet of the sandbox VPC whose network ACL denies ssh by rule
        # order: 100 deny tcp/22, 200 allow all; outbound allow all.
        nacl_subnet = ec2.create_subnet(
            VpcId=self.vpc, CidrBlock=f"{net.rsplit('.', 1)[0]}.1.0/24", AvailabilityZone=AZ,
            TagSpecifications=tag("subnet", Name="berth-sandbox-nacl"))["Subnet"]["SubnetId"]
        private_rt = ec2.describe_route_tables(Filters=[
            {"Name": "association.subnet-id", "Values": [self.subnet]}])["RouteTables"][0]
        ec2.associate_route_table(RouteTableId=private_rt["RouteTableId"], SubnetId=nacl_subnet)
        nacl = ec2.create_network_acl(VpcId=self.vpc, TagSpecifications=tag(
            "network-acl", Name="berth-sandbox-no-ssh"))["NetworkAcl"]["NetworkAclId"]
        for number, egress, protocol, action, ports in (
                (100, False, "6", "deny", {"From": 22, "To": 22}),
                (200, False, "-1", "allow", None),
                (100, True, "-1", "allow", None),
                # EC2 gives every network ACL a final `*` rule (32767, deny) in
                # each direction; moto gives one only to a VPC's default ACL.
                (32767, False, "-1", "deny", None),
                (32767, True, "-1", "deny", None)):
            ec2.create_network_acl_entry(NetworkAclId=nacl, RuleNumber=number, Egress=egress,
                                         Protocol=protocol, RuleAction=action,
                                         CidrBlock="0.0.0.0/0",
                                         **({"PortRange": ports} if ports else {}))
        # A new subnet starts in the VPC's default ACL; move it over.
        default_acl = ec2.describe_network_acls(Filters=[
            {"Name": "association.subnet-id", "Values": [nacl_subnet]}])["NetworkAcls"][0]
        assoc = next(a["NetworkAclAssociationId"] for a in default_acl["Associations"]
                     if a["SubnetId"] == nacl_subnet)
        ec2.replace_network_acl_association(AssociationId=assoc, NetworkAclId=nacl)

        # A VPC with an internet gateway, for hosts with public addresses:
        # one subnet routes 0.0.0.0/0 to the gateway, the other has no
        # default route. The public IPs moto invents are never connected to.
        pub_vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=tag(
            "vpc", Name="berth-sandbox-public"))["Vpc"]["VpcId"]
        igw = ec2.create_internet_gateway(TagSpecifications=tag(
            "internet-gateway", Name="berth-sandbox-public"))["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=pub_vpc)
        pub_subnets, pub_rts = {}, {}
        for kind, cidr in (("public", "10.0.1.0/24"), ("noigw", "10.0.2.0/24")):
            sid = ec2.create_subnet(VpcId=pub_vpc, CidrBlock=cidr, AvailabilityZone=AZ,
                                    TagSpecifications=tag("subnet", Name=f"berth-sandbox-{kind}")
                                    )["Subnet"]["SubnetId"]
            ec2.modify_subnet_attribute(SubnetId=sid, MapPublicIpOnLaunch={"Value": True})
            rtb = ec2.create_route_table(VpcId=pub_vpc, TagSpecifications=tag(
                "route-table", Name=f"berth-sandbox-{kind}"))["RouteTable"]["RouteTableId"]
            ec2.associate_route_table(RouteTableId=rtb, SubnetId=sid)
            pub_subnets[kind], pub_rts[kind] = sid, rtb
        ec2.create_route(RouteTableId=pub_rts["public"], DestinationCidrBlock="0.0.0.0/0",
                         GatewayId=igw)
        # (moto loses the groups of an instance launched with NetworkInterfaces,
        # so these get their public IPs from MapPublicIpOnLaunch instead.)
        world_ssh = group("berth-broken-world-ssh", "ssh from anywhere", pub_vpc,
                          [tcp(22, "0.0.0.0/0", description="anywhere")])

        def launch(name, subnet_id, sgs, key_name=KEY_NAME, ip=None, ami=AMI_AL2023,
                   user="ec2-user", key_path=None, extra_tags=None):
            kw = dict(ImageId=ami, MinCount=1, MaxCount=1, SubnetId=subnet_id,
                      SecurityGroupIds=sgs, KeyName=key_name,
                      InstanceType="m5.large" if ami == AMI_WINDOWS else "t3.medium",
                      TagSpecifications=tag("instance", Name=name, **(extra_tags or {})))
            if ip:
                kw["PrivateIpAddress"] = ip
            inst = ec2.run_instances(**kw)["Instances"][0]
            self.hosts[name] = {
                "instance_id": inst["InstanceId"],
                "container_instance_arn": self.register(BROKEN_CLUSTER, inst),
                "private_ip": inst.get("PrivateIpAddress"),
                "public_ip": inst.get("PublicIpAddress") or None,
                "public_dns": inst.get("PublicDnsName") or None,
                "user": user,
                "cluster": BROKEN_CLUSTER,
                "ami": ami,
                "key_name": key_name,
                # the private key of that key pair, where the sandbox has it
                "key_path": key_path or (self.key_path if key_name == KEY_NAME else None),
                "platform": inst.get("Platform") or "linux",
                "role": None,
                "status": "ACTIVE",
                "state": "running",
                "vpc_id": inst.get("VpcId"),
                "subnet_id": inst.get("SubnetId"),
                "security_group_ids": [g["GroupId"] for g in inst.get("SecurityGroups", [])],
            }
            return self.hosts[name]

        at = lambda host: f"{net}.{BROKEN_OCTETS[host]}"  # noqa: E731
        launch("broken-keygone", self.subnet, [self.sg], key_name=DELETED_KEY_NAME,
               ip=at("broken-keygone"), key_path=self.broken_keys["deleted"])
        launch("broken-wrongkey", self.subnet, [self.sg], key_name=WRONG_KEY_NAME,
               ip=at("broken-wrongkey"), key_path=self.broken_keys["wrong_pair"])
        launch("broken-othercidr", self.subnet, [othercidr], ip=at("broken-othercidr"))
        launch("broken-groupref", self.subnet, [groupref], ip=at("broken-groupref"))
        launch("broken-nacl", nacl_subnet, [self.sg], ip=f"{net.rsplit('.', 1)[0]}.1.10")
        stopped = launch("broken-stopped", self.subnet, [self.sg], ip=at("broken-stopped"))
        launch("broken-win-ed25519", self.subnet, [rdp], key_name=ED25519_KEY_NAME,
               ip=at("broken-win-ed25519"), ami=AMI_WINDOWS, user="Administrator",
               key_path=self.broken_keys["ed25519"])
        launch("broken-win-pending", self.subnet, [rdp], ip=at("broken-win-pending"),
               ami=AMI_WINDOWS, user="Administrator",
               extra_tags={"sandbox:boot": "in-progress"})
        launch("broken-public", pub_subnets["public"], [world_ssh], ip="10.0.1.10")
        launch("broken-noigw", pub_subnets["noigw"], [world_ssh], ip="10.0.2.10")

        # A bastion in the group broken-groupref admits ssh from, outside any
        # cluster: `berth doctor --jump` checks the route through it.
        inst = ec2.run_instances(
            ImageId=AMI_AL2023, MinCount=1, MaxCount=1, SubnetId=self.subnet,
            SecurityGroupIds=[bastion], KeyName=KEY_NAME, InstanceType="t3.micro",
            PrivateIpAddress=f"{net}.{BASTION_OCTET}",
            TagSpecifications=tag("instance", Name="bastion",
                                  **{"berth:bastion": ""}))["Instances"][0]
        self.hosts["bastion"] = {
            "instance_id": inst["InstanceId"], "container_instance_arn": None,
            "private_ip": inst.get("PrivateIpAddress"), "public_ip": None, "public_dns": None,
            "user": "ec2-user", "cluster": None, "ami": AMI_AL2023, "key_name": KEY_NAME,
            "key_path": self.key_path, "platform": "linux", "role": "bastion", "status": None,
            "state": "running", "vpc_id": inst.get("VpcId"), "subnet_id": inst.get("SubnetId"),
            "security_group_ids": [bastion],
        }

        inst = ec2.run_instances(
            ImageId=AMI_AL2023, MinCount=1, MaxCount=1, SubnetId=self.subnet,
            SecurityGroupIds=[self.sg], KeyName=KEY_NAME, InstanceType="t3.micro",
            PrivateIpAddress=f"{net}.{STRANGER_OCTET}",
            TagSpecifications=tag("instance", Name="hostkey-stranger",
                                  **{"sandbox:console": "stranger"}))["Instances"][0]
        self.hosts["hostkey-stranger"] = {
            "instance_id": inst["InstanceId"], "container_instance_arn": None,
            "private_ip": inst.get("PrivateIpAddress"), "public_ip": None, "public_dns": None,
            "user": "ec2-user", "cluster": None, "ami": AMI_AL2023, "key_name": KEY_NAME,
            "key_path": self.key_path, "platform": "linux", "role": None, "status": None,
            "state": "running", "vpc_id": inst.get("VpcId"), "subnet_id": inst.get("SubnetId"),
            "security_group_ids": [self.sg],
        }

        # A host only Session Manager reaches (outside any cluster): a VPC of
        # its own with no bastion, no Instance Connect Endpoint, no internet
        # gateway and no VPC endpoints, no public address, and a group that
        # admits nothing. Tests serve its agent with ssm_standin.py, whose
        # port sessions dial a sandbox sshd.
        ssm_vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16", TagSpecifications=tag(
            "vpc", Name="berth-sandbox-ssm-only"))["Vpc"]["VpcId"]
        ssm_subnet = ec2.create_subnet(VpcId=ssm_vpc, CidrBlock="10.9.1.0/24", AvailabilityZone=AZ,
                                       TagSpecifications=tag("subnet", Name="berth-sandbox-ssm-only")
                                       )["Subnet"]["SubnetId"]
        ssm_rt = ec2.create_route_table(VpcId=ssm_vpc, TagSpecifications=tag(
            "route-table", Name="berth-sandbox-ssm-only"))["RouteTable"]["RouteTableId"]
        ec2.associate_route_table(RouteTableId=ssm_rt, SubnetId=ssm_subnet)
        closed = group("berth-ssm-only", "admits nothing", ssm_vpc, [])
        inst = ec2.run_instances(
            ImageId=AMI_AL2023, MinCount=1, MaxCount=1, SubnetId=ssm_subnet,
            SecurityGroupIds=[closed], KeyName=KEY_NAME, InstanceType="t3.micro",
            PrivateIpAddress="10.9.1.10",
            TagSpecifications=tag("instance", Name="ssm-only"))["Instances"][0]
        self.hosts["ssm-only"] = {
            "instance_id": inst["InstanceId"], "container_instance_arn": None,
            "private_ip": inst.get("PrivateIpAddress"), "public_ip": None, "public_dns": None,
            "user": "ec2-user", "cluster": None, "ami": AMI_AL2023, "key_name": KEY_NAME,
            "key_path": self.key_path, "platform": "linux", "role": None, "status": None,
            "state": "running", "vpc_id": inst.get("VpcId"), "subnet_id": inst.get("SubnetId"),
            "security_group_ids": [closed],
        }

        # Healthy hosts sshd answers on, each in a group of its own that does
        # not admit 127.0.0.0/8, with rules berth must leave alone.
        open_groups = {}
        for name, n in OPEN_HOSTS:
            open_groups[name] = group(f"berth-{name}", f"{name}: no ssh from loopback", self.vpc, [
                {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
                 "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "internal https"}]},
                tcp(22, "203.0.113.0/24", description="office VPN"),
                tcp(22, group_id=bastion, description="bastion"),
                {"IpProtocol": "udp", "FromPort": 8000, "ToPort": 8100,
                 "IpRanges": [{"CidrIp": "192.0.2.0/24"}]},
            ])
            launch(name, self.subnet, [open_groups[name]], ip=f"{net}.{n}")

        # After launch: the key pair is deleted (the instance keeps its
        # KeyName, as in EC2); the stopped instance's ECS agent disconnects.
        ec2.delete_key_pair(KeyName=DELETED_KEY_NAME)
        ec2.stop_instances(InstanceIds=[stopped["instance_id"]])
        stopped["state"] = "stopped"
        _, _, ecs_be = self._backends()
        ecs_be.container_instances[BROKEN_CLUSTER][
            stopped["container_instance_arn"].split("/")[-1]].agent_connected = False

        self.broken = {
            "cluster": BROKEN_CLUSTER,
            "deleted_key_name": DELETED_KEY_NAME,
            "deleted_key_path": self.broken_keys["deleted"],
            "wrong_key_name": WRONG_KEY_NAME,
            # not the key of `berth-wrong`: its fingerprint does not match
            "wrong_key_path": self.broken_keys["wrong_local"],
            "wrong_key_pair_key_path": self.broken_keys["wrong_pair"],
            "ed25519_key_name": ED25519_KEY_NAME,
            "ed25519_key_path": self.broken_keys["ed25519"],
            "bastion_security_group_id": bastion,
            "rdp_security_group_id": rdp,
            "open_security_group_ids": open_groups,
            "nacl_subnet_id": nacl_subnet,
            "network_acl_id": nacl,
            "public_vpc_id": pub_vpc,
            "internet_gateway_id": igw,
            "public_subnet_id": pub_subnets["public"],
            "public_route_table_id": pub_rts["public"],
            "noigw_subnet_id": pub_subnets["noigw"],
            "noigw_route_table_id": pub_rts["noigw"],
        }

    def register(self, cluster, inst):
        doc = {
            "accountId": self.account,
            "architecture": "x86_64",
            "availabilityZone": inst["Placement"]["AvailabilityZone"],
            "imageId": inst["ImageId"],
            "instanceId": inst["InstanceId"],
            "instanceType": inst["InstanceType"],
            "pendingTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "privateIp": inst.get("PrivateIpAddress"),
            "region": REGION,
            "version": "2017-09-30",
        }
        ci = self.ecs.register_container_instance(
            cluster=cluster, instanceIdentityDocument=json.dumps(doc),
            instanceIdentityDocumentSignature="")
        return ci["containerInstance"]["containerInstanceArn"]

    def build_bench(self, default_subnet, tag):
        sizes = self.args.bench_instances
        for n in sizes:
            self.build_bench_cluster("bench" if len(sizes) == 1 else f"bench-{n}", n,
                                     default_subnet, tag)

    def build_bench_cluster(self, cluster, n, default_subnet, tag):
        self.clusters.append(cluster)
        _, ec2_be, ecs_be = self._backends()
        build_container_instances(self.ec2, self.ecs, ec2_be, ecs_be, cluster, n,
                                  default_subnet, self.default_sg, tag)

    def start_huge_cluster(self):
        """Cluster ``huge`` in region HUGE_REGION: --huge-instances container
        instances, built in the background after the sandbox is ready, since
        it takes a minute or more; DIR/huge.ready appears when it is complete
        (DIR/huge.failed, with the reason, if it could not be). In a region
        of its own, so that no lookup of the other tests (filters scan every
        instance of a region) pays for its size."""
        n = self.args.huge_instances
        self.huge_ready = os.path.join(self.dir, "huge.ready")
        import boto3
        boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                              region_name=HUGE_REGION).client(
            "ecs", endpoint_url=self.endpoint).create_cluster(clusterName="huge")

        def build():
            try:
                from moto.ec2.models import ec2_backends
                from moto.ecs.models import ecs_backends
                t0 = time.monotonic()
                ec2_be = ec2_backends[self.account][HUGE_REGION]
                ecs_be = ecs_backends[self.account][HUGE_REGION]
                ids = []
                # In process, with the arguments RunInstances' handler passes:
                # rendering thousands of instances as XML is what costs.
                while len(ids) < n:
                    k = min(250, n - len(ids))
                    reservation = ec2_be.run_instances(
                        AMI_AL2023, k, None, [], instance_type="t3.micro",
                        is_instance_type_default=False, placement=None, placement_hostid=None,
                        region_name=HUGE_REGION, subnet_id=None, key_name=None,
                        security_group_ids=[], nics=[], private_ip=None,
                        associate_public_ip=None, tags={}, ebs_optimized=False,
                        disable_api_stop=False, instance_market_options={},
                        instance_initiated_shutdown_behavior=None, launch_template={},
                        hibernation_options={}, iam_instance_profile_name=None,
                        iam_instance_profile_arn=None, monitoring_state="disabled",
                        ipv6_address_count=None, metadata_options={},
                        client_token=f"berth-huge-{len(ids)}")
                    ids += [i.id for i in reservation.instances]
                    time.sleep(0.05)  # let the other tests' calls through
                # Untagged: moto looks every instance's tags up in one list of
                # all the region's tags, which 10,000 more would make slow.
                for i, instance_id in enumerate(ids):
                    ecs_be.register_container_instance("huge", instance_id)
                    if i % 500 == 0:
                        time.sleep(0.05)
                with open(self.huge_ready, "w") as f:
                    f.write(f"{n}\n")
                log(f"huge: {n} container instances in {HUGE_REGION} in "
                    f"{time.monotonic() - t0:.1f}s")
            except BaseException as e:  # noqa: BLE001
                with open(os.path.join(self.dir, "huge.failed"), "w") as f:
                    f.write(f"{e!r}\n")
        threading.Thread(target=build, daemon=True).start()

    def reap_zombies(self):
        """sshd's per-connection processes get reparented to us (child subreaper)
        once their [priv] parent exits; collect them so they don't pile up."""
        if not self.subreaper:
            return
        keep = {p.pid for p in (self.sshd, self.bastion_sshd, *self.fleet_sshds) if p is not None}
        for pid in _children_of(os.getpid()):
            if pid in keep:
                continue
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass

    # ------------------------------------------------------------ docker
    def install_docker_standin(self):
        """No container engine runs here: a `docker` on the sessions' PATH
        stands in for it. It records every call (server address, user, args)
        in DIR/docker.log and runs `docker exec [-i] [-t] ID CMD...` on the
        host itself when ID is the runtimeId of one of the sandbox's ECS
        tasks' containers (DIR/docker-containers), as `sh -c CMD` would in the
        container; any other id gets the engine's own error."""
        self.docker_bin = os.path.join(self.dir, "docker-bin")
        os.makedirs(self.docker_bin, mode=0o755)
        os.chmod(self.docker_bin, 0o755)
        self.docker_log = os.path.join(self.dir, "docker.log")
        self.docker_containers = os.path.join(self.dir, "docker-containers")
        for path in (self.docker_log, self.docker_containers):
            open(path, "a").close()
            os.chmod(path, 0o666 if path == self.docker_log else 0o644)
        script = os.path.join(self.docker_bin, "docker")
        with open(script, "w") as f:
            f.write(f"""#!/bin/sh
# berth sandbox: stand-in for the container engine (see sandbox.py)
server=$(echo "$SSH_CONNECTION" | awk '{{ print $3 }}')
printf '%s %s docker %s\\n' "$server" "$(id -un)" "$*" >> {self.docker_log}
[ "$1" = exec ] || {{ echo "docker stand-in: only exec is emulated" >&2; exit 125; }}
shift
tty=
while [ $# -gt 0 ]; do
  case "$1" in
    -i|--interactive) shift ;;
    -t|--tty) tty=1; shift ;;
    -it|-ti) tty=1; shift ;;
    -*) echo "unknown flag: $1" >&2; exit 125 ;;
    *) break ;;
  esac
done
[ $# -ge 2 ] || {{ echo '"docker exec" requires at least 2 arguments.' >&2; exit 1; }}
id=$1; shift
name=$(awk -v id="$id" '$1 == id {{ print $2 }}' {self.docker_containers})
[ -n "$name" ] || {{ echo "Error response from daemon: No such container: $id" >&2; exit 1; }}
if [ -n "$tty" ] && [ ! -t 0 ]; then echo "the input device is not a TTY" >&2; exit 1; fi
CONTAINER_NAME=$name CONTAINER_ID=$id exec "$@"
""")
        os.chmod(script, 0o755)

    def record_container_runtime_ids(self, task_arns):
        """DIR/docker-containers: `runtimeId name taskArn` per container of
        `task_arns`, as ECS reports them, for the docker stand-in."""
        by_cluster = {}
        for arn in task_arns:
            by_cluster.setdefault(arn.split("/")[1], []).append(arn)
        with open(self.docker_containers, "a") as f:
            for cluster, arns in by_cluster.items():
                for task in self.ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"]:
                    for c in task["containers"]:
                        f.write(f"{c['runtimeId']} {c['name']} {task['taskArn']}\n")

    # ------------------------------------------------------- ecs agent
    def install_ecs_agent_standin(self):
        """What an ECS container instance has for `berth logs` to collect,
        on this machine that stands in for every host: the agent's log
        directory /var/log/ecs (made only if absent, and removed by the last
        sandbox that uses it) and its introspection API on localhost:51678
        (if that port is free)."""
        with ecs_log_users_locked():
            if not os.path.exists(ECS_LOG_DIR):
                self.make_ecs_log_dir()
            with open(os.path.join(ECS_LOG_USERS, str(os.getpid())), "w"):
                pass
        self.start_introspection()

    @staticmethod
    def make_ecs_log_dir():
        """ECS_LOG_DIR with the agent's two logs, stamped as the sandbox's."""
        os.makedirs(ECS_LOG_DIR, mode=0o755)
        with open(ECS_LOG_STAMP, "w"):
            pass
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for name, text in [
            ("ecs-agent.log", f"level=info time={stamp} msg=\"Loading configuration\" module=agent.go\n"
                              f"level=info time={stamp} msg=\"Registered container instance with cluster!\"\n"),
            ("ecs-init.log", f"level=info time={stamp} msg=\"Starting Amazon Elastic Container Service Agent\"\n"),
        ]:
            path = os.path.join(ECS_LOG_DIR, name)
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, 0o644)

    def start_introspection(self):
        import http.server

        class Introspection(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                answers = {
                    "/v1/metadata": {"Cluster": FLEET_CLUSTER, "ContainerInstanceArn": None,
                                     "Version": "Amazon ECS Agent - v1.89.0 (sandbox)"},
                    "/v1/tasks": {"Tasks": []},
                }
                body = answers.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("content-type", "application/json")
                self.end_headers()
                if body is not None:
                    self.wfile.write(json.dumps(body).encode())

            def log_message(self, *_):
                pass

        try:
            self.introspection = http.server.ThreadingHTTPServer(("127.0.0.1", 51678), Introspection)
        except OSError as e:
            log(f"introspection stand-in not started: 127.0.0.1:51678 {e.strerror}")
            self.introspection = None
            return
        threading.Thread(target=self.introspection.serve_forever, daemon=True).start()

    def remove_ecs_agent_standin(self):
        if getattr(self, "introspection", None) is not None:
            self.introspection.shutdown()
        with ecs_log_users_locked():
            try:
                os.remove(os.path.join(ECS_LOG_USERS, str(os.getpid())))
            except FileNotFoundError:
                pass
            others = [n for n in os.listdir(ECS_LOG_USERS) if n.isdigit() and pid_alive(int(n))]
            if not others and os.path.exists(ECS_LOG_STAMP):
                shutil.rmtree(ECS_LOG_DIR, ignore_errors=True)

    # ------------------------------------------------------------- fleet
    def start_fleet_sshds(self):
        """sshd for the `fleet` cluster: one process per 16 addresses (sshd's
        limit on listen sockets), quiet logs. FLEET_FAILING's sshd forces a
        command that fails; FLEET_UNREACHABLE has no sshd at all."""
        self.fleet_net = f"{self.net.rsplit('.', 1)[0]}.{FLEET_THIRD_OCTET}"
        self.fleet_listen = [f"{self.fleet_net}.{FLEET_FIRST_OCTET + i}"
                             for i in range(self.args.fleet_size) if i != FLEET_UNREACHABLE]
        failing = f"{self.fleet_net}.{FLEET_FIRST_OCTET + FLEET_FAILING}"
        for n in range(0, len(self.fleet_listen), 16):
            chunk = self.fleet_listen[n:n + 16]
            cfg = os.path.join(self.dir, f"fleet_sshd_config.{n // 16}")
            lines = ([f"ListenAddress {a}:{self.ssh_port}" for a in chunk]
                     + ["LogLevel ERROR", f"PidFile {self.dir}/fleet-sshd.{n // 16}.pid"]
                     + [l for l in self.sshd_base if not l.startswith(("LogLevel", "PidFile"))])
            if failing in chunk:
                lines += [f"Match LocalAddress {failing}",
                          f"  ForceCommand echo '{FLEET_FAILING_MESSAGE}' >&2; exit {FLEET_FAILING_STATUS}"]
            with open(cfg, "w") as f:
                f.write("\n".join(lines) + "\n")
            self.fleet_sshds.append(self._spawn_sshd(cfg, f"fleet-sshd.{n // 16}.log", self.sshd_err))
        log(f"fleet sshd x{len(self.fleet_sshds)} on {len(self.fleet_listen)} addresses")

    def build_fleet_cluster(self):
        """Cluster `fleet`: --fleet-size Amazon Linux hosts on 127.X.2.10+ in a
        subnet of their own, service tasks on some and a standalone one."""
        ec2, ecs = self.ec2, self.ecs
        ecs.create_cluster(clusterName=FLEET_CLUSTER)
        self.clusters.append(FLEET_CLUSTER)
        subnet = ec2.create_subnet(VpcId=self.vpc, CidrBlock=f"{self.fleet_net}.0/24",
                                   AvailabilityZone=AZ, TagSpecifications=[{
                                       "ResourceType": "subnet",
                                       "Tags": [{"Key": "Name", "Value": "berth-sandbox-fleet"}]}])
        subnet = subnet["Subnet"]["SubnetId"]
        ec2.associate_route_table(RouteTableId=self.route_table, SubnetId=subnet)
        names = []
        maintenance = {i: group for group, members in FLEET_MAINTENANCE.items() for i in members}
        for i in range(self.args.fleet_size):
            name = f"fleet-{i:02d}"
            # Their SSM agents report in (Run Command); the one without sshd
            # has lost its connection too.
            ping = "ConnectionLost" if i == FLEET_UNREACHABLE else "Online"
            tags = [{"Key": "Name", "Value": name}, {"Key": "sandbox:ssm-ping", "Value": ping}]
            if i in maintenance:
                tags.append({"Key": "maintenance", "Value": maintenance[i]})
            # For scripts/bench: the first 50 and 200 hosts that answer.
            healthy = i not in (FLEET_UNREACHABLE, FLEET_FAILING)
            rank = i - sum(1 for b in (FLEET_UNREACHABLE, FLEET_FAILING) if b < i)
            for group in (50, 200):
                if healthy and rank < group:
                    tags.append({"Key": f"bench{group}", "Value": "yes"})
            inst = ec2.run_instances(
                ImageId=AMI_AL2023, MinCount=1, MaxCount=1, InstanceType="t3.small",
                SubnetId=subnet, SecurityGroupIds=[self.sg], KeyName=KEY_NAME,
                PrivateIpAddress=f"{self.fleet_net}.{FLEET_FIRST_OCTET + i}",
                TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])["Instances"][0]
            self.hosts[name] = {
                "instance_id": inst["InstanceId"], "private_ip": inst["PrivateIpAddress"],
                "public_ip": None, "public_dns": None, "user": "ec2-user",
                "cluster": FLEET_CLUSTER, "ami": AMI_AL2023, "key_name": KEY_NAME,
                "platform": "linux", "role": "fleet", "status": "ACTIVE",
                "container_instance_arn": self.register(FLEET_CLUSTER, inst),
            }
            names.append(name)
        tasks = {}
        # Service tasks (ECS drains them), and one standalone task (it does not).
        service_hosts = [names[i] for i in FLEET_SERVICE_TASKS]
        for name in service_hosts:
            task = ecs.start_task(cluster=FLEET_CLUSTER, taskDefinition="web",
                                  containerInstances=[self.hosts[name]["container_instance_arn"]],
                                  group="service:web", startedBy="ecs-svc/0123456789")
            tasks[name] = task["tasks"][0]["taskArn"]
        for i in FLEET_STANDALONE_TASKS:
            task = ecs.start_task(cluster=FLEET_CLUSTER, taskDefinition="batch",
                                  containerInstances=[self.hosts[names[i]]["container_instance_arn"]])
            tasks[names[i]] = task["tasks"][0]["taskArn"]
        pair_host = names[FLEET_PAIR_HOST]
        pair = [ecs.start_task(cluster=FLEET_CLUSTER, taskDefinition=definition,
                               containerInstances=[self.hosts[pair_host]["container_instance_arn"]]
                               )["tasks"][0]["taskArn"] for definition in ("web", "batch")]
        self.record_container_runtime_ids(list(tasks.values()) + list(self.tasks.values())
                                          + pair)
        self.fleet = {
            "pair": {"host": pair_host, "tasks": pair},
            "cluster": FLEET_CLUSTER, "hosts": names,
            "unreachable": names[FLEET_UNREACHABLE], "failing": names[FLEET_FAILING],
            "failing_status": FLEET_FAILING_STATUS, "failing_message": FLEET_FAILING_MESSAGE,
            "tasks": tasks,
            "maintenance": {group: [names[i] for i in members]
                            for group, members in FLEET_MAINTENANCE.items()},
        }
    # ---------------------------------------------------------------- eice
    def build_instance_connect_endpoint(self):
        """An EC2 Instance Connect Endpoint in the sandbox subnet, set up as
        the AWS guide has it: the endpoint in a security group of its own
        whose outbound rules reach the instances' group on 22 and 3389 (no
        allow-all), and the instances' group admitting the endpoint's group
        on those ports. Tunnels through it go to the stand-in on
        ws://127.0.0.1:<port>, which connects from the endpoint's network
        interface address (the subnet's last free one)."""
        from eice_endpoint import TunnelEndpointServer
        ec2 = self.ec2
        eice_sg = ec2.create_security_group(
            GroupName="berth-sandbox-eice", VpcId=self.vpc,
            Description="EC2 Instance Connect Endpoint: ssh and rdp to the sandbox hosts")["GroupId"]
        ec2.revoke_security_group_egress(GroupId=eice_sg, IpPermissions=[
            {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        ports = (22, 3389)
        ec2.authorize_security_group_egress(GroupId=eice_sg, IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": port, "ToPort": port,
            "UserIdGroupPairs": [{"GroupId": self.sg, "Description": "to the sandbox hosts"}]}
            for port in ports])
        ec2.authorize_security_group_ingress(GroupId=self.sg, IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": port, "ToPort": port,
            "UserIdGroupPairs": [{"GroupId": eice_sg,
                                  "Description": "EC2 Instance Connect Endpoint"}]}
            for port in ports])
        endpoint = ec2.create_instance_connect_endpoint(
            SubnetId=self.subnet, SecurityGroupIds=[eice_sg],
            TagSpecifications=[{"ResourceType": "instance-connect-endpoint",
                                "Tags": [{"Key": "Name", "Value": "berth-sandbox"}]}],
        )["InstanceConnectEndpoint"]
        _, ec2_be, _ = self._backends()
        log_path = os.path.join(self.dir, "eice.log")
        self.eice_server = TunnelEndpointServer(lambda: ec2_be, REGION, log_path)
        url = self.eice_server.start()
        address = ec2.describe_network_interfaces(NetworkInterfaceIds=endpoint[
            "NetworkInterfaceIds"])["NetworkInterfaces"][0]["PrivateIpAddress"]
        self.eice = {
            "endpoint_id": endpoint["InstanceConnectEndpointId"],
            "dns_name": endpoint["DnsName"],
            "vpc_id": endpoint["VpcId"],
            "subnet_id": endpoint["SubnetId"],
            "security_group_id": eice_sg,
            "address": address,
            "url": url,
            "log": log_path,
        }
        log(f"instance connect endpoint {endpoint['InstanceConnectEndpointId']} "
            f"({address}); tunnels at {url}")

    # ---------------------------------------------------------------- rdp
    def build_rdp_fleet(self):
        """Cluster ``rdp``: ``rdp-win-pending``, a Windows container instance
        launched a minute ago (tagged sandbox:boot=in-progress), whose password
        EC2 does not have yet. In the default VPC: nothing ever connects to it."""
        self.ecs.create_cluster(clusterName="rdp")
        self.clusters.append("rdp")
        name = "rdp-win-pending"
        inst = self.ec2.run_instances(
            ImageId=AMI_WINDOWS, MinCount=1, MaxCount=1, InstanceType="m5.large",
            KeyName=KEY_NAME, SecurityGroupIds=[self.default_sg],
            TagSpecifications=[{"ResourceType": "instance", "Tags": [
                {"Key": "Name", "Value": name},
                {"Key": BOOT_IN_PROGRESS_TAG[0], "Value": BOOT_IN_PROGRESS_TAG[1]}]}],
        )["Instances"][0]
        self.hosts[name] = {
            "instance_id": inst["InstanceId"],
            "container_instance_arn": self.register("rdp", inst),
            "private_ip": inst.get("PrivateIpAddress"),
            "public_ip": inst.get("PublicIpAddress") or None,
            "public_dns": inst.get("PublicDnsName") or None,
            "user": RDP_USER,
            "cluster": "rdp",
            "ami": AMI_WINDOWS,
            "key_name": KEY_NAME,
            "platform": "windows",
            "role": None,
            "status": "ACTIVE",
        }

    def start_xrdp(self):
        """Debian's xrdp as prod-windows's RDP server on 127.X.0.13:3389.

        The account Administrator has the sandbox's Windows password; with no
        desktop installed its ~/startwm.sh starts an X client and waits. xrdp and
        xrdp-sesman keep their configuration, certificate and logs in DIR/rdp;
        sesman listens on 127.X.0.13 too, so sandboxes on other 127.X nets do
        not meet. A login shows in DIR/rdp/xrdp.log as `login successful for
        user Administrator`."""
        path = os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin:/sbin:/bin"
        tools = {}
        for name in ("xrdp", "xrdp-sesman", "openssl", "chpasswd"):
            tools[name] = shutil.which(name, path=path)
            if not tools[name]:
                die(f"`{name}` not found (needed by --rdp); {RDP_INSTALL_HINT} openssl passwd")
        socksetup = "/usr/share/xrdp/socksetup"
        if not os.path.exists(socksetup) or not os.path.exists("/etc/X11/xrdp/xorg.conf"):
            die(f"xrdp or xorgxrdp is incomplete (no {socksetup} or /etc/X11/xrdp/xorg.conf); "
                f"{RDP_INSTALL_HINT}")
        addr = f"{self.net}.{dict((n, o) for n, o, *_ in PROD_HOSTS)['prod-windows']}"
        if not free_port_on(addr, RDP_PORT):
            raise RuntimeError(f"{addr}:{RDP_PORT} is taken (a system xrdp on 0.0.0.0? "
                               "stop it or narrow its port= setting)")

        self.ensure_user(RDP_USER)
        r = subprocess.run([tools["chpasswd"]], input=f"{RDP_USER}:{WINDOWS_PASSWORD}\n",
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"chpasswd {RDP_USER} failed: {r.stderr.strip()}")
        home = pwd.getpwnam(RDP_USER).pw_dir
        startwm = os.path.join(home, "startwm.sh")
        # Written in one rename, as concurrent sandboxes write the same file.
        tmp = f"{startwm}.{os.getpid()}"
        with open(tmp, "w") as f:
            f.write("#!/bin/sh\n"
                    "# berth sandbox: the session of an RDP login; no desktop, one X client.\n"
                    "for c in xterm xclock xeyes; do\n"
                    "  if command -v \"$c\" >/dev/null 2>&1; then \"$c\" & break; fi\n"
                    "done\n"
                    "exec sleep 86400\n")
        os.chmod(tmp, 0o755)
        os.replace(tmp, startwm)

        rdir = os.path.join(self.dir, "rdp")
        os.makedirs(rdir)
        cert, key = os.path.join(rdir, "cert.pem"), os.path.join(rdir, "key.pem")
        run([tools["openssl"], "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=EC2AMAZ-SANDBOX", "-keyout", key, "-out", cert])
        xrdp_ini, sesman_ini = os.path.join(rdir, "xrdp.ini"), os.path.join(rdir, "sesman.ini")
        self.xrdp_log = os.path.join(rdir, "xrdp.log")
        with open(xrdp_ini, "w") as f:
            f.write("\n".join([
                "[Globals]", "ini_version=1", "fork=true",
                f"port=tcp://{addr}:{RDP_PORT}",
                "security_layer=negotiate", "crypt_level=high",
                f"certificate={cert}", f"key_file={key}",
                "ssl_protocols=TLSv1.2, TLSv1.3",
                # straight to the Xorg session with the client's credentials
                "autorun=Xorg",
                "allow_channels=true", "allow_multimon=true", "bitmap_cache=true",
                "bitmap_compression=true", "bulk_compression=true", "max_bpp=24",
                "new_cursors=true", "use_fastpath=both",
                "[Logging]", f"LogFile={self.xrdp_log}", "LogLevel=INFO", "EnableSyslog=false",
                "[Channels]", "rdpdr=true", "rdpsnd=true", "drdynvc=true", "cliprdr=true",
                "rail=true", "xrdpvr=true",
                # ip: where xrdp finds sesman (its port comes from /etc/xrdp/sesman.ini)
                "[Xorg]", "name=Xorg", "lib=libxup.so", "username=ask", "password=ask",
                f"ip={addr}", "port=-1", "code=20",
            ]) + "\n")
        with open(sesman_ini, "w") as f:
            f.write("\n".join([
                "[Globals]", f"ListenAddress={addr}", "ListenPort=3350",
                "EnableUserWindowManager=true", "UserWindowManager=startwm.sh",
                "DefaultWindowManager=startwm.sh", "ReconnectScript=reconnectwm.sh",
                "[Security]", "AllowRootLogin=false", "MaxLoginRetry=4",
                "AlwaysGroupCheck=false",
                "[Sessions]", "X11DisplayOffset=40", "MaxSessions=10", "KillDisconnected=false",
                "DisconnectedTimeLimit=0", "IdleTimeLimit=0", "Policy=Default",
                "[Logging]", f"LogFile={os.path.join(rdir, 'sesman.log')}", "LogLevel=INFO",
                "EnableSyslog=false",
                "[Xorg]", "param=/usr/lib/xorg/Xorg", "param=-config", "param=xrdp/xorg.conf",
                "param=-noreset", "param=-nolisten", "param=tcp",
                "param=-logfile", "param=.xorgxrdp.%s.log",
                "[Chansrv]", "FuseMountName=thinclient_drives",
            ]) + "\n")
        run(["sh", socksetup])
        for cmd in ([tools["xrdp-sesman"], "-n", "-c", sesman_ini],
                    [tools["xrdp"], "-n", "-c", xrdp_ini]):
            if self.tools.get("setpriv"):
                cmd = [self.tools["setpriv"], "--pdeathsig", "TERM", "--"] + cmd
            out = open(os.path.join(rdir, os.path.basename(cmd[-4]) + ".stderr"), "wb")
            self.xrdp.append(subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                              stderr=out))
        self.rdp_addr = addr
        deadline = time.monotonic() + 10
        if not wait_tcp(addr, RDP_PORT, deadline):
            raise RuntimeError(f"xrdp did not come up on {addr}:{RDP_PORT} (see {rdir})")
        log(f"xrdp pid {self.xrdp[1].pid} on {addr}:{RDP_PORT}, sesman pid {self.xrdp[0].pid}")

    def rdp_info(self):
        if not self.xrdp:
            return None
        return {"address": self.rdp_addr, "port": RDP_PORT, "user": RDP_USER,
                "xrdp_log": self.xrdp_log, "xrdp_pid": self.xrdp[1].pid,
                "sesman_pid": self.xrdp[0].pid}

    def stop_xrdp(self):
        """Sessions outlive their client: end them (startwm.sh and the Xorg
        server under sesman) and xrdp's per-connection processes first, then
        sesman and xrdp, by pid."""
        if not self.xrdp:
            return
        sesman, xrdp = self.xrdp
        # xrdp forks a process per connection, which may outlive its client too.
        for pid in reversed(_descendants(sesman.pid) + _descendants(xrdp.pid)):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in (xrdp, sesman):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.xrdp = []
        log("xrdp stopped")

    # ---------------------------------------------------------------- run
    def setup(self):
        t0 = time.monotonic()
        self.subreaper = _prctl(PR_SET_CHILD_SUBREAPER, 1)
        self.make_dir()
        log(f"dir {self.dir}")
        self.pick_net()
        log(f"net {self.net}.0/24")
        self.start_moto()
        self.keygen()
        self.keygen_broken()
        self.client_helpers()
        self.install_docker_standin()
        self.install_ecs_agent_standin()
        self.build_fleet()
        # After the fleet: the Instance Connect Match blocks name instance ids.
        self.setup_sshd()
        self.start_fleet_sshds()
        self.build_fleet_cluster()
        self.build_rdp_fleet()
        self.build_instance_connect_endpoint()
        if self.args.rdp:
            self.start_xrdp()
        self.wait_sshd()
        if self.args.huge_instances:
            self.start_huge_cluster()
        log(f"ready in {time.monotonic() - t0:.1f}s")
        return {
            "endpoint": self.endpoint,
            "region": REGION,
            "account": self.account,
            "dir": self.dir,
            "home": os.path.join(self.dir, "home"),
            "ssh": self.ssh_wrapper,
            "ssh_port": self.ssh_port,
            "ssh_config": os.path.join(self.dir, "ssh_config"),
            "net": self.net,
            "vpc_id": self.vpc,
            "subnet_id": self.subnet,
            "security_group_id": self.sg,
            "key_name": KEY_NAME,
            "key_path": self.key_path,
            "sshd_pid": self.sshd.pid,
            "sshd_log": os.path.join(self.dir, "sshd.log"),
            "host_key_pub": self.host_key + ".pub",
            "bastion_sshd_log": os.path.join(self.dir, "bastion-sshd.log"),
            "docker_log": self.docker_log,
            "fleet": self.fleet,
            "hosts": self.hosts,
            "tasks": self.tasks,
            "clusters": self.clusters,
            "bench_instances": self.args.bench_instances,
            "huge": ({"cluster": "huge", "region": HUGE_REGION,
                      "instances": self.args.huge_instances,
                      "ready_file": self.huge_ready} if self.args.huge_instances else None),
            "broken": self.broken,
            "windows_password": WINDOWS_PASSWORD,
            "rdp": self.rdp_info(),
            "instance_connect": {
                "key_store": self.key_store,
                "key_lifetime_seconds": self.key_lifetime,
                "authorized_keys_command": self.eic_command,
                "hosts": self.instance_connect_hosts(),
            },
            "eice": self.eice,
        }

    def cleanup(self):
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        self.stop_xrdp()
        self.remove_ecs_agent_standin()
        if self.eice_server is not None:
            self.eice_server.stop()
        for sshd in (*self.fleet_sshds, self.bastion_sshd, self.sshd):
            if sshd is not None:
                if sshd.poll() is None:
                    sshd.terminate()
                    try:
                        sshd.wait(5)
                    except subprocess.TimeoutExpired:
                        sshd.kill()
                        sshd.wait()
                log(f"sshd {sshd.pid} stopped")
        # Per-connection sshd children (and their sessions) outlive the listener;
        # as a child subreaper we inherit them, so kill whatever is left.
        if self.subreaper:
            deadline = time.monotonic() + 5
            while True:
                _reap()
                kids = [k for k in _children_of(os.getpid())]
                if not kids:
                    break
                sig = signal.SIGKILL if time.monotonic() > deadline - 2 else signal.SIGTERM
                for k in kids:
                    try:
                        os.kill(k, sig)
                    except ProcessLookupError:
                        pass
                if time.monotonic() > deadline:
                    log(f"warning: leftover child processes {kids}")
                    break
                time.sleep(0.05)
        if self.eic_run_dir is not None:
            shutil.rmtree(self.eic_run_dir, ignore_errors=True)
        if self.server is not None:
            try:
                self.server.stop()
            except Exception as e:  # noqa: BLE001
                log(f"warning: stopping moto: {e}")
        if self.dir and not self.args.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
            log(f"removed {self.dir}")
        elif self.dir:
            log(f"kept {self.dir}")
        if self.lock_fd is not None:
            try:
                os.unlink(self.lock_path)
            except OSError:
                pass
            os.close(self.lock_fd)


def emulate_platform_details():
    """moto never reports PlatformDetails / UsageOperation; derive them from
    the platform it copies from the AMI (the Windows AMI -> "windows")."""
    from moto.ec2.models.instances import Instance
    if not hasattr(Instance, "platform_details"):
        Instance.platform_details = property(
            lambda self: "Windows" if self.platform == "windows" else "Linux/UNIX")
    if not hasattr(Instance, "usage_operation"):
        Instance.usage_operation = property(
            lambda self: "RunInstances:0002" if self.platform == "windows" else "RunInstances")


def build_container_instances(ec2, ecs, ec2_be, ecs_be, cluster, n, default_subnet, sg, tag,
                              extra_tags=None):
    """Cluster `cluster` with `n` container instances of AMI_AL2023 (key pair
    KEY_NAME, Name tags `CLUSTER-0001`…, and `extra_tags` on each), spread
    over the default VPC's subnets; the instance ids in launch order. The
    sandbox's bench clusters and the recorded stand-in's fleets
    (recorded_aws.py) are built by it."""
    t0 = time.monotonic()
    ecs.create_cluster(clusterName=cluster)
    insts = []
    chunk = 250
    # Spread over the default VPC's subnets (one /20 per zone): one
    # subnet cannot hold thousands of instances.
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[
        {"Name": "default-for-az", "Values": ["true"]}])["Subnets"]] or [default_subnet]
    while len(insts) < n:
        k = min(chunk, n - len(insts))
        subnet = subnets[(len(insts) // chunk) % len(subnets)]
        insts += ec2.run_instances(
            ImageId=AMI_AL2023, MinCount=k, MaxCount=k, InstanceType="t3.medium",
            KeyName=KEY_NAME, SubnetId=subnet, SecurityGroupIds=[sg],
            TagSpecifications=tag("instance", role="bench"))["Instances"]
    t1 = time.monotonic()
    # distinct Name tags, set in-process (one HTTP call per instance is slow)
    for i, inst in enumerate(insts, 1):
        ec2_be.create_tags([inst["InstanceId"]], {"Name": f"{cluster}-{i:04d}",
                                                  **(extra_tags or {})})
    # Registering over HTTP costs ~6 ms each (mostly request handling, GIL-bound);
    # the backend call is what the RegisterContainerInstance handler does anyway.
    for inst in insts:
        ecs_be.register_container_instance(cluster, inst["InstanceId"])
    log(f"{cluster}: {n} instances in {time.monotonic() - t0:.1f}s "
        f"(run_instances {t1 - t0:.1f}s, register {time.monotonic() - t1:.1f}s)")
    return [inst["InstanceId"] for inst in insts]


def emulate_ecs_container_instance_queries():
    """Make moto's ECS answer container-instance queries as ECS documents:

    * ListContainerInstances returns at most `maxResults` ARNs a page (1..100,
      default 100) with a `nextToken` for the rest (moto returns all at once);
    * its `filter` (cluster query language) is applied for the expressions
      berth sends, `ec2InstanceId == ID`, `ec2InstanceId in [ID, ...]` and
      `task:group == GROUP`; any other expression is refused, so a
      malformed one fails loudly instead of matching everything (moto
      ignores `filter`);
    * DescribeContainerInstances takes at most 100 ids a call.
    """
    import base64
    import re
    from moto.core.responses import ActionResult
    from moto.ecs.exceptions import InvalidParameterException
    from moto.ecs.responses import EC2ContainerServiceResponse

    if getattr(EC2ContainerServiceResponse, "_berth_emulated", False):
        return
    list_all = EC2ContainerServiceResponse.list_container_instances
    describe = EC2ContainerServiceResponse.describe_container_instances
    ident = r"[A-Za-z0-9_:.-]+"
    id_eq = re.compile(rf"^\s*ec2InstanceId\s*==\s*({ident})\s*$")
    id_in = re.compile(rf"^\s*ec2InstanceId\s+in\s*\[\s*({ident}(?:\s*,\s*{ident})*)\s*\]\s*$")
    group_eq = re.compile(rf"^\s*task:group\s*==\s*({ident})\s*$")

    def predicate(backend, cluster, expression):
        """The container instances an expression selects, as a test."""
        if expression is None:
            return lambda ci: True
        if m := id_eq.match(expression):
            return lambda ci: ci.ec2_instance_id == m.group(1)
        if m := id_in.match(expression):
            ids = {part.strip() for part in m.group(1).split(",")}
            return lambda ci: ci.ec2_instance_id in ids
        if m := group_eq.match(expression):
            # Instances hosting a (not stopped) task of that group.
            hosting = {t.container_instance_arn
                       for t in backend.tasks.get(cluster, {}).values()
                       if t.group == m.group(1) and t.desired_status != "STOPPED"}
            return lambda ci: ci.container_instance_arn in hosting
        raise InvalidParameterException(f"sandbox: unsupported filter expression {expression!r}")

    def listed(self):
        arns = list_all(self).result["containerInstanceArns"]
        cluster = self._get_param("cluster", "default").split("/")[-1]
        keep = predicate(self.ecs_backend, cluster, self._get_param("filter"))
        known = self.ecs_backend.container_instances.get(cluster, {})
        arns = [a for a in arns if keep(known[a.split("/")[-1]])]
        limit = int(self._get_param("maxResults") or 100)
        if not 1 <= limit <= 100:
            raise InvalidParameterException("maxResults must be between 1 and 100")
        token = self._get_param("nextToken")
        start = int(base64.b64decode(token).decode()) if token else 0
        page = {"containerInstanceArns": arns[start:start + limit]}
        if start + limit < len(arns):
            page["nextToken"] = base64.b64encode(str(start + limit).encode()).decode()
        return ActionResult(page)

    def described(self):
        if len(self._get_param("containerInstances") or []) > 100:
            raise InvalidParameterException("containerInstances can have at most 100 items")
        return describe(self)

    EC2ContainerServiceResponse.list_container_instances = listed
    EC2ContainerServiceResponse.describe_container_instances = described
    EC2ContainerServiceResponse._berth_emulated = True


def emulate_windows_password_data(password):
    """Make moto's GetPasswordData answer as EC2 documents it (moto returns
    random characters for any Windows instance):

    * a Windows instance launched with an RSA key pair: the Administrator
      password, RSA-encrypted with PKCS#1 v1.5 padding to the key pair's public
      key, base64-encoded, which is what the console's "Get Windows password"
      decrypts with the private key;
    * "" while EC2 does not have the password yet, i.e. until Windows has
      booted and EC2Launch has set it (the docs: allow at least 4 minutes after
      launch). An instance tagged sandbox:boot=in-progress stands for one
      launched a minute ago;
    * "" for an instance without a key pair, or with a key pair that is not
      RSA: EC2 encrypts Windows passwords to RSA key pairs only;
    * "" for a Linux instance.
    """
    import base64
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from moto.ec2.models.windows import WindowsBackend
    from moto.ec2.utils import public_key_parse

    if getattr(WindowsBackend, "_berth_emulated", False):
        return

    def get_password_data(self, instance_id):
        instance = self.get_instance(instance_id)
        if instance.platform != "windows":
            return ""
        tags = {t["key"]: t["value"] for t in instance.get_tags()}
        if tags.get(BOOT_IN_PROGRESS_TAG[0]) == BOOT_IN_PROGRESS_TAG[1]:
            return ""
        pair = self.key_pairs.get(instance.key_name) if instance.key_name else None
        if pair is None or pair.key_type != "rsa":
            return ""
        public = public_key_parse(pair.material_public)
        if not isinstance(public, rsa.RSAPublicKey):
            return ""
        return base64.b64encode(public.encrypt(password.encode(), padding.PKCS1v15())).decode()

    WindowsBackend.get_password_data = get_password_data
    WindowsBackend._berth_emulated = True


def wait_for_eof(reap):
    """Block until stdin hits EOF (or is unusable); call reap() about once a second."""
    while True:
        try:
            ready, _, _ = select.select([0], [], [], 1.0)
        except (OSError, ValueError):
            return
        if not ready:
            reap()
            continue
        try:
            if not os.read(0, 65536):
                return
        except OSError as e:
            if e.errno in (errno.EINTR, errno.EAGAIN):
                continue
            return


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", help="scratch dir (default: fresh mktemp -d berth-sandbox-XXXX)")
    ap.add_argument("--keep", action="store_true", help="do not remove DIR on exit")
    ap.add_argument("--bench-instances", default="0", metavar="N[,N...]",
                    help="also create cluster 'bench' with N container instances "
                         "(several: clusters bench-N each)")
    ap.add_argument("--fleet-size", type=int, default=FLEET_SIZE, metavar="N",
                    help=f"hosts in cluster 'fleet' (50 to 240, default {FLEET_SIZE})")
    ap.add_argument("--huge-instances", type=int, default=0, metavar="N",
                    help="also create cluster 'huge' with N container instances, in the background "
                         "(DIR/huge.ready appears when it is done)")
    ap.add_argument("--rdp", action="store_true",
                    help="also run xrdp for prod-windows on 127.X.0.13:3389 (Debian's xrdp, xorgxrdp)")
    ap.add_argument("--until-signal", action="store_true",
                    help="ignore stdin; run until SIGTERM/SIGINT/SIGHUP (for a detached sandbox)")
    args = ap.parse_args()
    try:
        args.bench_instances = [int(n) for n in args.bench_instances.split(",") if n]
    except ValueError:
        ap.error("--bench-instances takes numbers, comma-separated")
    if any(n < 0 for n in args.bench_instances):
        ap.error("--bench-instances must be >= 0")
    args.bench_instances = [n for n in args.bench_instances if n > 0]
    if not 50 <= args.fleet_size <= 240:
        ap.error("--fleet-size must be 50 to 240")
    if args.huge_instances < 0:
        ap.error("--huge-instances must be >= 0")

    # Our boto3 clients must see only fake credentials and the local endpoint.
    os.environ.update({
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    })
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_CA_BUNDLE",
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
                "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        os.environ.pop(var, None)
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

    tools = preflight()
    sb = Sandbox(args, tools)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, _on_signal)
    code = 0
    try:
        info = sb.setup()
        line = json.dumps(info)
        with open(os.path.join(sb.dir, "sandbox.json"), "w") as f:
            f.write(line + "\n")
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        if args.until_signal:
            while True:
                time.sleep(1.0)
                sb.reap_zombies()
        wait_for_eof(sb.reap_zombies)
        log("stdin closed, shutting down")
    except Stop as e:
        log(f"got signal {e.args[0]}, shutting down")
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 2
        if not isinstance(e.code, int) and e.code:
            print(e.code, file=sys.stderr)
    except BrokenPipeError:
        log("stdout closed, shutting down")
    except Exception as e:  # noqa: BLE001
        print(f"{PROG}: setup failed: {e}", file=sys.stderr, flush=True)
        if os.environ.get("SANDBOX_DEBUG"):
            import traceback
            traceback.print_exc()
        code = 1
    finally:
        sb.cleanup()
    # avoid "Exception ignored ... BrokenPipeError" on interpreter exit
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    sys.exit(code)


if __name__ == "__main__":
    main()
