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
import http.client
import http.server
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
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
                 upstream=None):
        self.group, self.name, self.times, self.calls = group, name, times, calls
        self.round_trips, self.note, self.ok = round_trips, note, ok
        # Median seconds the AWS stand-in itself was busy per run.
        self.upstream = upstream

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
    args = ap.parse_args()
    saved = os.path.join(args.out, "bench-results.json")
    if args.report_only:
        with open(saved) as f:
            run = json.load(f)
        args.latency_ms, args.sizes = run["latency_ms"], run["sizes"]
        report(args, [Case(**c) for c in run["results"]], run)
        return
    sizes = [int(n) for n in args.sizes.split(",")]
    # Two sandboxes, one after the other: moto answers a filtered
    # DescribeInstances by scanning every instance of the region, so the
    # thousands of listing instances would slow the connect rows down for
    # reasons that are moto's, not the tools'.
    results = with_sandbox(args, ["--fleet-size", "202"],
                           lambda *a: connect_and_fleet(args, *a))
    results += with_sandbox(args, ["--bench-instances", args.sizes],
                            lambda *a: listing(args, *a, sizes))
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    run = {
        "date": datetime.date.today().isoformat(), "commit": commit,
        "machine": (f"{os.cpu_count()} CPUs, {mem:.0f} GiB, {platform.system()} "
                    f"{platform.release()}, Python {platform.python_version()}"),
        "latency_ms": args.latency_ms, "sizes": args.sizes,
        "results": [vars(r) for r in results],
    }
    # Every run's times, so the report can be checked and rewritten.
    with open(saved, "w") as f:
        json.dump(run, f, indent=1, ensure_ascii=False)
        f.write("\n")
    report(args, results, run)


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
        env.pop("XDG_RUNTIME_DIR", None)
        pssh = shutil.which("parallel-ssh") or shutil.which("pssh")
        if pssh:
            results.append(measure(proxy, f"fleet-{n}", f"parallel-ssh, {n} hosts, -p 32", [
                pssh, "-h", hosts_file, "-p", "32", "-l", "ec2-user", "-t", "60",
                "-x", f"-i {key} -o IdentitiesOnly=yes -o BatchMode=yes",
                "true"], env, 3))
        else:
            results.append(Case(f"fleet-{n}", f"parallel-ssh, {n} hosts, -p 32", [], 0,
                                note="not installed", ok=False))
        loop = (f"while read -r ip; do {ssh} -i {key} -o IdentitiesOnly=yes -o BatchMode=yes "
                f"ec2-user@$ip true < /dev/null || exit 1; done < {hosts_file}")
        results.append(measure(proxy, f"fleet-{n}", f"sequential ssh loop, {n} hosts",
                               loop, env, 1, shell=True))

    print("start-up", file=sys.stderr)
    for flag in ("--version", "--help"):
        results.append(measure(proxy, "startup", f"berth {flag}", [berth, flag], env, 20))
    return results


def listing(args, sb, endpoint, proxy, work, env, sizes):
    env.pop("BERTH_BENCH_KEY")
    berth = args.berth
    results = []

    def fresh_cache():
        env["XDG_CACHE_HOME"] = tempfile.mkdtemp(dir=work, prefix="cache-")

    print("listing", file=sys.stderr)
    for n in sizes:
        cluster = f"bench-{n}" if len(sizes) > 1 else "bench"
        few = 3 if n <= 1000 else 2
        # moto takes longer than berth's default 20 s per attempt to answer
        # about thousands of instances (see docs/benchmarks.md).
        results.append(measure(proxy, f"ls-{n}", f"berth ls {cluster}",
                               [berth, "--stats", "--aws-timeout", "5m", "ls", cluster],
                               env, few, prepare=fresh_cache))
        pipeline = f"""
set -e
aws ecs list-container-instances --cluster {cluster} --query 'containerInstanceArns[]' --output text \
  | tr '\\t' '\\n' > "$TMPDIR/arns"
split -l 100 "$TMPDIR/arns" "$TMPDIR/batch."
for b in "$TMPDIR"/batch.*; do
  aws ecs describe-container-instances --cluster {cluster} --container-instances $(cat "$b") \
    --query 'containerInstances[].ec2InstanceId' --output text
done | tr '\\t' '\\n' > "$TMPDIR/ids"
split -l 1000 "$TMPDIR/ids" "$TMPDIR/ids."
for b in "$TMPDIR"/ids.*; do
  aws ec2 describe-instances --instance-ids $(cat "$b") \
    --query 'Reservations[].Instances[].[InstanceId,PrivateIpAddress,ImageId]' --output text
done > /dev/null
rm -f "$TMPDIR"/batch.* "$TMPDIR"/ids.* "$TMPDIR/arns"
"""
        cli_env = dict(env, TMPDIR=tempfile.mkdtemp(dir=work))
        results.append(measure(proxy, f"ls-{n}", "AWS CLI: list, describe container instances, "
                               "describe instances", pipeline, cli_env, few, shell=True))

    return results


