"""Words a secretary can read: every stored code has a Chinese label, no page shows a raw
code, lesson numbers are shown, exports have Chinese headers, and the running month and
months before registration do not read as missed months."""

from __future__ import annotations

import csv
import enum
import io
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale
from openpyxl import load_workbook
from sqlalchemy import select

from admin_ui import i18n
from models import (
    Call,
    CallDirection,
    CallPurpose,
    CallStatus,
    ChangeSource,
    Channel,
    ContactKind,
    ContactLog,
    Direction,
    HelpCategory,
    HelpStatus,
    LessonCategory,
    Member,
    Message,
    MessageStatus,
    Recording,
    RecordingKind,
    Role,
)
from models.audit import AuditAction, AuditLog, audit
from models.broadcast import BroadcastStatus
from models.lesson import CampaignMemberStatus, CampaignStatus
from models.member import ChangeField, Language, MemberChange, MembershipStatus
from models.notice import NoticeChannel
from models.period import period_of, shift_period
from models.reminder import EscalationStep
from sms_flows.keywords import Kind
from tests.admin_ui.world import World, db, login_as
from tests.factories import make_member

ROOT = Path(__file__).resolve().parents[2]
HAN = re.compile(r"[\u4e00-\u9fff]")

FAMILIES: list[tuple[str, type[enum.Enum]]] = [
    ("role", Role),
    ("status", MembershipStatus),
    ("help_status", HelpStatus),
    ("help_category", HelpCategory),
    ("contact_kind", ContactKind),
    ("lesson_category", LessonCategory),
    ("message_status", MessageStatus),
    ("broadcast_status", BroadcastStatus),
    ("campaign_status", CampaignStatus),
    ("campaign_status", CampaignMemberStatus),
    ("change_field", ChangeField),
    ("recording_kind", RecordingKind),
    ("call_status", CallStatus),
    ("channel", Channel),
    ("change_source", ChangeSource),
    ("call_purpose", CallPurpose),
    ("escalation_step", EscalationStep),
    ("audit_action", AuditAction),
    ("notice_channel", NoticeChannel),
    ("language", Language),
    ("sms_command", Kind),
]


def _audit_actions_in_code() -> set[str]:
    """Every audit action the code writes: `record("x", ...)` and `audit(s, u, "x", ...)`."""
    found: set[str] = set()
    pattern = re.compile(r'\b(?:record\(\s*|audit\(\s*[^,()]+,\s*[^,()]+,\s*)"([a-z_]+)"')
    for package in ("admin_ui", "gateway", "models", "workers"):
        for path in (ROOT / package).rglob("*.py"):
            found.update(pattern.findall(path.read_text(encoding="utf-8")))
    return found


def _values(kind: str) -> list[str]:
    extra = {
        "sms_command": ["error", "unmatched"],
        "audit_action": sorted(_audit_actions_in_code()),
    }
    enums = [e for k, e in FAMILIES if k == kind]
    return [str(v.value) for e in enums for v in e] + extra.get(kind, [])


@pytest.mark.parametrize("kind", sorted({k for k, _ in FAMILIES}))
def test_every_code_has_a_chinese_label(app: Flask, kind: str) -> None:
    """Each value of each code family has a label, and in Chinese it reads as Chinese."""
    values = _values(kind)
    assert values
    table = i18n.LABELS[kind]
    missing = [v for v in values if v not in table]
    assert not missing, f"{kind}: no label for {missing}"
    with app.test_request_context(), force_locale("zh_CN"):
        untranslated = [v for v in values if not HAN.search(i18n.label(kind, v))]
    if kind == "language":
        untranslated.remove("en")  # "English" is written so in Chinese too, as on the switch
    assert not untranslated, f"{kind}: not in Chinese: {untranslated}"


