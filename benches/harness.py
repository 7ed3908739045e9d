#!/usr/bin/env python3
"""Runs the benchmark scenarios for hbk, restic and rustic and prints the table.

Called by benches/run.sh, which installs the tools first. For each selected
scenario it generates (once, cached in the work directory) a deterministic
dataset, then runs every step for every tool interleaved (backup for all
tools, then the no-op incremental for all, then the restore for all) so
background noise hits all tools alike. Each measured step starts with the
page cache dropped and runs under GNU time (wall, user + system CPU, peak
RSS). Remote steps go through benches/latency_proxy.py, started per step, so
its request and byte counts belong to that step alone. Every restore goes
into a freshly made ext4 file system (benches/freshfs.py) and is compared
with the source.

Scenarios: mixed (~1.7 GiB of mixed homelab data, local repository), tiny
(200,000 tiny files, local repository, plus `tar x` as a reference), rest
(~440 MB over `rclone serve restic` behind the proxy), s3 (the same over
moto's S3 server; rustic through a profile file with opendal's S3 options);
with --scale-case also scale: a 1-million-file tree (backup and no-op) and a
repository whose index holds 5 million blobs, written by benches/scale-repo
(`hbk-scale-repo`): each tool backs up a tiny directory into it and into an
empty repository; the difference is the cost of loading the index (wall
time, and peak RSS per indexed blob). `--scale-case index` (or `tree`) runs
one half only.
"""
import argparse
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import freshfs  # noqa: E402
import report  # noqa: E402

