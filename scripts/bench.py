#!/usr/bin/env python3
"""berth against the tools operators use today, on the same emulated AWS and
hosts, in one run: the sandbox (moto + real sshd on loopback) behind a proxy
that delays every AWS request by a fixed latency, as a real region's round
trip would. Prints Markdown and writes docs/benchmarks.md and
docs/bench-connect.svg.

Run by scripts/bench, which installs what this needs; see docs/benchmarks.md.
Every timing is a median over several runs with its spread (the
interquartile range); compare rows of one run as ratios.
"""

import argparse
import datetime
import fcntl
import hashlib
import http.client
import http.server
import json
import os
import platform
import select
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ------------------------------------------------------------------ proxy
class LatencyProxy(http.server.ThreadingHTTPServer):
    """Forwards every request to the AWS stand-in after `delay` seconds and
    records its operation (X-Amz-Target, or the query protocol's Action) and
    when the stand-in was working on it."""

    daemon_threads = True

    def __init__(self, upstream, delay):
        self.upstream = upstream
        self.delay = delay
        self.log = []
        self.busy = []  # (start, end) of each request at the stand-in
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), ProxyHandler)

    def operations(self):
        with self.lock:
            return list(self.log)

    def busy_since(self, first):
        """Seconds during which the stand-in had at least one of the
        requests from index `first` on in hand (overlaps counted once)."""
        with self.lock:
            spans = sorted(self.busy[first:])
        total, end = 0.0, float("-inf")
        for start, stop in spans:
            if stop > end:
                total += stop - max(start, end)
                end = stop
        return total


class ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Without TCP_NODELAY, the answer's headers and body (two writes) meet
    # the client's delayed ACK: tens of milliseconds a request that are the
    # proxy's, not the modelled latency.
    disable_nagle_algorithm = True

    def do_request(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        op = self.headers.get("x-amz-target") or ""
        if not op and b"Action=" in body:
            op = body.split(b"Action=", 1)[1].split(b"&", 1)[0].decode()
        with self.server.lock:
            self.server.log.append(op or self.path)
        time.sleep(self.server.delay)
        host, port = self.server.upstream
        conn = http.client.HTTPConnection(host, port, timeout=600)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        started = time.perf_counter()
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        with self.server.lock:
            self.server.busy.append((started, time.perf_counter()))
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_request

    def log_message(self, *_):
        pass


# -------------------------------------------------------------- measuring
class Case:
    def __init__(self, group, name, times, calls, round_trips=None, note="", ok=True,
                 upstream=None, nbytes=None, cpu=None, peak_mb=None, ops=None):
        self.group, self.name, self.times, self.calls = group, name, times, calls
        # Median peak resident memory of the measured process, MB, and the
        # stand-in's requests per operation in the last run.
        self.peak_mb, self.ops = peak_mb, ops
        self.round_trips, self.note, self.ok = round_trips, note, ok
        # Median seconds the AWS stand-in itself was busy per run.
        self.upstream = upstream
        # Transfers: bytes per run, and the Session Manager stand-in's CPU
        # seconds per run (for the rows that measure it).
        self.nbytes, self.cpu = nbytes, cpu

    @property
    def rate(self):
        """MB/s of a transfer, from the median time."""
        return self.nbytes / self.median / 1e6 if self.nbytes and self.times else float("nan")

    @property
    def median(self):
        return statistics.median(self.times) if self.times else float("nan")

    @property
    def spread(self):
        if len(self.times) < 4:
            return (max(self.times) - min(self.times)) if self.times else 0.0
        q = statistics.quantiles(self.times, n=4)
        return q[2] - q[0]


def run_once(cmd, env, shell=False):
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, shell=shell, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          executable="/bin/bash" if shell else None)
    return time.perf_counter() - started, done


def measure(proxy, group, name, cmd, env, runs, prepare=None, shell=False, warmup=0):
    """Runs `cmd` `runs` times (after `warmup` unmeasured runs); the AWS
    calls are the proxy's requests per run; berth's --stats line gives its
    sequential round trips."""
    for _ in range(warmup):
        if prepare:
            prepare()
        run_once(cmd, env, shell)
    times, calls, trips, failures, busy = [], [], [], [], []
    for _ in range(runs):
        if prepare:
            prepare()
        before = len(proxy.operations())
        first_busy = len(proxy.busy)
        elapsed, done = run_once(cmd, env, shell)
        calls.append(len(proxy.operations()) - before)
        busy.append(proxy.busy_since(first_busy))
        if done.returncode != 0:
            failures.append(done.stderr.decode(errors="replace").strip().splitlines()[-1:])
            continue
        times.append(elapsed)
        for line in done.stderr.decode(errors="replace").splitlines():
            if line.startswith("stats: calls="):
                trips.append(int(dict(kv.split("=") for kv in line.split()[1:])["round_trips"]))
    note = ""
    if failures:
        note = f"{len(failures)} of {runs} runs failed: {failures[0]}"
    case = Case(group, name, times, statistics.median(calls) if calls else 0,
                statistics.median(trips) if trips else None, note, ok=bool(times),
                upstream=statistics.median(busy) if busy else None)
    print(f"  {name}: {case.median * 1000:.0f} ms (±{case.spread * 1000:.0f}), "
          f"{case.calls:g} calls{' — ' + note if note else ''}", file=sys.stderr)
    return case


# ------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--latency-ms", type=float, default=40.0)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--sizes", default="100,1000,5000", help="clusters for the listing rows")
    ap.add_argument("--tools", required=True, help="the bench virtualenv's bin directory")
    ap.add_argument("--berth", required=True)
    ap.add_argument("--out", default=os.path.join(ROOT, "docs"))
    ap.add_argument("--report-only", action="store_true",
                    help="rewrite the report from the saved bench-results.json, measuring nothing")
    ap.add_argument("--only", metavar="SECTION[,SECTION]",
                    help=f"measure only these sections ({', '.join(SECTIONS)}); the others' rows "
                         "are kept from the saved bench-results.json")
    ap.add_argument("--build", default="release", choices=("release", "debug"),
                    help="which build of berth --berth is (the report says)")
    ap.add_argument("--minimal", help="the minimal Session Manager client (examples/ssm_minimal.rs)")
    ap.add_argument("--ssm-mb", type=float, default=100, help="megabytes per port-forward transfer")
    ap.add_argument("--ssm-runs", type=int, default=3,
                    help="runs per port-forward row (the paced client's rows run once)")
    args = ap.parse_args()
    saved = os.path.join(args.out, "bench-results.json")
    if args.report_only:
        with open(saved) as f:
            run = json.load(f)
        args.latency_ms, args.sizes = run["latency_ms"], run["sizes"]
        report(args, [Case(**c) for c in run["results"]], run)
        return
    only = set(args.only.split(",")) if args.only else set(SECTIONS)
    if only - set(SECTIONS):
        ap.error(f"--only takes {', '.join(SECTIONS)}")
    if "ssm" in only and not args.minimal:
        ap.error("the Session Manager rows need --minimal")
    sizes = [int(n) for n in args.sizes.split(",")]
    results = []
    # Separate sandboxes, one after the other: moto answers a filtered
    # DescribeInstances by scanning every instance of the region, so the
    # thousands of listing instances would slow the connect rows down for
    # reasons that are moto's, not the tools'.
    if "connect" in only:
        results += with_sandbox(args, ["--fleet-size", "202"],
                                lambda *a: connect_and_fleet(args, *a))
    if "listing" in only:
        results += listing(args, sizes)
    if "ssm" in only:
        results += with_sandbox(args, [], lambda *a: session_manager(args, *a))
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    this = {
        "date": datetime.date.today().isoformat(), "commit": commit,
        "machine": (f"{os.cpu_count()} CPUs, {mem:.0f} GiB, {platform.system()} "
                    f"{platform.release()}, Python {platform.python_version()}"),
        "latency_ms": args.latency_ms, "build": args.build,
    }
    run = dict(this, sizes=args.sizes, sections={s: this for s in only},
               results=[vars(r) for r in results])
    if only != set(SECTIONS) and os.path.exists(saved):
        # Keep the other sections' rows (and when and where they ran).
        with open(saved) as f:
            old = json.load(f)
        kept = [c for c in old["results"] if section_of(c["group"]) not in only]
        run["results"] = kept + run["results"]
        old_sections = old.get("sections") or {
            s: {k: old[k] for k in ("date", "commit", "machine", "latency_ms")} for s in SECTIONS}
        run["sections"] = {**{s: v for s, v in old_sections.items() if s not in only},
                           **run["sections"]}
        run["sizes"] = old.get("sizes", args.sizes) if "listing" not in only else args.sizes
        results = [Case(**c) for c in run["results"]]
    # Every run's times, so the report can be checked and rewritten.
    with open(saved, "w") as f:
        json.dump(run, f, indent=1, ensure_ascii=False)
        f.write("\n")
    report(args, results, run)
    failed = [r for r in results if r.group == "ssm-ceiling" and not r.ok]
    if failed and "ssm" in only:
        sys.exit(f"bench: FAILED: {failed[0].note}")


