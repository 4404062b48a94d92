"""Lessons by phone: a category, its newest lessons by number (or any lesson's number dialled
directly), the lesson played, and "press 1 when you have finished" credits the listen."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from ivr_flows.engine import (
    MAX_RETRIES,
    NUMBER_TIMEOUT,
    Audio,
    CallContext,
    CallState,
    CreditListen,
    Effect,
    Input,
    LessonInfo,
    Question,
    Resume,
    Sound,
    Speech,
    Step,
    StepResult,
    ask,
    goodbye,
    main_menu,
    prompt,
    retry,
)
from ivr_flows.state import AfterLesson, Playing
from models.lesson import LessonCategory
from models.numbers import parse_int

NAME = "lessons"
CATEGORY_BY_DIGIT = {str(i): category for i, category in enumerate(LessonCategory, start=1)}
DIAL_NUMBER = "9"
LIST_SIZE = 5  # newest lessons read out per category: a list longer than this is not remembered


def _categories() -> Question:
    return Question(NAME, "category", (prompt("lesson_categories"),))


def _pick(items: Sequence[LessonInfo]) -> Question:
    listing = tuple(
        prompt("lesson_item", position=position, number=lesson.number, title=lesson.title)
        for position, lesson in enumerate(items, start=1)
    )
    return Question(NAME, "pick", (*listing, prompt("lesson_pick")))


def _number() -> Question:
    return Question(NAME, "number", (prompt("lesson_number"),), digits=None, timeout=NUMBER_TIMEOUT)


def _after() -> Question:
    return Question(NAME, "played", (prompt("lesson_after"),), timeout=NUMBER_TIMEOUT)


def start(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """Offer the five categories, 9 to dial a lesson number, * for the main menu."""
    return ask(ctx, _stopped(state), _categories())


def category(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """Read out the newest lessons of the chosen category, or ask for a lesson number."""
    if given.key == "*":
        return main_menu(ctx, state)
    if given.key == DIAL_NUMBER:
        return ask(ctx, state, _number())
    chosen = CATEGORY_BY_DIGIT.get(given.key)
    if chosen is None:
        return retry(ctx, state, given, _categories())
    items = list(ctx.lessons.newest(chosen, LIST_SIZE))
    if not items:
        return ask(ctx, state, _categories(), before=(prompt("lessons_none"),))
    listed = tuple(lesson.number for lesson in items)
    return ask(ctx, replace(state, listed=listed), _pick(items))


def pick(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """Play the lesson at the position pressed; * goes back to the categories."""
    items = _listed(state, ctx)
    if given.key == "*" or not items:
        return start(state, given, ctx)
    if given.key.isdigit() and 1 <= int(given.key) <= len(items):
        index = int(given.key) - 1
        rest = tuple(lesson.number for lesson in items[index + 1 :])
        return play(ctx, state, items[index], given.at, queue=rest, after=AfterLesson.CATEGORIES)
    return retry(ctx, state, given, _pick(items))


def number(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """Play the lesson whose number was dialled (ended by #)."""
    dialled = given.key.strip("#*")
    wanted = parse_int(dialled)
    lesson = ctx.lessons.find(wanted) if wanted is not None else None
    if lesson is None:
        return retry(ctx, state, given, _number(), reason="lesson_unknown" if dialled else None)
    return play(ctx, state, lesson, given.at, queue=(), after=AfterLesson.CATEGORIES)


def play(
    ctx: CallContext,
    state: CallState,
    lesson: LessonInfo,
    at: float,
    *,
    queue: Sequence[int],
    after: AfterLesson,
    before: Sequence[Sound] = (),
    effects: Sequence[Effect] = (),
    offset: int = 0,
) -> StepResult:
    """Play a lesson inside a one-key Gather: 1 when finished, # to skip; from its `offset`
    second when it resumes an earlier call's listen."""
    offset = max(0, min(offset, (lesson.duration or 1) - 1)) if lesson.duration else 0
    state = replace(
        state,
        playing=Playing(lesson.number, at, lesson.duration, offset),
        queue=tuple(queue),
        after=after,
    )
    intro = "lesson_continue" if offset else "lesson_intro"
    sounds = (
        *before,
        prompt(intro, number=lesson.number, title=lesson.title),
        _content(lesson, offset),
        prompt("lesson_after"),
    )
    question = Question(NAME, "played", sounds, timeout=NUMBER_TIMEOUT)
    return ask(ctx, state, question, effects=effects)


def from_second(url: str, offset: int) -> str:
    """The address of a lesson's audio from a second on (gateway.media cuts the file)."""
    if not offset:
        return url
    return f"{url}{'&' if '?' in url else '?'}from={offset}"


# Where a spoken lesson may start again: after the end of a sentence or a line.
_SENTENCE_ENDS = "。！？；!?;\n"


def _content(lesson: LessonInfo, offset: int) -> Sound:
    """The lesson's audio, or its text spoken, from `offset` seconds in (the text from the
    start of the sentence at the same share of its length)."""
    if lesson.audio_url:
        return Audio(from_second(lesson.audio_url, offset))
    words = lesson.transcript or lesson.title
    if offset and lesson.duration and lesson.transcript:
        cut = min(len(words) * offset // lesson.duration, len(words) - 1)
        start = max(words.rfind(end, 0, cut) for end in _SENTENCE_ENDS) + 1
        words = words[start:].lstrip() or words
    return Speech(words)


def _resume_question(resume: Resume, before: Sequence[Sound] = ()) -> Question:
    return Question(NAME, "resume", (*before, prompt("lesson_resume", title=resume.lesson.title)))


def offer_resume(
    ctx: CallContext, state: CallState, before: Sequence[Sound] = ()
) -> StepResult | None:
    """On a call that begins with the menu, a caller who stopped in a lesson is first asked
    whether to continue it (None: nothing to continue)."""
    if ctx.resume is None:
        return None
    return ask(ctx, state, _resume_question(ctx.resume, before))


def resume(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """1 continues the unfinished lesson from the second the last listen ended; any other key
    or none goes to the main menu."""
    if given.key == "1" and ctx.resume is not None:
        lesson, position = ctx.resume.lesson, ctx.resume.position
        return play(
            ctx, state, lesson, given.at, queue=(), after=AfterLesson.CATEGORIES, offset=position
        )
    return main_menu(ctx, replace(state, tries=0))


def played(state: CallState, given: Input, ctx: CallContext) -> StepResult:
    """1 credits the lesson as finished; # skips to the next one; no key asks again."""
    playing = state.playing
    if playing is None:
        return start(state, given, ctx)
    after = state.after
    if given.key == "1":
        credit = _credit(playing, given.at, completed=True)
        state = replace(state, playing=None)
        if after is AfterLesson.GOODBYE:
            return goodbye(ctx, state, "lesson_goodbye", effects=[credit])
        return ask(ctx, state, _categories(), before=(prompt("lesson_credited"),), effects=[credit])
    if given.key == "#":
        credit = _credit(playing, given.at, completed=False)
        state = replace(state, playing=None)
        queue = list(state.queue)
        while queue:
            following = ctx.lessons.find(queue.pop(0))
            if following is not None:
                return play(
                    ctx, state, following, given.at, queue=queue, after=after, effects=[credit]
                )
        if after is AfterLesson.GOODBYE:
            return goodbye(ctx, state, "goodbye", effects=[credit])
        return ask(ctx, state, _categories(), effects=[credit])
    if state.tries >= MAX_RETRIES:
        # The member may have listened to the end without pressing: keep the seconds.
        credit = _credit(playing, given.at, completed=False)
        return goodbye(ctx, replace(state, playing=None), "goodbye_retry", effects=[credit])
    return retry(ctx, state, given, _after())


def on_hangup(state: CallState, at: float) -> list[Effect]:
    """A call that ended while a lesson played still credits the seconds heard."""
    if state.playing is None:
        return []
    return [_credit(state.playing, at, completed=False)]


def _credit(playing: Playing, at: float, *, completed: bool) -> CreditListen:
    """The credit for a lesson heard from where it started (its beginning, or the second a
    resumed listen began at) until `at`, at most what was left of it; and where it ended.
    A resumed listen that reaches the end completes the lesson."""
    started = at if playing.started is None else playing.started
    seconds = max(0, int(at - started))
    if playing.duration:
        seconds = min(seconds, playing.duration - playing.offset)
    position = playing.offset + seconds
    if playing.duration and position >= playing.duration:
        completed = True
    return CreditListen(playing.number, seconds, completed, position)


def _stopped(state: CallState) -> CallState:
    return replace(state, playing=None, queue=())


def _listed(state: CallState, ctx: CallContext) -> list[LessonInfo]:
    found = (ctx.lessons.find(number) for number in state.listed)
    return [lesson for lesson in found if lesson is not None]


STEPS: Mapping[str, Step] = {
    "start": start,
    "category": category,
    "pick": pick,
    "number": number,
    "played": played,
    "resume": resume,
}
