"""External clients (Redis, the provider) built once per app and reached through it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, current_app
from redis import Redis

if TYPE_CHECKING:
    from infra.provider import Provider


def init_app(app: Flask) -> None:
    """Create the Redis client; the provider is built on first use."""
    app.extensions["redis"] = Redis.from_url(
        app.config["REDIS_URL"], socket_connect_timeout=2, socket_timeout=5
    )


def redis() -> Redis:
    """The app's Redis client."""
    client: Redis = current_app.extensions["redis"]
    return client


def redirect_hosts(setting: str) -> list[str]:
    """RECORDING_REDIRECT_HOSTS as a list of `host` or `host:port` entries."""
    return [entry.strip().lower() for entry in setting.split(",") if entry.strip()]


def provider() -> Provider:
    """The app's SMS and voice provider (Twilio, or the sandbox through the same client)."""
    existing = current_app.extensions.get("provider")
    if existing is None:
        from infra.provider import build_provider

        cfg = current_app.config
        existing = build_provider(
            kind=cfg["PROVIDER"],
            account_sid=cfg["TWILIO_ACCOUNT_SID"],
            auth_token=cfg["TWILIO_AUTH_TOKEN"],
            from_number=cfg["TWILIO_FROM_NUMBER"],
            sandbox_url=cfg["SANDBOX_URL"],
            recording_redirect_hosts=redirect_hosts(cfg["RECORDING_REDIRECT_HOSTS"]),
        )
        current_app.extensions["provider"] = existing
    return existing
