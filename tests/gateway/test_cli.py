"""The `flask` commands of the foundation: imports, users, demo data and migrations."""

from __future__ import annotations

import os
import subprocess
import sys
from itertools import chain
from pathlib import Path
from typing import Any

import click
import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

from devtools.demo import DEMO_PASSWORD, LOGINS
from gateway import create_app
from gateway.commands import LazyGroup
from infra.db import make_engine
from models import (
    Base,
    Call,
    HelpRequest,
    Lesson,
    Member,
    Message,
    Organization,
    OrgKind,
    Recording,
    Report,
    Role,
    User,
)
from models.user import check_password
from tests.data.registers import (
    CLEAN_MEMBERS,
    HOST,
    MESSY_ERRORS,
    MESSY_MEMBERS,
    ORGS,
    TAKEN_PHONE,
    write_table,
)
from tests.empty_db import empty_database
from tests.factories import make_member, make_org, make_tree
from tests.rq_worker import worker_environ

PROJECT = Path(__file__).resolve().parent.parent.parent
FLASK = Path(sys.executable).parent / "flask"


def count(session: Session, model: type[Base]) -> int:
    """How many rows a table holds, as committed."""
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def branches(session: Session) -> None:
    """The township of tests.factories with its branches and a host organisation, committed."""
    township, _east, _west = make_tree(session)
    make_org(session, HOST, OrgKind.HOST, township)
    session.commit()


# orgs import


@pytest.fixture
def urumqi(app_config: dict[str, Any]) -> None:
    """Run the app with TIMEZONE set, to see new organisations take it."""
    app_config["TIMEZONE"] = "Asia/Urumqi"


