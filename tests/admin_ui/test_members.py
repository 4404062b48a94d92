"""The member pages: the file, editing with validation, phone changes, contact and feedback."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from models import ChangeField, ContactKind, ContactLog, Member, MemberChange
from tests.admin_ui.world import World, db, login_as
from tests.factories import make_member


def _edit_data(**changes: str) -> dict[str, str]:
    data = {
        "name": "王秀英",
        "status": "full",
        "sex": "女",
        "birth_year": "1988",
        "city": "广州",
        "employer": "电子厂",
        "host_org_id": "",
        "liaison_id": "",
        "language": "zh_CN",
        "active": "y",
    }
    data.update(changes)
    return data


def test_member_file_shows_card_history_reports_and_recording(
    client: FlaskClient, world: World
) -> None:
    """The file holds the registration card, reports by month and a playable recording."""
    admin = login_as(client, "branch")
    text = admin.get(f"/admin/members/{world.alice}").get_data(as_text=True)
    assert "王秀英" in text and "登记卡" in text
    assert f'src="/admin/recordings/{world.recording_id}/audio"' in text
    assert "表现很好" in text  # the host's feedback, seen by the home branch
    audio = admin.get(f"/admin/recordings/{world.recording_id}/audio")
    assert audio.status_code == 200
    assert audio.mimetype in ("audio/wav", "audio/x-wav")
    assert audio.get_data()[:4] == b"RIFF"


def test_edit_moves_the_member_and_keeps_the_history(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """A new city goes through the history; plain details are just changed."""
    admin = login_as(client, "branch")
    response = admin.post(
        f"/admin/members/{world.alice}/edit",
        _edit_data(
            city="深圳",
            employer="富士康",
            education="高中",
            window_start="20:00",
            window_end="22:00",
        ),
    )
    assert response.status_code == 302
    with db(app) as session:
        member = session.get(Member, world.alice)
        assert member is not None
        assert (member.city, member.employer, member.education) == ("深圳", "富士康", "高中")
        assert (member.window_start, member.window_end) == ("20:00", "22:00")
        changes = session.scalars(
            select(MemberChange.field).where(MemberChange.member_id == world.alice)
        ).all()
    assert ChangeField.CITY in changes and ChangeField.EMPLOYER in changes


def test_edit_refuses_bad_input_with_messages(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Bad values come back with messages in Chinese, and nothing changes."""
    admin = login_as(client, "branch")
    response = admin.post(
        f"/admin/members/{world.alice}/edit",
        _edit_data(name="", birth_year="1700", window_start="25:99", window_end=""),
    )
    text = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "此项必填" in text
    assert "1900年到今年" in text
    assert "HH:MM" in text
    with db(app) as session:
        member = session.get(Member, world.alice)
        assert member is not None and member.name == "王秀英"


