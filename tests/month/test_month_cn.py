"""A whole month for the township on the template providers (PROVIDER=aliyun, PROVIDER=tencent).

The same processes as tests/month/test_month.py (gunicorn, an `rq` worker, `rq cron`, the
sandbox, one clock file), with the sandbox standing in for Alibaba Cloud or Tencent Cloud SMS.
Members' texts arrive as the provider's pushes (one pushed twice, one late), and every answer
is a template SMS that leaves through the outbox under the caps per number (two a day, as
Tencent's defaults; the Alibaba township sets the same in its settings). The month: the day-1
reminders at the window, reports by text (two through `flask phone sms`) and their receipts,
opt-outs by R, TD and 退订, an answer over the day's cap held to the next evening, a notice
written at night that goes out in the window, a status update, a help request, the day-5
reminder, the month's close, and the figures a person reads. Receipts come back in batches,
some twice, and mark the rows delivered.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from devtools.phone import pushed_sms, template_outbox
from infra.db import make_engine
from models import (
    Call,
    CallStatus,
    Channel,
    Direction,
    HelpRequest,
    Member,
    Message,
    MessageStatus,
    NonReporter,
    Organization,
    ProviderPush,
    Report,
)
from models.call import CALL_FINAL, CallPurpose
from models.caps import DAILY_CAP_KEY, HoldReason
from tests.month.live_admin import PASSWORD, LiveAdmin, table_rows
from tests.month.world import BRANCHES, STAFF, TOWNSHIP, Person, people, write_files
from tests.stack import Stack, run_stack, wait_for

pytestmark = pytest.mark.slow

ZONE = ZoneInfo("Asia/Shanghai")
WINDOW = (clock_time(19, 0), clock_time(21, 30))
PERIOD = "2026-11"
SIGN = "青山镇"
PUSH_SECRET = "month-push-" + "7" * 24
# Tencent's default: two texts a day to one number. The Alibaba township sets the same.
CAP = 2
SETTINGS: dict[str, dict[str, str]] = {
    "aliyun": {
        "ALIYUN_ACCESS_KEY_ID": "LTAI5tMonthTestKey0001",
        "ALIYUN_ACCESS_KEY_SECRET": "month-aliyun-secret-" + "8" * 12,
        "ALIYUN_SMS_SIGN_NAME": SIGN,
        "ALIYUN_SMS_ENDPOINT": "{sandbox_url}",
        "ALIYUN_VOICE_ENDPOINT": "{sandbox_url}",
        "ALIYUN_VOICE_SHOW_NUMBER": "02161234567",
    },
    "tencent": {
        "TENCENT_SMS_SIGN_NAME": SIGN,
        "TENCENT_SMS_ENDPOINT": "{sandbox_url}",
        "TENCENT_VMS_APP_ID": "1400123456",
    },
}
# How the sandbox's member is told what to do on the next call: no answer, or press 2.
VOICE_SCRIPTS = {
    "aliyun": (
        "/_sandbox/aliyun/voice/members",
        {"answer": False},
        {"keys": "2", "seconds": 6},
    ),
    "tencent": (
        "/_sandbox/tencent/voice/scripts",
        {"action": "no_answer"},
        {"action": "answer", "keys": "2", "seconds": 6},
    ),
}
TEXT_FEEDS = ("sms-up", "sms-reply")
# The periodic jobs a little slower than test_month.py's 120: four one-minute jobs a second
# kept the one worker busy with sweeps on a loaded machine, and the notice's resolution (on
# the default queue, below the sweeps' high one) waited for minutes. Every 2 s, the reminder
# tick every 10 s, the month's close every 2 minutes.
CRON_SPEEDUP = 30
FORMS = ("HB 1", "hb1", "汇报，1", "ＨＢ　１", "HB 2 广州 电子厂")
NOTICE = "春节返乡安排:请于11月20日前到村委会登记。"


def cst(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of 2026 in the township's time zone."""
    return datetime(2026, month, day, hour, minute, tzinfo=ZONE)


def local(at: datetime | None) -> datetime:
    assert at is not None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(ZONE)


def in_window(at: datetime | None) -> bool:
    return WINDOW[0] <= local(at).time() <= WINDOW[1]


def shared_now(stack: Stack) -> datetime:
    """The time every process of the stack reads now."""
    return datetime.now(UTC) + timedelta(seconds=float(stack.clock_file.read_text()))


