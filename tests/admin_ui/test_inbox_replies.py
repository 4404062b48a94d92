"""Where members' texts land in the admin: a notice's replies beside the notice, the rest in
the texts tab. The texts arrive through the real /sms webhook, signed as Twilio signs them."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from models import Broadcast, Direction, Member, Message, MessageStatus, utcnow
from tests.admin_ui.world import World, db, login_as
from tests.gateway.test_sms import reply_text, sms
from tests.support import TwilioClient


def _deliver(app: Flask, member_id: int, text: str) -> int:
    """A notice from the member's branch, delivered to that member an hour ago; its id."""
    at = utcnow() - timedelta(hours=1)
    with db(app) as session:
        member = session.get(Member, member_id)
        assert member is not None
        notice = Broadcast(org_id=member.branch_id, text=text, target={}, created_at=at)
        session.add(notice)
        session.flush()
        session.add(
            Message(
                direction=Direction.OUT,
                member_id=member.id,
                phone=member.phone,
                body=text,
                status=MessageStatus.DELIVERED,
                broadcast_id=notice.id,
                created_at=at,
                sent_at=at,
            )
        )
        session.commit()
        return notice.id


def _phone(app: Flask, member_id: int) -> str:
    with db(app) as session:
        phone = session.scalar(select(Member.phone).where(Member.id == member_id))
    assert phone is not None
    return phone


def _tab(page: str) -> str:
    """The inbox table's body, without the navigation and the notice links."""
    found = re.search(r"<tbody>(.*?)</tbody>", page, re.S)
    assert found is not None
    return found.group(1)


def test_texts_tab_and_replies_tab_and_the_notice_page(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """A reply shows under notice replies and on the notice's page; a text after a notice
    that asked nothing, and one from a member who got no notice, show in the texts tab."""
    asking = _deliver(app, world.alice, "五月十日开会,能参加请回复1")
    _deliver(app, world.bob, "明天上午停电")
    twilio = TwilioClient(client)
    reply_text(sms(twilio, _phone(app, world.alice), "1"))
    reply_text(sms(twilio, _phone(app, world.bob), "工地老板不见了怎么办"))
    admin = login_as(client, "branch")

    texts_page = admin.get("/admin/inbox?tab=texts").get_data(as_text=True)
    # Every tab says how many wait in it, so a full tab is not missed for an empty one.
    counts = dict(re.findall(r'data-tab="(\w+)">(\d+)<', texts_page))
    assert (counts["texts"], counts["replies"]) == ("2", "1")
    texts = _tab(texts_page)
    assert "工地老板不见了怎么办" in texts and "我换工作了" in texts
    assert "王秀英" not in texts  # alice's answer is not an ordinary text

    replies_page = admin.get("/admin/inbox?tab=replies").get_data(as_text=True)
    replies = _tab(replies_page)
    assert "王秀英" in replies and "工地老板不见了怎么办" not in replies
    assert f"/admin/broadcasts/{asking}#replies" in replies
    assert "五月十日开会" in replies  # the notice it answers, named

    notice_page = admin.get(f"/admin/broadcasts/{asking}").get_data(as_text=True)
    section = notice_page[notice_page.index('id="replies"') :]
    assert "王秀英" in section and "<td>1</td>" in section


def test_a_township_notice_page_lists_replies_from_every_branch(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """A township's notice collects the replies of members of each of its branches."""
    notice = _deliver(app, world.alice, "请回复是否返乡过年")
    at = utcnow() - timedelta(hours=1)
    with db(app) as session:
        carol = session.get(Member, world.carol)
        assert carol is not None
        session.add(
            Message(
                direction=Direction.OUT,
                member_id=carol.id,
                phone=carol.phone,
                body="请回复是否返乡过年",
                status=MessageStatus.DELIVERED,
                broadcast_id=notice,
                created_at=at,
                sent_at=at,
            )
        )
        broadcast = session.get(Broadcast, notice)
        assert broadcast is not None
        broadcast.org_id = world.township
        session.commit()
    twilio = TwilioClient(client)
    reply_text(sms(twilio, _phone(app, world.alice), "回家"))
    reply_text(sms(twilio, _phone(app, world.carol), "不回了"))
    township = login_as(client, "township").get(f"/admin/broadcasts/{notice}")
    section = township.get_data(as_text=True).split('id="replies"')[1]
    assert "回家" in section and "不回了" in section
