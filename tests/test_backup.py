"""scripts/backup.sh and scripts/restore.sh on a real PostgreSQL: every member, report and
message comes back, with the uploads."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from gateway.migrate import upgrade
from infra.config import PROJECT_ROOT
from infra.db import make_engine
from models.member import Member
from models.message import Direction, Message, MessageStatus
from models.report import Channel, Report
from tests.factories import make_member, make_org

SCRIPTS = PROJECT_ROOT / "scripts"


def new_database(server_url: str) -> str:
    """An empty database on the test's PostgreSQL server; its SQLAlchemy URL."""
    url = make_url(server_url)
    name = "restore_" + uuid.uuid4().hex[:10]
    with psycopg.connect(
        host=url.host, port=url.port, user=url.username, dbname=url.database, autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False)


def run(script: str, arg: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPTS / script), str(arg)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def rows(session: Session) -> dict[str, Any]:
    return {
        "members": session.execute(
            select(Member.id, Member.name, Member.phone, Member.branch_id).order_by(Member.id)
        ).all(),
        "reports": session.execute(
            select(
                Report.id, Report.member_id, Report.period, Report.studied, Report.city
            ).order_by(Report.id)
        ).all(),
        "messages": session.execute(
            select(Message.id, Message.phone, Message.body, Message.status).order_by(Message.id)
        ).all(),
    }


def test_backup_restores_into_an_empty_database(postgres_url: str, tmp_path: Path) -> None:
    source = new_database(postgres_url)
    upgrade(source)
    engine = make_engine(source)
    with Session(engine) as session:
        branch = make_org(session)
        for number in range(40):
            member = make_member(session, branch, name=f"成员{number}")
            session.add(
                Report(
                    member_id=member.id,
                    period="2026-11",
                    studied=number % 2 == 0,
                    city="广州",
                    channel=Channel.SMS,
                    receipt=f"R{number:04d}",
                )
            )
            session.add(
                Message(
                    direction=Direction.IN,
                    member_id=member.id,
                    phone=member.phone,
                    body=f"HB {number} 学习了",
                    status=MessageStatus.RECEIVED,
                )
            )
        session.commit()
        before = rows(session)
    engine.dispose()
    uploads = tmp_path / "uploads"
    (uploads / "lessons").mkdir(parents=True)
    (uploads / "lessons" / "1.mp3").write_bytes(b"ID3" + bytes(range(256)) * 8)

    backup = tmp_path / "backup"
    done = run("backup.sh", backup, DATABASE_URL=source, UPLOAD_DIR=str(uploads))
    assert done.returncode == 0, done.stderr
    assert {p.name for p in backup.iterdir()} == {"database.dump", "uploads.tar.gz", "MANIFEST"}

    target = new_database(postgres_url)
    restored_uploads = tmp_path / "restored"
    done = run("restore.sh", backup, DATABASE_URL=target, UPLOAD_DIR=str(restored_uploads))
    assert done.returncode == 0, done.stderr

    engine = make_engine(target)
    with Session(engine) as session:
        after = rows(session)
        assert session.scalar(select(func.count()).select_from(Member)) == 40
        version = session.scalar(text("select version_num from alembic_version"))
    engine.dispose()
    assert after == before
    assert len(after["reports"]) == 40 and len(after["messages"]) == 40
    assert version is not None  # the restored database is at the same migration
    restored = restored_uploads / "lessons" / "1.mp3"
    assert restored.read_bytes() == (uploads / "lessons" / "1.mp3").read_bytes()

    # Restoring over a database that holds tables is refused, and nothing is changed.
    again = run("restore.sh", backup, DATABASE_URL=target, UPLOAD_DIR=str(restored_uploads))
    assert again.returncode == 2
    assert "empty" in again.stderr


def test_restore_refuses_what_is_not_a_backup(tmp_path: Path, postgres_url: str) -> None:
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "database.dump").write_bytes(b"x")
    done = run("restore.sh", tmp_path / "half", DATABASE_URL=postgres_url)
    assert done.returncode == 2
    assert "missing" in done.stderr
    backup = tmp_path / "tampered"
    backup.mkdir()
    for name in ("database.dump", "uploads.tar.gz"):
        (backup / name).write_bytes(b"x")
    (backup / "MANIFEST").write_text("created now\ndatabase.dump 00\nuploads.tar.gz 00\n")
    done = run("restore.sh", backup, DATABASE_URL=postgres_url)
    assert done.returncode == 2
    assert "checksum" in done.stderr
    usage = subprocess.run(["bash", str(SCRIPTS / "backup.sh")], capture_output=True, text=True)
    assert usage.returncode == 2 and "usage" in usage.stderr
