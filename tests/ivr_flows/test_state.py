"""The typed call state: its JSON round trip, the stored shape it keeps, and forgiving reads."""

from __future__ import annotations

import json
import textwrap
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr_flows import run_step
from ivr_flows.engine import Input
from ivr_flows.state import AfterLesson, CallState, Playing, ReportAnswers
from models.deed import TipTopic
from models.help import HelpCategory
from tests.ivr_flows.helpers import RECORDING, context
from tests.ivr_flows.test_survey import SURVEY

# One state for each thing a flow keeps, and one with every field set.
SHAPES = {
    "new call": CallState(),
    "a miss": CallState(tries=2),
    "report begun": CallState(report=ReportAnswers()),
    "report studied": CallState(report=ReportAnswers(studied=False, saved=True)),
    "report complete": CallState(
        report=ReportAnswers(studied=True, same_city=False, same_employer=True, saved=True)
    ),
    "help category": CallState(help=HelpCategory.DOCUMENTS),
    "help opened": CallState(help=HelpCategory.WAGES, help_ref="QZ12"),
    "lessons listed": CallState(listed=(12, 9, 7)),
    "lesson playing": CallState(listed=(12, 9), playing=Playing(12, 1700000000.5, 300), queue=(9,)),
    "lesson without length": CallState(playing=Playing(7, 12.0, None)),
    "outbound lesson": CallState(
        lesson=12, playing=Playing(12, 0.0, 120), after=AfterLesson.GOODBYE
    ),
    "callback": CallState(lesson=None, tries=1),
    "deed item": CallState(deed_item=4),
    "tip recorded": CallState(deed_item=1, topic=TipTopic.MARKET),
    "tips board": CallState(topic=TipTopic.JOBS, tips=(30, 21, 9), tip_at=1),
    "notice call": CallState(notice="明天上午九点开会"),
    "survey call": CallState(survey=7, survey_question=70, tries=1),
    "everything": CallState(
        tries=1,
        report=ReportAnswers(studied=True, same_city=True, same_employer=False, saved=True),
        help=HelpCategory.OTHER,
        help_ref="QZ3",
        listed=(3, 2),
        playing=Playing(3, 99.0, 60),
        queue=(2,),
        after=AfterLesson.GOODBYE,
        lesson=3,
        deed_item=1,
        topic=TipTopic.OTHER,
        tips=(5, 4),
        tip_at=0,
        notice="请回复HB汇报",
        survey=2,
        survey_question=20,
    ),
}


def stored(state: CallState) -> Any:
    """The state as it comes back from the database's JSON column."""
    return json.loads(json.dumps(state.to_json()))


@pytest.mark.parametrize("state", SHAPES.values(), ids=SHAPES.keys())
def test_every_state_shape_survives_the_json_column(state: CallState) -> None:
    """to_json then from_json gives the same state back, through real JSON text."""
    assert CallState.from_json(stored(state)) == state


def test_the_shapes_cover_every_field() -> None:
    """Each field of the state is set away from its default by some shape above."""
    default = CallState()
    for field in fields(CallState):
        assert any(
            getattr(state, field.name) != getattr(default, field.name) for state in SHAPES.values()
        ), field.name