SECTIONS = ("connect", "listing", "ssm")


def section_of(group):
    if group.startswith(("ls-", "runssm-")):
        return "listing"
    if group.startswith("ssm-"):
        return "ssm"
    return "connect"


def with_sandbox(args, sandbox_args, work_with):
    """Starts the sandbox with `sandbox_args` behind the latency proxy and
    runs `work_with(sb, endpoint, proxy, work, env)`."""
    work = tempfile.mkdtemp(prefix="berth-bench-")
    sandbox = subprocess.Popen(
        [os.path.join(ROOT, ".venv/bin/python"), os.path.join(ROOT, "tests/support/sandbox.py"),
         *sandbox_args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=open(os.path.join(work, "sandbox.log"), "w"))
    line = sandbox.stdout.readline()
    if not line:
        sys.exit(f"the sandbox did not start: see {work}/sandbox.log")
    sb = json.loads(line)
    upstream = sb["endpoint"].split("//", 1)[1].split(":")
    proxy = LatencyProxy((upstream[0], int(upstream[1])), args.latency_ms / 1000)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{proxy.server_address[1]}"
    try:
        return work_with(sb, endpoint, proxy, work, environment(args, sb, endpoint, work))
    finally:
        proxy.shutdown()
        sandbox.stdin.close()
        sandbox.wait(60)
        shutil.rmtree(work, ignore_errors=True)


def environment(args, sb, endpoint, work):
    """A scrubbed environment: the sandbox's key in a fresh HOME, every AWS
    client pointed at the proxy, the sandbox's ssh first on PATH."""
    home = os.path.join(work, "home")
    os.makedirs(os.path.join(home, ".ssh"), mode=0o700)
    key = os.path.join(home, ".ssh", sb["key_name"] + ".pem")
    shutil.copy(sb["key_path"], key)
    os.chmod(key, 0o600)
    ssh = sb["ssh"]  # ssh -F <sandbox ssh_config>: known hosts, no prompts
    return {
        "PATH": f"{os.path.dirname(ssh)}:{args.tools}:/usr/local/bin:/usr/bin:/bin",
        "HOME": home, "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": sb["region"],
        "AWS_DEFAULT_REGION": sb["region"], "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "BERTH_SSH": ssh, "XDG_CACHE_HOME": os.path.join(work, "cache"),
        "XDG_STATE_HOME": os.path.join(work, "state"),
        "XDG_CONFIG_HOME": os.path.join(work, "config"),
        "BERTH_BENCH_KEY": key,
    }


def connect_and_fleet(args, sb, endpoint, proxy, work, env):
    key = env.pop("BERTH_BENCH_KEY")
    ssh = sb["ssh"]
    berth = args.berth
    runs = args.runs
    host = sb["hosts"]["prod-al2023"]
    iid, ip, arn = host["instance_id"], host["private_ip"], host["container_instance_arn"]
    results = []

    def fresh_cache():
        env["XDG_CACHE_HOME"] = tempfile.mkdtemp(dir=work, prefix="cache-")

    def warm_cache():
        env["XDG_CACHE_HOME"] = os.path.join(work, "cache-warm")

    print("time to a remote command", file=sys.stderr)
    group = "connect"
    results.append(measure(proxy, group, "bare ssh to the known address",
                           [ssh, "-i", key, "-o", "IdentitiesOnly=yes", f"ec2-user@{ip}", "true"],
                           env, runs))
    for label, target in [("i-…", iid), ("prod/prod-al2023", "prod/prod-al2023")]:
        cmd = [berth, "--stats", "ssh", target, "--via", "private", "--", "true"]
        results.append(measure(proxy, group, f"berth ssh {label}, cold cache", cmd, env, runs,
                               prepare=fresh_cache))
        results.append(measure(proxy, group, f"berth ssh {label}, warm cache", cmd, env, runs,
                               prepare=warm_cache, warmup=1))
    procedure = f"""
set -e
id=$(aws ecs describe-container-instances --cluster prod --container-instances {arn} \
     --query 'containerInstances[0].ec2InstanceId' --output text)
read -r ip ami keyname <<< "$(aws ec2 describe-instances --instance-ids "$id" \
     --query 'Reservations[0].Instances[0].[PrivateIpAddress,ImageId,KeyName]' --output text)"
name=$(aws ec2 describe-images --image-ids "$ami" --query 'Images[0].Name' --output text)
case "$name" in *ubuntu*) user=ubuntu ;; *CoreOS*|*Flatcar*) user=core ;; *) user=ec2-user ;; esac
ssh -i "$HOME/.ssh/$keyname.pem" -o IdentitiesOnly=yes "$user@$ip" true
"""
    results.append(measure(proxy, group, "the AWS docs' procedure, scripted with the AWS CLI",
                           procedure, env, max(3, runs // 2), shell=True))
    if shutil.which("mssh", path=env["PATH"]):
        results.append(measure(proxy, group, "mssh (ec2instanceconnectcli)",
                               ["mssh", "-r", sb["region"], f"ec2-user@{iid}", "true"],
                               env, max(3, runs // 2)))
    else:
        results.append(Case(group, "mssh (ec2instanceconnectcli)", [], 0,
                            note="not installed", ok=False))

    print("fleet", file=sys.stderr)
    fleet = sb["fleet"]
    setsid_ssh = os.path.join(work, "ssh-in-own-session")
    with open(setsid_ssh, "w") as f:
        f.write(f'#!/bin/sh\nexec setsid {ssh} "$@"\n')
    os.chmod(setsid_ssh, 0o755)
    broken = {fleet["unreachable"], fleet["failing"]}
    healthy = [h for h in fleet["hosts"] if h not in broken]
    for n in (50, 200):
        names = healthy[:n]
        hosts_file = os.path.join(work, f"hosts-{n}")
        with open(hosts_file, "w") as f:
            f.write("\n".join(sb["hosts"][h]["private_ip"] for h in names) + "\n")
        # The sandbox tags the first 50 and the first 200 healthy hosts.
        target = [fleet["cluster"], "--tag", f"bench{n}=yes"]
        run_dir = os.path.join(work, f"runtime-{n}")

        def cold_runtime(d=run_dir):
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d, mode=0o700)
            env["XDG_RUNTIME_DIR"] = d

        def warm_runtime(d=run_dir):
            os.makedirs(d, mode=0o700, exist_ok=True)
            env["XDG_RUNTIME_DIR"] = d

        cmd = [berth, "--stats", "run", *target, "--via", "private", "-j", "32", "--", "true"]
        results.append(measure(proxy, f"fleet-{n}", f"berth run, {n} hosts, -j 32, cold",
                               cmd, env, 3, prepare=cold_runtime))
        results.append(measure(proxy, f"fleet-{n}", f"berth run, {n} hosts, -j 32, warm (multiplexed)",
                               cmd, env, 3, prepare=warm_runtime, warmup=1))
        # The same runs with each ssh in a session of its own, as
        # parallel-ssh starts them (setsid): where the kernel schedules by
        # session (autogroup), that alone gives pssh's 32 ssh processes 32
        # shares of a busy CPU against berth's one. Not a target row.
        if shutil.which("setsid"):
            env["BERTH_SSH"] = setsid_ssh
            results.append(measure(proxy, f"fleet-{n}", f"{SETSID_ROW}, {n} hosts, -j 32, cold",
                                   cmd, env, 3, prepare=cold_runtime))
            results.append(measure(proxy, f"fleet-{n}",
                                   f"{SETSID_ROW}, {n} hosts, -j 32, warm (multiplexed)",
                                   cmd, env, 3, prepare=warm_runtime, warmup=1))
            env["BERTH_SSH"] = ssh
        env.pop("XDG_RUNTIME_DIR", None)
        pssh = shutil.which("parallel-ssh") or shutil.which("pssh")
        if pssh:
            results.append(measure(proxy, f"fleet-{n}", f"parallel-ssh, {n} hosts, -p 32, cold", [
                pssh, "-h", hosts_file, "-p", "32", "-l", "ec2-user", "-t", "60",
                "-x", f"-i {key} -o IdentitiesOnly=yes -o BatchMode=yes",
                "true"], env, 3))
            # The ControlMaster options berth's fleet runs give ssh, in a
            # private directory of pssh's own, kept between its runs.
            pssh_dir = os.path.join(work, f"pssh-control-{n}")
            os.makedirs(pssh_dir, mode=0o700, exist_ok=True)
            results.append(measure(proxy, f"fleet-{n}",
                                   f"parallel-ssh, {n} hosts, -p 32, ControlMaster (warm)", [
                pssh, "-h", hosts_file, "-p", "32", "-l", "ec2-user", "-t", "60",
                "-x", f"-i {key} -o IdentitiesOnly=yes -o BatchMode=yes -T "
                      f"-o ControlMaster=auto -o ControlPath={pssh_dir}/%C -o ControlPersist=60",
                "true"], env, 3, warmup=1))
        else:
            for kind in ("cold", "ControlMaster (warm)"):
                results.append(Case(f"fleet-{n}", f"parallel-ssh, {n} hosts, -p 32, {kind}", [],
                                    0, note="not installed", ok=False))
        loop = (f"while read -r ip; do {ssh} -i {key} -o IdentitiesOnly=yes -o BatchMode=yes "
                f"ec2-user@$ip true < /dev/null || exit 1; done < {hosts_file}")
        results.append(measure(proxy, f"fleet-{n}", f"sequential ssh loop, {n} hosts",
                               loop, env, 1, shell=True))

    print("start-up", file=sys.stderr)
    for flag in ("--version", "--help"):
        results.append(measure(proxy, "startup", f"berth {flag}", [berth, flag], env, 20))
    return results


class Recorded:
    """The recorded stand-in (tests/support/recorded_aws.py) serving a
    recording with a fixed latency per request; it counts the requests and
    the time it was busy with them itself."""

    def __init__(self, recording, latency_ms, work, invocation_seconds=3.0):
        self.proc = subprocess.Popen(
            [os.path.join(ROOT, ".venv/bin/python"),
             os.path.join(ROOT, "tests/support/recorded_aws.py"), "serve",
             "--recording", recording, "--latency-ms", str(latency_ms),
             "--invocation-seconds", str(invocation_seconds)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=open(os.path.join(work, "recorded_aws.err"), "a"))
        line = self.proc.stdout.readline()
        if not line:
            sys.exit(f"the recorded stand-in did not start: see {work}/recorded_aws.err")
        self.endpoint = json.loads(line)["endpoint"]
        address = self.endpoint.split("//", 1)[1].split(":")
        self.address = (address[0], int(address[1]))

    def _ask(self, method, path):
        conn = http.client.HTTPConnection(*self.address, timeout=30)
        conn.request(method, path, body=b"" if method == "POST" else None)
        answer = json.loads(conn.getresponse().read() or b"{}")
        conn.close()
        return answer

    def reset(self):
        self._ask("POST", "/_reset")

    def stats(self):
        return self._ask("GET", "/_stats")

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # only the stand-in this bench started


def run_measured(cmd, env, shell=False):
    """run_once, with the process's peak resident memory (MB)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, shell=shell, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            executable="/bin/bash" if shell else None)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return elapsed, proc.returncode, err, usage.ru_maxrss / 1024


def measure_recorded(stand_in, group, name, cmd, env, runs, prepare=None, shell=False):
    """Like measure(), against the recorded stand-in: its own request
    count and busy time per run, and the tool's peak memory."""
    times, calls, trips, failures, busy, peaks = [], [], [], [], [], []
    ops = None
    for _ in range(runs):
        if prepare:
            prepare()
        stand_in.reset()
        elapsed, code, err, peak = run_measured(cmd, env, shell)
        stats = stand_in.stats()
        calls.append(sum(stats["calls"].values()))
        ops = stats["calls"]
        busy.append(stats["busy_s"])
        text = err.decode(errors="replace")
        if code != 0:
            failures.append(text.strip().splitlines()[-1:])
            continue
        times.append(elapsed)
        peaks.append(peak)
        for line in text.splitlines():
            if line.startswith("stats: calls="):
                trips.append(int(dict(kv.split("=") for kv in line.split()[1:])["round_trips"]))
    note = f"{len(failures)} of {runs} runs failed: {failures[0]}" if failures else ""
    case = Case(group, name, times, statistics.median(calls) if calls else 0,
                statistics.median(trips) if trips else None, note, ok=bool(times),
                upstream=statistics.median(busy) if busy else None,
                peak_mb=statistics.median(peaks) if peaks else None, ops=ops)
    print(f"  {name}: {case.median * 1000:.0f} ms (±{case.spread * 1000:.0f}), "
          f"{case.calls:g} calls{' — ' + note if note else ''}", file=sys.stderr)
    return case


def scrubbed_env(args, endpoint, work):
    home = os.path.join(work, "home")
    os.makedirs(home, exist_ok=True)
    return {
        "PATH": f"{args.tools}:/usr/local/bin:/usr/bin:/bin", "HOME": home,
        "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "XDG_CACHE_HOME": os.path.join(work, "cache"),
        "XDG_STATE_HOME": os.path.join(work, "state"),
        "XDG_CONFIG_HOME": os.path.join(work, "config"),
    }


# The AWS CLI doing berth's joins: every page of the cluster's container
# instances, DescribeContainerInstances 100 at a time, DescribeInstances
# 1000 at a time, DescribeImages of their AMIs, Session Manager's view 50
# at a time (the CLI follows pages itself).
CLI_LISTING = r"""
set -e
aws ecs list-container-instances --cluster {cluster} --query 'containerInstanceArns[]' --output text   | tr '	' '
' > "$TMPDIR/arns"
split -l 100 "$TMPDIR/arns" "$TMPDIR/batch."
for b in "$TMPDIR"/batch.*; do
  aws ecs describe-container-instances --cluster {cluster} --container-instances $(cat "$b")     --query 'containerInstances[].ec2InstanceId' --output text
done | tr '	' '
' > "$TMPDIR/ids"
split -l 1000 "$TMPDIR/ids" "$TMPDIR/ids."
for b in "$TMPDIR"/ids.*; do
  aws ec2 describe-instances --instance-ids $(cat "$b")     --query 'Reservations[].Instances[].[InstanceId,PrivateIpAddress,ImageId]' --output text
done > "$TMPDIR/instances"
aws ec2 describe-images --image-ids $(cut -f3 "$TMPDIR/instances" | sort -u)   --query 'Images[].[ImageId,Name]' --output text > /dev/null
split -l 50 "$TMPDIR/ids" "$TMPDIR/ssm."
for b in "$TMPDIR"/ssm.*; do
  aws ssm describe-instance-information --filters "Key=InstanceIds,Values=$(paste -sd, "$b")"     --query 'InstanceInformationList[].[InstanceId,PingStatus]' --output text
done > /dev/null
rm -f "$TMPDIR"/batch.* "$TMPDIR"/ids.* "$TMPDIR"/ssm.* "$TMPDIR/arns" "$TMPDIR/ids"   "$TMPDIR/instances"
"""

# Each simulated Run Command invocation ends this long after it was sent.
INVOCATION_SECONDS = 2.5


def listing(args, sizes):
    """`berth ls` of clusters of each size, the AWS CLI doing the same
    joins, and `berth run --engine ssm` over 1,000 hosts, all on the
    recorded stand-in (moto's answers recorded once, served from memory)
    at the run's latency."""
    work = tempfile.mkdtemp(prefix="berth-bench-scale-")
    recording = os.path.join(work, "recording.json")
    hosts = sorted(set(sizes) | {1000})
    print(f"recording moto's answers for {hosts} hosts (once; minutes for thousands)",
          file=sys.stderr)
    started = time.monotonic()
    done = subprocess.run([os.path.join(ROOT, ".venv/bin/python"),
                           os.path.join(ROOT, "tests/support/recorded_aws.py"), "record",
                           "--hosts", ",".join(map(str, hosts)), "--out", recording],
                          stderr=open(os.path.join(work, "record.err"), "w"))
    if done.returncode != 0:
        sys.exit(f"recording failed: see {work}/record.err")
    print(f"  recorded in {time.monotonic() - started:.0f} s", file=sys.stderr)
    stand_in = Recorded(recording, args.latency_ms, work, INVOCATION_SECONDS)
    env = scrubbed_env(args, stand_in.endpoint, work)
    results = []

    def fresh_cache():
        env["XDG_CACHE_HOME"] = tempfile.mkdtemp(dir=work, prefix="cache-")

    try:
        print("listing", file=sys.stderr)
        for n in sizes:
            cluster = f"scale-{n}"
            few = max(3, args.runs) if n <= 1000 else 3
            results.append(measure_recorded(stand_in, f"ls-{n}", f"berth ls {cluster}",
                                            [args.berth, "--stats", "ls", cluster], env, few,
                                            prepare=fresh_cache))
            if shutil.which("aws", path=env["PATH"]):
                cli_env = dict(env, TMPDIR=tempfile.mkdtemp(dir=work))
                results.append(measure_recorded(
                    stand_in, f"ls-{n}", "AWS CLI: the same calls and joins",
                    CLI_LISTING.format(cluster=cluster), cli_env, 2 if n >= 5000 else 3,
                    shell=True))
            else:
                results.append(Case(f"ls-{n}", "AWS CLI: the same calls and joins", [], 0,
                                    note="not installed", ok=False))
        print("run --engine ssm", file=sys.stderr)
        results.append(measure_recorded(
            stand_in, "runssm-1000", "berth run scale-1000 --engine ssm -- echo hello",
            [args.berth, "--stats", "--output", "json", "run", "scale-1000", "--engine", "ssm",
             "--", "echo hello"], env, 3, prepare=fresh_cache))
    finally:
        stand_in.close()
        shutil.rmtree(work, ignore_errors=True)
    return results


# --------------------------------------------------------- Session Manager
PROMPT = b"bench-prompt$ "


class FarEnd:
    """The loopback services at the far end of the port sessions: a sink
    that hashes what it receives (the upload's sha256 is checked there) and
    a source that sends the payload; each notes when it accepted a
    connection and when the transfer ended (wall clock, comparable with the
    minimal client's)."""

    def __init__(self, payload):
        self.payload = payload
        self.events = []
        self.lock = threading.Lock()
        self.sink = self._listen(self._sink)
        self.source = self._listen(self._source)

    def _listen(self, handle):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(16)

        def serve():
            while True:
                try:
                    conn, _ = s.accept()
                except OSError:
                    return
                threading.Thread(target=handle, args=(conn, time.time()), daemon=True).start()
        threading.Thread(target=serve, daemon=True).start()
        return s

    def _sink(self, conn, accepted):
        digest, n, buf = hashlib.sha256(), 0, bytearray(1 << 20)
        view = memoryview(buf)
        last_byte = accepted
        while True:
            k = conn.recv_into(buf)
            if not k:
                break
            last_byte = time.time()
            digest.update(view[:k])
            n += k
        conn.close()
        with self.lock:
            self.events.append(("sink", accepted, last_byte, n, digest.hexdigest()))

    def _source(self, conn, accepted):
        try:
            view = memoryview(self.payload)
            for i in range(0, len(view), 1 << 20):
                conn.sendall(view[i:i + (1 << 20)])
        except OSError:
            pass
        conn.close()
        with self.lock:
            self.events.append(("source", accepted, None, len(self.payload), None))

    def take(self, kind, timeout):
        """The next finished `kind` event (waits up to `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for i, e in enumerate(self.events):
                    if e[0] == kind:
                        return self.events.pop(i)
            time.sleep(0.01)
        return None

    def clear(self):
        with self.lock:
            self.events.clear()

    def close(self):
        self.sink.close()
        self.source.close()


def cpu_seconds(pid):
    """User + system CPU seconds of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    """Whether something listens on the port (read from /proc, so that no
    connection is made: a test connection would open a forwarded stream)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                        return True
        except OSError:
            continue
    return False


def on_a_terminal(cmd, env, until, answer, timeout=60, at_prompt=None):
    """Runs `cmd` on a new pty; returns (seconds until `until` appeared in
    its output, or None, the output), calling `at_prompt()` then. Then
    types `answer` and waits for the end (killing it after 15 s)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True)
    os.close(slave)
    seen, out = None, b""
    deadline = time.monotonic() + timeout
    ending = None
    while True:
        if seen is None and time.monotonic() > deadline:
            break
        if ending is not None and time.monotonic() > ending:
            break
        r, _, _ = select.select([master], [], [], 0.05)
        if r:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            out += chunk
            if seen is None and until in out:
                seen = time.perf_counter() - started
                if at_prompt:
                    at_prompt()
                os.write(master, answer)
                ending = time.monotonic() + 15
        elif proc.poll() is not None:
            break
    if proc.poll() is None:
        proc.kill()  # only the client this run started
    proc.wait()
    os.close(master)
    return seen, out


class SsmCalls:
    """Both latency proxies' request counts (moto's and Session Manager's)."""

    def __init__(self, *proxies):
        self.proxies = proxies

    def count(self):
        return sum(len(p.operations()) for p in self.proxies)


def timed_case(group, name, runs, once, calls, nbytes=None, cpu_of=None):
    """Runs `once()` `runs` times; it returns seconds (or raises with a
    reason), or seconds and the proxies' count when the measured part
    ended. AWS calls come from the proxies' counts, CPU from `cpu_of`."""
    times, counts, cpus, failures = [], [], [], []
    for _ in range(runs):
        before = calls.count()
        cpu0 = cpu_of() if cpu_of else None
        after = None
        try:
            took = once()
            if isinstance(took, tuple):
                took, after = took
            times.append(took)
            if cpu_of:
                cpus.append(cpu_of() - cpu0)
        except RunFailed as e:
            failures.append(str(e))
        counts.append((calls.count() if after is None else after) - before)
    note = f"{len(failures)} of {runs} runs failed: {failures[0]}" if failures else ""
    case = Case(group, name, times, statistics.median(counts) if counts else 0, note=note,
                ok=bool(times), nbytes=nbytes, cpu=statistics.median(cpus) if cpus else None)
    extra = f", {case.rate:.1f} MB/s" if nbytes and times else ""
    cpu = f", stand-in CPU {case.cpu:.2f} s" if case.cpu is not None else ""
    print(f"  {name}: {case.median * 1000:.0f} ms (±{case.spread * 1000:.0f}){extra}{cpu}, "
          f"{case.calls:g} calls{' — ' + note if note else ''}", file=sys.stderr)
    return case


class RunFailed(Exception):
    pass


def session_manager(args, sb, endpoint, proxy, work, env):
    """berth's Session Manager client against the minimal one
    (examples/ssm_minimal.rs), both on the same stand-in
    (tests/support/ssm_standin.py) in this run: time to a shell prompt,
    ssh over SSM, port-forward throughput up and down."""
    key = env.pop("BERTH_BENCH_KEY")
    berth, minimal, runs = args.berth, args.minimal, args.runs
    host = sb["hosts"]["prod-al2023"]
    iid, ip = host["instance_id"], host["private_ip"]
    nbytes = int(args.ssm_mb * 1e6)
    payload = os.urandom(nbytes)
    expected = hashlib.sha256(payload).hexdigest()
    payload_file = os.path.join(work, "payload")
    with open(payload_file, "wb") as f:
        f.write(payload)
    far = FarEnd(payload)
    sink, source = far.sink.getsockname()[1], far.source.getsockname()[1]
    config = {"instances": {iid: {
        "address": ip, "shell": "/bin/sh", "env": {"PS1": PROMPT.decode()},
        "ports": {str(sink): f"127.0.0.1:{sink}", str(source): f"127.0.0.1:{source}"}}}}
    # No --log: the recorder writes a line per message, work that is the
    # recorder's and not the stand-in's.
    standin = subprocess.Popen(
        [os.path.join(ROOT, ".venv/bin/python"), os.path.join(ROOT, "tests/support/ssm_standin.py"),
         "--config-json", json.dumps(config)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=open(os.path.join(work, "ssm_standin.err"), "w"))
    line = standin.stdout.readline()
    if not line:
        sys.exit(f"the Session Manager stand-in did not start: see {work}/ssm_standin.err")
    ssm_endpoint = json.loads(line)["endpoint"]
    address = ssm_endpoint.split("//", 1)[1].split(":")
    ssm_proxy = LatencyProxy((address[0], int(address[1])), args.latency_ms / 1000)
    threading.Thread(target=ssm_proxy.serve_forever, daemon=True).start()
    ssm_url = f"http://127.0.0.1:{ssm_proxy.server_address[1]}"
    env["AWS_ENDPOINT_URL_SSM"] = ssm_url
    calls = SsmCalls(proxy, ssm_proxy)
    results = []

    def faults(switches):
        body = json.dumps(switches).encode()
        conn = http.client.HTTPConnection(address[0], int(address[1]), timeout=10)
        conn.request("POST", "/faults", body=body, headers={"content-type": "application/json"})
        answer = conn.getresponse()
        answer.read()
        conn.close()
        if answer.status != 200:
            raise SystemExit(f"the stand-in refused {switches}: {answer.status}")

    def minimal_cmd(*mode, paced=False):
        return [minimal, "--endpoint", ssm_url, "--target", iid,
                *(["--paced"] if paced else []), *mode]

    try:
        # ---- time to the first shell prompt
        print("Session Manager: time to a shell prompt", file=sys.stderr)

        def prompt(cmd):
            def once():
                # The calls made before the prompt: not the TerminateSession after it.
                at = []
                seen, out = on_a_terminal(cmd, env, PROMPT, b"exit\r",
                                          at_prompt=lambda: at.append(calls.count()))
                if seen is None:
                    raise RunFailed(f"no prompt: {out[-200:]!r}")
                return seen, at[0]
            return once
        for name, cmd in [("berth session i-…", [berth, "session", iid]),
                          ("minimal client", minimal_cmd("shell"))]:
            prompt(cmd)()  # one unmeasured run: the page cache, the stand-in's first pty
            results.append(timed_case("ssm-prompt", name, runs, prompt(cmd), calls))

        # ---- ssh … true over SSM
        print("Session Manager: ssh … true", file=sys.stderr)

        def command(cmd):
            def once():
                elapsed, done = run_once(cmd, env)
                if done.returncode != 0:
                    raise RunFailed(done.stderr.decode(errors="replace").strip()[-200:])
                return elapsed
            return once
        ssh_berth = [berth, "ssh", iid, "--via", "ssm", "--", "true"]
        command(ssh_berth)()  # pins the host key (berth's state), as after a first use
        results.append(timed_case("ssm-ssh", "berth ssh i-… --via ssm -- true, warm cache", runs,
                                  command(ssh_berth), calls))
        proxy_command = " ".join(minimal_cmd("proxy", "--port", str(sb["ssh_port"])))
        ssh_minimal = [sb["ssh"], "-i", key, "-o", "IdentitiesOnly=yes",
                       "-o", f"ProxyCommand={proxy_command}", "-o", f"HostKeyAlias={ip}",
                       f"ec2-user@{iid}", "true"]
        results.append(timed_case("ssm-ssh", "ssh with the minimal client as ProxyCommand", runs,
                                  command(ssh_minimal), calls))

        # ---- port forwarding
        tunnel_kind = tunnel_flavour(berth, env, iid)
        for delay in (0, 20):
            faults({"data_delay_ms": delay})
            for direction, remote in (("up", sink), ("down", source)):
                group = f"ssm-{direction}-{delay}"
                print(f"Session Manager: port forward {direction}, {delay} ms one-way delay",
                      file=sys.stderr)
                results += forward_rows(args, group, direction, remote, berth, tunnel_kind, iid,
                                        env, far, expected, nbytes, payload, payload_file,
                                        minimal_cmd, calls, standin.pid, work)
        faults({"data_delay_ms": 0})
    finally:
        ssm_proxy.shutdown()
        standin.stdin.close()
        try:
            standin.wait(30)
        except subprocess.TimeoutExpired:
            standin.kill()
        far.close()
    results.append(ceiling(results))
    return results


def tunnel_flavour(berth, env, iid):
    """What `berth tunnel --via ssm` runs in this build: its own port
    session, or ssh -L through `berth proxy --via ssm` (before the native
    forward existed)."""
    done = subprocess.run([berth, "tunnel", iid, "--via", "ssm", "1:1", "--dry-run"], env=env,
                          capture_output=True, text=True)
    text = done.stdout + done.stderr
    return "ssh -L over AWS-StartSSHSession" if " -L" in text else "native port session"


def forward_rows(args, group, direction, remote, berth, tunnel_kind, iid, env, far, expected,
                 nbytes, payload, payload_file, minimal_cmd, calls, standin_pid, work):
    """One direction at one delay: berth's tunnel, the minimal client
    unpaced, and paced."""
    rows = []
    timeout = max(120, nbytes / 0.5e6)

    def far_end_time(client_end=None):
        """Upload: the sink's accept to its last byte, its sha256 checked
        at its end of stream. Download: the source's accept to the client's last byte."""
        if direction == "up":
            e = far.take("sink", timeout)
            if e is None:
                raise RunFailed("the sink saw no transfer end")
            if e[3] != nbytes or e[4] != expected:
                raise RunFailed(f"the sink got {e[3]} bytes, sha256 {e[4][:12]}…, "
                                f"not {nbytes} bytes {expected[:12]}…")
            return e[2] - e[1]
        e = far.take("source", 10)
        if e is None:
            raise RunFailed("the source saw no connection")
        return client_end - e[1]

    # berth: one tunnel for the row's runs, a connection per run
    local = free_port()
    tunnel = subprocess.Popen([berth, "tunnel", iid, "--via", "ssm", f"{local}:{remote}"], env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=open(os.path.join(work, f"tunnel-{group}.err"), "w"),
                              start_new_session=True)
    deadline = time.monotonic() + 30
    while not listening(local) and time.monotonic() < deadline and tunnel.poll() is None:
        time.sleep(0.05)

    def through_tunnel():
        far.clear()
        if not listening(local):
            raise RunFailed(f"the tunnel is not listening (see tunnel-{group}.err)")
        with socket.create_connection(("127.0.0.1", local), timeout=timeout) as s:
            if direction == "up":
                view = memoryview(payload)
                for i in range(0, len(view), 1 << 20):
                    s.sendall(view[i:i + (1 << 20)])
                s.shutdown(socket.SHUT_WR)
                while s.recv(65536):
                    pass
                return far_end_time()
            digest, n, buf = hashlib.sha256(), 0, bytearray(1 << 20)
            view = memoryview(buf)
            while True:
                k = s.recv_into(buf)
                if not k:
                    break
                digest.update(view[:k])
                n += k
            ended = time.time()
            if n != nbytes or digest.hexdigest() != expected:
                raise RunFailed(f"received {n} bytes, sha256 {digest.hexdigest()[:12]}…")
            return far_end_time(ended)
    try:
        rows.append(timed_case(group, f"berth tunnel --via ssm ({tunnel_kind})", args.ssm_runs,
                               through_tunnel, calls, nbytes))
    finally:
        if tunnel.poll() is None:
            tunnel.send_signal(signal.SIGINT)  # only the tunnel this row started
            try:
                tunnel.wait(10)
            except subprocess.TimeoutExpired:
                tunnel.kill()

    def minimal_once(paced):
        def once():
            far.clear()
            mode = (["upload", payload_file] if direction == "up" else ["download"])
            done = subprocess.run(minimal_cmd(*mode, "--port", str(remote), paced=paced),
                                  capture_output=True, timeout=timeout * 4)
            if done.returncode != 0:
                raise RunFailed(done.stderr.decode(errors="replace").strip()[-200:])
            out = json.loads(done.stdout)
            if direction == "down" and (out["bytes"] != nbytes or out["sha256"] != expected):
                raise RunFailed(f"received {out['bytes']} bytes, sha256 {out['sha256'][:12]}…")
            return far_end_time(out["end"])
        return once
    rows.append(timed_case(group, "minimal client, unpaced", args.ssm_runs, minimal_once(False),
                           calls, nbytes, cpu_of=lambda: cpu_seconds(standin_pid)))
    rows.append(timed_case(group, "minimal client, paced (1 ms after each message)", 1,
                           minimal_once(True), calls, nbytes))
    return rows


def ceiling(results):
    """The stand-in's own capacity: bytes it moved per CPU-second of its
    process in the minimal client's unpaced transfers (no delay). Below
    20 MB per CPU-second it could be what limits the rows, and the run
    fails."""
    rates, walls = [], []
    for direction in ("up", "down"):
        r = next((r for r in results if r.group == f"ssm-{direction}-0"
                  and r.name == "minimal client, unpaced"), None)
        if r is None or not r.ok or not r.cpu:
            return Case("ssm-ceiling", "stand-in capacity", [], 0, ok=False,
                        note=f"the stand-in's capacity was not measured ({direction})")
        rates.append((direction, r.nbytes / r.cpu / 1e6))
        walls.append((direction, r.rate))
    worst = min(rate for _, rate in rates)
    text = ", ".join(f"{d} {rate:.1f} MB per CPU-second (wall {w:.1f} MB/s)"
                     for (d, rate), (_, w) in zip(rates, walls))
    ok = worst >= 20
    note = (f"the stand-in moved {text}" if ok else
            f"the Session Manager stand-in cannot move 20 MB/s on its own: {text}")
    return Case("ssm-ceiling", "stand-in capacity", [worst], 0, ok=ok, note=note)


# ---------------------------------------------------------------- report
def ms(x):
    return f"{x * 1000:.0f}"


def verdict(ok):
    return "holds" if ok else "MISSED"


def report(args, results, run):
    lines = []
    out = lines.append
    if any(r.group == "connect" for r in results):
        targets = report_connect_listing_fleet(args, results, out, run)
    elif any(r.group.startswith("ls-") for r in results):
        targets = report_listing(args, results, out, run)
    else:
        targets = []
    if targets:
        out("### Targets\n")
        for text, ok, *why in targets:
            out(f"- {verdict(ok)}: {text}")
            if not ok and why and why[0]:
                out(f"  - why: {why[0]}")
        out("")
    ssm = ""
    if any(r.group.startswith("ssm-") for r in results):
        ssm_lines = []
        report_ssm(args, results, ssm_lines.append, run)
        ssm = "\n".join(ssm_lines)
    text = "\n".join(lines)
    print(text)
    print(ssm)
    connect = [r for r in results if r.group == "connect" and r.ok]
    if connect:
        write_chart(args, connect)
    write_doc(args, text, ssm, run)


def report_connect_listing_fleet(args, results, out, run):
    """The tables of the first three sections; returns their targets."""
    by = {r.name: r for r in results}
    lat = args.latency_ms / 1000
    bare = by["bare ssh to the known address"]
    berth_cold = by["berth ssh i-…, cold cache"]
    out("### Time to a remote command (`true` on one host)\n")
    out("| tool | median ms | spread (IQR) ms | AWS calls | round trips | × bare ssh | × berth (cold, i-…) |")
    out("| --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        if r.group != "connect":
            continue
        if not r.ok:
            out(f"| {r.name} | – | – | – | – | – | – |  {r.note}")
            continue
        trips = "" if r.round_trips is None else f"{r.round_trips:g}"
        out(f"| {r.name} | {ms(r.median)} | {ms(r.spread)} | {r.calls:g} | {trips} | "
            f"{r.median / bare.median:.2f} | {r.median / berth_cold.median:.2f} |"
            + (f" {r.note}" if r.note else ""))
    out("")
    listing_targets = report_listing(args, results, out, run)
    out("### Fleet: `true` on every host\n")
    out("| hosts | tool | median ms | spread ms | hosts/s | × parallel-ssh alike |")
    out("| --- | --- | --- | --- | --- | --- |")
    for n in (50, 200):
        rows = [r for r in results if r.group == f"fleet-{n}"]
        for r in rows:
            if not r.ok:
                out(f"| {n} | {r.name} | – | – | – | – | {r.note}")
                continue
            alike = fleet_alike(rows, r)
            x = f"{r.median / alike.median:.2f}" if alike and alike.ok else ""
            out(f"| {n} | {r.name} | {ms(r.median)} | {ms(r.spread)} | {n / r.median:.0f} | "
                f"{x} |" + (f" {r.note}" if r.note else ""))
    out("")
    out("### Start-up\n")
    out("| command | median ms | spread ms |")
    out("| --- | --- | --- |")
    for r in results:
        if r.group == "startup":
            out(f"| `{r.name}` | {r.median * 1000:.1f} | {r.spread * 1000:.1f} |")
    out("")

    targets = []
    when = (run.get("sections") or {}).get("connect") or run
    ids = berth_cold
    cluster = by["berth ssh prod/prod-al2023, cold cache"]
    warm = by["berth ssh i-…, warm cache"]
    cli = by["the AWS docs' procedure, scripted with the AWS CLI"]
    mssh = by.get("mssh (ec2instanceconnectcli)")
    targets.append((f"cold connect by id: at most 2 sequential AWS round trips ({ids.round_trips:g})",
                    ids.round_trips is not None and ids.round_trips <= 2))
    targets.append((f"cold connect by cluster: at most 3 round trips ({cluster.round_trips:g})",
                    cluster.round_trips is not None and cluster.round_trips <= 3))
    bound = bare.median + (ids.round_trips or 0) * lat + 0.050
    targets.append((f"cold connect by id within bare ssh + round trips × latency + 50 ms "
                    f"({ms(ids.median)} ≤ {ms(bound)} ms)", ids.median <= bound))
    targets.append((f"warm connect: zero AWS calls ({warm.calls:g})", warm.calls == 0))
    targets.append((f"warm connect within 1.1× bare ssh ({warm.median / bare.median:.2f}×)",
                    warm.median <= 1.1 * bare.median))
    # berth cannot beat bare ssh plus its round trips of injected latency.
    floor = bare.median + (ids.round_trips or 0) * lat

    def below_floor(share, tool):
        if share * tool.median >= floor:
            return ""
        return (f"{share:g}× of it is {ms(share * tool.median)} ms, below the floor of bare ssh "
                f"plus {ids.round_trips:g} round trips of injected latency ({ms(floor)} ms) "
                f"before berth does anything")
    targets.append((f"cold connect at most 0.15× the AWS CLI procedure "
                    f"({ids.median / cli.median:.2f}×)", ids.median <= 0.15 * cli.median,
                    below_floor(0.15, cli)))
    if mssh and mssh.ok:
        why = below_floor(0.3, mssh)
        targets.append((f"cold connect at most 0.3× mssh ({ids.median / mssh.median:.2f}×)",
                        ids.median <= 0.3 * mssh.median,
                        why and why + "; mssh is told the user (`ec2-user@i-…`) and so skips the "
                        "AMI lookup that is berth's second round trip"))
    else:
        targets.append(("cold connect at most 0.3× mssh (mssh did not run)", False))
    for n in (50, 200):
        rows = [r for r in results if r.group == f"fleet-{n}"]
        rows_by_group[f"fleet-{n}"] = rows
        for r in rows:
            if not r.name.startswith("berth"):
                continue
            alike = fleet_alike(rows, r)
            kind = "cold" if "cold" in r.name else "reusing connections"
            if not (r.ok and alike and alike.ok):
                targets.append((f"fleet of {n}, {kind}: at most 1.05× parallel-ssh alike "
                                f"(a row did not run)", False))
                continue
            x = r.median / alike.median
            targets.append((f"fleet of {n}, {kind}: at most 1.05× {alike.name} ({x:.2f}×)",
                            x <= 1.05, fleet_why(r, alike, lat, when) if x > 1.05 else ""))
    targets += listing_targets
    start = by["berth --version"]
    targets.append((f"start-up under 10 ms ({start.median * 1000:.1f} ms)", start.median < 0.010))
    return targets


SETSID_ROW = "(diagnosis) berth run with each ssh under setsid, as parallel-ssh"


def fleet_alike(rows, r):
    """The parallel-ssh row a berth row compares with: cold with cold,
    reusing connections with ControlMaster."""
    if not r.name.startswith(("berth", SETSID_ROW)):
        return None
    want = "ControlMaster" if "warm" in r.name else "cold"
    return next((p for p in rows if p.name.startswith("parallel-ssh") and want in p.name), None)


rows_by_group = {}


def fleet_why(r, alike, lat, when):
    """Why a fleet row misses, when its own figures or the build say."""
    trips = r.round_trips or 0
    resolve = trips * lat
    if r.median - resolve <= 1.05 * alike.median:
        return (f"berth resolves the hosts first ({trips:g} round trips, {ms(resolve)} ms of "
                f"injected latency) where parallel-ssh is given the addresses in a file; "
                f"without them berth is {(r.median - resolve) / alike.median:.2f}×")
    kind = r.name.split(", -j 32, ", 1)[1]
    n = r.group.split("-")[1]
    own = next((p for p in rows_by_group.get(r.group, [])
                if p.name == f"{SETSID_ROW}, {n} hosts, -j 32, {kind}" and p.ok), None)
    if own and own.median <= 1.05 * alike.median:
        return (f"parallel-ssh starts each ssh in a session of its own (setsid); with the "
                f"kernel's autogroup scheduling on a machine shared with other work its "
                f"32 ssh processes get 32 shares of the CPU against berth's one: the same berth "
                f"run with each ssh under setsid is {own.median / alike.median:.2f}× "
                f"(the diagnosis row). berth cannot start a session for its children without "
                f"unsafe code (the crate forbids it) or an extra program")
    if when.get("build") == "debug":
        return ("this run measured berth's debug build, on a machine shared with other "
                "builds; the cause is not yet found, nor the row measured with a release build")
    return ""


def report_listing(args, results, out, run):
    """The listing section on the recorded stand-in; returns its targets."""
    lat = args.latency_ms / 1000
    when = (run.get("sections") or {}).get("listing") or run
    sizes = sorted({int(r.group.split("-")[1]) for r in results if r.group.startswith("ls-")})
    out("### Listing container instances (recorded stand-in)\n")
    out(f"Measured {when['date']}, commit `{when['commit']}`, {when.get('build', 'release')} "
        f"build, {when['latency_ms']:g} ms per request.\n")
    out("| hosts | tool | median ms | spread ms | AWS calls | round trips | peak MB "
        "| stand-in busy ms | × limit | × AWS CLI |")
    out("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    targets = []
    for n in sizes:
        rows = [r for r in results if r.group == f"ls-{n}"]
        limit = (-(-n // 100) + 3) * lat
        berth = next((r for r in rows if r.name.startswith("berth")), None)
        cli = next((r for r in rows if r.name.startswith("AWS CLI")), None)
        out(f"| {n} | the limit: (⌈N/100⌉ + 3) round trips × {args.latency_ms:g} ms | "
            f"{ms(limit)} | | | {-(-n // 100) + 3} | | | 1.00 | |")
        for r in rows:
            if not r.ok:
                out(f"| {n} | {r.name} | – | – | {r.calls:g} | – | – | – | – | – | {r.note}")
                continue
            trips = "" if r.round_trips is None else f"{r.round_trips:g}"
            peak = "" if r.peak_mb is None else f"{r.peak_mb:.0f}"
            busy = r.upstream or 0
            valid = busy <= 0.05 * r.median
            x_cli = f"{r.median / cli.median:.2f}" if cli and cli.ok else "–"
            out(f"| {n} | {r.name} | {ms(r.median)} | {ms(r.spread)} | {r.calls:g} | {trips} | "
                f"{peak} | {ms(busy)} | {r.median / limit:.2f} | {x_cli} |"
                + ("" if valid else f" INVALID: the stand-in was busy {busy / r.median:.0%} "
                   "of the time")
                + (f" {r.note}" if r.note else ""))
        if n == max(sizes):
            if berth and berth.ok:
                x = berth.median / limit
                targets.append((f"ls of {n} hosts within 1.2× the limit ({x:.2f}×: "
                                f"{ms(berth.median)} against {ms(limit)} ms)", x <= 1.2,
                                slow_why(berth, limit, when)))
                if cli and cli.ok:
                    y = berth.median / cli.median
                    targets.append((f"ls of {n} hosts at most 0.2× the AWS CLI ({y:.2f}×)",
                                    y <= 0.2))
                targets.append((f"ls of {n} hosts: peak memory at most 100 MB "
                                f"({berth.peak_mb:.0f} MB)", berth.peak_mb <= 100))
            else:
                targets.append((f"ls of {n} hosts (berth's row failed)", False))
    out("")
    ssm = next((r for r in results if r.group == "runssm-1000"), None)
    if ssm:
        out("### `run --engine ssm` over 1,000 hosts (recorded stand-in)\n")
        out(f"Each simulated invocation ends {INVOCATION_SECONDS:g} s after it was sent.\n")
        out("| tool | time to the last result ms | spread ms | SendCommand | "
            "ListCommandInvocations | GetCommandInvocation | all AWS calls |")
        out("| --- | --- | --- | --- | --- | --- | --- |")
        ops = ssm.ops or {}
        if ssm.ok:
            out(f"| {ssm.name} | {ms(ssm.median)} | {ms(ssm.spread)} | "
                f"{ops.get('SendCommand', 0)} | {ops.get('ListCommandInvocations', 0)} | "
                f"{ops.get('GetCommandInvocation', 0)} | {ssm.calls:g} |")
        else:
            out(f"| {ssm.name} | – | – | – | – | – | – | {ssm.note}")
        out("")
        sends = ops.get("SendCommand")
        targets.append((f"run --engine ssm over 1,000 hosts: at most 20 SendCommand ({sends})",
                        bool(ssm.ok and sends is not None and sends <= 20)))
    return targets


def slow_why(berth, limit, when):
    """Why a listing misses the limit, when the build says."""
    if when.get("build") == "debug":
        return (f"this run measured the debug build (no release build could be made on this "
                f"machine in time): the {ms(berth.median - limit)} ms above the limit are not "
                f"latency but berth's own work, unoptimised in this build, the stand-in's (busy "
                f"{ms(berth.upstream or 0)} ms) and the load of a machine shared with other builds")
    return ""


def report_ssm(args, results, out, run):
    """The Session Manager section: ratios against the targets first, then
    the figures."""
    rows = [r for r in results if r.group.startswith("ssm-")]
    by = {(r.group, r.name): r for r in rows}
    when = (run.get("sections") or {}).get("ssm") or run
    nbytes = next((r.nbytes for r in rows if r.nbytes), None)
    out("## Session Manager\n")
    out(f"Measured {when['date']}, commit `{when['commit']}`, on {when['machine']}, "
        f"{when['latency_ms']:g} ms per AWS request; the data channel on loopback, plus "
        f"a one-way delay where a row says so.\n")
    out("### Against the targets\n")

    def ratio(a, b):
        return a / b if a and b and a.ok and b.ok else None
    prompt_berth = by.get(("ssm-prompt", "berth session i-…"))
    prompt_min = by.get(("ssm-prompt", "minimal client"))
    if prompt_berth and prompt_min and prompt_berth.ok and prompt_min.ok:
        x = prompt_berth.median / prompt_min.median
        out(f"- {verdict(x <= 1.1)}: time to a shell prompt at most 1.1× the minimal client's "
            f"({x:.2f}×: {ms(prompt_berth.median)} against {ms(prompt_min.median)} ms; "
            f"AWS calls before the prompt {prompt_berth.calls:g} against {prompt_min.calls:g})")
    else:
        out("- MISSED: time to a shell prompt (a row did not run: "
            f"{(prompt_berth and prompt_berth.note) or (prompt_min and prompt_min.note)})")
    for delay in (0, 20):
        for direction, word in (("up", "upload"), ("down", "download")):
            group = f"ssm-{direction}-{delay}"
            tool = next((r for r in rows if r.group == group and r.name.startswith("berth")), None)
            unpaced = by.get((group, "minimal client, unpaced"))
            paced = by.get((group, "minimal client, paced (1 ms after each message)"))
            where = f"{word}, {delay} ms one-way delay" if delay else f"{word}, no added delay"
            if not (tool and tool.ok):
                out(f"- MISSED: port forward {where}: berth's row failed "
                    f"({tool.note if tool else 'not run'})")
                continue
            for other, share, label in ((unpaced, 0.8, "the unpaced minimal client"),
                                        (paced, 20, "the paced one")):
                if not (other and other.ok):
                    out(f"- MISSED: port forward {where} at least {share:g}× {label} "
                        f"(its row failed: {other.note if other else 'not run'})")
                    continue
                x = tool.rate / other.rate
                out(f"- {verdict(x >= share)}: port forward {where} at least {share:g}× {label} "
                    f"({x:.2f}×: {tool.rate:.1f} against {other.rate:.2f} MB/s)")
                if x < share and other is paced and direction == "down":
                    out("  - why: the reference client paces what it sends, and a download "
                        "sends only acknowledgements, which it does not pace; against AWS the "
                        "agent paces its side too (1 ms a message), the stand-in does not, so "
                        "the paced client downloads as fast as the unpaced one here")
    ceiling_row = next((r for r in rows if r.group == "ssm-ceiling"), None)
    if ceiling_row:
        out(f"- {'holds' if ceiling_row.ok else 'FAILED'}: the stand-in moves at least 20 MB/s "
            f"on its own (gated on MB per CPU-second of its process): {ceiling_row.note}")
    ssh_berth = by.get(("ssm-ssh", "berth ssh i-… --via ssm -- true, warm cache"))
    ssh_min = by.get(("ssm-ssh", "ssh with the minimal client as ProxyCommand"))
    if ssh_berth and ssh_min and ssh_berth.ok and ssh_min.ok:
        out(f"- (no target) `ssh … true` over SSM: berth {ssh_berth.median / ssh_min.median:.2f}× "
            f"ssh with the minimal client as its ProxyCommand")
    out("")
    out("### Time to a shell prompt and to `ssh … true`\n")
    out("| measure | tool | median ms | spread ms | AWS calls | × minimal client |")
    out("| --- | --- | --- | --- | --- | --- |")
    for group, what in (("ssm-prompt", "first shell prompt"), ("ssm-ssh", "`ssh … true`")):
        base = [r for r in rows if r.group == group and "minimal" in r.name]
        base = base[0] if base and base[0].ok else None
        for r in rows:
            if r.group != group:
                continue
            if not r.ok:
                out(f"| {what} | {r.name} | – | – | {r.calls:g} | – | {r.note}")
                continue
            x = f"{r.median / base.median:.2f}" if base else "–"
            out(f"| {what} | {r.name} | {ms(r.median)} | {ms(r.spread)} | {r.calls:g} | {x} |"
                + (f" {r.note}" if r.note else ""))
    out("")
    size = f"{nbytes / 1e6:g} MB" if nbytes else "–"
    out(f"### Port forwarding, {size} each way, sha256 checked at the far end\n")
    out("| direction | one-way delay | tool | MB/s | median s | spread s | runs | stand-in CPU s "
        "| × minimal unpaced | × minimal paced |")
    out("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for delay in (0, 20):
        for direction in ("up", "down"):
            group = f"ssm-{direction}-{delay}"
            unpaced = by.get((group, "minimal client, unpaced"))
            paced = by.get((group, "minimal client, paced (1 ms after each message)"))
            for r in rows:
                if r.group != group:
                    continue
                if not r.ok:
                    out(f"| {direction} | {delay} ms | {r.name} | – | – | – | 0 | – | – | – | "
                        f"{r.note}")
                    continue
                xs = [f"{r.rate / b.rate:.2f}" if b and b.ok else "–" for b in (unpaced, paced)]
                cpu = f"{r.cpu:.2f}" if r.cpu is not None else ""
                out(f"| {direction} | {delay} ms | {r.name} | {r.rate:.2f} | {r.median:.2f} | "
                    f"{r.spread:.2f} | {len(r.times)} | {cpu} | {xs[0]} | {xs[1]} |"
                    + (f" {r.note}" if r.note else ""))
    out("")


def write_chart(args, rows):
    """A horizontal bar chart of the time to a remote command."""
    width, bar_left, row_h = 900, 380, 30
    top = 40
    height = top + row_h * len(rows) + 30
    most = max(r.median for r in rows)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="13">',
             f'<text x="10" y="22" font-size="15" font-weight="bold">Time to a remote command '
             f'(median, ms; {args.latency_ms:g} ms injected per AWS request)</text>']
    for i, r in enumerate(rows):
        y = top + i * row_h
        w = (width - bar_left - 80) * r.median / most
        colour = "#2b7bb9" if r.name.startswith("berth") else "#999999"
        parts.append(f'<text x="{bar_left - 8}" y="{y + 18}" text-anchor="end">'
                     f'{r.name.replace("&", "&amp;").replace("<", "&lt;")}</text>')
        parts.append(f'<rect x="{bar_left}" y="{y + 4}" width="{w:.1f}" height="{row_h - 10}" '
                     f'fill="{colour}"/>')
        parts.append(f'<text x="{bar_left + w + 6:.1f}" y="{y + 18}">{ms(r.median)}</text>')
    parts.append("</svg>")
    with open(os.path.join(args.out, "bench-connect.svg"), "w") as f:
        f.write("\n".join(parts) + "\n")


def write_doc(args, tables, ssm, run):
    first = (run.get("sections") or {}).get("connect") or run
    doc = f"""# Benchmarks

berth against the tools operators use today, on the same emulated AWS and
hosts, measured in one run by `scripts/bench` (see below). Every AWS request
goes through a proxy that delays it by {args.latency_ms:g} ms, as a real region's
round trip would; the hosts are real sshd on loopback. Times are medians over
several runs, with the interquartile range as the spread (the full range when
there are fewer than four runs); read them as ratios within this run.

Latest run: {first["date"]}, commit `{first["commit"]}`, {first.get("build", "release")} build,
on {first["machine"]}; every run's times are in `docs/bench-results.json`.
berth is the release build (`cargo build --release`), as `cargo install`
builds it for users, unless a section says otherwise.

![Time to a remote command](bench-connect.svg)

{tables}
## What is measured

- **Time to a remote command**: `true` on one sandbox host (prod-al2023, private
  address). *bare ssh* is the floor: ssh to the address, no AWS at all. *berth*
  runs `berth ssh TARGET --via private -- true`; a cold cache is an empty
  `XDG_CACHE_HOME`, a warm one is berth's cache after one run. Both keep the
  host key berth pinned on its first contact (its state, not its cache): the
  very first contact with an instance also reads its console output, beside
  the first call, so it makes one call more in the same round trips (the
  integration tests hold that count). *The AWS docs'
  procedure* is the console steps scripted with the AWS CLI (awscli from the
  Python package registry): `aws ecs describe-container-instances`, `aws ec2
  describe-instances`, `aws ec2 describe-images`, then ssh. *mssh* is
  ec2instanceconnectcli's `mssh`, which pushes a key with EC2 Instance Connect
  (the sandbox serves it to sshd) and runs ssh. AWS calls are the proxy's count
  of requests; round trips are berth's own `--stats` (sequential calls on the
  critical path).
- **Listing**: `berth ls CLUSTER` of clusters of 100, 1,000 and 5,000
  container instances on the *recorded stand-in*
  (`tests/support/recorded_aws.py`): the bench builds the clusters in moto
  with the sandbox's own builder, records what moto answers (every page of
  ListContainerInstances at ECS's 100 a page, DescribeContainerInstances
  100 ARNs a call, DescribeInstances 1,000 ids a call, DescribeImages,
  DescribeInstanceInformation 50 ids a call) into its scratch directory,
  then serves it from memory with the same latency per request, so that
  the time is the tool's own work and its round trips, not moto's. Against
  it: the AWS CLI making the same calls and joins (a shell pipeline of `aws`
  commands), and *the limit*, the round trips the API forces ((⌈N/100⌉
  + 3): every page in turn, then a describe, DescribeInstances and one
  more) times the latency. *Stand-in busy* is the time the stand-in spent
  on the tool's requests itself (without the injected latency); a row
  where that exceeds 5% of the tool's time is marked INVALID. *Peak MB* is
  the tool's maximum resident memory. AWS calls are the stand-in's count
  of requests, round trips berth's own `--stats`.
- **`run --engine ssm`** over the recorded 1,000-host cluster: the stand-in
  simulates Run Command (each invocation ends a fixed time after it was
  sent); time to the last result and the calls per operation.
- **Fleet**: `true` on 50 and 200 healthy hosts at the same parallelism
  (32): `berth run CLUSTER -j 32`, cold (no shared connection yet) against
  Debian's `parallel-ssh -p 32`, also cold; and berth reusing connections
  (the ControlMaster connections of the run before) against parallel-ssh
  given the same ControlMaster options (`ControlMaster=auto`, a private
  `ControlPath`, `ControlPersist=60`) after a run of its own. berth's time
  includes resolving the hosts at the injected latency; parallel-ssh is
  given the addresses in a file. A sequential ssh loop for scale.
- **Start-up**: `berth --version` and `berth --help`.

## Reproduce

    scripts/bench                 # as root: sandbox sshd on 127.X.0.N
    scripts/bench --latency-ms 80 --runs 11
    scripts/bench --report-only   # rewrite this page from docs/bench-results.json
    scripts/bench --only ssm      # one section (connect, listing, ssm), the others' rows kept

`scripts/bench` installs what it compares (Debian's `pssh`; `awscli` and
`ec2instanceconnectcli` into `.venv-bench`), builds berth and the minimal
Session Manager client, starts the sandbox
with a 202-host fleet for the connect and fleet rows, records clusters of
{run.get("sizes", args.sizes)} container instances (and 1,000 for `run --engine ssm`)
for the listing rows (several minutes for 5,000: moto builds and describes
them slowly; that is the recording's cost, not the rows'), then starts a
sandbox for the Session Manager rows (below), prints the tables and
rewrites this file and `docs/bench-connect.svg`.
`BERTH_BENCH_BUILD=debug scripts/bench …` measures the debug build instead
of the release build (for working on the bench; the report says which). A tool that cannot be installed is reported as such
in its row; nothing is skipped silently.
"""
    if ssm:
        doc += "\n" + ssm + SSM_METHOD
    with open(os.path.join(args.out, "benchmarks.md"), "w") as f:
        f.write(doc)


SSM_METHOD = """
### What is measured

berth's own Session Manager client against a **minimal protocol client**
(`examples/ssm_minimal.rs`, built with berth in release mode but sharing none
of its code: its own frame encoder and decoder, acknowledgements, smux SYN,
PSH and FIN, no resend timer, no resume, no buffering beyond putting
messages back in order), both against the same Session Manager stand-in
(`tests/support/ssm_standin.py`, which does not pace its sends) in the same
run. Every AWS request, SSM's included, goes through the latency proxy; the
websocket does not. Each message the minimal client sends carries at most
1,024 bytes; *unpaced* sends them as fast as the socket takes them, *paced*
sleeps 1 ms after each data message, as the reference client
(session-manager-plugin) does. Pacing applies to what a client sends, so
it slows uploads; on a download the paced client only acknowledges, which
the reference client does not pace either.

- **Time to a shell prompt**: `berth session i-…` and `ssm_minimal shell`,
  each on a new pseudo-terminal, from start to the first appearance of the
  stand-in shell's prompt (`PS1`) on the terminal; then `exit`. The
  minimal client makes one AWS call (StartSession); the AWS calls column
  counts the calls each made before its prompt appeared. One unmeasured
  run first.
- **`ssh … true`**: `berth ssh i-… --via ssm -- true` (ssh with `berth proxy
  --via ssm` as its ProxyCommand over AWS-StartSSHSession, to the sandbox
  host's sshd; after one unmeasured run that pins the host key), against
  the sandbox's ssh with `ssm_minimal proxy` as its ProxyCommand.
- **Port forwarding**: a 100 MB random payload to a sink that hashes it
  (up) and from a source that sends it (down), both on 127.0.0.1 behind
  the stand-in's agent; the sha256 is checked at the receiving end. berth
  is `berth tunnel i-… --via ssm LOCAL:PORT` (which of its two ways the
  row names), started once per row, with a client that writes or reads
  through its local port; the minimal client sources or sinks the bytes
  itself, without a local socket. Time runs from the far end's accepting
  the connection (the agent dialled it) to the last byte the receiving
  end got: the sink's (up; its sha256 is checked at its end of stream),
  the receiving client's (down). The end of stream itself is not timed:
  after the local client's EOF, berth keeps the smux stream open while
  the far side is quiet for 2 s (smux v1 cannot half-close, and closing at
  once would cut off a reply), so an upload's close reaches the sink 2 s
  after its last byte; the minimal client closes at once. Then the same with
  `data_delay_ms: 20` on the stand-in: every data-channel frame waits
  20 ms each way. The paced client's rows run once (each takes about
  100 s up).
- **The stand-in's capacity**: its process's CPU seconds (from `/proc`)
  during the unpaced minimal client's transfers without delay. If it moves
  less than 20 MB per CPU-second in either direction, the run fails and
  says so: it could then be what limits the rows. Wall-clock MB/s is shown
  beside it; on a shared machine the clients and the stand-in compete for
  the same CPUs, so the CPU figure is the one that gates.

### Reproduce

    scripts/bench --only ssm                    # as root; this section alone (~10 min)
    scripts/bench --only ssm --ssm-mb 20 --runs 3 --ssm-runs 2   # a quick look

`--only` keeps the other sections' rows from `docs/bench-results.json` and
rewrites this page; a full `scripts/bench` measures everything.
"""


if __name__ == "__main__":
    main()
