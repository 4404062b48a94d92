"""The voice webhooks: the hotline menu, its steps, outbound calls, call status and missed calls.

Each handler parses Twilio's form, finds the call by CallSid, runs one pure step from
`ivr_flows`, carries out the step's effects through `models`, commits once and answers TwiML.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from flask import Blueprint, Flask, Response, current_app, request, url_for
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse

import ivr_flows
from gateway.twiml import twilio_signed, twiml
from infra.clients import provider
from infra.db import get_session
from infra.providers import CallReceipt
from ivr_flows.engine import (
    AnswerSurvey,
    CallContext,
    CreditListen,
    Effect,
    HeardTip,
    Input,
    LessonInfo,
    MarkForRetry,
    OpenHelp,
    PassSurveyQuestion,
    Recorded,
    RecordReport,
    Resume,
    SaveDeed,
    StoreRecording,
    SurveyInfo,
    SurveyItem,
    TextTip,
    TipInfo,
    goodbye,
)
from ivr_flows.keyed import receipt_effects
from ivr_flows.state import CallState
from models import (
    Call,
    CallStatus,
    Channel,
    Lesson,
    LessonCategory,
    Member,
    Recording,
    open_conversation,
    open_help_request,
    try_normalize,
    utcnow,
    voice,
)
from models.call import CALL_FINAL, CallbackReason, CallDirection, CallPurpose, RecordingKind
from models.deed import Deed, TipTopic, approved_tips, count_listen, deed_ref, record_deed
from models.fallback import notice_words
from models.help import HelpRequest, help_category_name, help_ref
from models.numbers import parse_int, to_int
from models.outbox import queue_sms
from models.question import HelpAsked, Question, Step, Topic
from models.survey import Survey, SurveyAnswer, SurveyQuestion, SurveyRecipient
from models.survey_ops import current_question, open_recipient, pass_question, record_answer

bp = Blueprint("voice", __name__, url_prefix="/voice")

# Outbound calls that ended without anyone answering are tried again later.
UNANSWERED = frozenset({CallStatus.BUSY, CallStatus.NO_ANSWER, CallStatus.FAILED})


def init_app(app: Flask) -> None:
    """Register the voice webhooks."""
    app.register_blueprint(bp)


@dataclass(frozen=True)
class VoiceHook:
    """A voice webhook's parameters that matter to us, whoever the provider is."""

    call_sid: str
    caller: str
    called: str
    digits: str | None
    recording: Recorded | None
    answered_by: str | None
    status: str | None
    duration: int | None


def parse_voice(form: Mapping[str, str]) -> VoiceHook:
    """Twilio's voice parameters as a VoiceHook (a missing CallSid is the empty string)."""
    recording_url = (form.get("RecordingUrl") or "").strip()
    recording = None
    if recording_url:
        recording = Recorded(
            url=recording_url[:512],
            sid=(form.get("RecordingSid") or "").strip()[:64] or None,
            duration=_int(form.get("RecordingDuration")),
        )
    digits = form.get("Digits")
    return VoiceHook(
        call_sid=(form.get("CallSid") or "").strip()[:64],
        caller=(form.get("From") or form.get("Caller") or "").strip()[:32],
        called=(form.get("To") or form.get("Called") or "").strip()[:32],
        digits=None if digits is None else digits.strip()[:32],
        recording=recording,
        answered_by=(form.get("AnsweredBy") or "").strip()[:24] or None,
        status=(form.get("CallStatus") or "").strip() or None,
        duration=_int(form.get("CallDuration")),
    )


def webhook_params() -> VoiceHook:
    """This request's parameters, keeping a recording's URL only if it is the provider's.

    A RecordingUrl is fetched with our credentials when the branch plays it: one that points
    anywhere else (a forged or foreign webhook) is dropped here, and the recording is kept
    without it (its sid and length), so the call goes on as the member expects.
    """
    hook = parse_voice(request.form)
    recording = hook.recording
    if recording is not None and not provider().recording_url_allowed(recording.url):
        current_app.logger.warning(
            "call %s: RecordingUrl not the provider's, not kept: %r", hook.call_sid, recording.url
        )
        hook = replace(hook, recording=replace(recording, url=""))
    return hook


