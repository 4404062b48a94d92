"""Placing callbacks: the sweep, the window, the provider, and the call the sandbox plays out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from redis import Redis
from rq import Queue
from sqlalchemy import select
from sqlalchemy.orm import Session

from devtools.servers import free_port
from ivr_flows.prompts import text
from models import Call, CallStatus, Lesson, LessonCategory, Member, utcnow, voice
from models.call import CallbackRequest, CallbackStatus
from models.cycle import member_rules
from tests.factories import make_member, make_tree
from tests.gateway.sandbox_api import SandboxAPI
from tests.live_server import serve
from tests.support import wait_until
from tests.workers.jobs import run_jobs
from workers.callbacks import due_callbacks_tick, job_id, place_callback


def fresh(session: Session) -> None:
    """Let the test's session see what jobs and requests committed since."""
    session.rollback()
    session.expire_all()


@pytest.fixture
def app_port() -> int:
    """The port the live app will listen on (known before the app is built)."""
    return free_port()


@pytest.fixture
def app_config(app_config: dict[str, Any], app_port: int) -> dict[str, Any]:
    """The app calls itself back at a live URL, so the sandbox can fetch the outbound TwiML."""
    app_config["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{app_port}"
    return app_config


@pytest.fixture
def live_sandbox(worker_sandbox_url: str) -> Iterator[SandboxAPI]:
    """The worker tests' sandbox, emptied, with its callbacks on."""
    api = SandboxAPI(worker_sandbox_url)
    api.reset()
    yield api
    api.reset()
    api.http.close()


def _member(session: Session, *, all_day: bool = True) -> Member:
    township, branch, _ = make_tree(session)
    member = make_member(session, branch, name="李娜")
    if all_day:
        member.window_start = member.window_end = "00:00"
    session.add(
        Lesson(
            org_id=township.id, title="新农合报销政策", category=LessonCategory.POLICY, duration=30
        )
    )
    session.flush()
    return member


def _outside_window(member: Member, session: Session) -> None:
    local = utcnow().astimezone(member_rules(session, member).timezone)
    member.window_start = (local + timedelta(hours=2)).strftime("%H:%M")
    member.window_end = (local + timedelta(hours=3)).strftime("%H:%M")


def test_the_tick_enqueues_due_callbacks_once(session: Session, redis_client: Redis) -> None:
    """Only due callbacks are enqueued, each under its own job id, and a second tick adds none."""
    due_member = _member(session)
    due = voice.request_callback(session, due_member, None, "missed_call", utcnow())
    later_member = make_member(session, session.get(Member, due_member.id).branch)  # type: ignore[union-attr]
    _outside_window(later_member, session)
    later = voice.request_callback(session, later_member, None, "missed_call", utcnow())
    assert due is not None and later is not None
    session.commit()
    assert due_callbacks_tick() == 1
    assert due_callbacks_tick() == 1
    assert Queue("calls", connection=redis_client).job_ids == [job_id(due.id)]


def test_a_callback_is_placed_and_the_sandbox_plays_it_out(
    app: Flask, session: Session, redis_client: Redis, live_sandbox: SandboxAPI, app_port: int
) -> None:
    """XX 3 queued, the tick and a real RQ worker place the call; the sandbox answers as a
    person, fetches the TwiML (the greeting and the lesson) and reports the call completed."""
    member = _member(session)
    lesson = session.scalars(select(Lesson)).one()
    callback = voice.request_callback(session, member, lesson.id, "lesson", utcnow())
    assert callback is not None
    session.commit()
    with serve(app, port=app_port):
        due_callbacks_tick()
        assert run_jobs(redis_client, ("calls",)) == 1

        def completed() -> bool:
            fresh(session)
            call = session.scalars(select(Call)).one_or_none()
            return call is not None and call.status is CallStatus.COMPLETED

        wait_until(completed)
    call = session.scalars(select(Call)).one()
    assert (call.direction, call.purpose, call.lesson_id, call.member_id) == (
        "outbound",
        "lesson",
        lesson.id,
        member.id,
    )
    assert call.call_sid is not None and call.call_sid.startswith("CA")
    assert (call.answered_by, call.duration) == ("human", 30)
    placed = session.get(CallbackRequest, callback.id)
    assert placed is not None
    assert (placed.status, placed.call_id) == (CallbackStatus.PLACED, call.id)
    sandbox_calls = live_sandbox.get("/_sandbox/calls", to=member.phone)
    assert len(sandbox_calls) == 1
    assert sandbox_calls[0]["url"] == f"http://127.0.0.1:{app_port}/voice/outbound?call={call.id}"
    assert sandbox_calls[0]["machine_detection"] == "Enable"
    assert sandbox_calls[0]["url_status"] == 200
    assert text("outbound_greeting", "zh_CN", name="李娜") in sandbox_calls[0]["twiml"]
    # The job running again places nothing more.
    assert place_callback(callback.id) is None
    assert len(live_sandbox.get("/_sandbox/calls", to=member.phone)) == 1


def test_a_job_that_runs_after_the_window_waits_for_the_next(session: Session) -> None:
    """A callback due earlier but placed outside the window moves to the next window start."""
    member = _member(session)
    callback = voice.request_callback(session, member, None, "missed_call", utcnow())
    assert callback is not None
    _outside_window(member, session)
    session.commit()
    assert place_callback(callback.id) is None
    fresh(session)
    waiting = session.get(CallbackRequest, callback.id)
    assert waiting is not None
    assert waiting.status == CallbackStatus.PENDING
    assert waiting.scheduled_for is not None and waiting.scheduled_for > utcnow() + timedelta(
        hours=1
    )
    assert session.scalars(select(Call)).all() == []


def test_a_provider_that_cannot_be_reached_gets_the_callback_again_later(
    app: Flask, session: Session
) -> None:
    """The provider is down: the attempt is a failed call, the callback is pending again."""
    app.config["SANDBOX_URL"] = "http://127.0.0.1:9"  # nothing listens
    app.extensions.pop("provider", None)
    member = _member(session)
    callback = voice.request_callback(session, member, None, "missed_call", utcnow())
    assert callback is not None
    session.commit()
    assert place_callback(callback.id) == "failed"
    fresh(session)
    waiting = session.get(CallbackRequest, callback.id)
    assert waiting is not None
    assert waiting.status == CallbackStatus.PENDING
    assert waiting.scheduled_for is not None and waiting.scheduled_for > utcnow()
    failed = session.scalars(select(Call)).one()
    assert (failed.status, failed.call_sid) == (CallStatus.FAILED, None)


def test_an_invalid_number_fails_the_callback_and_marks_the_member(
    session: Session, live_sandbox: SandboxAPI
) -> None:
    """A callback is placed as every outbound call is: the provider's 21211 marks the number
    invalid (as for a lesson call or a text) and the callback fails, with nothing retried."""
    member = _member(session)
    live_sandbox.fault(resource="calls", to=member.phone, code=21211, status=400)
    callback = voice.request_callback(session, member, None, "missed_call", utcnow())
    assert callback is not None
    session.commit()
    assert place_callback(callback.id) == "failed"
    fresh(session)
    gone = session.get(CallbackRequest, callback.id)
    assert gone is not None and gone.status == CallbackStatus.FAILED
    call = session.scalars(select(Call)).one()
    assert (call.status, call.error_code) == (CallStatus.FAILED, "21211")
    marked = session.get(Member, member.id)
    assert marked is not None and marked.phone_invalid_at is not None


def test_a_member_who_texted_td_is_called_back_when_they_ask(
    session: Session, live_sandbox: SandboxAPI
) -> None:
    """TD stops texts and campaign calls, not a call back the member asked for since."""
    member = _member(session)
    member.opted_out_at = utcnow() - timedelta(days=3)
    callback = voice.request_callback(session, member, None, "missed_call", utcnow())
    assert callback is not None
    session.commit()
    assert place_callback(callback.id) == "placed"
    assert len(live_sandbox.get("/_sandbox/calls", to=member.phone)) == 1
