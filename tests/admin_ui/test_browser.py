"""In headless Chromium: flag non-reporters and export, send a notice and watch it go,
play a recording, and the composer's segment counter against the Python one."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect
from redis import Redis

from devtools.browser import chromium, log_in, no_csp_violations, screenshot, serve
from devtools.servers import free_port
from infra.db import get_session
from models import Organization, Recording
from models.segments import count_segments
from tests.admin_ui.world import PASSWORD, World
from tests.factories import open_window_now
from tests.gateway.sandbox_api import running_sandbox
from tests.support import AUTH_TOKEN
from tests.workers.jobs import ACCOUNT_SID, run_jobs

pytestmark = pytest.mark.browser

STATIC = Path(__file__).resolve().parents[2] / "admin_ui" / "static"
NOTICE_71 = "各位流动党员同志:本月二十日前请完成党费缴纳和学习汇报,回复HB1即可汇报。如有困难请及时联系村支部书记或联络员,我们会尽快帮助解决。谢谢大家"
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium for the module's tests."""
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser tab (its own cookies) the size of a laptop screen."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    try:
        with no_csp_violations(context):
            tab = context.new_page()
            tab.set_default_timeout(WAIT_MS)
            yield tab
    finally:
        context.close()


@pytest.fixture(scope="module")
def browser_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A sandbox process answering for the test app's account."""
    db_path = tmp_path_factory.mktemp("browser-sandbox") / "sandbox.db"
    with running_sandbox(db_path, auth_token=AUTH_TOKEN, account_sid=ACCOUNT_SID) as url:
        yield url


@pytest.fixture
def live_port() -> int:
    """The port the live app will listen on (its public URL must be known before it is built)."""
    return free_port()


