"""Hand-written SQL on the driver's connection: parameters, times, JSON and unique keys."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone

import psycopg
import pytest
from sqlalchemy import JSON, Column, Engine, Integer, MetaData, String, Table, select
from sqlalchemy.orm import Session

from infra.db import make_engine
from models import Conversation, Member, Message, MessageStatus, Report, utcnow
from models.base import UTCDateTime, enum_type
from models.inbound import _STORE, store_inbound
from models.message import open_question
from models.question import Question, Step, Topic
from models.sql import Raw, Sql, insert_into, update_of
from tests.factories import make_member, make_tree

# A non-UTC instant with microseconds: both must survive the trip.
BEIJING_NOON = datetime(2025, 3, 14, 12, 30, 45, 123456, tzinfo=timezone(timedelta(hours=8)))


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    """An engine on the session's PostgreSQL, for statements that only read."""
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


def raw_of(session: Session) -> Raw:
    """The raw side of the session's connection, in its current transaction."""
    return Raw.of(session.connection())


@pytest.fixture
def member(session: Session) -> Member:
    """A member of a branch, committed."""
    _, branch, _ = make_tree(session)
    created = make_member(session, branch)
    session.commit()
    return created


# --- Sql --------------------------------------------------------------------------------------


def test_named_parameters_become_pyformat() -> None:
    """`:name` is rendered as `%(name)s` for psycopg, each occurrence, digits and _ included."""
    sql = Sql("SELECT :a, :b_2 FROM t WHERE c = :a")
    assert sql._pyformat == "SELECT %(a)s, %(b_2)s FROM t WHERE c = %(a)s"
    assert sql.text == "SELECT :a, :b_2 FROM t WHERE c = :a"


def test_casts_are_left_alone() -> None:
    """A PostgreSQL `::type` cast is not taken for a parameter, even right after one."""
    sql = Sql("SELECT :value::integer, created_at::date FROM t")
    assert sql._pyformat == "SELECT %(value)s::integer, created_at::date FROM t"


def test_whitespace_is_collapsed() -> None:
    """Newlines, tabs and runs of spaces become single spaces, with none at the ends."""
    sql = Sql("""
        SELECT a,\tb
            FROM   t
        WHERE c = :c
    """)
    assert sql.text == "SELECT a, b FROM t WHERE c = :c"
    assert sql._pyformat == "SELECT a, b FROM t WHERE c = %(c)s"


@pytest.mark.parametrize("text", ["SELECT 1 % 2", "SELECT * FROM t WHERE name LIKE 'a%'"])
def test_percent_is_refused(text: str) -> None:
    """A literal `%` is refused: psycopg's pyformat would read it as a placeholder."""
    with pytest.raises(ValueError, match="%"):
        Sql(text)


def test_rendered_statement_runs_on_postgresql(pg_engine: Engine) -> None:
    """On PostgreSQL a repeated parameter and a cast after a parameter bind as written."""
    with pg_engine.connect() as connection:
        raw = Raw.of(connection)
        assert not raw.sqlite
        row = raw.one(
            Sql("SELECT :n::integer + :n::integer, :word::text"), {"n": "20", "word": "x"}
        )
    assert row == (40, "x")


def test_same_statement_runs_on_both_backends(session: Session) -> None:
    """One statement with named parameters gives the same row on SQLite and PostgreSQL."""
    raw = raw_of(session)
    assert raw.one(Sql("SELECT :a + :b, :name"), {"a": 40, "b": 2, "name": "汇报"}) == (42, "汇报")
    assert raw.one(Sql("SELECT 1 WHERE 1 = :x"), {"x": 2}) is None
    assert raw.run(Sql("SELECT :x UNION ALL SELECT :x"), {"x": 7}).fetchall() == [(7,), (7,)]


# --- statements built from a table -------------------------------------------------------------

_SPEC = MetaData()
_THINGS = Table(
    "things",
    _SPEC,
    Column("id", Integer, primary_key=True),
    Column("name", String(8), nullable=False),
    Column("count", Integer, default=7),
    Column("state", enum_type(MessageStatus), default=MessageStatus.QUEUED),
    Column("note", String(8)),
    Column("at", UTCDateTime, default=utcnow),
    Column("data", JSON, default=dict),
)


