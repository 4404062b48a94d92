"""`flask broadcast`, `flask campaign` and `flask reminders`, run as a user would."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskCliRunner
from redis import Redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import (
    Broadcast,
    Channel,
    Direction,
    Lesson,
    LessonCampaign,
    LessonCategory,
    Message,
    Organization,
    Role,
    record_report,
    utcnow,
)
from models.audit import AuditLog
from models.report import NonReporter, ReportTally
from tests.factories import make_member, make_tree, make_user, open_window_now
from tests.gateway.sandbox_api import SandboxAPI
from tests.support import TwilioClient
from workers import outbox
from workers.queues import QUEUE_NAMES, get_queue

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _queued_jobs(redis: Redis) -> int:
    return sum(get_queue(name, redis).count for name in QUEUE_NAMES)


def test_broadcast_create_then_status_reaches_delivered(
    session: Session, runner: FlaskCliRunner, sandbox: SandboxAPI, work: Callable[[], int]
) -> None:
    """`broadcast create --json` gives the id and recipients; once sent, status counts them."""
    township, east, west = make_tree(session)
    open_window_now(township)
    members = [make_member(session, east), make_member(session, west)]
    session.commit()
    result = runner.invoke(
        args=["broadcast", "create", "--org", "青山镇", "--text", "周六开会", "--json"]
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert created["recipients"] == 2
    work()
    status = runner.invoke(args=["broadcast", "status", str(created["id"]), "--json"])
    assert status.exit_code == 0, status.output
    counts = json.loads(status.output)
    # The sandbox without callbacks stores the final state: reconciling would say delivered,
    # the rows say sent until the callbacks (off here) arrive.
    assert {k: counts[k] for k in ("recipients", "queued", "sending", "sent", "failed")} == {
        "recipients": 2,
        "queued": 0,
        "sending": 0,
        "sent": 2,
        "failed": 0,
    }
    assert counts["status"] == "done"
    assert sorted(m["to"] for m in sandbox.get("/_sandbox/messages")) == sorted(
        m.phone for m in members
    )


def test_broadcast_create_prints_the_id_and_filters_by_branch_and_city(
    session: Session, runner: FlaskCliRunner
) -> None:
    """Without --json the id alone on stdout; --branch and --city narrow the recipients."""
    _, east, west = make_tree(session)
    make_member(session, east, city="广州")
    make_member(session, east, city="深圳")
    make_member(session, west, city="广州")
    session.commit()
    result = runner.invoke(
        args=[
            "broadcast",
            "create",
            "--org",
            "青山镇",
            "--text",
            "广州的党员请注意",
            "--branch",
            east.name,
            "--city",
            "广州",
        ]
    )
    assert result.exit_code == 0, result.output
    broadcast = session.get(Broadcast, int(result.stdout.strip()))
    assert broadcast is not None and broadcast.recipients == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--text", "  "], "The notice text is empty"),
        (["--text", "通知", "--branch", "没有的支部"], "Unknown branch"),
        (["--text", "通知", "--city", "拉萨"], "No member lives in 拉萨"),
        (["--text", "通知", "--at", "2020-01-01T08:00"], "in the past"),
        (["--text", "通知", "--nonreporters", "2020-01"], "reaches no member"),
    ],
)
def test_bad_broadcasts_fail_clearly_and_queue_nothing(
    session: Session,
    runner: FlaskCliRunner,
    redis_client: Redis,
    extra: list[str],
    message: str,
) -> None:
    """Exit status 1, the reason in Chinese and English, no broadcast, no row, no job."""
    _, branch, _ = make_tree(session)
    member = make_member(session, branch)
    record_report(session, member, period="2020-01", studied=True, channel=Channel.SMS)
    session.commit()
    result = runner.invoke(args=["broadcast", "create", "--org", "青山镇", *extra])
    assert result.exit_code == 1
    assert message in result.output
    assert session.scalar(select(func.count(Broadcast.id))) == 0
    assert session.scalar(select(func.count(Message.id))) == 0
    assert _queued_jobs(redis_client) == 0


def test_an_unknown_org_is_refused(runner: FlaskCliRunner) -> None:
    """A township or branch that does not exist is named in the error."""
    result = runner.invoke(args=["broadcast", "create", "--org", "无名镇", "--text", "通知"])
    assert result.exit_code == 1
    assert "unknown township or branch: 无名镇" in result.output


def test_a_broadcast_for_later_is_stored_scheduled(
    session: Session, runner: FlaskCliRunner, redis_client: Redis
) -> None:
    """--at in local time without an offset: stored for then, and nothing goes out now."""
    _, branch, _ = make_tree(session)
    make_member(session, branch)
    session.commit()
    later = (utcnow() + timedelta(days=1)).astimezone().replace(tzinfo=None).isoformat()
    result = runner.invoke(
        args=["broadcast", "create", "--org", "青山镇", "--text", "明天", "--at", later, "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["status"] == "scheduled"
    assert _queued_jobs(redis_client) == 0


def test_broadcast_status_of_an_unknown_id(runner: FlaskCliRunner) -> None:
    """A clear error for a broadcast that does not exist."""
    result = runner.invoke(args=["broadcast", "status", "404"])
    assert result.exit_code == 1
    assert "No broadcast 404" in result.output


def test_campaign_create_and_status(session: Session, runner: FlaskCliRunner) -> None:
    """`campaign create --lesson ID` stores the campaign; `campaign status` shows its members."""
    township, branch, _ = make_tree(session)
    make_member(session, branch)
    lesson = Lesson(org_id=township.id, title="党章", category=LessonCategory.POLICY)
    session.add(lesson)
    session.commit()
    result = runner.invoke(
        args=["campaign", "create", "--lesson", str(lesson.id), "--org", "青山镇", "--json"]
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert created["recipients"] == 1
    assert session.get(LessonCampaign, created["id"]) is not None
    status = runner.invoke(args=["campaign", "status", str(created["id"]), "--json"])
    assert json.loads(status.output)["recipients"] == 1


def test_reminders_tick_and_close_period(session: Session, runner: FlaskCliRunner) -> None:
    """`reminders tick` runs one tick now; `close-period` fixes a past month's non-reporters."""
    _, branch, _ = make_tree(session)
    make_member(session, branch, created_at=datetime(2024, 6, 1, tzinfo=UTC))
    session.commit()
    tick = runner.invoke(args=["reminders", "tick", "--json"])
    assert tick.exit_code == 0, tick.output
    assert isinstance(json.loads(tick.output), dict)
    closed = runner.invoke(args=["reminders", "close-period", "2025-01"])
    assert closed.exit_code == 0, closed.output
    assert "青山镇: 1" in closed.output
    assert session.scalar(select(func.count(NonReporter.id))) == 1
    early = runner.invoke(args=["reminders", "close-period", "2999-01"])
    assert early.exit_code == 1
    assert "not over yet" in early.output