@bp.post("")
@twilio_signed
def incoming() -> Response:
    """A call to the hotline: the menu for a member, a recorded introduction for anyone else."""
    hook = webhook_params()
    if not hook.call_sid:
        return _ended(None)
    session, now = get_session(), utcnow()
    call, member, _ = voice.open_inbound_call(
        session, call_sid=hook.call_sid, phone=_phone(hook.caller), at=now
    )
    if call.status in CALL_FINAL:
        return _ended(member)
    return _run(session, call, member, "menu" if member else "unknown", "start", hook, now)


@bp.post("/<flow>/<step>", endpoint="step")
@twilio_signed
def answer(flow: str, step: str) -> Response:
    """The answer to a question of the call: run that step of that flow."""
    hook = webhook_params()
    if not hook.call_sid:
        return _ended(None)
    session, now = get_session(), utcnow()
    call = voice.find_call(session, hook.call_sid)
    if call is None:
        # A call we hold no row for (its first request was lost): take it up where it is.
        call, member, _ = voice.open_inbound_call(
            session, call_sid=hook.call_sid, phone=_phone(hook.caller), at=now
        )
    else:
        member = _member(session, call)
    if call.status in CALL_FINAL:
        # Twilio posts a recording after the caller hung up on it: keep it, answer nothing.
        if hook.recording is None:
            return _ended(member)
        _run(session, call, member, flow, step, hook, now)
        return _ended(member)
    return _run(session, call, member, flow, step, hook, now)


@bp.post("/outbound")
@twilio_signed
def outbound() -> Response:
    """A call we placed was answered: hang up on a machine, else greet and play its lesson."""
    hook = webhook_params()
    session, now = get_session(), utcnow()
    call_id = request.args.get("call", type=to_int)
    call = session.get(Call, call_id) if call_id is not None else None
    if call is None and hook.call_sid:
        call = voice.find_call(session, hook.call_sid)
    if call is None or call.direction is not CallDirection.OUTBOUND:
        return _ended(None)
    if call.call_sid is None and hook.call_sid:
        call.call_sid = hook.call_sid
    member = _member(session, call)
    if call.status in CALL_FINAL:
        return _ended(member)
    voice.update_call_status(
        session, call, CallStatus.IN_PROGRESS, answered_by=hook.answered_by, at=now
    )
    state = replace(_stored_state(call), lesson=call.lesson_id, notice=notice_words(session, call))
    if call.purpose is CallPurpose.SURVEY and member is not None:
        recipient = _open_recipient(session, member)
        state = replace(state, survey=recipient.survey_id if recipient is not None else None)
    return _run(session, call, member, "outbound", "start", hook, now, state=state)


@bp.post("/status")
@twilio_signed
def call_status() -> Response:
    """Store a call's progress and duration; a call that ended keeps what it owed (a lesson
    heard), and an outbound call nobody answered is marked for retry."""
    hook = webhook_params()
    try:
        status = CallStatus(hook.status or "")
    except ValueError:
        return Response(status=204)
    session, now = get_session(), utcnow()
    call = voice.find_call(session, hook.call_sid) if hook.call_sid else None
    if call is None and hook.call_sid:
        # The callback beat the worker's own write of the sid: our URL names the call.
        call = voice.adopt_placed_call(
            session, request.args.get("call", type=to_int), hook.call_sid, _phone(hook.called)
        )
    if call is None:
        return Response(status=204)
    end_call(session, call, status, duration=hook.duration, answered_by=hook.answered_by, at=now)
    session.commit()
    return Response(status=204)


def end_call(
    session: Session,
    call: Call,
    status: CallStatus,
    *,
    duration: int | None,
    answered_by: str | None = None,
    owed: Sequence[Effect] = (),
    at: datetime,
) -> bool:
    """Move a call to the status its provider reported; when that ends it, carry out what the
    call still owes (a lesson heard, the answers of a call with no live IVR: `owed`), try an
    unanswered outbound call again later, and follow a campaign's call up. A late or repeated
    report moves nothing and carries out nothing: returns whether the call moved."""
    moved = voice.update_call_status(
        session, call, status, duration=duration, answered_by=answered_by, at=at
    )
    if moved and status in CALL_FINAL:
        member = _member(session, call)
        hangup = ivr_flows.on_hangup(_stored_state(call), at.timestamp())
        _carry_out(session, call, member, [*hangup, *owed], at)
        if call.direction is CallDirection.OUTBOUND and status in UNANSWERED:
            voice.mark_for_retry(session, call, at)
        if call.campaign_id is not None:
            from workers.campaigns import follow_up_after_commit

            follow_up_after_commit(session, call.id)
    return moved


