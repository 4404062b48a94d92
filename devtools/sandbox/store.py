"""The sandbox's own SQLite store: messages, calls, fault rules and callback attempts."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from devtools.sandbox.faults import Fault

# Plain INTEGER PRIMARY KEYs: rowid order is creation order, and AUTOINCREMENT would cost one
# more write per insert.
SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    sid TEXT NOT NULL UNIQUE,
    account_sid TEXT NOT NULL,
    to_number TEXT NOT NULL,
    from_number TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    error_code INTEGER,
    num_segments INTEGER NOT NULL,
    status_callback TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_to ON messages (to_number, created_at);
CREATE TABLE IF NOT EXISTS pace (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    rate REAL NOT NULL,
    burst REAL NOT NULL,
    tat REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY,
    sid TEXT NOT NULL UNIQUE,
    account_sid TEXT NOT NULL,
    to_number TEXT NOT NULL,
    from_number TEXT NOT NULL,
    url TEXT,
    twiml_param TEXT,
    status_callback TEXT,
    status_callback_events TEXT NOT NULL,
    machine_detection TEXT,
    status TEXT NOT NULL,
    answered_by TEXT,
    duration INTEGER,
    twiml TEXT,
    url_status INTEGER,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_to ON calls (to_number, created_at);
CREATE TABLE IF NOT EXISTS faults (
    id INTEGER PRIMARY KEY,
    rule TEXT NOT NULL,
    remaining INTEGER
);
CREATE TABLE IF NOT EXISTS callbacks (
    id INTEGER PRIMARY KEY,
    resource_sid TEXT NOT NULL,
    kind TEXT NOT NULL,
    url TEXT NOT NULL,
    params TEXT NOT NULL,
    outcome TEXT NOT NULL,
    http_status INTEGER,
    attempts INTEGER NOT NULL,
    error TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS callbacks_sid ON callbacks (resource_sid);
CREATE TABLE IF NOT EXISTS aliyun_sms (
    id INTEGER PRIMARY KEY,
    biz_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    action TEXT NOT NULL,
    access_key_id TEXT NOT NULL,
    phone_number TEXT NOT NULL,
    sign_name TEXT NOT NULL,
    template_code TEXT NOT NULL,
    template_param TEXT NOT NULL,
    out_id TEXT,
    send_status INTEGER NOT NULL,
    err_code TEXT,
    created_at REAL NOT NULL,
    reported_at REAL
);
CREATE INDEX IF NOT EXISTS aliyun_sms_phone ON aliyun_sms (phone_number, created_at);
CREATE TABLE IF NOT EXISTS aliyun_faults (
    id INTEGER PRIMARY KEY,
    rule TEXT NOT NULL,
    remaining INTEGER
);
CREATE TABLE IF NOT EXISTS aliyun_pushes (
    id INTEGER PRIMARY KEY,
    feed TEXT NOT NULL,
    url TEXT NOT NULL,
    body TEXT NOT NULL,
    outcome TEXT NOT NULL,
    http_status INTEGER,
    answer TEXT,
    attempts INTEGER NOT NULL,
    created_at REAL NOT NULL
);
"""
# Alibaba Cloud voice (devtools/sandbox/aliyun_voice.py): the calls placed, what the member
# on a number will do on the next call, and the audio files uploaded with their review.
ALIYUN_VOICE_SCHEMA = """
CREATE TABLE IF NOT EXISTS aliyun_calls (
    id INTEGER PRIMARY KEY,
    call_id TEXT NOT NULL UNIQUE,
    action TEXT NOT NULL,
    called_number TEXT NOT NULL,
    show_number TEXT NOT NULL,
    prompt TEXT NOT NULL,
    menu TEXT NOT NULL,
    out_id TEXT,
    state TEXT NOT NULL,
    status_code TEXT,
    keys TEXT NOT NULL DEFAULT '',
    duration INTEGER NOT NULL DEFAULT 0,
    heard TEXT NOT NULL DEFAULT '[]',
    created_at REAL NOT NULL,
    ended_at REAL
);
CREATE INDEX IF NOT EXISTS aliyun_calls_number ON aliyun_calls (called_number, id);
CREATE TABLE IF NOT EXISTS aliyun_voice_scripts (
    id INTEGER PRIMARY KEY,
    called_number TEXT NOT NULL,
    script TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS aliyun_voice_files (
    id INTEGER PRIMARY KEY,
    voice_code TEXT NOT NULL UNIQUE,
    filename TEXT NOT NULL,
    size INTEGER NOT NULL,
    state TEXT NOT NULL,
    approve_at REAL,
    created_at REAL NOT NULL
);
"""
# The Alibaba Cloud side's tables, which its control endpoints may list and clear.
ALIYUN_TABLES = (
    "aliyun_sms",
    "aliyun_faults",
    "aliyun_pushes",
    "aliyun_calls",
    "aliyun_voice_scripts",
    "aliyun_voice_files",
)
_ALIYUN_SMS_COLUMNS = (
    "biz_id",
    "request_id",
    "action",
    "access_key_id",
    "phone_number",
    "sign_name",
    "template_code",
    "template_param",
    "out_id",
    "send_status",
    "err_code",
    "created_at",
    "reported_at",
)
_ALIYUN_PUSH_COLUMNS = (
    "feed",
    "url",
    "body",
    "outcome",
    "http_status",
    "answer",
    "attempts",
    "created_at",
)

