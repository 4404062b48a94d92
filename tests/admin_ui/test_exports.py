"""Exports against formula injection, and season names that are no file or sheet name."""

from __future__ import annotations

import csv
import io
import re
import uuid
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import select
from werkzeug.test import TestResponse

from models import Member
from models.privacy import mask_phone
from tests.admin_ui.world import AdminClient, World, db, login_as
from tests.support import TwilioClient

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
E164 = re.compile(r"^\+\d{6,15}$")
HYPERLINK = '=HYPERLINK("http://x","y")'
SEASON = "2027春节"


def _sms(client: FlaskClient, sender: str, body: str) -> None:
    params = {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "AccountSid": "AC" + "0" * 32,
        "From": sender,
        "To": "+8610690000",
        "Body": body,
        "NumMedia": "0",
    }
    assert TwilioClient(client).post("/sms", params).status_code == 200


def _csv_cells(response: TestResponse) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    text = response.get_data(as_text=True).lstrip("\ufeff")
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def _xlsx_cells(data: bytes, *, full_phones: bool = True) -> list[Any]:
    """Every cell's value; no cell is a formula, and phone numbers (when the export carries
    them in full) are text cells formatted as text."""
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet is not None
    cells = [cell for row in sheet.iter_rows() for cell in row]
    formulas = [cell.value for cell in cells if cell.data_type == "f"]
    assert formulas == []
    phones = [c for c in cells if isinstance(c.value, str) and E164.match(c.value)]
    assert bool(phones) is full_phones
    assert all((c.data_type, c.number_format) == ("s", "@") for c in phones)
    return [cell.value for cell in cells]


def _assert_inert(cells: list[Any], *expected: str) -> None:
    """No text cell starts like a formula (a phone number aside), and each expected
    neutralised value is there."""
    for cell in cells:
        if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
            assert E164.match(cell), cell
    for value in expected:
        assert value in cells, (value, cells)


def _import_register(admin: AdminClient, name: str, phone: str) -> None:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([["姓名", "手机号", "支部"], [name, phone, "东村党支部"]])
    data = buffer.getvalue().encode("utf-8")
    checked = admin.post(
        "/admin/register",
        {"register": (io.BytesIO(data), "名册.csv")},
        content_type="multipart/form-data",
    )
    body = checked.get_data(as_text=True)
    marker = 'name="token" value="'
    assert marker in body, body[:3000]
    token = body.split(marker, 1)[1].split('"', 1)[0]
    assert admin.post("/admin/register/apply", {"token": token}).status_code == 302


def test_formulas_from_sms_register_and_staff_are_inert_in_every_export(
    app: Flask, client: FlaskClient, world: World, tmp_path: Path
) -> None:
    """A formula texted as an employer, typed as a register name, as a make-up reason and as a
    rating reason is written with a leading quote in every CSV and XLSX export, and no XLSX
    cell is a formula; the township (which does not call members) gets numbers masked, the
    branch secretary's export writes them as they are."""
    with db(app) as session:
        alice = session.get(Member, world.alice)
        assert alice is not None
        alice_phone = alice.phone
    _sms(client, alice_phone, f"DT 广州 {HYPERLINK}")
    _sms(client, alice_phone, f"HB 1 广州 {HYPERLINK}")
    admin = login_as(client, "township")
    _import_register(admin, HYPERLINK, "+8613912340077")
    with db(app) as session:
        stranger = session.scalars(select(Member).where(Member.phone == "+8613912340077")).one()
        assert stranger.name == HYPERLINK
        stranger_id = stranger.id
    reason = "@SUM(1+1)*cmd|' /C calc'!A0"
    flagged = admin.post(
        "/admin/nonreporters/flag",
        {"season": SEASON, "member_ids": [world.alice, stranger_id], "reason": reason},
    )
    assert flagged.status_code == 302
    year = int(world.period[:4])
    rated = admin.post(
        "/admin/review/rate",
        {"member_id": str(world.alice), "year": str(year), "grade": "qualified", "reason": "-1+1"},
    )
    assert rated.status_code == 302

    employer = "'=HYPERLINK"
    name = "'" + HYPERLINK
    masked = mask_phone(alice_phone)
    exports = {
        f"/admin/reports.%s?period={world.period}": (employer, name, masked),
        f"/admin/nonreporters/roster.%s?season={SEASON}": (employer, name, "'" + reason),
        f"/admin/review.%s?year={year}": (name, "'-1+1", masked),
    }
    for address, expected in exports.items():
        cells = _csv_cells(admin.get(address % "csv"))
        assert alice_phone not in cells
        _assert_inert(cells, *expected)
        xlsx = admin.get(address % "xlsx")
        assert xlsx.status_code == 200
        _assert_inert(_xlsx_cells(xlsx.get_data(), full_phones=False), *expected)
    secretary = login_as(client, "branch")
    address = f"/admin/reports.%s?period={world.period}"
    _assert_inert(_csv_cells(secretary.get(address % "csv")), employer, alice_phone)
    xlsx = secretary.get(address % "xlsx")
    _assert_inert(_xlsx_cells(xlsx.get_data()), employer, alice_phone)

    runner = app.test_cli_runner()
    result = runner.invoke(args=["reports", "export", "--period", world.period])
    assert result.exit_code == 0, result.output
    cells = [cell for row in csv.reader(io.StringIO(result.stdout)) for cell in row]
    _assert_inert(cells, employer, name, alice_phone)
    out = tmp_path / "reports.xlsx"
    result = runner.invoke(args=["reports", "export", "--period", world.period, "--out", str(out)])
    assert result.exit_code == 0, result.output
    _assert_inert(_xlsx_cells(out.read_bytes()), employer, name, alice_phone)