def record_call_receipt(session: Session, receipt: CallReceipt, at: datetime) -> str:
    """A receipt of a call placed by a provider with no live IVR (`ivr_flows.keyed`): end the
    call and carry out what its key or its listening time gives, through `end_call`. Says what
    became of it: "ended", "answered" (the call had ended without an answer, and this receipt
    brings its key), "repeat" (the call had already ended) or "unknown".

    A call's answer is taken once: from the first receipt that carries an answer key, whether
    that receipt ends the call or comes after its end (a provider that pushes key presses and
    the call's status apart, in either order)."""
    call = session.get(Call, receipt.call_id) if receipt.call_id is not None else None
    if call is None and receipt.call_sid:
        call = voice.find_call(session, receipt.call_sid)
    if call is None or call.direction is not CallDirection.OUTBOUND:
        return "unknown"
    if call.call_sid is None and receipt.call_sid:
        call.call_sid = receipt.call_sid
    if receipt.error_code and call.error_code is None:
        call.error_code = receipt.error_code
    lesson = session.get(Lesson, call.lesson_id) if call.lesson_id is not None else None
    answered = receipt.status is CallStatus.COMPLETED
    owed = receipt_effects(
        call.purpose,
        lesson_id=call.lesson_id,
        keys=receipt.keys if answered else "",
        seconds=(receipt.duration or 0) if answered else 0,
        lesson_seconds=lesson.duration if lesson is not None else None,
    )
    moved = end_call(session, call, receipt.status, duration=receipt.duration, owed=owed, at=at)
    answer = [effect for effect in owed if isinstance(effect, RecordReport)]
    if moved:
        if answer:
            _note_answer(call)
        return "ended"
    if answer and call.status is CallStatus.COMPLETED and not call.state.get(ANSWER_TAKEN):
        # A key pushed apart from the call's end and after it (Tencent's key press callback):
        # the answer the end did not have is saved now, once.
        _carry_out(session, call, _member(session, call), answer, at)
        _note_answer(call)
        return "answered"
    return "repeat"


# Call.state: set once a receipt's key saved this call's report, so no later one saves another.
ANSWER_TAKEN = "answer_taken"


def _note_answer(call: Call) -> None:
    call.state = {**(call.state or {}), ANSWER_TAKEN: True}  # a new dict: the column sees it


@bp.post("/callback")
@twilio_signed
def missed_call() -> Response:
    """A ring on the callback number: rejected as busy, so the member pays nothing, and a call
    back is queued for the member's contact window (at most CALLBACKS_PER_DAY a day)."""
    hook = webhook_params()
    response = VoiceResponse()
    response.reject(reason="busy")
    if not hook.call_sid:
        return twiml(response)
    session, now = get_session(), utcnow()
    call, member, created = voice.open_inbound_call(
        session,
        call_sid=hook.call_sid,
        phone=_phone(hook.caller),
        at=now,
        purpose=CallPurpose.MISSED_CALL,
    )
    if created:
        voice.update_call_status(session, call, CallStatus.BUSY, duration=0, at=now)
        if member is not None:
            callback = voice.request_callback(
                session,
                member,
                None,
                CallbackReason.MISSED_CALL,
                now,
                per_day=current_app.config["CALLBACKS_PER_DAY"],
            )
            if callback is not None:
                from workers.callbacks import enqueue_callback

                enqueue_callback(session, callback, now)
    session.commit()
    return twiml(response)


