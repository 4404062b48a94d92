"""A secretary's month without a command line: settings, register upload, linking unknown
numbers by search, and the yearly review's ratings."""

from __future__ import annotations

import csv
import io
from datetime import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from models import (
    AuditLog,
    Call,
    CallDirection,
    CallStatus,
    Member,
    Message,
    Organization,
    Recording,
)
from models.call import RecordingKind
from models.caps import SendCaps, caps_for
from models.cycle import rules_for
from models.rating import Grade, MemberRating
from tests.admin_ui.world import AdminClient, World, db, login_as

GOOD_SETTINGS = {
    "window_start": "18:30",
    "window_end": "21:00",
    "quiet_start": "22:00",
    "quiet_end": "07:30",
    "busy_seasons": "09-20..10-10\n12-20..01-10",
    "reminder": "2",
    "second_reminder": "6",
    "ivr_call": "11",
    "liaison_task": "16",
}


def _audit(app: Flask, action: str) -> list[AuditLog]:
    with db(app) as session:
        return list(session.scalars(select(AuditLog).where(AuditLog.action == action)))


# --- settings --------------------------------------------------------------------------


def test_township_saves_its_settings_and_every_job_reads_them(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """The township's form stores all four settings, audited with what changed."""
    admin = login_as(client, "township")
    page = admin.get("/admin/settings")
    assert page.status_code == 200 and "19:00" in page.get_data(as_text=True)
    response = admin.post("/admin/settings", GOOD_SETTINGS)
    assert response.status_code == 302
    with db(app) as session:
        township = session.get(Organization, world.township)
        assert township is not None
        rules = rules_for(township)
    assert rules.window == (time(18, 30), time(21))
    assert rules.quiet == (time(22), time(7, 30))
    assert rules.busy_seasons == (("09-20", "10-10"), ("12-20", "01-10"))
    assert rules.escalation_days == {
        "reminder": 2,
        "second_reminder": 6,
        "ivr_call": 11,
        "liaison_task": 16,
    }
    entries = _audit(app, "settings")
    assert [e.target for e in entries] == [f"org:{world.township}"]
    assert entries[0].detail is not None
    assert entries[0].detail["changes"]["contact_window"][1] == ["18:30", "21:00"]
    assert "09-20..10-10" in admin.get("/admin/settings").get_data(as_text=True)


def test_township_sets_its_texts_per_number_and_the_sender_uses_them(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """The caps fields store the township's own limits (empty: the provider's), audited,
    and they are what the sending job holds texts to."""
    admin = login_as(client, "township")
    page = admin.get("/admin/settings").get_data(as_text=True)
    assert "每个号码每天最多条数" in page and "当前服务商不限" in page  # the sandbox caps nothing
    response = admin.post(
        "/admin/settings", {**GOOD_SETTINGS, "sms_daily_cap": "3", "sms_same_content_seconds": ""}
    )
    assert response.status_code == 302
    with db(app) as session:
        township = session.get(Organization, world.township)
        assert township is not None
        assert caps_for("tencent", township.settings) == SendCaps(daily=3, same_content_seconds=30)
    [entry] = _audit(app, "settings")
    assert entry.detail is not None and entry.detail["changes"]["sms_daily_cap"] == [None, 3]
    refused = admin.post("/admin/settings", {**GOOD_SETTINGS, "sms_daily_cap": "-2"})
    assert refused.status_code == 400 and "0到1000" in refused.get_data(as_text=True)
    branch = login_as(client, "branch")
    assert "每个号码每天最多条数" not in branch.get(
        f"/admin/settings/branches/{world.east}"
    ).get_data(as_text=True)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"window_start": "25:00"}, "HH:MM"),
        ({"window_end": ""}, "HH:MM"),
        ({"quiet_start": "22:00", "quiet_end": "22:00"}, "不能相同"),
        ({"busy_seasons": "09-20"}, "09-20..10-10"),
        ({"busy_seasons": "02-30..03-05"}, "月-日"),
        ({"ivr_call": "6"}, "之后"),
        ({"liaison_task": "31"}, "1到28"),
        ({"reminder": "abc"}, "整数"),
        ({"window_start": "22:00", "window_end": "23:00"}, "全在免打扰时段"),
    ],
)
def test_bad_settings_are_refused_with_a_message(
    app: Flask, client: FlaskClient, world: World, change: dict[str, str], message: str
) -> None:
    """Each bad field answers 400 with its message; nothing is stored or audited."""
    admin = login_as(client, "township")
    response = admin.post("/admin/settings", {**GOOD_SETTINGS, **change})
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert 'class="error"' in body and message in body
    with db(app) as session:
        township = session.get(Organization, world.township)
        assert township is not None and "contact_window" not in (township.settings or {})
    assert _audit(app, "settings") == []


