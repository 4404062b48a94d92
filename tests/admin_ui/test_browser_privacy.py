"""In headless Chromium: a branch secretary sees a member's number masked, shows it with the
button (no script needed, no CSP violation), and the reveal is in the audit log."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from devtools.browser import chromium, log_in, no_csp_violations, serve
from devtools.servers import free_port
from models import Member
from models.audit import AuditAction, AuditLog
from models.privacy import mask_phone
from tests.admin_ui.world import PASSWORD, World, db

pytestmark = pytest.mark.browser


@pytest.fixture
def tab() -> Iterator[Page]:
    """A fresh Chromium tab that fails the test on any CSP violation."""
    with chromium() as browser:
        context = browser.new_context()
        try:
            with no_csp_violations(context):
                page = context.new_page()
                page.set_default_timeout(30_000)
                yield page
        finally:
            context.close()


def test_show_number_in_a_browser(app: Flask, world: World, tab: Page) -> None:
    """Masked first; "显示号码" shows the full number and writes a reveal to the audit log."""
    with db(app) as session:
        alice = session.get(Member, world.alice)
        assert alice is not None
        phone = alice.phone
    with serve(app, free_port()) as live:
        log_in(tab, live, "branch", PASSWORD)
        tab.goto(f"{live}/admin/members/{world.alice}")
        expect(tab.locator("#member-phone")).to_have_text(mask_phone(phone))
        tab.click("#reveal")
        expect(tab.locator("#member-phone")).to_have_text(phone)
    with db(app) as session:
        entries = session.scalars(
            select(AuditLog).where(AuditLog.action == AuditAction.REVEAL)
        ).all()
        assert [e.target for e in entries] == [f"member:{world.alice}"]
