"""Benchmark of the inbound SMS webhook under gunicorn, beside a no-op route in the same server.

Run: .venv/bin/python bench/webhook.py [--seconds 9] [--rounds 3] [--worker-class gthread|sync]
     [--workers 2] [--threads 4] [--client-processes 2] [--client-threads 4]   (about 2 minutes)

It migrates a fresh SQLite database (WAL) in a temp dir, loads members, starts a redis-server
and gunicorn serving one dispatcher: `/noop` answers a tiny TwiML document without touching
anything, every other path goes to `gateway.create_app()` (configured through the environment),
which gets two reference routes for the figures only (see add_floor_routes): the signature
check and TwiML alone, and that plus storing the text.
A load client on loopback (processes x threads, one keep-alive connection each, every request
signed and encoded before the clock starts) then measures:

1. `/noop`, the two reference routes and `/sms` at full load (closed loop), in alternating
   rounds so that other work on the machine weighs on all alike: requests/s, p50, p99 and the
   ratio of each to `/noop`, and the same ratio from CPU time per request (gunicorn's from
   /proc, the client's own);
2. `/sms` paced at half its measured throughput (open loop, Poisson arrivals; latency counts
   from the scheduled send time, so a queue in the server or the client cannot hide).

Every route receives the same signed Twilio form, so they differ only in the work the app does.
The /sms traffic is a realistic mix: mostly monthly reports, some status updates, help requests,
unknown text, unregistered senders and replays of an earlier MessageSid.

Targets (ratios, not asserted timings): /sms throughput >= 30% of /noop; /sms p99 < 50 ms at
half load; zero errors. PASS/MISS is printed per target; the exit status is 1 only when a
request failed (anything but 200) or the stored messages do not match what was sent.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import math
import multiprocessing as mp
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent

from sqlalchemy import func, or_, select  # noqa: E402  (after the path is set)
from sqlalchemy.orm import Session  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402

from devtools.servers import free_port, redis_server  # noqa: E402
from gateway.migrate import upgrade  # noqa: E402
from infra.db import make_engine  # noqa: E402
from models import (  # noqa: E402
    Direction,
    Member,
    Message,
    Organization,
    OrgKind,
    Report,
    utcnow,
)

if TYPE_CHECKING:
    from multiprocessing.queues import Queue
    from multiprocessing.synchronize import Event

    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from flask import Flask, Response

HOST = "127.0.0.1"
AUTH_TOKEN = "bench-auth-token"
ACCOUNT_SID = "AC" + "b" * 32
TO_NUMBER = "+8610690000"
SOCKET_TIMEOUT = 30.0
SERVER_START_TIMEOUT = 30.0
NOOP_BODY = b'<?xml version="1.0" encoding="UTF-8"?><Response />'
# Targets from issue 3's Performance section.
TARGET_RATIO = 0.30
TARGET_P99_MS = 50.0
# Measured in alternating rounds: the no-op, two reference floors (see add_floor_routes), /sms.
ROUTES = ("/noop", "/floor/signed", "/floor/stored", "/sms")

VILLAGES = "东西南北上下前后新老大小河山石林桥塘湾岭"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ("建国", "秀英", "志强", "桂兰", "海燕", "国华", "小龙", "春梅", "德明", "丽娟")
CITIES = ("广州", "深圳", "东莞", "佛山", "杭州", "苏州", "上海", "厦门", "武汉", "成都")
EMPLOYERS = ("电子厂", "鞋厂", "顺丰速运", "中建三局", "纺织厂", "汽车配件厂", "餐饮公司")
# (weight, body or a function of the random source giving one); most texts are reports.
MIX: tuple[tuple[int, str | Callable[[random.Random], str]], ...] = (
    (30, "HB 1"),
    (10, "汇报1"),
    (25, "HB 2 深圳 电子厂"),
    (8, lambda rng: f"DT {rng.choice(CITIES)} {rng.choice(EMPLOYERS)}"),
    (5, "QZ 1 工资拖欠三个月了"),
    (6, "你好,收到了,谢谢支部"),
    (2, "?"),
)
FLOOR_REPLY = "收到,谢谢"
FLOOR_COMMAND = "bench-floor"  # the reference route's stored texts, left out of the checks
REPLAY_SHARE = 0.05  # a replayed MessageSid: Twilio retried, the member must not count twice
UNMATCHED_SHARE = 0.02  # a number no member has


# --- The served app -------------------------------------------------------------------------


def serve() -> WSGIApplication:
    """The WSGI app gunicorn serves: /noop answered here, everything else by the gateway."""
    from gateway import create_app

    gateway = create_app()
    add_floor_routes(gateway)
    headers = [
        ("Content-Type", "text/xml; charset=utf-8"),
        ("Content-Length", str(len(NOOP_BODY))),
    ]

    def dispatch(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/noop":
            start_response("200 OK", list(headers))
            return [NOOP_BODY]
        return gateway(environ, start_response)

    return dispatch


def add_floor_routes(app: Flask) -> None:
    """Two reference routes beside /sms: what the issue's rules cost before any handling.

    /floor/signed checks the signature and answers TwiML, as /sms does, and nothing else;
    /floor/stored also stores the text in its own transaction, as every text must be. Their
    throughput is the most /sms could reach with this stack on this machine.
    """
    from flask import request
    from sqlalchemy.exc import IntegrityError

    from gateway.inbound import parse_inbound_sms
    from gateway.twiml import message_twiml, twilio_signed
    from infra.db import write_gate
    from models.inbound import store_inbound
    from models.sql import Raw

    @app.post("/floor/signed")
    @twilio_signed
    def floor_signed() -> Response:
        parse_inbound_sms(request.form)
        return message_twiml(FLOOR_REPLY)

    @app.post("/floor/stored")
    @twilio_signed
    def floor_stored() -> Response:
        inbound = parse_inbound_sms(request.form)
        with app.extensions["db_engine"].connect() as connection, write_gate().hold():
            raw = Raw.of(connection)
            connection.begin()
            raw.begin_write()
            try:
                store_inbound(
                    raw,
                    sid=inbound.sid,
                    phone=inbound.sender,
                    body=inbound.body,
                    member_id=None,
                    broadcast_id=None,
                    command=FLOOR_COMMAND,
                    handled=False,
                    reply_body=FLOOR_REPLY,
                    at=utcnow(),
                )
                connection.commit()
            except (IntegrityError, raw.integrity_error):  # a replayed MessageSid
                connection.rollback()
        return message_twiml(FLOOR_REPLY)


# --- Data and server --------------------------------------------------------------------------


def load_members(url: str, count: int, seed: int) -> list[str]:
    """One township with 20 branches and `count` members; returns their phones."""
    rng = random.Random(seed)
    engine = make_engine(url)
    with Session(engine) as session:
        township = Organization(name="青山镇党委", kind=OrgKind.TOWNSHIP)
        session.add(township)
        session.flush()
        branches = [
            Organization(name=f"{village}村党支部", kind=OrgKind.BRANCH, parent_id=township.id)
            for village in VILLAGES
        ]
        session.add_all(branches)
        session.flush()
        phones = [f"+86138{10_000_000 + n:08d}" for n in range(count)]
        session.add_all(
            Member(
                name=rng.choice(SURNAMES) + rng.choice(GIVEN),
                phone=phone,
                branch_id=branches[n % len(branches)].id,
                city=rng.choice(CITIES),
                employer=rng.choice(EMPLOYERS),
            )
            for n, phone in enumerate(phones)
        )
        session.commit()
    engine.dispose()
    return phones


def stored_counts(url: str) -> tuple[int, int]:
    """Inbound messages and reports in the database."""
    engine = make_engine(url)
    with Session(engine) as session:
        inbound = session.scalar(
            select(func.count())
            .select_from(Message)
            .where(
                Message.direction == Direction.IN,
                or_(Message.command.is_(None), Message.command != FLOOR_COMMAND),
            )
        )
        reports = session.scalar(select(func.count()).select_from(Report))
    engine.dispose()
    return inbound or 0, reports or 0


@dataclass(frozen=True)
class ServerSpec:
    """How gunicorn runs: worker class, processes and threads."""

    worker_class: str
    workers: int
    threads: int

    def describe(self) -> str:
        """One line for the report."""
        threads = f" x {self.threads} threads" if self.worker_class == "gthread" else ""
        return f"gunicorn {self.worker_class}, {self.workers} workers{threads}"


@contextmanager
def gunicorn(spec: ServerSpec, env: dict[str, str], port: int, log: Path) -> Iterator[int]:
    """Run gunicorn serving `serve()` on a loopback port; yield the master's pid."""
    command = [
        *(sys.executable, "-m", "gunicorn", "--bind", f"{HOST}:{port}"),
        *("--worker-class", spec.worker_class, "--workers", str(spec.workers)),
        *("--threads", str(spec.threads), "--keep-alive", "30", "--backlog", "2048"),
        *("--pythonpath", f"{ROOT / 'bench'},{ROOT}", "--chdir", str(ROOT)),
        *("--log-level", "warning", "--error-logfile", str(log)),
        "webhook:serve()",
    ]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    try:
        _wait_until_serving(port, process, log)
        yield process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_serving(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    probe = f"GET /noop HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode()
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{log.read_text()}")
        try:
            connection = HttpConnection(HOST, port)
            status = connection.request(probe)
            connection.close()
            if status == 200:
                return
        except OSError:
            pass
        # Waiting on the process doubles as the pause between attempts.
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=0.1)
    raise RuntimeError(
        f"gunicorn did not answer in {SERVER_START_TIMEOUT:.0f} s:\n{log.read_text()}"
    )


