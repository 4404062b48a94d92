"""`flask orgs import`, `flask members import` and `flask users create|password|disable`."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.db import get_session
from models import Role, User, find_org
from models.audit import AuditAction, audit
from models.register import ImportFileError, ImportResult, import_members, import_orgs, read_table
from models.user import deactivate_user, set_password

orgs_cli = AppGroup("orgs", help="Organisations: townships, branches, host organisations.")
members_cli = AppGroup("members", help="The member register.")
users_cli = AppGroup("users", help="Admin users.")

FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _report(result: ImportResult, dry_run: bool) -> None:
    for error in result.errors:
        click.echo(str(error), err=True)
    if result.errors:
        click.echo(
            f"{len(result.errors)} 行有错误，未导入任何数据 / "
            f"{len(result.errors)} bad rows: nothing was imported",
            err=True,
        )
        sys.exit(1)
    verb = "would be" if dry_run else "were"
    click.echo(
        f"新增 {result.created}，更新 {result.updated}，未变 {result.unchanged} / "
        f"{result.created} created, {result.updated} updated, {result.unchanged} unchanged "
        f"({verb} written)"
    )


@orgs_cli.command("import")
@click.argument("file", type=FILE)
@click.option("--dry-run", is_flag=True, help="Check the file and write nothing.")
def import_orgs_command(file: Path, dry_run: bool) -> None:
    """Create or update organisations from a CSV or XLSX file."""
    session = get_session()
    try:
        result = import_orgs(session, read_table(file), timezone=current_app.config["TIMEZONE"])
    except ImportFileError as exc:
        raise click.ClickException(str(exc)) from exc
    if result.ok and not dry_run:
        session.commit()
    else:
        session.rollback()
    _report(result, dry_run)


@members_cli.command("import")
@click.argument("file", type=FILE)
@click.option("--dry-run", is_flag=True, help="Check the file and write nothing.")
def import_members_command(file: Path, dry_run: bool) -> None:
    """Create or update members from the register (CSV or XLSX, Chinese or English headers).
    Records that the branch told each member on it what is kept (the privacy notice)."""
    session = get_session()
    try:
        result = import_members(
            session,
            read_table(file),
            region=current_app.config["DEFAULT_REGION"],
            dry_run=dry_run,
        )
    except ImportFileError as exc:
        raise click.ClickException(str(exc)) from exc
    if result.ok and not dry_run:
        session.commit()
    else:
        session.rollback()
    _report(result, dry_run)


@users_cli.command("create")
@click.option("--username", required=True)
@click.option("--password", required=True)
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--org", "org_name", required=True, help="The organisation the user belongs to.")
@click.option("--name", "display_name", default=None, help="The name shown in the admin.")
def create_user_command(
    username: str, password: str, role: str, org_name: str, display_name: str | None
) -> None:
    """Create an admin user with a role scoped to one organisation."""
    session = get_session()
    org = find_org(session, org_name)
    if org is None:
        raise click.ClickException(f"未知组织 unknown organisation: {org_name}")
    if session.scalar(select(User).where(User.username == username)):
        raise click.ClickException(f"用户名已存在 username taken: {username}")
    if len(password) < 8:
        raise click.ClickException("密码至少8位 password must have at least 8 characters")
    user = User(username=username, role=Role(role), org_id=org.id, display_name=display_name)
    set_password(user, password)
    session.add(user)
    session.commit()
    click.echo(f"created user {username} ({role}, {org.name})")


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise click.ClickException(f"未知用户 unknown user: {username}")
    return user


@users_cli.command("password")
@click.option("--username", required=True)
@click.password_option("--password", help="The new password (asked for when left out).")
def password_command(username: str, password: str) -> None:
    """Set a user's password; every session the user has is logged out."""
    session = get_session()
    user = _user(session, username)
    if len(password) < 8:
        raise click.ClickException("密码至少8位 password must have at least 8 characters")
    set_password(user, password)
    audit(session, None, AuditAction.PASSWORD_CHANGED, f"user:{user.id}")
    session.commit()
    click.echo(f"password changed for {username}; their sessions are logged out")


@users_cli.command("disable")
@click.option("--username", required=True)
def disable_command(username: str) -> None:
    """Stop a user logging in; every session the user has is logged out."""
    session = get_session()
    user = _user(session, username)
    deactivate_user(user)
    audit(session, None, AuditAction.USER_DISABLED, f"user:{user.id}")
    session.commit()
    click.echo(f"disabled {username}; their sessions are logged out")