def test_every_state_a_call_reaches_survives_the_json_column() -> None:
    """Follow calls as Twilio does (each answer to the step the last one waits at) with every
    key, silence and a recording: every state reached round-trips through JSON."""
    keys = [None, *"0123456789*#", "12#"]
    inputs = [Input(digits=key, at=1000.0) for key in keys] + [
        Input(recording=RECORDING, at=1000.0)
    ]
    member, stranger = context(), context(known=False, name=None)
    asked = context(survey=SURVEY)
    calls = [
        (member, ("menu", "start"), CallState()),
        (asked, ("menu", "start"), CallState()),
        (asked, ("outbound", "start"), CallState(survey=SURVEY.id)),
        (member, ("outbound", "start"), CallState(lesson=12)),
        (member, ("outbound", "start"), CallState()),
        (stranger, ("unknown", "start"), CallState()),
    ]
    seen = {(id(ctx), where, state) for ctx, where, state in calls}
    reached: set[CallState] = set()
    while calls:
        ctx, (flow, step), state = calls.pop()
        for given_input in inputs:
            result = run_step(flow, step, state, given_input, ctx)
            assert CallState.from_json(stored(result.state)) == result.state, result.state
            reached.add(result.state)
            if result.waiting_at is not None:
                key = (id(ctx), result.waiting_at, result.state)
                if key not in seen:
                    seen.add(key)
                    calls.append((ctx, result.waiting_at, result.state))
    # Every field the steps write was set away from its default somewhere along the way (the
    # voice handler sets the others: the help reference, and the lesson, the notice or the
    # survey of a call we place).
    default = CallState()
    for field in fields(CallState):
        if field.name not in ("help_ref", "lesson", "notice", "survey"):
            changed = (
                getattr(state, field.name) != getattr(default, field.name) for state in reached
            )
            assert any(changed), field.name


@pytest.mark.parametrize(
    ("state", "json_value"),
    [
        (CallState(), {"tries": 0}),
        (
            CallState(tries=1, report=ReportAnswers(studied=True, saved=True)),
            {"tries": 1, "report": {"studied": True, "saved": True}},
        ),
        (
            CallState(help=HelpCategory.WAGES, help_ref="QZ7"),
            {"tries": 0, "help": "wages", "help_ref": "QZ7"},
        ),
        (
            CallState(listed=(12, 9), playing=Playing(12, 5000.0, 300), queue=(9,)),
            {
                "tries": 0,
                "list": [12, 9],
                "playing": {"number": 12, "started": 5000.0, "duration": 300},
                "queue": [9],
            },
        ),
        (
            CallState(lesson=12, after=AfterLesson.GOODBYE),
            {"tries": 0, "after": "goodbye", "lesson": 12},
        ),
    ],
)
def test_the_stored_json_keeps_the_keys_of_the_untyped_state(
    state: CallState, json_value: dict[str, Any]
) -> None:
    """Rows written before the state was typed read the same, and are written the same, so a
    call in progress across a deployment (or a rollback) carries on."""
    assert state.to_json() == json_value
    assert CallState.from_json(json_value) == state


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Not an object at all.
        (None, CallState()),
        ([1, 2], CallState()),
        ("tries", CallState()),
        (7, CallState()),
        # Unknown keys are ignored, inside nested values too.
        ({"tries": 1, "colour": "red"}, CallState(tries=1)),
        (
            {"report": {"studied": True, "saved": True, "mood": "good"}},
            CallState(report=ReportAnswers(studied=True, saved=True)),
        ),
        # Wrong types give the field's default.
        ({"tries": "2"}, CallState()),
        ({"tries": True}, CallState()),
        ({"tries": -3}, CallState()),
        ({"tries": 1.5}, CallState()),
        ({"report": "yes"}, CallState()),
        ({"report": {"studied": 1, "same_city": "no", "saved": "yes"}}, CallState()),
        ({"help": "money"}, CallState()),
        ({"help": 1}, CallState()),
        ({"help_ref": 12}, CallState()),
        ({"help_ref": ""}, CallState()),
        ({"list": "12,9"}, CallState()),
        # One unreadable item drops the list: positions must not shift to another lesson.
        ({"list": [12, "9", 7]}, CallState()),
        ({"list": [12, True]}, CallState()),
        ({"queue": [9, None]}, CallState()),
        ({"playing": 12}, CallState()),
        ({"playing": {"number": "twelve", "started": 1.0}}, CallState()),
        ({"after": "menu"}, CallState()),
        ({"after": 1}, CallState()),
        ({"lesson": "12"}, CallState()),
        # A lesson playing keeps its number when its other values cannot be read.
        (
            {"playing": {"number": 12, "started": "noon", "duration": -5}},
            CallState(playing=Playing(12, None, None)),
        ),
        ({"playing": {"number": 12, "started": 100}}, CallState(playing=Playing(12, 100.0))),
        ({"playing": {"number": 12, "started": float("nan")}}, CallState(playing=Playing(12))),
        # Missing keys are defaults; the rest is kept.
        ({}, CallState()),
        ({"report": {}}, CallState(report=ReportAnswers())),
        ({"playing": {"started": 5.0}, "queue": [9]}, CallState(queue=(9,))),
        (
            {"tries": "x", "list": [12, 9], "after": "goodbye"},
            CallState(listed=(12, 9), after=AfterLesson.GOODBYE),
        ),
    ],
)
def test_an_unreadable_stored_state_reads_as_defaults(raw: object, expected: CallState) -> None:
    """Whatever the row holds, reading never fails: what cannot be read is left at its default."""
    assert CallState.from_json(raw) == expected


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
KEYS = st.sampled_from(
    ["tries", "report", "help", "help_ref", "list", "playing", "queue", "after", "survey"]
)
MAYBE_BOOL = st.none() | st.booleans()
NUMBERS = st.lists(st.integers(min_value=1, max_value=10**6), max_size=5).map(tuple)


