"""What a call remembers between its steps, as typed values, and the one conversion of it to
and from the JSON the call row stores (`Call.state`).

Steps never change a state: they return a new one made with `dataclasses.replace`, so a
misspelt field is an error mypy reports, not a key silently written beside the right one.

Reading is forgiving, as a call must go on whatever the row holds (a row written by an older
release, or edited by hand): unknown keys are ignored, and a missing key or a value of the
wrong type gives that field's default. The JSON keeps the keys the untyped state had, so a
call in progress across a deployment carries on.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from models.deed import TipTopic
from models.help import HelpCategory


class AfterLesson(enum.StrEnum):
    """Where a call goes once its lesson is over: the categories again, or goodbye (a lesson
    call we placed)."""

    CATEGORIES = "categories"
    GOODBYE = "goodbye"


@dataclass(frozen=True, slots=True)
class ReportAnswers:
    """The monthly report's answers given on this call (None: not asked yet); `saved` once one
    of them has been saved, so the next one amends this call's revision."""

    studied: bool | None = None
    same_city: bool | None = None
    same_employer: bool | None = None
    saved: bool = False


@dataclass(frozen=True, slots=True)
class Playing:
    """The lesson playing: its number, when it started (epoch seconds; None: unknown, so no
    seconds are credited), its length in seconds (the most a listen is credited), and the
    second of the lesson it started from (a lesson resumed where the last call stopped)."""

    number: int
    started: float | None = None
    duration: int | None = None
    offset: int = 0


@dataclass(frozen=True, slots=True)
class CallState:
    """Everything a call's later steps need to know, grouped by the flow that writes it."""

    # Every question: how many times it was missed (no key, a wrong key, no recording).
    tries: int = 0
    # report: the answers given so far.
    report: ReportAnswers = ReportAnswers()
    # help: the category chosen, and the reference of the request it opened (the voice
    # handler learns it when it opens the request).
    help: HelpCategory | None = None
    help_ref: str | None = None
    # lessons: the lessons read out by position, the one playing, those the # key skips to
    # next, and where the call goes after the last one.
    listed: tuple[int, ...] = ()
    playing: Playing | None = None
    queue: tuple[int, ...] = ()
    after: AfterLesson = AfterLesson.CATEGORIES
    # outbound: the lesson of a call we placed (the voice handler sets it), or the words of
    # a notice whose text did not reach the member (models.fallback).
    lesson: int | None = None
    # deed: the item of 五个一 chosen, and a tip's topic.
    deed_item: int | None = None
    topic: TipTopic | None = None
    # tips: the tips of the topic read out, newest first, and the one playing (its index).
    tips: tuple[int, ...] = ()
    tip_at: int | None = None
    notice: str | None = None
    # survey: the survey a call we placed asks (the voice handler sets it), and the id of the
    # question asked (its answer is for that one, even if the other channel moved on).
    survey: int | None = None
    survey_question: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The state as the call row stores it; fields at their defaults are left out."""
        data: dict[str, Any] = {"tries": self.tries}
        if self.report != ReportAnswers():
            answers = {
                "studied": self.report.studied,
                "same_city": self.report.same_city,
                "same_employer": self.report.same_employer,
            }
            data["report"] = {
                **{key: value for key, value in answers.items() if value is not None},
                "saved": self.report.saved,
            }
        if self.help is not None:
            data["help"] = self.help.value
        if self.help_ref is not None:
            data["help_ref"] = self.help_ref
        if self.listed:
            data["list"] = list(self.listed)
        if self.playing is not None:
            data["playing"] = {
                "number": self.playing.number,
                "started": self.playing.started,
                "duration": self.playing.duration,
            }
            if self.playing.offset:
                data["playing"]["offset"] = self.playing.offset
        if self.queue:
            data["queue"] = list(self.queue)
        if self.after is not AfterLesson.CATEGORIES:
            data["after"] = self.after.value
        if self.lesson is not None:
            data["lesson"] = self.lesson
        if self.deed_item is not None:
            data["deed_item"] = self.deed_item
        if self.topic is not None:
            data["topic"] = self.topic.value
        if self.tips:
            data["tips"] = list(self.tips)
        if self.tip_at is not None:
            data["tip_at"] = self.tip_at
        if self.notice is not None:
            data["notice"] = self.notice
        if self.survey is not None:
            data["survey"] = self.survey
        if self.survey_question is not None:
            data["survey_question"] = self.survey_question
        return data

    @classmethod
    def from_json(cls, data: object) -> CallState:
        """The state a call row holds; never raises: what cannot be read is the default."""
        if not isinstance(data, Mapping):
            return cls()
        return cls(
            tries=_count(data.get("tries")),
            report=_report(data.get("report")),
            help=_one_of(HelpCategory, data.get("help")),
            help_ref=_text(data.get("help_ref")),
            listed=_numbers(data.get("list")),
            playing=_playing(data.get("playing")),
            queue=_numbers(data.get("queue")),
            after=_one_of(AfterLesson, data.get("after")) or AfterLesson.CATEGORIES,
            lesson=_int(data.get("lesson")),
            deed_item=_int(data.get("deed_item")),
            topic=_one_of(TipTopic, data.get("topic")),
            tips=_numbers(data.get("tips")),
            tip_at=_int(data.get("tip_at")),
            notice=_text(data.get("notice")),
            survey=_int(data.get("survey")),
            survey_question=_int(data.get("survey_question")),
        )


# Readers of one stored value each: the value when it has the right type, else None (or empty).

E = TypeVar("E", bound=enum.Enum)


def _int(value: object) -> int | None:
    # bool is an int to Python, not to us.
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _count(value: object) -> int:
    number = _int(value)
    return number if number is not None and number >= 0 else 0


def _bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _one_of(kind: type[E], value: object) -> E | None:
    try:
        return kind(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _numbers(value: object) -> tuple[int, ...]:
    # All or nothing: a list read by position must not have its items shifted.
    if not isinstance(value, list | tuple) or any(_int(item) is None for item in value):
        return ()
    return tuple(value)


def _report(value: object) -> ReportAnswers:
    if not isinstance(value, Mapping):
        return ReportAnswers()
    return ReportAnswers(
        studied=_bool(value.get("studied")),
        same_city=_bool(value.get("same_city")),
        same_employer=_bool(value.get("same_employer")),
        saved=_bool(value.get("saved")) or False,
    )


def _playing(value: object) -> Playing | None:
    if not isinstance(value, Mapping):
        return None
    number = _int(value.get("number"))
    if number is None:
        return None
    duration = _int(value.get("duration"))
    offset = _int(value.get("offset"))
    return Playing(
        number,
        _seconds(value.get("started")),
        duration if duration and duration > 0 else None,
        offset if offset and offset > 0 else 0,
    )


__all__ = ["AfterLesson", "CallState", "Playing", "ReportAnswers"]
