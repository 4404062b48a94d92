"""The composer under a mainland template provider: the notice is counted as members read it
(signature and template words included) and a notice no template can carry is refused."""

from __future__ import annotations

from dataclasses import replace
from html import unescape
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from models import Broadcast, Message, utcnow
from models.broadcast import next_part, offered_notices, write_outbox_part
from models.sms_templates import Registry, TemplateRules, registry
from tests.admin_ui.world import World, db, login_as

SIGN = "青山镇党委"
WRAP = f"【{SIGN}】村支部通知:{{text}}"


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """The township sends through Alibaba Cloud (the sandbox's copy: nothing is sent here)."""
    return {
        **app_config,
        "PROVIDER": "aliyun",
        "ALIYUN_ACCESS_KEY_ID": "LTAI5tComposerTestKey01",
        "ALIYUN_ACCESS_KEY_SECRET": "composer-test-secret-" + "3" * 12,
        "ALIYUN_SMS_SIGN_NAME": SIGN,
        "ALIYUN_SMS_ENDPOINT": "http://127.0.0.1:9",
        "CN_CALLBACK_SECRET": "composer-push-" + "5" * 20,
    }


def test_the_composer_counts_the_notice_as_members_read_it(
    client: FlaskClient, world: World
) -> None:
    admin = login_as(client, "township")
    page = unescape(admin.get("/admin/broadcasts/new").get_data(as_text=True))
    assert f'data-wrap="{WRAP}"' in page
    assert f"党员收到的是:【{SIGN}】村支部通知:…" in page
    assert 'data-encoding="模板短信"' in page


def test_a_notice_is_stored_with_the_segments_the_template_costs(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """62 characters of notice + 7 of signature + 6 of template words: two messages, not one."""
    text = "本周六上午九点在村委会开党员大会,请准时参加。会后集体学习新修订的党章,带好笔记本和笔,不要迟到早退,谢谢配合。"
    assert len(text) <= 70
    admin = login_as(client, "township")
    assert admin.post("/admin/broadcasts", {"text": text}).status_code == 302
    with db(app) as session:
        stored = session.scalar(select(Broadcast).where(Broadcast.text == text))
        assert stored is not None and stored.segments == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("报名请点 https://example.org/a 填表", "不能含有网址"),
        ("【重要】周六开会", "不能含有【】"),
    ],
)
def test_a_notice_no_template_can_carry_is_refused_with_why(
    app: Flask, client: FlaskClient, world: World, text: str, message: str
) -> None:
    admin = login_as(client, "township")
    response = admin.post("/admin/broadcasts", {"text": text})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    with db(app) as session:
        assert session.scalar(select(Broadcast).where(Broadcast.text == text)) is None


MEETING = {
    "field_date": "12月20日上午9点",
    "field_place": "村委会二楼",
    "field_topic": "全体党员大会",
}


def test_the_composer_offers_the_notice_forms_with_their_fields(
    client: FlaskClient, world: World
) -> None:
    """Against the sandbox every form is offered (nothing is approved yet); each shows what
    members read, signature first, with its fields."""
    admin = login_as(client, "township")
    page = unescape(admin.get("/admin/broadcasts/new").get_data(as_text=True))
    for title in ("自由文字", "会议通知", "截止提醒", "春节集中学习"):
        assert f">{title}</option>" in page
    assert (
        f'data-wrap="【{SIGN}】村支部通知:定于{{date}}在{{place}}召开{{topic}},请准时参加。"'
        in page
    )
    for name in ("date", "place", "topic", "task"):
        assert f'name="field_{name}"' in page


def test_a_notice_form_is_stored_and_queued_as_its_template(
    app: Flask, client: FlaskClient, world: World
) -> None:
    admin = login_as(client, "township")
    response = admin.post("/admin/broadcasts", {"notice": "notice_meeting", "text": "", **MEETING})
    assert response.status_code == 302, response.get_data(as_text=True)
    text = "村支部通知:定于12月20日上午9点在村委会二楼召开全体党员大会,请准时参加。"
    with db(app) as session:
        stored = session.scalar(select(Broadcast).order_by(Broadcast.id.desc()))
        assert stored is not None
        assert (stored.text, stored.template_key) == (text, "notice_meeting")
        assert stored.params == {
            "date": "12月20日上午9点",
            "place": "村委会二楼",
            "topic": "全体党员大会",
        }
        part = next_part(session, stored, None)
        assert part is not None
        assert write_outbox_part(session, stored, part, utcnow()) > 0
        session.commit()
        rows = session.scalars(select(Message).where(Message.broadcast_id == stored.id)).all()
        assert rows and {(m.template_key, m.body) for m in rows} == {("notice_meeting", text)}
        assert all(m.params == stored.params for m in rows)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"field_place": "  "}, "请填写地点"),
        ({"field_topic": "全" * 36}, "太长"),
        ({"notice": "notice_unknown"}, "invalid"),
    ],
)
def test_a_notice_form_with_a_missing_or_unfit_value_is_refused(
    app: Flask, client: FlaskClient, world: World, change: dict[str, str], message: str
) -> None:
    admin = login_as(client, "township")
    before = _broadcasts(app)
    response = admin.post("/admin/broadcasts", {"notice": "notice_meeting", **MEETING, **change})
    assert response.status_code == 400
    assert message in unescape(response.get_data(as_text=True))
    assert _broadcasts(app) == before


def _broadcasts(app: Flask) -> int:
    with db(app) as session:
        return len(session.scalars(select(Broadcast.id)).all())


def _registry(approved: set[str]) -> Registry:
    """The shipped registry with only these keys' first Alibaba forms approved."""
    shipped = registry()
    templates = {}
    for (provider, key), forms in shipped.templates.items():
        ok = provider == "aliyun" and key in approved
        templates[(provider, key)] = tuple(
            replace(form, approved=ok and form.slots == 1, code="SMS_1" if ok else "")
            for form in forms
        )
    return replace(shipped, templates=templates)


def test_only_approved_notices_are_offered_against_the_provider_itself() -> None:
    rules = TemplateRules.for_provider("aliyun")
    source = _registry({"notice_deadline"})
    forms, free_text = offered_notices(rules, sandbox=False, source=source)
    assert ([f.key for f in forms], free_text) == (["notice_deadline"], False)
    forms, free_text = offered_notices(rules, sandbox=True, source=source)
    assert len(forms) == 3 and free_text
    assert offered_notices(None, sandbox=False) == ([], True)
    with_free_text = _registry({"broadcast"})
    assert offered_notices(rules, sandbox=False, source=with_free_text) == ([], True)
