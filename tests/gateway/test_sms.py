"""The inbound SMS webhook, end to end through the app with signed requests."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import (
    ChangeField,
    Conversation,
    HelpCategory,
    HelpRequest,
    Member,
    MemberChange,
    Message,
    MessageStatus,
    PhoneChange,
    Report,
    ReportRevision,
    period_of,
    utcnow,
)
from models.segments import count_segments
from tests.factories import make_member, make_tree
from tests.support import TwilioClient


def sms(twilio: TwilioClient, sender: str, body: str, sid: str | None = None, **extra: str) -> Any:
    """Post an inbound SMS as Twilio does; return the response."""
    params = {
        "MessageSid": sid or "SM" + uuid.uuid4().hex,
        "AccountSid": "AC" + "0" * 32,
        "From": sender,
        "To": "+8610690000",
        "Body": body,
        "NumMedia": "0",
        **extra,
    }
    return twilio.post("/sms", params)


def reply_text(response: Any) -> str:
    """The text of the single <Message> in a TwiML reply."""
    assert response.status_code == 200, response.data
    assert response.mimetype == "text/xml"
    root = ET.fromstring(response.data)
    assert root.tag == "Response"
    messages = root.findall("Message")
    assert len(messages) == 1
    return messages[0].text or ""


@pytest.fixture
def member(session: Session) -> Member:
    """A member of a branch in Guangzhou at an electronics factory."""
    _, branch, _ = make_tree(session)
    created = make_member(session, branch, name="王建国", phone="+8613800000001")
    session.commit()
    return created


def count(session: Session, model: type) -> int:
    """Rows in a table, read fresh."""
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_report_by_keyword_records_and_replies_with_receipt(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """`HB 1` stores the message, records this month's report, and replies with a receipt."""
    text = reply_text(sms(twilio, "+8613800000001", "HB 1"))
    report = session.scalar(select(Report).where(Report.member_id == member.id))
    assert report is not None
    assert report.studied is True
    assert report.period == period_of(utcnow())
    assert report.receipt in text
    assert count_segments(text).segments == 1
    stored = session.scalar(select(Message).where(Message.member_id == member.id))
    assert stored is not None and stored.body == "HB 1" and stored.reply_body == text
    assert stored.handled is True and stored.command == "report"


@pytest.mark.parametrize("body", ["hb1", "ＨＢ　１", "汇报，1", "匯報1", "汇报 学了", "REPORT 1"])
def test_forgiving_report_forms(
    twilio: TwilioClient, session: Session, member: Member, body: str
) -> None:
    """Full-width, glued, traditional and word forms all count as a report of studying."""
    reply_text(sms(twilio, member.phone, body))
    report = session.scalar(select(Report).where(Report.member_id == member.id))
    assert report is not None and report.studied is True


