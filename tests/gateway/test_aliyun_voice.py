"""Calls through Alibaba Cloud voice: the report by IvrCall, lessons by approved audio file, and
the calls' records pushed back to /cn/aliyun/voice-report.

The feed's rules through the app's test client first; then the calls job placing calls
through the official SDK at the sandbox, whose simulated member answers and whose records are
pushed to the app served over real HTTP, on both databases.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from infra.db import get_session
from infra.providers import OutboundCall, ProviderError
from infra.providers.aliyun_voice import (
    LESSON_NOT_APPROVED,
    call_status_of,
    report_prompts,
    voice_failure_of,
    voice_report_receipt,
)
from models import (
    Call,
    CallStatus,
    Channel,
    Lesson,
    LessonCampaign,
    LessonCategory,
    LessonListen,
    Member,
    ProviderPush,
    Report,
    utcnow,
    voice,
)
from models.call import CallbackReason, CallPurpose
from models.delivery import Failure
from models.lesson import VoiceFileState
from tests.admin_ui.world import World, build_world, login_as, tone_wav
from tests.factories import make_member, make_tree
from tests.gateway.aliyun_sandbox import PUSH_SECRET, SHOW_NUMBER, AliyunSandbox
from tests.live_server import serve
from tests.support import wait_until
from tests.workers.jobs import run_jobs
from workers.calls import place_call
from workers.outbox import sweep_outbox

ACK = '{"code":0,"msg":"接收成功"}'
FEED = f"/cn/aliyun/voice-report/{PUSH_SECRET}"


@pytest.fixture
def app_config(app_config: dict[str, Any], aliyun_sandbox: AliyunSandbox) -> dict[str, Any]:
    # DEBUG as in test_cn_aliyun: the admin blueprint is shared by every app of the process.
    return {**app_config, **aliyun_sandbox.settings(), "DEBUG": True}


@pytest.fixture
def live_app(app: Flask, aliyun_sandbox: AliyunSandbox) -> Iterator[str]:
    """The app served where the sandbox pushes."""
    with serve(app, port=aliyun_sandbox.app_port) as url:
        yield url


def _reminder(session: Session, member: Member) -> Call:
    call = voice.queue_outbound_call(session, member, purpose=CallPurpose.REMINDER, at=utcnow())
    session.commit()
    return call


def _call(session: Session, call: Call) -> Call:
    session.expire_all()
    row = session.get(Call, call.id)
    assert row is not None
    return row


def _reports(session: Session, member: Member) -> list[Report]:
    session.expire_all()
    return list(session.scalars(select(Report).where(Report.member_id == member.id)))


def _pushes(session: Session) -> list[ProviderPush]:
    session.expire_all()
    query = select(ProviderPush).where(
        ProviderPush.provider == "aliyun", ProviderPush.feed == "voice-report"
    )
    return list(session.scalars(query.order_by(ProviderPush.id)))


def _record(call: Call, code: str = "200000", dtmf: str = "1", seconds: int = 9) -> dict[str, Any]:
    """A VoiceReport item as Alibaba pushes it for one of our calls."""
    return {
        "call_id": f"11668{call.id:07d}^10234",
        "start_time": "2026-12-02 19:05:00",
        "end_time": "2026-12-02 19:05:09",
        "duration": str(seconds),
        "status_code": code,
        "smart_status_code": "ANSWERED",
        "status_msg": "用户听完语音",
        "out_id": str(call.id),
        "caller": SHOW_NUMBER,
        "callee": call.phone.removeprefix("+86"),
        "dtmf": dtmf,
        "voice_type": "voice",
    }


def _post(client: FlaskClient, url: str, body: Any) -> Any:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body, ensure_ascii=False)
    return client.post(url, data=data, content_type="application/json")


# Alibaba's codes as the domain reads them


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("200000", CallStatus.COMPLETED),
        ("200001", CallStatus.COMPLETED),
        ("200002", CallStatus.BUSY),
        ("200003", CallStatus.NO_ANSWER),
        ("200005", CallStatus.NO_ANSWER),
        ("200004", CallStatus.FAILED),
        ("999999", CallStatus.FAILED),
    ],
)
def test_call_result_codes_read_as_our_statuses(code: str, status: CallStatus) -> None:
    assert call_status_of(code) is status


def test_the_per_number_limit_is_slow_down_and_a_bad_number_is_final() -> None:
    """Over 1 a minute / 5 an hour / 20 a day the call is tried later; a bad number never."""
    assert voice_failure_of("isv.BUSINESS_LIMIT_CONTROL") is Failure.RATE_LIMITED
    assert voice_failure_of("isv.MOBILE_NUMBER_ILLEGAL") is Failure.INVALID_NUMBER
    assert voice_failure_of("isv.TTS_TEMPLATE_ILLEGAL") is Failure.REFUSED


def test_a_record_reads_as_a_receipt_with_our_id_the_keys_and_the_seconds() -> None:
    receipt = voice_report_receipt(
        {"call_id": "1^2", "out_id": "41", "status_code": "200000", "duration": "12", "dtmf": "2"}
    )
    assert (receipt.call_id, receipt.call_sid, receipt.status) == (41, "1^2", CallStatus.COMPLETED)
    assert (receipt.duration, receipt.keys, receipt.error_code) == (12, "2", None)
    missed = voice_report_receipt({"call_id": "3^4", "status_code": "200003", "duration": "0"})
    assert (missed.call_id, missed.status, missed.error_code) == (
        None,
        CallStatus.NO_ANSWER,
        "200003",
    )


# The feed, through the test client


def test_a_record_with_key_1_saves_the_report_by_ivr_and_gets_the_exact_ack(
    client: FlaskClient, session: Session
) -> None:
    member = make_member(session)
    call = _reminder(session, member)
    response = _post(client, FEED, [_record(call)])
    assert (response.status_code, response.get_data(as_text=True)) == (200, ACK)
    assert [(r.studied, r.channel) for r in _reports(session, member)] == [(True, Channel.IVR)]
    ended = _call(session, call)
    assert (ended.status, ended.duration, ended.call_sid) == (
        CallStatus.COMPLETED,
        9,
        f"11668{call.id:07d}^10234",
    )


def test_the_same_record_twice_is_stored_and_acted_on_once(
    client: FlaskClient, session: Session
) -> None:
    member = make_member(session)
    call = _reminder(session, member)
    first = _record(call, dtmf="2")
    assert _post(client, FEED, [first, first]).get_data(as_text=True) == ACK
    changed = {**first, "dtmf": "1"}  # a late copy cannot change the answer
    assert _post(client, FEED, [changed]).get_data(as_text=True) == ACK
    assert [r.studied for r in _reports(session, member)] == [False]
    assert len(_pushes(session)) == 1


def test_a_wrong_secret_is_404_and_stores_nothing(client: FlaskClient, session: Session) -> None:
    call = _reminder(session, make_member(session))
    assert _post(client, "/cn/aliyun/voice-report/guessed", [_record(call)]).status_code == 404
    assert _pushes(session) == []
    assert _call(session, call).status is CallStatus.QUEUED


def test_a_malformed_batch_is_400_and_stores_nothing(client: FlaskClient, session: Session) -> None:
    assert _post(client, FEED, {"call_id": "1^2"}).status_code == 400
    assert _post(client, FEED, b"not json").status_code == 400
    assert _pushes(session) == []


def test_a_bad_item_is_named_and_the_good_ones_kept(client: FlaskClient, session: Session) -> None:
    member = make_member(session)
    call = _reminder(session, member)
    response = _post(client, FEED, [{"status_code": "200000"}, _record(call)])
    assert response.status_code == 200
    assert response.get_json()["code"] != 0 and "#1" in response.get_json()["msg"]
    assert len(_pushes(session)) == 1
    assert len(_reports(session, member)) == 1


def test_no_answer_is_tried_again_and_saves_nothing(client: FlaskClient, session: Session) -> None:
    member = make_member(session)
    call = _reminder(session, member)
    _post(client, FEED, [_record(call, code="200003", dtmf="", seconds=0)])
    ended = _call(session, call)
    assert (ended.status, ended.error_code) == (CallStatus.NO_ANSWER, "200003")
    assert ended.next_attempt_at is not None
    assert _reports(session, member) == []


# Through the SDK, the sandbox and its pushes


def test_a_reminder_call_is_an_ivr_call_with_our_out_id_and_prompts(
    session: Session, aliyun_sandbox: AliyunSandbox
) -> None:
    """The calls job -> IvrCall through the SDK (signed, checked): OutId is our Call id, the
    start prompt asks the question and keys 1 and 2 play the answers; the CallId is kept."""
    member = make_member(session)
    call = _reminder(session, member)
    aliyun_sandbox.post("voice/members", {"to": member.phone, "hold": True})

    assert place_call(call.id) == "placed"

    [stored] = aliyun_sandbox.get("voice/calls")
    assert (stored["action"], stored["to"], stored["out_id"], stored["show_number"]) == (
        "IvrCall",
        member.phone.removeprefix("+86"),
        str(call.id),
        SHOW_NUMBER,
    )
    # Not approved yet in the registry: the sandbox takes them under their own names.
    assert stored["prompt"] == "voice.report_question"
    assert stored["menu"] == {"1": "voice.report_studied", "2": "voice.report_not_studied"}
    assert _call(session, call).call_sid == stored["call_id"]


def test_the_member_presses_1_and_the_pushed_record_saves_the_report(
    session: Session, aliyun_sandbox: AliyunSandbox, live_app: str
) -> None:
    member = make_member(session)
    call = _reminder(session, member)
    assert place_call(call.id) == "placed"

    wait_until(lambda: _call(session, call).status is CallStatus.COMPLETED)
    assert [(r.studied, r.channel) for r in _reports(session, member)] == [(True, Channel.IVR)]
    [stored] = aliyun_sandbox.get("voice/calls")
    assert (stored["keys"], stored["heard"]) == (
        "1",
        ["voice.report_question", "voice.report_studied"],
    )


def test_a_record_pushed_twice_and_late_changes_nothing(
    session: Session, aliyun_sandbox: AliyunSandbox, live_app: str
) -> None:
    member = make_member(session)
    aliyun_sandbox.post(
        "voice/members", {"to": member.phone, "keys": "2", "repeat": True, "delay_ms": 800}
    )
    call = _reminder(session, member)
    assert place_call(call.id) == "placed"
    assert _call(session, call).status is CallStatus.INITIATED  # the record is late

    wait_until(lambda: len(aliyun_sandbox.get("pushes", feed="voice-report")) == 2, timeout=10)
    assert {p["outcome"] for p in aliyun_sandbox.get("pushes", feed="voice-report")} == {
        "delivered"
    }
    assert [r.studied for r in _reports(session, member)] == [False]
    assert len(_pushes(session)) == 1


def test_an_unanswered_call_is_marked_for_retry(
    session: Session, aliyun_sandbox: AliyunSandbox, live_app: str
) -> None:
    member = make_member(session)
    aliyun_sandbox.post("voice/members", {"to": member.phone, "answer": False})
    call = _reminder(session, member)
    assert place_call(call.id) == "placed"
    wait_until(lambda: _call(session, call).status is CallStatus.NO_ANSWER)
    assert _call(session, call).next_attempt_at is not None
    assert _reports(session, member) == []


def test_over_the_per_number_limit_the_call_waits_and_is_placed_later(
    session: Session, aliyun_sandbox: AliyunSandbox
) -> None:
    member = make_member(session)
    aliyun_sandbox.fault(to=member.phone, kind="over_cap", action="IvrCall", count=1)
    # The member lets it ring: no record is pushed after this test (no app is listening).
    aliyun_sandbox.post("voice/members", {"to": member.phone, "hold": True})
    call = _reminder(session, member)
    assert place_call(call.id) == "later"
    row = _call(session, call)
    assert (row.status, row.call_sid) == (CallStatus.QUEUED, None)
    assert aliyun_sandbox.get("voice/calls") == []
    assert place_call(call.id) == "placed"  # the job the worker runs later
    assert len(aliyun_sandbox.get("voice/calls")) == 1


def test_an_invalid_number_fails_the_call_and_marks_the_member(
    session: Session, aliyun_sandbox: AliyunSandbox
) -> None:
    member = make_member(session)
    aliyun_sandbox.fault(to=member.phone, kind="unknown_number", action="IvrCall")
    call = _reminder(session, member)
    assert place_call(call.id) == "failed"
    assert _call(session, call).error_code == "isv.MOBILE_NUMBER_ILLEGAL"
    session.expire_all()
    marked = session.get(Member, member.id)
    assert marked is not None and marked.phone_invalid_at is not None


def _lesson(session: Session, township_id: int) -> Lesson:
    lesson = Lesson(
        org_id=township_id,
        title="劳动合同法要点",
        category=LessonCategory.POLICY,
        transcript="",
        duration=300,
    )
    session.add(lesson)
    session.commit()
    return lesson


def _lesson_call(session: Session, member: Member, lesson: Lesson) -> Call:
    callback = voice.request_callback(
        session, member, lesson.id, CallbackReason.LESSON, utcnow(), per_day=10
    )
    assert callback is not None
    call = voice.start_callback_call(session, callback, member, utcnow())
    session.commit()
    return call


def test_a_lesson_call_plays_the_approved_file_and_credits_the_seconds(
    session: Session, aliyun_sandbox: AliyunSandbox, live_app: str
) -> None:
    township, branch, _ = make_tree(session)
    member = make_member(session, branch)
    lesson = _lesson(session, township.id)
    client = aliyun_sandbox.voice()
    code = client.upload_file("lesson.mp3", b"ID3" + b"\0" * 512)
    aliyun_sandbox.post(f"voice/files/{code}/approve", {})
    [state] = client.audit_states([code])
    assert (state.voice_code, state.state) == (code, "AUDIT_STATE_PASS")
    lesson.voice_code, lesson.voice_state = code, VoiceFileState.APPROVED
    aliyun_sandbox.post("voice/members", {"to": member.phone, "seconds": 300})
    call = _lesson_call(session, member, lesson)

    assert place_call(call.id) == "placed"

    [stored] = aliyun_sandbox.get("voice/calls")
    assert (stored["action"], stored["prompt"], stored["out_id"]) == (
        "SingleCallByVoice",
        code,
        str(call.id),
    )
    wait_until(lambda: _call(session, call).status is CallStatus.COMPLETED)
    listens = session.scalars(select(LessonListen)).all()
    assert [(x.lesson_id, x.seconds, x.completed) for x in listens] == [(lesson.id, 300, True)]


def test_a_lesson_without_an_approved_file_fails_clearly_and_is_not_retried(
    session: Session, aliyun_sandbox: AliyunSandbox
) -> None:
    township, branch, _ = make_tree(session)
    member = make_member(session, branch)
    lesson = _lesson(session, township.id)
    lesson.voice_code, lesson.voice_state = "uploaded.mp3", VoiceFileState.IN_REVIEW
    call = _lesson_call(session, member, lesson)

    assert place_call(call.id) == "failed"

    row = _call(session, call)
    assert (row.status, row.error_code) == (CallStatus.FAILED, LESSON_NOT_APPROVED)
    assert aliyun_sandbox.get("voice/calls") == []
    session.expire_all()
    kept = session.get(Member, member.id)
    assert kept is not None and kept.phone_invalid_at is None
    assert session.scalar(select(func.count()).select_from(LessonListen)) == 0


# Lessons' audio: uploaded from the lesson page, reviewed, the state shown there


def _world(app: Flask) -> World:
    """The admin world with its lesson's audio really in UPLOAD_DIR."""
    target = Path(app.config["UPLOAD_DIR"]) / "lessons/policy.wav"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(tone_wav(0.2))
    with app.app_context():
        return build_world(get_session())


