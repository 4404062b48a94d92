"""The several-hosts test: a month for a province on separate hosts, with hosts killed midway.

Run (as root, for network namespaces):
    .venv/bin/python bench/hosts.py [--members 200000] [--pace 200] [--loopback]
    .venv/bin/python bench/hosts.py --members 2000          # the quick run: about 6 minutes

Each host is a Linux network namespace (`gwb-<tag>-<host>`) with its own address on one
bridge: PostgreSQL, Redis, two web hosts (gunicorn with deploy/gunicorn.conf.py) behind a load
balancer in a host of its own (bench/hosts/lb.py, round robin over the healthy web hosts), two
worker hosts (`rq worker`, workers.worker.AppWorker), two schedulers (`rq cron
workers/cron.py`, one lease between them; `--one-scheduler` for one) and the sandbox standing
in for Twilio, paced at `--pace` segments a second (above it, 429 / 20429). The bench itself
runs on the machine and reaches every host through the bridge. Where namespaces cannot be made
(not root, no `ip`), or with `--loopback`, the same processes run on 127.0.0.1 and it says so.

Each worker host also gets a CPU of its own size (`--worker-cpus`, a third of a core by
default): a cgroup with a CPU quota, which its processes and their children are in. Without
it, a second worker host would only add processes to the same cores, and the throughput it
adds would measure this machine, not the system. The other hosts share the rest of the
machine. Where cgroups cannot be used, or with `--worker-cpus 0`, the worker hosts share the
machine's CPUs too, and it says so.

Everything it made (namespaces, links, cgroups, processes, the temporary directory) goes on
exit, on Ctrl-C and on errors.

One clock file moves time for every process (CLOCK_FILE, CRON_SPEEDUP=120), as
tests/month does. The month, for `--members` members of one township:

1. 1 November 19:05: the day-1 reminders, at the pace; 15% of members report by SMS (through
   the sandbox's inbound webhook) and 4% by keypad (a call walked through /voice) meanwhile;
2. 2 November 19:05: a notice to all at the pace, 10% and 3% more reports meanwhile: the send
   rate is measured here;
3. 3 November 19:05: another notice, 5% and 3% more reports; when about a third of it is out,
   one worker host and one web host are killed (kill -9 of every process on them) and Redis is
   cut off for `--redis-cut` seconds (its link set down; SIGSTOP on the loopback), then
   restored; the killed hosts start again after the notice is out;
4. days 5, 10 and 15: the second reminder, the call and the liaison task for whoever has not
   reported;
5. throughput: the sandbox's pace and status callbacks off, the workers unpaced and the
   schedulers stopped, a notice to all with one worker host, then another with two
   (`--throughput-only` loads the members and runs this step alone).

A process that exits on its own is started again a second later (as systemd's Restart=always
would), and counted. It prints: members who got each step exactly once (at the sandbox, for
texts and calls; in the database, for tasks), replies lost (texts the sandbox handed in
without their inbound row; keypad reports without their report), the send rate achieved
against the pace (the middle 80% of the day-2 notice, target within 2%), the throughput with
one and two worker hosts (target 1.7 times), and the footprint: resident memory (PSS, and RSS)
of one web host, one worker host, the scheduler and Redis, at the highest sum sampled during
the month (target < 500 MB PSS).
Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devtools.phone import CallSimulator, Webhooks  # noqa: E402
from devtools.servers import free_port  # noqa: E402
from models.clock import set_clock_file  # noqa: E402

BIN = Path(sys.executable).parent
PREFIX = "gwb"
AUTH_TOKEN = "hosts-bench-token"
ACCOUNT_SID = "AC" + "d" * 32
HOTLINE = "+8610690000"
TOWNSHIP = "云岭县流动党员党委"
BRANCHES = 20
ZONE = ZoneInfo("Asia/Shanghai")
PERIOD = "2026-11"
NOTICE = "各位党员:本月28日前请回复学习情况,谢谢!"
QUEUES = ("high", "default", "bulk", "calls")
START_TIMEOUT = 90.0
PACE_TOLERANCE = 0.02
SCALE_TARGET = 1.7
FOOTPRINT_TARGET_MB = 500.0
# Each worker host's CPU, by default: a third of a core, so that two of them and the hosts they
# use (PostgreSQL, Redis, the sandbox) fit on a 2-core machine without taking from each other.
WORKER_CPUS = 0.35
# Shares of members who report by SMS and by keypad on day 1, day 2 and day 3 (30% and 10%).
REPLY_SHARES = (0.15, 0.04, 0.10, 0.03, 0.05, 0.03)
REPLY_THREADS = 8
# A member whose call breaks off (its web host killed mid-call) calls again, once.
KEYPAD_ATTEMPTS = 2


def log(text: str) -> None:
    """One progress line on stderr (the figures go to stdout at the end)."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def cst(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of November 2026, Shanghai time."""
    return datetime(2026, 11, day, hour, minute, tzinfo=ZONE)


def wait_until(check: Callable[[], bool], timeout: float, what: str, every: float = 0.5) -> None:
    """Poll `check()` until it is true; raise after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a setup command (ip, initdb) and fail loudly with its output."""
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr.strip()}")
    return result


# --------------------------------------------------------------------------- hosts


@dataclass
class Host:
    """One host: its namespace (None on the loopback), address, and the processes it runs."""

    name: str
    address: str
    namespace: str | None
    link: str | None  # the bridge's end of its veth pair: down cuts the host off
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    # How each process was started (label, argv, env), to start it again when it exits.
    specs: dict[int, tuple[str, list[str], dict[str, str], Path]] = field(default_factory=dict)
    restarts: int = 0
    cpu_group: Path | None = None  # its cgroup, when it has a CPU share of its own

    def wrap(self, argv: list[str]) -> list[str]:
        """The command line that runs argv on this host."""
        if self.namespace is None:
            return argv
        return ["ip", "netns", "exec", self.namespace, *argv]


