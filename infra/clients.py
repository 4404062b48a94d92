"""External clients (Redis, the provider) built once per app and reached through it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, current_app
from redis import Redis

if TYPE_CHECKING:
    from infra.providers import Provider


def init_app(app: Flask) -> None:
    """Create the Redis client; the provider is built on first use."""
    app.extensions["redis"] = Redis.from_url(
        app.config["REDIS_URL"], socket_connect_timeout=2, socket_timeout=5
    )


def redis() -> Redis:
    """The app's Redis client."""
    client: Redis = current_app.extensions["redis"]
    return client


def provider() -> Provider:
    """The app's SMS and voice provider, built from its settings on first use."""
    existing = current_app.extensions.get("provider")
    if existing is None:
        from infra.providers import build_provider

        existing = build_provider(current_app.config)
        current_app.extensions["provider"] = existing
    return existing