class MainlandPhone:
    """A member's phone whose texts reach the app as the provider pushes them."""

    def __init__(self, stack: Stack, provider: str, person: Person) -> None:
        self.stack, self.provider, self.person = stack, provider, person

    def text(self, body: str, *, late_minutes: int = 0, times: int = 1) -> str:
        """Text the service; the provider pushes it `times` times (the same item), sent
        `late_minutes` before the push. Returns the id the app keeps the text under."""
        at = shared_now(self.stack) - timedelta(minutes=late_minutes)
        pushed = pushed_sms(self.provider, self.person.phone, body, SIGN, at=at)
        url = f"{self.stack.web_url}/cn/{self.provider}/{pushed.feed}/{PUSH_SECRET}"
        for _ in range(times):
            response = requests.post(
                url,
                data=json.dumps(pushed.body, ensure_ascii=False).encode(),
                headers={"Content-Type": "application/json"},
                timeout=20,
            )
            assert response.status_code == 200, response.text
            assert response.json() in (
                {"code": 0, "msg": "接收成功"},
                {"result": 0, "errmsg": "OK"},
            )
        return pushed.sid


@pytest.fixture(params=("aliyun", "tencent"))
def provider(request: pytest.FixtureRequest) -> str:
    """Each template provider in turn."""
    return str(request.param)


@pytest.fixture
def month_cn(
    provider: str, db_url: str, redis_url: str, redis_client: Any, tmp_path: Path
) -> Iterator[Stack]:
    """The stack on the provider's sandbox, started on 1 November 08:00 Shanghai time, with
    the township loaded."""
    extra = {
        "PROVIDER": provider,
        "CN_CALLBACK_SECRET": PUSH_SECRET,
        "CRON_SPEEDUP": str(CRON_SPEEDUP),
        **SETTINGS[provider],
    }
    with run_stack(db_url, redis_url, tmp_path / "stack", cst(11, 1, 8), **extra) as stack:
        orgs, register = write_files(tmp_path)
        stack.flask("orgs", "import", str(orgs))
        for username, role, org, name in STAFF:
            stack.flask(
                "users", "create", "--username", username, "--password", PASSWORD,
                "--role", role, "--org", org, "--name", name,
            )  # fmt: skip
        stack.flask("members", "import", str(register))
        yield stack
        problems = stack.tracebacks()
        assert not problems, "a process logged a traceback:\n" + "\n".join(
            f"--- {name}\n" + "\n".join(found) for name, found in problems.items()
        )


