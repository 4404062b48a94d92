"""Input from outside that once gave 500: huge numbers, and season names no file may carry."""

from __future__ import annotations

import io
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook

from tests.admin_ui.world import World, login_as

HUGE = "99999999999999999999999"
INT_ARG = re.compile(r"<int:\w+>")


def test_a_huge_id_in_any_route_is_not_found(app: Flask, client: FlaskClient, world: World) -> None:
    """Every route with a whole number in its path answers 404 to one no database holds."""
    admin = login_as(client, "township")
    rules = [rule for rule in app.url_map.iter_rules() if INT_ARG.search(rule.rule)]
    assert len(rules) >= 10  # members, recordings, help, broadcasts, lessons, tasks, settings
    for rule in rules:
        path = INT_ARG.sub(HUGE, rule.rule)
        for method in sorted({"GET", "POST"} & (rule.methods or set())):
            response = admin.get(path) if method == "GET" else admin.post(path, {})
            assert response.status_code == 404, (method, path, response.status_code)
        if "GET" in (rule.methods or set()):
            assert admin.get(INT_ARG.sub("2147483648", rule.rule)).status_code == 404


@pytest.mark.parametrize(
    "address",
    [
        "/admin/?page={n}",
        "/admin/members?page={n}",
        "/admin/reports?branch={n}",
        "/admin/reports?page={n}",
        "/admin/reports.csv?branch={n}",
        "/admin/nonreporters?min={n}&page={n}&branch={n}",
        "/admin/nonreporters/roster?page={n}&branch={n}",
        "/admin/review?year={n}&page={n}",
        "/admin/review.xlsx?year={n}",
        "/admin/inbox?tab=unmatched&page={n}",
        "/admin/help?page={n}",
        "/admin/broadcasts?page={n}",
        "/admin/broadcasts/estimate?text=x&branches={n}&hosts={n}",
        "/admin/lessons?page={n}",
        "/admin/audit?user={n}&page={n}",
        "/admin/tasks?page={n}",
    ],
)
def test_a_huge_number_in_a_query_argument_is_ignored_or_refused(
    client: FlaskClient, world: World, address: str
) -> None:
    """A page, branch, year or user of 23 digits: the page works (the argument ignored) or
    answers 400/404, never 500."""
    admin = login_as(client, "township")
    for number in (HUGE, "2147483647"):
        response = admin.get(address.format(n=number))
        assert response.status_code in (200, 400, 404), (address, number, response.status_code)


@pytest.mark.parametrize(
    ("address", "form"),
    [
        ("/admin/nonreporters/flag", {"season": "2027春节", "member_ids": HUGE}),
        ("/admin/nonreporters/roster/attendance", {"season": "2027春节", "flag_ids": HUGE}),
        ("/admin/inbox/handled", {"message_ids": HUGE, "recording_ids": HUGE}),
        ("/admin/inbox/link", {"phone": "+8613900000099", "member_id": HUGE}),
        ("/admin/review/rate", {"member_id": HUGE, "year": "2026", "grade": "qualified"}),
    ],
)
def test_a_huge_id_in_a_form_changes_nothing_and_is_no_500(
    client: FlaskClient, world: World, address: str, form: dict[str, str]
) -> None:
    """Ids of 23 digits posted in a form are refused like any id not the user's."""
    admin = login_as(client, "township")
    response = admin.post(address, {**form, "reason": "x"})
    assert response.status_code in (302, 400, 404), (address, response.status_code)


def test_a_huge_host_in_the_member_form_is_refused(client: FlaskClient, world: World) -> None:
    """The host organisation must be one of the choices; a huge id is not."""
    admin = login_as(client, "township")
    response = admin.post(
        f"/admin/members/{world.bob}/edit",
        {"name": "李建国", "status": "full", "language": "zh_CN", "host_org_id": HUGE},
    )
    assert response.status_code == 400


SEASON = '2027/春节\\补课?*[名单]:\n"第一批"'


def test_a_season_with_any_characters_exports_as_csv_and_xlsx(
    client: FlaskClient, world: World
) -> None:
    """A season named with / \\ ? * [ ] : a quote and a newline: the roster, its CSV and its
    XLSX are served, the sheet title and the file name made safe."""
    admin = login_as(client, "branch")
    flagged = admin.post(
        "/admin/nonreporters/flag", {"season": SEASON, "member_ids": [world.bob], "reason": "x"}
    )
    assert flagged.status_code == 302
    assert (
        admin.get("/admin/nonreporters/roster", query_string={"season": SEASON}).status_code == 200
    )
    for fmt in ("csv", "xlsx"):
        response = admin.get(f"/admin/nonreporters/roster.{fmt}", query_string={"season": SEASON})
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
        disposition = response.headers["Content-Disposition"]
        assert "\n" not in disposition and "\r" not in disposition
        plain = disposition.split('filename="', 1)[1].split('"', 1)[0]
        assert not set(plain) & set('/\\?*:"')
        assert disposition.endswith(f".{fmt}")
    book = load_workbook(io.BytesIO(response.get_data()))
    sheet = book.active
    assert sheet is not None
    assert not set(sheet.title) & set("/\\?*[]:\n")
    assert [row[1] for row in sheet.iter_rows(min_row=2, values_only=True)] == ["李建国"]
