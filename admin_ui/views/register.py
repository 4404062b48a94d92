"""Uploading the member register (登记卡): check the file first, then import exactly that.

The same columns and checks as `flask members import` (models.register). The upload is
kept under UPLOAD_DIR/registers/ with a random token and a small record of what the check
found; the import reads that same file again and writes only if the result is still what
the check showed (else it shows the new check and writes nothing). A township imports for
all its branches, a branch only rows of its own branch.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from pathlib import Path
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from admin_ui.auth import STAFF, current_account, current_scope, record, require
from admin_ui.blueprint import bp
from admin_ui.forms import RegisterApplyForm, RegisterUploadForm
from gateway.limits import accepts_upload
from infra.db import get_session
from models import reads
from models.register import (
    MEMBER_COLUMNS,
    REQUIRED_MEMBER,
    ImportFileError,
    ImportResult,
    import_members,
    read_table,
)

REGISTER_DIR = "registers"
TYPES = ("csv", "xlsx")
TOKEN_RE = re.compile(r"^[0-9a-f]{32}$")
KEEP_S = 24 * 3600  # an upload not imported within a day is removed
XLSX_MAGIC = b"PK\x03\x04"  # an XLSX workbook is a zip archive


def _dir() -> Path:
    return Path(current_app.config["UPLOAD_DIR"]) / REGISTER_DIR


def _limit_mb() -> int:
    return int(current_app.config.get("MAX_UPLOAD_MB", 20))


def _township_hosts() -> list[int]:
    """The host organisations a register upload may attach members to: the township's."""
    return [host.id for host in reads.members.host_choices(get_session(), current_scope())]


def _check(path: Path) -> ImportResult:
    """A dry run of the file against the database, for the user's branches; writes nothing."""
    db = get_session()
    try:
        return import_members(
            db,
            read_table(path),
            region=current_app.config.get("DEFAULT_REGION", "CN"),
            dry_run=True,
            allowed_branches=current_scope().branch_ids,
            allowed_hosts=_township_hosts(),
        )
    finally:
        db.rollback()


def _summary(result: ImportResult) -> dict[str, int]:
    return {"created": result.created, "updated": result.updated, "unchanged": result.unchanged}


def _file_problem(exc: ImportFileError) -> str:
    return _("The file cannot be read as a register: %(reason)s", reason=str(exc))


def _page(
    form: RegisterUploadForm | None = None,
    *,
    status: int = 200,
    result: ImportResult | None = None,
    token: str = "",
    filename: str = "",
) -> tuple[str, int]:
    return (
        render_template(
            "admin/register.html",
            form=form or RegisterUploadForm(),
            apply_form=RegisterApplyForm(token=token),
            result=result,
            token=token,
            filename=filename,
            columns=[(key, names[0]) for key, names in MEMBER_COLUMNS.items()],
            required=REQUIRED_MEMBER,
            max_mb=_limit_mb(),
        ),
        status,
    )


def _remove_old(directory: Path) -> None:
    cutoff = time.time() - KEEP_S
    for path in directory.glob("*"):
        if path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)


@bp.get("/register")
@require(*STAFF)
def register() -> tuple[str, int]:
    """The upload form and the register's columns."""
    return _page()


@bp.post("/register")
@accepts_upload
@require(*STAFF)
def register_check() -> tuple[str, int]:
    """Check an uploaded register: its bad rows by row number, or what an import would do."""
    form = RegisterUploadForm()
    if not form.validate_on_submit():
        return _page(form, status=400)
    upload = form.register.data
    filename = (upload.filename or "").strip()
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    limit = _limit_mb() * 1024 * 1024
    data = upload.stream.read(limit + 1)
    problem = None
    if extension not in TYPES:
        problem = _("Only CSV or XLSX files can be uploaded.")
    elif not data:
        problem = _("The file is empty.")
    elif len(data) > limit:
        problem = _("The file is too large: at most %(mb)s MB.", mb=_limit_mb())
    elif extension == "xlsx" and not data.startswith(XLSX_MAGIC):
        problem = _("This is not an XLSX workbook.")
    elif extension == "csv" and b"\x00" in data[:4096]:
        problem = _("This is not a CSV text file.")
    if problem:
        form.register.errors = [problem]
        return _page(form, status=400)
    directory = _dir()
    directory.mkdir(parents=True, exist_ok=True)
    _remove_old(directory)
    token = secrets.token_hex(16)
    path = directory / f"{token}.{extension}"
    path.write_bytes(data)
    try:
        result = _check(path)
    except ImportFileError as exc:
        path.unlink(missing_ok=True)
        form.register.errors = [_file_problem(exc)]
        return _page(form, status=400)
    meta: dict[str, Any] = {
        "user_id": current_account().id,
        "filename": filename[:200],
        "extension": extension,
        "sha256": hashlib.sha256(data).hexdigest(),
        "summary": _summary(result),
    }
    (directory / f"{token}.json").write_text(json.dumps(meta), encoding="utf-8")
    record(
        "check",
        "register",
        {"file": meta["filename"], "errors": len(result.errors), **meta["summary"]},
    )
    get_session().commit()
    if not result.ok:
        path.unlink(missing_ok=True)
        (directory / f"{token}.json").unlink(missing_ok=True)
        token = ""
    return _page(result=result, token=token, filename=filename, status=200)


def _stored(token: str) -> tuple[Path, dict[str, Any]]:
    """The checked upload of this token, if it is the user's; else 404."""
    if not TOKEN_RE.match(token):
        abort(404)
    directory = _dir()
    try:
        meta = json.loads((directory / f"{token}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        abort(404)
    path = directory / f"{token}.{meta.get('extension')}"
    if meta.get("user_id") != current_account().id or not path.is_file():
        abort(404)
    if hashlib.sha256(path.read_bytes()).hexdigest() != meta.get("sha256"):
        abort(404)
    return path, meta


@bp.post("/register/apply")
@require(*STAFF)
def register_apply() -> Any:
    """Import the checked file, if it still does exactly what the check showed."""
    form = RegisterApplyForm()
    if not form.validate_on_submit():
        flash(_("Upload the register again."), "error")
        return redirect(url_for("admin.register"))
    token = form.token.data or ""
    path, meta = _stored(token)
    db = get_session()
    try:
        result = import_members(
            db,
            read_table(path),
            region=current_app.config.get("DEFAULT_REGION", "CN"),
            allowed_branches=current_scope().branch_ids,
            allowed_hosts=_township_hosts(),
        )
    except ImportFileError as exc:
        db.rollback()
        flash(_file_problem(exc), "error")
        return redirect(url_for("admin.register"))
    if not result.ok or _summary(result) != meta["summary"]:
        # The register changed since the check (someone else imported or edited): show the
        # new check and write nothing.
        db.rollback()
        fresh = _check(path)
        if fresh.ok:
            meta["summary"] = _summary(fresh)
            (_dir() / f"{token}.json").write_text(json.dumps(meta), encoding="utf-8")
        flash(_("The register changed since the check: here is the new check."), "error")
        return _page(
            result=fresh, token=token if fresh.ok else "", filename=meta["filename"], status=409
        )
    record("import", "register", {"file": meta["filename"], **_summary(result)})
    db.commit()
    path.unlink(missing_ok=True)
    (_dir() / f"{token}.json").unlink(missing_ok=True)
    flash(
        _(
            "Imported: %(created)d new, %(updated)d updated, %(unchanged)d unchanged.",
            created=result.created,
            updated=result.updated,
            unchanged=result.unchanged,
        ),
        "success",
    )
    return redirect(url_for("admin.register"))


__all__ = ["register", "register_apply", "register_check"]