def test_a_month_on_a_template_provider(month_cn: Stack, provider: str, db_url: str) -> None:
    """Every text is answered by template SMS within the caps, and every figure shown is true."""
    started = time.monotonic()
    stack = month_cn
    engine: Engine = make_engine(db_url)
    everyone = people()
    by_number = {p.number: p for p in everyone}
    phone = {p.number: MainlandPhone(stack, provider, p) for p in everyone}
    sandbox = stack.sandbox_url
    outbox_config = {"PROVIDER": provider, **{k: v.format(sandbox_url=sandbox) for k, v in
                                              SETTINGS[provider].items()}}  # fmt: skip

    def db() -> Session:
        return Session(engine, expire_on_commit=False)

    def scalar(statement: Any) -> Any:
        with db() as s:
            return s.scalar(statement)

    def sent_count(template: str) -> int:
        return int(
            scalar(
                select(func.count())
                .select_from(Message)
                .where(Message.template_key == template, Message.sent_at.is_not(None))
            )
            or 0
        )

    def settled() -> bool:
        """Every pushed text handled, and every answer sent or held for a reason."""
        with db() as s:
            unhandled = s.scalar(
                select(func.count())
                .select_from(ProviderPush)
                .where(ProviderPush.feed.in_(TEXT_FEEDS), ProviderPush.handled_at.is_(None))
            )
            moving = s.scalar(
                select(func.count())
                .select_from(Message)
                .where(
                    Message.direction == Direction.OUT,
                    Message.essential.is_(True),
                    Message.status.in_((MessageStatus.QUEUED, MessageStatus.SENDING)),
                    Message.hold_reason.is_(None),
                )
            )
        return unhandled == 0 and moving == 0

    def settle(what: str) -> None:
        wait_for(what, settled, stack=stack)

    def outbox_of(number: int) -> list[dict[str, Any]]:
        """What the member's phone received: the sandbox's records, as the member reads them."""
        return template_outbox(outbox_config, by_number[number].phone)

    def member_of(s: Session, number: int) -> Member:
        return s.scalars(select(Member).where(Member.phone == by_number[number].phone)).one()

    # The Alibaba township keeps Tencent's default cap, set in its settings (a township may).
    if provider == "aliyun":
        with db() as s:
            office = s.scalars(select(Organization).where(Organization.name == TOWNSHIP)).one()
            office.settings = {**(office.settings or {}), DAILY_CAP_KEY: CAP}
            s.commit()
        # Every receipt is pushed twice; one member's comes late.
        for rule in ({"to": by_number[7].phone, "delay_ms": 3000}, {"repeat": True}):
            requests.post(
                f"{sandbox}/_sandbox/aliyun/faults", json=rule, timeout=10
            ).raise_for_status()
    else:
        requests.put(
            f"{sandbox}/_sandbox/tencent/settings",
            json={"push_twice": True, "push_delay_ms": 500},
            timeout=10,
        ).raise_for_status()

    # Day 1, 08:00: before the window nothing is sent, however often the tick runs.
    stack.let_run("workers.reminders.tick", "workers.outbox.sweep_outbox")
    assert sent_count("reminder") == 0

    # Day 1, 19:05: the reminders go out as template SMS, one to each member, in the window;
    # the receipts, pushed in batches and twice, mark them delivered.
    stack.set_clock(cst(11, 1, 19, 5))
    wait_for("60 reminders sent", lambda: sent_count("reminder"), until=lambda n: n >= 60,
             stack=stack)  # fmt: skip
    with db() as s:
        reminders = list(s.scalars(select(Message).where(Message.template_key == "reminder")))
        assert len(reminders) == len({m.member_id for m in reminders}) == 60
        assert all(in_window(m.sent_at) for m in reminders)
    [reminder] = outbox_of(1)
    assert reminder["template_code"] == "reminder" and reminder["sign_name"] == SIGN
    assert reminder["body"].startswith(f"【{SIGN}】")

    # Reports by one text: 东村's 1-12 (5 pushed twice, 6 pushed late) and 西村's 21-25.
    reporters = set(range(1, 15)) | set(range(21, 26))
    by_text = reporters - {13, 14}  # 13 and 14 report through `flask phone sms`, "HB 1"
    studied = {n for n in reporters if n not in by_text or FORMS[n % len(FORMS)] != FORMS[4]}
    for n in sorted(by_text):
        phone[n].text(
            FORMS[n % len(FORMS)], times=2 if n == 5 else 1, late_minutes=20 if n == 6 else 0
        )
    # Opt-outs by R, TD and 退订 (南村's 58-60).
    opt_outs = {58: "R", 59: "TD", 60: "退订"}
    for n, word in opt_outs.items():
        phone[n].text(word)
    # 南村's 45 asks for the menu, then for the lessons: the third text of the day waits.
    chatty = 45
    phone[chatty].text("?")
    settle("the day's answers sent")
    phone[chatty].text("XX")
    settle("the answer over the cap held")
    # Two reports through `flask phone sms`, which prints the receipt as the member reads it.
    for n in (13, 14):
        printed = stack.flask(
            "phone", "sms", by_number[n].phone, "HB 1", "--wait", "90"
        ).stdout.strip()
        assert printed.startswith(f"【{SIGN}】") and "回执" in printed, printed
        assert printed == outbox_of(n)[-1]["body"]

    with db() as s:
        reported = {
            int(phone_[-2:])
            for phone_ in s.scalars(
                select(Member.phone).join(Report).where(Report.period == PERIOD)
            )
        }
        assert reported == reporters
        # The text pushed twice is one message, one report, one receipt.
        twice = member_of(s, 5)
        assert s.scalar(
            select(func.count()).select_from(Message).where(
                Message.member_id == twice.id, Message.direction == Direction.IN
            )
        ) == 1  # fmt: skip
        for n in reporters:
            member = member_of(s, n)
            report = s.scalars(select(Report).where(Report.member_id == member.id)).one()
            answers = list(
                s.scalars(
                    select(Message).where(
                        Message.member_id == member.id,
                        Message.direction == Direction.OUT,
                        Message.essential.is_(True),
                    )
                )
            )
            [receipt] = answers
            assert report.receipt in receipt.body and receipt.sent_at is not None
            assert receipt.hold_reason is None
            # The happy path: the reminder and the receipt, the day's two texts.
            assert local(receipt.sent_at).date() == cst(11, 1, 0).date()
        for n, word in opt_outs.items():
            member = member_of(s, n)
            assert local(member.opted_out_at).date() == cst(11, 1, 0).date(), word
            kept = s.scalars(
                select(Message).where(
                    Message.member_id == member.id, Message.direction == Direction.IN
                )
            ).one()
            assert (kept.body, local(kept.created_at).date()) == (word, cst(11, 1, 0).date())
            [confirmation] = s.scalars(
                select(Message).where(
                    Message.member_id == member.id,
                    Message.direction == Direction.OUT,
                    Message.essential.is_(True),
                )
            )
            assert confirmation.sent_at is not None
        held = s.scalars(
            select(Message)
            .where(Message.member_id == member_of(s, chatty).id, Message.essential.is_(True))
            .order_by(Message.id)
        ).all()
        assert [m.sent_at is not None for m in held] == [True, False]
        assert held[1].status is MessageStatus.QUEUED
        assert held[1].hold_reason is HoldReason.DAILY_CAP
        assert local(held[1].next_attempt_at) == cst(11, 2, 19, 0)
    assert len(outbox_of(chatty)) == CAP
    receipts = outbox_of(1)
    assert len(receipts) == 2 and "回执" in receipts[1]["body"]

    # Day 2, 03:00: the township writes a notice, sent as the approved notice template in the
    # members' window, never at night.
    stack.set_clock(cst(11, 2, 3, 0))
    created = json.loads(
        stack.flask(
            "broadcast", "create", "--org", TOWNSHIP, "--author", "township", "--text", NOTICE,
            "--json",
        ).stdout.strip().splitlines()[-1]
    )  # fmt: skip
    broadcast_id = str(created["id"])
    stack.let_run("workers.outbox.sweep_outbox")
    assert sent_count("broadcast") == 0, "a notice left at 03:00"

    def broadcast_status() -> dict[str, Any]:
        result = stack.flask("broadcast", "status", broadcast_id, "--json").stdout
        data: dict[str, Any] = json.loads(result.strip().splitlines()[-1])
        return data

    # Day 2, 19:05: the notice reaches the 57 members who take texts; the held answer goes.
    stack.set_clock(cst(11, 2, 19, 5))
    status = wait_for(
        "the notice delivered",
        broadcast_status,
        until=lambda st: st["delivered"] == 57,
        stack=stack,
    )
    assert (status["recipients"], status["skipped"], status["failed"]) == (60, 3, 0), status
    settle("the held answer sent")
    with db() as s:
        notices = list(s.scalars(select(Message).where(Message.template_key == "broadcast")))
        assert all(in_window(m.sent_at) for m in notices if m.sent_at)
        late_answer = s.scalars(
            select(Message)
            .where(Message.member_id == member_of(s, chatty).id, Message.essential.is_(True))
            .order_by(Message.id.desc())
        ).first()
        assert late_answer is not None and in_window(late_answer.sent_at)
        assert local(late_answer.sent_at).date() == cst(11, 2, 0).date()
    notice = outbox_of(1)[-1]
    assert notice["template_code"] == "broadcast"
    params = notice["params"]
    assert NOTICE in (params.values() if isinstance(params, dict) else params)
    assert notice["body"].startswith(f"【{SIGN}】") and NOTICE in notice["body"]

    # Day 3, evening: a status update and a help request, each answered.
    stack.set_clock(cst(11, 3, 19, 10))
    phone[2].text("DT 杭州 快递公司")
    phone[3].text("QZ 1 工资拖欠三个月")
    settle("day 3's answers sent")
    with db() as s:
        moved = member_of(s, 2)
        assert (moved.city, moved.employer) == ("杭州", "快递公司")
        [help_request] = s.scalars(select(HelpRequest))
        assert help_request.member_id == member_of(s, 3).id
        assert "拖欠" in (help_request.text or "")
    assert len(outbox_of(2)) == len(outbox_of(3)) == 4  # reminder, receipt, notice, answer

    # Day 5: the second reminder, to those who have not reported and still take texts.
    silent = {p.number for p in everyone} - reporters
    texted = silent - set(opt_outs)
    stack.set_clock(cst(11, 5, 19, 5))
    wait_for("second reminders", lambda: sent_count("reminder_second"),
             until=lambda n: n >= len(texted), stack=stack)  # fmt: skip
    with db() as s:
        second = list(s.scalars(select(Message).where(Message.template_key == "reminder_second")))
        numbers = {int(m.phone[-2:]) for m in second}
        assert numbers == texted and len(second) == len(texted)
        assert all(in_window(m.sent_at) for m in second)

    # Day 10, evening: the escalation calls every member who has not reported (Alibaba's
    # IvrCall, Tencent's SendTtsVoice; the opted-out too: TD stops texts, not this call). The
    # sandbox's members answer and press 1, except 31 and 32, who do not answer, and 33, who
    # presses 2; each call's record is pushed back and saves the report by keypad.
    path, no_answer, presses_2 = VOICE_SCRIPTS[provider]
    for number, script in ((31, no_answer), (32, no_answer), (33, presses_2)):
        response = requests.post(
            sandbox + path, json={"to": phone[number].person.phone, **script}, timeout=10
        )
        assert response.status_code in (200, 201), response.text
    stack.set_clock(cst(11, 10, 19, 5))

    def ended_calls() -> int:
        return int(
            scalar(
                select(func.count())
                .select_from(Call)
                .where(Call.purpose == CallPurpose.REMINDER, Call.status.in_(CALL_FINAL))
            )
            or 0
        )

    wait_for("every reminder call ended", ended_calls, until=lambda n: n >= len(silent),
             stack=stack, timeout=240)  # fmt: skip
    with db() as s:
        calls = {int(c.phone[-2:]): c for c in s.scalars(select(Call))}
        assert set(calls) == silent
        assert {n for n, c in calls.items() if c.status is not CallStatus.COMPLETED} == {31, 32}
        assert all(calls[n].next_attempt_at is not None for n in (31, 32))
        by_phone = {
            int(phone_number[-2:]): studied_this_month
            for studied_this_month, phone_number in s.execute(
                select(Report.studied, Member.phone)
                .join(Member, Member.id == Report.member_id)
                .where(Report.channel == Channel.IVR)
            )
        }
        assert set(by_phone) == silent - {31, 32}
        assert {n for n, yes in by_phone.items() if not yes} == {33}
    reporters |= silent - {31, 32}
    studied |= silent - {31, 32, 33}
    silent = {31, 32}

    # The receipts have caught up: every text that left is delivered, none refused.
    def undelivered() -> int:
        return int(
            scalar(
                select(func.count())
                .select_from(Message)
                .where(
                    Message.direction == Direction.OUT,
                    Message.status != MessageStatus.DELIVERED,
                    Message.status != MessageStatus.SKIPPED,
                    Message.hold_reason.is_(None),
                )
            )
            or 0
        )

    wait_for("every receipt", undelivered, until=lambda n: n == 0, stack=stack)
    everything = template_outbox(outbox_config, None)
    with db() as s:
        left = s.scalar(
            select(func.count()).select_from(Message).where(Message.sent_at.is_not(None))
        )
        assert len(everything) == left
        assert {entry["status"] for entry in everything} == {"delivered"}
        # No member got more than the cap on any day of the month.
        per_day = Counter(
            (m.member_id, local(m.sent_at).date())
            for m in s.scalars(select(Message).where(Message.sent_at.is_not(None)))
        )
        assert max(per_day.values()) == CAP, per_day.most_common(3)

    # The township's dashboard: members, reports and studies per branch.
    township = LiveAdmin(stack.web_url).login("township")
    rows = {row[0]: row[1:4] for row in table_rows(township.get("/admin/").text, "branch-rates")}
    for branch in BRANCHES:
        numbers = {p.number for p in everyone if p.branch == branch}
        expected = [str(len(numbers)), str(len(numbers & reporters)), str(len(numbers & studied))]
        assert rows[branch] == expected, (branch, rows)
    progress = township.get(f"/admin/broadcasts/{broadcast_id}/progress").json()
    assert (progress["recipients"], progress["delivered"], progress["skipped"]) == (60, 57, 3)

    # 1 December: the month closes; its non-reporters are fixed.
    stack.set_clock(cst(12, 1, 9, 0))
    wait_for(
        "November closed",
        lambda: scalar(
            select(func.count()).select_from(NonReporter).where(NonReporter.period == PERIOD)
        ),
        until=lambda n: (n or 0) >= len(silent),
        stack=stack,
        timeout=200,
    )
    assert scalar(
        select(func.count()).select_from(NonReporter).where(NonReporter.period == PERIOD)
    ) == len(silent)
    print(f"month test ({provider}): {time.monotonic() - started:.0f} s")
