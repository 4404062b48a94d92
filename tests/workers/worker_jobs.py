"""Job functions the real-worker tests enqueue to see what one job can leave for the next."""

from __future__ import annotations

import threading

from sqlalchemy import update

from models import Member
from workers.context import app_context


def rename_then_fail(member_id: int, name: str) -> None:
    """Change a member's name in the job's session, then fail before committing."""
    with app_context() as session:
        session.execute(update(Member).where(Member.id == member_id).values(name=name))
        session.flush()
        raise RuntimeError("this job fails before it commits")


def hang() -> None:
    """Wait far longer than any timeout a test gives the job."""
    threading.Event().wait(600)