def test_the_audit_page_names_actions_in_chinese_and_shows_cli_exports(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Logins, views and sends read as 登录, 查看, 已发出; an export from the command line
    shows up too, made by 命令行."""
    admin = login_as(client, "township")
    admin.get("/admin/members")
    with db(app) as session:
        audit(session, world.users["township"], "send", f"broadcast:{world.broadcast_id}")
        audit(
            session, None, "export", "reports:2026-10:xlsx", {"rows": 3, "via": "cli", "out": "x"}
        )
        session.commit()
    page = admin.get("/admin/audit").get_data(as_text=True)
    table = page[page.index('<table id="audit">') :]
    for raw in ("view", "login", "send", "export"):
        assert f"<td>{raw}</td>" not in table
        assert f">{raw}</option>" not in page
    for word in ("登录", "查看", "已发出", "导出", "命令行", "汇报 2026-10 XLSX", "党员名单"):
        assert word in table, word
    assert "<td>members</td>" not in table
    assert '"page"' not in table and "页码: 1" in table  # details in words, not JSON
    assert "行数: 3" in table and "途径: 命令行" in table


def test_inbox_names_the_command_instead_of_its_code(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """A text that answered a question or was not understood says so in Chinese."""
    with db(app) as session:
        bob = session.get(Member, world.bob)
        assert bob is not None
        for body, command in (("2", "answer"), ("你好啊", "unknown")):
            session.add(
                Message(
                    direction=Direction.IN,
                    member_id=bob.id,
                    phone=bob.phone,
                    body=body,
                    status=MessageStatus.RECEIVED,
                    command=command,
                )
            )
        session.commit()
    page = login_as(client, "branch").get("/admin/inbox").get_data(as_text=True)
    assert "回答提问" in page and "未能识别" in page
    assert "(answer)" not in page and "(unknown)" not in page


def _section(page: str, section_id: str) -> str:
    start = page.index(f'id="{section_id}"')
    return page[start : page.index("</section>", start)]


def test_member_file_has_no_raw_codes(app: Flask, client: FlaskClient, world: World) -> None:
    """A keypad report reads 电话按键 (not 手机号), a received text 已收到 (not 收到时间),
    spoken recordings are named, a cycle's liaison task is worded in one language."""
    with db(app) as session:
        alice = session.get(Member, world.alice)
        assert alice is not None
        call = Call(direction=CallDirection.INBOUND, member_id=alice.id, phone=alice.phone)
        session.add(call)
        session.flush()
        for kind in (RecordingKind.NEW_CITY, RecordingKind.NEW_EMPLOYER):
            session.add(
                Recording(
                    call_id=call.id,
                    member_id=alice.id,
                    phone=alice.phone,
                    kind=kind,
                    url="recordings/thought.wav",
                )
            )
        session.add_all(
            [
                Message(
                    direction=Direction.IN,
                    member_id=alice.id,
                    phone=alice.phone,
                    body="HB1",
                    status=MessageStatus.RECEIVED,
                    handled=True,
                ),
                ContactLog(
                    member_id=alice.id,
                    kind=ContactKind.LIAISON_TASK,
                    period="2026-10",
                    contact_date=date(2026, 11, 15),
                    note="",  # as models.tasks.open_liaison_task writes it
                ),
                MemberChange(
                    member_id=alice.id,
                    field=ChangeField.CITY,
                    old_value="北京",
                    new_value="广州",
                    source=ChangeSource.IMPORT,
                ),
            ]
        )
        session.commit()
    page = login_as(client, "branch").get(f"/admin/members/{world.alice}").get_data(as_text=True)
    reports = _section(page, "reports")
    assert "电话按键" in reports and "手机号" not in reports
    messages = _section(page, "messages")
    assert "已收到" in messages and "收到时间" not in messages
    recordings = _section(page, "recordings")
    assert "新城市(口述)" in recordings and "新单位(口述)" in recordings
    assert "new_city" not in page and "new_employer" not in page
    contacts = _section(page, "contacts")
    assert "2026-10尚未汇报,请联系该党员。" in contacts
    assert "please contact" not in contacts
    assert "花名册导入" in _section(page, "history")


def test_lessons_show_the_number_members_dial(client: FlaskClient, world: World) -> None:
    """The lessons page shows each lesson's number, the player in a row of its own."""
    page = login_as(client, "township").get("/admin/lessons").get_data(as_text=True)
    assert "课号" in page
    row = page[page.index(f'id="lesson-{world.lesson_id}"') :]
    assert f'<td class="num"><b>{world.lesson_id}</b></td>' in row
    player = row[row.index('<tr class="player">') :]
    assert "<audio" in player.split("</tr>")[0]
    assert f"第{world.lesson_id}课 新农保政策解读" in page  # the campaign form's choice


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_admin_exports_have_chinese_headers(client: FlaskClient, world: World, fmt: str) -> None:
    """The review and the make-up roster, as CSV and XLSX, head their columns in Chinese."""
    admin = login_as(client, "branch")
    admin.post("/admin/nonreporters/flag", {"season": "2027春节", "member_ids": [world.bob]})
    headers = []
    for url in (f"/admin/review.{fmt}", f"/admin/nonreporters/roster.{fmt}?season=2027春节"):
        body = admin.get(url).get_data()
        if fmt == "csv":
            headers.append(next(csv.reader(io.StringIO(body.decode("utf-8-sig")))))
        else:
            sheet = load_workbook(io.BytesIO(body), read_only=True).active
            assert sheet is not None
            headers.append([str(c) for c in next(sheet.iter_rows(values_only=True))])
    review, roster = headers
    assert review[:4] == ["年份", "姓名", "手机号", "支部"]
    assert roster[:3] == ["补课批次", "姓名", "手机号"]
    for header in (review, roster):
        assert all(HAN.search(name) for name in header), header


# --- figures that mislead --------------------------------------------------------------


def test_dashboard_marks_the_running_month(client: FlaskClient, world: World) -> None:
    """The trend's last month is drawn apart and labelled 本月进行中; the rate tile too."""
    page = login_as(client, "township").get("/admin/").get_data(as_text=True)
    chart = page[page.index("<svg") : page.index("</svg>")]
    assert 'class="running-band"' in chart
    assert "本月进行中" in chart
    assert chart.count('class="dot reported running"') == 1


def test_grid_shows_the_running_month_and_months_before_registration(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Bob has not reported yet this month: in progress, not missed. A member registered
    this month is not applicable for it."""
    with db(app) as session:
        east = session.get(Member, world.bob)
        assert east is not None
        newcomer = make_member(session, east.branch, name="新来的", created_at=datetime.now(UTC))
        session.commit()
        newcomer_id = newcomer.id
    period = period_of(datetime.now(UTC))
    page = login_as(client, "branch").get("/admin/reports").get_data(as_text=True)

    def row_of(member_id: int) -> str:
        start = page.index(f"/admin/members/{member_id}")
        return page[start : page.index("</tr>", start)]

    assert f'title="{period}: 本月进行中">…' in row_of(world.bob)
    assert f'title="{shift_period(period, -1)}: 未汇报">✗' in row_of(world.bob)
    newcomer_row = row_of(newcomer_id)
    assert "cell before" in newcomer_row and "cell missing" not in newcomer_row
    assert "cell running" not in newcomer_row


def test_non_reporters_count_months_against_the_months_due(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """A member registered during the month five months ago missed four months out of four,
    not seven out of twelve."""
    period = period_of(datetime.now(UTC))
    five_ago = shift_period(period, -5)
    registered = datetime(int(five_ago[:4]), int(five_ago[5:]), 10, tzinfo=UTC)
    with db(app) as session:
        bob = session.get(Member, world.bob)
        assert bob is not None
        late = make_member(session, bob.branch, name="五月前登记", created_at=registered)
        session.commit()
        late_id = late.id
    page = login_as(client, "branch").get("/admin/nonreporters").get_data(as_text=True)
    start = page.index(f"/admin/members/{late_id}")
    row = page[start : page.index("</tr>", start)]
    assert ">4 / 4</td>" in row
    bob_start = page.index(f"/admin/members/{world.bob}")
    assert ">12 / 12</td>" in page[bob_start : page.index("</tr>", bob_start)]


def test_the_register_month_has_no_rate(app: Flask, client: FlaskClient, world: World) -> None:
    """Members loaded this month are registered but not yet due: the dashboard counts them
    as members and leaves them out of this month's rate."""
    with db(app) as session:
        bob = session.get(Member, world.bob)
        assert bob is not None
        for i in range(3):
            make_member(session, bob.branch, name=f"新{i}", created_at=datetime.now(UTC))
        session.commit()
    page = login_as(client, "branch").get("/admin/").get_data(as_text=True)
    assert '<b id="due">2</b>' in page  # alice and bob, registered long ago
    assert '<b id="rate">50%</b>' in page


def test_the_reports_export_is_in_chinese_and_scoped(client: FlaskClient, world: World) -> None:
    """The month's reports from the reports page: Chinese headers and words, as CSV and
    XLSX, only the members the user sees, and audited."""
    admin = login_as(client, "branch")
    page = admin.get("/admin/reports").get_data(as_text=True)
    assert f"/admin/reports.xlsx?period={world.period}" in page
    body = admin.get(f"/admin/reports.csv?period={world.period}").get_data()
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == [
        "手机号",
        "姓名",
        "支部",
        "月份",
        "已汇报",
        "已学习",
        "城市",
        "工作单位",
        "渠道",
        "收到时间",
        "回执",
    ]
    by_name = {r[1]: r for r in rows[1:]}
    assert set(by_name) == {"王秀英", "李建国"}  # the east branch only
    assert by_name["王秀英"][4:6] == ["是", "是"] and by_name["王秀英"][8] == "短信"
    assert by_name["李建国"][4] == "否"
    last = shift_period(world.period, -1)
    xlsx = admin.get(f"/admin/reports.xlsx?period={last}").get_data()
    sheet = load_workbook(io.BytesIO(xlsx), read_only=True).active
    assert sheet is not None
    cells = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert cells[0][0] == "手机号"
    alice = next(r for r in cells if r[1] == "王秀英")
    assert (alice[5], alice[8]) == ("否", "电话按键")
    liaison = login_as(client, "liaison").get(f"/admin/reports.csv?period={world.period}")
    names = [r[1] for r in csv.reader(io.StringIO(liaison.get_data().decode("utf-8-sig")))]
    assert names[1:] == ["王秀英"]
    with db(client.application) as session:
        targets = session.scalars(
            select(AuditLog.target).where(AuditLog.action == "export").order_by(AuditLog.id)
        ).all()
    assert targets == [
        f"reports:{world.period}:csv",
        f"reports:{last}:xlsx",
        f"reports:{world.period}:csv",
    ]
