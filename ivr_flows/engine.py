"""What every flow shares: a step's input, context, result and effects, and the TwiML helpers
that ask a question, ask it again with the reason, and say goodbye.

A step is a pure function `(state, input, context) -> StepResult`: it reads nothing but its
arguments and changes nothing (the state is a frozen `CallState`, see `ivr_flows.state`); the
effects it returns are carried out by the voice handler.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from twilio.twiml.voice_response import Gather, VoiceResponse

from ivr_flows import prompts
from ivr_flows.prompts import PromptValue
from ivr_flows.state import CallState
from models.call import RecordingKind
from models.deed import TipTopic
from models.help import HelpCategory
from models.lesson import LessonCategory

SAY_LANGUAGE = {"zh_CN": "cmn-CN", "en": "en-US"}
# A question is asked again at most this many times (no key, or a wrong one), then goodbye.
MAX_RETRIES = 2
KEY_TIMEOUT = 6  # seconds to wait for a key
NUMBER_TIMEOUT = 8  # seconds to wait for a number ended by #, or for "press 1 when finished"
RECORD_SILENCE = 5  # seconds of silence that end a recording
MAIN_MENU = ("menu", "choose")


# Input and context


@dataclass(frozen=True)
class Recorded:
    """A recording Twilio made for a <Record>: where it is, its sid and its length."""

    url: str
    sid: str | None = None
    duration: int | None = None


@dataclass(frozen=True)
class Input:
    """What a request brought: keys pressed (None: none), a recording, who answered, and when."""

    digits: str | None = None
    recording: Recorded | None = None
    answered_by: str | None = None
    at: float = 0.0  # epoch seconds

    @property
    def key(self) -> str:
        """The keys pressed, or "" when none were."""
        return self.digits or ""


@dataclass(frozen=True)
class LessonInfo:
    """A lesson as a call plays it: its number, title, and audio or text."""

    number: int
    title: str
    category: LessonCategory
    audio_url: str | None = None
    transcript: str = ""
    duration: int | None = None


class LessonCatalog(Protocol):
    """The lessons a caller may hear, read while a step runs (never written)."""

    def newest(self, category: LessonCategory, limit: int) -> Sequence[LessonInfo]:
        """The newest lessons of a category, newest first."""
        ...

    def find(self, number: int) -> LessonInfo | None:
        """The lesson with this number."""
        ...


@dataclass(frozen=True)
class Shelf:
    """A LessonCatalog over a fixed tuple of lessons, newest first."""

    lessons: tuple[LessonInfo, ...] = ()

    def newest(self, category: LessonCategory, limit: int) -> Sequence[LessonInfo]:
        """The first `limit` lessons of the category."""
        return [lesson for lesson in self.lessons if lesson.category == category][:limit]

    def find(self, number: int) -> LessonInfo | None:
        """The lesson with this number."""
        return next((lesson for lesson in self.lessons if lesson.number == number), None)


@dataclass(frozen=True)
class TipInfo:
    """An approved tip as the board plays it: its id, its text, and its recording if spoken."""

    id: int
    text: str
    audio_url: str | None = None


class TipCatalog(Protocol):
    """The approved tips a caller may hear, read while a step runs (never written)."""

    def newest(self, topic: TipTopic, limit: int) -> Sequence[TipInfo]:
        """The newest approved tips of a topic, newest first."""
        ...


@dataclass(frozen=True)
class TipShelf:
    """A TipCatalog over fixed tips per topic, newest first."""

    tips: Mapping[TipTopic, tuple[TipInfo, ...]] = field(default_factory=dict)

    def newest(self, topic: TipTopic, limit: int) -> Sequence[TipInfo]:
        """The first `limit` tips of the topic."""
        return list(self.tips.get(topic, ()))[:limit]


def default_link(flow: str, step: str) -> str:
    """The action URL of a step."""
    return f"/voice/{flow}/{step}"


@dataclass(frozen=True)
class CallContext:
    """What a step may know about the caller, read-only: who, in which language, which
    recordings replace prompts, this month's receipt, the lessons, and how to link a step."""

    known: bool = False
    language: str = prompts.DEFAULT_LANGUAGE
    name: str | None = None
    city: str | None = None
    employer: str | None = None
    recordings: Mapping[str, str] = field(default_factory=dict)
    receipt: str | None = None
    lessons: LessonCatalog = field(default_factory=Shelf)
    tips: TipCatalog = field(default_factory=TipShelf)
    link: Callable[[str, str], str] = default_link
    # The lesson the caller stopped in on an earlier call, and the second they stopped at.
    resume: Resume | None = None
    # The member's open survey, read where a step may ask it (None: none, or not read).
    survey: SurveyInfo | None = None


@dataclass(frozen=True)
class Resume:
    """A lesson left unfinished: "press 1 to continue where you stopped"."""

    lesson: LessonInfo
    position: int


