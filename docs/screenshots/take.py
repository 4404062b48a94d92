"""Take the README's screenshots of the admin from the demo township, in headless Chromium.

Run: .venv/bin/python docs/screenshots/take.py

Everything is throwaway: a SQLite file with `flask demo`'s data, a redis-server, the sandbox
(so the recording plays) and the app, served on free ports. It writes dashboard.png,
member-file.png and composer.png next to this script.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent

from sqlalchemy import select  # noqa: E402

from devtools.browser import chromium, log_in, screenshot, serve  # noqa: E402
from devtools.demo import DEMO_PASSWORD, load_demo  # noqa: E402
from devtools.sandbox import create_sandbox_app  # noqa: E402
from devtools.servers import free_port, redis_server  # noqa: E402
from gateway import create_app  # noqa: E402
from gateway.migrate import upgrade  # noqa: E402
from infra.db import get_session  # noqa: E402
from models import Channel, Member, Recording, period_of, record_report  # noqa: E402

NOTICE = "各位流动党员同志:本月二十日前请完成党费缴纳和学习汇报,回复HB1即可汇报。如有困难请及时联系村支部书记或联络员,我们会尽快帮助解决。谢谢大家"


def main() -> None:
    """Load the demo, serve it, and photograph three pages."""
    with tempfile.TemporaryDirectory(prefix="screenshots-") as tmp:
        workdir = Path(tmp)
        database = f"sqlite:///{workdir / 'demo.db'}"
        upgrade(database)
        sandbox_port, app_port = free_port(), free_port()
        sandbox = create_sandbox_app(str(workdir / "sandbox.db"), "demo-token")
        with (
            redis_server(workdir / "redis") as redis_url,
            serve(sandbox, sandbox_port) as sandbox_url,
        ):
            app = create_app(
                {
                    "DATABASE_URL": database,
                    "REDIS_URL": redis_url,
                    "SANDBOX_URL": sandbox_url,
                    "TWILIO_AUTH_TOKEN": "demo-token",
                    "PUBLIC_BASE_URL": f"http://127.0.0.1:{app_port}",
                    "SECRET_KEY": "screenshots",
                    "UPLOAD_DIR": str(workdir / "uploads"),
                }
            )
            with app.app_context():
                session = get_session()
                now = datetime.now(UTC)
                load_demo(session, now)
                # The demo's reports stop last month; mid-month, about two thirds are in.
                for member in session.scalars(select(Member).order_by(Member.id)):
                    if member.id % 3:
                        record_report(
                            session,
                            member,
                            period=period_of(now),
                            studied=member.id % 5 != 0,
                            channel=Channel.SMS,
                            at=now,
                        )
                session.commit()
                member_id = session.scalar(select(Recording.member_id).limit(1))
            with serve(app, app_port) as url, chromium() as browser:
                page = browser.new_page(viewport={"width": 1280, "height": 860})
                log_in(page, url, "township", DEMO_PASSWORD)
                screenshot(page, "dashboard", HERE)
                page.goto(f"{url}/admin/members/{member_id}")
                page.locator("#recordings audio").first.evaluate(
                    "el => new Promise(ok => el.readyState > 0 ? ok() : "
                    "el.addEventListener('loadedmetadata', ok, {once: true}))"
                )
                screenshot(page, "member-file", HERE)
                page.goto(f"{url}/admin/broadcasts/new")
                page.locator("textarea[name=text]").press_sequentially(NOTICE)
                page.locator("#f-segments").filter(has_text="2").wait_for()
                screenshot(page, "composer", HERE)
            app.extensions["db_engine"].dispose()
    print(f"screenshots written to {HERE}")


if __name__ == "__main__":
    main()