def test_phone_change_is_validated_and_recorded(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """An invalid or taken number is refused; a good one replaces the phone with history."""
    admin = login_as(client, "branch")
    bad = admin.post(f"/admin/members/{world.alice}/phone", {"phone": "12345"})
    assert bad.status_code == 400 and "不是有效的手机号" in bad.get_data(as_text=True)
    with db(app) as session:
        bob_phone = session.get(Member, world.bob).phone  # type: ignore[union-attr]  # present
    taken = admin.post(f"/admin/members/{world.alice}/phone", {"phone": bob_phone})
    assert taken.status_code == 400 and "其他党员" in taken.get_data(as_text=True)
    good = admin.post(f"/admin/members/{world.alice}/phone", {"phone": "139 1234 5678"})
    assert good.status_code == 302
    with db(app) as session:
        member = session.get(Member, world.alice)
        assert member is not None and member.phone == "+8613912345678"
        assert (
            session.scalar(
                select(MemberChange.new_value).where(MemberChange.field == ChangeField.PHONE)
            )
            == "+8613912345678"
        )


def test_liaison_logs_contact_and_host_leaves_feedback(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """The liaison's monthly contact and the host's feedback both land on the member's file."""
    liaison = login_as(client, "liaison")
    response = liaison.post(
        f"/admin/members/{world.alice}/contacts",
        {"kind": "monthly_contact", "contact_date": "2026-03-02", "note": "电话联系,工作稳定"},
    )
    assert response.status_code == 302
    missing = liaison.post(
        f"/admin/members/{world.alice}/contacts", {"kind": "home_visit", "note": ""}
    )
    assert missing.status_code == 400 and "YYYY-MM-DD" in missing.get_data(as_text=True)
    liaison.post("/admin/logout")
    host = login_as(client, "host")
    host.post(
        f"/admin/members/{world.alice}/contacts",
        {"kind": "home_visit", "contact_date": "2026-03-05", "note": "参加了社区活动"},
    )
    with db(app) as session:
        rows = session.execute(
            select(ContactLog.kind, ContactLog.period, ContactLog.note).where(
                ContactLog.member_id == world.alice
            )
        ).all()
    assert (ContactKind.MONTHLY_CONTACT, "2026-03", "电话联系,工作稳定") in rows
    # Whatever a host posts is feedback: it cannot log the branch's home visits.
    assert (ContactKind.HOST_FEEDBACK, "2026-03", "参加了社区活动") in rows
    host.post("/admin/logout")
    branch_view = login_as(client, "branch").get(f"/admin/members/{world.alice}")
    assert "参加了社区活动" in branch_view.get_data(as_text=True)


def test_host_sees_the_card_but_not_messages_or_recordings(
    client: FlaskClient, world: World
) -> None:
    """Two-way management: the host sees its member's card, not the branch's private records."""
    text = login_as(client, "host").get(f"/admin/members/{world.alice}").get_data(as_text=True)
    assert "王秀英" in text
    assert "/audio" not in text
    assert 'id="messages"' not in text


def test_member_search_and_filters(app: Flask, client: FlaskClient, world: World) -> None:
    """Search by name; filter not reported this month."""
    admin = login_as(client, "township")
    found = admin.get("/admin/members?q=秀英").get_data(as_text=True)
    assert "王秀英" in found and "李建国" not in found
    not_reported = admin.get(f"/admin/members?reported=no&period={world.period}").get_data(
        as_text=True
    )
    assert "李建国" in not_reported and "王秀英" not in not_reported


def test_member_list_pages(app: Flask, client: FlaskClient, world: World) -> None:
    """Past 50 members the list has a second page."""
    with db(app) as session:
        from models import Organization

        east = session.get(Organization, world.east)
        for index in range(55):
            make_member(session, east, name=f"成员{index:02d}")
        session.commit()
    admin = login_as(client, "branch")
    first = admin.get("/admin/members").get_data(as_text=True)
    second = admin.get("/admin/members?page=2").get_data(as_text=True)
    assert "第1页,共2页" in first and 'rel="next"' in first
    assert "成员54" in second and "成员54" not in first


def test_edit_to_another_city_sets_the_province_and_ends_the_host_attachment(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """A move typed in the admin goes through the one rule for a move: the province follows
    the city, and the host in the old city lets go, leaving the branch a task."""
    with db(app) as session:
        session.get(Member, world.alice).province = "广东"  # type: ignore[union-attr]  # present
        session.commit()
    admin = login_as(client, "branch")
    response = admin.post(
        f"/admin/members/{world.alice}/edit",
        _edit_data(city="北京", host_org_id=str(world.host), province="广东"),
    )
    assert response.status_code == 302
    with db(app) as session:
        member = session.get(Member, world.alice)
        assert member is not None
        assert (member.city, member.province, member.host_org_id) == ("北京", "北京", None)
        host_change = session.scalar(
            select(MemberChange).where(
                MemberChange.member_id == world.alice, MemberChange.field == ChangeField.HOST_ORG
            )
        )
        task = session.scalar(
            select(ContactLog).where(
                ContactLog.member_id == world.alice, ContactLog.kind == ContactKind.LIAISON_TASK
            )
        )
    assert host_change is not None and host_change.old_value == str(world.host)
    assert host_change.new_value is None and host_change.source == "admin"
    assert task is not None and task.done is False and task.user_id is None
    assert "北京" in task.note and "广州白云区流动党支部" in task.note
    file_page = admin.get(f"/admin/members/{world.alice}").get_data(as_text=True)
    # A municipality is its own province: named once.
    assert "<dd>北京</dd>" in file_page and "广东 北京" not in file_page
    assert "请为其对接北京的流入地党组织" in file_page  # the branch's task, on the file


def test_edit_keeps_a_typed_province_and_a_host_chosen_for_the_new_city(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """A province the user types wins over the city's; a host chosen in the same edit stays."""
    with db(app) as session:
        from models import Organization, OrgKind
        from tests.factories import make_org

        township = session.get(Organization, world.township)
        # A host is offered to the township it is filed under.
        beijing_host = make_org(
            session, "北京朝阳流动党支部", OrgKind.HOST, township, city="北京"
        ).id
        session.commit()
    admin = login_as(client, "branch")
    admin.post(
        f"/admin/members/{world.alice}/edit",
        _edit_data(city="北京", host_org_id=str(beijing_host), province="河北"),
    )
    with db(app) as session:
        member = session.get(Member, world.alice)
        assert member is not None
        assert (member.city, member.province, member.host_org_id) == ("北京", "河北", beijing_host)
        tasks = session.scalars(
            select(ContactLog).where(ContactLog.kind == ContactKind.LIAISON_TASK)
        ).all()
    assert tasks == []