def test_branch_sets_its_own_window_and_the_rest_follows_the_township(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """A branch user may not change the township's settings but overrides the branch's."""
    admin = login_as(client, "branch")
    township_page = admin.get("/admin/settings").get_data(as_text=True)
    assert "disabled" in township_page
    assert admin.post("/admin/settings", GOOD_SETTINGS).status_code == 403
    assert admin.get(f"/admin/settings/branches/{world.east}").status_code == 200
    response = admin.post(
        f"/admin/settings/branches/{world.east}",
        {**GOOD_SETTINGS, "window_start": "12:00", "window_end": "13:00", "own_window": "y"},
    )
    assert response.status_code == 302
    with db(app) as session:
        township = session.get(Organization, world.township)
        east = session.get(Organization, world.east)
        west = session.get(Organization, world.west)
        assert township is not None and east is not None and west is not None
        assert set(east.settings) == {"contact_window"}
        assert rules_for(township, east).window == (time(12), time(13))
        assert rules_for(township, east).quiet == (time(21, 30), time(8))
        assert rules_for(township, west).window == (time(19), time(21, 30))
    # Unticked, the branch goes back to the township's window.
    admin.post(f"/admin/settings/branches/{world.east}", GOOD_SETTINGS)
    with db(app) as session:
        east = session.get(Organization, world.east)
        assert east is not None and "contact_window" not in (east.settings or {})
    assert [e.target for e in _audit(app, "settings")] == [f"org:{world.east}"] * 2
    # Saving again with nothing changed writes no audit entry.
    admin.post(f"/admin/settings/branches/{world.east}", GOOD_SETTINGS)
    assert len(_audit(app, "settings")) == 2


def test_a_branch_override_ignores_groups_it_does_not_set_but_checks_the_ones_it_does(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """A bad value in a group the branch does not set is not stored and not an error."""
    admin = login_as(client, "township")
    ok = admin.post(
        f"/admin/settings/branches/{world.west}",
        {**GOOD_SETTINGS, "window_start": "nonsense", "own_days": "y", "reminder": "3"},
    )
    assert ok.status_code == 302
    bad = admin.post(
        f"/admin/settings/branches/{world.west}",
        {**GOOD_SETTINGS, "own_seasons": "y", "busy_seasons": "harvest"},
    )
    assert bad.status_code == 400 and "09-20..10-10" in bad.get_data(as_text=True)
    # A branch window wholly inside the township's quiet hours would reach nobody.
    asleep = admin.post(
        f"/admin/settings/branches/{world.west}",
        {**GOOD_SETTINGS, "own_window": "y", "window_start": "23:00", "window_end": "06:00"},
    )
    assert asleep.status_code == 400 and "全在免打扰时段" in asleep.get_data(as_text=True)
    with db(app) as session:
        west = session.get(Organization, world.west)
        assert west is not None
        assert west.settings == {
            "escalation_days": {
                "reminder": 3,
                "second_reminder": 6,
                "ivr_call": 11,
                "liaison_task": 16,
            }
        }


def test_settings_outside_the_scope_are_not_found(client: FlaskClient, world: World) -> None:
    """Another branch's settings are a 404 for a branch user; another township's for all."""
    branch = login_as(client, "branch")
    assert branch.get(f"/admin/settings/branches/{world.west}").status_code == 404
    assert branch.post(f"/admin/settings/branches/{world.west}", GOOD_SETTINGS).status_code == 404
    other = login_as(client, "other")
    assert other.get(f"/admin/settings/branches/{world.east}").status_code == 404


@pytest.mark.parametrize("role", ["liaison", "host"])
def test_liaison_and_host_cannot_see_or_edit_settings(
    client: FlaskClient, world: World, role: str
) -> None:
    """Settings are for the township office and the branches."""
    admin = login_as(client, role)
    assert admin.get("/admin/settings").status_code == 403
    assert admin.post("/admin/settings", GOOD_SETTINGS).status_code == 403
    assert admin.post(f"/admin/settings/branches/{world.east}", GOOD_SETTINGS).status_code == 403


# --- register upload -------------------------------------------------------------------


def _csv(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _xlsx(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _upload(admin: AdminClient, data: bytes, name: str) -> Any:
    return admin.post(
        "/admin/register",
        {"register": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def _token(body: str) -> str:
    marker = 'name="token" value="'
    assert marker in body, body[:3000]
    return body.split(marker, 1)[1].split('"', 1)[0]


def _names(app: Flask) -> set[str]:
    with db(app) as session:
        return set(session.scalars(select(Member.name)))


HEADER = ["姓名", "手机号", "支部", "所在城市"]


def test_csv_register_is_checked_then_imported_exactly(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """The check counts new and changed members and writes nothing; the import writes them."""
    admin = login_as(client, "township")
    assert admin.get("/admin/register").status_code == 200
    with db(app) as session:
        bob = session.get(Member, world.bob)
        assert bob is not None
        bob_phone = bob.phone
    data = _csv(
        [
            HEADER,
            ["周新华", "13912340001", "东村党支部", "深圳"],
            ["吴丽", "13912340002", "西村党支部", "东莞"],
            ["李建国", bob_phone, "东村党支部", "杭州"],
        ]
    )
    checked = _upload(admin, data, "名册.csv")
    body = checked.get_data(as_text=True)
    assert checked.status_code == 200
    assert "<b>2</b>" in body and "<b>1</b>" in body  # 2 new, 1 updated
    assert "周新华" not in _names(app)
    token = _token(body)
    applied = admin.post("/admin/register/apply", {"token": token})
    assert applied.status_code == 302
    with db(app) as session:
        cities = {name: city for name, city in session.execute(select(Member.name, Member.city))}
    assert cities["周新华"] == "深圳" and cities["吴丽"] == "东莞" and cities["李建国"] == "杭州"
    assert [e.target for e in _audit(app, "import")] == ["register"]
    # The file is gone once imported: applying twice does nothing more.
    assert admin.post("/admin/register/apply", {"token": token}).status_code == 404


def test_xlsx_with_bad_rows_lists_each_by_number_and_imports_nothing(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Row numbers as the spreadsheet shows them, with the reason; no import button."""
    admin = login_as(client, "township")
    data = _xlsx(
        [
            ["东村党支部流动党员登记表"],
            HEADER,
            ["周新华", "13912340001", "东村党支部", "深圳"],
            ["坏号码", "12345", "东村党支部", "深圳"],
            ["没支部", "13912340003", "北村党支部", "深圳"],
        ]
    )
    response = _upload(admin, data, "register.xlsx")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="bad-rows"' in body and 'name="token"' not in body
    assert '<td class="num">4</td><td>手机号无效' in body
    assert '<td class="num">5</td><td>未知支部' in body
    assert "周新华" not in _names(app)


def test_xlsx_register_imports_after_the_check(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """A clean workbook: checked, then imported."""
    admin = login_as(client, "township")
    data = _xlsx([HEADER, ["陈明", 13912340010, "西村党支部", "苏州"]])
    token = _token(_upload(admin, data, "register.xlsx").get_data(as_text=True))
    assert admin.post("/admin/register/apply", {"token": token}).status_code == 302
    assert "陈明" in _names(app)


def test_a_csv_saved_by_chinese_excel_is_read(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Excel in Chinese saves CSV as GB18030 (GBK): it is read like UTF-8."""
    admin = login_as(client, "branch")
    data = "姓名,手机号,支部\n黄晓燕,13912340020,东村党支部\n".encode("gb18030")
    token = _token(_upload(admin, data, "名册.csv").get_data(as_text=True))
    assert admin.post("/admin/register/apply", {"token": token}).status_code == 302
    assert "黄晓燕" in _names(app)


def test_branch_may_only_upload_rows_of_its_own_branch(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """A row for another branch, or for a member of another branch, is a bad row."""
    admin = login_as(client, "branch")
    with db(app) as session:
        carol = session.get(Member, world.carol)
        assert carol is not None
        carol_phone = carol.phone
    data = _csv(
        [
            HEADER,
            ["周新华", "13912340001", "东村党支部", "深圳"],
            ["吴丽", "13912340002", "西村党支部", "东莞"],
            ["张桂兰", carol_phone, "东村党支部", "东莞"],
        ]
    )
    body = _upload(admin, data, "register.csv").get_data(as_text=True)
    assert '<td class="num">3</td><td>不是您的支部' in body
    assert '<td class="num">4</td><td>该党员属于其他支部' in body
    assert 'name="token"' not in body
    ok = _upload(admin, _csv([HEADER, ["周新华", "13912340001", "东村党支部", "深圳"]]), "r.csv")
    assert admin.post("/admin/register/apply", {"token": _token(ok.get_data(as_text=True))})
    assert "周新华" in _names(app)


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"name,phone\n", "register.txt", "只能上传CSV或XLSX"),
        (b"", "register.csv", "文件是空的"),
        (b"\n\n", "register.csv", "文件是空的"),
        ("名字,电话\n张三,13912340001\n".encode(), "register.csv", "缺少列"),
        (b"not a zip at all", "register.xlsx", "不是XLSX"),
        (b"PK\x03\x04broken", "register.xlsx", "无法读取表格"),
        (b"\x00\x01\x02binary", "register.csv", "不是CSV"),
    ],
)
def test_bad_register_files_are_answered_clearly(
    app: Flask, client: FlaskClient, world: World, data: bytes, name: str, message: str
) -> None:
    """Wrong type, empty, wrong headers, damaged: a 400 that says which, nothing stored."""
    admin = login_as(client, "township")
    response = _upload(admin, data, name)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_a_register_over_the_size_limit_is_refused(app_config: dict[str, object]) -> None:
    """A file over MAX_UPLOAD_MB answers 413 with a message."""
    from gateway import create_app
    from infra.db import get_session
    from tests.admin_ui.world import build_world

    app_config["MAX_UPLOAD_MB"] = 1
    big_app = create_app(app_config)
    try:
        with big_app.app_context():
            build_world(get_session())
        admin = login_as(big_app.test_client(), "township")
        big = _csv([HEADER] + [["张三", "13912340001", "东村党支部", "x" * 100]] * 12000)
        response = _upload(admin, big, "big.csv")
        assert response.status_code == 413
        assert "文件太大" in response.get_data(as_text=True)
    finally:
        big_app.extensions["db_engine"].dispose()


def test_someone_elses_or_a_made_up_token_is_not_found(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Only the user who checked a file may import it."""
    township = login_as(client, "township")
    token = _token(
        _upload(
            township, _csv([HEADER, ["周新华", "13912340001", "东村党支部", "深圳"]]), "r.csv"
        ).get_data(as_text=True)
    )
    branch = login_as(app.test_client(), "branch")
    assert branch.post("/admin/register/apply", {"token": token}).status_code == 404
    assert branch.post("/admin/register/apply", {"token": "../../etc/passwd"}).status_code == 404
    assert "周新华" not in _names(app)


def test_a_register_that_changed_since_the_check_is_checked_again(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """If the database moved on between check and import, nothing is written and the new
    check is shown."""
    admin = login_as(client, "township")
    data = _csv([HEADER, ["周新华", "13912340001", "东村党支部", "深圳"]])
    token = _token(_upload(admin, data, "r.csv").get_data(as_text=True))
    other = _token(_upload(admin, data, "r.csv").get_data(as_text=True))
    assert admin.post("/admin/register/apply", {"token": other}).status_code == 302
    again = admin.post("/admin/register/apply", {"token": token})
    assert again.status_code == 409
    assert "<b>1</b>" in again.get_data(as_text=True)  # now 1 unchanged, 0 new
    assert [e.target for e in _audit(app, "import")] == ["register"]


# --- linking unknown numbers and callers -----------------------------------------------


def test_link_search_finds_the_users_members_by_name_or_phone(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Search by name or by digits of the phone, only among the user's members."""
    admin = login_as(client, "township")
    inbox = admin.get("/admin/inbox?tab=unmatched").get_data(as_text=True)
    assert "/admin/inbox/link?phone=" in inbox
    page = admin.get(
        "/admin/inbox/link", query_string={"phone": world.unmatched_phone, "q": "李建"}
    ).get_data(as_text=True)
    assert "我是东村的王五" in page  # the number's text, to judge who it is
    assert "李建国" in page and f'name="member_id" value="{world.bob}"' in page
    with db(app) as session:
        bob = session.get(Member, world.bob)
        assert bob is not None
        digits = bob.phone[-6:]
    assert "李建国" in admin.get(f"/admin/inbox/link?q={digits}").get_data(as_text=True)
    hidden = admin.get("/admin/inbox/link?q=赵德明").get_data(as_text=True)
    assert 'name="member_id"' not in hidden  # another township's member
    assert "赵德明" not in admin.get("/admin/inbox/link?q=赵").get_data(as_text=True)


def test_linking_an_unknown_caller_attaches_the_recordings(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """The caller's recording and call go to the chosen member, with the number made theirs."""
    phone = "+8613900000077"
    with db(app) as session:
        call = Call(direction=CallDirection.INBOUND, phone=phone, status=CallStatus.COMPLETED)
        session.add(call)
        session.flush()
        session.add(
            Recording(
                call_id=call.id,
                phone=phone,
                kind=RecordingKind.UNKNOWN_CALLER,
                url="recordings/thought.wav",
            )
        )
        session.commit()
    admin = login_as(client, "township")
    assert "/admin/inbox/link?phone=" in admin.get("/admin/inbox?tab=recordings").get_data(
        as_text=True
    )
    found = admin.get("/admin/inbox/link", query_string={"phone": phone})
    assert "<audio" in found.get_data(as_text=True)
    response = admin.post(
        "/admin/inbox/link", {"phone": phone, "member_id": str(world.bob), "make_phone": "y"}
    )
    assert response.status_code == 302
    with db(app) as session:
        recording = session.scalar(select(Recording).where(Recording.phone == phone))
        linked_call = session.scalar(select(Call).where(Call.phone == phone))
        bob = session.get(Member, world.bob)
    assert recording is not None and recording.member_id == world.bob
    assert linked_call is not None and linked_call.member_id == world.bob
    assert bob is not None and bob.phone == phone
    entry = _audit(app, "link")[0]
    assert entry.detail is not None and entry.detail["recordings"] == 1


def test_linking_without_choosing_a_member_says_so(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """No member chosen: back to the search with a message, nothing linked."""
    admin = login_as(client, "township")
    response = admin.post(
        "/admin/inbox/link", {"phone": world.unmatched_phone}, follow_redirects=True
    )
    assert "请从搜索结果中选择党员" in response.get_data(as_text=True)
    with db(app) as session:
        message = session.scalar(select(Message).where(Message.phone == world.unmatched_phone))
    assert message is not None and message.member_id is None


# --- yearly review ratings -------------------------------------------------------------


def _rate(admin: AdminClient, world: World, member_id: int, grade: str, reason: str) -> Any:
    year = int(world.period[:4])
    return admin.post(
        "/admin/review/rate",
        {"member_id": str(member_id), "year": str(year), "grade": grade, "reason": reason},
    )


def test_rating_is_shown_filtered_and_exported_with_rater_date_and_reason(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """A branch rates a member; the review shows it, filters by it and exports it."""
    admin = login_as(client, "branch")
    year = int(world.period[:4])
    assert _rate(admin, world, world.bob, "excellent", "按时汇报,带头学习").status_code == 302
    page = admin.get(f"/admin/review?year={year}").get_data(as_text=True)
    assert "优秀" in page and "按时汇报,带头学习" in page and "branch" in page
    excellent = admin.get(f"/admin/review?year={year}&rating=excellent").get_data(as_text=True)
    assert "李建国" in excellent and "王秀英" not in excellent
    unrated = admin.get(f"/admin/review?year={year}&rating=none").get_data(as_text=True)
    assert "王秀英" in unrated and "李建国" not in unrated
    exported = admin.get(f"/admin/review.csv?year={year}").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(exported.lstrip("\ufeff"))))
    by_name = {row["姓名"]: row for row in rows}
    assert by_name["李建国"]["评定等次"] == "优秀"
    assert by_name["李建国"]["评定人"] == "branch"
    assert by_name["李建国"]["评定日期"].startswith(str(year))
    assert by_name["李建国"]["评定理由"] == "按时汇报,带头学习"
    assert by_name["王秀英"]["评定等次"] == ""
    xlsx = admin.get(f"/admin/review.xlsx?year={year}&rating=excellent")
    sheet = load_workbook(io.BytesIO(xlsx.get_data())).active
    assert sheet is not None
    table = list(sheet.iter_rows(values_only=True))
    assert table[0][-4:] == ("评定等次", "评定人", "评定日期", "评定理由")
    assert [(r[1], r[-4], r[-1]) for r in table[1:]] == [("李建国", "优秀", "按时汇报,带头学习")]


def test_rating_again_keeps_the_history_and_audits_both(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """A second rating replaces the first on the review; both stay on the member's file (not
    for a host), and the audit says what was."""
    admin = login_as(client, "branch")
    _rate(admin, world, world.bob, "qualified", "按时汇报")
    _rate(admin, world, world.bob, "basically_qualified", "三个月未汇报")
    with db(app) as session:
        ratings = list(session.scalars(select(MemberRating).order_by(MemberRating.id)))
    assert [(r.grade, r.superseded_at is None) for r in ratings] == [
        (Grade.QUALIFIED, False),
        (Grade.BASIC, True),
    ]
    entries = _audit(app, "rate")
    assert [e.target for e in entries] == [f"member:{world.bob}"] * 2
    assert entries[1].detail is not None
    assert entries[1].detail["previous"] == {"grade": "qualified", "reason": "按时汇报"}
    page = admin.get(f"/admin/review?year={world.period[:4]}").get_data(as_text=True)
    assert "基本合格" in page and "三个月未汇报" in page
    history = admin.get(f"/admin/members/{world.bob}").get_data(as_text=True)
    ratings = history.split('id="ratings"', 1)[1]
    assert ratings.index("三个月未汇报") < ratings.index("按时汇报") and "已被替换" in ratings
    _rate(admin, world, world.alice, "qualified", "按时汇报")
    host = login_as(app.test_client(), "host").get(f"/admin/members/{world.alice}")
    assert host.status_code == 200 and 'id="ratings"' not in host.get_data(as_text=True)


@pytest.mark.parametrize(
    ("grade", "reason"), [("excellent", ""), ("superb", "很好"), ("qualified", "理" * 501)]
)
def test_a_rating_needs_a_known_grade_and_a_reason(
    app: Flask, client: FlaskClient, world: World, grade: str, reason: str
) -> None:
    """Without a reason, with an unknown grade or an overlong reason: a message, nothing kept."""
    admin = login_as(client, "branch")
    response = _rate(admin, world, world.bob, grade, reason)
    assert response.status_code == 302
    assert 'class="flash error"' in admin.get(response.headers["Location"]).get_data(as_text=True)
    with db(app) as session:
        assert session.scalars(select(MemberRating)).all() == []


def test_rating_a_member_outside_the_scope_is_not_found(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Another branch's member, or another township's, is a 404; nothing is stored."""
    admin = login_as(client, "branch")
    assert _rate(admin, world, world.carol, "excellent", "好").status_code == 404
    assert _rate(admin, world, world.dave, "excellent", "好").status_code == 404
    with db(app) as session:
        assert session.scalars(select(MemberRating)).all() == []
