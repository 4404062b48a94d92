"""Languages of the admin: Chinese first, English second, through Flask-Babel.

Messages are written in English in the code and templates; the zh_CN catalogue translates
them. The compiled catalogues (.mo) are committed beside their sources (.po), so a fresh
clone runs without a build step; tests/admin_ui/test_i18n.py fails when they drift apart.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, request, session
from flask_babel import Babel
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from flask_login import current_user

TRANSLATIONS = Path(__file__).resolve().parent / "translations"
LANGUAGES = ("zh_CN", "en")
DEFAULT_LANGUAGE = "zh_CN"
LANGUAGE_NAMES = {"zh_CN": "中文", "en": "English"}

babel = Babel()


def init_app(app: Flask) -> None:
    """Chinese by default; the user's own language once logged in or chosen."""
    babel.init_app(
        app,
        default_locale=DEFAULT_LANGUAGE,
        default_translation_directories=str(TRANSLATIONS),
        locale_selector=select_locale,
    )
    # WTForms' own messages (a missing field, a bad e-mail) follow the same language.
    app.config.setdefault("WTF_I18N_ENABLED", True)


def select_locale() -> str:
    """The language of this request: chosen on the page, else the user's, else Chinese."""
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return str(chosen)
    if current_user and current_user.is_authenticated:
        language = getattr(current_user, "language", None)
        if language in LANGUAGES:
            return str(language)
    best = request.accept_languages.best_match(["zh", "en"]) if request else None
    return "en" if best == "en" else DEFAULT_LANGUAGE


# Labels of stored values (enums), translated when shown.
ROLE_LABELS = {
    "township": _l("Township office"),
    "branch": _l("Branch"),
    "liaison": _l("Liaison"),
    "host": _l("Host organisation"),
}
STATUS_LABELS = {"full": _l("Full member"), "probationary": _l("Probationary member")}
HELP_STATUS_LABELS = {
    "open": _l("Open"),
    "in_progress": _l("In progress"),
    "resolved": _l("Resolved"),
}
HELP_CATEGORY_LABELS = {
    "wages": _l("Unpaid wages"),
    "housing": _l("Housing"),
    "schooling": _l("Schooling"),
    "jobs": _l("Jobs"),
    "dispute": _l("Labour dispute"),
    "documents": _l("Documents"),
    "other": _l("Other"),
}
CONTACT_KIND_LABELS = {
    "monthly_contact": _l("Monthly contact"),
    "home_visit": _l("Home visit"),
    "host_feedback": _l("Host feedback"),
    "liaison_task": _l("Liaison task"),
}
LESSON_CATEGORY_LABELS = {
    "policy": _l("Policy and law"),
    "skills": _l("Practical skills"),
    "experience": _l("Good practice"),
    "market": _l("Market news"),
    "science": _l("Science and health"),
}
MESSAGE_STATUS_LABELS = {
    "received": _l("Received"),
    "queued": _l("Queued"),
    "sending": _l("Sending"),
    "sent": _l("Sent"),
    "delivered": _l("Delivered"),
    "undelivered": _l("Undelivered"),
    "failed": _l("Failed"),
    "skipped": _l("Skipped"),
}
BROADCAST_STATUS_LABELS = {
    "scheduled": _l("Scheduled"),
    "resolving": _l("Preparing"),
    "sending": _l("Sending"),
    "done": _l("Done"),
    "cancelled": _l("Cancelled"),
}
CAMPAIGN_STATUS_LABELS = {
    "scheduled": _l("Scheduled"),
    "running": _l("Running"),
    "done": _l("Done"),
    "cancelled": _l("Cancelled"),
    "pending": _l("Pending"),
    "calling": _l("Calling"),
    "missed": _l("Missed"),
    "skipped": _l("Skipped"),
}
CHANGE_FIELD_LABELS = {
    "city": _l("City"),
    "employer": _l("Employer"),
    "phone": _l("Phone"),
    "host_org": _l("Host organisation"),
}
RECORDING_KIND_LABELS = {
    "thought_report": _l("Thought report"),
    "help": _l("Help request"),
    "message": _l("Message for the branch"),
    "unknown_caller": _l("Unknown caller"),
}
CELL_LABELS = {
    "studied": _l("Reported, studied"),
    "reported": _l("Reported, not studied"),
    "missing": _l("Not reported"),
    "before": _l("Not yet registered"),
}
CALL_LABELS = {
    "menu": _l("Hotline"),
    "lesson": _l("Lesson call"),
    "reminder": _l("Reminder call"),
    "missed_call": _l("Missed call"),
    "callback": _l("Callback"),
    "queued": _l("Queued"),
    "initiated": _l("Dialling"),
    "ringing": _l("Ringing"),
    "in-progress": _l("In progress"),
    "completed": _l("Completed"),
    "busy": _l("Busy"),
    "no-answer": _l("No answer"),
    "failed": _l("Failed"),
    "canceled": _l("Cancelled"),
}
CHANNEL_LABELS = {"sms": _l("SMS"), "ivr": _l("Phone"), "admin": _l("Admin")}
LANGUAGE_LABELS = {"zh_CN": _l("Chinese"), "en": _l("English")}
GRADE_LABELS = {
    "excellent": _l("Excellent"),
    "qualified": _l("Qualified"),
    "basically_qualified": _l("Basically qualified"),
    "unqualified": _l("Unqualified"),
}

LABELS: dict[str, dict[str, LazyString]] = {
    "role": ROLE_LABELS,
    "status": STATUS_LABELS,
    "help_status": HELP_STATUS_LABELS,
    "help_category": HELP_CATEGORY_LABELS,
    "contact_kind": CONTACT_KIND_LABELS,
    "lesson_category": LESSON_CATEGORY_LABELS,
    "message_status": MESSAGE_STATUS_LABELS,
    "broadcast_status": BROADCAST_STATUS_LABELS,
    "campaign_status": CAMPAIGN_STATUS_LABELS,
    "change_field": CHANGE_FIELD_LABELS,
    "recording_kind": RECORDING_KIND_LABELS,
    "cell": CELL_LABELS,
    "channel": CHANNEL_LABELS,
    "call": CALL_LABELS,
    "language": LANGUAGE_LABELS,
    "grade": GRADE_LABELS,
}


def label(kind: str, value: object) -> str:
    """The translated label of a stored value (an enum or its text); the value if unknown."""
    key = str(getattr(value, "value", value))
    found = LABELS.get(kind, {}).get(key)
    return str(found) if found is not None else key


def bilingual(error: object) -> str:
    """The half of a bilingual domain error (its .zh and .en) in the request's language."""
    from flask_babel import get_locale

    locale = get_locale()
    english = locale is not None and locale.language == "en"
    text = getattr(error, "en" if english else "zh", None)
    return str(text if text is not None else error)


__all__ = [
    "DEFAULT_LANGUAGE",
    "LABELS",
    "LANGUAGES",
    "LANGUAGE_NAMES",
    "babel",
    "bilingual",
    "init_app",
    "label",
    "select_locale",
]
