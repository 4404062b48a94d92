"""Registers every `flask` command group on the app, each imported only when it is used.

The groups pull in what only a command needs (Alembic, openpyxl, the sandbox and the
simulators), and the web and worker processes that build the app never run a command: a
group is named here and its module imported the first time `flask` lists or runs it.
"""

from __future__ import annotations

import importlib
from typing import Any

import click
from flask import Flask

# name: (module, attribute holding the click group of that name).
GROUPS = (
    ("db", "gateway.migrate", "db_cli"),
    ("orgs", "gateway.cli_register", "orgs_cli"),
    ("members", "gateway.cli_register", "members_cli"),
    ("users", "gateway.cli_register", "users_cli"),
    ("reports", "gateway.cli_reports", "reports_cli"),
    ("privacy", "gateway.cli_privacy", "privacy_cli"),
    ("review", "gateway.cli_review", "review_cli"),
    ("survey", "gateway.cli_survey", "survey_cli"),
    ("templates", "gateway.cli_templates", "templates_cli"),
    ("broadcast", "workers.cli", "broadcast_cli"),
    ("campaign", "workers.cli", "campaign_cli"),
    ("reminders", "workers.cli", "reminders_cli"),
)
# The development tools' groups: only with PROVIDER=sandbox or in debug (devtools.enabled).
DEV_GROUPS = (
    ("demo", "devtools.demo", "demo_cli"),
    ("sandbox", "devtools.sandbox", "sandbox_cli"),
    ("phone", "devtools.phone", "phone_cli"),
)


class LazyGroup(click.Group):
    """Stands in for a command group under its name until `flask` needs the group itself:
    to list its commands, show its help or run it (the group parses its own arguments)."""

    def __init__(self, name: str, module: str, attr: str) -> None:
        super().__init__(name)
        self._where = (module, attr)
        self._loaded: click.Group | None = None

    def loaded(self) -> click.Group:
        """The group, imported the first time it is asked for."""
        if self._loaded is None:
            module, attr = self._where
            group = getattr(importlib.import_module(module), attr)
            if not isinstance(group, click.Group) or group.name != self.name:
                raise RuntimeError(f"{module}.{attr} is not the command group {self.name!r}")
            self._loaded = group
        return self._loaded

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        return self.loaded().make_context(info_name, args, parent, **extra)

    def get_short_help_str(self, limit: int = 45) -> str:
        return self.loaded().get_short_help_str(limit)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return self.loaded().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self.loaded().get_command(ctx, cmd_name)


def init_app(app: Flask) -> None:
    """Add the command groups to `flask`."""
    groups: tuple[tuple[str, str, str], ...] = GROUPS
    if app.extensions.get("devtools"):
        groups += DEV_GROUPS
    for name, module, attr in groups:
        app.cli.add_command(LazyGroup(name, module, attr))
