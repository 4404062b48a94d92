"""A whole month for a township of three branches and 60 members, on the real processes.

Web under gunicorn, an `rq` worker, the `rq cron` scheduler and the sandbox run as `make run`
starts them; one clock file moves time for all of them. The month: the day-1 reminders at the
window, reports by SMS and keypad, a notice written at 03:00 that goes out at the window and is
answered, help requests by SMS and keypad (overdue two days on, the member told once, then
escalated to the township), a lesson campaign with busy and no-answer retries, a missed-call
callback, the day 5, 10 and 15 escalation, the month's close, and the non-reporters
flagged for the Spring Festival. Every figure a person reads is checked against what was done.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from devtools.phone import CallSimulator, Webhooks, new_sid, sms_params
from infra.db import make_engine
from models import (
    Call,
    CallbackRequest,
    ContactKind,
    ContactLog,
    Direction,
    HelpRequest,
    Member,
    Message,
    NonReporter,
    Recording,
    Report,
)
from tests.admin_ui.world import tone_wav
from tests.month.live_admin import PASSWORD, LiveAdmin, table_rows
from tests.month.world import BRANCHES, STAFF, TOWNSHIP, Person, people, write_files
from tests.stack import AUTH_TOKEN, Stack, run_stack, wait_for

pytestmark = pytest.mark.slow

ZONE = ZoneInfo("Asia/Shanghai")
WINDOW = (clock_time(19, 0), clock_time(21, 30))
HOTLINE = "+8610690000"
PERIOD = "2026-11"


def cst(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of 2026 in the township's time zone."""
    return datetime(2026, month, day, hour, minute, tzinfo=ZONE)


class Member_:
    """A member's basic phone: texts and calls into the live web process."""

    def __init__(self, stack: Stack, person: Person) -> None:
        self.stack, self.person = stack, person
        self.hooks = Webhooks(stack.web_url, stack.web_url, AUTH_TOKEN)

    def text(self, body: str) -> str:
        """Send an SMS as Twilio would; return the reply the member reads."""
        params = sms_params("AC" + "0" * 32, new_sid("SM"), body, self.person.phone, HOTLINE)
        response = self.hooks.post(self.stack.web_url + "/sms", params)
        assert response.status_code == 200, response.text
        return response.text

    def call(self, presses: list[str], *, missed: bool = False, record: bool = False) -> None:
        """Dial the hotline (or ring the callback number) and press keys."""
        CallSimulator(
            webhooks=self.hooks,
            caller=self.person.phone,
            called=HOTLINE,
            account_sid="AC" + "0" * 32,
            recordings_base=self.stack.sandbox_url + "/_sandbox/recordings",
            record=record,
        ).dial("/voice/callback" if missed else "/voice", presses)


@pytest.fixture
def month(db_url: str, redis_url: str, redis_client: Any, tmp_path: Path) -> Iterator[Stack]:
    """The stack, started on 1 November 08:00 Shanghai time, with the township loaded."""
    with run_stack(db_url, redis_url, tmp_path / "stack", cst(11, 1, 8)) as stack:
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


def local(at: datetime | None) -> datetime:
    assert at is not None
    return at.astimezone(ZONE)


def in_window(at: datetime | None) -> bool:
    moment = local(at).time()
    return WINDOW[0] <= moment <= WINDOW[1]


def outbound(db: Session, template: str) -> list[Message]:
    """The outbound rows made from one template."""
    return list(
        db.scalars(
            select(Message).where(
                Message.direction == Direction.OUT, Message.template_key == template
            )
        )
    )


def sent(db: Session, template: str) -> list[Message]:
    """Those that left: sent at a moment the clock recorded."""
    return [m for m in outbound(db, template) if m.sent_at is not None]


def cli_json(stack: Stack, *args: str) -> dict[str, Any]:
    result = stack.flask(*args, "--json")
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


