"""Lessons by phone: a category, its newest lessons by number (or any lesson's number dialled
directly), the lesson played, and "press 1 when you have finished" credits the listen."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ivr_flows.engine import (
    MAX_RETRIES,
    NUMBER_TIMEOUT,
    Audio,
    CallContext,
    CreditListen,
    Effect,
    Input,
    LessonInfo,
    Question,
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
from models.lesson import LessonCategory
from models.numbers import parse_int

NAME = "lessons"
CATEGORY_BY_DIGIT = {str(i): category for i, category in enumerate(LessonCategory, start=1)}
DIAL_NUMBER = "9"
LIST_SIZE = 5  # newest lessons read out per category: a list longer than this is not remembered
# What happens after a lesson: back to the categories, or goodbye (an outbound lesson call).
AFTER_CATEGORIES = "categories"
AFTER_GOODBYE = "goodbye"


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


def start(state: dict[str, Any], given: Input, ctx: CallContext) -> StepResult:
    """Offer the five categories, 9 to dial a lesson number, * for the main menu."""
    return ask(ctx, _stopped(state), _categories())


def category(state: dict[str, Any], given: Input, ctx: CallContext) -> StepResult:
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
    state["list"] = [lesson.number for lesson in items]
    return ask(ctx, state, _pick(items))


def pick(state: dict[str, Any], given: Input, ctx: CallContext) -> StepResult:
    """Play the lesson at the position pressed; * goes back to the categories."""
    items = _listed(state, ctx)
    if given.key == "*" or not items:
        return start(state, given, ctx)
    if given.key.isdigit() and 1 <= int(given.key) <= len(items):
        index = int(given.key) - 1
        rest = [lesson.number for lesson in items[index + 1 :]]
        return play(ctx, state, items[index], given.at, queue=rest, after=AFTER_CATEGORIES)
    return retry(ctx, state, given, _pick(items))


def number(state: dict[str, Any], given: Input, ctx: CallContext) -> StepResult:
    """Play the lesson whose number was dialled (ended by #)."""
    dialled = given.key.strip("#*")
    wanted = parse_int(dialled)
    lesson = ctx.lessons.find(wanted) if wanted is not None else None
    if lesson is None:
        return retry(ctx, state, given, _number(), reason="lesson_unknown" if dialled else None)
    return play(ctx, state, lesson, given.at, queue=[], after=AFTER_CATEGORIES)


def play(
    ctx: CallContext,
    state: dict[str, Any],
    lesson: LessonInfo,
    at: float,
    *,
    queue: list[int],
    after: str,
    before: Sequence[Sound] = (),
    effects: Sequence[Effect] = (),
) -> StepResult:
    """Play a lesson inside a one-key Gather: 1 when finished, # to skip."""
    state["playing"] = {"number": lesson.number, "started": at, "duration": lesson.duration}
    state["queue"] = queue
    state["after"] = after
    content: Sound = (
        Audio(lesson.audio_url) if lesson.audio_url else Speech(lesson.transcript or lesson.title)
    )
    sounds = (
        *before,
        prompt("lesson_intro", number=lesson.number, title=lesson.title),
        content,
        prompt("lesson_after"),
    )
    question = Question(NAME, "played", sounds, timeout=NUMBER_TIMEOUT)
    return ask(ctx, state, question, effects=effects)


def played(state: dict[str, Any], given: Input, ctx: CallContext) -> StepResult:
    """1 credits the lesson as finished; # skips to the next one; no key asks again."""
    if not state.get("playing"):
        return start(state, given, ctx)
    after = state.get("after", AFTER_CATEGORIES)
    if given.key == "1":
        credit = _credit(state, given.at, completed=True)
        if after == AFTER_GOODBYE:
            return goodbye(ctx, state, "lesson_goodbye", effects=[credit])
        return ask(ctx, state, _categories(), before=(prompt("lesson_credited"),), effects=[credit])
    if given.key == "#":
        credit = _credit(state, given.at, completed=False)
        queue = list(state.get("queue") or [])
        while queue:
            following = ctx.lessons.find(queue.pop(0))
            if following is not None:
                return play(
                    ctx, state, following, given.at, queue=queue, after=after, effects=[credit]
                )
        if after == AFTER_GOODBYE:
            return goodbye(ctx, state, "goodbye", effects=[credit])
        return ask(ctx, state, _categories(), effects=[credit])
    if int(state.get("tries", 0)) >= MAX_RETRIES:
        # The member may have listened to the end without pressing: keep the seconds.
        credit = _credit(state, given.at, completed=False)
        return goodbye(ctx, state, "goodbye_retry", effects=[credit])
    return retry(ctx, state, given, _after())


def on_hangup(state: dict[str, Any], at: float) -> list[Effect]:
    """A call that ended while a lesson played still credits the seconds heard."""
    if not state.get("playing"):
        return []
    return [_credit(dict(state), at, completed=False)]


def _credit(state: dict[str, Any], at: float, *, completed: bool) -> CreditListen:
    """The credit for the lesson playing; the state no longer has a lesson playing."""
    playing = state.pop("playing")
    started = playing.get("started")
    seconds = max(0, int(at - (at if started is None else float(started))))
    duration = playing.get("duration")
    if duration:
        seconds = min(seconds, int(duration))
    return CreditListen(int(playing["number"]), seconds, completed)


def _stopped(state: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in state.items() if key not in ("playing", "queue")}


def _listed(state: dict[str, Any], ctx: CallContext) -> list[LessonInfo]:
    found = (ctx.lessons.find(int(number)) for number in state.get("list") or [])
    return [lesson for lesson in found if lesson is not None]


STEPS: Mapping[str, Step] = {
    "start": start,
    "category": category,
    "pick": pick,
    "number": number,
    "played": played,
}
