"""POST /status: Twilio's SMS status callbacks move a message forward, never back."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.orm import Session

from models import Member, Message, MessageStatus
from models.outbox import queue_sms
from tests.factories import make_member
from tests.support import TwilioClient


def _sent(session: Session, member: Member, sid: str | None = None) -> Message:
    message = queue_sms(session, template_key="broadcast", params={"text": "通知"}, member=member)
    message.status = MessageStatus.SENT
    message.provider_sid = sid or "SM" + uuid.uuid4().hex
    session.commit()
    return message


def _callback(
    twilio: TwilioClient,
    message: Message,
    status: str,
    *,
    path: str = "/status",
    sign: bool = True,
    **extra: str,
) -> int:
    params = {
        "MessageSid": message.provider_sid or "SM" + uuid.uuid4().hex,
        "MessageStatus": status,
        "To": message.phone,
        "From": "+8610690000",
        "AccountSid": "AC" + "0" * 32,
        **extra,
    }
    return twilio.post(path, params, sign=sign).status_code


def _status(session: Session, message: Message) -> tuple[MessageStatus, int | None]:
    session.expire_all()
    row = session.get(Message, message.id)
    assert row is not None
    return row.status, row.error_code


def test_a_forged_callback_is_refused_and_changes_nothing(
    session: Session, twilio: TwilioClient
) -> None:
    """Without Twilio's signature: 403, the status stays."""
    message = _sent(session, make_member(session))
    assert _callback(twilio, message, "delivered", sign=False) == 403
    assert _status(session, message) == (MessageStatus.SENT, None)


def test_delivered_moves_a_sent_message_forward(session: Session, twilio: TwilioClient) -> None:
    """A signed 'delivered' for our sid marks the row delivered."""
    message = _sent(session, make_member(session))
    assert _callback(twilio, message, "delivered") == 204
    assert _status(session, message) == (MessageStatus.DELIVERED, None)


@pytest.mark.parametrize(
    ("order", "final"),
    [
        (["sent", "delivered"], MessageStatus.DELIVERED),
        (["delivered", "sent"], MessageStatus.DELIVERED),
        (["delivered", "delivered", "sent", "queued"], MessageStatus.DELIVERED),
        (["undelivered", "sent", "delivered"], MessageStatus.UNDELIVERED),
        (["failed", "delivered"], MessageStatus.FAILED),
    ],
)
def test_out_of_order_or_repeated_callbacks_never_move_back(
    session: Session, twilio: TwilioClient, order: list[str], final: MessageStatus
) -> None:
    """However the callbacks arrive, the status only ever moves forward."""
    message = _sent(session, make_member(session))
    for status in order:
        assert _callback(twilio, message, status) == 204
    assert _status(session, message)[0] is final


def test_an_unknown_sid_changes_nothing(session: Session, twilio: TwilioClient) -> None:
    """A callback for a sid we never stored is answered and ignored."""
    message = _sent(session, make_member(session))
    stranger = Message(phone=message.phone, provider_sid="SM" + "f" * 32)
    assert _callback(twilio, stranger, "delivered") == 204
    assert _status(session, message) == (MessageStatus.SENT, None)


def test_error_code_is_stored_with_the_failure(session: Session, twilio: TwilioClient) -> None:
    """An undelivered callback keeps Twilio's ErrorCode on the row."""
    message = _sent(session, make_member(session))
    assert _callback(twilio, message, "undelivered", ErrorCode="30003") == 204
    assert _status(session, message) == (MessageStatus.UNDELIVERED, "30003")


def test_21610_opts_the_member_out(session: Session, twilio: TwilioClient) -> None:
    """The carrier says the member unsubscribed: nothing more is sent to them."""
    member = make_member(session)
    message = _sent(session, member)
    assert _callback(twilio, message, "failed", ErrorCode="21610") == 204
    session.expire_all()
    assert session.get(Member, member.id).opted_out_at is not None  # type: ignore[union-attr]


@pytest.mark.parametrize("code", ["21211", "21614"])
def test_invalid_number_codes_mark_the_phone_invalid(
    session: Session, twilio: TwilioClient, code: str
) -> None:
    """21211 / 21614: the member's number is marked invalid, the member stays subscribed."""
    member = make_member(session)
    message = _sent(session, member)
    assert _callback(twilio, message, "failed", ErrorCode=code) == 204
    session.expire_all()
    reloaded = session.get(Member, member.id)
    assert reloaded is not None
    assert reloaded.phone_invalid_at is not None and reloaded.opted_out_at is None


def test_a_callback_that_beats_the_worker_finds_its_row_by_id(
    session: Session, twilio: TwilioClient
) -> None:
    """The row id in our StatusCallback URL finds a row whose sid is not stored yet."""
    member = make_member(session)
    message = queue_sms(session, template_key="broadcast", params={"text": "通知"}, member=member)
    message.status = MessageStatus.SENDING
    session.commit()
    sid = "SM" + uuid.uuid4().hex
    carrier = Message(phone=message.phone, provider_sid=sid)
    assert _callback(twilio, carrier, "delivered", path=f"/status?id={message.id}") == 204
    session.expire_all()
    row = session.get(Message, message.id)
    assert row is not None
    assert (row.status, row.provider_sid) == (MessageStatus.DELIVERED, sid)


def test_a_row_id_for_another_number_is_not_adopted(session: Session, twilio: TwilioClient) -> None:
    """The id in the URL is only trusted for the number the row was sent to."""
    member = make_member(session)
    message = queue_sms(session, template_key="broadcast", params={"text": "通知"}, member=member)
    message.status = MessageStatus.SENDING
    session.commit()
    other = Message(phone="+8613900000000", provider_sid="SM" + uuid.uuid4().hex)
    assert _callback(twilio, other, "delivered", path=f"/status?id={message.id}") == 204
    assert _status(session, message) == (MessageStatus.SENDING, None)


HUGE = "99999999999999999999"


@pytest.mark.parametrize("row_id", [HUGE, "2147483648", "²", "-1"])
def test_a_row_id_that_is_no_id_is_ignored(
    session: Session, twilio: TwilioClient, row_id: str
) -> None:
    """A signed callback whose `?id=` is huge or no whole number: 204, nothing adopted."""
    message = _sent(session, make_member(session), sid=None)
    stranger = Message(phone=message.phone, provider_sid="SM" + uuid.uuid4().hex)
    assert _callback(twilio, stranger, "delivered", path=f"/status?id={row_id}") == 204
    assert _status(session, message) == (MessageStatus.SENT, None)


@pytest.mark.parametrize("code", [HUGE, "²"])
def test_an_error_code_that_is_no_code_still_moves_the_status(
    session: Session, twilio: TwilioClient, code: str
) -> None:
    """`ErrorCode=99999999999999999999`: the failure is stored, without a code."""
    message = _sent(session, make_member(session))
    assert _callback(twilio, message, "failed", ErrorCode=code) == 204
    assert _status(session, message) == (MessageStatus.FAILED, None)
