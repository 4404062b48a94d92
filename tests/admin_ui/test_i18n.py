"""Translations: every message of the admin has its Chinese, and the compiled catalogue is current."""

from __future__ import annotations

import gettext
import io
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask.testing import FlaskClient

from tests.admin_ui.world import AdminClient, World, login_as

ADMIN = Path(__file__).resolve().parents[2] / "admin_ui"
CATALOGUE = ADMIN / "translations" / "zh" / "LC_MESSAGES"


def _catalogue() -> Catalog:
    with (CATALOGUE / "messages.po").open("rb") as handle:
        return read_po(handle)


def test_every_message_in_the_code_has_a_chinese_translation() -> None:
    """Messages in the views, forms and templates are all in the zh catalogue, translated."""
    keywords = {**DEFAULT_KEYWORDS, "_l": None}
    found = {
        message[2] if isinstance(message[2], str) else message[2][0]
        for message in extract_from_dir(
            str(ADMIN),
            method_map=[("**.py", "python"), ("templates/**.html", "jinja2")],
            keywords=keywords,
        )
    }
    translated = {m.id: m.string for m in _catalogue() if m.id}
    missing = sorted(m for m in found if not translated.get(m))
    assert missing == []
    assert len(found) > 250


def test_the_compiled_catalogue_matches_its_source() -> None:
    """The committed .mo is what compiling the committed .po gives (run pybabel compile)."""
    compiled = io.BytesIO()
    write_mo(compiled, _catalogue())
    compiled.seek(0)
    fresh = gettext.GNUTranslations(compiled)
    with (CATALOGUE / "messages.mo").open("rb") as handle:
        committed = gettext.GNUTranslations(handle)
    # The header entry ("") names the Babel version that compiled it; only the messages count.
    messages = {
        key: value
        for key, value in fresh._catalog.items()  # type: ignore[attr-defined]  # gettext keeps its table there
        if key != ""
    }
    stored = {
        key: value
        for key, value in committed._catalog.items()  # type: ignore[attr-defined]  # as above
        if key != ""
    }
    assert stored == messages


def test_pages_are_chinese_first_and_english_on_request(client: FlaskClient, world: World) -> None:
    """A new session sees Chinese; the language switch turns the same page English."""
    admin = login_as(client, "branch")
    chinese = admin.get("/admin/").get_data(as_text=True)
    assert "未汇报名单" in chinese and "Non-reporters" not in chinese
    admin.post("/admin/language", {"lang": "en", "next": "/admin/"})
    english = admin.get("/admin/").get_data(as_text=True)
    assert "Non-reporters" in english and "未汇报名单" not in english


def test_english_choice_stays_with_the_user(client: FlaskClient, world: World) -> None:
    """A user who chose English gets English at the next login too."""
    admin = login_as(client, "branch")
    admin.post("/admin/language", {"lang": "en", "next": "/admin/"})
    admin.post("/admin/logout")
    client.delete_cookie("session")
    again = AdminClient(client)
    again.login("branch")
    assert "Non-reporters" in again.get("/admin/").get_data(as_text=True)
