"""The composer under a mainland template provider: the notice is counted as members read it
(signature and template words included) and a notice no template can carry is refused."""

from __future__ import annotations

from html import unescape
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from models import Broadcast
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
