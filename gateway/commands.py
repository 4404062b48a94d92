"""Registers every `flask` command group on the app."""

from __future__ import annotations

import importlib

from flask import Flask

# module: attribute holding a click group.
GROUPS = (
    ("gateway.migrate", "db_cli"),
    ("gateway.cli_register", "orgs_cli"),
    ("gateway.cli_register", "members_cli"),
    ("gateway.cli_register", "users_cli"),
    ("gateway.demo", "demo_cli"),
    ("gateway.sandbox", "sandbox_cli"),
    ("gateway.phone", "phone_cli"),
    ("gateway.cli_reports", "reports_cli"),
    ("workers.cli", "broadcast_cli"),
    ("workers.cli", "campaign_cli"),
    ("workers.cli", "reminders_cli"),
)


def init_app(app: Flask) -> None:
    """Add the command groups to `flask`."""
    for module_name, attr in GROUPS:
        app.cli.add_command(getattr(importlib.import_module(module_name), attr))
