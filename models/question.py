"""The question a member was last asked by SMS, typed: its topic, its step and the step's data.

A question is stored in `conversations` (topic, step, data as JSON; models.message). This
module is the one place that JSON is written (`Question.stored_data`) and read back
(`read_question`). A stored question this version cannot read (an unknown topic, a step of
another topic, data of the wrong shape) counts as no open question: it is never an error.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any


class Topic(enum.StrEnum):
    """What an open question is about; it tells how to read a reply without a keyword."""

    REPORT = "report"  # the monthly report by replies (HB, or a reminder)
    STATUS = "status"  # a status update: where now? (DT)
    HELP = "help"  # a help request: which category, then more details (QZ)
    PHONE = "phone"  # a phone change: which new number? (HH)
    DEED = "deed"  # a deed for home: what was done? (GX with an item and no text)
    SURVEY = "survey"  # a survey's question (models.survey): a digit, a number or a text


class Step(enum.StrEnum):
    """Where in its topic an open question is."""

    STUDIED = "studied"  # report: studied this month? 1 / 2
    SAME = "same"  # report: still in the same city and job? 1, or the new place
    PLACE = "place"  # report or status: where now?
    CATEGORY = "category"  # help: which kind of help? 1-7
    DETAILS = "details"  # help: texts without a keyword join the open request
    NUMBER = "number"  # phone: the new number
    ANSWER = "answer"  # survey: the answer to the question asked


# The steps each topic has; any other pair is not a question.
STEPS: dict[Topic, frozenset[Step]] = {
    Topic.REPORT: frozenset({Step.STUDIED, Step.SAME, Step.PLACE}),
    Topic.STATUS: frozenset({Step.PLACE}),
    Topic.HELP: frozenset({Step.CATEGORY, Step.DETAILS}),
    Topic.PHONE: frozenset({Step.NUMBER}),
    Topic.DEED: frozenset({Step.DETAILS}),
    Topic.SURVEY: frozenset({Step.ANSWER}),
}


@dataclass(frozen=True, slots=True)
class ReportAnswers:
    """A report by replies: the answer to "studied?" once given, and the period a reminder
    asked about (kept for the branch's eyes; the report goes to the period of the reply)."""

    studied: bool | None = None
    period: str | None = None

    def stored(self) -> dict[str, Any]:
        """The JSON object kept in `conversations.data`."""
        return {
            key: value
            for key, value in (("studied", self.studied), ("period", self.period))
            if value is not None
        }

    @classmethod
    def read(cls, data: dict[str, Any]) -> ReportAnswers:
        """From the stored JSON object; TypeError when a value has the wrong type."""
        return cls(_typed(data, "studied", bool), _typed(data, "period", str))


@dataclass(frozen=True, slots=True)
class HelpAsked:
    """A help request by replies: the request that later texts join, once it is open."""

    request_id: int | None = None

    def stored(self) -> dict[str, Any]:
        """The JSON object kept in `conversations.data`."""
        return {} if self.request_id is None else {"request": self.request_id}

    @classmethod
    def read(cls, data: dict[str, Any]) -> HelpAsked:
        """From the stored JSON object; TypeError when a value has the wrong type."""
        return cls(_typed(data, "request", int))


@dataclass(frozen=True, slots=True)
class DeedAsked:
    """A deed by replies: the item of 五个一 the member gave without saying what was done."""

    item: int | None = None

    def stored(self) -> dict[str, Any]:
        """The JSON object kept in `conversations.data`."""
        return {} if self.item is None else {"item": self.item}

    @classmethod
    def read(cls, data: dict[str, Any]) -> DeedAsked:
        """From the stored JSON object; TypeError when a value has the wrong type."""
        return cls(_typed(data, "item", int))


@dataclass(frozen=True, slots=True)
class NoData:
    """A question whose step is all there is to know (status, phone)."""

    def stored(self) -> dict[str, Any]:
        """The JSON object kept in `conversations.data`."""
        return {}

    @classmethod
    def read(cls, data: dict[str, Any]) -> NoData:
        """From the stored JSON object (anything in it is ignored)."""
        return cls()


@dataclass(frozen=True, slots=True)
class SurveyAsked:
    """A survey's question asked by SMS (models.survey): which one, and how to read a reply.

    `kind` is the question's kind (choice, number, text) and `choices` its number of options,
    so a reply is read without a lookup; `last` tells whether it is the survey's last
    question, and `again` whether it was already asked again after an answer out of range.
    """

    survey_id: int = 0
    question_id: int = 0
    kind: str = "choice"
    choices: int = 0
    last: bool = False
    again: bool = False

    def stored(self) -> dict[str, Any]:
        """The JSON object kept in `conversations.data`."""
        return {
            "survey": self.survey_id,
            "question": self.question_id,
            "kind": self.kind,
            "choices": self.choices,
            "last": self.last,
            "again": self.again,
        }

    @classmethod
    def read(cls, data: dict[str, Any]) -> SurveyAsked:
        """From the stored JSON object; TypeError when a value is missing or of the wrong type."""
        survey_id, question_id = _typed(data, "survey", int), _typed(data, "question", int)
        kind = _typed(data, "kind", str)
        if survey_id is None or question_id is None or kind not in ("choice", "number", "text"):
            raise TypeError("a survey question needs its survey, question and kind")
        return cls(
            survey_id,
            question_id,
            kind,
            _typed(data, "choices", int) or 0,
            bool(_typed(data, "last", bool)),
            bool(_typed(data, "again", bool)),
        )


QuestionData = ReportAnswers | HelpAsked | DeedAsked | SurveyAsked | NoData
# The data each topic carries.
DATA: dict[
    Topic,
    type[ReportAnswers] | type[HelpAsked] | type[DeedAsked] | type[SurveyAsked] | type[NoData],
] = {
    Topic.REPORT: ReportAnswers,
    Topic.STATUS: NoData,
    Topic.HELP: HelpAsked,
    Topic.PHONE: NoData,
    Topic.DEED: DeedAsked,
    Topic.SURVEY: SurveyAsked,
}


@dataclass(frozen=True, slots=True)
class Question:
    """A question asked by SMS: a valid (topic, step) and that topic's data.

    Built with data of the wrong topic, a step the topic has not, or help details without
    their request, it raises ValueError: such a question cannot be asked.
    """

    topic: Topic
    step: Step
    data: QuestionData = field(default_factory=NoData)

    def __post_init__(self) -> None:
        if isinstance(self.data, NoData) and DATA[self.topic] is not NoData:
            object.__setattr__(self, "data", DATA[self.topic]())
        if self.step not in STEPS[self.topic]:
            raise ValueError(f"{self.topic} has no step {self.step}")
        if not isinstance(self.data, DATA[self.topic]):
            raise ValueError(f"{self.topic} takes {DATA[self.topic].__name__}, not {self.data!r}")
        help_details = self.topic is Topic.HELP and self.step is Step.DETAILS
        if help_details and getattr(self.data, "request_id", None) is None:
            raise ValueError("help details need the request they join")
        if self.topic is Topic.DEED and getattr(self.data, "item", None) is None:
            raise ValueError("a deed's details need its item")
        if self.topic is Topic.SURVEY and not getattr(self.data, "question_id", 0):
            raise ValueError("a survey's answer needs the question it answers")

    def stored_data(self) -> dict[str, Any]:
        """The data as the JSON object kept in `conversations.data`."""
        return self.data.stored()


def read_question(topic: Any, step: Any, data: Any) -> Question | None:
    """The question stored as (topic, step, data), or None when it cannot be read.

    `data` is the JSON column as the driver gives it: text (SQLite), parsed (psycopg) or NULL.
    """
    try:
        known = Topic(topic)
        stored = json.loads(data) if isinstance(data, str | bytes) else data
        if stored is None:
            stored = {}
        if not isinstance(stored, dict):
            return None
        return Question(known, Step(step), DATA[known].read(stored))
    except (ValueError, TypeError):
        return None


def _typed(data: dict[str, Any], key: str, kind: type) -> Any:
    """A stored value of one type, or None when absent; TypeError when of another type."""
    value = data.get(key)
    # JSON has no int apart from bool in Python: true is not a request id.
    if value is None or (isinstance(value, kind) and not (kind is int and isinstance(value, bool))):
        return value
    raise TypeError(f"{key}: {value!r} is not {kind.__name__}")
