"""In headless Chromium: a township user starts from the ready-made 五个摸清, sends it, and
sees its results page, with no CSP violation and no sideways scroll on a phone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from devtools.browser import chromium, log_in, no_csp_violations, screenshot, serve
from devtools.servers import free_port
from models.survey import Survey, SurveyStatus
from tests.admin_ui.world import PASSWORD, World, db

pytestmark = pytest.mark.browser


@pytest.fixture
def tab() -> Iterator[Page]:
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
        try:
            with no_csp_violations(context):
                page = context.new_page()
                page.set_default_timeout(30_000)
                yield page
        finally:
            context.close()


def test_the_ready_made_survey_is_sent_from_the_browser(
    app: Flask, world: World, tab: Page
) -> None:
    with serve(app, free_port()) as live:
        log_in(tab, live, "township", PASSWORD)
        tab.goto(f"{live}/admin/surveys")
        tab.click("a[href$='start=ready']")
        expect(tab.locator("input[name='q-0-text']")).not_to_have_value("")
        tab.fill("input[name=title]", "五个摸清 2027-01")
        tab.click("button.primary")
        expect(tab.locator(".flash.success")).to_be_visible()
        expect(tab.locator("#f-recipients")).to_have_text("3")
        assert tab.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
        screenshot(tab, "survey-results")
    with db(app) as session:
        survey = session.scalars(select(Survey)).one()
        assert survey.title == "五个摸清 2027-01" and survey.status is SurveyStatus.OPEN