class Network:
    """The hosts: namespaces on one bridge, or names for the loopback."""

    def __init__(self, namespaces: bool) -> None:
        self.namespaces = namespaces
        self.tag = uuid.uuid4().hex[:4]
        self.bridge = f"{PREFIX}{self.tag}br"
        self.subnet = self._free_subnet() if namespaces else ""
        self.hosts: dict[str, Host] = {}
        self._bridge_made = False

    def limit_cpu(self, host: Host, cpus: float) -> str | None:
        """Give the host `cpus` of a core of its own (a cgroup with a CPU quota), as a machine of
        that size would have; None when done, else why it could not be."""
        found = cpu_controller()
        if found is None:
            return "no cgroup cpu controller"
        root, version = found
        group = root / f"{PREFIX}-{self.tag}-{host.name}"
        quota = max(1000, int(cpus * CPU_PERIOD_US))
        try:
            group.mkdir(exist_ok=True)
            host.cpu_group = group
            if version == "v1":
                (group / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
                (group / "cpu.cfs_quota_us").write_text(str(quota))
            else:
                (group / "cpu.max").write_text(f"{quota} {CPU_PERIOD_US}")
        except OSError as exc:
            return f"cgroup {group}: {exc}"
        return None

    @staticmethod
    def _free_subnet() -> str:
        used = run("ip", "-4", "-o", "addr").stdout
        for third in random.sample(range(1, 255), 254):
            prefix = f"10.231.{third}."
            if prefix not in used:
                return prefix
        raise RuntimeError("no free 10.231.x.0/24 subnet for the hosts")

    def add(self, name: str) -> Host:
        """Make one host (a namespace with its address, or the loopback)."""
        if not self.namespaces:
            host = Host(name, "127.0.0.1", None, None)
            self.hosts[name] = host
            return host
        if not self._bridge_made:
            run("ip", "link", "add", self.bridge, "type", "bridge")
            self._bridge_made = True
            run("ip", "addr", "add", f"{self.subnet}1/24", "dev", self.bridge)
            run("ip", "link", "set", self.bridge, "up")
        index = len(self.hosts) + 2
        namespace = f"{PREFIX}-{self.tag}-{name}"
        outer, inner = f"{PREFIX}{self.tag}h{index}", f"{PREFIX}{self.tag}n{index}"
        address = f"{self.subnet}{index}"
        # Register first: a failure below still cleans up what was made.
        host = Host(name, address, namespace, outer)
        self.hosts[name] = host
        run("ip", "netns", "add", namespace)
        run("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
        run("ip", "link", "set", inner, "netns", namespace)
        run("ip", "link", "set", outer, "master", self.bridge, "up")
        inside = ["ip", "netns", "exec", namespace, "ip"]
        run(*inside, "addr", "add", f"{address}/24", "dev", inner)
        run(*inside, "link", "set", inner, "up")
        run(*inside, "link", "set", "lo", "up")
        run(*inside, "route", "add", "default", "via", f"{self.subnet}1")
        return host

    def cut(self, host: Host) -> None:
        """Stop the host's traffic: its link down (namespaces) or its processes stopped."""
        if host.link is not None:
            run("ip", "link", "set", host.link, "down")
        else:
            for process in host.processes:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGSTOP)

    def restore(self, host: Host) -> None:
        """Undo `cut`."""
        if host.link is not None:
            run("ip", "link", "set", host.link, "up")
        else:
            for process in host.processes:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGCONT)

    def close(self) -> None:
        """Stop every process and remove every namespace and link made here."""
        # The app's hosts first, the services they use last: no noise about a lost Redis.
        for host in reversed(list(self.hosts.values())):
            if host.link is None:
                # A stopped process must run again to die of SIGTERM.
                self.restore(host)
            _stop_all(host)
        for host in self.hosts.values():
            if host.namespace is not None:
                run("ip", "netns", "del", host.namespace, check=False)
            if host.link is not None:
                run("ip", "link", "del", host.link, check=False)
        if self._bridge_made:
            run("ip", "link", "del", self.bridge, check=False)
        for host in self.hosts.values():
            if host.cpu_group is not None:
                remove_cpu_group(host.cpu_group)


CPU_PERIOD_US = 100_000
CGROUP_V1_CPU = Path("/sys/fs/cgroup/cpu")
CGROUP_V2 = Path("/sys/fs/cgroup")


def cpu_controller() -> tuple[Path, str] | None:
    """Where CPU quotas are set (cgroup v1's cpu hierarchy, or v2's root), if anywhere."""
    if os.geteuid() != 0:
        return None
    if (CGROUP_V1_CPU / "cpu.cfs_quota_us").exists():
        return CGROUP_V1_CPU, "v1"
    controllers = CGROUP_V2 / "cgroup.controllers"
    if controllers.exists() and "cpu" in controllers.read_text().split():
        with contextlib.suppress(OSError):
            (CGROUP_V2 / "cgroup.subtree_control").write_text("+cpu")
        return CGROUP_V2, "v2"
    return None


def remove_cpu_group(group: Path) -> None:
    """Remove a host's cgroup once its last process has gone (a dying one may linger)."""
    for _ in range(50):
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.1)


def namespaces_possible() -> tuple[bool, str]:
    """Whether network namespaces can be made here, and why not."""
    if os.geteuid() != 0:
        return False, "not root"
    if shutil.which("ip") is None:
        return False, "no `ip` command"
    probe = f"{PREFIX}-probe-{os.getpid()}"
    made = run("ip", "netns", "add", probe, check=False)
    if made.returncode != 0:
        return False, made.stderr.strip() or "ip netns add failed"
    run("ip", "netns", "del", probe, check=False)
    return True, ""