# ---------------------------------------------------------------- report
def ms(x):
    return f"{x * 1000:.0f}"


def report(args, results, run):
    by = {r.name: r for r in results}
    lat = args.latency_ms / 1000
    lines = []
    out = lines.append
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
    out("### Listing container instances\n")
    out("| cluster size | tool | median ms | spread ms | AWS calls | stand-in busy ms | × berth |")
    out("| --- | --- | --- | --- | --- | --- | --- |")
    sizes = sorted({int(r.group.split("-")[1]) for r in results if r.group.startswith("ls-")})
    for n in sizes:
        rows = [r for r in results if r.group == f"ls-{n}"]
        base = rows[0]
        for r in rows:
            if not r.ok:
                out(f"| {n} | {r.name} | – | – | {r.calls:g} | – | – | {r.note}")
                continue
            ratio = f"{r.median / base.median:.2f}" if base.ok else "–"
            out(f"| {n} | {r.name} | {ms(r.median)} | {ms(r.spread)} | {r.calls:g} | "
                f"{ms(r.upstream)} | {ratio} |" + (f" {r.note}" if r.note else ""))
    out("")
    out("### Fleet: `true` on every host\n")
    out("| hosts | tool | median ms | spread ms | hosts/s | × berth (warm) |")
    out("| --- | --- | --- | --- | --- | --- |")
    for n in (50, 200):
        rows = [r for r in results if r.group == f"fleet-{n}"]
        warm = next(r for r in rows if "warm" in r.name)
        for r in rows:
            if not r.ok:
                out(f"| {n} | {r.name} | – | – | – | – | {r.note}")
                continue
            out(f"| {n} | {r.name} | {ms(r.median)} | {ms(r.spread)} | {n / r.median:.0f} | "
                f"{r.median / warm.median:.2f} |" + (f" {r.note}" if r.note else ""))
    out("")
    out("### Start-up\n")
    out("| command | median ms | spread ms |")
    out("| --- | --- | --- |")
    for r in results:
        if r.group == "startup":
            out(f"| `{r.name}` | {r.median * 1000:.1f} | {r.spread * 1000:.1f} |")
    out("")

    # targets
    def verdict(ok):
        return "holds" if ok else "MISSED"
    targets = []
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
    big = max(sizes)
    rows = [r for r in results if r.group == f"ls-{big}"]
    if rows[0].ok and rows[1].ok:
        own = [max(r.median - (r.upstream or 0), 0) for r in rows[:2]]
        targets.append((f"listing {big} instances at most 0.2× the AWS CLI pipeline "
                        f"({rows[0].median / rows[1].median:.2f}×)",
                        rows[0].median <= 0.2 * rows[1].median,
                        f"the AWS stand-in itself was busy {rows[0].upstream:.1f} s of berth's "
                        f"{rows[0].median:.1f} s (about {rows[0].upstream * 1000 / big:.0f} ms "
                        f"per instance: moto answers in one Python process and renders every "
                        f"instance of DescribeInstances, work a region spreads over many "
                        f"machines) and {rows[1].upstream:.1f} s of the CLI's "
                        f"{rows[1].median:.1f} s; outside the stand-in berth took {own[0]:.1f} s "
                        f"and the CLI {own[1]:.1f} s ({own[0] / own[1]:.2f}×)"
                        if rows[0].upstream and rows[1].upstream and own[1] else ""))
    else:
        failed = " and ".join(r.name for r in rows[:2] if not r.ok)
        targets.append((f"listing {big} instances at most 0.2× the AWS CLI pipeline "
                        f"({failed} did not finish)", False))
    for n in (50, 200):
        rows = [r for r in results if r.group == f"fleet-{n}"]
        warm_run = next(r for r in rows if "warm" in r.name)
        pssh = next((r for r in rows if r.name.startswith("parallel-ssh")), None)
        if pssh and pssh.ok:
            targets.append((f"fleet of {n}: throughput at least 1.5× parallel-ssh "
                            f"({pssh.median / warm_run.median:.2f}×)",
                            pssh.median >= 1.5 * warm_run.median))
    start = by["berth --version"]
    targets.append((f"start-up under 10 ms ({start.median * 1000:.1f} ms)", start.median < 0.010))
    out("### Targets\n")
    for text, ok, *why in targets:
        out(f"- {verdict(ok)}: {text}")
        if not ok and why and why[0]:
            out(f"  - why: {why[0]}")
    out("")
    text = "\n".join(lines)
    print(text)
    write_chart(args, [r for r in results if r.group == "connect" and r.ok])
    write_doc(args, text, run)


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


