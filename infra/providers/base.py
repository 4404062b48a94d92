"""What the app asks of an SMS and voice provider, in the domain's own words.

A provider module (Twilio's today) turns these requests into its own API calls, builds its own
callback addresses from the row ids it is given, and turns its own error codes and statuses
into the few outcomes the domain acts on (models.delivery.Failure, models.message's statuses). Nothing outside a provider module knows a provider's
codes, URLs or credentials.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from models.call import CallPurpose, CallStatus
from models.delivery import TRANSIENT_FAILURES, Failure, Receipt
from models.lesson import LessonPlayback
from models.message import ERROR_CODE_LENGTH, MessageStatus


@dataclass(frozen=True)
class OutboundSms:
    """One outbox row as the provider needs it.

    A free-text provider sends `body`; a template provider sends `template` with `params`.
    `message_id` is our row's id: the provider puts it in its callback address (or its own
    field for it) so a receipt that arrives before the sid is stored still finds the row.
    """

    message_id: int
    to: str
    body: str
    template: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OutboundCall:
    """A call to place: our Call row's id (for the provider's callbacks), the number, and what
    the call is for. A provider with a live IVR (Twilio) runs our flows from its callbacks and
    needs no more; a provider that plays an approved prompt or file picks it by `purpose`
    (and `lesson_id` for a lesson)."""

    call_id: int
    to: str
    machine_detection: bool = True
    purpose: CallPurpose = CallPurpose.MENU
    lesson_id: int | None = None
    # The lesson's audio as the provider approved it (Alibaba's voiceCode); None: no approved
    # file, and a provider that plays only files refuses the lesson call.
    voice_code: str | None = None


@dataclass(frozen=True)
class CallReceipt:
    """The end of a call placed by a provider that runs no live IVR, as it reports it: our
    Call id when it echoes it (None: find the call by `call_sid`), how the call ended, the
    seconds the member was on the line, and the keys pressed, in order."""

    call_id: int | None
    call_sid: str | None
    status: CallStatus  # completed, busy, no-answer or failed
    duration: int | None
    keys: str = ""
    error_code: str | None = None


@dataclass(frozen=True)
class SentMessage:
    """A message as the provider knows it: accepted by a send, or found by a lookup."""

    sid: str
    to: str
    body: str
    delivery: MessageStatus | None  # sent, delivered, undelivered, failed; None: not yet
    date_created: datetime | None
    error_code: str | None = None
    failure: Failure | None = None
    # Our row id, when the provider keeps it (Alibaba's OutId): a lookup then finds the row
    # by it instead of by the text, which a template provider renders its own way.
    message_id: int | None = None
    # A message sent in a batch under one id for all (Alibaba's SendBatchSms OutId): the ids
    # of the batch's rows; the row among them with this number is this message.
    batch_ids: frozenset[int] = frozenset()


@dataclass(frozen=True)
class PushedText:
    """A member's text that a mainland provider pushed to us (its reply callback), read alike
    whoever pushed it."""

    provider: str
    phone: str  # E.164
    text: str
    sent_at: datetime | None  # UTC; None when the provider's time could not be read
    key: str  # the provider's identity for it: a repeat of the same text has the same key


@dataclass(frozen=True)
class ResolvedTemplate:
    """An approved template as a template provider takes it: its code, the signature (None:
    the account's own), and the parameters (by name for Alibaba, by position for Tencent)."""

    code: str
    sign_name: str | None
    params: Mapping[str, str] | Sequence[str]


class TemplateUnavailable(Exception):
    """No approved template can carry this row (unknown key, not approved, a value that does
    not fit); `code` is kept on the row (Message.error_code) as the reason it failed."""

    def __init__(self, message: str, code: str = "template.unavailable") -> None:
        super().__init__(message)
        self.code = code


class TemplateBook(Protocol):
    """Where a row's template key and parameters become a provider's approved template."""

    def resolve(self, provider: str, key: str, params: Mapping[str, Any]) -> ResolvedTemplate:
        """The template to send; TemplateUnavailable, with the reason, when there is none."""
        ...


def resolve_each(
    messages: Sequence[OutboundSms], one: Callable[[OutboundSms], ResolvedTemplate]
) -> list[ResolvedTemplate | ProviderError]:
    """Each row's template by the provider's own `one` (which raises its ProviderError for a
    row no template carries); rows with the same template and parameters (a notice's) are
    resolved once."""
    seen: dict[tuple[str, tuple[tuple[str, Any], ...]], ResolvedTemplate | ProviderError] = {}
    answers: list[ResolvedTemplate | ProviderError] = []
    last: tuple[str | None, dict[str, Any] | None, Any] = (None, None, None)
    for sms in messages:
        # A notice's rows share one parameters object: the row before's answer is this one's.
        if sms.params is last[1] and sms.template == last[0]:
            answers.append(last[2])
            continue
        key = (sms.template or "", tuple(sorted(sms.params.items())))
        try:
            hash(key)
        except TypeError:  # a value that cannot be a key (a list): resolved on its own
            answers.append(_resolve_one(sms, one))
            continue
        if key not in seen:
            seen[key] = _resolve_one(sms, one)
        answers.append(seen[key])
        last = (sms.template, sms.params, seen[key])
    return answers


def _resolve_one(
    sms: OutboundSms, one: Callable[[OutboundSms], ResolvedTemplate]
) -> ResolvedTemplate | ProviderError:
    try:
        return one(sms)
    except ProviderError as exc:
        return exc


# The app setting a template book may be passed in under (tests); else the registry's.
TEMPLATE_BOOK_KEY = "SMS_TEMPLATE_BOOK"


@dataclass(frozen=True)
class RecordingAudio:
    """A recording's audio as fetched from the provider."""

    content: bytes
    mimetype: str


def failure_of_status(status: int | None) -> Failure:
    """What an HTTP status says when the provider's own code says nothing we know: 429 slow
    down, a server fault try later, anything else a refusal (every provider alike)."""
    if status == 429:
        return Failure.RATE_LIMITED
    if status is not None and status >= 500:
        return Failure.RETRY_LATER
    return Failure.REFUSED


class ProviderError(Exception):
    """The provider refused a request or could not be reached, with the domain's reading."""

    def __init__(
        self,
        message: str,
        *,
        failure: Failure = Failure.REFUSED,
        status: int | None = None,
        code: str | None = None,
        connection_error: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.failure = failure
        self.status = status
        self.code = code[:ERROR_CODE_LENGTH] if code else None
        # The request may have reached the provider before the connection broke.
        self.connection_error = connection_error

    @property
    def rate_limited(self) -> bool:
        """True when the provider asked us to slow down."""
        return self.failure is Failure.RATE_LIMITED

    @property
    def transient(self) -> bool:
        """True when the same request may succeed later (rate limit, provider fault, network)."""
        return self.failure in TRANSIENT_FAILURES

    def __str__(self) -> str:
        details = [f"HTTP {self.status}"] if self.status is not None else []
        if self.code is not None:
            details.append(f"code {self.code}")
        details.append(self.failure.value)
        return f"{self.message} ({', '.join(details)})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments would be lost by the default pickling RQ uses for exceptions.
        return (self.__class__, (self.message,), self.__dict__)


class RecordingRefused(ProviderError):
    """A recording URL, or a redirect it answered with, that we will not fetch."""


class RedirectRefused(RecordingRefused):
    """The provider's own URL redirected somewhere we do not follow (say where in the log)."""


class Provider(Protocol):
    """What the app needs from an SMS and voice provider.

    `lookup_lag`: how long after accepting a message the provider's lookup (`list_messages`)
    may still not list it. Reconciliation waits that long before it decides a row never
    reached the provider and sends it again.
    """

    lookup_lag: timedelta
    # Which lessons its calls can play (models.lesson.Lesson.unplayable).
    lesson_playback: LessonPlayback

    def send_sms(self, sms: OutboundSms) -> SentMessage:
        """Hand one SMS to the provider; return it as accepted."""
        ...

    def place_call(self, call: OutboundCall) -> str:
        """Start an outbound call for our Call row; return the provider's call id."""
        ...

    def list_messages(self, to: str, sent_after: datetime) -> list[SentMessage]:
        """Messages sent to `to` at or after `sent_after`, as the provider has them."""
        ...

    def recording_url_allowed(self, url: str) -> bool:
        """Whether a recording URL a webhook brought is one of this provider's recordings."""
        ...

    def fetch_recording(self, url: str) -> RecordingAudio:
        """A recording's audio; RecordingRefused for a URL not allowed, ProviderError else."""
        ...


@dataclass(frozen=True)
class VoiceFileReview:
    """Where the provider's review of an uploaded audio file stands: approved True or False
    once decided (None: still in review), with the provider's reason for a refusal."""

    approved: bool | None
    note: str | None = None


@runtime_checkable
class VoiceFiles(Protocol):
    """A provider whose calls play only audio files it approved (Alibaba Cloud voice): a
    lesson is uploaded once and reviewed before a lesson call may play it."""

    def upload_voice_file(self, filename: str, content: bytes) -> str:
        """Upload one audio file; return the provider's code for it (then in review)."""
        ...

    def voice_file_reviews(self, codes: Sequence[str]) -> dict[str, VoiceFileReview]:
        """The review of each file by code (codes the provider does not know are left out)."""
        ...


@runtime_checkable
class BatchSender(Protocol):
    """A provider that can hand several rows over in one request (Alibaba's SendBatchSms).

    Optional: the outbox sends one row per `send_sms` to a provider without it.
    """

    max_batch: int  # rows the outbox may hand over in one call

    def send_batch(self, messages: Sequence[OutboundSms]) -> list[SentMessage | ProviderError]:
        """Hand these rows over, as few requests as the provider allows; one answer per row,
        in order: the message as accepted, or why it was not."""
        ...


__all__ = [
    "TEMPLATE_BOOK_KEY",
    "TRANSIENT_FAILURES",
    "BatchSender",
    "Failure",
    "OutboundCall",
    "OutboundSms",
    "Provider",
    "ProviderError",
    "PushedText",
    "Receipt",
    "RecordingAudio",
    "RecordingRefused",
    "RedirectRefused",
    "ResolvedTemplate",
    "SentMessage",
    "TemplateBook",
    "TemplateUnavailable",
    "VoiceFileReview",
    "VoiceFiles",
    "failure_of_status",
    "resolve_each",
]