def start(
    host: Host, label: str, argv: list[str], env: dict[str, str], logs: Path
) -> subprocess.Popen[bytes]:
    """Start one process on a host, in its own process group, its output in a log file."""
    log_path = logs / f"{host.name}-{label}.log"
    with log_path.open("ab") as out:
        process = subprocess.Popen(
            host.wrap(argv),
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    if host.cpu_group is not None:
        # Before it starts its own processes (gunicorn's workers, rq's scheduler): they inherit it.
        with contextlib.suppress(OSError, ProcessLookupError):
            (host.cpu_group / "cgroup.procs").write_text(str(process.pid))
    host.processes.append(process)
    host.specs[process.pid] = (label, argv, env, logs)
    return process


# Held while processes are killed or stopped on purpose, so the supervisor does not restart them.
LIFECYCLE = threading.Lock()


def supervise(hosts: list[Host], stop: threading.Event) -> None:
    """Start again any process that exits on its own, a second later, as systemd's
    `Restart=always` does on a real host (an `rq cron` that loses Redis exits, say)."""
    while not stop.wait(1.0):
        with LIFECYCLE:
            for host in hosts:
                for process in list(host.processes):
                    if process.poll() is None:
                        continue
                    host.processes.remove(process)
                    label, argv, env, logs = host.specs.pop(process.pid)
                    log(f"{host.name}: {label} exited with {process.returncode}; starting it again")
                    host.restarts += 1
                    start(host, label, argv, env, logs)


def kill_all(host: Host) -> None:
    """kill -9 every process of the host (the whole process group of each)."""
    with LIFECYCLE:
        _kill_all(host)


def _kill_all(host: Host) -> None:
    for process in host.processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    host.processes.clear()


def stop_all(host: Host) -> None:
    """Stop the host's processes: SIGTERM, then SIGKILL after 10 s."""
    with LIFECYCLE:
        _stop_all(host)


def _stop_all(host: Host) -> None:
    for process in host.processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for process in host.processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    host.processes.clear()


def group_pids(process: subprocess.Popen[bytes]) -> list[int]:
    """The pids in a process's group (gunicorn's master and its workers, say)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) == process.pid:
                pids.append(int(entry.name))
        except (ProcessLookupError, PermissionError):
            continue
    return pids


def memory_kb(pid: int) -> tuple[int, int]:
    """A process's resident set and proportional set size now, in kB (0 when gone)."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return 0, 0
    return rss, pss


# --------------------------------------------------------------------------- the cluster


@dataclass
class Cluster:
    """Every host of the province, their settings and the shared clock."""

    net: Network
    tmp: Path
    pace: float
    calls_per_s: float
    two_schedulers: bool
    worker_cpus: float = 0.0  # each worker host's CPU share (0: the machine's, shared)
    cpu_note: str = ""
    ports: dict[str, int] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    pg_base: Path | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def logs(self) -> Path:
        return self.tmp / "logs"

    def host(self, name: str) -> Host:
        return self.net.hosts[name]

    def port(self, name: str, default: int) -> int:
        """A service's port: its usual one in a namespace, a free one on the loopback."""
        if name not in self.ports:
            self.ports[name] = default if self.net.namespaces else free_port()
        return self.ports[name]

    def url(self, name: str, default: int) -> str:
        return f"http://{self.host(name).address}:{self.port(name, default)}"

    @property
    def lb_url(self) -> str:
        return self.url("lb", 8080)

    @property
    def sandbox_url(self) -> str:
        return self.url("sandbox", 5055)

    @property
    def database_url(self) -> str:
        db = self.host("db")
        return f"postgresql+psycopg://postgres@{db.address}:{self.port('db', 5432)}/gateway"

    @property
    def redis_url(self) -> str:
        return f"redis://{self.host('redis').address}:{self.port('redis', 6379)}/0"

    def app_env(self, rate: float) -> dict[str, str]:
        """The settings every app process gets (as environment variables)."""
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("FLASK_", "TWILIO_", "DATABASE_", "REDIS_"))
        }
        env.update(
            {
                "FLASK_APP": "gateway",
                "PATH": f"{BIN}:{env.get('PATH', '')}",
                "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": str(ROOT),
                "DATABASE_URL": self.database_url,
                "REDIS_URL": self.redis_url,
                "PROVIDER": "sandbox",
                "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                "TWILIO_FROM_NUMBER": HOTLINE,
                "SECRET_KEY": "hosts-bench-secret",
                "PUBLIC_BASE_URL": self.lb_url,
                "SANDBOX_URL": self.sandbox_url,
                "SANDBOX_DB": str(self.tmp / "sandbox.db"),
                "UPLOAD_DIR": str(self.tmp / "uploads"),
                "CLOCK_FILE": str(self.tmp / "clock"),
                "CRON_SPEEDUP": "120",
                "SEND_RATE_SEGMENTS_PER_S": str(rate),
                "CALLS_PER_S": str(self.calls_per_s),
            }
        )
        return env

    def set_clock(self, now: datetime) -> None:
        set_clock_file(self.tmp / "clock", now)

    # Hosts and their processes.

    def make_hosts(self) -> None:
        """Every host of the province, before anything starts (each needs the others' addresses)."""
        names = ["db", "redis", "sandbox", "lb", "web1", "web2", "worker1", "worker2", "cron"]
        for name in names + (["cron2"] if self.two_schedulers else []):
            self.net.add(name)
        if self.worker_cpus > 0:
            for name in ("worker1", "worker2"):
                why = self.net.limit_cpu(self.host(name), self.worker_cpus)
                if why is not None:
                    self.cpu_note = f"worker hosts share the machine's CPUs ({why})"
                    self.worker_cpus = 0.0
                    return
            self.cpu_note = (
                f"worker hosts: {self.worker_cpus:g} of a core each (a cgroup CPU quota), "
                "as hosts of their own would have; the other hosts share the rest"
            )
        else:
            self.cpu_note = "worker hosts share the machine's CPUs with every other host"

    def start_postgres(self) -> None:
        host = self.host("db")
        base = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-pg-", dir="/tmp"))
        self.pg_base = base
        as_postgres: list[str] = []
        if os.geteuid() == 0:
            base.chmod(0o755)
            shutil.chown(base, "postgres", "postgres")
            as_postgres = ["setpriv", "--reuid=postgres", "--regid=postgres", "--clear-groups"]
        bindir = postgres_bindir()
        data = base / "data"
        run(
            *as_postgres, str(bindir / "initdb"), "-D", str(data), "-A", "trust",
            "-U", "postgres", "--encoding", "UTF8", "--locale", "C", "--no-sync",
        )  # fmt: skip
        with (data / "pg_hba.conf").open("a") as hba:
            hba.write("host all all 0.0.0.0/0 trust\n")
        port = self.port("db", 5432)
        start(
            host,
            "postgres",
            [
                *as_postgres, str(bindir / "postgres"), "-D", str(data),
                "-c", f"listen_addresses={host.address}", "-c", f"port={port}",
                "-c", f"unix_socket_directories={base}", "-c", "max_connections=300",
                "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                "-c", "shared_buffers=128MB",
            ],
            dict(os.environ),
            self.logs,
        )  # fmt: skip
        import psycopg

        def accepts() -> bool:
            try:
                with psycopg.connect(
                    host=host.address, port=port, user="postgres", dbname="postgres",
                    connect_timeout=2, autocommit=True,
                ) as conn:  # fmt: skip
                    conn.execute("SELECT 1")
                return True
            except psycopg.Error:
                return False

        wait_until(accepts, START_TIMEOUT, "PostgreSQL")
        with psycopg.connect(
            host=host.address, port=port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute('CREATE DATABASE "gateway"')

    def start_redis(self) -> None:
        host = self.host("redis")
        directory = self.tmp / "redis"
        directory.mkdir()
        start(
            host,
            "redis",
            [
                "redis-server", "--bind", host.address, "--port", str(self.port("redis", 6379)),
                "--dir", str(directory), "--save", "", "--appendonly", "no",
                "--protected-mode", "no",
            ],
            dict(os.environ),
            self.logs,
        )  # fmt: skip
        from redis import Redis, RedisError

        def answers() -> bool:
            try:
                return bool(Redis.from_url(self.redis_url, socket_connect_timeout=1).ping())
            except RedisError:
                return False

        wait_until(answers, START_TIMEOUT, "Redis")

    def start_sandbox(self) -> None:
        host = self.host("sandbox")
        start(
            host,
            "sandbox",
            [
                sys.executable, "-m", "devtools.sandbox", "--host", host.address,
                "--port", str(self.port("sandbox", 5055)), "--db", str(self.tmp / "sandbox.db"),
                "--auth-token", AUTH_TOKEN, "--account-sid", ACCOUNT_SID,
                "--workers", "2", "--threads", "16", "--pace", str(self.pace),
            ],
            self.app_env(self.pace),
            self.logs,
        )  # fmt: skip
        wait_http(self.sandbox_url + "/_sandbox/health", "the sandbox")

    def start_web(self, name: str) -> None:
        host = self.host(name)
        start(
            host,
            "gunicorn",
            [
                str(BIN / "gunicorn"), "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
                "gateway:create_app()", "--bind", f"{host.address}:{self.port(name, 8000)}",
                "--workers", "2", "--threads", "4", "--worker-class", "gthread",
                "--graceful-timeout", "5", "--backlog", "1024", "--no-control-socket",
            ],
            self.app_env(self.pace),
            self.logs,
        )  # fmt: skip
        wait_http(f"{self.url(name, 8000)}/admin/login", f"web host {name}")

    def start_lb(self) -> None:
        host = self.host("lb")
        backends = [
            f"{self.host(name).address}:{self.port(name, 8000)}" for name in ("web1", "web2")
        ]
        start(
            host,
            "lb",
            [
                sys.executable, str(ROOT / "bench" / "hosts" / "lb.py"),
                "--listen", f"{host.address}:{self.port('lb', 8080)}",
                *(arg for backend in backends for arg in ("--backend", backend)),
            ],
            dict(os.environ),
            self.logs,
        )  # fmt: skip
        wait_http(self.lb_url + "/admin/login", "the load balancer")

    def start_worker(self, name: str, rate: float) -> None:
        host = self.host(name)
        start(
            host,
            "rq",
            [
                str(BIN / "rq"), "worker", "--with-scheduler", "-w", "workers.worker.AppWorker",
                "--url", self.redis_url, "--name", f"{name}-{uuid.uuid4().hex[:8]}", *QUEUES,
            ],
            self.app_env(rate),
            self.logs,
        )  # fmt: skip

    def start_cron(self, name: str) -> None:
        host = self.host(name)
        start(
            host,
            "cron",
            [str(BIN / "rq"), "cron", "--url", self.redis_url, "workers/cron.py"],
            self.app_env(self.pace),
            self.logs,
        )  # fmt: skip

    def check_alive(self, *names: str) -> None:
        """Raise if a process of these hosts has died."""
        for name in names:
            for process in self.host(name).processes:
                if process.poll() is not None:
                    raise RuntimeError(
                        f"a process of host {name} exited with {process.returncode}; "
                        f"see {self.logs}"
                    )

    def workers_up(self, names: tuple[str, ...]) -> bool:
        """Whether the rq worker of each of these hosts has registered in Redis."""
        from redis import Redis
        from rq import Worker

        wanted = {
            argv[argv.index("--name") + 1]
            for name in names
            for _, argv, _, _ in self.host(name).specs.values()
            if "--name" in argv
        }
        with Redis.from_url(self.redis_url) as connection:
            return wanted <= {worker.name for worker in Worker.all(connection=connection)}

    def set_pace(self, rate: float) -> None:
        response = requests.put(
            self.sandbox_url + "/_sandbox/pace", json={"segments_per_s": rate}, timeout=10
        )
        response.raise_for_status()

    def close(self) -> None:
        self.stop.set()
        with LIFECYCLE:
            self.net.close()
        if self.pg_base is not None:
            shutil.rmtree(self.pg_base, ignore_errors=True)


def wait_http(url: str, what: str) -> None:
    """Wait until url answers 200."""

    def ok() -> bool:
        try:
            return requests.get(url, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    wait_until(ok, START_TIMEOUT, what)


def postgres_bindir() -> Path:
    """The directory of initdb and postgres (the newest installed version)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), reverse=True)
    if not found:
        raise SystemExit("PostgreSQL not found: run `bash scripts/bootstrap.sh --test`")
    return found[0].parent


# --------------------------------------------------------------------------- the data


def load_township(cluster: Cluster, members: int) -> list[str]:
    """Migrate the database and load one township of 20 branches; return the phones."""
    from sqlalchemy import insert

    from gateway import create_app
    from gateway.migrate import upgrade
    from infra.db import get_session
    from models import Member, Organization, OrgKind, utcnow

    upgrade(cluster.database_url)
    app = create_app(dict(cluster.app_env(cluster.pace)))
    phones = [f"+86139{n:08d}" for n in range(members)]
    with app.app_context():
        session = get_session()
        top = Organization(name=TOWNSHIP, kind=OrgKind.TOWNSHIP, timezone="Asia/Shanghai")
        session.add(top)
        session.flush()
        branches = []
        for number in range(BRANCHES):
            branch = Organization(name=f"第{number + 1}党支部", kind=OrgKind.BRANCH)
            branch.parent_id = top.id
            session.add(branch)
            branches.append(branch)
        session.flush()
        rows = [
            {
                "name": f"党员{n}",
                "phone": phone,
                "branch_id": branches[n % BRANCHES].id,
                "city": "广州",
                "active": True,
                "created_at": utcnow(),
            }
            for n, phone in enumerate(phones)
        ]
        for first in range(0, len(rows), 10_000):
            session.execute(insert(Member), rows[first : first + 10_000])
        session.commit()
    app.extensions["db_engine"].dispose()
    return phones


class Figures:
    """Read-only views of the database and the sandbox's store."""

    def __init__(self, cluster: Cluster) -> None:
        from sqlalchemy import create_engine

        self.cluster = cluster
        self.engine = create_engine(
            cluster.database_url, pool_pre_ping=True, connect_args={"connect_timeout": 5}
        )

    def db(self, sql: str, **params: Any) -> list[Any]:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params))

    def sandbox(self, sql: str, *params: Any) -> list[Any]:
        uri = f"file:{self.cluster.tmp / 'sandbox.db'}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=30)) as conn:
            return conn.execute(sql, params).fetchall()

    def sent(self, template: str) -> int:
        """Outbound rows of a template that the provider took."""
        return int(
            self.db(
                "SELECT count(*) FROM messages WHERE direction = 'out' AND template_key = :t "
                "AND provider_sid IS NOT NULL",
                t=template,
            )[0][0]
        )

    def queued(self, template: str) -> int:
        """Outbound rows of a template, whatever their state."""
        return int(
            self.db(
                "SELECT count(*) FROM messages WHERE direction = 'out' AND template_key = :t",
                t=template,
            )[0][0]
        )

    def notice_sent(self, broadcast_id: int) -> int:
        return int(
            self.db(
                "SELECT count(*) FROM messages WHERE broadcast_id = :b AND direction = 'out' "
                "AND provider_sid IS NOT NULL",
                b=broadcast_id,
            )[0][0]
        )

    def sandbox_messages(self) -> int:
        return int(self.sandbox("SELECT count(*) FROM messages")[0][0])

    def texts_per_member(self, where: str, **params: Any) -> Counter[str]:
        """How many times the sandbox took each member's text of the rows `where` picks (the
        same number and body: a text sent twice shows twice, whatever the database says)."""
        rows = self.db(
            f"SELECT DISTINCT phone, body FROM messages WHERE direction = 'out' AND {where}",
            **params,
        )
        wanted = {(phone, body) for phone, body in rows}
        counts: Counter[str] = Counter()
        found = self.sandbox("SELECT to_number, body FROM messages")
        for to, body in found:
            if (to, body) in wanted:
                counts[to] += 1
        return counts

    def notices_per_member(self, after_id: int, until_id: int) -> Counter[str]:
        """How many times the sandbox took the notice for each number, in one wave's range."""
        rows = self.sandbox(
            "SELECT to_number FROM messages WHERE id > ? AND id <= ? AND instr(body, ?) > 0",
            after_id,
            until_id,
            NOTICE,
        )
        return Counter(to for (to,) in rows)

    def calls_per_member(self, since: float) -> Counter[str]:
        rows = self.sandbox("SELECT to_number FROM calls WHERE created_at >= ?", since)
        return Counter(to for (to,) in rows)

    def tasks_per_member(self) -> Counter[str]:
        rows = self.db(
            "SELECT m.phone FROM contact_logs c JOIN members m ON m.id = c.member_id "
            "WHERE c.kind = 'liaison_task' AND c.period = :p",
            p=PERIOD,
        )
        return Counter(phone for (phone,) in rows)

    def reporters(self) -> dict[str, str]:
        rows = self.db(
            "SELECT m.phone, r.channel FROM reports r JOIN members m ON m.id = r.member_id "
            "WHERE r.period = :p",
            p=PERIOD,
        )
        return {phone: channel for phone, channel in rows}

    def inbound_sids(self) -> set[str]:
        rows = self.db(
            "SELECT provider_sid FROM messages WHERE direction = 'in' AND provider_sid IS NOT NULL"
        )
        return {sid for (sid,) in rows}

    def accepted_times(self, first_id: int) -> list[float]:
        rows = self.sandbox(
            "SELECT created_at FROM messages WHERE id > ? ORDER BY created_at", first_id
        )
        return [at for (at,) in rows]

    def last_message_id(self) -> int:
        return int(self.sandbox("SELECT coalesce(max(id), 0) FROM messages")[0][0])