def test_insert_writes_the_columns_with_defaults_and_the_given_ones() -> None:
    """The column list is the table's: the key left out, a nullable column without a default
    only when named as given; scalar defaults are rendered once (an enum as its value),
    callables are left to each row."""
    built = insert_into(_THINGS)
    with_note = insert_into(_THINGS, given=("note",))

    assert built.sql.text == (
        "INSERT INTO things (name, count, state, at, data) "
        "VALUES (:name, :count, :state, :at, :data)"
    )
    assert built.defaults == {"count": 7, "state": "queued"}
    assert [name for name, _ in built.computed] == ["at", "data"]
    assert "note" in with_note.names and with_note.defaults["note"] is None


def test_insert_refuses_a_value_for_a_column_it_does_not_write(session: Session) -> None:
    """The drivers would drop an extra parameter without a word; the statement refuses it."""
    built = insert_into(_THINGS)

    with pytest.raises(KeyError, match="writes no"):
        built.params(raw_of(session), {"name": "a", "note": "lost"})


def test_insert_params_give_the_values_and_compute_only_the_missing_defaults(
    session: Session,
) -> None:
    """Given values win; a callable default is called per row and stored as its column stores
    it (a time as Raw.time, JSON as text); one given is not called."""
    raw = raw_of(session)
    built = insert_into(_THINGS)

    params = built.params(raw, {"name": "a", "count": 2})
    assert (params["name"], params["count"], params["state"]) == ("a", 2, "queued")
    assert params["data"] == "{}"
    assert raw.read_time(params["at"]) is not None
    assert built.params(raw, {"name": "a", "at": "given"})["at"] == "given"


def test_insert_with_conflict_and_returning_names_columns_of_the_table() -> None:
    """An upsert sets the listed columns from `excluded` and the others by expression."""
    built = insert_into(
        _THINGS,
        conflict=("name",),
        update=("note",),
        also={"count": "things.count + 1"},
        returning=("id",),
    )

    assert built.sql.text.endswith(
        "ON CONFLICT (name) DO UPDATE SET note = excluded.note, count = things.count + 1 "
        "RETURNING id"
    )


def test_update_sets_and_matches_columns_by_their_names() -> None:
    """`set` columns take parameters of their names, `where` columns are matched by theirs."""
    built = update_of(_THINGS, set=("note",), also={"count": "count + :step"}, where=("id",))

    assert built.text == "UPDATE things SET note = :note, count = count + :step WHERE id = :id"


@pytest.mark.parametrize(
    "build",
    [
        lambda: insert_into(Message, returning=("nope",)),
        lambda: insert_into(Report, conflict=("member_id", "month"), update=("studied",)),
        lambda: insert_into(Report, conflict=("member_id",), update=("studyed",)),
        lambda: insert_into(Conversation, conflict=("member_id",), also={"stage": "1"}),
        lambda: update_of(Member, set=("citty",), where=("id",)),
        lambda: update_of(Member, set=("city",), where=("member",)),
    ],
)
def test_a_statement_naming_a_column_that_does_not_exist_fails_when_built(
    build: Callable[[], object],
) -> None:
    """Statements are built at import, so a misspelt column stops the import, not a text."""
    with pytest.raises(KeyError, match="has no column"):
        build()


def test_the_webhooks_statements_are_built_from_their_tables() -> None:
    """The inbound INSERT names every column of messages and copies no default by hand."""
    assert _STORE.table is Message.__table__
    assert _STORE.defaults["segments"] == 1 and _STORE.defaults["attempts"] == 0
    assert "'" not in _STORE.sql.text  # no value typed into the SQL


# --- times ------------------------------------------------------------------------------------


def test_time_round_trip_is_the_same_utc_instant(session: Session, member: Member) -> None:
    """A +08:00 time bound with Raw.time and read with read_time is that instant, aware UTC."""
    raw = raw_of(session)
    raw.run(
        Sql("UPDATE members SET opted_out_at = :at WHERE id = :id"),
        {"at": raw.time(BEIJING_NOON), "id": member.id},
    )
    (stored,) = raw.one(Sql("SELECT opted_out_at FROM members WHERE id = :id"), {"id": member.id})
    back = raw.read_time(stored)
    assert back == BEIJING_NOON
    assert back is not None and back.tzinfo is UTC
    assert back.hour == 4 and back.microsecond == 123456