@given(st.dictionaries(KEYS | st.text(max_size=8), JSON) | JSON)
def test_reading_any_json_never_fails_and_the_result_round_trips(raw: object) -> None:
    """Any JSON value reads as a state, and that state survives the column."""
    state = CallState.from_json(raw)
    assert CallState.from_json(stored(state)) == state


@given(
    st.builds(
        CallState,
        tries=st.integers(min_value=0, max_value=5),
        report=st.builds(
            ReportAnswers,
            studied=MAYBE_BOOL,
            same_city=MAYBE_BOOL,
            same_employer=MAYBE_BOOL,
            saved=st.booleans(),
        ),
        help=st.none() | st.sampled_from(HelpCategory),
        help_ref=st.none() | st.from_regex(r"QZ[0-9]{1,6}", fullmatch=True),
        listed=NUMBERS,
        playing=st.none()
        | st.builds(
            Playing,
            number=st.integers(min_value=1, max_value=10**6),
            started=st.none() | st.floats(min_value=0, max_value=4e9),
            duration=st.none() | st.integers(min_value=1, max_value=7200),
        ),
        queue=NUMBERS,
        after=st.sampled_from(AfterLesson),
        lesson=st.none() | st.integers(min_value=1, max_value=10**6),
        notice=st.none() | st.text(min_size=1, max_size=80),
    )
)
def test_any_state_survives_the_json_column(state: CallState) -> None:
    """Every combination of fields round-trips, not only the shapes the flows make today."""
    assert CallState.from_json(stored(state)) == state


def test_mypy_reports_a_misspelt_field(tmp_path: Path) -> None:
    """The point of the types: a misspelt field, read or replaced, is a type error."""
    from mypy import api

    snippet = tmp_path / "misspelt.py"
    snippet.write_text(
        textwrap.dedent(
            """
            from dataclasses import replace
            from ivr_flows.state import CallState

            state = CallState()
            replace(state, trys=1)
            print(state.help_reference)
            replace(state, tries="1")
            """
        )
    )
    module = Path(__file__).resolve().parents[2] / "ivr_flows" / "state.py"
    out, _, status = api.run(
        [
            "--follow-imports=skip",
            "--no-incremental",
            "--ignore-missing-imports",
            "--python-version=3.11",
            str(module),
            str(snippet),
        ]
    )
    assert status == 1, out
    assert 'Unexpected keyword argument "trys"' in out
    assert 'has no attribute "help_reference"' in out
    assert 'incompatible type "str"' in out