# Tencent Cloud SMS (devtools/sandbox/tencent.py): what SendSms took, replies, switches, rules
# and how each push ended.
TENCENT_SCHEMA = """
CREATE TABLE IF NOT EXISTS tencent_sms (
    id INTEGER PRIMARY KEY,
    serial_no TEXT UNIQUE,
    sdk_app_id TEXT NOT NULL,
    phone TEXT NOT NULL,
    template_id TEXT NOT NULL,
    sign_name TEXT,
    params TEXT NOT NULL,
    session_context TEXT,
    extend_code TEXT,
    code TEXT NOT NULL,
    report_status TEXT,
    errmsg TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS tencent_sms_phone ON tencent_sms (phone, created_at);
CREATE TABLE IF NOT EXISTS tencent_replies (
    id INTEGER PRIMARY KEY,
    phone TEXT NOT NULL,
    sign_name TEXT,
    text TEXT NOT NULL,
    extend TEXT NOT NULL,
    time INTEGER NOT NULL,
    pulled INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS tencent_settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    settings TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tencent_rules (
    id INTEGER PRIMARY KEY,
    rule TEXT NOT NULL,
    remaining INTEGER
);
CREATE TABLE IF NOT EXISTS tencent_pushes (
    id INTEGER PRIMARY KEY,
    feed TEXT NOT NULL,
    url TEXT NOT NULL,
    body TEXT NOT NULL,
    outcome TEXT NOT NULL,
    http_status INTEGER,
    answer TEXT,
    attempts INTEGER NOT NULL,
    created_at REAL NOT NULL
);
"""

_MESSAGE_COLUMNS = (
    "sid",
    "account_sid",
    "to_number",
    "from_number",
    "body",
    "status",
    "error_code",
    "num_segments",
    "status_callback",
    "created_at",
    "updated_at",
)
_CALL_COLUMNS = (
    "sid",
    "account_sid",
    "to_number",
    "from_number",
    "url",
    "twiml_param",
    "status_callback",
    "status_callback_events",
    "machine_detection",
    "status",
    "answered_by",
    "duration",
    "twiml",
    "url_status",
    "created_at",
    "updated_at",
)
_CALL_UPDATABLE = {"status", "answered_by", "duration", "twiml", "url_status", "updated_at"}