def _jobs(app: Flask, redis: Redis) -> int:
    """Run the queued jobs in an app context of their own (as a worker would have)."""
    with app.app_context():
        return run_jobs(redis)


def _sweep(app: Flask, minutes: int = 2) -> dict[str, int]:
    """The outbox sweep as of `minutes` from now (a review is asked about once a minute)."""
    with app.app_context():
        return sweep_outbox((utcnow() + timedelta(minutes=minutes)).isoformat())


def _voice_cell(page: str, lesson_id: int) -> str:
    row = page.split(f'id="lesson-{lesson_id}"', 1)[1].split("</tr>", 1)[0]
    return row.split('class="voice-file"', 1)[1]


def test_a_lesson_is_sent_for_review_from_its_page_and_shown_approved(
    app: Flask,
    client: FlaskClient,
    redis_client: Redis,
    aliyun_sandbox: AliyunSandbox,
) -> None:
    """The township's button (CSRF-protected) queues the upload; the job sends the file through
    GetToken and the upload address; the outbox sweep reads the review; the page shows each
    state (in Chinese, the UI's first language)."""
    world = _world(app)
    admin = login_as(client, "township")
    page = admin.get("/admin/lessons").get_data(as_text=True)
    assert "提交审核" in _voice_cell(page, world.lesson_id)

    refused = client.post(f"/admin/lessons/{world.lesson_id}/voice-file")  # no CSRF token
    assert refused.status_code == 400
    response = admin.post(f"/admin/lessons/{world.lesson_id}/voice-file")
    assert response.status_code == 302
    assert _jobs(app, redis_client) >= 1

    with app.app_context():
        lesson = get_session().get(Lesson, world.lesson_id)
        assert lesson is not None and lesson.voice_state is VoiceFileState.IN_REVIEW
        code = lesson.voice_code
    [uploaded] = aliyun_sandbox.get("voice/files")
    assert (uploaded["voice_code"], uploaded["filename"]) == (code, f"lesson-{lesson.id}.wav")
    cell = _voice_cell(admin.get("/admin/lessons").get_data(as_text=True), world.lesson_id)
    assert "审核中" in cell and "提交审核" not in cell

    aliyun_sandbox.post(f"voice/files/{code}/approve", {})
    assert _sweep(app, minutes=0)["lesson_voice_files"] == 0  # asked about a minute ago
    assert _sweep(app)["lesson_voice_files"] == 1
    cell = _voice_cell(admin.get("/admin/lessons").get_data(as_text=True), world.lesson_id)
    assert "已通过审核" in cell


