"""Settings of the monthly cycle: the township's, and a branch's where the branch differs.

A township user edits the township's contact window, quiet hours, busy seasons and
escalation days, and any branch's overrides; a branch user sees the township's values and
edits its own branch's overrides. What a branch does not set comes from the township
(models.cycle.rules_for, the one rule every job reads).
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm

from admin_ui.auth import STAFF, TOWNSHIP_ONLY, current_scope, record, require
from admin_ui.blueprint import bp
from admin_ui.forms import SettingsForm
from admin_ui.i18n import bilingual
from infra.db import get_session
from models.caps import DAILY_CAP_KEY, SAME_CONTENT_KEY, caps_for
from models.cycle import STEPS
from models.help import HelpCategory
from models.help_deadlines import (
    MAX_DAYS,
    MIN_DAYS,
    DeadlineError,
    check_deadlines,
    deadlines_for,
    set_deadlines,
)
from models.org import Organization, OrgKind
from models.scope import visible_branches
from models.settings import (
    SettingsError,
    check_reachable,
    check_span,
    format_seasons,
    own_cycle_settings,
    parse_seasons,
    set_cycle_settings,
)

# The branch page's "has its own ..." boxes, the setting each stands for and its fields.
GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("own_window", "contact_window", ("window_start", "window_end")),
    ("own_quiet", "quiet_hours", ("quiet_start", "quiet_end")),
    ("own_seasons", "busy_seasons", ("busy_seasons",)),
    ("own_days", "escalation_days", STEPS),
)


def _township() -> Organization:
    org = get_session().get(Organization, current_scope().township_id)
    if org is None:
        abort(404)
    return org


def _branch(branch_id: int) -> Organization:
    """One of the user's branches, else 404."""
    if branch_id not in current_scope().branch_ids:
        abort(404)
    branch = get_session().get(Organization, branch_id)
    if branch is None or branch.kind is not OrgKind.BRANCH:
        abort(404)
    return branch


def _effective(township: Organization, branch: Organization | None) -> dict[str, Any]:
    """The values in force: the branch's own where it has them, else the township's."""
    own = own_cycle_settings(branch) if branch is not None else {}
    return {
        key: own.get(key, township.setting(key))
        for key in ("contact_window", "quiet_hours", "busy_seasons", "escalation_days")
    }


def _fill(form: SettingsForm, values: dict[str, Any], own: dict[str, Any] | None) -> None:
    form.window_start.data, form.window_end.data = values["contact_window"]
    form.quiet_start.data, form.quiet_end.data = values["quiet_hours"]
    form.busy_seasons.data = format_seasons(values["busy_seasons"])
    days = values["escalation_days"] or {}
    for step in STEPS:
        getattr(form, step).data = days.get(step)
    if own is not None:
        for box, key, _fields in GROUPS:
            getattr(form, box).data = key in own


def _render(
    form: SettingsForm,
    township: Organization,
    branch: Organization | None,
    status: int = 200,
    editable: bool = True,
) -> tuple[str, int]:
    db = get_session()
    scope = current_scope()
    overrides = {b.id: sorted(own_cycle_settings(b)) for b in visible_branches(db, scope)}
    return (
        render_template(
            "admin/settings.html",
            form=form,
            township=township,
            branch=branch,
            branches=visible_branches(db, scope),
            overrides=overrides,
            township_values=_effective(township, None),
            format_seasons=format_seasons,
            editable=editable,
            groups=GROUPS,
            provider_caps=caps_for(str(current_app.config["PROVIDER"])),
        ),
        status,
    )


@bp.get("/settings")
@require(*STAFF)
def settings() -> Any:
    """The township's settings (a branch user sees them and goes on to the branch's)."""
    scope = current_scope()
    township = _township()
    form = SettingsForm()
    _fill(form, _effective(township, None), None)
    form.sms_daily_cap.data = township.setting(DAILY_CAP_KEY)
    form.sms_same_content_seconds.data = township.setting(SAME_CONTENT_KEY)
    record("view", f"settings:{township.id}")
    get_session().commit()
    return _render(form, township, None, editable=scope.is_township)


@bp.post("/settings")
@require(*TOWNSHIP_ONLY)
def settings_save() -> Any:
    """Store the township's settings after checking every field."""
    township = _township()
    form = SettingsForm()
    if not form.validate_on_submit():
        return _render(form, township, None, status=400)
    values = _values_of(form, {key for _b, key, _f in GROUPS})
    if not _reachable(form, values["contact_window"], values["quiet_hours"]):
        return _render(form, township, None, status=400)
    values[DAILY_CAP_KEY] = form.sms_daily_cap.data
    values[SAME_CONTENT_KEY] = form.sms_same_content_seconds.data
    db = get_session()
    changes = set_cycle_settings(township, values)
    if changes:
        record("settings", f"org:{township.id}", {"changes": changes})
    db.commit()
    flash(_("The settings are saved."), "success")
    return redirect(url_for("admin.settings"))