def _run(
    session: Session,
    call: Call,
    member: Member | None,
    flow: str,
    step: str,
    hook: VoiceHook,
    now: datetime,
    state: CallState | None = None,
) -> Response:
    """Run one step from the call's stored state (or `state`), carry out its effects, store
    the new state, commit, answer its TwiML."""
    offers_resume = call.direction is CallDirection.INBOUND or call.purpose in RESUMING
    # The open survey is read where a step may ask it: the start of a call, and its own steps.
    asks_survey = flow == "survey" or step == "start"
    ctx = _context(session, member, now, resume=offers_resume, survey=asks_survey)
    given = Input(
        digits=hook.digits,
        recording=hook.recording,
        answered_by=hook.answered_by,
        at=now.timestamp(),
    )
    try:
        start = _stored_state(call) if state is None else state
        result = ivr_flows.run_step(flow, step, start, given, ctx)
        ref = _carry_out(session, call, member, result.effects, now)
        kept = result.state if ref is None else replace(result.state, help_ref=ref)
        call.state = kept.to_json()
        call.flow, call.step = result.waiting_at or (flow, step)
        session.commit()
    except (OperationalError, PoolTimeout):
        raise  # the database is down: 503, and Twilio tries the fallback URL
    except Exception:
        # Whatever broke, the caller hears how to call back rather than Twilio's error tone.
        current_app.logger.exception("voice step %s/%s failed for %s", flow, step, call.call_sid)
        session.rollback()
        return twiml(goodbye(ctx, CallState(), "goodbye_retry").twiml)
    return twiml(result.twiml)


def _stored_state(call: Call) -> CallState:
    """The IVR state the call row holds (what cannot be read is left at its default)."""
    return CallState.from_json(call.state)


def _carry_out(
    session: Session, call: Call, member: Member | None, effects: Sequence[Effect], now: datetime
) -> str | None:
    """Carry out a step's effects through the domain operations; returns the reference of the
    help request opened, if one was, which the call's later steps read out."""
    ref: str | None = None
    for effect in effects:
        if isinstance(effect, StoreRecording):
            voice.store_recording(
                session,
                call=call,
                member=member,
                kind=effect.kind,
                url=effect.recording.url,
                recording_sid=effect.recording.sid,
                duration=effect.recording.duration,
                attach=effect.attach,
                at=now,
            )
        elif isinstance(effect, MarkForRetry):
            voice.mark_for_retry(session, call, now)
        elif member is None:
            continue  # the other effects are about a member
        elif isinstance(effect, RecordReport):
            voice.save_call_report(
                session,
                member,
                studied=effect.studied,
                same_city=effect.same_city,
                same_employer=effect.same_employer,
                amend=effect.amend,
                at=now,
            )
        elif isinstance(effect, OpenHelp):
            request = open_help_request(
                session,
                member,
                category=effect.category,
                text="",
                channel=Channel.IVR,
                at=now,
            )
            ref = help_ref(request)
            _confirm_help(session, member, request, now)
        elif isinstance(effect, SaveDeed):
            _save_deed(session, call, member, effect, now)
        elif isinstance(effect, HeardTip):
            count_listen(session, effect.tip_id)
        elif isinstance(effect, TextTip):
            _text_tip(session, member, effect.tip_id, now)
        elif isinstance(effect, AnswerSurvey):
            _answer_survey(session, call, member, effect, now)
        elif isinstance(effect, PassSurveyQuestion):
            _pass_survey_question(session, member, effect, now)
        elif isinstance(effect, CreditListen):
            voice.record_listen(
                session,
                member,
                lesson_id=effect.lesson_number,
                seconds=effect.seconds,
                completed=effect.completed,
                call=call,
                at=now,
                position=effect.position,
            )
    return ref


def _confirm_help(session: Session, member: Member, request: HelpRequest, now: datetime) -> None:
    """Text the caller the request's reference, as an SMS request is answered (sent once the
    call's step commits; essential, as it answers the member's own request). As after an SMS
    request, texts without a keyword in the next days join the request."""
    from workers.sending import enqueue_send

    open_conversation(
        session,
        member.id,
        Question(Topic.HELP, Step.DETAILS, HelpAsked(request.id)),
        now=now,
        ttl_hours=current_app.config["CONVERSATION_TTL_HOURS"],
    )

    message = queue_sms(
        session,
        template_key="help_done",
        params={
            "category": help_category_name(request.category, member.language.value),
            "ref": help_ref(request),
        },
        member=member,
        essential=True,
        at=now,
    )
    enqueue_send(session, [message.id])


