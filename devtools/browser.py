"""A live admin for browser tests: the app served on a port, and headless Chromium to drive it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright
from werkzeug.serving import make_server

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = PROJECT_ROOT / "test-output" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
# Debian's Chromium as root on a closed network (see the issue); playback without a gesture.
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]


@contextmanager
def serve(app: Flask, port: int) -> Iterator[str]:
    """Serve the app on 127.0.0.1:port in a thread; yield its base URL."""
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@contextmanager
def chromium() -> Iterator[Browser]:
    """Headless Debian Chromium under Playwright (never Playwright's own download)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def no_csp_violations(context: BrowserContext) -> Iterator[list[str]]:
    """Fail the test if any page of the context broke the Content-Security-Policy.

    Chromium reports a blocked inline script or style, or a refused connection, as a console
    error naming the policy; the list is the test's to read, and checked when the block ends.
    """
    violations: list[str] = []

    def watch(message: ConsoleMessage) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            violations.append(message.text)

    context.on("console", watch)
    yield violations
    assert violations == [], violations


def screenshot(page: Page, name: str, directory: Path = SCREENSHOTS) -> Path:
    """Save the whole page as <directory>/<name>.png."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def log_in(page: Page, base_url: str, username: str, password: str) -> None:
    """Log in through the form, as a person would."""
    page.goto(f"{base_url}/admin/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/admin/")