# --------------------------------------------------------------------------- members' replies


@dataclass
class Replies:
    """Replies sent into the system, and what became of each."""

    sms_sids: dict[str, str] = field(default_factory=dict)  # phone -> MessageSid
    sms_refused: list[str] = field(default_factory=list)  # the sandbox could not hand it over
    keypad: list[str] = field(default_factory=list)
    keypad_errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def reply_sms(cluster: Cluster, replies: Replies, phone: str) -> None:
    """A member texts `HB 1` to the hotline: the sandbox posts Twilio's signed webhook."""
    try:
        response = requests.post(
            cluster.sandbox_url + "/_sandbox/inbound/sms",
            json={"from": phone, "to": HOTLINE, "body": "HB 1", "url": cluster.lb_url + "/sms"},
            timeout=60,
        )
        answer = response.json()
    except (requests.RequestException, ValueError):
        with replies.lock:
            replies.sms_refused.append(phone)
        return
    with replies.lock:
        if "sid" in answer:
            replies.sms_sids[phone] = answer["sid"]
        if not answer.get("delivered"):
            replies.sms_refused.append(phone)


def reply_keypad(cluster: Cluster, replies: Replies, phone: str) -> None:
    """A member calls the hotline and reports with the keypad (1, 1, 1, 1, 2)."""
    hooks = Webhooks(cluster.lb_url, cluster.lb_url, AUTH_TOKEN)
    with replies.lock:
        replies.keypad.append(phone)
    for attempt in range(KEYPAD_ATTEMPTS):
        try:
            CallSimulator(
                webhooks=hooks,
                caller=phone,
                called=HOTLINE,
                account_sid=ACCOUNT_SID,
                recordings_base=cluster.sandbox_url + "/_sandbox/recordings",
            ).dial("/voice", ["1", "1", "1", "1", "2"])
            return
        except Exception as exc:  # a web host killed mid-call: the member hears an error
            with replies.lock:
                replies.keypad_errors.append(f"{phone} (call {attempt + 1}): {exc}")
            time.sleep(2)  # and calls again