def test_report_with_new_city_and_employer_updates_member_with_history(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """`HB 2 东莞 鞋厂` reports not studied and moves the member, keeping the old values."""
    reply_text(sms(twilio, member.phone, "HB 2 东莞 鞋厂"))
    session.expire_all()
    fresh = session.get(Member, member.id)
    assert fresh is not None and fresh.city == "东莞" and fresh.employer == "鞋厂"
    changes = session.scalars(select(MemberChange).where(MemberChange.member_id == member.id)).all()
    assert {(c.field, c.old_value, c.new_value) for c in changes} == {
        (ChangeField.CITY, "广州", "东莞"),
        (ChangeField.EMPLOYER, "电子厂", "鞋厂"),
    }
    report = session.scalar(select(Report).where(Report.member_id == member.id))
    assert report is not None and report.studied is False and report.same_city is False


def test_second_report_replaces_first_and_keeps_revisions(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """One report per member per period; the earlier one is kept as a revision."""
    reply_text(sms(twilio, member.phone, "HB 2"))
    reply_text(sms(twilio, member.phone, "HB 1"))
    assert count(session, Report) == 1
    report = session.scalar(select(Report))
    assert report is not None and report.studied is True and report.revision == 2
    revisions = session.scalars(select(ReportRevision).order_by(ReportRevision.revision)).all()
    assert [r.data["studied"] for r in revisions] == [False, True]


def test_replayed_message_sid_stores_nothing_and_gets_the_same_reply(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """Twilio retrying a webhook must not count a report or a message twice."""
    first = reply_text(sms(twilio, member.phone, "HB 1", sid="SM" + "1" * 32))
    second = reply_text(sms(twilio, member.phone, "HB 1", sid="SM" + "1" * 32))
    assert first == second
    assert count(session, Message) == 1
    assert count(session, ReportRevision) == 1


def test_report_by_replies_takes_three_exchanges(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """`HB` asks studied?, `1` asks same city?, `1` finishes with a receipt."""
    ask = reply_text(sms(twilio, member.phone, "HB"))
    assert "1" in ask and "2" in ask
    same = reply_text(sms(twilio, member.phone, "1"))
    assert "广州" in same
    done = reply_text(sms(twilio, member.phone, "1"))
    report = session.scalar(select(Report))
    assert report is not None and report.receipt in done
    assert report.studied is True and report.same_city is True
    assert count(session, Conversation) == 0


def test_reply_with_new_place_answers_the_same_city_question(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """After `HB` and `2`, a reply `深圳 富士康` records the move."""
    sms(twilio, member.phone, "HB")
    sms(twilio, member.phone, "2")
    reply_text(sms(twilio, member.phone, "深圳 富士康"))
    session.expire_all()
    report = session.scalar(select(Report))
    assert report is not None and report.studied is False and report.city == "深圳"
    fresh = session.get(Member, member.id)
    assert fresh is not None and fresh.employer == "富士康"


def test_reminder_conversation_is_answered_by_a_bare_digit(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """A question opened by a reminder is answered by `2` alone."""
    session.add(
        Conversation(
            member_id=member.id,
            topic="report",
            step="studied",
            data={},
            expires_at=utcnow() + timedelta(days=3),
        )
    )
    session.commit()
    reply_text(sms(twilio, member.phone, "2"))
    report = session.scalar(select(Report))
    assert report is not None and report.studied is False


def test_expired_conversation_is_not_answered(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """After the session expires, a bare digit is not taken as a report."""
    session.add(
        Conversation(
            member_id=member.id,
            topic="report",
            step="studied",
            data={},
            expires_at=utcnow() - timedelta(minutes=1),
        )
    )
    session.commit()
    reply_text(sms(twilio, member.phone, "1"))
    assert count(session, Report) == 0
    assert count(session, Conversation) == 0


def test_status_update(twilio: TwilioClient, session: Session, member: Member) -> None:
    """`DT 深圳 富士康` moves the member and records the history."""
    text = reply_text(sms(twilio, member.phone, "DT 深圳 富士康"))
    assert "深圳" in text
    session.expire_all()
    fresh = session.get(Member, member.id)
    assert fresh is not None and (fresh.city, fresh.employer) == ("深圳", "富士康")
    assert count(session, MemberChange) == 2


def test_bare_status_keyword_asks_then_takes_the_answer(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """`DT` asks where; the next text is read as the new place."""
    reply_text(sms(twilio, member.phone, "DT"))
    reply_text(sms(twilio, member.phone, "杭州"))
    session.expire_all()
    fresh = session.get(Member, member.id)
    assert fresh is not None and fresh.city == "杭州"


@pytest.mark.parametrize(
    ("body", "category", "text"),
    [
        ("QZ 1 工资拖欠三个月", HelpCategory.WAGES, "工资拖欠三个月"),
        ("求助 住房 宿舍要拆了", HelpCategory.HOUSING, "宿舍要拆了"),
        ("help 3 kids school", HelpCategory.SCHOOLING, "kids school"),
        ("QZ 老板跑了", HelpCategory.OTHER, "老板跑了"),
    ],
)
def test_help_request(
    twilio: TwilioClient,
    session: Session,
    member: Member,
    body: str,
    category: HelpCategory,
    text: str,
) -> None:
    """A help request opens a HelpRequest with its category and text, and a reference."""
    reply = reply_text(sms(twilio, member.phone, body))
    request = session.scalar(select(HelpRequest))
    assert request is not None
    assert request.category is category and request.text == text
    assert f"QZ{request.id}" in reply


def test_bare_help_keyword_asks_for_category(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """`QZ` lists the categories; `5 被打了` answers it."""
    ask = reply_text(sms(twilio, member.phone, "QZ"))
    assert "1工资" in ask
    reply_text(sms(twilio, member.phone, "5 劳动纠纷没解决"))
    request = session.scalar(select(HelpRequest))
    assert request is not None and request.category is HelpCategory.DISPUTE


def test_opt_out_and_back_in(twilio: TwilioClient, session: Session, member: Member) -> None:
    """STOP marks the member opted out at once; START resumes."""
    reply_text(sms(twilio, member.phone, "STOP"))
    session.expire_all()
    fresh = session.get(Member, member.id)
    assert fresh is not None and fresh.opted_out
    reply_text(sms(twilio, member.phone, "订阅"))
    session.expire_all()
    fresh = session.get(Member, member.id)
    assert fresh is not None and not fresh.opted_out


@pytest.mark.parametrize("word", ["TD", "退订", "stopall", "UNSUBSCRIBE", "cancel", "End", "QUIT"])
def test_every_opt_out_word(
    twilio: TwilioClient, session: Session, member: Member, word: str
) -> None:
    """Each of Twilio's standard words and ours opts out."""
    reply_text(sms(twilio, member.phone, word))
    session.expire_all()
    fresh = session.get(Member, member.id)
    assert fresh is not None and fresh.opted_out


def test_phone_change_confirmed_from_new_number(
    app: Flask, twilio: TwilioClient, session: Session, member: Member
) -> None:
    """`换号` queues a code to the new phone; the code texted from it switches the number."""
    reply = reply_text(sms(twilio, member.phone, "换号 139-1234-5678"))
    assert "+8613912345678" in reply
    change = session.scalar(select(PhoneChange))
    assert change is not None
    code_sms = session.scalar(select(Message).where(Message.phone == "+8613912345678"))
    assert code_sms is not None and code_sms.status is MessageStatus.QUEUED
    assert change.code in code_sms.body and code_sms.template_key == "phone_code"
    # The old number still matches until the change is confirmed.
    reply_text(sms(twilio, member.phone, "HB 1"))
    assert count(session, Report) == 1
    wrong = reply_text(sms(twilio, "+8613912345678", "000000" if change.code != "000000" else "1"))
    assert "验证码" in wrong
    done = reply_text(sms(twilio, "+8613912345678", change.code))
    assert "+8613912345678" in done
    session.expire_all()
    fresh = session.get(Member, member.id)
    assert fresh is not None and fresh.phone == "+8613912345678"
    assert fresh.other_phone == "+8613800000001"
    history = session.scalar(select(MemberChange).where(MemberChange.field == ChangeField.PHONE))
    assert history is not None and history.old_value == "+8613800000001"
    # The code is kept no longer than needed: the confirmed change is gone.
    assert count(session, PhoneChange) == 0


def test_an_expired_phone_change_code_changes_nothing(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """The right code texted back after it expired is refused, and the number stays."""
    reply_text(sms(twilio, member.phone, "换号 13912345678"))
    change = session.scalar(select(PhoneChange))
    assert change is not None
    change.expires_at = utcnow() - timedelta(minutes=1)
    session.commit()
    late = reply_text(sms(twilio, "+8613912345678", change.code))
    assert "过期" in late
    session.expire_all()
    fresh = session.get(Member, member.id)
    assert fresh is not None and fresh.phone == "+8613800000001"
    assert session.scalar(select(PhoneChange.confirmed_at)) is None
    assert count(session, MemberChange) == 0


def test_phone_change_to_invalid_or_taken_number(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """An invalid number is refused; a number another member has is refused."""
    other = make_member(session, phone="+8613800000099")
    session.commit()
    assert "无效" in reply_text(sms(twilio, member.phone, "HH 12345"))
    assert "已被登记" in reply_text(sms(twilio, member.phone, f"HH {other.phone}"))
    assert count(session, PhoneChange) == 0


def test_unmatched_number_is_stored_and_told_how_to_register(
    twilio: TwilioClient, session: Session
) -> None:
    """A stranger's text is kept, unmatched, and answered in one segment."""
    text = reply_text(sms(twilio, "+8613700000000", "你好，我是东村的"))
    assert "登记" in text and count_segments(text).segments == 1
    stored = session.scalar(select(Message))
    assert stored is not None and stored.member_id is None and stored.handled is False


@pytest.mark.parametrize(
    "body",
    ["", "😀😀😀", "x" * 1600, "随便说点什么", "HBX", "\u0000\u0001"],
)
def test_anything_else_gets_the_menu_and_is_kept_whole(
    twilio: TwilioClient, session: Session, member: Member, body: str
) -> None:
    """Unknown, empty (media only), emoji and 1,600-character bodies: menu, stored whole."""
    text = reply_text(sms(twilio, member.phone, body, NumMedia="1" if not body else "0"))
    assert "HB" in text
    stored = session.scalar(select(Message))
    # NUL alone is dropped: PostgreSQL text cannot hold it and no phone sends it.
    assert stored is not None and stored.body == body.replace("\x00", "")
    assert stored.handled is False


def test_menu(twilio: TwilioClient, member: Member) -> None:
    """`?`, `帮助` and `MENU` answer with the menu."""
    for word in ("?", "帮助", "MENU", "０"):
        assert "QZ" in reply_text(sms(twilio, member.phone, word))


def test_english_member_gets_english_replies(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """Replies use the member's language."""
    from models import Language

    member.language = Language.EN
    session.commit()
    assert "receipt" in reply_text(sms(twilio, member.phone, "REPORT 1"))


def test_forged_signature_is_refused_and_nothing_stored(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """A wrong or missing signature: 403, nothing stored."""
    params = {"MessageSid": "SM" + "2" * 32, "From": member.phone, "Body": "HB 1"}
    assert twilio.post("/sms", params, sign=False).status_code == 403
    forged = TwilioClient(twilio.client, token="not-our-token")
    assert forged.post("/sms", params).status_code == 403
    assert count(session, Message) == 0


def test_signature_is_checked_against_the_public_url(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """A signature over the internal URL (what a proxy forwards to) does not pass."""
    from twilio.request_validator import RequestValidator

    from tests.support import AUTH_TOKEN

    params = {"MessageSid": "SM" + "3" * 32, "From": member.phone, "Body": "HB 1"}
    signature = RequestValidator(AUTH_TOKEN).compute_signature("http://localhost/sms", params)
    response = twilio.client.post("/sms", data=params, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403


@pytest.mark.parametrize("missing", ["From", "MessageSid"])
def test_missing_fields_are_rejected(
    twilio: TwilioClient, session: Session, member: Member, missing: str
) -> None:
    """Without From or MessageSid: 400, nothing stored."""
    params = {"MessageSid": "SM" + "4" * 32, "From": member.phone, "Body": "HB 1"}
    del params[missing]
    assert twilio.post("/sms", params).status_code == 400
    assert count(session, Message) == 0


def test_database_down_answers_503(app_config: dict[str, Any], tmp_path: Any) -> None:
    """With the database unreachable the webhook answers 503, so Twilio uses the fallback."""
    from devtools.servers import free_port
    from gateway import create_app

    app_config["DATABASE_URL"] = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none"
    down = create_app(app_config)
    response = TwilioClient(down.test_client()).post(
        "/sms", {"MessageSid": "SM" + "5" * 32, "From": "+8613800000001", "Body": "HB 1"}
    )
    assert response.status_code == 503


def test_keyword_after_a_notice_is_carried_out_not_filed_as_a_reply(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """A report sent after a notice asking for it is recorded; it is a report, not a reply."""
    from models import Broadcast, Direction

    notice = Broadcast(org_id=member.branch_id, text="请回复HB汇报", target={})
    session.add(notice)
    session.flush()
    session.add(
        Message(
            direction=Direction.OUT,
            member_id=member.id,
            phone=member.phone,
            body="请汇报",
            status=MessageStatus.DELIVERED,
            broadcast_id=notice.id,
            created_at=utcnow() - timedelta(hours=2),
            sent_at=utcnow() - timedelta(hours=2),
        )
    )
    session.commit()
    reply_text(sms(twilio, member.phone, "HB 1"))
    assert count(session, Report) == 1
    inbound = session.scalar(select(Message).where(Message.direction == Direction.IN))
    assert inbound is not None and inbound.broadcast_id is None
    assert inbound.command == "report" and inbound.handled is True


def test_lessons_list_and_callback_request(
    twilio: TwilioClient, session: Session, member: Member, redis_client: Any
) -> None:
    """`XX` lists the newest lessons in one segment; `XX n` queues a callback for lesson n."""
    from models import CallbackRequest, Lesson, LessonCategory

    for title in ("农民工工资支付条例解读", "外出务工劳动合同要点", "设施蔬菜种植技术"):
        session.add(Lesson(org_id=member.branch_id, title=title, category=LessonCategory.POLICY))
    session.commit()
    listing = reply_text(sms(twilio, member.phone, "XX"))
    assert "3." in listing and count_segments(listing).segments == 1
    reply_text(sms(twilio, member.phone, "XX 2"))
    callback = session.scalar(select(CallbackRequest))
    assert callback is not None and callback.lesson_id == 2 and callback.reason == "lesson"
    assert "99" in reply_text(sms(twilio, member.phone, "XX 99"))
    assert count(session, CallbackRequest) == 1


def test_a_lesson_the_providers_calls_cannot_play_is_not_promised_a_call(
    app: Any, twilio: TwilioClient, session: Session, member: Member, monkeypatch: Any
) -> None:
    """Under a provider whose calls play no lesson (Tencent), `XX n` says so and queues no
    call back."""
    from infra.clients import provider
    from models import CallbackRequest, Lesson, LessonCategory
    from models.lesson import LessonPlayback

    session.add(Lesson(org_id=member.branch_id, title="劳动合同", category=LessonCategory.POLICY))
    session.commit()
    with app.app_context():
        monkeypatch.setattr(provider(), "lesson_playback", LessonPlayback.NONE)
    assert reply_text(sms(twilio, member.phone, "XX 1")) == (
        "第1课暂不能电话收听。春节回村时请参加集中学习。"
    )
    assert count(session, CallbackRequest) == 0


def test_callback_requests_are_capped_per_day(
    twilio: TwilioClient, session: Session, member: Member, redis_client: Any
) -> None:
    """After the day's callbacks are used, `XX n` says so and queues nothing more."""
    from models import CallbackRequest, Lesson, LessonCategory

    for number in range(3):
        session.add(
            Lesson(org_id=member.branch_id, title=f"第{number}课", category=LessonCategory.SKILLS)
        )
    session.commit()
    replies = [reply_text(sms(twilio, member.phone, f"XX {n}")) for n in (1, 2, 3)]
    assert "用完" in replies[-1]
    assert count(session, CallbackRequest) == 2


def test_sms_callbacks_read_the_same_daily_limit_as_missed_calls(
    app: Any, twilio: TwilioClient, session: Session, member: Member, redis_client: Any
) -> None:
    """CALLBACKS_PER_DAY caps `XX n` too, against the one count of the member's callbacks."""
    from models import CallbackRequest, Lesson, LessonCategory

    app.config["CALLBACKS_PER_DAY"] = 1
    for number in range(2):
        session.add(
            Lesson(org_id=member.branch_id, title=f"第{number}课", category=LessonCategory.SKILLS)
        )
    session.commit()
    replies = [reply_text(sms(twilio, member.phone, f"XX {n}")) for n in (1, 2)]
    assert "用完" not in replies[0] and "用完" in replies[1]
    assert count(session, CallbackRequest) == 1