class SandboxStore:
    """SQLite in WAL mode with one connection per thread (and per process, after a fork)."""

    def __init__(self, db_path: str) -> None:
        self.db_path = db_path
        self._local = threading.local()

    def init_schema(self) -> None:
        """Create the file, switch it to WAL and create the tables if they are missing."""
        Path(self.db_path).parent.mkdir(parents=True, exist_ok=True)
        conn = self._connect()
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(SCHEMA)
            conn.executescript(TENCENT_SCHEMA)
            conn.executescript(ALIYUN_VOICE_SCHEMA)
        finally:
            conn.close()

    def _connect(self) -> sqlite3.Connection:
        # Autocommit: every statement here is one small transaction of its own.
        conn = sqlite3.connect(self.db_path, timeout=30.0, isolation_level=None)
        conn.row_factory = sqlite3.Row
        # NORMAL is safe in WAL mode and avoids an fsync on every send.
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection; a forked worker never reuses its parent's."""
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            local.conn = self._connect()
            local.pid = os.getpid()
        conn: sqlite3.Connection = local.conn
        return conn

    # Messages

    def insert_message(self, row: dict[str, Any]) -> None:
        """Record a message the API accepted."""
        _insert(self.conn, "messages", _MESSAGE_COLUMNS, row)

    def get_message(self, sid: str) -> dict[str, Any] | None:
        """One message by its sid."""
        found = self.conn.execute("SELECT * FROM messages WHERE sid = ?", (sid,)).fetchone()
        return None if found is None else dict(found)

    def find_messages(
        self,
        *,
        account_sid: str,
        to: str | None = None,
        from_: str | None = None,
        created_from: float | None = None,
        created_until: float | None = None,
        offset: int = 0,
        limit: int = 50,
        newest_first: bool = True,
    ) -> list[dict[str, Any]]:
        """Messages of an account matching the filters that are given."""
        where = ["account_sid = ?"]
        args: list[Any] = [account_sid]
        for clause, value in (
            ("to_number = ?", to),
            ("from_number = ?", from_),
            ("created_at >= ?", created_from),
            ("created_at < ?", created_until),
        ):
            if value is not None:
                where.append(clause)
                args.append(value)
        order = "DESC" if newest_first else "ASC"
        sql = (
            f"SELECT * FROM messages WHERE {' AND '.join(where)} "
            f"ORDER BY id {order} LIMIT ? OFFSET ?"
        )
        return [dict(row) for row in self.conn.execute(sql, (*args, limit, offset))]

    def update_message(self, sid: str, status: str, error_code: int | None, now: float) -> None:
        """Move a message to a new status, as its delivery progresses."""
        self.conn.execute(
            "UPDATE messages SET status = ?, error_code = ?, updated_at = ? WHERE sid = ?",
            (status, error_code, now, sid),
        )

    def outbox(self, table: str, to: str | None) -> list[dict[str, Any]]:
        """Every message or call (optionally to one number) in the order they were created."""
        if table not in ("messages", "calls"):
            raise ValueError(table)
        if to is None:
            rows = self.conn.execute(f"SELECT * FROM {table} ORDER BY id")
        else:
            rows = self.conn.execute(
                f"SELECT * FROM {table} WHERE to_number = ? ORDER BY id", (to,)
            )
        return [dict(row) for row in rows]

    def clear(self, table: str) -> int:
        """Delete every message, call or callback record; return how many went."""
        if table not in ("messages", "calls", "callbacks"):
            raise ValueError(table)
        return self.conn.execute(f"DELETE FROM {table}").rowcount

    def counts(self) -> dict[str, int]:
        """How many messages and calls the sandbox holds."""
        row = self.conn.execute(
            "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM calls)"
        ).fetchone()
        return {"messages": int(row[0]), "calls": int(row[1])}

    # Calls

    def insert_call(self, row: dict[str, Any]) -> None:
        """Record a call the API accepted."""
        _insert(self.conn, "calls", _CALL_COLUMNS, row)

    def get_call(self, sid: str) -> dict[str, Any] | None:
        """One call by its sid."""
        found = self.conn.execute("SELECT * FROM calls WHERE sid = ?", (sid,)).fetchone()
        return None if found is None else dict(found)

    def update_call(self, sid: str, **fields: Any) -> None:
        """Change some of a call's fields as the call progresses."""
        unknown = set(fields) - _CALL_UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {unknown}")
        assignments = ", ".join(f"{name} = ?" for name in fields)
        self.conn.execute(f"UPDATE calls SET {assignments} WHERE sid = ?", (*fields.values(), sid))

    # Faults

    def add_fault(self, rule: dict[str, Any]) -> int:
        """Store a checked rule; return its id."""
        cursor = self.conn.execute(
            "INSERT INTO faults (rule, remaining) VALUES (?, ?)",
            (json.dumps(rule), rule.get("count")),
        )
        return int(cursor.lastrowid or 0)

    def active_faults(self) -> list[Fault]:
        """Rules that still apply, oldest first."""
        rows = self.conn.execute(
            "SELECT id, rule, remaining FROM faults "
            "WHERE remaining IS NULL OR remaining > 0 ORDER BY id"
        )
        return [_fault(row[0], row[1], row[2]) for row in rows]

    def consume(self, fault: Fault) -> bool:
        """Use a rule once; False when another request used up its last count first."""
        if fault.remaining is None:
            return True
        # One conditional update, so two workers never both take the last count.
        cursor = self.conn.execute(
            "UPDATE faults SET remaining = remaining - 1 WHERE id = ? AND remaining > 0",
            (fault.id,),
        )
        return cursor.rowcount == 1

    def list_faults(self) -> list[dict[str, Any]]:
        """Every rule with its remaining count."""
        rows = self.conn.execute("SELECT id, rule, remaining FROM faults ORDER BY id")
        return [{"id": row[0], "rule": json.loads(row[1]), "remaining": row[2]} for row in rows]

    def clear_faults(self) -> int:
        """Drop every rule; return how many went."""
        return self.conn.execute("DELETE FROM faults").rowcount

    # Callbacks

    def record_callback(self, row: dict[str, Any]) -> None:
        """Record how one callback ended: delivered, or dropped after its attempts."""
        row = {**row, "params": json.dumps(row["params"], ensure_ascii=False)}
        _insert(
            self.conn,
            "callbacks",
            (
                "resource_sid",
                "kind",
                "url",
                "params",
                "outcome",
                "http_status",
                "attempts",
                "error",
                "created_at",
            ),
            row,
        )

    def list_callbacks(self, resource_sid: str | None) -> list[dict[str, Any]]:
        """Callback attempts, for one resource or all, in the order they ended."""
        if resource_sid is None:
            rows = self.conn.execute("SELECT * FROM callbacks ORDER BY id")
        else:
            rows = self.conn.execute(
                "SELECT * FROM callbacks WHERE resource_sid = ? ORDER BY id", (resource_sid,)
            )
        result = []
        for row in rows:
            item = dict(row)
            item["params"] = json.loads(item["params"])
            result.append(item)
        return result

    # Alibaba Cloud SMS (devtools.sandbox.aliyun)

    def insert_aliyun_sms(self, rows: list[dict[str, Any]]) -> None:
        """Record the messages one SendSms or SendBatchSms accepted, in one transaction."""
        names = _ALIYUN_SMS_COLUMNS
        sql = (
            f"INSERT INTO aliyun_sms ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})"
        )
        with _transaction(self.conn):
            self.conn.executemany(sql, [tuple(row.get(name) for name in names) for row in rows])

    def report_aliyun_sms(
        self, biz_id: str, phone: str, status: int, err_code: str, at: float
    ) -> None:
        """A message's receipt: its SendStatus (3 delivered, 2 failed) and code."""
        self.conn.execute(
            "UPDATE aliyun_sms SET send_status = ?, err_code = ?, reported_at = ? "
            "WHERE biz_id = ? AND phone_number = ?",
            (status, err_code, at, biz_id, phone),
        )

    def aliyun_sms(
        self,
        phone: str | None = None,
        *,
        created_from: float | None = None,
        created_until: float | None = None,
        biz_id: str | None = None,
        offset: int = 0,
        limit: int = -1,
    ) -> list[dict[str, Any]]:
        """Messages sent through the Alibaba API, oldest first, filtered by what is given."""
        where, args = ["1 = 1"], []
        for clause, value in (
            ("phone_number = ?", phone),
            ("created_at >= ?", created_from),
            ("created_at < ?", created_until),
            ("biz_id = ?", biz_id),
        ):
            if value is not None:
                where.append(clause)
                args.append(value)
        sql = f"SELECT * FROM aliyun_sms WHERE {' AND '.join(where)} ORDER BY id LIMIT ? OFFSET ?"
        return [dict(row) for row in self.conn.execute(sql, (*args, limit, offset))]

    def count_aliyun_sms(self, phone: str, created_from: float, created_until: float) -> int:
        """How many messages one number was sent in [from, until)."""
        row = self.conn.execute(
            "SELECT count(*) FROM aliyun_sms WHERE phone_number = ? AND created_at >= ? "
            "AND created_at < ?",
            (phone, created_from, created_until),
        ).fetchone()
        return int(row[0])

    def add_aliyun_fault(self, rule: dict[str, Any]) -> int:
        """Store a checked Alibaba fault rule; return its id."""
        cursor = self.conn.execute(
            "INSERT INTO aliyun_faults (rule, remaining) VALUES (?, ?)",
            (json.dumps(rule, ensure_ascii=False), rule.get("count")),
        )
        return int(cursor.lastrowid or 0)

    def aliyun_faults(self) -> list[tuple[int, dict[str, Any], int | None]]:
        """Alibaba fault rules that still apply, oldest first: (id, rule, remaining)."""
        rows = self.conn.execute(
            "SELECT id, rule, remaining FROM aliyun_faults "
            "WHERE remaining IS NULL OR remaining > 0 ORDER BY id"
        )
        return [(row[0], json.loads(row[1]), row[2]) for row in rows]

    def consume_aliyun_fault(self, fault_id: int, remaining: int | None) -> bool:
        """Use an Alibaba rule once; False when its last count is gone."""
        if remaining is None:
            return True
        cursor = self.conn.execute(
            "UPDATE aliyun_faults SET remaining = remaining - 1 WHERE id = ? AND remaining > 0",
            (fault_id,),
        )
        return cursor.rowcount == 1

    def record_aliyun_push(self, row: dict[str, Any]) -> None:
        """How one push to the app ended (delivered or dropped), with what was sent."""
        _insert(self.conn, "aliyun_pushes", _ALIYUN_PUSH_COLUMNS, row)

    def aliyun_pushes(self, feed: str | None = None) -> list[dict[str, Any]]:
        """Pushes in the order they ended, optionally of one feed."""
        if feed is None:
            rows = self.conn.execute("SELECT * FROM aliyun_pushes ORDER BY id")
        else:
            rows = self.conn.execute(
                "SELECT * FROM aliyun_pushes WHERE feed = ? ORDER BY id", (feed,)
            )
        return [{**dict(row), "body": json.loads(row["body"])} for row in rows]

    # Pace: one token bucket of message segments a second, shared by every sandbox process.

    def set_pace(self, rate: float, burst: float) -> None:
        """Accept `rate` segments a second, `burst` at once; a rate of 0 takes any number."""
        self.conn.execute(
            "INSERT INTO pace (id, rate, burst, tat) VALUES (1, ?, ?, 0) "
            "ON CONFLICT (id) DO UPDATE SET rate = excluded.rate, burst = excluded.burst, tat = 0",
            (rate, burst),
        )

    def pace(self) -> tuple[float, float]:
        """The pace in force: (segments a second, burst); (0, 0) when there is none."""
        row = self.conn.execute("SELECT rate, burst FROM pace WHERE id = 1").fetchone()
        return (0.0, 0.0) if row is None else (float(row["rate"]), float(row["burst"]))

    def take_pace(self, tokens: float, now: float) -> bool:
        """Take `tokens` segments from the bucket; False (nothing taken) when over the pace."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT rate, burst, tat FROM pace WHERE id = 1").fetchone()
            if row is None or row["rate"] <= 0:
                return True
            rate, burst = float(row["rate"]), float(row["burst"])
            tat = max(float(row["tat"]), now)
            new_tat = tat + tokens / rate
            if new_tat - burst / rate > now:
                return False
            conn.execute("UPDATE pace SET tat = ? WHERE id = 1", (new_tat,))
            return True
        finally:
            conn.execute("COMMIT")

    def clear_aliyun(self, table: str) -> int:
        """Delete every row of one of the Alibaba tables; return how many went."""
        if table not in ALIYUN_TABLES:
            raise ValueError(table)
        return self.conn.execute(f"DELETE FROM {table}").rowcount


class _transaction:
    """BEGIN ... COMMIT on an autocommit connection (ROLLBACK if the block raises)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN")
        return self.conn

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        self.conn.execute("COMMIT" if kind is None else "ROLLBACK")


@lru_cache(maxsize=256)
def _fault(fault_id: int, rule: str, remaining: int | None) -> Fault:
    # Every create reads the rules; parsing each one once keeps that read cheap.
    return Fault.from_rule(fault_id, json.loads(rule), remaining)


def _insert(
    conn: sqlite3.Connection, table: str, columns: Iterable[str], row: dict[str, Any]
) -> None:
    names = tuple(columns)
    placeholders = ", ".join("?" for _ in names)
    conn.execute(
        f"INSERT INTO {table} ({', '.join(names)}) VALUES ({placeholders})",
        tuple(row.get(name) for name in names),
    )


__all__ = ["SandboxStore"]