@bp.get("/settings/branches/<int:branch_id>")
@require(*STAFF)
def branch_settings(branch_id: int) -> Any:
    """A branch's settings: its own where it differs, the township's elsewhere."""
    branch = _branch(branch_id)
    township = _township()
    form = SettingsForm()
    own = own_cycle_settings(branch)
    _fill(form, _effective(township, branch), own)
    record("view", f"settings:{branch.id}")
    get_session().commit()
    return _render(form, township, branch)


@bp.post("/settings/branches/<int:branch_id>")
@require(*STAFF)
def branch_settings_save(branch_id: int) -> Any:
    """Store a branch's overrides; an unticked group goes back to the township's value."""
    branch = _branch(branch_id)
    township = _township()
    form = SettingsForm()
    form.validate_on_submit()
    owned = {key for box, key, _fields in GROUPS if getattr(form, box).data}
    # Only the groups the branch sets itself need valid values; the rest are not stored.
    relevant = {"csrf_token"} | {
        name for box, key, fields in GROUPS if key in owned for name in fields
    }
    if any(form[name].errors for name in relevant if name in form):
        return _render(form, township, branch, status=400)
    values = _values_of(form, owned)
    window = values["contact_window"] or township.setting("contact_window")
    quiet = values["quiet_hours"] or township.setting("quiet_hours")
    if not _reachable(form, window, quiet):
        return _render(form, township, branch, status=400)
    db = get_session()
    changes = set_cycle_settings(branch, values)
    if changes:
        record("settings", f"org:{branch.id}", {"changes": changes})
    db.commit()
    flash(_("The settings are saved."), "success")
    return redirect(url_for("admin.branch_settings", branch_id=branch.id))


def _reachable(form: SettingsForm, window: list[str], quiet: list[str]) -> bool:
    """Whether the window leaves time outside the quiet hours; if not, the form says so."""
    try:
        check_reachable(window, quiet)
    except SettingsError as exc:
        form.window_end.errors = [*form.window_end.errors, bilingual(exc)]
        return False
    return True


def _values_of(form: SettingsForm, owned: set[str]) -> dict[str, Any]:
    """The branch's overrides: checked values for the owned groups, None for the others."""
    keys = [key for _box, key, _fields in GROUPS]
    checked: dict[str, Any] = {}
    for key in keys:
        if key not in owned:
            checked[key] = None
        elif key == "contact_window":
            checked[key] = check_span(form.window_start.data or "", form.window_end.data or "")
        elif key == "quiet_hours":
            checked[key] = check_span(form.quiet_start.data or "", form.quiet_end.data or "")
        elif key == "busy_seasons":
            checked[key] = parse_seasons(form.busy_seasons.data or "")
        else:
            checked[key] = {step: int(getattr(form, step).data) for step in STEPS}
    return checked


class _CsrfOnly(FlaskForm):
    """A form whose fields are read by hand (one pair per help category); checks CSRF."""


def _deadline_values(form_data: Any) -> dict[str, dict[str, str]]:
    return {
        c.value: {
            "first_contact": form_data.get(f"first_contact-{c.value}", ""),
            "resolution": form_data.get(f"resolution-{c.value}", ""),
        }
        for c in HelpCategory
    }


def _render_deadlines(values: dict[str, dict[str, Any]], error: str = "", status: int = 200) -> Any:
    scope = current_scope()
    return (
        render_template(
            "admin/settings_help.html",
            township=_township(),
            categories=list(HelpCategory),
            values=values,
            error=error,
            editable=scope.is_township,
            min_days=MIN_DAYS,
            max_days=MAX_DAYS,
        ),
        status,
    )


@bp.get("/settings/help-deadlines")
@require(*STAFF)
def help_deadlines() -> Any:
    """The township's deadlines for help requests: first contact and resolution, per category."""
    township = _township()
    current = deadlines_for(township)
    values = {
        c.value: {"first_contact": d.first_contact, "resolution": d.resolution}
        for c, d in current.items()
    }
    record("view", f"settings:help:{township.id}")
    get_session().commit()
    return _render_deadlines(values)


@bp.post("/settings/help-deadlines")
@require(*TOWNSHIP_ONLY)
def help_deadlines_save() -> Any:
    """Store the township's help deadlines: whole days from one day to a year."""
    township = _township()
    values = _deadline_values(request.form)
    if not _CsrfOnly().validate_on_submit():
        return _render_deadlines(values, _("The form has expired; please try again."), 400)
    try:
        checked = check_deadlines(values)
    except DeadlineError as exc:
        return _render_deadlines(values, bilingual(exc), 400)
    db = get_session()
    changes = set_deadlines(township, checked)
    if changes:
        record("settings", f"org:{township.id}", {"changes": changes})
    db.commit()
    flash(_("The settings are saved."), "success")
    return redirect(url_for("admin.help_deadlines"))


__all__ = [
    "branch_settings",
    "branch_settings_save",
    "help_deadlines",
    "help_deadlines_save",
    "settings",
    "settings_save",
]
