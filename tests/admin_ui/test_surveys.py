"""Surveys in the admin: written in the browser (from the ready-made 五个摸清 or blank), bad
input answered in the form, each organisation seeing its own, results against what was
answered, the answers beside the card, and the exports (each one audited)."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import select

from models import utcnow
from models.audit import AuditLog
from models.report import Channel
from models.survey import Survey, SurveyAnswer, SurveyRecipient, SurveyStatus
from models.survey_ops import current_question, record_answer
from tests.admin_ui.world import World, db, login_as

QUESTIONS = [
    {
        "text": "您的就业形式？",
        "kind": "choice",
        "choices": "受雇\n自己经营\n灵活就业",
        "field": "work_form",
    },
    {"text": "您哪一年外出？", "kind": "number", "field": "departure_year"},
    {"text": "您在哪个单位工作？", "kind": "text", "field": "employer"},
]


def _form(
    title: str = "五个摸清", questions: list[dict[str, str]] = QUESTIONS, **extra: Any
) -> dict[str, Any]:
    data: dict[str, Any] = {"title": title, "by_sms": "y", "remind_after_days": "3", **extra}
    for index, question in enumerate(questions):
        for name, value in question.items():
            data[f"q-{index}-{name}"] = value
    return data


def _latest(app: Flask) -> Survey | None:
    with db(app) as session:
        return session.scalar(select(Survey).order_by(Survey.id.desc()))


def test_a_township_user_sends_the_ready_made_survey_from_the_browser(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """The ready-made 五个摸清 fills the form; sent as it is, it goes to every member of the
    township (three), open, and the sending is audited."""
    admin = login_as(client, "township")
    page = admin.get("/admin/surveys/new?start=ready").get_data(as_text=True)
    assert "五个摸清" in page and 'name="q-0-text"' in page and 'name="q-5-text"' in page
    assert admin.get("/admin/surveys").status_code == 200
    from admin_ui.views.surveys import _rows_of, ready_made

    rows = _rows_of(ready_made())
    response = admin.post("/admin/surveys", _form(str(ready_made()["title"]), rows))
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    survey = _latest(app)
    assert survey is not None and survey.status is SurveyStatus.OPEN
    assert survey.recipients == 3 and len(rows) == len(ready_made()["questions"])
    with db(app) as session:
        stored = session.get(Survey, survey.id)
        assert stored is not None
        assert [q.text for q in stored.questions] == [row["text"] for row in rows]
        assert (
            session.scalar(select(AuditLog).where(AuditLog.target == f"survey:{survey.id}"))
            is not None
        )
    detail = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert 'id="f-recipients">3<' in detail


@pytest.mark.parametrize(
    ("questions", "extra", "message"),
    [
        ([], {}, "问卷没有题目"),
        (
            [{"text": "选哪个？", "kind": "choice", "choices": "\n".join("ABCDEFGHIJ")}],
            {},
            "选项超过9个",
        ),
        ([{"text": "选哪个？", "kind": "choice", "choices": ""}], {}, "没有选项"),
        ([{"text": "工资多少？", "kind": "number", "field": "salary"}], {}, "党员卡片没有字段"),
        ([{"text": "单位？", "kind": "number", "field": "employer"}], {}, "不能由number题填写"),
        ([{"text": "什么？", "kind": "essay"}], {}, "类型应是"),
        (QUESTIONS, {"by_sms": ""}, "请选择短信、电话或两者"),
        (QUESTIONS, {"remind_after_days": "abc"}, "remind"),
        (QUESTIONS, {"remind_after_days": "99"}, "1到30天"),
        (QUESTIONS, {"title": ""}, "必填"),
        (QUESTIONS, {"nonreporters": "2026-13"}, "YYYY-MM"),
    ],
)
def test_bad_input_is_answered_in_the_form(
    app: Flask,
    client: FlaskClient,
    world: World,
    questions: list[dict[str, str]],
    extra: dict[str, str],
    message: str,
) -> None:
    """Every refusal is a 400 with the reason in the form; nothing is stored or sent."""
    admin = login_as(client, "township")
    data = _form(questions=questions)
    data.update(extra)
    response = admin.post("/admin/surveys", data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    if message != "remind":
        assert message in page, page[:3000]
    assert _latest(app) is None


def _send(admin: Any, app: Flask, **extra: Any) -> int:
    response = admin.post("/admin/surveys", _form(**extra))
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    survey = _latest(app)
    assert survey is not None
    return survey.id


def test_a_branch_sees_its_own_surveys_and_the_township_every_one(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """The west branch's survey goes to its member only; the east branch cannot open it."""
    west = login_as(client, "west")
    survey_id = _send(west, app)
    with db(app) as session:
        members = session.scalars(
            select(SurveyRecipient.member_id).where(SurveyRecipient.survey_id == survey_id)
        ).all()
    assert members == [world.carol]
    assert west.get(f"/admin/surveys/{survey_id}").status_code == 200
    client.get("/admin/logout")
    east = login_as(app.test_client(), "branch")
    assert east.get(f"/admin/surveys/{survey_id}").status_code == 404
    assert east.get(f"/admin/surveys/{survey_id}/answers.csv").status_code == 404
    listed = east.get("/admin/surveys").get_data(as_text=True)
    assert f"/admin/surveys/{survey_id}" not in listed and "还没有问卷" in listed
    township = login_as(app.test_client(), "township")
    assert township.get(f"/admin/surveys/{survey_id}").status_code == 200
    assert f"/admin/surveys/{survey_id}" in township.get("/admin/surveys").get_data(as_text=True)
    assert (
        login_as(app.test_client(), "other").get(f"/admin/surveys/{survey_id}").status_code == 404
    )
    assert login_as(app.test_client(), "liaison").get("/admin/surveys").status_code == 403