def test_orgs_import_builds_the_tree(
    urumqi: None, runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    """`flask orgs import` writes the tree; a blank time zone takes the TIMEZONE setting."""
    path = write_table(ORGS, tmp_path / "orgs.xlsx")

    result = runner.invoke(args=["orgs", "import", str(path)])

    assert result.exit_code == 0, result.output
    assert "4 created, 0 updated, 0 unchanged (were written)" in result.output
    orgs = {o.name: o for o in session.scalars(select(Organization))}
    assert orgs["东村党支部"].parent_id == orgs["青山镇党委"].id
    assert orgs["东村党支部"].timezone == "Asia/Urumqi"


def test_orgs_import_with_bad_rows_fails_and_writes_nothing(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    """Each bad row is printed with its number on stderr and the command exits 1."""
    rows = (*ORGS, ("南村党支部", "village", "青山镇党委", ""), ("北村", "branch", "", "Mars/X"))
    path = write_table(rows, tmp_path / "orgs.csv")

    result = runner.invoke(args=["orgs", "import", str(path)])

    assert result.exit_code == 1
    assert "第6行 row 6: 未知类型 unknown kind: 'village'" in result.stderr
    assert "第7行 row 7: 未知时区 unknown time zone: Mars/X" in result.stderr
    assert "2 bad rows: nothing was imported" in result.stderr
    assert count(session, Organization) == 0


def test_orgs_import_dry_run_writes_nothing(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    """--dry-run on orgs says what it would do and leaves the database alone."""
    path = write_table(ORGS, tmp_path / "orgs.csv")

    result = runner.invoke(args=["orgs", "import", "--dry-run", str(path)])

    assert result.exit_code == 0, result.output
    assert "4 created, 0 updated, 0 unchanged (would be written)" in result.output
    assert count(session, Organization) == 0


# members import


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_members_import_twice_creates_then_changes_nothing(
    branches: None, runner: FlaskCliRunner, session: Session, tmp_path: Path, fmt: str
) -> None:
    """The clean register is written once; the same file again reports 0 created, 0 updated."""
    path = write_table(CLEAN_MEMBERS, tmp_path / f"register.{fmt}")

    first = runner.invoke(args=["members", "import", str(path)])
    second = runner.invoke(args=["members", "import", str(path)])

    assert first.exit_code == 0, first.output
    assert "3 created, 0 updated, 0 unchanged (were written)" in first.output
    assert "新增 3，更新 0，未变 0" in first.output
    assert second.exit_code == 0, second.output
    assert "0 created, 0 updated, 3 unchanged" in second.output
    assert count(session, Member) == 3


def test_members_import_of_a_messy_register_lists_every_bad_row(
    branches: None, runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    """Every bad row is printed with its row number and reason; no member is written."""
    west = session.scalars(select(Organization).where(Organization.name == "西村党支部")).one()
    make_member(session, west, phone=TAKEN_PHONE, name="赵六")
    session.commit()
    path = write_table(MESSY_MEMBERS, tmp_path / "messy.xlsx")

    result = runner.invoke(args=["members", "import", str(path)])

    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == len(MESSY_ERRORS) + 1
    for line, (row, phrase) in zip(lines, MESSY_ERRORS, strict=False):
        assert line.startswith(f"第{row}行 row {row}: ")
        assert phrase in line
    assert "6 行有错误，未导入任何数据 / 6 bad rows: nothing was imported" in lines[-1]
    assert count(session, Member) == 1


def test_members_import_dry_run_writes_nothing(
    branches: None, runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    """--dry-run checks the file and says what would be written, writing nothing."""
    path = write_table(CLEAN_MEMBERS, tmp_path / "register.csv")

    result = runner.invoke(args=["members", "import", "--dry-run", str(path)])

    assert result.exit_code == 0, result.output
    assert "3 created, 0 updated, 0 unchanged (would be written)" in result.output
    assert count(session, Member) == 0


def test_members_import_of_an_unreadable_file_says_why(
    branches: None, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    """A wrong file type, a missing column or a missing file is refused with a message."""
    xls = tmp_path / "register.xls"
    xls.write_bytes(b"\xd0\xcf\x11\xe0")
    no_phone = write_table((("姓名", "支部"), ("王建国", "东村党支部")), tmp_path / "p.csv")

    wrong_type = runner.invoke(args=["members", "import", str(xls)])
    no_column = runner.invoke(args=["members", "import", str(no_phone)])
    missing = runner.invoke(args=["members", "import", str(tmp_path / "nowhere.csv")])

    assert wrong_type.exit_code == 1
    assert "unsupported file type .xls" in wrong_type.output
    assert no_column.exit_code == 1
    assert "missing columns: phone (手机号)" in no_column.output
    assert missing.exit_code == 2
    assert "does not exist" in missing.output


# users create


def test_users_create_makes_a_login_scoped_to_an_organisation(
    branches: None, runner: FlaskCliRunner, session: Session
) -> None:
    """The user gets the role, the organisation and a hashed password that checks."""
    result = runner.invoke(
        args=[
            *("users", "create", "--username", "dongcun", "--password", "s3cret-pass"),
            *("--role", "branch", "--org", "东村党支部", "--name", "东村支书"),
        ]
    )

    assert result.exit_code == 0, result.output
    assert "created user dongcun (branch, 东村党支部)" in result.output
    session.expire_all()
    user = session.scalars(select(User).where(User.username == "dongcun")).one()
    assert (user.role, user.org.name, user.display_name) == (Role.BRANCH, "东村党支部", "东村支书")
    assert user.password_hash != "s3cret-pass"
    assert check_password(user, "s3cret-pass")
    assert not check_password(user, "wrong-pass")


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        ({"--org": "北村党支部"}, 1, "unknown organisation: 北村党支部"),
        ({"--role": "mayor"}, 2, "Invalid value for '--role'"),
        ({"--password": "short"}, 1, "at least 8 characters"),
        ({"--username": "taken"}, 1, "username taken: taken"),
    ],
)
def test_users_create_refuses_bad_input(
    branches: None,
    runner: FlaskCliRunner,
    session: Session,
    change: dict[str, str],
    code: int,
    message: str,
) -> None:
    """An unknown organisation or role, a short password or a taken username is refused."""
    first = {"--username": "taken", "--password": "long-enough", "--role": "host", "--org": HOST}
    created = runner.invoke(args=["users", "create", *chain.from_iterable(first.items())])
    assert created.exit_code == 0, created.output
    options = {**first, "--username": "newcomer", **change}

    result = runner.invoke(args=["users", "create", *chain.from_iterable(options.items())])

    assert result.exit_code == code
    assert message in result.output
    assert count(session, User) == 1


# demo


def test_demo_loads_a_township_with_six_months_of_activity(
    runner: FlaskCliRunner, session: Session
) -> None:
    """`flask demo` writes three branches, hosts, about 60 members, a login per role and history."""
    result = runner.invoke(args=["demo"])

    assert result.exit_code == 0, result.output
    assert "3 branches, 60 members" in result.output
    kinds = session.scalars(select(Organization.kind)).all()
    assert sorted(kinds) == sorted([OrgKind.TOWNSHIP, *[OrgKind.BRANCH] * 3, *[OrgKind.HOST] * 3])
    members = session.scalars(select(Member)).all()
    assert len(members) == 60
    assert len({m.phone for m in members}) == 60
    assert all("\u4e00" <= m.name[0] <= "\u9fff" for m in members)
    assert len({m.city for m in members}) >= 5
    assert {u.role for u in session.scalars(select(User))} == set(Role)
    periods = session.scalars(select(Report.period).distinct()).all()
    assert len(periods) == 6
    for model in (Message, Call, HelpRequest, Recording, Lesson):
        assert count(session, model) > 0, model.__name__


def test_demo_has_deeds_tips_and_ratings(runner: FlaskCliRunner, session: Session) -> None:
    """The demo's members logged deeds over the months: confirmed, declined and waiting ones,
    tips heard on the board, a staff tip to approve, ratings and an exemplary mark."""
    from models import Deed, DeedStatus, Exemplar, MemberRating

    assert runner.invoke(args=["demo"]).exit_code == 0
    statuses = set(session.scalars(select(Deed.status)))
    assert statuses == {DeedStatus.CONFIRMED, DeedStatus.DECLINED, DeedStatus.PENDING}
    items = set(session.scalars(select(Deed.item)))
    assert items == {1, 2, 3, 4, 5}
    heard = session.scalar(
        select(func.sum(Deed.listens)).where(Deed.item == 1, Deed.status == DeedStatus.CONFIRMED)
    )
    assert heard and heard > 0
    assert session.scalar(select(Deed).where(Deed.author_id.is_not(None))) is not None
    assert count(session, MemberRating) > 0 and count(session, Exemplar) == 1


def test_demo_shows_what_follows_up_by_itself(runner: FlaskCliRunner, session: Session) -> None:
    """The demo has a late help request, a pending notice, a failed text turned into a call
    (and one waiting for its window), and a lesson left half heard."""
    from models import Broadcast, BroadcastStatus, CallPurpose, LessonListen

    assert runner.invoke(args=["demo"]).exit_code == 0
    escalated = session.scalars(select(HelpRequest).where(HelpRequest.escalated_at.is_not(None)))
    assert len(escalated.all()) == 1
    overdue = session.scalars(
        select(HelpRequest).where(HelpRequest.contact_overdue_at.is_not(None))
    ).all()
    assert len(overdue) >= 2
    pending = session.scalars(select(Broadcast.status)).all()
    assert BroadcastStatus.PENDING in pending
    purposes = session.scalars(select(Call.purpose).where(Call.message_id.is_not(None))).all()
    assert sorted(purposes) == sorted([CallPurpose.NOTICE, CallPurpose.REMINDER])
    listen = session.scalars(select(LessonListen).where(LessonListen.position.is_not(None)))
    assert [x.completed for x in listen] == [False]


def test_demo_logins_can_log_in(runner: FlaskCliRunner, session: Session) -> None:
    """Each printed demo login exists with the printed password."""
    runner.invoke(args=["demo"])

    result = runner.invoke(args=["demo", "logins"])

    assert result.exit_code == 0, result.output
    for username, role, org_name, _display in LOGINS:
        assert f"{username:<9} / {DEMO_PASSWORD}" in result.output
        user = session.scalars(select(User).where(User.username == username)).one()
        assert (user.role, user.org.name) == (role, org_name)
        assert check_password(user, DEMO_PASSWORD)


def test_demo_only_goes_into_an_empty_database(runner: FlaskCliRunner, session: Session) -> None:
    """A second `flask demo` fails; `--if-empty` passes over a loaded database quietly."""
    first = runner.invoke(args=["demo", "--if-empty"])
    again = runner.invoke(args=["demo"])
    skipped = runner.invoke(args=["demo", "--if-empty"])

    assert first.exit_code == 0, first.output
    assert "demo loaded" in first.output
    assert again.exit_code == 1
    assert "database not empty" in again.output
    assert skipped.exit_code == 0
    assert "demo data not loaded" in skipped.output
    assert count(session, Member) == 60


def test_demo_if_empty_passes_over_a_database_with_real_data(
    branches: None, runner: FlaskCliRunner, session: Session
) -> None:
    """A database that already has organisations gets no demo members."""
    result = runner.invoke(args=["demo", "--if-empty"])

    assert result.exit_code == 0
    assert count(session, Member) == 0
    assert count(session, Organization) == 4


# db upgrade and the flask entry point


def test_db_upgrade_creates_every_table_in_an_empty_database(
    request: pytest.FixtureRequest, db_backend: str, app_config: dict[str, Any], tmp_path: Path
) -> None:
    """`flask db upgrade` on a new SQLite file or PostgreSQL database creates the schema."""
    with empty_database(request, db_backend, tmp_path) as url:
        app = create_app({**app_config, "DATABASE_URL": url})
        try:
            result = app.test_cli_runner().invoke(args=["db", "upgrade"])
            again = app.test_cli_runner().invoke(args=["db", "upgrade"])
        finally:
            app.extensions["db_engine"].dispose()
        engine = make_engine(url)
        try:
            tables = set(inspect(engine).get_table_names())
        finally:
            engine.dispose()

    assert result.exit_code == 0, result.output
    assert "database at head" in result.output
    assert again.exit_code == 0, again.output
    assert tables == set(Base.metadata.tables) | {"alembic_version"}


def subprocess_env(tmp_path: Path, redis_url: str) -> dict[str, str]:
    """The environment of a `flask` run in a child process, pointed at this test's files."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "TWILIO_"))}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'var' / 'cli.db'}",
        REDIS_URL=redis_url,
        PROVIDER="sandbox",
        SECRET_KEY="cli-test",
    )
    return env


def test_flask_app_gateway_finds_create_app_and_upgrades(tmp_path: Path, redis_url: str) -> None:
    """`flask --app gateway db upgrade` from anywhere builds the app and migrates a new file."""
    result = subprocess.run(
        [str(FLASK), "--app", "gateway", "db", "upgrade"],
        cwd=tmp_path,
        env=subprocess_env(tmp_path, redis_url),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert "database at head" in result.stdout
    engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'cli.db'}")
    try:
        assert "members" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_plain_flask_in_the_project_uses_flaskenv(tmp_path: Path, redis_url: str) -> None:
    """In the project directory `flask` alone finds the app and lists the foundation's commands."""
    result = subprocess.run(
        [str(FLASK), "--help"],
        cwd=PROJECT,
        env=subprocess_env(tmp_path, redis_url),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert "Could not locate" not in result.stderr
    commands = {line.split()[0] for line in result.stdout.splitlines() if line.startswith("  ")}
    assert {"db", "demo", "members", "orgs", "users"} <= commands


# What only a command needs: building the app for the web, a worker or the scheduler must not
# import it (each of these processes would carry it in memory for nothing). The phone
# simulator is not here: the admin's phone page serves it under the sandbox.
COMMAND_ONLY_MODULES = (
    "gateway.migrate",
    "alembic",
    "gateway.cli_reports",
    "openpyxl",
    "workers.cli",
    "devtools.demo",
)


def test_building_the_app_imports_no_command_module(app_config: dict[str, Any]) -> None:
    probe = (
        "import json, sys\n"
        "from gateway import create_app\n"
        "create_app()\n"
        f"print(json.dumps([m for m in {list(COMMAND_ONLY_MODULES)!r} if m in sys.modules]))\n"
    )
    env = worker_environ({**app_config, "PROVIDER": "sandbox"})
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env=env,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_every_command_group_is_found_under_its_name(app: Flask) -> None:
    runner = app.test_cli_runner()
    for name, command in app.cli.commands.items():
        if not isinstance(command, LazyGroup):
            continue
        assert command.loaded().name == name
        listed = runner.invoke(args=[name, "--help"])
        assert listed.exit_code == 0, listed.output
        for subcommand in command.list_commands(click.Context(command)):
            assert f"  {subcommand}" in listed.output
    assert {"db", "broadcast", "phone", "demo"} <= set(app.cli.commands)


def test_a_command_group_that_is_not_where_it_is_named_says_so() -> None:
    with pytest.raises(RuntimeError, match="'reports'"):
        LazyGroup("reports", "workers.cli", "broadcast_cli").loaded()