def write_doc(args, tables, run):
    doc = f"""# Benchmarks

berth against the tools operators use today, on the same emulated AWS and
hosts, measured in one run by `scripts/bench` (see below). Every AWS request
goes through a proxy that delays it by {args.latency_ms:g} ms, as a real region's
round trip would; the hosts are real sshd on loopback. Times are medians over
several runs, with the interquartile range as the spread (the full range when
there are fewer than four runs); read them as ratios within this run.

Latest run: {run["date"]}, commit `{run["commit"]}`, on {run["machine"]}; every
run's times are in `docs/bench-results.json`.
berth is the release build (`cargo build --release`), as `cargo install`
builds it for users.

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
- **Listing**: `berth ls CLUSTER` against the AWS CLI pipeline that lists the
  container instances and describes them and their EC2 instances, at each
  cluster size. *Stand-in busy* is the time during which the AWS stand-in
  (moto) had at least one of the tool's requests in hand, measured by the
  proxy: the part of the wall time that is the emulator's own work, which
  both tools pay, and which a real region does on many machines at once.
- **Fleet**: `true` on 50 and 200 healthy hosts: `berth run CLUSTER -j 32`, cold
  (no shared connection yet) and warm (the ControlMaster connections of the run
  before), Debian's `parallel-ssh -p 32`, and a sequential ssh loop. A cold
  run and parallel-ssh both open a new ssh connection per host, so both are
  bound by the key exchanges this machine's CPUs can do at once; the warm
  run opens none.
- **Start-up**: `berth --version` and `berth --help`.

## Reproduce

    scripts/bench                 # as root: sandbox sshd on 127.X.0.N
    scripts/bench --latency-ms 80 --runs 11
    scripts/bench --report-only   # rewrite this page from docs/bench-results.json

`scripts/bench` installs what it compares (Debian's `pssh`; `awscli` and
`ec2instanceconnectcli` into `.venv-bench`), builds berth, starts the sandbox
with a 202-host fleet for the connect and fleet rows, then another with clusters
of {args.sizes} container instances for the listing rows (moto answers a
filtered DescribeInstances by scanning every instance of the region, so the
listing clusters would slow the other rows down for moto's reasons), runs
everything above, prints the tables and rewrites this file and
`docs/bench-connect.svg`. A tool that cannot be installed is reported as such
in its row; nothing is skipped silently.
"""
    with open(os.path.join(args.out, "benchmarks.md"), "w") as f:
        f.write(doc)


if __name__ == "__main__":
    main()
