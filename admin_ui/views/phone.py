"""The phone simulator (sandbox only): text and call the app as a member the user sees."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import abort, current_app, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from admin_ui.auth import STAFF, current_account, current_scope, record, require
from admin_ui.blueprint import bp
from admin_ui.forms import SimCallForm, SimTextForm
from devtools import phone_sim
from infra.db import get_session
from models import reads
from models.member import Member
from models.phones import try_normalize

F = TypeVar("F", bound=Callable[..., Any])


def sandbox_only(view: F) -> F:
    """404 unless the provider is the sandbox: the simulator signs with the auth token."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_app.config.get("PROVIDER") != "sandbox":
            abort(404)
        return view(*args, **kwargs)

    return cast(F, wrapper)


def _page(status: int = 200, text_form: SimTextForm | None = None) -> tuple[str, int]:
    state = phone_sim.load_state(current_account().id)
    db = get_session()
    members = reads.members.search_members(
        db, current_scope(), reads.members.MemberFilter(), per_page=100
    )
    return (
        render_template(
            "admin/phone.html",
            state=state,
            members=[row.member for row in members.items],
            text_form=text_form or SimTextForm(phone=state.phone),
            call_form=SimCallForm(phone=state.phone),
            outbox=phone_sim.sandbox_outbox(state.phone) if state.phone else [],
        ),
        status,
    )


def _phone_number(raw: str) -> str:
    """The number to act as, if the user may: a member they see, or (a user who sees
    strangers: Scope.sees_strangers) a number on no member; otherwise 404."""
    # Unregistered numbers are worth trying too, so one that is not valid is used as typed.
    phone = try_normalize(raw, current_app.config.get("DEFAULT_REGION", "CN")) or raw.strip()
    if not phone:
        return phone
    scope = current_scope()
    member = get_session().scalar(select(Member).where(Member.phone == phone))
    if not (scope.sees_member(member) if member is not None else scope.sees_strangers):
        abort(404)
    return phone


@bp.get("/phone")
@sandbox_only
@require(*STAFF)
def phone() -> tuple[str, int]:
    """The simulated phone: its screen, a text box, a keypad, and the sandbox's outbox."""
    return _page()


@bp.post("/phone/text")
@sandbox_only
@require(*STAFF)
def phone_text() -> Response | tuple[str, int]:
    """Send a text from the simulated phone to /sms and show the reply."""
    form = SimTextForm()
    if not form.validate_on_submit():
        return _page(400, text_form=form)
    user_id = current_account().id
    state = phone_sim.load_state(user_id)
    state.phone = _phone_number(form.phone.data or "")
    # The app's own request writes to the database: nothing of ours may hold it meanwhile.
    get_session().commit()
    phone_sim.send_text(state, form.body.data or "")
    phone_sim.save_state(user_id, state)
    record("simulate", f"phone:{state.phone}", {"kind": "sms"})
    get_session().commit()
    return redirect(url_for("admin.phone"))


@bp.post("/phone/call")
@sandbox_only
@require(*STAFF)
def phone_call() -> Response:
    """Dial, press keys, speak a recording or hang up on the simulated phone."""
    form = SimCallForm()
    user_id = current_account().id
    state = phone_sim.load_state(user_id)
    if form.validate_on_submit():
        action = form.action.data
        get_session().commit()
        if action == "dial":
            state.phone = _phone_number(form.phone.data or state.phone)
            if state.phone:
                phone_sim.dial(state, missed=request.form.get("missed") == "1")
        elif action == "press":
            phone_sim.press(state, request.form.get("key") or form.digits.data or "")
        elif action == "record":
            phone_sim.record(state, speak=request.form.get("silence") != "1")
        elif action == "hangup":
            phone_sim.hang_up(state)
        phone_sim.save_state(user_id, state)
        record("simulate", f"phone:{state.phone}", {"kind": "call", "action": action})
        get_session().commit()
    return redirect(url_for("admin.phone"))


@bp.post("/phone/clear")
@sandbox_only
@require(*STAFF)
def phone_clear() -> Response:
    """Wipe the simulated phone's screen (and end its call)."""
    user_id = current_account().id
    state = phone_sim.load_state(user_id)
    get_session().commit()
    phone_sim.hang_up(state, quiet=True)
    phone_sim.save_state(user_id, phone_sim.PhoneState(phone=state.phone))
    return redirect(url_for("admin.phone"))
