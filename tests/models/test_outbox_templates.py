"""queue_sms under a template provider: parameters checked before the row is queued, the
body as the provider renders it, and a row that cannot be sent failed with its reason."""

from __future__ import annotations

from sqlalchemy.orm import Session

from models import MessageStatus
from models.outbox import queue_sms
from models.sms_templates import ALIYUN, TENCENT, TemplateRules
from tests.factories import make_member

NOTE_WITHOUT_BREAK = (
    "已联系用工单位财务部门并约定本周五前将拖欠的三个月工资全部结清到您的账户"  # 36
)


def test_a_value_that_cannot_be_sent_fails_the_row_with_its_reason(session: Session) -> None:
    """A resolution note of 36 characters with no break fails on Alibaba: the row is failed,
    named by its error code, and nothing is truncated or queued."""
    member = make_member(session)
    message = queue_sms(
        session,
        template_key="help_resolved",
        params={"ref": "QZ12", "note": NOTE_WITHOUT_BREAK},
        member=member,
        essential=True,
        rules=TemplateRules.for_provider(ALIYUN),
    )
    assert message.status is MessageStatus.FAILED
    assert message.error_code == "template:no_break:help_resolved.note>35"
    assert message.status_at is not None
    assert NOTE_WITHOUT_BREAK in message.body  # the row keeps the whole text it would have said
    assert message.params == {"ref": "QZ12", "note": NOTE_WITHOUT_BREAK}


def test_a_long_notice_is_queued_as_the_provider_will_send_it(session: Session) -> None:
    """Cut over two slots, the row holds the provider's text, counted with the signature."""
    member = make_member(session)
    text = "本月25日前请回复HB汇报,春节回村请到村委会参加学习。在外有困难可随时发短信QZ加情况反映"
    message = queue_sms(
        session,
        template_key="broadcast",
        params={"text": text},
        member=member,
        rules=TemplateRules.for_provider(ALIYUN),
    )
    assert message.status is MessageStatus.QUEUED
    assert message.error_code is None
    assert message.body == (
        "村支部通知:本月25日前请回复HB汇报,春节回村请到村委会参加学习"
        ",另外在外有困难可随时发短信QZ加情况反映"
    )
    # 【青山镇】 + 57 characters = 62: one message.
    assert message.segments == 1
    assert message.params == {"text": text}  # our parameters: the provider's are made at sending


def test_the_signature_can_make_a_second_message(session: Session) -> None:
    """A notice of 66 characters is one Twilio segment but two with 【青山镇】村支部通知:."""
    member = make_member(session)
    text = "请" * 66
    plain = queue_sms(session, template_key="broadcast", params={"text": text}, member=member)
    signed = queue_sms(
        session,
        template_key="broadcast",
        params={"text": text},
        member=member,
        rules=TemplateRules.for_provider(TENCENT),
    )
    assert (plain.segments, signed.segments) == (1, 2)


def test_without_template_rules_nothing_changes(session: Session) -> None:
    """twilio and the sandbox send the rendered text: the same note is queued whole."""
    member = make_member(session)
    message = queue_sms(
        session,
        template_key="help_resolved",
        params={"ref": "QZ12", "note": NOTE_WITHOUT_BREAK},
        member=member,
        essential=True,
    )
    assert message.status is MessageStatus.QUEUED
    assert message.body == f"您的求助QZ12已办结:{NOTE_WITHOUT_BREAK}"
    assert message.error_code is None


def test_an_opted_out_member_is_skipped_before_the_template_is_judged(session: Session) -> None:
    """A row that would not be sent anyway stays skipped, not failed."""
    member = make_member(session)
    member.opted_out_at = member.created_at
    session.flush()
    message = queue_sms(
        session,
        template_key="broadcast",
        params={"text": "通" * 36},
        member=member,
        rules=TemplateRules.for_provider(ALIYUN),
    )
    assert message.status is MessageStatus.SKIPPED
    assert message.error_code is None