def test_reminders_tally_counts_a_settled_month_again(
    session: Session, runner: FlaskCliRunner
) -> None:
    """`reminders tally` writes a settled month's tallies for each branch, again if asked;
    a month not settled is refused and nothing is written."""
    _, branch, _ = make_tree(session)
    member = make_member(session, branch, created_at=datetime(2024, 6, 1, tzinfo=UTC))
    record_report(session, member, period="2025-01", studied=True, channel=Channel.SMS)
    session.commit()
    for _ in range(2):
        tallied = runner.invoke(args=["reminders", "tally", "2025-01", "--org", "东村党支部"])
        assert tallied.exit_code == 0, tallied.output
        assert tallied.output == "青山镇: 2\n"
    session.expire_all()
    rows = session.execute(
        select(ReportTally.branch_id, ReportTally.members, ReportTally.reported)
    ).all()
    assert (branch.id, 1, 1) in rows and len(rows) == 2
    early = runner.invoke(args=["reminders", "tally", "2999-01"])
    assert early.exit_code == 1
    assert "not settled" in early.output
    assert session.scalar(select(func.count(ReportTally.id))) == 2


def _window_in_three_hours(township: Organization) -> datetime:
    """Give the township a one-hour window starting three hours from now (quiet otherwise)."""
    local = utcnow().astimezone(SHANGHAI) + timedelta(hours=3)
    start = local.replace(minute=0, second=0, microsecond=0)
    window = [start.strftime("%H:%M"), (start + timedelta(hours=1)).strftime("%H:%M")]
    township.settings = {"contact_window": window, "quiet_hours": window[::-1]}
    return start


def test_broadcast_create_says_when_it_goes_out_and_is_audited_as_the_cli(
    session: Session,
    runner: FlaskCliRunner,
    sandbox: SandboxAPI,
    work: Callable[[], int],
) -> None:
    """Outside the window: nothing sent now, the window's start is told, the log says `cli`."""
    township, branch, _ = make_tree(session)
    make_member(session, branch)
    start = _window_in_three_hours(township)
    session.commit()
    result = runner.invoke(args=["broadcast", "create", "--org", "青山镇", "--text", "周六开会"])
    assert result.exit_code == 0, result.output
    when = f"{start:%Y-%m-%d %H:%M}"
    assert result.stderr.strip() == (
        f"将于{when}起按各成员联系时段发送,最晚{when} / goes out in each member's contact "
        f"window from {when}, the last at {when}"
    )
    work()
    assert sandbox.get("/_sandbox/count")["messages"] == 0
    broadcast_id = int(result.stdout)
    entry = session.scalar(select(AuditLog).where(AuditLog.target == f"broadcast:{broadcast_id}"))
    assert entry is not None
    assert (entry.user_id, entry.org_id, entry.action) == (None, township.id, "send")
    assert entry.detail == {"recipients": 1, "urgent": False, "via": "cli"}


