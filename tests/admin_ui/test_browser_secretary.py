"""In headless Chromium on a phone-sized screen: a branch secretary sets the branch's window,
uploads the register and rates a member, and the township office links an unknown number,
all without a keyboard shortcut or a sideways scroll."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from devtools.browser import chromium, log_in, no_csp_violations, screenshot, serve
from devtools.servers import free_port
from models import Member, MemberRating, Message, Organization
from tests.admin_ui.world import PASSWORD, World, db

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 740}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium for the module's tests."""
    with chromium() as launched:
        yield launched


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    """A fresh tab the size of a phone screen."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        with no_csp_violations(context):
            tab = context.new_page()
            tab.set_default_timeout(30_000)
            yield tab
    finally:
        context.close()


@pytest.fixture
def live(app: Flask, world: World) -> Iterator[str]:
    """The world's app, served on a free port."""
    with serve(app, free_port()) as url:
        yield url


def fits(page: Page) -> bool:
    """Whether the page needs no sideways scrolling (wide tables scroll inside their box)."""
    page.wait_for_load_state()
    return bool(
        page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
    )


def test_a_branch_secretary_does_the_months_admin_on_a_phone(
    app: Flask, browser: Browser, phone: Page, live: str, world: World, tmp_path: Path
) -> None:
    """Settings, register upload, linking by search and a rating, each on a 375 px screen."""
    log_in(phone, live, "branch", PASSWORD)

    phone.goto(f"{live}/admin/settings/branches/{world.east}")
    assert fits(phone)
    phone.check("input[name=own_window]")
    phone.fill("input[name=window_start]", "12:00")
    phone.fill("input[name=window_end]", "13:00")
    phone.click("button.primary")
    expect(phone.locator(".flash.success")).to_be_visible()
    screenshot(phone, "phone-settings")

    register = tmp_path / "名册.csv"
    register.write_text("姓名,手机号,支部\n周新华,13912340001,东村党支部\n", encoding="utf-8")
    phone.goto(f"{live}/admin/register")
    assert fits(phone)
    phone.set_input_files("input[name=register]", str(register))
    phone.click("button.primary")
    expect(phone.locator("#check")).to_contain_text("1")
    assert fits(phone)
    phone.click("#check button.primary")
    expect(phone.locator(".flash.success")).to_be_visible()

    # Unknown numbers are the township office's (Scope.sees_strangers).
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    office = context.new_page()
    office.set_default_timeout(30_000)
    log_in(office, live, "township", PASSWORD)
    office.goto(f"{live}/admin/inbox?tab=unmatched")
    assert fits(office)
    office.click(f"a[href*='phone=%2B{world.unmatched_phone[1:]}']")
    office.fill("input[name=q]", "李建国")
    with office.expect_navigation():
        office.click("form.filters button")
    assert fits(office)
    screenshot(office, "phone-link-search")
    office.click("#results button.primary")
    expect(office.locator(".flash.success")).to_be_visible()
    context.close()

    phone.goto(f"{live}/admin/review")
    assert fits(phone)
    # The rating's cell: the name's cell has a form of its own (the exemplary mark).
    row = phone.locator("#review tr", has_text="李建国").locator("td.rating")
    row.locator("summary").click()
    row.locator("select[name=grade]").select_option("excellent")
    row.locator("textarea[name=reason]").fill("每月按时汇报")
    row.locator("button.primary").click()
    expect(phone.locator(".flash.success")).to_be_visible()
    expect(phone.locator("#review tr", has_text="李建国")).to_contain_text("优秀")
    screenshot(phone, "phone-review")

    with db(app) as session:
        east = session.get(Organization, world.east)
        assert east is not None and east.settings["contact_window"] == ["12:00", "13:00"]
        assert session.scalar(select(Member.id).where(Member.name == "周新华")) is not None
        message = session.scalar(select(Message).where(Message.phone == world.unmatched_phone))
        assert message is not None and message.member_id == world.bob
        rating = session.scalar(select(MemberRating))
        assert rating is not None and rating.member_id == world.bob