MB = 1e6
TOOLS = ("hbk", "restic", "rustic")
SCENARIOS = ("mixed", "tiny", "rest", "s3", "mount")
# The mount scenario reads one file of this many bytes (times --size-factor).
MOUNT_FILE_BYTES = 1 << 30
# Dataset scale per scenario at --size-factor 1 (see gen_dataset.py).
MIXED_SCALE = 1.14  # ~1.7 GiB
REST_SCALE = 0.3  # ~440 MB of the vm and pbs parts
REST_PARTS = "vm,pbs"
# The scale case's source tree: the tiny tree five times over (1M files).
SCALE_FILES_FACTOR = 5
# The scale case's index: data blobs in the generated repository.
INDEX_BLOBS = 5_000_000
SCALE_PARTS = ("tree", "index")
DELAY_MS = 15.0
S3_ENV = {
    # moto accepts any key; without one the tools would ask EC2's metadata.
    "AWS_ACCESS_KEY_ID": "hbk-bench-key",
    "AWS_SECRET_ACCESS_KEY": "hbk-bench-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}
# Variables of the caller's environment that would change what a tool does.
SCRUB = (
    "RESTIC_REPOSITORY",
    "RESTIC_PASSWORD",
    "RESTIC_PASSWORD_COMMAND",
    "HBK_REPOSITORY",
    "HBK_PASSWORD",
    "HBK_PASSWORD_COMMAND",
    "RUSTIC_REPOSITORY",
    "RUSTIC_PASSWORD",
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT",
    "AWS_ENDPOINT_URL",
)


@dataclass
class Result:
    """One measured step of one tool (one repetition)."""

    scenario: str
    step: str
    tool: str
    wall: float = 0.0
    cpu: float = 0.0
    rss_kib: int = 0
    ok: bool = True
    note: str = ""
    requests: int | None = None
    methods: dict = field(default_factory=dict)
    bytes_up: int | None = None
    bytes_down: int | None = None
    proxy_cpu: float | None = None


def proc_cpu(pid):
    """User + system CPU seconds of a running process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_hwm_kib(pid):
    """Peak resident set of a running process, in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


class Bench:
    """The state of one benchmark run: tools, work directory, results."""

    def __init__(self, args):
        self.args = args
        self.work = os.path.abspath(args.work)
        os.makedirs(self.work, exist_ok=True)
        self.tools = [t for t in TOOLS if t in args.tools.split(",")]
        self.bins = {"hbk": args.hbk, "restic": args.restic, "rustic": args.rustic}
        for tool in list(self.tools):
            if not shutil.which(self.bins[tool]):
                log(f"warning: {tool} not found at {self.bins[tool]!r}; its cells stay empty")
                self.tools.remove(tool)
        self.venv = args.venv
        self.results = []
        self.index_blobs = None
        self.datasets = {}
        self.scenario_data = {}
        # rustic reaches S3 only through a profile file (opendal options);
        # its text, with {PORT} for the port of the step.
        self.profiles = {}
        self.pass_file = os.path.join(self.work, "pass")
        with open(self.pass_file, "w") as f:
            f.write("bench\n")
        self.env = {k: v for k, v in os.environ.items() if k not in SCRUB}
        self.env.update(
            RESTIC_PASSWORD_FILE=self.pass_file,
            RUSTIC_PASSWORD_FILE=self.pass_file,
            HBK_PASSWORD_FILE=self.pass_file,
        )
        self.warned_drop = False
        self.logs = os.path.join(self.work, "logs")
        os.makedirs(self.logs, exist_ok=True)

    # ----- datasets -------------------------------------------------------

    def dataset(self, mode, scale, parts=None):
        """Generates (once) and returns the path of a dataset."""
        name = f"data-{mode}-{scale:g}" + (f"-{parts.replace(',', '-')}" if parts else "")
        path = os.path.join(self.work, name)

        def make():
            log(f"generating {mode} dataset at scale {scale:g} in {path}")
            subprocess.run(
                [sys.executable, os.path.join(HERE, "gen_dataset.py"), path]
                + ["--mode", mode, "--scale", f"{scale:g}"]
                + (["--parts", parts] if parts else []),
                check=True,
            )

        generated_once(path, file_hash(os.path.join(HERE, "gen_dataset.py")), make)
        if path not in self.datasets:
            self.datasets[path] = freshfs.tree_stats(path)
        return path

    # ----- measuring --------------------------------------------------------

    def drop_caches(self):
        """Writes back and drops the page cache, so each step reads from disk."""
        subprocess.run(["sync"], check=False)
        try:
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("3\n")
        except OSError as e:
            if not self.warned_drop:
                log(f"warning: cannot drop the page cache ({e}); timings include warm caches")
                self.warned_drop = True

    def measure(self, res, argv, env=None, proxy=None):
        """Runs argv under GNU time into res; with a proxy, also its counts."""
        name = f"{res.scenario}-{res.step}-{res.tool}"
        logf = os.path.join(self.logs, name + ".log")
        timef = os.path.join(self.work, "time.out")
        if os.path.exists(timef):
            os.remove(timef)  # never read the figures of an earlier step
        self.drop_caches()
        counts = None
        p = None
        if proxy is not None:
            p, port = proxy.start()
            argv = self.at_port(argv, port)
        try:
            with open(logf, "w") as out:
                out.write(" ".join(argv) + "\n")
                out.flush()
                rc = subprocess.run(
                    ["/usr/bin/time", "-f", "%e %U %S %M", "-o", timef] + argv,
                    env=env or self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                ).returncode
        finally:
            if p is not None:
                counts = proxy.stop(p)
        try:
            with open(timef) as f:
                last = f.read().strip().splitlines()[-1]
            wall, user, sys_, rss = last.split()
            res.wall, res.cpu, res.rss_kib = float(wall), float(user) + float(sys_), int(rss)
        except (OSError, IndexError, ValueError):
            res.ok = False
        if rc != 0:
            res.ok = False
            res.note = f"exit {rc}, see {logf}"
            log(f"FAILED: {name} (exit {rc}); last lines of {logf}:")
            with open(logf, errors="replace") as f:
                sys.stderr.write("".join(f.readlines()[-15:]))
        if counts is not None:
            res.requests = counts["requests"]
            res.methods = counts["methods"]
            res.bytes_up = counts["bytes_up"]
            res.bytes_down = counts["bytes_down"]
            res.proxy_cpu = counts.get("cpu_seconds")
        self.results.append(res)
        log(
            f"{name}: {res.wall:.2f} s wall, {res.cpu:.2f} s CPU, {res.rss_kib / 1024:.0f} MiB"
            + (f", {res.requests} requests" if res.requests is not None else "")
            + ("" if res.ok else " (FAILED)")
        )
        return res

    # ----- commands ---------------------------------------------------------

    def at_port(self, argv, port):
        """argv for a server reached at port: fills in {PORT}, writes profiles."""
        for a in argv:
            if a in self.profiles:
                with open(a, "w") as f:
                    f.write(self.profiles[a].replace("{PORT}", str(port)))
        return [a.replace("{PORT}", str(port)) for a in argv]

    def rustic_s3_profile(self, bucket):
        """A rustic profile reaching bucket on moto through {PORT}."""
        path = os.path.join(self.work, f"rustic-{bucket}.toml")
        self.profiles[path] = (
            '[repository]\nrepository = "opendal:s3"\n[repository.options]\n'
            f'bucket = "{bucket}"\nroot = "/"\nendpoint = "http://127.0.0.1:{{PORT}}"\n'
            f'region = "{S3_ENV["AWS_DEFAULT_REGION"]}"\n'
            f'access_key_id = "{S3_ENV["AWS_ACCESS_KEY_ID"]}"\n'
            f'secret_access_key = "{S3_ENV["AWS_SECRET_ACCESS_KEY"]}"\n'
        )
        return path

    def command(self, tool, repo, cache, *args):
        """The argv of `tool` on `repo`; cache is a directory or None (no cache)."""
        if repo in self.profiles:
            argv = [self.bins[tool], "-P", repo]
        else:
            argv = [self.bins[tool], "-r", repo]
        argv += ["--no-cache"] if cache is None else ["--cache-dir", cache]
        if tool == "rustic":
            argv.append("--no-progress")
        else:
            argv.append("-q")
        return argv + list(args)

    def init(self, argv, env):
        """Creates a repository (not measured) with the argv of an init."""
        r = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True)
        if r.returncode != 0:
            log(f"init failed: {' '.join(argv)}\n{r.stdout.decode()}{r.stderr.decode()}")
        return r.returncode == 0

    def restore_argv(self, tool, repo, cache, target):
        """The argv restoring the latest snapshot into target."""
        if tool == "rustic":
            return self.command(tool, repo, cache, "restore", "latest", target)
        return self.command(tool, repo, cache, "restore", "latest", "--target", target)

    # ----- scenarios --------------------------------------------------------

    def run_local(self, scenario, data, restore=True):
        """backup / no-op / restore (unless not asked) on local repositories."""
        repos = {}
        caches = {t: os.path.join(self.work, "cache", scenario, t) for t in self.tools}
        for rep in range(self.args.repeat):
            for tool in self.tools:
                repo = os.path.join(self.work, "repos", f"{scenario}-{tool}")
                shutil.rmtree(repo, ignore_errors=True)
                shutil.rmtree(caches[tool], ignore_errors=True)
                os.makedirs(os.path.dirname(repo), exist_ok=True)
                res = Result(scenario, "backup", tool)
                if not self.init(self.command(tool, repo, None, "init"), self.env):
                    res.ok, res.note = False, "init failed"
                    self.results.append(res)
                    continue
                repos[tool] = repo
                self.measure(res, self.command(tool, repo, caches[tool], "backup", data))
                if res.ok and not res.note:
                    res.note = f"repository {freshfs.tree_bytes(repo) / 1e6:.0f} MB"
        for rep in range(self.args.repeat):
            for tool in repos:
                argv = self.command(tool, repos[tool], caches[tool], "backup", data)
                self.measure(Result(scenario, "noop", tool), argv)
        if not restore:
            return
        tar = None
        if scenario == "tiny":
            tar = os.path.join(self.work, f"{os.path.basename(data)}.tar")
            if not os.path.exists(tar):
                subprocess.run(["tar", "cf", tar + ".tmp", "-C", data, "."], check=True)
                os.replace(tar + ".tmp", tar)
        for rep in range(self.args.repeat):
            for tool in repos:
                self.restore(scenario, tool, data, repos[tool], caches[tool], self.env)
            if tar:
                self.tar_reference(scenario, data, tar)

    def restore(self, scenario, tool, data, repo, cache, env, proxy=None):
        """One measured restore into a fresh file system, then verified."""
        stats = self.datasets[data]
        with freshfs.FreshFs(self.work, stats) as mnt:
            target = os.path.join(mnt, "restore")
            res = Result(scenario, "restore", tool)
            self.measure(res, self.restore_argv(tool, repo, cache, target), env, proxy)
            if res.ok:
                self.verify(res, data, target)

    def tar_reference(self, scenario, data, tar):
        """`tar x` of the same tree into a fresh file system: the floor."""
        with freshfs.FreshFs(self.work, self.datasets[data]) as mnt:
            res = Result(scenario, "restore", "tar")
            self.measure(res, ["tar", "xf", tar, "-C", mnt])

    def verify(self, res, data, target):
        """Compares a restore with its source; a difference marks the result."""
        inner = target + data
        root = inner if os.path.isdir(inner) else target
        r = subprocess.run(["diff", "-rq", data, root], capture_output=True, text=True)
        if r.returncode != 0:
            lines = (r.stdout + r.stderr).splitlines()
            res.note = f"restore differs from the source ({len(lines)} differences)"
            log(f"WARNING: {res.scenario} {res.tool}: {res.note}, e.g. {lines[:3]}")

    def index_repo(self, blobs):
        """Generates (once) the scale case's repository of `blobs` indexed blobs."""
        path = os.path.join(self.work, f"index-repo-{blobs}")

        def make():
            log(f"generating a repository of {blobs:,} indexed blobs in {path}")
            argv = [self.args.scale_repo, "--repo", path, "--password-file", self.pass_file]
            out = subprocess.run(argv + ["--blobs", str(blobs)], check=True, capture_output=True)
            log(out.stdout.decode().strip())

        # A changed generator means a changed repository: key the cache on it.
        generated_once(path, f"{file_hash(self.args.scale_repo)} {blobs}", make)
        return path

    def run_index_scale(self, factor):
        """Backs up a tiny directory into a repository of many blobs and an empty one.

        The empty run pays what every command pays (start, key derivation,
        the backup itself); the difference to the full one is loading the
        index. Each tool works on a hard-linked copy of the generated
        repository (every tool only adds files), so each run starts from
        the same index.
        """
        blobs = max(1000, int(INDEX_BLOBS * factor))
        self.index_blobs = blobs
        repo = self.index_repo(blobs)
        src = os.path.join(self.work, "index-source")
        os.makedirs(src, exist_ok=True)
        for name in ("a", "b"):
            with open(os.path.join(src, name), "w") as f:
                f.write(f"a tiny file {name}\n")
        for rep in range(self.args.repeat):
            for tool in self.tools:
                empty = os.path.join(self.work, "repos", f"index-empty-{tool}")
                shutil.rmtree(empty, ignore_errors=True)
                os.makedirs(os.path.dirname(empty), exist_ok=True)
                res = Result("scale", "index-empty", tool)
                if not self.init(self.command(tool, empty, None, "init"), self.env):
                    res.ok, res.note = False, "init failed"
                    self.results.append(res)
                else:
                    self.measure(res, self.command(tool, empty, None, "backup", src))
                copy = os.path.join(self.work, "repos", f"index-{tool}")
                shutil.rmtree(copy, ignore_errors=True)
                subprocess.run(["cp", "-al", repo, copy], check=True)
                res = Result("scale", "index", tool)
                self.measure(res, self.command(tool, copy, None, "backup", src))
                shutil.rmtree(copy, ignore_errors=True)

    def run_remote(self, scenario, data):
        """backup / no-op / restore (no local cache) through the latency proxy."""
        tools = self.tools
        if scenario == "s3":
            server = Server.moto(self.venv, self.work)
            env = dict(self.env, **S3_ENV)
        else:
            server = Server.rclone(self.venv, self.work)
            env = self.env
        try:
            proxy = Proxy(server.port, self.work, self.args.delay_ms)
            repos, caches = {}, {}
            for rep in range(self.args.repeat):
                for tool in tools:
                    name = f"{tool}-{rep}-{int(time.time())}"
                    if scenario == "s3":
                        server.make_bucket(name)
                        path = f"s3:http://127.0.0.1:{{PORT}}/{name}"
                        if tool == "rustic":
                            path = self.rustic_s3_profile(name)
                    else:
                        path = f"rest:http://127.0.0.1:{{PORT}}/{name}/"
                    caches[tool] = os.path.join(self.work, "cache", scenario, tool)
                    shutil.rmtree(caches[tool], ignore_errors=True)
                    res = Result(scenario, "backup", tool)
                    argv = self.at_port(self.command(tool, path, None, "init"), server.port)
                    if not self.init(argv, env):
                        res.ok, res.note = False, "init failed"
                        self.results.append(res)
                        continue
                    repos[tool] = path
                    argv = self.command(tool, path, caches[tool], "backup", data)
                    self.measure(res, argv, env, proxy)
            for rep in range(self.args.repeat):
                for tool in repos:
                    argv = self.command(tool, repos[tool], caches[tool], "backup", data)
                    self.measure(Result(scenario, "noop", tool), argv, env, proxy)
            for rep in range(self.args.repeat):
                for tool in repos:
                    self.restore(scenario, tool, data, repos[tool], None, env, proxy)
        finally:
            server.stop()

    def big_file(self, size):
        """Generates (once) a directory holding one random file of `size` bytes."""
        path = os.path.join(self.work, f"data-bigfile-{size}")

        def make():
            log(f"generating a {size / MB:.0f} MB random file in {path}")
            os.makedirs(path, exist_ok=True)
            with open(os.path.join(path, "image.raw"), "wb") as f:
                left = size
                while left > 0:
                    n = min(left, 8 << 20)
                    f.write(os.urandom(n))
                    left -= n

        generated_once(path, f"bigfile {size}", make)
        if path not in self.datasets:
            self.datasets[path] = freshfs.tree_stats(path)
        return path

    def run_mount(self, data):
        """Sequential read of one large file through each tool's FUSE mount:
        wall time of the read, the mount process's CPU time and peak RSS."""
        for tool in self.tools:
            if tool == "rustic":
                continue  # its mount lays snapshots out differently; not compared
            repo = os.path.join(self.work, "repos", f"mount-{tool}")
            cache = os.path.join(self.work, "cache", "mount", tool)
            shutil.rmtree(repo, ignore_errors=True)
            os.makedirs(os.path.dirname(repo), exist_ok=True)
            if not self.init(self.command(tool, repo, None, "init"), self.env):
                continue
            subprocess.run(self.command(tool, repo, cache, "backup", data), env=self.env,
                           stdin=subprocess.DEVNULL, capture_output=True, check=True)
            for rep in range(self.args.repeat):
                self.results.append(self.mount_read(tool, repo, cache, data))

    def mount_read(self, tool, repo, cache, data):
        """One measured read through a fresh mount."""
        res = Result("mount", "read", tool)
        mnt = os.path.join(self.work, f"mnt-{tool}")
        os.makedirs(mnt, exist_ok=True)
        logf = os.path.join(self.logs, f"mount-read-{tool}.log")
        with open(logf, "w") as out:
            proc = subprocess.Popen(self.command(tool, repo, cache, "mount", mnt), env=self.env,
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        try:
            path = os.path.join(mnt, "snapshots", "latest") + data + "/image.raw"
            deadline = time.time() + 120
            while not os.path.exists(path):
                if time.time() > deadline or proc.poll() is not None:
                    res.ok, res.note = False, f"not mounted, see {logf}"
                    return res
                time.sleep(0.1)
            self.drop_caches()
            cpu0 = proc_cpu(proc.pid)
            t0 = time.monotonic()
            with open(path, "rb", buffering=0) as f:
                while f.read(1 << 20):
                    pass
            res.wall = time.monotonic() - t0
            res.cpu = proc_cpu(proc.pid) - cpu0
            res.rss_kib = proc_hwm_kib(proc.pid)
            res.note = f"{os.path.getsize(path) / res.wall / MB:.0f} MB/s"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            subprocess.run(["umount", "-l", mnt], capture_output=True)
        return res

    def run(self):
        """Runs the selected scenarios, then prints (and records) the tables."""
        f = self.args.size_factor
        only = [s for s in self.args.only.split(",") if s]
        for s in only:
            if s not in SCENARIOS:
                sys.exit(f"unknown scenario {s!r}; known: {', '.join(SCENARIOS)}")
        parts = [p for p in (self.args.scale_case or "").split(",") if p]
        for p in parts:
            if p not in SCALE_PARTS:
                sys.exit(f"unknown scale part {p!r}; known: {', '.join(SCALE_PARTS)}")
        if parts:
            only.append("scale")
        for scenario in SCENARIOS + ("scale",):
            if scenario not in only:
                continue
            log(f"== scenario {scenario}")
            if scenario == "mount":
                data = self.big_file(int(MOUNT_FILE_BYTES * f))
                self.scenario_data[scenario] = os.path.basename(data)
                self.run_mount(data)
                continue
            if scenario == "mixed":
                data = self.dataset("mixed", MIXED_SCALE * f)
            elif scenario == "tiny":
                data = self.dataset("tiny", f)
            elif scenario == "scale":
                if "index" in parts:
                    self.run_index_scale(f)
                if "tree" not in parts:
                    continue
                data = self.dataset("tiny", SCALE_FILES_FACTOR * f)
            else:
                data = self.dataset("mixed", REST_SCALE * f, REST_PARTS)
            self.scenario_data[scenario] = os.path.basename(data)
            if scenario in ("mixed", "tiny"):
                self.run_local(scenario, data)
            elif scenario == "scale":
                self.run_local(scenario, data, restore=False)
            else:
                self.run_remote(scenario, data)
        self.report()

    def report(self):
        """Prints the tables, keeps results.json, and records if asked."""
        meta = report.machine(self.bins, self.args)
        merged = merge(self.results)
        data = {
            "meta": meta,
            "datasets": {os.path.basename(p): asdict(s) for p, s in self.datasets.items()},
            "scenario_data": self.scenario_data,
            "index_blobs": self.index_blobs,
            "results": [asdict(r) for r in merged],
            "runs": [asdict(r) for r in self.results],
        }
        with open(os.path.join(self.work, "results.json"), "w") as fh:
            json.dump(data, fh, indent=1)
        text = report.render(data)
        print(text)
        if self.args.record:
            report.record(self.args.record, text, meta)
            log(f"recorded in {self.args.record}")


def file_hash(path):
    """SHA-256 of a file's bytes, as hex."""
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def generated_once(path, version, make):
    """Runs `make()` to (re)create `path` unless its marker holds `version`.

    The marker beside `path` records what made it (a generator's hash), so a
    changed generator makes its output again instead of reusing an old one.
    """
    marker = path + ".complete"
    try:
        with open(marker) as f:
            if f.read().strip() == version:
                return
    except OSError:
        pass
    shutil.rmtree(path, ignore_errors=True)
    make()
    with open(marker, "w") as f:
        f.write(version + "\n")


def merge(results):
    """One Result per (scenario, step, tool): the median of its repetitions."""
    groups = {}
    for r in results:
        groups.setdefault((r.scenario, r.step, r.tool), []).append(r)
    out = []
    for (scenario, step, tool), rs in groups.items():
        good = [r for r in rs if r.ok] or rs
        m = Result(scenario, step, tool)
        m.wall = statistics.median(r.wall for r in good)
        m.cpu = statistics.median(r.cpu for r in good)
        m.rss_kib = int(statistics.median(r.rss_kib for r in good))
        m.ok = all(r.ok for r in rs)
        m.note = "; ".join(sorted({r.note for r in rs if r.note}))
        if good[0].requests is not None:
            m.requests = int(statistics.median(r.requests for r in good))
            m.bytes_up = int(statistics.median(r.bytes_up for r in good))
            m.bytes_down = int(statistics.median(r.bytes_down for r in good))
            m.methods = good[len(good) // 2].methods
            m.proxy_cpu = statistics.median(r.proxy_cpu or 0.0 for r in good)
        out.append(m)
    return out


def wait_http(port, proc, what, timeout=30):
    """Waits until something answers HTTP on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
            return
        except urllib.error.HTTPError:
            return  # it answered, if not with 200
        except OSError:
            time.sleep(0.1)
    sys.exit(f"{what} did not start on port {port}")


def free_port():
    """A port that was free a moment ago."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A REST or S3 test server on 127.0.0.1, in its own process group."""

    def __init__(self, argv, port, work, what):
        self.port = port
        self.log = open(os.path.join(work, "logs", f"{what}.log"), "w")
        self.proc = subprocess.Popen(
            argv, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_http(port, self.proc, what)

    @classmethod
    def rclone(cls, venv, work):
        """`rclone serve restic` over a fresh directory."""
        root = os.path.join(work, "rest-root")
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(root)
        port = free_port()
        argv = [os.path.join(venv, "bin", "rclone"), "serve", "restic"]
        argv += ["--addr", f"127.0.0.1:{port}", "--config", os.path.join(work, "rclone.conf")]
        return cls(argv + [root], port, work, "rclone")

    @classmethod
    def moto(cls, venv, work):
        """moto's in-memory S3 server."""
        port = free_port()
        argv = [os.path.join(venv, "bin", "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
        return cls(argv, port, work, "moto")

    def make_bucket(self, name):
        """Creates an S3 bucket (moto only)."""
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/{name}", method="PUT")
        urllib.request.urlopen(req, timeout=10).read()

    def stop(self):
        """Stops the server and its children."""
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()


class Proxy:
    """Starts benches/latency_proxy.py for one step and collects its counts."""

    def __init__(self, upstream_port, work, delay_ms):
        self.upstream = upstream_port
        self.stats = os.path.join(work, "proxy-stats.json")
        self.log = os.path.join(work, "logs", "proxy.log")
        self.delay_ms = delay_ms

    def start(self):
        """Returns (process, listening port) once the proxy listens."""
        if os.path.exists(self.stats):
            os.remove(self.stats)
        argv = [sys.executable, os.path.join(HERE, "latency_proxy.py")]
        argv += ["--upstream", f"127.0.0.1:{self.upstream}", "--stats", self.stats]
        argv += ["--delay-ms", str(self.delay_ms)]
        with open(self.log, "a") as logf:
            p = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.stats):
            if p.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"the latency proxy did not start; see {self.log}")
            time.sleep(0.02)
        with open(self.stats) as f:
            return p, json.load(f)["port"]

    def stop(self, p):
        """Stops the proxy and returns its final counts."""
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        with open(self.stats) as f:
            return json.load(f)


def log(msg):
    """Progress on stderr, so stdout holds only the tables."""
    print(msg, file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser(description="hbk / restic / rustic benchmark")
    ap.add_argument("--only", default=",".join(SCENARIOS), help="scenarios, comma-separated")
    ap.add_argument("--tools", default=",".join(TOOLS), help="tools, comma-separated")
    ap.add_argument("--size-factor", type=float, default=1.0, help="scales every dataset")
    ap.add_argument("--repeat", type=int, default=1, help="runs per measurement (median)")
    ap.add_argument("--delay-ms", type=float, default=DELAY_MS, help="WAN delay each way")
    ap.add_argument(
        "--scale-case",
        nargs="?",
        const=",".join(SCALE_PARTS),
        metavar="PARTS",
        help="also the scale case (slow): tree (1M files), index (5M blobs), or both",
    )
    ap.add_argument("--scale-repo", help="the hbk-scale-repo binary (for --scale-case index)")
    ap.add_argument("--record", metavar="FILE", help="append the result to this markdown file")
    ap.add_argument("--work", required=True)
    ap.add_argument("--hbk", required=True)
    ap.add_argument("--restic", default="restic")
    ap.add_argument("--rustic", default="rustic")
    ap.add_argument("--venv", required=True, help="venv with moto_server and rclone")
    args = ap.parse_args()
    if args.repeat < 1:
        sys.exit("--repeat must be at least 1")
    if args.scale_case and "index" in args.scale_case and not args.scale_repo:
        sys.exit("--scale-case index needs --scale-repo (benches/run.sh builds it)")
    Bench(args).run()


if __name__ == "__main__":
    main()