def test_a_refused_file_shows_alibabas_reason_and_may_be_sent_again(
    app: Flask, client: FlaskClient, redis_client: Redis, aliyun_sandbox: AliyunSandbox
) -> None:
    world = _world(app)
    admin = login_as(client, "township")
    admin.post(f"/admin/lessons/{world.lesson_id}/voice-file")
    _jobs(app, redis_client)
    [uploaded] = aliyun_sandbox.get("voice/files")
    aliyun_sandbox.post(f"voice/files/{uploaded['voice_code']}/reject", {})
    _sweep(app)
    cell = _voice_cell(admin.get("/admin/lessons").get_data(as_text=True), world.lesson_id)
    assert "未通过审核" in cell and "音频内容不清晰" in cell and "提交审核" in cell


def test_only_the_lessons_own_office_may_send_it(
    app: Flask, client: FlaskClient, aliyun_sandbox: AliyunSandbox
) -> None:
    """A branch sees the township's lesson but may not send it for review."""
    world = _world(app)
    admin = login_as(client, "branch")
    assert "提交审核" not in admin.get("/admin/lessons").get_data(as_text=True)
    assert admin.post(f"/admin/lessons/{world.lesson_id}/voice-file").status_code == 404
    with app.app_context():
        lesson = get_session().get(Lesson, world.lesson_id)
        assert lesson is not None and lesson.voice_state is None