def send_replies(
    cluster: Cluster, replies: Replies, sms: list[str], keypad: list[str]
) -> threading.Thread:
    """Send the replies from a pool of threads in the background; return the thread."""

    def work() -> None:
        jobs: list[tuple[Callable[..., None], str]] = [(reply_sms, p) for p in sms]
        jobs += [(reply_keypad, p) for p in keypad]
        random.shuffle(jobs)
        with ThreadPoolExecutor(REPLY_THREADS) as pool:
            for future in [pool.submit(job, cluster, replies, phone) for job, phone in jobs]:
                future.result()

    thread = threading.Thread(target=work, name="replies", daemon=True)
    thread.start()
    return thread


# --------------------------------------------------------------------------- memory


@dataclass
class Footprint:
    """Samples of the resident memory of the hosts the county target counts."""

    groups: dict[str, Callable[[], list[subprocess.Popen[bytes]]]]
    peak_total: tuple[float, float] = (0.0, 0.0)
    peak_each: dict[str, tuple[float, float]] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def sample(self) -> None:
        total_rss = total_pss = 0.0
        for name, processes in self.groups.items():
            rss = pss = 0
            for process in processes():
                for pid in group_pids(process):
                    one_rss, one_pss = memory_kb(pid)
                    rss += one_rss
                    pss += one_pss
            each = (rss / 1024, pss / 1024)
            old = self.peak_each.get(name, (0.0, 0.0))
            self.peak_each[name] = (max(old[0], each[0]), max(old[1], each[1]))
            total_rss += each[0]
            total_pss += each[1]
        if total_pss > self.peak_total[1]:
            self.peak_total = (total_rss, total_pss)

    def run(self) -> None:
        while not self.stop.wait(2.0):
            with contextlib.suppress(Exception):
                self.sample()


