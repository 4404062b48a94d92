"""Languages of the admin: Chinese first, English second, through Flask-Babel.

Messages are written in English in the code and templates; the zh_CN catalogue translates
them. The compiled catalogues (.mo) are committed beside their sources (.po), so a fresh
clone runs without a build step; tests/admin_ui/test_i18n.py fails when they drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flask import Flask, request, session
from flask_babel import Babel, force_locale
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
# A lesson's audio at a voice provider that plays only files it approved (models.lesson).
VOICE_FILE_LABELS = {
    "uploading": _l("Uploading"),
    "in_review": _l("In review"),
    "approved": _l("Approved"),
    "rejected": _l("Refused"),
    "failed": _l("Upload failed"),
}
MESSAGE_STATUS_LABELS = {
    # Not "Received": that word is the column of when a text came in (收到时间).
    "received": _l("Arrived"),
    "queued": _l("Queued"),
    "sending": _l("Sending"),
    "sent": _l("Sent"),
    "delivered": _l("Delivered"),
    "undelivered": _l("Undelivered"),
    "failed": _l("Failed"),
    "skipped": _l("Skipped"),
}
HOLD_REASON_LABELS = {
    "window": _l("waits for the member's contact window"),
    "daily_cap": _l("the number's daily limit is reached; waits for the next day"),
    "same_content": _l("the same text just went to this number; waits a moment"),
}
BROADCAST_STATUS_LABELS = {
    "pending": _l("Waiting for approval"),
    "returned": _l("Returned"),
    "scheduled": _l("Scheduled"),
    "resolving": _l("Preparing"),
    "sending": _l("Sending"),
    "done": _l("Done"),
    "cancelled": _l("Cancelled"),
}
SURVEY_STATUS_LABELS = {
    "draft": _l("Draft"),
    "sending": _l("Sending"),
    "open": _l("Open"),
    "closed": _l("Closed"),
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
    # The card fields a survey fills (models.survey.CARD_FIELDS).
    "other_phone": _l("Other phone"),
    "departure_year": _l("Year left home"),
    "reason": _l("Reason for leaving"),
    "province": _l("Province"),
    "occupation": _l("Occupation"),
    "industry": _l("Industry"),
    "work_form": _l("How they work"),
    "living": _l("Where they live"),
    "education": _l("Education"),
    "workplace_party_org": _l("Party organisation at work"),
    "party_role": _l("Part they play"),
}
RECORDING_KIND_LABELS = {
    "thought_report": _l("Thought report"),
    "help": _l("Help request"),
    "message": _l("Message for the branch"),
    "unknown_caller": _l("Unknown caller"),
    "new_city": _l("New city (spoken)"),
    "new_employer": _l("New employer (spoken)"),
    "deed": _l("Deed or tip (spoken)"),
    "survey": _l("Survey answer (spoken)"),
}
CELL_LABELS = {
    "studied": _l("Reported, studied"),
    "reported": _l("Reported, not studied"),
    "missing": _l("Not reported"),
    "running": _l("Month in progress"),
    "before": _l("Not applicable: registered after the month's first day"),
}
CALL_PURPOSE_LABELS = {
    "menu": _l("Hotline"),
    "lesson": _l("Lesson call"),
    "reminder": _l("Reminder call"),
    "missed_call": _l("Missed call"),
    "callback": _l("Callback"),
    "notice": _l("Notice read out (text failed)"),
    "survey": _l("Survey call"),
}
CALL_STATUS_LABELS = {
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
CALL_LABELS = {**CALL_PURPOSE_LABELS, **CALL_STATUS_LABELS}
# How a report or a change came in. Not "Phone": that word is the phone number (手机号).
CHANNEL_LABELS = {"sms": _l("SMS"), "ivr": _l("Keypad call"), "admin": _l("Admin page")}
CHANGE_SOURCE_LABELS = {
    **CHANNEL_LABELS,
    "import": _l("Register import"),
    "survey": _l("Survey"),
}
LANGUAGE_LABELS = {"zh_CN": _l("Chinese"), "en": _l("English")}
SMS_COMMAND_LABELS = {
    "report": _l("Monthly report"),
    "status": _l("Status update"),
    "phone": _l("Phone change"),
    "help": _l("Help request"),
    "lessons": _l("Lessons"),
    "opt_out": _l("Opt out"),
    "opt_in": _l("Opt back in"),
    "menu": _l("Asked for the menu"),
    "answer": _l("Answer to a question"),
    "unknown": _l("Not understood"),
    "empty": _l("Empty text"),
    "error": _l("Could not be handled"),
    "unmatched": _l("Unregistered number"),
    "reply": _l("Reply to a notice"),
    "deed": _l("Deed for home"),
}
DEED_ITEM_LABELS = {
    "1": _l("Tip for getting richer"),
    "2": _l("Ideological work with one person"),
    "3": _l("Bringing one worker towards membership"),
    "4": _l("Helping one person find work"),
    "5": _l("A good deed for the village"),
}
DEED_STATUS_LABELS = {
    "pending": _l("Waiting for confirmation"),
    "confirmed": _l("Confirmed"),
    "declined": _l("Declined"),
    "unoffered": _l("Too short to confirm"),
}
TIP_TOPIC_LABELS = {
    "farming": _l("Farming and breeding"),
    "jobs": _l("Jobs away from home"),
    "business": _l("Starting a business"),
    "market": _l("Market prices"),
    "other": _l("Other"),
}
ESCALATION_STEP_LABELS = {
    "reminder": _l("First reminder"),
    "second_reminder": _l("Second reminder"),
    "ivr_call": _l("Reminder call"),
    "liaison_task": _l("Task for the liaison"),
}
AUDIT_ACTION_LABELS = {
    "view": _l("Viewed"),
    "export": _l("Exported"),
    "play": _l("Played a recording"),
    "edit": _l("Edited"),
    "contact": _l("Logged contact"),
    "flag": _l("Flagged for make-up training"),
    "attend": _l("Marked attendance"),
    "send": _l("Sent"),
    "upload": _l("Uploaded"),
    "resolve": _l("Resolved"),
    "note": _l("Added a note"),
    "assign": _l("Assigned"),
    "link": _l("Linked a number"),
    "handle": _l("Marked handled"),
    "login": _l("Logged in"),
    "logout": _l("Logged out"),
    "login_failed": _l("Failed login"),
    "password_changed": _l("Changed a password"),
    "user_disabled": _l("Disabled a user"),
    "simulate": _l("Used the phone simulator"),
    "check": _l("Checked a register"),
    "import": _l("Imported a register"),
    "rate": _l("Rated a member"),
    "settings": _l("Changed settings"),
    "approve": _l("Approved a notice"),
    "return": _l("Returned a notice"),
    "reveal": _l("Showed a phone number"),
    "erase": _l("Erased a member"),
    "retention": _l("Applied the retention rules"),
}
NOTICE_CHANNEL_LABELS = {
    "sms": _l("by text"),
    "register": _l("when registered"),
}
# What an audit entry is about: the part of its target before the first colon.
AUDIT_TARGET_LABELS = {
    "member": _l("Member"),
    "members": _l("Member list"),
    "reports": _l("Reports"),
    "nonreporters": _l("Non-reporters"),
    "makeup": _l("Make-up training"),
    "review": _l("Yearly review"),
    "help": _l("Help request"),
    "broadcast": _l("Broadcast notice"),
    "broadcasts": _l("Notices"),
    "campaign": _l("Lesson calls"),
    "lesson": _l("Lesson"),
    "inbox": _l("Inbox"),
    "recording": _l("Recording"),
    "user": _l("User"),
    "username": _l("User name"),
    "dashboard": _l("Dashboard"),
    "host_members": _l("Host organisation's members"),
    "audit": _l("Audit log"),
    "phone": _l("Phone simulator"),
    "register": _l("Register"),
    "org": _l("Organisation"),
    "approvals": _l("Approvals"),
    "inspection": _l("Inspection"),
    "access_review": _l("Access review"),
    "survey": _l("Survey"),
}
# The details of an audit entry, by key.
AUDIT_DETAIL_LABELS = {
    "page": _l("Page"),
    "period": _l("Month"),
    "from": _l("From"),
    "to": _l("To"),
    "branch": _l("Branch"),
    "branches": _l("Branches"),
    "min": _l("Missed at least"),
    "rows": _l("Rows"),
    "members": _l("Members"),
    "added": _l("Added"),
    "flags": _l("Flags"),
    "attended": _l("Attended"),
    "messages": _l("Texts"),
    "recordings": _l("Recordings"),
    "recipients": _l("Recipients"),
    "phone": _l("Phone"),
    "phone_changed": _l("Phone changed"),
    "inbound_texts": _l("Inbound texts"),
    "phone_changes": _l("Phone-change codes"),
    "conversations": _l("Conversations"),
    "audit_entries": _l("Audit entries"),
    "users_disabled": _l("Users disabled"),
    "unused_days": _l("Unused days"),
    "what": _l("What"),
    "columns": _l("Columns"),
    "history": _l("History"),
    "calls": _l("Calls"),
    "reports": _l("Reports"),
    "help_requests": _l("Help requests"),
    "contacts": _l("Contacts"),
    "deeds": _l("Deeds"),
    "notices": _l("Notices"),
    "card": _l("Card"),
    "fields": _l("Fields"),
    "org": _l("Organisation"),
    "out": _l("File"),
    "via": _l("Via"),
    "q": _l("Search"),
    "status": _l("Status"),
    "title": _l("Title"),
    "lesson": _l("Lesson"),
    "kind": _l("Kind"),
    "category": _l("Category"),
    "assignee": _l("Assigned to"),
    "urgent": _l("Urgent"),
    "essential": _l("Essential"),
    "pending": _l("Waiting for approval"),
    "reasons": _l("Why it needs approval"),
    "reason": _l("Reason"),
    "late": _l("Deadlines"),
}
# Column headers of the files the admin exports (CSV and XLSX), by column key.
EXPORT_COLUMN_LABELS = {
    "year": _l("Year"),
    "season": _l("Season"),
    "name": _l("Name"),
    "phone": _l("Phone"),
    "branch": _l("Branch"),
    "city": _l("City"),
    "employer": _l("Employer"),
    "period": _l("Month"),
    "reported": _l("Reported"),
    "studied": _l("Studied"),
    "channel": _l("Channel"),
    "received_at": _l("Received"),
    "receipt": _l("Receipt"),
    "reason": _l("Reason"),
    "flagged_at": _l("Flagged on"),
    "attended_at": _l("Attended on"),
    "reports": _l("Months reported"),
    "lessons": _l("Lessons heard"),
    "help_requests": _l("Help requests"),
    "monthly_contacts": _l("Monthly contacts"),
    "home_visits": _l("Home visits"),
    "host_feedback": _l("Host feedback"),
    "rating": _l("Rating"),
    "rated_by": _l("Rated by"),
    "rated_at": _l("Rated on"),
    "rating_reason": _l("Reason for the rating"),
}
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
    "voice_file": VOICE_FILE_LABELS,
    "message_status": MESSAGE_STATUS_LABELS,
    "hold_reason": HOLD_REASON_LABELS,
    "broadcast_status": BROADCAST_STATUS_LABELS,
    "survey_status": SURVEY_STATUS_LABELS,
    "campaign_status": CAMPAIGN_STATUS_LABELS,
    "change_field": CHANGE_FIELD_LABELS,
    "recording_kind": RECORDING_KIND_LABELS,
    "cell": CELL_LABELS,
    "channel": CHANNEL_LABELS,
    "change_source": CHANGE_SOURCE_LABELS,
    "call": CALL_LABELS,
    "call_purpose": CALL_PURPOSE_LABELS,
    "call_status": CALL_STATUS_LABELS,
    "language": LANGUAGE_LABELS,
    "sms_command": SMS_COMMAND_LABELS,
    "escalation_step": ESCALATION_STEP_LABELS,
    "audit_action": AUDIT_ACTION_LABELS,
    "notice_channel": NOTICE_CHANNEL_LABELS,
    "audit_target": AUDIT_TARGET_LABELS,
    "export_column": EXPORT_COLUMN_LABELS,
    "audit_detail": AUDIT_DETAIL_LABELS,
    "grade": GRADE_LABELS,
    "deed_item": DEED_ITEM_LABELS,
    "deed_status": DEED_STATUS_LABELS,
    "tip_topic": TIP_TOPIC_LABELS,
}


def label(kind: str, value: object) -> str:
    """The translated label of a stored value (an enum or its text); the value if unknown."""
    key = str(getattr(value, "value", value))
    found = LABELS.get(kind, {}).get(key)
    return str(found) if found is not None else key


def audit_target(target: str) -> str:
    """An audit entry's target for people: `member:12` as 党员 12, `makeup:2027春节:csv` as
    补课 2027春节 CSV (the kind translated, the rest as written)."""
    kind, _, rest = target.partition(":")
    found = AUDIT_TARGET_LABELS.get(kind)
    if found is None:
        return target
    return " ".join(
        [
            str(found),
            *(
                part.upper() if part in ("csv", "xlsx") else part
                for part in rest.split(":")
                if part
            ),
        ]
    )


def audit_detail(detail: dict[str, Any] | None) -> str:
    """An audit entry's details for people: `页码: 1; 月份: 2026-12`, not JSON."""
    from flask_babel import gettext

    if not detail:
        return ""

    def value(item: object) -> str:
        if item is None:
            return "-"
        if isinstance(item, bool):
            return gettext("yes") if item else gettext("no")
        if isinstance(item, list):
            shown = "、".join(value(v) for v in item[:10])
            return shown + ("…" if len(item) > 10 else "")
        if item == "cli":
            return gettext("Command line")
        return str(item)

    return "; ".join(f"{label('audit_detail', key)}: {value(item)}" for key, item in detail.items())


def contact_note(entry: object) -> str:
    """A contact log entry's note in the reader's language: a liaison task the cycle opened
    (it has no note of its own) is worded from its month; any other note is shown as written."""
    kind = str(getattr(getattr(entry, "kind", None), "value", ""))
    note = str(getattr(entry, "note", "") or "")
    if kind == "liaison_task" and not note:
        from flask_babel import gettext

        return gettext(
            "No report for %(period)s yet: please contact the member.",
            period=getattr(entry, "period", None) or "",
        )
    return note


def export_header(keys: Sequence[str]) -> list[str]:
    """The Chinese column headers of an admin export (files are records kept in Chinese,
    whoever made them); a column without a label keeps its key."""
    with force_locale(DEFAULT_LANGUAGE):
        return [label("export_column", key) for key in keys]


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
    "audit_detail",
    "audit_target",
    "babel",
    "bilingual",
    "contact_note",
    "export_header",
    "init_app",
    "label",
    "select_locale",
]
