"""The receipt of a call placed by a provider with no live IVR ends the call through the same
rules as Twilio's status callback: the report by key, the lesson credit, the retry."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.voice import record_call_receipt
from infra.providers import CallReceipt
from models import (
    Call,
    CallStatus,
    Channel,
    Lesson,
    LessonCategory,
    LessonListen,
    Member,
    Report,
    utcnow,
    voice,
)
from models.call import CallbackReason, CallbackRequest, CallbackStatus, CallPurpose
from tests.factories import make_member, make_tree


def _member_and_lesson(session: Session) -> tuple[Member, Lesson]:
    township, branch, _ = make_tree(session)
    member = make_member(session, branch, name="张伟")
    lesson = Lesson(
        org_id=township.id,
        title="劳动合同法要点",
        category=LessonCategory.POLICY,
        transcript="",
        duration=300,
    )
    session.add(lesson)
    session.commit()
    return member, lesson


def _reminder(session: Session, member: Member) -> Call:
    call = voice.queue_outbound_call(session, member, purpose=CallPurpose.REMINDER, at=utcnow())
    call.status = CallStatus.INITIATED
    call.call_sid = "sid-reminder"
    session.commit()
    return call


def test_a_key_in_the_receipt_saves_the_report_by_phone_once(session: Session) -> None:
    member, _ = _member_and_lesson(session)
    call = _reminder(session, member)
    receipt = CallReceipt(call.id, "sid-reminder", CallStatus.COMPLETED, 18, keys="1")

    assert record_call_receipt(session, receipt, utcnow()) == "ended"
    session.commit()
    assert record_call_receipt(session, receipt, utcnow()) == "repeat"
    changed = CallReceipt(call.id, "sid-reminder", CallStatus.COMPLETED, 18, keys="2")
    assert record_call_receipt(session, changed, utcnow()) == "repeat"
    session.commit()

    reports = session.scalars(select(Report).where(Report.member_id == member.id)).all()
    assert [(r.studied, r.channel, r.revision) for r in reports] == [(True, Channel.IVR, 1)]
    stored = session.get(Call, call.id)
    assert stored is not None
    assert (stored.status, stored.duration) == (CallStatus.COMPLETED, 18)


def test_a_receipt_found_by_the_providers_id_alone(session: Session) -> None:
    member, _ = _member_and_lesson(session)
    call = _reminder(session, member)
    receipt = CallReceipt(None, "sid-reminder", CallStatus.COMPLETED, 5, keys="2")
    assert record_call_receipt(session, receipt, utcnow()) == "ended"
    session.commit()
    report = session.scalar(select(Report).where(Report.member_id == member.id))
    assert report is not None and report.studied is False
    assert session.get(Call, call.id).status is CallStatus.COMPLETED  # type: ignore[union-attr]
    unknown = CallReceipt(None, "sid-nobody", CallStatus.COMPLETED, 5, keys="1")
    assert record_call_receipt(session, unknown, utcnow()) == "unknown"


def test_keys_of_an_unanswered_call_count_for_nothing_and_it_is_tried_again(
    session: Session,
) -> None:
    member, _ = _member_and_lesson(session)
    call = _reminder(session, member)
    receipt = CallReceipt(call.id, None, CallStatus.NO_ANSWER, 0, keys="1", error_code="200010")
    assert record_call_receipt(session, receipt, utcnow()) == "ended"
    session.commit()
    stored = session.get(Call, call.id)
    assert stored is not None
    assert (stored.status, stored.error_code) == (CallStatus.NO_ANSWER, "200010")
    assert stored.next_attempt_at is not None
    assert session.scalar(select(Report).where(Report.member_id == member.id)) is None


def test_a_lesson_call_credits_the_listening_time_of_the_receipt(session: Session) -> None:
    member, lesson = _member_and_lesson(session)
    callback = voice.request_callback(
        session, member, lesson.id, CallbackReason.LESSON, utcnow(), per_day=10
    )
    assert callback is not None
    callback.status = CallbackStatus.PLACED
    call = voice.start_callback_call(session, callback, member, utcnow())
    call.status = CallStatus.INITIATED
    session.commit()

    receipt = CallReceipt(call.id, "sid-lesson", CallStatus.COMPLETED, 300)
    assert record_call_receipt(session, receipt, utcnow()) == "ended"
    session.commit()
    listens = session.scalars(select(LessonListen)).all()
    assert [(x.lesson_id, x.seconds, x.completed, x.call_id) for x in listens] == [
        (lesson.id, 300, True, call.id)
    ]
    assert session.get(CallbackRequest, callback.id).status is not CallbackStatus.PENDING  # type: ignore[union-attr]


def test_a_key_that_comes_after_the_end_saves_the_answer_once(session: Session) -> None:
    """A provider that pushes the key apart from the call's end, and later: the answer the
    end did not have is saved by the next receipt that brings it, and only once."""
    member, _ = _member_and_lesson(session)
    call = _reminder(session, member)
    ended = CallReceipt(call.id, "sid-reminder", CallStatus.COMPLETED, 12)
    assert record_call_receipt(session, ended, utcnow()) == "ended"
    session.commit()
    assert session.scalar(select(Report).where(Report.member_id == member.id)) is None

    late = CallReceipt(call.id, "sid-reminder", CallStatus.COMPLETED, 12, keys="2")
    assert record_call_receipt(session, late, utcnow()) == "answered"
    session.commit()
    assert record_call_receipt(session, late, utcnow()) == "repeat"
    other = CallReceipt(call.id, "sid-reminder", CallStatus.COMPLETED, 12, keys="21")
    assert record_call_receipt(session, other, utcnow()) == "repeat"
    session.commit()
    reports = session.scalars(select(Report).where(Report.member_id == member.id)).all()
    assert [(r.studied, r.channel, r.revision) for r in reports] == [(False, Channel.IVR, 1)]


def test_keys_after_an_unanswered_end_save_nothing(session: Session) -> None:
    member, _ = _member_and_lesson(session)
    call = _reminder(session, member)
    missed = CallReceipt(call.id, "sid-reminder", CallStatus.NO_ANSWER, 0)
    assert record_call_receipt(session, missed, utcnow()) == "ended"
    late = CallReceipt(call.id, "sid-reminder", CallStatus.COMPLETED, 0, keys="1")
    assert record_call_receipt(session, late, utcnow()) == "repeat"
    session.commit()
    assert session.scalar(select(Report).where(Report.member_id == member.id)) is None
