"""Reaching out: broadcasts from the composer, lesson uploads and campaigns, the yearly review."""

from __future__ import annotations

import csv
import io

from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from rq.job import Job
from sqlalchemy import select

from models import Broadcast, Lesson, LessonCampaign
from tests.admin_ui.world import World, db, login_as, tone_wav
from workers.broadcasts import resolve_job_id

NOTICE_71 = "各位流动党员同志:本月二十日前请完成党费缴纳和学习汇报,回复HB1即可汇报。如有困难请及时联系村支部书记或联络员,我们会尽快帮助解决。谢谢大家"


def test_composer_shows_the_figures_before_sending(client: FlaskClient, world: World) -> None:
    """The composer states encoding, segments, recipients and cost as rendered."""
    admin = login_as(client, "township")
    text = admin.get("/admin/broadcasts/new").get_data(as_text=True)
    assert 'id="f-segments">1<' in text
    assert 'id="f-recipients">3<' in text  # the township's three members
    assert "segments.js" in text and "composer.js" in text


def test_estimate_counts_a_target(client: FlaskClient, world: World) -> None:
    """The estimate answers how many members a target reaches; a bad period is explained."""
    admin = login_as(client, "township")
    east = admin.get(f"/admin/broadcasts/estimate?branches={world.east}").get_json()
    assert (east["recipients"], east["reachable"]) == (2, 2)
    bad = admin.get("/admin/broadcasts/estimate?nonreporters=2026-13")
    assert bad.status_code == 400 and "YYYY-MM" in bad.get_json()["error"]


def test_sending_stores_the_notice_and_queues_its_resolution(
    app: Flask, client: FlaskClient, world: World, redis_client: Redis
) -> None:
    """A sent notice is stored with its segments and target; the job that resolves it waits."""
    assert len(NOTICE_71) == 71
    admin = login_as(client, "township")
    response = admin.post(
        "/admin/broadcasts",
        {"text": NOTICE_71.replace("。", "。\r\n", 1), "branches": [world.east]},
    )
    assert response.status_code == 302
    with db(app) as session:
        broadcast = session.scalar(select(Broadcast).order_by(Broadcast.id.desc()))
    assert broadcast is not None
    assert (broadcast.segments, broadcast.recipients) == (2, 2)
    assert "\r" not in broadcast.text
    assert broadcast.target["branches"] == [world.east]
    assert Job.fetch(resolve_job_id(broadcast.id), connection=redis_client).func_name.endswith(
        "resolve_broadcast"
    )
    progress = admin.get(f"/admin/broadcasts/{broadcast.id}/progress").get_json()
    assert (progress["recipients"], progress["queued"], progress["done"]) == (2, 2, False)


def test_an_empty_notice_or_a_foreign_branch_is_refused(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Nothing is stored for an empty text or a branch outside the user's organisation."""
    admin = login_as(client, "branch")
    empty = admin.post("/admin/broadcasts", {"text": "   "})
    assert empty.status_code == 400 and "此项必填" in empty.get_data(as_text=True)
    foreign = admin.post("/admin/broadcasts", {"text": "开会", "branches": [world.west]})
    assert foreign.status_code == 400
    with db(app) as session:
        assert session.scalars(select(Broadcast.text)).all() == ["五月十日开会"]


def test_lesson_upload_accepts_audio_and_refuses_the_rest(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """A WAV is stored with its length; a text file named .mp3 is refused with a message."""
    admin = login_as(client, "township")
    good = admin.post(
        "/admin/lessons",
        {
            "title": "种植技术",
            "category": "skills",
            "transcript": "今天讲大棚种植。",
            "audio": (io.BytesIO(tone_wav(2.0)), "lesson.wav"),
        },
        content_type="multipart/form-data",
    )
    assert good.status_code == 302
    fake = admin.post(
        "/admin/lessons",
        {
            "title": "假音频",
            "category": "skills",
            "audio": (io.BytesIO(b"hello, not audio"), "fake.mp3"),
        },
        content_type="multipart/form-data",
    )
    assert fake.status_code == 400 and "只能上传MP3或WAV" in fake.get_data(as_text=True)
    renamed = admin.post(
        "/admin/lessons",
        {"title": "改名", "category": "skills", "audio": (io.BytesIO(tone_wav()), "lesson.mp3")},
        content_type="multipart/form-data",
    )
    assert renamed.status_code == 400
    with db(app) as session:
        lesson = session.scalar(select(Lesson).where(Lesson.title == "种植技术"))
        titles = session.scalars(select(Lesson.title)).all()
    assert lesson is not None and lesson.duration == 2 and lesson.audio_path
    assert "假音频" not in titles and "改名" not in titles
    played = admin.get(f"/admin/lessons/{lesson.id}/audio")
    assert played.status_code == 200 and played.get_data()[:4] == b"RIFF"


def test_lesson_upload_over_the_size_limit_is_refused(app_config: dict[str, object]) -> None:
    """A file over MAX_UPLOAD_MB is refused (413) with a message, and nothing is stored."""
    from gateway import create_app
    from infra.db import get_session
    from tests.admin_ui.world import build_world

    app_config["MAX_UPLOAD_MB"] = 1
    app = create_app(app_config)
    try:
        with app.app_context():
            build_world(get_session())
        admin = login_as(app.test_client(), "township")
        big = b"RIFF\x00\x00\x00\x00WAVE" + b"\x00" * (1024 * 1024 + 10)
        response = admin.post(
            "/admin/lessons",
            {"title": "太大", "category": "policy", "audio": (io.BytesIO(big), "big.wav")},
            content_type="multipart/form-data",
        )
        assert response.status_code == 413
        assert "文件太大" in response.get_data(as_text=True)
        with app.app_context():
            assert get_session().scalars(select(Lesson.title)).all() == ["新农保政策解读"]
    finally:
        app.extensions["db_engine"].dispose()


def test_campaign_is_created_for_chosen_branches(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Starting the calls stores a campaign for the lesson and the chosen branches."""
    admin = login_as(client, "township")
    response = admin.post(
        "/admin/lessons/campaigns", {"lesson_id": str(world.lesson_id), "branches": [world.west]}
    )
    assert response.status_code == 302
    with db(app) as session:
        campaign = session.scalar(select(LessonCampaign))
    assert campaign is not None
    assert (campaign.lesson_id, campaign.recipients) == (world.lesson_id, 1)
    assert campaign.target["branches"] == [world.west]


def test_yearly_review_lists_and_exports(client: FlaskClient, world: World) -> None:
    """The review shows each member's year and exports the same rows."""
    admin = login_as(client, "branch")
    year = world.period[:4]
    page = admin.get(f"/admin/review?year={year}").get_data(as_text=True)
    assert "王秀英" in page and "李建国" in page and "张桂兰" not in page
    exported = admin.get(f"/admin/review.csv?year={year}").get_data(as_text=True).lstrip("\ufeff")
    rows = {row[1]: row for row in csv.reader(io.StringIO(exported))}
    assert rows["王秀英"][0] == year
    assert int(rows["王秀英"][4]) >= 1  # this month's report at least
    assert rows["李建国"][4] == "0"