@dataclass(frozen=True)
class SurveyItem:
    """A survey question as a call asks it: its id, place, kind, words and options (in the
    member's language)."""

    id: int
    position: int
    kind: str  # models.survey.QuestionKind's value
    text: str
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class SurveyInfo:
    """The member's open survey: its id and title, every question, and where they are."""

    id: int
    title: str
    questions: tuple[SurveyItem, ...]
    position: int  # the next question to ask

    def at(self, position: int) -> SurveyItem | None:
        """The question at a place, None past the last."""
        return self.questions[position] if 0 <= position < len(self.questions) else None

    def find(self, question_id: int | None) -> SurveyItem | None:
        """The question with this id."""
        return next((q for q in self.questions if q.id == question_id), None)


# Effects: the domain operations a step asks for


@dataclass(frozen=True)
class RecordReport:
    """Save the monthly report answers given so far; `amend` completes this call's revision."""

    studied: bool | None
    same_city: bool | None
    same_employer: bool | None
    amend: bool


@dataclass(frozen=True)
class StoreRecording:
    """Keep a recording for the branch, attached to this call's "report" or "help" request."""

    kind: RecordingKind
    recording: Recorded
    attach: str | None = None


@dataclass(frozen=True)
class OpenHelp:
    """Open a help request in a category (the recording of the details follows)."""

    category: HelpCategory


@dataclass(frozen=True)
class CreditListen:
    """Credit the member with listening to a lesson for some seconds."""

    lesson_number: int
    seconds: int
    completed: bool
    # The second of the lesson the listen ended at (None: not known).
    position: int | None = None


@dataclass(frozen=True)
class MarkForRetry:
    """An outbound call reached a machine: hang up and try again later."""

    reason: str


@dataclass(frozen=True)
class SaveDeed:
    """Keep a spoken deed (a tip under its topic when the item is 1) for the branch."""

    item: int
    topic: TipTopic | None
    recording: Recorded


@dataclass(frozen=True)
class HeardTip:
    """A tip on the board was played to the caller: one more listen."""

    tip_id: int


@dataclass(frozen=True)
class TextTip:
    """Text the caller the tip just played, with its reference."""

    tip_id: int


@dataclass(frozen=True)
class AnswerSurvey:
    """Keep the member's answer to a survey question: a digit, a number or a recording."""

    survey_id: int
    question_id: int
    choice: int | None = None
    number: int | None = None
    recording: Recorded | None = None


@dataclass(frozen=True)
class PassSurveyQuestion:
    """Move the member past a survey question they did not answer (a wrong key twice)."""

    survey_id: int
    question_id: int


Effect = (
    RecordReport
    | StoreRecording
    | OpenHelp
    | CreditListen
    | MarkForRetry
    | SaveDeed
    | HeardTip
    | TextTip
    | AnswerSurvey
    | PassSurveyQuestion
)


@dataclass
class StepResult:
    """A step's answer: the TwiML, the new call state, the effects, and where the call waits."""

    twiml: VoiceResponse
    state: CallState
    effects: list[Effect] = field(default_factory=list)
    waiting_at: tuple[str, str] | None = None  # the (flow, step) of the next request; None: ended


Step = Callable[[CallState, Input, CallContext], StepResult]


# What a caller hears


@dataclass(frozen=True)
class Prompt:
    """A prompt from the table, with its parameters."""

    key: str
    params: Mapping[str, PromptValue] = field(default_factory=dict)


@dataclass(frozen=True)
class Audio:
    """An audio file to play (a lesson)."""

    url: str


@dataclass(frozen=True)
class Speech:
    """Text to speak that is not a prompt (a lesson's transcript)."""

    text: str


Sound = Prompt | Audio | Speech


def prompt(key: str, **params: PromptValue) -> Prompt:
    """A prompt from the table."""
    return Prompt(key, params)


def say_language(ctx: CallContext) -> str:
    """The <Say> language for the caller: Mandarin, or US English for English-language members."""
    return SAY_LANGUAGE.get(ctx.language, SAY_LANGUAGE[prompts.DEFAULT_LANGUAGE])


def speak(node: VoiceResponse | Gather, ctx: CallContext, sound: Sound) -> None:
    """Add a sound: an uploaded recording of the prompt where there is one, else speech."""
    if isinstance(sound, Audio):
        node.play(sound.url)
        return
    if isinstance(sound, Speech):
        node.say(sound.text, language=say_language(ctx))
        return
    recording = None if sound.params else ctx.recordings.get(sound.key)
    if recording:
        node.play(recording)
    else:
        node.say(prompts.text(sound.key, ctx.language, **sound.params), language=say_language(ctx))


@dataclass(frozen=True)
class Question:
    """A question answered by keys: a fixed number of them, or any number ended by #."""

    flow: str
    step: str
    sounds: tuple[Sound, ...]
    digits: int | None = 1
    timeout: int = KEY_TIMEOUT