def _save_deed(
    session: Session, call: Call, member: Member, effect: SaveDeed, now: datetime
) -> None:
    """Keep the spoken deed as a recording, and the deed with it for the branch to confirm."""
    recording = voice.store_recording(
        session,
        call=call,
        member=member,
        kind=RecordingKind.DEED,
        url=effect.recording.url,
        recording_sid=effect.recording.sid,
        duration=effect.recording.duration,
        attach=None,
        at=now,
    )
    seen = session.scalar(select(Deed.id).where(Deed.recording_id == recording.id))
    if seen is not None:
        return  # the same recording posted again
    record_deed(
        session,
        member=member,
        item=effect.item,
        text="",
        channel=Channel.IVR,
        at=now,
        recording_id=recording.id,
        recording_seconds=recording.duration,
        topic=effect.topic,
    )


def _open_recipient(session: Session, member: Member) -> SurveyRecipient | None:
    return open_recipient(session, member.id)


def _survey_info(session: Session, member: Member) -> SurveyInfo | None:
    """The member's oldest unfinished open survey as a call asks it, in their language."""
    recipient = _open_recipient(session, member)
    if recipient is None:
        return None
    survey = session.get(Survey, recipient.survey_id)
    if survey is None:
        return None
    english = member.language.value == "en"
    items = tuple(
        SurveyItem(
            id=question.id,
            position=index,
            kind=question.kind.value,
            text=(question.text_en if english and question.text_en else question.text),
            choices=tuple(
                (choice.get("en") if english and choice.get("en") else choice.get("zh")) or ""
                for choice in question.choices or []
            ),
        )
        for index, question in enumerate(survey.questions)
    )
    title = survey.title_en if english and survey.title_en else survey.title
    return SurveyInfo(survey.id, title, items, recipient.position)


def _survey_recipient(
    session: Session, member: Member, survey_id: int, question_id: int
) -> tuple[SurveyRecipient, SurveyQuestion] | None:
    """The member's place in a survey and the question, if the answer is still wanted."""
    question = session.get(SurveyQuestion, question_id)
    recipient = session.scalar(
        select(SurveyRecipient).where(
            SurveyRecipient.survey_id == survey_id, SurveyRecipient.member_id == member.id
        )
    )
    if question is None or recipient is None or question.survey_id != survey_id:
        return None
    answered = session.scalar(
        select(SurveyAnswer.id).where(
            SurveyAnswer.question_id == question_id, SurveyAnswer.member_id == member.id
        )
    )
    if answered is not None:
        return None  # answered meanwhile by SMS, or the same request posted again
    return recipient, question


def _answer_survey(
    session: Session, call: Call, member: Member, effect: AnswerSurvey, now: datetime
) -> None:
    """Keep a survey answer given on a call; a spoken one is a recording of kind survey."""
    found = _survey_recipient(session, member, effect.survey_id, effect.question_id)
    if found is None:
        return
    recipient, question = found
    recording_id = None
    if effect.recording is not None:
        recording_id = voice.store_recording(
            session,
            call=call,
            member=member,
            kind=RecordingKind.SURVEY,
            url=effect.recording.url,
            recording_sid=effect.recording.sid,
            duration=effect.recording.duration,
            attach=None,
            at=now,
        ).id
    record_answer(
        session,
        recipient,
        question,
        channel=Channel.IVR,
        now=now,
        choice=effect.choice,
        number=effect.number,
        recording_id=recording_id,
    )


def _pass_survey_question(
    session: Session, member: Member, effect: PassSurveyQuestion, now: datetime
) -> None:
    """Move the member past a question missed twice on a call (if they are still at it)."""
    found = _survey_recipient(session, member, effect.survey_id, effect.question_id)
    if found is None:
        return
    recipient, question = found
    asked = current_question(session, recipient)
    if asked is not None and asked.id == question.id:
        pass_question(session, recipient, now)


TIP_TEXT_CHARS = 30  # what of a tip fits one segment, and one variable of a mainland template


def _text_tip(session: Session, member: Member, tip_id: int, now: datetime) -> None:
    """Text the caller a tip from the board, with its reference (sent once the step commits)."""
    from workers.sending import enqueue_send

    tip = session.get(Deed, tip_id)
    if tip is None:
        return
    text = tip.text or ("(语音)" if member.language.value == "zh_CN" else "(spoken)")
    if len(text) > TIP_TEXT_CHARS:
        text = text[: TIP_TEXT_CHARS - 1] + "…"
    message = queue_sms(
        session,
        template_key="tip_text",
        params={"ref": deed_ref(tip.id), "tip": text},
        member=member,
        at=now,
    )
    enqueue_send(session, [message.id])