# --------------------------------------------------------------------------- the month


def create_notice(cluster: Cluster) -> int:
    """`flask broadcast create` to the whole township, as an operator would; its id."""
    import json

    result = subprocess.run(
        [str(BIN / "flask"), "broadcast", "create", "--org", TOWNSHIP, "--text", NOTICE, "--json"],
        env=cluster.app_env(cluster.pace),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"flask broadcast create failed:\n{result.stdout}{result.stderr}")
    data = json.loads(result.stdout.strip().splitlines()[-1])
    return int(data["id"])


def middle_rate(times: list[float]) -> float:
    """Messages a second over the middle 80% of a wave (its start and end ramp cut off)."""
    if len(times) < 20:
        return 0.0
    cut = len(times) // 10
    middle = times[cut : len(times) - cut]
    span = middle[-1] - middle[0]
    return (len(middle) - 1) / span if span > 0 else 0.0


def once(counts: Counter[str], expected: set[str]) -> tuple[int, int, int]:
    """(members expected who got it exactly once, expected, members it should not have reached)."""
    exact = sum(1 for phone in expected if counts.get(phone, 0) == 1)
    stray = sum(1 for phone in counts if phone not in expected)
    return exact, len(expected), stray


@dataclass
class Result:
    lines: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)

    def add(self, line: str, ok: bool | None = None, target: str = "") -> None:
        mark = "" if ok is None else ("  ok" if ok else f"  MISSED ({target})")
        self.lines.append(line + mark)
        if ok is False:
            self.missed.append(line)