def _answer(app: Flask, survey_id: int, member_id: int, *answers: dict[str, Any]) -> None:
    with db(app) as session:
        recipient = session.scalars(
            select(SurveyRecipient).where(
                SurveyRecipient.survey_id == survey_id, SurveyRecipient.member_id == member_id
            )
        ).one()
        for values in answers:
            question = current_question(session, recipient)
            assert question is not None
            record_answer(session, recipient, question, channel=Channel.SMS, now=utcnow(), **values)
        session.commit()


def test_results_exports_and_the_card_show_what_was_answered(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Alice (east) answers all three, Carol (west) the first; the page, the exports and
    Alice's file show exactly that."""
    admin = login_as(client, "township")
    survey_id = _send(admin, app)
    _answer(app, survey_id, world.alice, {"choice": 2}, {"number": 2018}, {"text": "广州电子厂"})
    _answer(app, survey_id, world.carol, {"choice": 3})
    page = admin.get(f"/admin/surveys/{survey_id}").get_data(as_text=True)
    assert 'id="f-recipients">3<' in page
    assert 'id="f-responded">2<' in page
    assert 'id="f-completed">1<' in page
    assert "2 answers" in page or "2条回答" in page
    assert "广州电子厂" in page and "2018" in page and "<svg" in page
    with db(app) as session:
        assert session.scalar(select(SurveyAnswer).where(SurveyAnswer.number == 2018)) is not None

    csv_response = admin.get(f"/admin/surveys/{survey_id}/answers.csv")
    assert csv_response.status_code == 200
    rows = list(csv.reader(io.StringIO(csv_response.get_data(as_text=True).lstrip("\ufeff"))))
    body = sorted((row[0], row[2], row[4]) for row in rows[1:])
    assert body == sorted(
        [
            ("王秀英", "1", "2. 自己经营"),
            ("王秀英", "2", "2018"),
            ("王秀英", "3", "广州电子厂"),
            ("张桂兰", "1", "3. 灵活就业"),
        ]
    )
    xlsx = admin.get(f"/admin/surveys/{survey_id}/answers.xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    assert sheet is not None and sheet.max_row == 5
    with db(app) as session:
        audited = session.scalars(
            select(AuditLog.target).where(AuditLog.target.like(f"survey:{survey_id}:%"))
        ).all()
    assert sorted(audited) == [f"survey:{survey_id}:csv", f"survey:{survey_id}:xlsx"]

    # A branch user exports its own members' answers only.
    east = login_as(app.test_client(), "branch")
    east_page = east.get(f"/admin/surveys/{survey_id}")
    assert east_page.status_code == 404  # the township's survey is not the branch's own
    member_page = admin.get(f"/admin/members/{world.alice}").get_data(as_text=True)
    assert "广州电子厂" in member_page and "2. 自己经营" in member_page


def test_options_keep_their_english_and_a_survey_targets_its_nonresponders(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """`务工 | Work` keeps both labels; a second survey to those who answered nothing of the
    first goes to the two who did not answer."""
    admin = login_as(client, "township")
    first = _send(
        admin,
        app,
        questions=[{"text": "外出原因?", "kind": "choice", "choices": "务工 | Work\n经商"}],
    )
    with db(app) as session:
        stored = session.get(Survey, first)
        assert stored is not None
        assert stored.questions[0].choices == [{"zh": "务工", "en": "Work"}, {"zh": "经商"}]
    _answer(app, first, world.alice, {"choice": 1})
    page = admin.get("/admin/surveys/new").get_data(as_text=True)
    assert f'value="{first}"' in page
    second = _send(admin, app, nonresponders=str(first))
    with db(app) as session:
        asked = session.scalars(
            select(SurveyRecipient.member_id).where(SurveyRecipient.survey_id == second)
        ).all()
    assert sorted(asked) == sorted([world.bob, world.carol])
    bad = admin.post("/admin/surveys", _form(nonresponders="99999"))
    assert bad.status_code == 400