def test_broadcast_create_urgent_sends_at_once_and_names_the_author(
    session: Session,
    runner: FlaskCliRunner,
    sandbox: SandboxAPI,
    work: Callable[[], int],
) -> None:
    """--urgent: out now whatever the windows; the audit entry is the author's, marked urgent."""
    township, branch, _ = make_tree(session)
    member = make_member(session, branch)
    officer = make_user(session, township, Role.TOWNSHIP, username="qingshan")
    _window_in_three_hours(township)
    session.commit()
    result = runner.invoke(
        args=[
            "broadcast",
            "create",
            "--org",
            "青山镇",
            "--text",
            "暴雨预警",
            "--urgent",
            "--author",
            "qingshan",
            "--json",
        ]
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert created["urgent"] is True
    assert created["first_send_at"] == created["last_send_at"]
    work()
    assert [m["to"] for m in sandbox.get("/_sandbox/messages")] == [member.phone]
    entry = session.scalar(select(AuditLog).where(AuditLog.target == f"broadcast:{created['id']}"))
    assert entry is not None and entry.user_id == officer.id
    assert entry.detail == {"recipients": 1, "urgent": True, "via": "cli"}


def test_a_branch_cannot_send_urgent_from_the_cli(
    session: Session, runner: FlaskCliRunner, redis_client: Redis
) -> None:
    """--urgent for a branch is refused in Chinese and English; nothing stored or queued."""
    _, branch, _ = make_tree(session)
    make_member(session, branch)
    session.commit()
    result = runner.invoke(
        args=["broadcast", "create", "--org", branch.name, "--text", "紧急", "--urgent"]
    )
    assert result.exit_code == 1
    assert "只有乡镇党委可以发送紧急通知 / Only a township may send an urgent notice" in (
        result.output
    )
    assert session.scalar(select(func.count(Broadcast.id))) == 0
    assert _queued_jobs(redis_client) == 0


def test_broadcast_status_counts_members_not_replies_or_retries(
    session: Session,
    runner: FlaskCliRunner,
    sandbox: SandboxAPI,
    twilio: TwilioClient,
    work: Callable[[], int],
) -> None:
    """Two members, one send retried, both replying twice: `status` says 2 recipients, 2 sent."""
    township, east, west = make_tree(session)
    open_window_now(township)
    members = [make_member(session, east), make_member(session, west)]
    session.commit()
    sandbox.fault(to=members[0].phone, code=500, count=1)  # the first try fails, transiently
    # The notice asks for answers, so the replies are linked to it (and must not be counted).
    created = runner.invoke(
        args=["broadcast", "create", "--org", "青山镇", "--text", "周六开会,请回复能否参加"]
    )
    assert created.exit_code == 0, created.output
    broadcast_id = int(created.stdout)
    work()
    outbox.sweep_outbox((utcnow() + timedelta(minutes=1)).isoformat())  # the retry is due
    work()
    for number, member in enumerate(members):
        for reply in ("收到", "准时参加"):
            response = twilio.post(
                "/sms",
                {
                    "MessageSid": f"SM{member.id:06d}{number}{len(reply):025d}",
                    "AccountSid": "AC" + "0" * 32,
                    "From": member.phone,
                    "To": "+8610690000",
                    "Body": reply,
                },
            )
            assert response.status_code == 200
    session.expire_all()
    replies = session.scalar(
        select(func.count(Message.id)).where(
            Message.broadcast_id == broadcast_id, Message.direction == Direction.IN
        )
    )
    assert replies == 4  # linked to the notice, as the inbox shows them
    status = runner.invoke(args=["broadcast", "status", str(broadcast_id), "--json"])
    counts = json.loads(status.output)
    assert {k: counts[k] for k in ("recipients", "queued", "sending", "sent", "failed")} == {
        "recipients": 2,
        "queued": 0,
        "sending": 0,
        "sent": 2,
        "failed": 0,
    }
    retried = session.scalar(select(Message).where(Message.member_id == members[0].id))
    assert retried is not None and retried.attempts == 2
