"""The sandbox: a small local service speaking the part of Twilio's REST API the app uses."""

from __future__ import annotations

from devtools.sandbox.app import create_sandbox_app, register_cli, sandbox_cli, serve

__all__ = ["create_sandbox_app", "register_cli", "sandbox_cli", "serve"]
