"""The admin's response headers: a Content-Security-Policy its pages keep to, no framing, no
sniffing, no caching of pages with member data."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from flask.testing import FlaskClient

from tests.admin_ui.world import World, admin_pages, login_as


def assert_secure_page_headers(headers: dict[str, str], where: str) -> None:
    """The headers every admin page carries."""
    policy = headers.get("Content-Security-Policy", "")
    directives = {d.split()[0]: d.split()[1:] for d in policy.split("; ") if d}
    assert directives.get("frame-ancestors") == ["'none'"], (where, policy)
    assert directives.get("script-src") == ["'self'"], (where, policy)
    assert directives.get("style-src") == ["'self'"], (where, policy)
    assert directives.get("object-src") == ["'none'"], (where, policy)
    assert headers.get("X-Frame-Options") == "DENY", where
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("Cache-Control") == "no-store", where
    assert headers.get("Referrer-Policy") == "same-origin", where


def test_every_admin_page_sends_the_security_headers(client: FlaskClient, world: World) -> None:
    """Pages, the login form, a 404 and an export all carry the policy and are not stored."""
    anonymous = client.get("/admin/login")
    assert anonymous.status_code == 200
    assert_secure_page_headers(dict(anonymous.headers), "/admin/login")
    admin = login_as(client, "township")
    for path in [*admin_pages(world), "/admin/members/999999", "/admin/reports.xlsx"]:
        response = admin.get(path)
        assert response.status_code in (200, 404), path
        assert_secure_page_headers(dict(response.headers), path)


def test_static_files_may_be_cached_but_not_sniffed(client: FlaskClient, world: World) -> None:
    """The stylesheet and scripts keep their caching; they are still typed strictly."""
    for name in ("admin.css", "composer.js", "progress.js"):
        response = client.get(f"/admin/static/{name}")
        assert response.status_code == 200
        assert "no-store" not in response.headers.get("Cache-Control", "")
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        response.close()


class InlineFinder(HTMLParser):
    """Collects what a strict policy blocks: inline scripts and styles, handlers, style=."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "style":
            self.found.append("<style>")
        if tag == "script" and "src" not in names:
            self.found.append("inline <script>")
        if "style" in names:
            self.found.append(f"style= on <{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"{name}= on <{tag}>")
            if value and value.strip().lower().startswith("javascript:"):
                self.found.append(f"javascript: URL on <{tag}>")


@pytest.mark.parametrize("username", ["township", "branch"])
def test_pages_hold_nothing_the_policy_would_block(
    client: FlaskClient, world: World, username: str
) -> None:
    """No page carries an inline script, a style element or attribute, or an event handler."""
    admin = login_as(client, username)
    for path in admin_pages(world):
        response = admin.get(path)
        if response.status_code != 200:
            continue  # a page this role may not open
        finder = InlineFinder()
        finder.feed(response.get_data(as_text=True))
        assert finder.found == [], path


def test_the_bars_are_drawn_without_a_style_attribute(client: FlaskClient, world: World) -> None:
    """The dashboard's reporting bar and the notice's progress bar are SVG, sized by attribute."""
    admin = login_as(client, "branch")
    dashboard = admin.get("/admin/").get_data(as_text=True)
    assert '<rect class="rest"' in dashboard
    progress = admin.get(f"/admin/broadcasts/{world.broadcast_id}").get_data(as_text=True)
    assert 'role="progressbar"' in progress and '<rect class="rest"' in progress