@dataclass(frozen=True)
class _Tips:
    """The approved tips of the caller's township, read from the database as a step asks."""

    session: Session
    member: Member

    def newest(self, topic: TipTopic, limit: int) -> Sequence[TipInfo]:
        """The newest approved tips of a topic."""
        township = voice.township_for(self.session, self.member)
        return [
            TipInfo(
                id=tip.id,
                text=tip.text,
                audio_url=self._audio(tip.recording_id),
            )
            for tip in approved_tips(self.session, township.id, topic, limit)
        ]

    def _audio(self, recording_id: int | None) -> str | None:
        if recording_id is None:
            return None
        recording = self.session.get(Recording, recording_id)
        return recording.url if recording is not None and recording.url else None


@dataclass(frozen=True)
class _Catalog:
    """The lessons a member may hear, read from the database as a step asks for them."""

    session: Session
    member: Member | None

    def newest(self, category: LessonCategory, limit: int) -> Sequence[LessonInfo]:
        """The newest lessons of a category for the member."""
        lessons = voice.newest_lessons(self.session, self.member, category, limit)
        return [_lesson_info(lesson) for lesson in lessons]

    def find(self, number: int) -> LessonInfo | None:
        """The lesson with this number."""
        lesson = voice.find_lesson(self.session, number)
        return None if lesson is None else _lesson_info(lesson)


# Calls that begin with the menu, where "press 1 to continue the lesson" is offered first (not
# a reminder call, which asks for the report, nor a lesson call, which plays its own lesson).
RESUMING = frozenset({CallPurpose.MENU, CallPurpose.CALLBACK, CallPurpose.MISSED_CALL})


def _context(
    session: Session,
    member: Member | None,
    now: datetime,
    *,
    resume: bool = False,
    survey: bool = False,
) -> CallContext:
    if member is None:
        return CallContext(link=_link)
    unfinished = voice.unfinished_lesson(session, member, now) if resume else None
    return CallContext(
        known=True,
        language=member.language.value,
        name=member.name,
        city=member.city,
        employer=member.employer,
        recordings=voice.prompt_recordings(session, member),
        receipt=voice.report_receipt(session, member, now),
        lessons=_Catalog(session, member),
        tips=_Tips(session, member),
        link=_link,
        resume=Resume(_lesson_info(unfinished[0]), unfinished[1]) if unfinished else None,
        survey=_survey_info(session, member) if survey else None,
    )


def _link(flow: str, step: str) -> str:
    return url_for("voice.step", flow=flow, step=step)


def _lesson_info(lesson: Lesson) -> LessonInfo:
    return LessonInfo(
        number=lesson.id,
        title=lesson.title,
        category=lesson.category,
        audio_url=lesson_audio_url(lesson.audio_path),
        transcript=lesson.transcript or "",
        duration=lesson.duration,
    )


def lesson_audio_url(audio_path: str | None) -> str | None:
    """The URL Twilio plays a lesson's audio from: as stored when absolute, else under /media/."""
    if not audio_path:
        return None
    if audio_path.startswith(("http://", "https://")):
        return audio_path
    return f"{current_app.config['PUBLIC_BASE_URL']}/media/{audio_path.lstrip('/')}"


def _ended(member: Member | None) -> Response:
    """A request for a call that is over (or has no CallSid): goodbye."""
    language = member.language.value if member is not None else "zh_CN"
    ended = goodbye(CallContext(language=language, link=_link), CallState(), "call_ended")
    return twiml(ended.twiml)


def _member(session: Session, call: Call) -> Member | None:
    return session.get(Member, call.member_id) if call.member_id is not None else None


def _phone(raw: str) -> str:
    return try_normalize(raw, current_app.config["DEFAULT_REGION"]) or raw


def _int(value: str | None) -> int | None:
    return parse_int(value)


__all__ = [
    "VoiceHook",
    "bp",
    "init_app",
    "lesson_audio_url",
    "parse_voice",
]
