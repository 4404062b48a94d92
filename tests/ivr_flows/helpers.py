"""Helpers for the pure flow tests: run a step and read its TwiML with xml.etree."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from ivr_flows import run_step
from ivr_flows.engine import (
    CallContext,
    Input,
    LessonInfo,
    Recorded,
    Shelf,
    StepResult,
    TipInfo,
    TipShelf,
)
from ivr_flows.prompts import text
from ivr_flows.state import CallState
from models.deed import TipTopic
from models.lesson import LessonCategory

RECORDING = Recorded(
    url="http://127.0.0.1:5055/_sandbox/recordings/RE" + "a" * 32 + ".wav",
    sid="RE" + "a" * 32,
    duration=7,
)

LESSONS = (
    LessonInfo(
        12, "新农合报销政策", LessonCategory.POLICY, "https://cdn.example.org/12.mp3", "", 300
    ),
    LessonInfo(9, "劳动合同法要点", LessonCategory.POLICY, None, "劳动合同要写清工资。", 120),
    LessonInfo(7, "大棚蔬菜种植", LessonCategory.SKILLS, None, "大棚要通风。", 200),
)


# The tips board: three approved tips about jobs, newest first, the second one spoken.
BOARD = TipShelf(
    {
        TipTopic.JOBS: (
            TipInfo(30, "东莞长安电子厂招普工", None),
            TipInfo(21, "", "https://api.example.org/RE21.wav"),
            TipInfo(9, "深圳龙华快递分拣月薪六千", None),
        )
    }
)


def context(**overrides: Any) -> CallContext:
    """A known Chinese-speaking member in Guangzhou at an electronics factory."""
    values: dict[str, Any] = {
        "known": True,
        "language": "zh_CN",
        "name": "张伟",
        "city": "广州",
        "employer": "电子厂",
        "lessons": Shelf(LESSONS),
        "tips": BOARD,
    }
    values.update(overrides)
    return CallContext(**values)


def run(
    flow: str,
    step: str,
    state: CallState | None = None,
    *,
    digits: str | None = None,
    recording: Recorded | None = None,
    answered_by: str | None = None,
    at: float = 1000.0,
    ctx: CallContext | None = None,
) -> StepResult:
    """Run one step as the voice handler would."""
    given = Input(digits=digits, recording=recording, answered_by=answered_by, at=at)
    return run_step(flow, step, state or CallState(), given, ctx or context())


def xml(result: StepResult) -> ET.Element:
    """The TwiML of a step, parsed."""
    return ET.fromstring(result.twiml.to_xml())


def verbs(result: StepResult) -> list[str]:
    """The top-level verbs, in order."""
    return [node.tag for node in xml(result)]


def said(result: StepResult) -> list[str]:
    """Every <Say> text, in document order."""
    return [node.text or "" for node in xml(result).iter("Say")]


def played(result: StepResult) -> list[str]:
    """Every <Play> URL, in document order."""
    return [node.text or "" for node in xml(result).iter("Play")]


def gather(result: StepResult) -> ET.Element:
    """The one <Gather> of a step (fails if there is none)."""
    found = xml(result).find("Gather")
    assert found is not None, result.twiml.to_xml()
    return found


def record(result: StepResult) -> ET.Element:
    """The one <Record> of a step (fails if there is none)."""
    found = xml(result).find("Record")
    assert found is not None, result.twiml.to_xml()
    return found


def action(result: StepResult) -> str:
    """Where the answer to this step's question goes (its Gather or Record action)."""
    node = xml(result).find("Gather")
    if node is None:
        node = xml(result).find("Record")
    assert node is not None, result.twiml.to_xml()
    return node.get("action", "")


def redirect(result: StepResult) -> str | None:
    """The URL of the <Redirect> after the question, if any."""
    node = xml(result).find("Redirect")
    return None if node is None else (node.text or "")


def zh(key: str, **params: Any) -> str:
    """A prompt's Chinese text."""
    return text(key, "zh_CN", **params)
