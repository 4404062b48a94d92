"""POST /cn/<provider>/<feed>/<secret>: what the mainland providers push to us.

Alibaba Cloud and Tencent Cloud push replies and receipts as JSON, sign nothing, and retry a
batch they think we did not take. The address carries a secret path segment
(CN_CALLBACK_SECRET) and, optionally, only the providers' addresses are let in
(CN_CALLBACK_ALLOW); anything else is a 404 that stores nothing. Each provider module
registers a `Feed` for each of its pushes: how a batch is shaped, how one item is read (and
what identifies it, for repeats), what it does, and the exact body its provider wants back.

A body that is not that feed's batch is refused with 400 and nothing is stored. Otherwise
every readable item is stored (models.push) and acted on in one transaction, each in a
savepoint of its own so that one item that fails to act is kept with its error and the rest
go on; unreadable items are named in the answer.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol

from flask import Blueprint, Flask, Response, abort, current_app, request
from sqlalchemy.orm import Session

from infra.db import get_session, write_gate, write_gate_timeout
from models import utcnow
from models.push import ProviderPush, store_push
from models.sql import Raw
from workers.pushes import FEEDS_KEY

bp = Blueprint("cn_push", __name__)
EXTENSION_KEY = FEEDS_KEY  # where the app keeps its feeds (the workers' sweep reads them)
ERROR_LENGTH = 500


class BadBatch(ValueError):
    """The body is not a batch of this feed: nothing of it is stored."""


class BadItem(ValueError):
    """One item of a batch cannot be read: it is named in the answer, the others go on."""


@dataclass(frozen=True)
class PushItem:
    """One pushed item: the provider's identity for it (repeats share it) and its fields."""

    key: str
    payload: dict[str, Any]


class Feed(Protocol):
    """One push of one provider, at /cn/<provider>/<name>/<secret>."""

    provider: str
    name: str

    def batch(self, body: Any) -> list[Any]:
        """The items of a parsed JSON body; BadBatch if it is not this feed's shape."""
        ...

    def read(self, raw: Any) -> PushItem:
        """One item; BadItem if it cannot be read."""
        ...

    def apply(
        self, session: Session, push: ProviderPush, item: PushItem, now: datetime
    ) -> bool | None:
        """Act on a newly stored item (never twice for one key); commit is the caller's.
        False: handed on to a job, which marks it handled (a member's text)."""
        ...

    def answer(self, problems: list[str]) -> Response:
        """The body the provider wants: its acknowledgement, or its refusal naming problems."""
        ...


def init_app(app: Flask) -> None:
    """Register the push addresses; provider modules add their feeds with `register_feed`."""
    app.extensions.setdefault(EXTENSION_KEY, {})
    app.register_blueprint(bp)


def register_feed(app: Flask, feed: Feed) -> None:
    """Serve a feed at /cn/<feed.provider>/<feed.name>/<secret>."""
    app.extensions.setdefault(EXTENSION_KEY, {})[(feed.provider, feed.name)] = feed


@lru_cache(maxsize=8)
def _networks(setting: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(
        ipaddress.ip_network(entry.strip(), strict=False)
        for entry in setting.split(",")
        if entry.strip()
    )


def _address_allowed(address: str | None) -> bool:
    networks = _networks(str(current_app.config["CN_CALLBACK_ALLOW"]))
    if not networks:
        return True
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in network for network in networks)


def _secret_matches(given: str) -> bool:
    secret = str(current_app.config["CN_CALLBACK_SECRET"])
    return bool(secret) and hmac.compare_digest(given.encode(), secret.encode())


@bp.post("/cn/<provider>/<feed_name>/<secret>")
def push(provider: str, feed_name: str, secret: str) -> Response:
    """Store and act on a provider's push; answer with exactly what that provider expects."""
    feed: Feed | None = current_app.extensions[EXTENSION_KEY].get((provider, feed_name))
    if feed is None or not _secret_matches(secret) or not _address_allowed(request.remote_addr):
        abort(404)
    try:
        raws = feed.batch(json.loads(request.get_data(cache=False) or b"null"))
    except (ValueError, BadBatch) as exc:  # json's errors are ValueErrors too
        current_app.logger.warning("%s %s push refused: %s", provider, feed_name, exc)
        response = feed.answer([f"not a {provider} {feed_name} batch"])
        response.status_code = 400
        return response
    items: list[PushItem] = []
    problems: list[str] = []
    for index, raw in enumerate(raws, start=1):
        try:
            items.append(feed.read(raw))
        except BadItem as exc:
            problems.append(f"#{index}: {exc}")
    session = get_session()
    now = utcnow()
    # SQLite: take the write lock before the first read, in turn at the gate, as /sms does. A
    # transaction that read first could not take it later while another process writes
    # ("database is locked" at once), and the item would be kept as failed, never applied.
    with write_gate().hold(write_gate_timeout()):
        Raw.of(session.connection()).begin_write()
        for item in items:
            stored = store_push(session, provider, feed_name, item.key, item.payload, now)
            if stored is None:
                continue  # pushed before: acted on then
            try:
                with session.begin_nested():
                    handed_on = feed.apply(session, stored, item, now) is False
                if not handed_on:
                    stored.handled_at = now
            except Exception as exc:
                current_app.logger.exception("%s %s item %s failed", provider, feed_name, item.key)
                stored.error = f"{type(exc).__name__}: {exc}"[:ERROR_LENGTH]
        session.commit()
    if problems:
        current_app.logger.warning("%s %s push: %s", provider, feed_name, "; ".join(problems))
    return feed.answer(problems)


__all__ = ["BadBatch", "BadItem", "Feed", "PushItem", "init_app", "register_feed"]