def test_a_lesson_saved_under_alibaba_is_uploaded_at_once(
    app: Flask, client: FlaskClient, redis_client: Redis, aliyun_sandbox: AliyunSandbox
) -> None:
    world = _world(app)
    admin = login_as(client, "township")
    response = admin.post(
        "/admin/lessons",
        {
            "title": "春季务工安全",
            "category": "skills",
            "transcript": "",
            "audio": (io.BytesIO(tone_wav(0.2)), "safety.wav"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    _jobs(app, redis_client)
    with app.app_context():
        lesson = get_session().scalars(select(Lesson).where(Lesson.id != world.lesson_id)).one()
        assert lesson.voice_state is VoiceFileState.IN_REVIEW and lesson.voice_code
    assert len(aliyun_sandbox.get("voice/files")) == 1


# `flask phone call` under PROVIDER=aliyun


def test_flask_phone_call_answers_the_ringing_call_and_shows_what_was_saved(
    app: Flask, session: Session, aliyun_sandbox: AliyunSandbox, live_app: str
) -> None:
    """--hold lets the next call ring; `call --press 2` answers it: the member hears the
    question and the answer to 2, and the pushed record saved the report by ivr."""
    runner = app.test_cli_runner()
    member = make_member(session)
    held = runner.invoke(args=["phone", "call", member.phone, "--hold"])
    assert held.exit_code == 0, held.output
    call = _reminder(session, member)
    assert place_call(call.id) == "placed"

    result = runner.invoke(args=["phone", "call", member.phone, "--press", "2"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"< IvrCall from {SHOW_NUMBER}")
    assert lines[1].startswith("  say: 您好,这里是村党支部的月度汇报电话。请问您本月参加学习了吗?")
    assert lines[2:4] == ["  press 2", "  say: 已记录:本月未学习。请抽空收听学习内容,再见。"]
    assert f"saved: call {call.id} completed, 8 s" in lines
    assert any(
        line.startswith("saved: report ") and "did not study (ivr)" in line for line in lines
    )
    assert [r.studied for r in _reports(session, member)] == [False]

    again = runner.invoke(args=["phone", "call", member.phone, "--press", "1"])
    assert again.exit_code == 1 and "no call is ringing" in again.output


# More of what the sandbox checks and refuses


def test_a_call_signed_with_a_wrong_secret_is_refused(aliyun_sandbox: AliyunSandbox) -> None:
    """The voice SDK signs as the SMS one does; the sandbox checks it the same way."""
    with pytest.raises(ProviderError) as refused:
        aliyun_sandbox.voice(secret="not-the-secret").place_call(
            OutboundCall(7, "+8613800001234", purpose=CallPurpose.REMINDER), "13800001234"
        )
    assert (refused.value.code, refused.value.failure) == ("SignatureDoesNotMatch", Failure.REFUSED)
    assert aliyun_sandbox.get("voice/calls") == []


def test_a_prompt_alibaba_has_not_approved_fails_the_call_but_not_the_number(
    session: Session, aliyun_sandbox: AliyunSandbox
) -> None:
    member = make_member(session)
    aliyun_sandbox.fault(to=member.phone, kind="tts_not_approved", action="IvrCall")
    call = _reminder(session, member)
    assert place_call(call.id) == "failed"
    assert _call(session, call).error_code == "isv.TTS_TEMPLATE_ILLEGAL"
    session.expire_all()
    kept = session.get(Member, member.id)
    assert kept is not None and kept.phone_invalid_at is None


def test_against_alibaba_itself_unapproved_prompts_are_never_sent() -> None:
    """The registry's prompts have no approved code yet: only the sandbox takes their names."""
    with pytest.raises(ProviderError) as refused:
        report_prompts(sandbox=False)
    assert refused.value.code == "template:unapproved:voice.report_question"
    assert report_prompts(sandbox=True).answers == {
        "1": "voice.report_studied",
        "2": "voice.report_not_studied",
    }


def test_single_call_by_tts_is_answered_and_its_record_pushed(
    session: Session, aliyun_sandbox: AliyunSandbox, live_app: str
) -> None:
    """SingleCallByTts through the SDK: the sandbox places it and pushes its record."""
    from alibabacloud_dyvmsapi20170525 import models as vms

    client = aliyun_sandbox.voice()
    request = vms.SingleCallByTtsRequest(
        called_number="13800009999",
        called_show_number=SHOW_NUMBER,
        tts_code="TTS_10001",
        out_id="999",
    )
    body = client._call(client.client.single_call_by_tts_with_options, request)
    [stored] = aliyun_sandbox.get("voice/calls")
    assert (stored["action"], stored["call_id"], stored["prompt"]) == (
        "SingleCallByTts",
        body.call_id,
        "TTS_10001",
    )
    wait_until(lambda: len(_pushes(session)) == 1)
    assert _pushes(session)[0].payload["out_id"] == "999"


def test_the_upload_needs_the_token_of_get_token(aliyun_sandbox: AliyunSandbox) -> None:
    response = requests.post(
        f"{aliyun_sandbox.url}/dyvms/upload",
        params={"filename": "x.wav"},
        data=b"RIFF....WAVE",
        headers={"authorization": "guessed"},
        timeout=10,
    )
    assert response.status_code == 403
    assert aliyun_sandbox.get("voice/files") == []


def test_a_campaign_of_a_lesson_without_an_approved_file_is_refused(
    app: Flask, client: FlaskClient, aliyun_sandbox: AliyunSandbox
) -> None:
    """Under Alibaba the campaign form says why before any member is called."""
    world = _world(app)
    admin = login_as(client, "township")
    response = admin.post("/admin/lessons/campaigns", {"lesson_id": str(world.lesson_id)})
    assert response.status_code == 400
    assert "尚未通过语音服务审核" in response.get_data(as_text=True)
    with app.app_context():
        assert get_session().scalar(select(func.count()).select_from(LessonCampaign)) == 0


def test_an_intermediate_status_is_kept_but_does_not_end_the_call(
    client: FlaskClient, session: Session
) -> None:
    """Ringing (200201) pushed to this address by mistake neither ends the call nor hides the
    record that follows."""
    member = make_member(session)
    call = _reminder(session, member)
    ringing = {**_record(call, code="200201", dtmf="", seconds=0)}
    assert _post(client, FEED, [ringing]).get_data(as_text=True) == ACK
    assert _call(session, call).status is CallStatus.QUEUED
    _post(client, FEED, [_record(call)])
    assert _call(session, call).status is CallStatus.COMPLETED
    assert len(_pushes(session)) == 2


def test_a_key_in_its_own_dtmf_message_counts_when_the_record_has_none(
    client: FlaskClient, session: Session
) -> None:
    """VoiceCallReport's DTMF message (300000) during the call, then the record without dtmf:
    the report is saved from the key the first one carried."""
    member = make_member(session)
    call = _reminder(session, member)
    pressed = {"call_id": f"11668{call.id:07d}^10234", "status_code": "300000", "dtmf": "2"}
    _post(client, FEED, [pressed])
    assert _reports(session, member) == []
    _post(client, FEED, [_record(call, dtmf="")])
    assert [(r.studied, r.channel) for r in _reports(session, member)] == [(False, Channel.IVR)]