@dataclass(frozen=True)
class RecordQuestion:
    """A question answered by speaking after the tone, ended by # or silence."""

    flow: str
    step: str
    sounds: tuple[Sound, ...]
    max_length: int


def ask(
    ctx: CallContext,
    state: CallState,
    question: Question | RecordQuestion,
    *,
    reason: str | None = None,
    tries: int = 0,
    before: Sequence[Sound] = (),
    effects: Sequence[Effect] = (),
) -> StepResult:
    """Ask a question; no answer comes back to the same step without digits or a recording."""
    response = VoiceResponse()
    action = ctx.link(question.flow, question.step)
    sounds = [*([prompt(reason)] if reason else []), *before, *question.sounds]
    if isinstance(question, Question):
        if question.digits is None:
            options: dict[str, Any] = {"finish_on_key": "#"}
        else:
            # Every key is an answer here (* repeats, # skips), so none of them ends the input.
            options = {"num_digits": question.digits, "finish_on_key": ""}
        gather = response.gather(action=action, method="POST", timeout=question.timeout, **options)
        for sound in sounds:
            speak(gather, ctx, sound)
    else:
        for sound in sounds:
            speak(response, ctx, sound)
        response.record(
            action=action,
            method="POST",
            max_length=question.max_length,
            timeout=RECORD_SILENCE,
            finish_on_key="#",
            play_beep=True,
        )
    # Twilio goes on to the next verb after a Gather with no keys or a Record with no sound.
    response.redirect(action, method="POST")
    return StepResult(
        response, replace(state, tries=tries), list(effects), (question.flow, question.step)
    )


def retry(
    ctx: CallContext,
    state: CallState,
    given: Input,
    question: Question | RecordQuestion,
    *,
    reason: str | None = None,
) -> StepResult:
    """Ask again with the reason, at most MAX_RETRIES times, then say how to call back."""
    tries = state.tries + 1
    if tries > MAX_RETRIES:
        return goodbye(ctx, state, "goodbye_retry")
    if reason is None:
        if isinstance(question, RecordQuestion):
            reason = "no_recording"
        else:
            reason = "wrong_key" if given.key else "no_input"
    return ask(ctx, state, question, reason=reason, tries=tries)


def goodbye(
    ctx: CallContext,
    state: CallState,
    key: str = "goodbye",
    *,
    effects: Sequence[Effect] = (),
    **params: PromptValue,
) -> StepResult:
    """Say a last prompt and hang up."""
    response = VoiceResponse()
    speak(response, ctx, Prompt(key, params))
    response.hangup()
    return StepResult(response, replace(state, tries=0), list(effects), None)


def keep_recording(
    ctx: CallContext,
    state: CallState,
    given: Input,
    question: RecordQuestion,
    kind: RecordingKind,
    *,
    attach: str | None = None,
    then: Question | RecordQuestion | None = None,
    done: str = "goodbye",
) -> StepResult:
    """Ask the question again when no recording came; else keep the recording, then ask the
    next question, or say the `done` goodbye when there is none."""
    if given.recording is None:
        return retry(ctx, state, given, question)
    effect = StoreRecording(kind, given.recording, attach=attach)
    if then is not None:
        return ask(ctx, state, then, effects=[effect])
    return goodbye(ctx, state, done, effects=[effect])


def main_menu_question(ctx: CallContext, *, greet: bool = False) -> Question:
    """The main menu, greeting a known caller by name when asked to."""
    greeting: tuple[Sound, ...] = (prompt("greeting", name=ctx.name),) if greet and ctx.name else ()
    return Question(*MAIN_MENU, (*greeting, prompt("main_menu")))


def main_menu(
    ctx: CallContext,
    state: CallState,
    *,
    greet: bool = False,
    before: Sequence[Sound] = (),
    effects: Sequence[Effect] = (),
) -> StepResult:
    """Back to the main menu."""
    return ask(ctx, state, main_menu_question(ctx, greet=greet), before=before, effects=effects)


def spell(code: str | None) -> str:
    """A receipt spaced out so speech reads it letter by letter."""
    return " ".join(code or "")


__all__ = [
    "MAX_RETRIES",
    "AnswerSurvey",
    "Audio",
    "CallContext",
    "CallState",
    "CreditListen",
    "Effect",
    "HeardTip",
    "Input",
    "LessonCatalog",
    "LessonInfo",
    "MarkForRetry",
    "OpenHelp",
    "PassSurveyQuestion",
    "Prompt",
    "Question",
    "RecordQuestion",
    "RecordReport",
    "Recorded",
    "Resume",
    "SaveDeed",
    "Shelf",
    "Speech",
    "Step",
    "StepResult",
    "StoreRecording",
    "SurveyInfo",
    "SurveyItem",
    "TextTip",
    "TipCatalog",
    "TipInfo",
    "TipShelf",
    "ask",
    "default_link",
    "goodbye",
    "keep_recording",
    "main_menu",
    "prompt",
    "retry",
    "speak",
    "spell",
]
