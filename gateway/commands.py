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
    ("gateway.cli_reports", "reports_cli"),
    ("gateway.cli_privacy", "privacy_cli"),
    ("gateway.cli_review", "review_cli"),
    ("gateway.cli_survey", "survey_cli"),
    ("gateway.cli_templates", "templates_cli"),
    ("gateway.cli_survey", "survey_cli"),
    ("workers.cli", "broadcast_cli"),
    ("workers.cli", "campaign_cli"),
    ("workers.cli", "reminders_cli"),
)
# The development tools' groups: only with PROVIDER=sandbox or in debug (devtools.enabled).
DEV_GROUPS = (
    ("devtools.demo", "demo_cli"),
    ("devtools.sandbox", "sandbox_cli"),
    ("devtools.phone", "phone_cli"),
)


def init_app(app: Flask) -> None:
    """Add the command groups to `flask`."""
    groups: tuple[tuple[str, str], ...] = GROUPS
    if app.extensions.get("devtools"):
        groups += DEV_GROUPS
    for module_name, attr in groups:
        app.cli.add_command(getattr(importlib.import_module(module_name), attr))