def month(cluster: Cluster, members: int, redis_cut: float, mode: str) -> Result:
    result = Result()
    result.add(mode)
    cluster.set_clock(cst(1, 8))
    log(f"loading {members:,} members into PostgreSQL")
    phones = load_township(cluster, members)
    for name in ("web1", "web2"):
        cluster.start_web(name)
    cluster.start_lb()
    for name in ("worker1", "worker2"):
        cluster.start_worker(name, cluster.pace)
    cluster.start_cron("cron")
    if cluster.two_schedulers:
        cluster.start_cron("cron2")
        result.add("two schedulers (`rq cron`) on two hosts, one lease between them")
    else:
        result.add("one scheduler (`rq cron`), --one-scheduler")
    result.add(cluster.cpu_note)
    supervisor = threading.Thread(
        target=supervise, args=(list(cluster.net.hosts.values()), cluster.stop), daemon=True
    )
    supervisor.start()
    figures = Figures(cluster)
    footprint = Footprint(
        {
            "web host (gunicorn: its master and 2 workers)": lambda: cluster.host("web2").processes,
            "worker host": lambda: cluster.host("worker2").processes,
            "scheduler": lambda: cluster.host("cron").processes,
            "redis": lambda: cluster.host("redis").processes,
        }
    )
    sampler = threading.Thread(target=footprint.run, daemon=True)
    sampler.start()

    rng = random.Random(17)
    shuffled = phones[:]
    rng.shuffle(shuffled)
    cuts = [0]
    for share in REPLY_SHARES:
        cuts.append(cuts[-1] + round(share * members))
    waves = [shuffled[cuts[i] : cuts[i + 1]] for i in range(len(REPLY_SHARES))]
    replies = Replies()
    everyone = set(phones)
    wave_timeout = members / cluster.pace * 3 + 300

    # Day 1, 19:05: the reminders at the pace; replies come in once every reminder is queued.
    first_id = figures.last_message_id()
    cluster.set_clock(cst(1, 19, 5))
    log(f"day 1: {members:,} reminders at {cluster.pace:g}/s")
    wait_until(lambda: figures.queued("reminder") >= members, wave_timeout, "reminders queued", 1)
    log(f"day 1: {len(waves[0]) + len(waves[1]):,} replies meanwhile")
    replying = send_replies(cluster, replies, waves[0], waves[1])
    wait_until(lambda: figures.sent("reminder") >= members, wave_timeout, "the day-1 reminders", 2)
    reminder_rate = middle_rate(figures.accepted_times(first_id))
    replying.join()

    # Day 2, 19:05: a notice to all at the pace, replies meanwhile: the pace is measured here.
    cluster.set_clock(cst(2, 19, 5))
    log(f"day 2: a notice to all at {cluster.pace:g}/s, {len(waves[2]) + len(waves[3]):,} replies")
    first_id = figures.last_message_id()
    notice_paced = create_notice(cluster)
    replying = send_replies(cluster, replies, waves[2], waves[3])
    wait_until(lambda: figures.notice_sent(notice_paced) >= members, wave_timeout, "the notice", 2)
    times = figures.accepted_times(first_id)
    rate = middle_rate(times)
    replying.join()
    day2_ids = (first_id, figures.last_message_id())

    # Day 3, 19:05: another notice; hosts are killed and Redis is cut off midway.
    cluster.set_clock(cst(3, 19, 5))
    log(f"day 3: a notice to all, {len(waves[4]) + len(waves[5]):,} replies, and the faults")
    first_id = figures.last_message_id()
    notice = create_notice(cluster)
    replying = send_replies(cluster, replies, waves[4], waves[5])
    wait_until(lambda: figures.notice_sent(notice) >= members // 3, wave_timeout, "a third", 1)
    log("kill -9: worker host worker1 and web host web1")
    kill_all(cluster.host("worker1"))
    kill_all(cluster.host("web1"))
    log(f"Redis cut off for {redis_cut:g} s")
    cluster.net.cut(cluster.host("redis"))
    time.sleep(redis_cut)
    cluster.net.restore(cluster.host("redis"))
    log("Redis back")
    wait_until(lambda: figures.notice_sent(notice) >= members, wave_timeout, "the notice to all", 2)
    replying.join()
    # Anything a dead host had in flight is handed on by the sweeps: wait for it to settle.
    time.sleep(5)
    day3_ids = (first_id, figures.last_message_id())
    log("the killed hosts start again")
    cluster.start_web("web1")
    cluster.start_worker("worker1", cluster.pace)
    # Let the last status callbacks and replies settle.
    time.sleep(5)
    repliers = set(shuffled[: cuts[-1]])
    late = everyone - repliers

    # Days 5, 10, 15: the escalation for those who did not report.
    cluster.set_clock(cst(5, 19, 5))
    log(f"day 5: second reminders to {len(late):,}")
    wait_until(
        lambda: figures.sent("reminder_second") >= len(late), wave_timeout, "day-5 reminders", 2
    )
    calls_since = time.time()
    cluster.set_clock(cst(10, 19, 5))
    log(f"day 10: calls to {len(late):,}")
    call_timeout = len(late) / cluster.calls_per_s * 4 + 300
    wait_until(
        lambda: sum(figures.calls_per_member(calls_since).values()) >= len(late),
        call_timeout,
        "the day-10 calls",
        2,
    )
    cluster.set_clock(cst(15, 19, 5))
    log(f"day 15: liaison tasks for {len(late):,}")
    wait_until(
        lambda: sum(figures.tasks_per_member().values()) >= len(late), 300, "day-15 tasks", 2
    )
    time.sleep(3)
    footprint.stop.set()
    reporters = figures.reporters()
    inbound = figures.inbound_sids()

    # The figures of the month.
    steps = [
        ("day-1 reminder", figures.texts_per_member("template_key = 'reminder'"), everyone),
        ("notice (day 2)", figures.notices_per_member(*day2_ids), everyone),
        ("notice (day 3, faults)", figures.notices_per_member(*day3_ids), everyone),
        ("day-5 reminder", figures.texts_per_member("template_key = 'reminder_second'"), late),
        ("day-10 call", figures.calls_per_member(calls_since), late),
        ("day-15 liaison task", figures.tasks_per_member(), late),
    ]
    for name, counts, expected in steps:
        exact, total, stray = once(counts, expected)
        result.add(
            f"{name}: {exact:,} of {total:,} members exactly once"
            + (f", {stray:,} others reached" if stray else ""),
            exact == total and stray == 0,
            "target: all, exactly once",
        )
    sms_sent = len(replies.sms_sids) + sum(
        1 for p in replies.sms_refused if p not in replies.sms_sids
    )
    sms_lost = [p for p, sid in replies.sms_sids.items() if sid not in inbound]
    sms_lost += [p for p in replies.sms_refused if p not in replies.sms_sids]
    keypad_lost = [p for p in replies.keypad if reporters.get(p) != "ivr"]
    result.add(
        f"replies: {sms_sent:,} texts into the sandbox, {len(sms_lost):,} without their inbound "
        f"row; {len(replies.keypad):,} keypad reports, {len(keypad_lost):,} without their "
        f"report ({len(replies.keypad_errors):,} calls broke off and were dialled again)",
        not sms_lost and not keypad_lost,
        "target: 0 lost",
    )
    result.add(
        f"reports: {len(reporters):,} of {len(repliers):,} members who replied "
        f"({Counter(reporters.values()).most_common()})"
    )
    deviation = abs(rate - cluster.pace) / cluster.pace if cluster.pace else 1.0
    result.add(
        f"send rate: {rate:.1f} segments/s against a pace of {cluster.pace:g} "
        f"({deviation:.1%} off; the day-2 notice, middle 80% of {len(times):,} texts, "
        "status callbacks and replies served meanwhile)",
        deviation <= PACE_TOLERANCE,
        "target: within 2%",
    )
    result.add(f"  the day-1 reminders went at {reminder_rate:.1f} segments/s")

    throughput(cluster, members, figures, result)
    restarted = {h.name: h.restarts for h in cluster.net.hosts.values() if h.restarts}
    result.add(
        "processes that exited on their own and were started again (as systemd would): "
        + (", ".join(f"{name} {count}x" for name, count in restarted.items()) or "none")
    )
    total_rss, total_pss = footprint.peak_total
    for name, (rss, pss) in footprint.peak_each.items():
        result.add(f"  peak {name}: {rss:.0f} MB RSS, {pss:.0f} MB PSS")
    result.add(
        f"footprint: {total_pss:.0f} MB PSS ({total_rss:.0f} MB RSS, shared pages counted in "
        f"each process) for one web host, one worker host, the scheduler and Redis at their "
        f"highest sampled sum, {members:,} members",
        total_pss < FOOTPRINT_TARGET_MB,
        "target: < 500 MB",
    )
    return result


def throughput(cluster: Cluster, members: int, figures: Figures, result: Result) -> None:
    """A notice to all with one worker host, then with two: the sandbox and the workers
    unpaced, no status callbacks, no scheduler."""
    log("throughput: the sandbox unpaced and its status callbacks off, workers unpaced")
    cluster.set_pace(0)
    requests.post(
        cluster.sandbox_url + "/_sandbox/faults", json={"callbacks": False}, timeout=10
    ).raise_for_status()
    # The schedulers stop too: at CRON_SPEEDUP their ticks and sweeps come every few seconds,
    # and a worker host of a third of a core would spend the measurement on them (nothing is
    # killed here, so nothing needs sweeping).
    for name in ("cron", "cron2", "worker1", "worker2"):
        if name in cluster.net.hosts:
            stop_all(cluster.host(name))
    rates = []
    for hosts in (("worker1",), ("worker1", "worker2")):
        for name in hosts:
            if not cluster.host(name).processes:
                cluster.start_worker(name, 1_000_000)
        # Every worker host up (a worker registers once its app is built) before the notice:
        # the figure is for hosts that serve, not for one still starting.
        wait_until(lambda up=hosts: cluster.workers_up(up), START_TIMEOUT, "the worker hosts up")
        time.sleep(1)
        first_id = figures.last_message_id()
        notice = create_notice(cluster)

        def all_sent(notice: int = notice) -> bool:
            return figures.notice_sent(notice) >= members

        wait_until(all_sent, members / 20 + 300, "the notice", 1)
        times = figures.accepted_times(first_id)
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        rates.append(len(times) / span if span > 0 else 0.0)
        log(f"{len(hosts)} worker host(s): {rates[-1]:.0f} texts/s")
    ratio = rates[1] / rates[0] if rates[0] else 0.0
    per_host = (
        f"of {cluster.worker_cpus:g} of a core each" if cluster.worker_cpus else "sharing the cores"
    )
    result.add(
        f"throughput: {rates[0]:.0f} texts/s with one worker host, {rates[1]:.0f} with two "
        f"({ratio:.2f}x; a notice to {members:,} each, sandbox and workers unpaced, no status "
        f"callbacks, worker hosts {per_host})",
        ratio >= SCALE_TARGET,
        "target: 1.7x",
    )


def throughput_only(cluster: Cluster, members: int, mode: str) -> Result:
    """`--throughput-only`: the members loaded, then only the throughput step of the month."""
    result = Result()
    result.add(mode)
    result.add(cluster.cpu_note)
    cluster.set_clock(cst(1, 8))
    log(f"loading {members:,} members into PostgreSQL")
    load_township(cluster, members)
    cluster.set_clock(cst(2, 19, 5))  # inside the members' window, as in the month
    throughput(cluster, members, Figures(cluster), result)
    return result


@contextlib.contextmanager
def cleanup_on_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into SystemExit, so the `finally` that cleans up runs."""

    def leave(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, leave) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/hosts.py", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--members", type=int, default=200_000, help="members of the township")
    parser.add_argument("--pace", type=float, default=200.0, help="sandbox's segments a second")
    parser.add_argument("--calls-per-s", type=float, default=50.0, help="CALLS_PER_S")
    parser.add_argument("--redis-cut", type=float, default=30.0, help="seconds Redis is cut off")
    parser.add_argument("--loopback", action="store_true", help="no namespaces: 127.0.0.1")
    parser.add_argument(
        "--one-scheduler", action="store_true", help="run `rq cron` on one host, not two"
    )
    parser.add_argument(
        "--worker-cpus",
        type=float,
        default=WORKER_CPUS,
        help="each worker host's share of a core, by cgroup (0: share the machine's)",
    )
    parser.add_argument(
        "--throughput-only",
        action="store_true",
        help="load the members and measure only the throughput with one and two worker hosts",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs) after")
    args = parser.parse_args(argv)
    if not 100 <= args.members <= 2_000_000:
        parser.error("--members must be between 100 and 2,000,000")
    if args.pace <= 0 or args.calls_per_s <= 0 or args.redis_cut < 0 or args.worker_cpus < 0:
        parser.error(
            "--pace and --calls-per-s must be above 0, --redis-cut and --worker-cpus 0 or more"
        )
    if args.loopback:
        namespaces, why = False, "--loopback"
    else:
        namespaces, why = namespaces_possible()
    mode = (
        "hosts: network namespaces on one bridge, one address each"
        if namespaces
        else f"hosts: all on the loopback (127.0.0.1), no namespaces ({why})"
    )
    tmp = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-hosts-"))
    (tmp / "logs").mkdir()
    cluster = Cluster(
        net=Network(namespaces),
        tmp=tmp,
        pace=args.pace,
        calls_per_s=args.calls_per_s,
        two_schedulers=not args.one_scheduler,
        worker_cpus=args.worker_cpus,
    )
    log(mode)
    out = sys.stdout
    started = time.monotonic()
    try:
        with cleanup_on_signals(), contextlib.redirect_stdout(open(os.devnull, "w")):
            cluster.make_hosts()
            cluster.start_postgres()
            cluster.start_redis()
            cluster.start_sandbox()
            if args.throughput_only:
                result = throughput_only(cluster, args.members, mode)
            else:
                result = month(cluster, args.members, args.redis_cut, mode)
    except BaseException:
        log(f"failed; logs in {tmp / 'logs'}" if args.keep else "failed")
        raise
    finally:
        log("cleaning up")
        cluster.close()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    result.add(f"took {time.monotonic() - started:.0f} s")
    print("\n".join(result.lines), file=out, flush=True)
    return 1 if result.missed else 0


if __name__ == "__main__":
    sys.exit(main())