def test_none_time_is_null_both_ways(session: Session) -> None:
    """No time binds as NULL and a NULL reads back as None."""
    raw = raw_of(session)
    assert raw.time(None) is None
    assert raw.read_time(None) is None


def test_raw_time_is_what_the_orm_reads(session: Session, member: Member) -> None:
    """A conversation asked through raw SQL has the expiry and update time the ORM reads back."""
    raw = raw_of(session)
    expires_at = open_question(
        raw, member.id, Question(Topic.REPORT, Step.STUDIED), now=BEIJING_NOON, ttl_hours=5
    )
    assert expires_at == BEIJING_NOON + timedelta(hours=5)
    session.commit()
    session.expire_all()
    conversation = session.scalar(select(Conversation).where(Conversation.member_id == member.id))
    assert conversation is not None
    assert conversation.expires_at == expires_at
    assert conversation.updated_at == BEIJING_NOON
    assert conversation.expires_at.tzinfo is UTC


def test_orm_time_is_what_raw_reads(session: Session, member: Member) -> None:
    """A time the ORM stored reads back through read_time as the same instant."""
    member.opted_out_at = BEIJING_NOON
    session.flush()
    raw = raw_of(session)
    (stored,) = raw.one(Sql("SELECT opted_out_at FROM members WHERE id = :id"), {"id": member.id})
    assert raw.read_time(stored) == BEIJING_NOON


@pytest.mark.parametrize(
    ("offset", "matches"),
    [(timedelta(0), True), (timedelta(microseconds=-1), True), (timedelta(microseconds=1), False)],
)
def test_raw_bound_time_compares_with_orm_stored_time(
    session: Session, member: Member, offset: timedelta, matches: bool
) -> None:
    """In SQL a raw-bound time orders against an ORM-stored one as the instants do."""
    member.opted_out_at = BEIJING_NOON
    session.flush()
    raw = raw_of(session)
    since = (BEIJING_NOON + offset).astimezone(timezone(timedelta(hours=-5)))
    row = raw.one(
        Sql("SELECT id FROM members WHERE id = :id AND opted_out_at >= :since"),
        {"id": member.id, "since": raw.time(since)},
    )
    assert (row is not None) is matches


# --- JSON -------------------------------------------------------------------------------------


def test_raw_json_is_read_by_the_orm_as_the_dict(session: Session, member: Member) -> None:
    """JSON written with Raw.json is the same dict through the ORM and through read_json."""
    raw = raw_of(session)
    data = {"studied": True, "city": "东莞", "answers": [1, None, "二"], "nested": {"k": 1.5}}
    raw.run(
        Sql(
            """INSERT INTO conversations (member_id, topic, step, data, expires_at, updated_at)
            VALUES (:member_id, 'report', 'same', :data, :at, :at)"""
        ),
        {"member_id": member.id, "data": Raw.json(data), "at": raw.time(utcnow())},
    )
    (stored,) = raw.one(
        Sql("SELECT data FROM conversations WHERE member_id = :id"), {"id": member.id}
    )
    assert raw.read_json(stored) == data
    session.commit()
    session.expire_all()
    conversation = session.scalar(select(Conversation).where(Conversation.member_id == member.id))
    assert conversation is not None and conversation.data == data


def test_json_none_and_already_parsed_values() -> None:
    """Raw.json(None) is NULL; read_json parses text and passes a parsed value or None as is."""
    assert Raw.json(None) is None
    assert Raw.read_json('{"a": [1, 2]}') == {"a": [1, 2]}
    parsed = {"a": [1, 2]}
    assert Raw.read_json(parsed) is parsed
    assert Raw.read_json(None) is None


# --- unique keys ------------------------------------------------------------------------------


def test_duplicate_unique_key_raises_the_drivers_integrity_error(
    session: Session, member: Member, db_backend: str
) -> None:
    """A second text with the same MessageSid fails with Raw.integrity_error, the driver's own."""
    raw = raw_of(session)
    expected = sqlite3.IntegrityError if db_backend == "sqlite" else psycopg.IntegrityError
    assert raw.integrity_error is expected
    at = utcnow()

    def store() -> None:
        store_inbound(
            raw,
            sid="SM" + "9" * 32,
            phone=member.phone,
            body="HB 1",
            member_id=member.id,
            broadcast_id=None,
            command="report",
            handled=True,
            reply_body="ok",
            at=at,
        )

    store()
    with pytest.raises(raw.integrity_error):
        store()