def test_a_month_in_the_field(month: Stack, db_url: str) -> None:
    """Every member gets each step once, never at night, and every figure shown is true."""
    started = time.monotonic()
    stack = month
    engine: Engine = make_engine(db_url)
    everyone = people()
    phone = {p.number: Member_(stack, p) for p in everyone}

    def db() -> Session:
        return Session(engine, expire_on_commit=False)

    def scalar(statement: Any) -> Any:
        with db() as s:
            return s.scalar(statement)

    def sent_count(template: str) -> int:
        with db() as s:
            return len(sent(s, template))

    def callback_call() -> int | None:
        with db() as s:
            return s.scalars(select(CallbackRequest)).one().call_id

    with db() as s:
        assert s.scalar(select(func.count()).select_from(Member)) == 60

    # Day 1, 08:00: before the window nothing is sent, however often the tick runs.
    stack.let_run("workers.reminders.tick", "workers.outbox.sweep_outbox")
    with db() as s:
        assert sent(s, "reminder") == []

    # Day 1, 19:05: the reminders go out, one to each member, inside the window.
    stack.set_clock(cst(11, 1, 19, 5))
    wait_for(
        "60 reminders sent",
        lambda: sent_count("reminder"),
        until=lambda n: n >= 60,
        stack=stack,
    )
    with db() as s:
        reminders = sent(s, "reminder")
        assert Counter(m.member_id for m in reminders).most_common(1)[0][1] == 1
        assert len(reminders) == 60
        assert all(in_window(m.sent_at) for m in reminders)

    # Reports: 20 by one text (forgiving input), 5 by answering the reminder's question with
    # digits, 3 by keypad. One member opts out of texts.
    forms = ("HB 1", "hb1", "汇报，1", "ＨＢ　１", "HB 2 广州 电子厂")
    for n in range(1, 21):
        reply = phone[n].text(forms[n % len(forms)])
        assert "回执" in reply, reply
    for n in range(21, 26):
        phone[n].text("1")
        reply = phone[n].text("1")
        assert "回执" in reply, reply
    for n in range(26, 29):
        phone[n].call(["1", "1", "1", "1", "2"])
    opted_out = everyone[58]
    phone[59].text("TD")
    reporters = set(range(1, 29))
    with db() as s:
        reported = set(
            s.scalars(select(Report.member_id).where(Report.period == PERIOD).distinct())
        )
        by_phone = {m.id: m.phone for m in s.scalars(select(Member))}
        number_of = {by_phone[i]: int(by_phone[i][-2:]) for i in reported}
        assert set(number_of.values()) == reporters

    # Day 2, 03:00: the township writes a notice. Nobody's phone buzzes at night.
    stack.set_clock(cst(11, 2, 3, 0))
    created = cli_json(
        stack,
        *("broadcast", "create", "--org", TOWNSHIP, "--author", "township"),
        *("--text", "春节返乡安排:请于11月20日前回复1确认收到。"),
    )
    broadcast_id = int(created["id"])
    stack.let_run("workers.outbox.sweep_outbox", "workers.reminders.tick")
    with db() as s:
        assert sent(s, "broadcast") == [], "a notice left at 03:00"
    status = cli_json(stack, "broadcast", "status", str(broadcast_id))
    assert status["recipients"] == 60, status
    assert status["sent"] == status["delivered"] == 0, status

    # Day 2, 19:05: the notice goes out in the window, once to each member.
    stack.set_clock(cst(11, 2, 19, 5))
    wait_for(
        "the notice sent to 59 members",
        lambda: sent_count("broadcast"),
        until=lambda n: n >= 59,
        stack=stack,
    )
    with db() as s:
        notices = sent(s, "broadcast")
        assert len({m.member_id for m in notices}) == len(notices) == 59
        assert all(in_window(m.sent_at) for m in notices)

    # Five members answer it; the counts stay those of members reached.
    for n in range(30, 35):
        reply = phone[n].text("1")
        assert "菜单" not in reply and "回复?" not in reply, reply
    wait_for(
        "the notice's delivery settles",
        lambda: cli_json(stack, "broadcast", "status", str(broadcast_id)),
        until=lambda st: st["recipients"] == 60 and st["delivered"] == 59 and st["skipped"] == 1,
        stack=stack,
    )

    # A help request by text: the category, then the details, which stay with the request.
    phone[40].text("QZ")
    phone[40].text("1")
    phone[40].text("老板拖欠三个月工资")
    # And one by keypad, with a recording of the details.
    phone[41].call(["4", "1"], record=True)
    with db() as s:
        requests_ = list(s.scalars(select(HelpRequest).order_by(HelpRequest.id)))
        assert len(requests_) == 2
        assert "拖欠" in (requests_[0].text or "")
        recordings = s.scalars(
            select(Recording).where(Recording.help_request_id == requests_[1].id)
        ).all()
        assert len(recordings) == 1

    # The township uploads a lesson and calls 南村's 20 members with it; one line is busy the
    # first time, one does not answer the first time.
    township = LiveAdmin(stack.web_url).login("township")
    page = township.post(
        "/admin/lessons",
        "/admin/lessons",
        {"title": "农民工工资支付条例解读", "category": "policy", "transcript": "第一讲"},
        files={"audio": ("lesson.wav", tone_wav(2.0), "audio/wav")},
    )
    assert page.status_code == 200, page.text[:300]
    south = [p for p in everyone if p.branch == BRANCHES[2]]
    busy, no_answer = south[0], south[1]
    for who, status_ in ((busy, "busy"), (no_answer, "no-answer")):
        requests.post(
            stack.sandbox_url + "/_sandbox/faults",
            json={"to": who.phone, "resource": "calls", "call_status": status_, "count": 1},
            timeout=10,
        ).raise_for_status()
    stack.set_clock(cst(11, 3, 19, 5))
    campaign = cli_json(
        stack, "campaign", "create", "--lesson", "1", "--org", TOWNSHIP, "--branch", BRANCHES[2]
    )
    campaign_id = int(campaign["id"])
    # The member who texted TD gets no lesson calls (they are not essential).
    called = [p for p in south if p.number != opted_out.number]

    def campaign_calls(ended: bool = False) -> int:
        statement = select(func.count()).select_from(Call).where(Call.campaign_id == campaign_id)
        if ended:
            statement = statement.where(Call.ended_at.is_not(None))
        return int(scalar(statement) or 0)

    wait_for(
        "the first lesson calls answered or missed",
        lambda: campaign_calls(ended=True),
        until=lambda n: n >= len(called),
        stack=stack,
        timeout=120,
    )
    # Half an hour after the last of them, the busy and unanswered members are tried again.
    last_end = scalar(select(func.max(Call.ended_at)).where(Call.campaign_id == campaign_id))
    stack.set_clock(local(last_end) + timedelta(minutes=35))
    wait_for(
        "the retries placed and ended",
        lambda: campaign_calls(ended=True),
        until=lambda n: n >= len(called) + 2,
        stack=stack,
        timeout=120,
    )
    status = cli_json(stack, "campaign", "status", str(campaign_id))
    assert status["recipients"] == len(south), status
    assert (status["done"], status["skipped"]) == (len(called), 1), status
    lessons_page = township.get("/admin/lessons").text
    assert f"党员 {len(south)} ·" in lessons_page
    with db() as s:
        calls = list(s.scalars(select(Call).where(Call.campaign_id == campaign_id)))
        assert len(calls) == len(called) + 2
        assert all(in_window(c.created_at) for c in calls)
        attempts = Counter(s.get(Member, c.member_id).phone for c in calls)  # type: ignore[union-attr]
        assert attempts[busy.phone] == attempts[no_answer.phone] == 2
        assert set(attempts.values()) == {1, 2}

    # 23:00: a member rings the callback number. The call back waits for tomorrow's window.
    stack.set_clock(cst(11, 3, 23, 0))
    phone[50].call([], missed=True)
    stack.let_run("workers.callbacks.due_callbacks_tick")
    with db() as s:
        assert s.scalars(select(CallbackRequest)).one().call_id is None
    stack.set_clock(cst(11, 4, 19, 5))
    wait_for(
        "the callback placed",
        callback_call,
        stack=stack,
    )
    with db() as s:
        callback = s.get(Call, s.scalars(select(CallbackRequest)).one().call_id)
        assert callback is not None and in_window(callback.created_at)

    # Day 5: the second reminder, to those who have not reported and still take texts.
    silent = {p.number for p in everyone} - reporters
    texted = silent - {opted_out.number}
    stack.set_clock(cst(11, 5, 19, 5))
    wait_for(
        "second reminders",
        lambda: sent_count("reminder_second"),
        until=lambda n: n >= len(texted),
        stack=stack,
    )
    with db() as s:
        second = sent(s, "reminder_second")
        assert len(second) == len(texted) == len({m.member_id for m in second})
        assert all(in_window(m.sent_at) for m in second)

    # The two wages requests of day 2 had no note two days later: they are on the branch's
    # task lists, and each member is told once, in the window, that it is still being handled.
    wait_for(
        "the help requests' still-being-handled texts",
        lambda: sent_count("help_pending"),
        until=lambda n: n >= 2,
        stack=stack,
    )
    with db() as s:
        pending_texts = sent(s, "help_pending")
        assert len({m.member_id for m in pending_texts}) == len(pending_texts) == 2
        assert all(in_window(m.sent_at) for m in pending_texts)
        late = list(s.scalars(select(HelpRequest)))
        assert all(r.contact_overdue_at is not None and r.escalated_at is None for r in late)

    # Day 10: a reminder call to each silent member. Day 15: a task for someone to follow up.
    stack.set_clock(cst(11, 10, 19, 5))
    wait_for(
        "reminder calls",
        lambda: scalar(select(func.count()).select_from(Call).where(Call.purpose == "reminder")),
        until=lambda n: (n or 0) >= len(silent),
        stack=stack,
    )
    stack.set_clock(cst(11, 15, 19, 5))
    wait_for(
        "liaison tasks",
        lambda: scalar(
            select(func.count())
            .select_from(ContactLog)
            .where(ContactLog.kind == ContactKind.LIAISON_TASK)
        ),
        until=lambda n: (n or 0) >= len(silent),
        stack=stack,
    )
    stack.let_run("workers.reminders.tick")
    with db() as s:
        reminder_calls = list(s.scalars(select(Call).where(Call.purpose == "reminder")))
        assert len(reminder_calls) == len({c.member_id for c in reminder_calls}) == len(silent)
        assert all(in_window(c.created_at) for c in reminder_calls)
        tasks = list(
            s.scalars(select(ContactLog).where(ContactLog.kind == ContactKind.LIAISON_TASK))
        )
        assert len(tasks) == len({t.member_id for t in tasks}) == len(silent)
        assert opted_out.phone in {s.get(Member, t.member_id).phone for t in tasks}  # type: ignore[union-attr]

    # The township's dashboard on 15 November: members, reports and studies per branch.
    studied = {n for n in reporters if not (n <= 20 and n % len(forms) == 4)}
    township = LiveAdmin(stack.web_url).login("township")
    rows = {row[0]: row[1:4] for row in table_rows(township.get("/admin/").text, "branch-rates")}
    for branch in BRANCHES:
        numbers = {p.number for p in everyone if p.branch == branch}
        expected = [str(len(numbers)), str(len(numbers & reporters)), str(len(numbers & studied))]
        assert rows[branch] == expected, (branch, rows)
    progress = township.get(f"/admin/broadcasts/{broadcast_id}/progress").json()
    assert (progress["recipients"], progress["delivered"], progress["skipped"]) == (60, 59, 1)

    # 1 December: the month closes; its non-reporters are fixed.
    stack.set_clock(cst(12, 1, 9, 0))
    wait_for(
        "November closed",
        lambda: scalar(
            select(func.count()).select_from(NonReporter).where(NonReporter.period == PERIOD)
        ),
        until=lambda n: (n or 0) >= len(silent),
        stack=stack,
        timeout=90,
    )
    with db() as s:
        assert s.scalar(
            select(func.count()).select_from(NonReporter).where(NonReporter.period == PERIOD)
        ) == len(silent)

    # Unresolved past their 15 days, the wages requests are escalated to the township, and
    # their members are not texted again.
    wait_for(
        "the help requests escalated",
        lambda: scalar(
            select(func.count())
            .select_from(HelpRequest)
            .where(HelpRequest.escalated_at.is_not(None))
        ),
        until=lambda n: (n or 0) >= 2,
        stack=stack,
    )
    assert sent_count("help_pending") == 2
    dashboard = LiveAdmin(stack.web_url).login("township").get("/admin/").text
    assert len(re.findall(r'id="escalated-\d+"', dashboard)) == 2

    # 西村's secretary lists November's non-reporters and flags them for the Spring Festival.
    west = {p.number for p in everyone if p.branch == BRANCHES[1]}
    xicun = LiveAdmin(stack.web_url).login("xicun")
    listing = xicun.get("/admin/nonreporters", **{"from": PERIOD, "to": PERIOD}).text
    rows_ = table_rows(listing, "nonreporters")
    assert len(rows_) == len(west - reporters), rows_
    # Over the default range too, months before the register was loaded are not missed.
    for row in table_rows(xicun.get("/admin/nonreporters").text, "nonreporters"):
        assert row[3].startswith("1 /"), row
    with db() as s:
        ids = [
            m.id
            for m in s.scalars(select(Member).order_by(Member.id))
            if int(m.phone[-2:]) in west - reporters
        ]
    flagged = xicun.post(
        "/admin/nonreporters",
        "/admin/nonreporters/flag",
        {"season": "2027春节", "member_ids": ids, "reason": PERIOD},
    )
    assert flagged.status_code == 200
    roster = xicun.get("/admin/nonreporters/roster", season="2027春节").text
    flag_ids = re.findall(r'name="flag_ids" value="(\d+)"', roster)
    assert len(flag_ids) == len(ids)
    # At the festival three of them come to the make-up training.
    xicun.post(
        "/admin/nonreporters/roster?season=2027春节",
        "/admin/nonreporters/roster/attendance",
        {"season": "2027春节", "flag_ids": flag_ids[:3], "attended": "1"},
    )
    roster = xicun.get("/admin/nonreporters/roster", season="2027春节").text
    attended = [row for row in table_rows(roster, "roster") if row[-1] != "-"]
    assert len(attended) == 3, attended

    problems = stack.tracebacks()
    assert not problems, problems
    print(f"month test: {time.monotonic() - started:.0f} s")
