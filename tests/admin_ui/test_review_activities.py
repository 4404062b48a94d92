"""The review page's basis beside the rating, the exemplary mark (树形象) the township sees,
the branches compared, and the basis export from the page."""

from __future__ import annotations

import csv
import io

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from models import Member, utcnow
from models.deed import Exemplar, decide_deed, record_deed
from models.reads.review import BASIS_HEADER
from models.report import Channel
from tests.admin_ui.world import World, db, login_as


def _confirmed_deed(app: Flask, world: World, member_id: int, item: int) -> None:
    with db(app) as session:
        member = session.get(Member, member_id)
        deed = record_deed(session, member=member, item=item, text="好事", channel=Channel.SMS)
        decide_deed(
            session,
            deed,
            confirm=True,
            reason="",
            user_id=world.users["township"],
            user_member_id=None,
            org_id=world.township,
        )
        session.commit()


def test_the_review_shows_the_basis_beside_the_rating(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Bob's confirmed deeds show under contribution, by item, in his row."""
    _confirmed_deed(app, world, world.bob, 4)
    _confirmed_deed(app, world, world.bob, 4)
    page = login_as(client, "branch").get("/admin/review").get_data(as_text=True)
    start = page.index(f"/admin/members/{world.bob}")
    row = page[start : page.index("</tr>", start)]
    assert "帮助一人外出务工 2" in row
    assert "个月按时汇报" in row or "months on time" in row


def test_the_branch_marks_an_exemplary_member_the_township_sees_it(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """The mark with its reason is kept, audited, and on the township's comparison page."""
    year = utcnow().year
    branch = login_as(client, "branch")
    branch.get("/admin/review")
    response = branch.post(
        "/admin/review/exemplar",
        {"member_id": world.bob, "year": year, "reason": "帮五名同乡就业"},
    )
    assert response.status_code == 302
    with db(app) as session:
        mark = session.scalar(select(Exemplar).where(Exemplar.member_id == world.bob))
        assert mark is not None and mark.reason == "帮五名同乡就业"
        assert mark.marked_by == world.users["branch"]
    township = login_as(client, "township")
    page = township.get(f"/admin/review/branches?year={year}").get_data(as_text=True)
    exemplars = page[page.index('id="exemplars"') :]
    assert "李建国" in exemplars and "帮五名同乡就业" in exemplars
    branch = login_as(client, "branch")
    branch.get("/admin/review")
    branch.post(
        "/admin/review/exemplar",
        {"member_id": world.bob, "year": year, "reason": "", "remove": "y"},
    )
    with db(app) as session:
        assert session.scalar(select(Exemplar)) is None


@pytest.mark.parametrize(
    "form",
    [
        {"year": "2025", "reason": ""},
        {"year": "1990", "reason": "好"},
        {"year": "3000", "reason": "好"},
        {"year": "abc", "reason": "好"},
        {"year": "2025", "reason": "好" * 201},
    ],
)
def test_a_bad_exemplary_mark_is_refused(
    app: Flask, client: FlaskClient, world: World, form: dict[str, str]
) -> None:
    """No reason, a year out of range or not a number, a reason too long: a message."""
    branch = login_as(client, "branch")
    branch.get("/admin/review")
    response = branch.post(
        "/admin/review/exemplar", {"member_id": world.bob, **form}, follow_redirects=True
    )
    assert response.status_code == 200
    assert 'class="flash error"' in response.get_data(as_text=True)
    with db(app) as session:
        assert session.scalar(select(Exemplar)) is None


def test_a_member_of_another_branch_cannot_be_marked(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """The east secretary cannot mark a west member: 404."""
    branch = login_as(client, "branch")
    branch.get("/admin/review")
    response = branch.post(
        "/admin/review/exemplar",
        {"member_id": world.carol, "year": utcnow().year, "reason": "好"},
    )
    assert response.status_code == 404


def test_the_branches_page_counts_and_charts(app: Flask, client: FlaskClient, world: World) -> None:
    """East: two members, one with a confirmed deed; the chart has a bar per branch."""
    _confirmed_deed(app, world, world.bob, 5)
    page = login_as(client, "township").get("/admin/review/branches").get_data(as_text=True)
    start = page.index(f'data-branch="{world.east}"')
    row = page[start : page.index("</tr>", start)]
    assert '<td class="num active">1</td>' in row and '<td class="num item-5">1</td>' in row
    assert page.count('class="bar-fill"') == 2
    assert "50%" in page
    assert login_as(client, "host").get("/admin/review/branches").status_code == 403


def test_the_basis_export_from_the_page(app: Flask, client: FlaskClient, world: World) -> None:
    """The review page's basis CSV has the command's header and only the user's members."""
    _confirmed_deed(app, world, world.bob, 2)
    admin = login_as(client, "branch")
    body = admin.get("/admin/review/basis.csv").get_data()
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == list(BASIS_HEADER)
    names = {row[1]: row for row in rows[1:]}
    assert set(names) == {"王秀英", "李建国"}
    assert names["李建国"][7] == "1"
    assert admin.get("/admin/review/basis.xlsx").status_code == 200