@pytest.fixture
def app_config(app_config: dict[str, Any], live_port: int, browser_sandbox: str) -> dict[str, Any]:
    """The app, public at its live address (so the sandbox's callbacks reach it)."""
    app_config["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{live_port}"
    app_config["SANDBOX_URL"] = browser_sandbox
    app_config["SEND_RATE_SEGMENTS_PER_S"] = 10_000.0
    return app_config


@pytest.fixture
def live(app: Flask, world: World, live_port: int) -> Iterator[str]:
    """The world's app, served on its port."""
    with serve(app, live_port) as url:
        yield url


def test_branch_flags_two_non_reporters_and_exports_the_roster(
    page: Page, live: str, world: World
) -> None:
    """A branch secretary ticks two members, flags them for 2027春节 and downloads the CSV."""
    log_in(page, live, "branch", PASSWORD)
    page.goto(f"{live}/admin/nonreporters?season=2027春节")
    page.get_by_label("王秀英").check()
    page.get_by_label("李建国").check()
    page.fill("#flag-form input[name=season]", "2027春节")
    screenshot(page, "nonreporters")
    page.click("#flag-form button[type=submit]")
    expect(page.locator(".flash.success")).to_contain_text("2")
    page.goto(f"{live}/admin/nonreporters/roster?season=2027春节")
    expect(page.locator("#roster tbody tr")).to_have_count(2)
    with page.expect_download() as download_info:
        page.click("#export-csv")
    path = download_info.value.path()
    rows = list(csv.reader(io.StringIO(Path(path).read_text(encoding="utf-8-sig"))))
    assert sorted(row[1] for row in rows[1:]) == ["李建国", "王秀英"]
    screenshot(page, "roster")


def test_township_composes_a_two_segment_notice_and_watches_it_go(
    app: Flask, page: Page, live: str, world: World, redis_client: Redis
) -> None:
    """71 Chinese characters make 2 segments as typed; once sent, the bar reaches the end."""
    with app.app_context():
        session = get_session()
        township = session.get(Organization, world.township)
        assert township is not None
        open_window_now(township)  # the members may be texted now
        session.commit()
    log_in(page, live, "township", PASSWORD)
    page.goto(f"{live}/admin/broadcasts/new")
    expect(page.locator("#f-when")).to_have_text("各成员都在联系时段内,立即发送。")
    textarea = page.locator("textarea[name=text]")
    textarea.press_sequentially(NOTICE_71[:70])
    expect(page.locator("#f-segments")).to_have_text("1")
    textarea.press_sequentially(NOTICE_71[70:])
    expect(page.locator("#f-characters")).to_have_text("71")
    expect(page.locator("#f-encoding")).to_have_text("UCS-2")
    expect(page.locator("#f-segments")).to_have_text("2")
    expect(page.locator("#f-per-segment")).to_have_text("67")
    expect(page.locator("#f-cost")).to_have_text("0.30")  # 2 segments x 3 members x 0.05
    screenshot(page, "composer")
    page.click("#composer button[type=submit]")
    page.wait_for_url("**/admin/broadcasts/*")
    percent = page.locator("#progress [data-key=percent]")
    for _ in range(50):  # each round runs the queued jobs, then waits up to 2 s for the bar
        with app.app_context():
            run_jobs(redis_client)
        try:
            expect(percent).to_have_text("100%", timeout=2000)
            break
        except AssertionError:
            continue
    expect(percent).to_have_text("100%")
    expect(page.locator("#progress [data-key=queued]")).to_have_text("0")
    expect(page.locator("#progress [data-key=recipients]")).to_have_text("3")
    screenshot(page, "broadcast-progress")


def test_member_file_plays_a_recording(
    app: Flask, page: Page, live: str, world: World, browser_sandbox: str
) -> None:
    """The member's spoken report, fetched from the provider's URL, loads and plays."""
    with app.app_context():
        session = get_session()
        recording = session.get(Recording, world.recording_id)
        assert recording is not None
        recording.url = f"{browser_sandbox}/_sandbox/recordings/RE0123456789abcdef"
        session.commit()
    log_in(page, live, "branch", PASSWORD)
    page.goto(f"{live}/admin/members/{world.alice}")
    audio = page.locator("#recordings audio").first
    expect(audio).to_be_visible()
    state = audio.evaluate(
        """async (el) => {
            if (el.readyState < 1) {
                await new Promise((ok, fail) => {
                    el.addEventListener('loadedmetadata', ok, {once: true});
                    el.addEventListener('error', () => fail(new Error('audio error')), {once: true});
                    el.load();
                });
            }
            await el.play();
            return {duration: el.duration, paused: el.paused, error: el.error};
        }"""
    )
    assert state["error"] is None
    assert 0.5 < state["duration"] < 2
    assert state["paused"] is False
    screenshot(page, "member-file")


TEXTS = [
    "",
    "HB 1",
    "a" * 161,
    "{[~]}" * 40,
    "€" * 81,
    "中" * 70,
    "中" * 71,
    "中" * 134 + "a",
    "通知😀" * 30,
    "😀" * 34,
    NOTICE_71,
    "Zürich ñ ß Ä\n第二行",
]


def test_composer_counter_matches_the_python_one(page: Page) -> None:
    """The JavaScript port counts every sample text exactly as models.segments does."""
    page.set_content("<!doctype html><meta charset='utf-8'><p>segments</p>")
    page.add_script_tag(path=str(STATIC / "segments.js"))
    for text in TEXTS:
        js = page.evaluate("(t) => window.countSegments(t)", text)
        info = count_segments(text)
        assert js == {
            "encoding": info.encoding,
            "characters": info.characters,
            "units": info.units,
            "segments": info.segments,
            "per_segment": info.per_segment,
        }, text


def test_lesson_player_is_full_width_on_a_phone(browser: Browser, live: str, world: World) -> None:
    """On a phone-size screen the lesson's player spans the screen and is fully in view."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        with no_csp_violations(context):
            tab = context.new_page()
            tab.set_default_timeout(WAIT_MS)
            log_in(tab, live, "township", PASSWORD)
            tab.goto(f"{live}/admin/lessons")
            audio = tab.locator(
                f"#lessons tr.player audio[src$='/lessons/{world.lesson_id}/audio']"
            )
            expect(audio).to_be_visible()
            box = audio.bounding_box()
            assert box is not None
            assert box["width"] >= 0.85 * 390, box
            assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
            assert box["height"] >= 32, box
            screenshot(tab, "lessons-phone")
    finally:
        context.close()


def test_a_branch_notice_waits_for_the_townships_approval(
    app: Flask, browser: Browser, page: Page, live: str, world: World
) -> None:
    """Over a threshold of one member: the composer says the notice needs approval, it waits
    as pending; the township user sees its cost and recipients and approves it."""
    with app.app_context():
        session = get_session()
        township = session.get(Organization, world.township)
        assert township is not None
        township.settings = {
            **(township.settings or {}),
            "notice_approval": {"members": 1, "cost": None, "township_own": False},
        }
        session.commit()
    log_in(page, live, "branch", PASSWORD)
    page.goto(f"{live}/admin/broadcasts/new")
    expect(page.locator("#f-approval")).to_be_visible()
    page.locator("textarea[name=text]").press_sequentially("周六上午九点村委会开会")
    page.click("#composer button[type=submit]")
    page.wait_for_url("**/admin/broadcasts/*")
    expect(page.locator("#approval h2")).to_have_text("待审批")
    expect(page.locator("#approve-form")).to_have_count(0)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        with no_csp_violations(context):
            approver = context.new_page()
            approver.set_default_timeout(WAIT_MS)
            log_in(approver, live, "township", PASSWORD)
            approver.goto(f"{live}/admin/approvals")
            approver.locator("#pending tbody a").first.click()
            expect(approver.locator("#approval-recipients")).to_have_text("2")
            expect(approver.locator("#approval-cost")).to_contain_text("0.10")
            expect(approver.locator("#targeted tbody tr")).to_have_count(2)
            screenshot(approver, "approval")
            approver.click("#approve-form button[type=submit]")
            expect(approver.locator(".flash.success")).to_contain_text("已审批通过")
            expect(approver.locator("#approval")).to_have_count(0)
    finally:
        context.close()