def process_cpu_seconds(root_pid: int) -> float:
    """User + system CPU time of a process and its children (gunicorn's master and workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat_path in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat_path.read_text()
        except OSError:  # the process ended while we looked
            continue
        fields = text[text.rindex(")") + 2 :].split()
        pid, ppid = int(stat_path.parent.name), int(fields[1])
        if pid == root_pid or ppid == root_pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


# --- The load client ------------------------------------------------------------------------


class HttpConnection:
    """A minimal keep-alive HTTP/1.1 client: send prepared bytes, read one response's status."""

    def __init__(self, host: str, port: int) -> None:
        self.address = (host, port)
        self.sock: socket.socket | None = None
        self.buffer = b""

    def connect(self) -> None:
        """Open the TCP connection (Nagle off: each request is one small write)."""
        sock = socket.create_connection(self.address, timeout=SOCKET_TIMEOUT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock, self.buffer = sock, b""

    def close(self) -> None:
        """Close the connection; the next request opens a new one."""
        if self.sock is not None:
            self.sock.close()
        self.sock, self.buffer = None, b""

    def request(self, data: bytes) -> int:
        """Send one request and read its whole response; returns the status code."""
        if self.sock is None:
            self.connect()
        assert self.sock is not None
        try:
            self.sock.sendall(data)
            status, close = self._read_response(self.sock)
        except BaseException:
            self.close()
            raise
        if close:
            self.close()
        return status

    def _read_response(self, sock: socket.socket) -> tuple[int, bool]:
        buffer = self.buffer
        while (end := buffer.find(b"\r\n\r\n")) < 0:
            buffer += self._recv(sock)
        lines = buffer[:end].decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length, close = -1, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection":
                close = value.strip().lower() == "close"
        if length < 0:
            raise ConnectionError("response without Content-Length")
        body_end = end + 4 + length
        while len(buffer) < body_end:
            buffer += self._recv(sock)
        self.buffer = buffer[body_end:]
        return status, close

    @staticmethod
    def _recv(sock: socket.socket) -> bytes:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        return chunk


@dataclass(frozen=True)
class Prepared:
    """One request ready to send, and whether it replays an earlier MessageSid."""

    data: bytes
    replay: bool


def prepare_requests(
    path: str, base_url: str, port: int, phones: list[str], count: int, rng: random.Random
) -> list[Prepared]:
    """Signed Twilio inbound-SMS requests for one connection, with replays of its own earlier ones."""
    validator = RequestValidator(AUTH_TOKEN)
    weights = [weight for weight, _ in MIX]
    bodies = [body for _, body in MIX]
    made: list[Prepared] = []
    for _ in range(count):
        if made and rng.random() < REPLAY_SHARE:
            original = rng.choice(made)
            made.append(Prepared(original.data, replay=True))
            continue
        choice = rng.choices(bodies, weights)[0]
        text = choice if isinstance(choice, str) else choice(rng)
        if rng.random() < UNMATCHED_SHARE:
            sender = f"+86139{rng.randrange(10**8):08d}"
        else:
            sender = rng.choice(phones)
        sid = f"SM{rng.getrandbits(128):032x}"
        params = {
            "ToCountry": "CN",
            "ToState": "",
            "SmsMessageSid": sid,
            "NumMedia": "0",
            "ToCity": "",
            "FromZip": "",
            "SmsSid": sid,
            "FromState": "",
            "SmsStatus": "received",
            "FromCity": "",
            "Body": text,
            "FromCountry": "CN",
            "To": TO_NUMBER,
            "ToZip": "",
            "NumSegments": "1",
            "MessageSid": sid,
            "AccountSid": ACCOUNT_SID,
            "From": sender,
            "ApiVersion": "2010-04-01",
        }
        body = urlencode(params).encode()
        signature = validator.compute_signature(base_url + path, params)
        head = (
            f"POST {path} HTTP/1.1\r\n"
            f"Host: {HOST}:{port}\r\n"
            "User-Agent: TwilioProxy/1.1\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"X-Twilio-Signature: {signature}\r\n"
            "\r\n"
        )
        made.append(Prepared(head.encode() + body, replay=False))
    return made


@dataclass(frozen=True)
class LoadSpec:
    """One phase of load: which route, how many connections, how long, and at what pace."""

    path: str
    port: int
    base_url: str
    processes: int
    threads: int
    seconds: float
    max_requests: int
    rate: float | None  # requests/s over all connections; None: as fast as answered
    seed: int

    @property
    def connections(self) -> int:
        """Connections in all client processes together."""
        return self.processes * self.threads


@dataclass
class Tally:
    """What one client process saw."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    stored: int = 0  # first-time MessageSids answered 200: the rows the server must hold
    started: float = math.inf
    finished: float = 0.0
    cpu: float = 0.0

    def merge(self, other: Tally) -> None:
        """Add another process's figures."""
        self.latencies += other.latencies
        self.statuses.update(other.statuses)
        self.stored += other.stored
        self.started = min(self.started, other.started)
        self.finished = max(self.finished, other.finished)
        self.cpu += other.cpu


def _client_process(
    spec: LoadSpec, index: int, phones: list[str], ready: Queue[int], go: Event, out: Queue[Tally]
) -> None:
    """One client process: prepare, connect, wait for the start, drive its connections."""
    per_connection = math.ceil(spec.max_requests / spec.connections)
    plans = []
    for thread in range(spec.threads):
        rng = random.Random(f"{spec.seed}-{spec.path}-{index}-{thread}")
        requests = prepare_requests(
            spec.path, spec.base_url, spec.port, phones, per_connection, rng
        )
        connection = HttpConnection(HOST, spec.port)
        connection.connect()
        plans.append((connection, requests, rng))
    tallies = [Tally() for _ in plans]
    ready.put(index)
    go.wait()
    cpu_before = time.process_time()
    start = time.monotonic()
    deadline = start + spec.seconds
    per_thread_rate = None if spec.rate is None else spec.rate / spec.connections
    workers = [
        threading.Thread(
            target=_drive, args=(connection, requests, rng, start, deadline, per_thread_rate, tally)
        )
        for (connection, requests, rng), tally in zip(plans, tallies, strict=True)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    total = Tally(started=start)
    for tally in tallies:
        total.merge(tally)
    total.started = start
    total.cpu = time.process_time() - cpu_before
    for connection, _, _ in plans:
        connection.close()
    out.put(total)


def _drive(
    connection: HttpConnection,
    requests: list[Prepared],
    rng: random.Random,
    start: float,
    deadline: float,
    rate: float | None,
    tally: Tally,
) -> None:
    """Send requests on one connection until the deadline or the list runs out."""
    scheduled = start + (rng.expovariate(rate) if rate else 0.0)
    for prepared in requests:
        if rate:
            if scheduled >= deadline:
                break
            pause = scheduled - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            # Latency from the scheduled time: a late send is the server's queue showing.
            sent = scheduled
            scheduled += rng.expovariate(rate)
        else:
            sent = time.monotonic()
            if sent >= deadline:
                break
        try:
            status = str(connection.request(prepared.data))
        except (OSError, ValueError) as exc:
            status = type(exc).__name__
        done = time.monotonic()
        tally.latencies.append(done - sent)
        tally.statuses[status] += 1
        tally.finished = done
        if status == "200" and not prepared.replay:
            tally.stored += 1


def run_load(spec: LoadSpec, phones: list[str]) -> Tally:
    """Run one phase with `spec.processes` client processes; their figures merged."""
    ready: Queue[int] = mp.Queue()
    out: Queue[Tally] = mp.Queue()
    go = mp.Event()
    processes = [
        mp.Process(target=_client_process, args=(spec, n, phones, ready, go, out))
        for n in range(spec.processes)
    ]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get(timeout=120)
    go.set()
    total = Tally()
    for _ in processes:
        total.merge(out.get(timeout=spec.seconds + 120))
    for process in processes:
        process.join()
    return total


# --- Figures ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """A phase's summary."""

    name: str
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p99_ms: float
    server_cpu_ms: float  # gunicorn CPU per request
    client_cpu_ms: float  # load client CPU per request
    statuses: dict[str, int]

    def line(self) -> str:
        """One line of the report."""
        return (
            f"{self.name:<22} {self.requests:>7} req {self.rps:>8.0f} req/s"
            f"  p50 {self.p50_ms:>6.1f} ms  p99 {self.p99_ms:>6.1f} ms"
            f"  cpu/req server {self.server_cpu_ms:.2f} ms client {self.client_cpu_ms:.2f} ms"
            f"  errors {self.errors}"
        )


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def summarize(name: str, tallies: list[Tally], server_cpu: float) -> Figures:
    """Requests/s and latency percentiles over a route's phases."""
    latencies = sorted(latency for tally in tallies for latency in tally.latencies)
    count = len(latencies)
    elapsed = sum(max(tally.finished - tally.started, 0.0) for tally in tallies)
    statuses: Counter[str] = Counter()
    for tally in tallies:
        statuses.update(tally.statuses)
    return Figures(
        name=name,
        requests=count,
        errors=sum(n for status, n in statuses.items() if status != "200"),
        rps=count / max(elapsed, 1e-9),
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        server_cpu_ms=server_cpu / max(count, 1) * 1000,
        client_cpu_ms=sum(tally.cpu for tally in tallies) / max(count, 1) * 1000,
        statuses=dict(statuses),
    )


def _cpu_ratio(noop: Figures, route: Figures) -> float:
    # What throughput would be with the machine to ourselves, whatever else ran meanwhile.
    return (noop.server_cpu_ms + noop.client_cpu_ms) / max(
        route.server_cpu_ms + route.client_cpu_ms, 1e-9
    )


def verdict(ok: bool) -> str:
    """PASS or MISS."""
    return "PASS" if ok else "MISS"


# --- Main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    cores = os.cpu_count() or 2
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument(
        "--seconds", type=float, default=9.0, help="full-load time per route, over all rounds"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="alternate /noop and /sms this many times, so a change in the machine's load "
        "affects both routes alike",
    )
    parser.add_argument("--paced-seconds", type=float, default=10.0, help="half-load phase")
    parser.add_argument("--max-requests", type=int, default=60_000, help="cap on each phase")
    parser.add_argument("--worker-class", default="gthread", choices=("gthread", "sync"))
    parser.add_argument("--workers", type=int, default=cores)
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker")
    parser.add_argument("--client-processes", type=int, default=cores)
    parser.add_argument("--client-threads", type=int, default=4, help="connections per process")
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


class Bench:
    """Runs load phases against one server; keeps what /sms must have stored."""

    def __init__(
        self, args: argparse.Namespace, port: int, base_url: str, phones: list[str], master: int
    ) -> None:
        self.args, self.port, self.base_url = args, port, base_url
        self.phones, self.master = phones, master
        self.stored = 0  # first-time MessageSids answered 200 on /sms
        self.seed = itertools.count(args.seed * 1000)

    def phase(
        self, path: str, seconds: float, rate: float | None, count: int
    ) -> tuple[Tally, float]:
        """One phase, bounded in time and count; its tally and the server's CPU seconds."""
        spec = LoadSpec(
            path=path,
            port=self.port,
            base_url=self.base_url,
            processes=self.args.client_processes,
            threads=self.args.client_threads,
            seconds=seconds,
            max_requests=min(count, self.args.max_requests),
            rate=rate,
            seed=next(self.seed),
        )
        cpu_before = process_cpu_seconds(self.master)
        tally = run_load(spec, self.phones)
        cpu = process_cpu_seconds(self.master) - cpu_before
        if path == "/sms":
            self.stored += tally.stored
        return tally, cpu

    def enough(self, rps: float, seconds: float) -> int:
        """Requests to prepare for a phase: twice what the last figures say it will take."""
        return int(rps * seconds * 2) + 20 * self.args.client_processes * self.args.client_threads

    def full_load(self) -> dict[str, Figures]:
        """Every route as fast as it answers, in alternating rounds; figures by path."""
        # Warm every worker and thread (imports, phone metadata, SQL caches); rough rates.
        rps: dict[str, float] = {}
        for path in ROUTES:
            tally, _ = self.phase(path, 3.0, None, 3000 if path == "/noop" else 600)
            rps[path] = len(tally.latencies) / max(tally.finished - tally.started, 1e-9)
        tallies: dict[str, list[Tally]] = {path: [] for path in ROUTES}
        cpu = dict.fromkeys(tallies, 0.0)
        seconds = self.args.seconds / self.args.rounds
        for _ in range(self.args.rounds):
            for path in tallies:
                tally, used = self.phase(path, seconds, None, self.enough(rps[path], seconds))
                tallies[path].append(tally)
                cpu[path] += used
                rps[path] = len(tally.latencies) / max(tally.finished - tally.started, 1e-9)
        return {path: summarize(f"{path} max", tallies[path], cpu[path]) for path in ROUTES}

    def paced(self, rate: float) -> Figures:
        """/sms at a steady rate (Poisson arrivals)."""
        seconds = self.args.paced_seconds
        tally, cpu = self.phase("/sms", seconds, rate, self.enough(rate, seconds))
        return summarize(f"/sms at {rate:.0f}/s", [tally], cpu)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures; 1 if any request failed."""
    args = parse_args(argv)
    server = ServerSpec(args.worker_class, args.workers, args.threads)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-webhook-") as tmp_name:
        tmp = Path(tmp_name)
        database_url = f"sqlite:///{tmp / 'bench.db'}"
        upgrade(database_url)
        phones = load_members(database_url, args.members, args.seed)
        with redis_server(tmp / "redis") as redis_url:
            port = free_port()
            base_url = f"http://{HOST}:{port}"
            env = {
                **os.environ,
                "DATABASE_URL": database_url,
                "REDIS_URL": redis_url,
                "PUBLIC_BASE_URL": base_url,
                "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                "PROVIDER": "sandbox",
                "SECRET_KEY": "bench",
                "UPLOAD_DIR": str(tmp / "uploads"),
            }
            with gunicorn(server, env, port, tmp / "gunicorn.log") as master:
                bench = Bench(args, port, base_url, phones, master)
                full = bench.full_load()
                noop, sms = full["/noop"], full["/sms"]
                paced = bench.paced(sms.rps / 2)
                log_text = (tmp / "gunicorn.log").read_text()
        inbound, reports = stored_counts(database_url)

    print(f"bench/webhook.py: {args.members} members, SQLite (WAL), {server.describe()}")
    print(
        f"load client: {args.client_processes} processes x {args.client_threads} keep-alive "
        f"connections on loopback; {os.cpu_count()} CPUs shared by server and client; "
        f"{args.rounds} alternating rounds of {args.seconds / args.rounds:.1f} s per route"
    )
    # Other processes on the machine slow both routes and stretch latencies; the ratio of CPU
    # time per request below does not depend on them.
    print(f"machine load average: {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    for figures in (*full.values(), paced):
        print(figures.line())
    ratio = sms.rps / noop.rps if noop.rps else 0.0
    errors = sum(figures.errors for figures in full.values()) + paced.errors
    print(f"stored: {inbound} inbound messages (expected {bench.stored}), {reports} reports")
    for path in ROUTES[1:]:
        print(
            f"{path} : /noop throughput {full[path].rps / noop.rps:.1%}; by CPU time per "
            f"request {_cpu_ratio(noop, full[path]):.1%}"
        )
    print(f"{verdict(ratio >= TARGET_RATIO)} /sms throughput {ratio:.0%} of /noop (target >= 30%)")
    print(
        f"{verdict(paced.p99_ms < TARGET_P99_MS)} /sms p99 {paced.p99_ms:.1f} ms at half load "
        f"(target < {TARGET_P99_MS:.0f} ms)"
    )
    print(f"{verdict(errors == 0)} errors: {errors}")
    if errors:
        for figures in (*full.values(), paced):
            print(f"  {figures.name}: {figures.statuses}")
        tail = "\n".join(log_text.splitlines()[-20:])
        print(f"gunicorn log (tail):\n{tail}")
    return 1 if errors or inbound != bench.stored else 0


if __name__ == "__main__":
    sys.exit(main())
