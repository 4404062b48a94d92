"""The admin's forms: fields, limits and messages in the user's language."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
)
from wtforms.validators import ValidationError as WTFValidationError

from admin_ui.i18n import bilingual
from models.approval import MAX_REASON_CHARS as MAX_APPROVAL_REASON
from models.caps import MAX_DAILY_CAP, MAX_SAME_CONTENT_SECONDS
from models.contact import ContactKind
from models.cycle import STEPS
from models.deed import MAX_REASON_CHARS as MAX_DECISION_CHARS
from models.deed import MAX_TEXT_CHARS as MAX_DEED_CHARS
from models.deed import TipTopic
from models.lesson import LessonCategory
from models.member import FIRST_BIRTH_YEAR, Language, MembershipStatus, valid_birth_year
from models.numbers import INT_MAX, to_int
from models.phones import try_normalize
from models.rating import MAX_REASON_CHARS, Grade
from models.settings import (
    LAST_ESCALATION_DAY,
    SettingsError,
    check_escalation_days,
    check_span,
    check_time,
    parse_seasons,
)

TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
REQUIRED = _l("This field is required.")


def options(pairs: Iterable[tuple[object, Any]]) -> list[SelectChoice]:
    """Select options from (value, label) pairs; a None value is the empty choice."""
    return [SelectChoice("" if value is None else str(value), label) for value, label in pairs]


def _required() -> DataRequired:
    return DataRequired(message=REQUIRED)


def _length(most: int) -> Length:
    return Length(max=most, message=_l("At most %(max)d characters."))


class LoginForm(FlaskForm):
    """Username and password."""

    username = StringField(_l("Username"), validators=[_required(), _length(64)])
    password = PasswordField(_l("Password"), validators=[_required(), _length(256)])


class PasswordForm(FlaskForm):
    """One's own password: the current one, and the new one twice."""

    current_password = PasswordField(_l("Current password"), validators=[_required(), _length(256)])
    new_password = PasswordField(
        _l("New password"),
        validators=[
            _required(),
            Length(min=8, max=256, message=_l("Between %(min)d and %(max)d characters.")),
        ],
    )
    confirm = PasswordField(
        _l("New password again"),
        validators=[_required(), EqualTo("new_password", message=_l("The passwords differ."))],
    )


def _time(form: Any, field: Any) -> None:
    if field.data and not TIME_RE.match(field.data):
        raise WTFValidationError(_l("Write a time as HH:MM, e.g. 19:00."))


def _birth_year(form: Any, field: Any) -> None:
    if field.data is not None and not valid_birth_year(field.data):
        raise WTFValidationError(
            _l("A year between %(first)d and this year.", first=FIRST_BIRTH_YEAR)
        )


def _coerce_optional_int(value: Any) -> int | None:
    if value in (None, "", "None"):
        return None
    return to_int(value)


class MemberForm(FlaskForm):
    """A member's details on the registration card."""

    name = StringField(_l("Name"), validators=[_required(), _length(64)])
    status = SelectField(
        _l("Membership"),
        choices=options(
            [
                (MembershipStatus.FULL.value, _l("Full member")),
                (MembershipStatus.PROBATIONARY.value, _l("Probationary member")),
            ]
        ),
    )
    sex = SelectField(
        _l("Sex"),
        choices=options([("", "-"), ("男", _l("Male")), ("女", _l("Female"))]),
        default="",
    )
    birth_year = IntegerField(_l("Year of birth"), validators=[Optional(), _birth_year])
    education = StringField(_l("Education"), validators=[Optional(), _length(32)])
    occupation = StringField(_l("Occupation"), validators=[Optional(), _length(64)])
    industry = StringField(_l("Industry"), validators=[Optional(), _length(64)])
    city = StringField(_l("City"), validators=[Optional(), _length(64)])
    province = StringField(_l("Province"), validators=[Optional(), _length(32)])
    employer = StringField(_l("Employer"), validators=[Optional(), _length(128)])
    host_org_id = SelectField(
        _l("Host organisation"), coerce=_coerce_optional_int, validate_choice=True
    )
    liaison_id = SelectField(_l("Liaison"), coerce=_coerce_optional_int, validate_choice=True)
    card_no = StringField(_l("Mobile member card no."), validators=[Optional(), _length(32)])
    departure_date = DateField(_l("Left home on"), validators=[Optional()], format="%Y-%m-%d")
    reason = StringField(_l("Reason for leaving"), validators=[Optional(), _length(128)])
    window_start = StringField(_l("Contact window from"), validators=[Optional(), _time])
    window_end = StringField(_l("Contact window to"), validators=[Optional(), _time])
    language = SelectField(
        _l("Language"),
        choices=options([(Language.ZH.value, _l("Chinese")), (Language.EN.value, _l("English"))]),
    )
    active = BooleanField(_l("Active (still on the register)"))

    def validate_window_end(self, field: Any) -> None:
        """A contact window needs both ends or neither."""
        if bool(self.window_start.data) != bool(field.data):
            raise WTFValidationError(_l("Give both ends of the contact window, or neither."))


class PhoneForm(FlaskForm):
    """A member's new registered phone."""

    phone = StringField(_l("New phone"), validators=[_required(), _length(32)])

    def validate_phone(self, field: Any) -> None:
        """The number must be a valid phone number."""
        if try_normalize(field.data) is None:
            raise WTFValidationError(_l("This is not a valid phone number."))


class ContactForm(FlaskForm):
    """An entry in the contact log: a monthly contact or a home visit."""

    kind = SelectField(
        _l("Kind"),
        choices=options(
            [
                (ContactKind.MONTHLY_CONTACT.value, _l("Monthly contact")),
                (ContactKind.HOME_VISIT.value, _l("Home visit")),
            ]
        ),
    )
    contact_date = DateField(
        _l("Date"),
        validators=[InputRequired(message=_l("Give the date as YYYY-MM-DD."))],
        format="%Y-%m-%d",
    )
    note = TextAreaField(_l("Note"), validators=[_required(), _length(2000)])


class FeedbackForm(FlaskForm):
    """A host organisation's monthly feedback on a member."""

    contact_date = DateField(
        _l("Date"),
        validators=[InputRequired(message=_l("Give the date as YYYY-MM-DD."))],
        format="%Y-%m-%d",
    )
    note = TextAreaField(_l("How is the member doing?"), validators=[_required(), _length(2000)])


class FlagForm(FlaskForm):
    """Flag the selected non-reporters for make-up training in a season."""

    season = StringField(_l("Season"), validators=[_required(), _length(32)])
    member_ids = SelectMultipleField(coerce=to_int, validate_choice=False)


class AttendanceForm(FlaskForm):
    """Mark the selected flagged members as having attended (or not)."""

    flag_ids = SelectMultipleField(coerce=to_int, validate_choice=False)


class AssignForm(FlaskForm):
    """Give a help request to a user."""

    assignee_id = SelectField(_l("Assign to"), coerce=_coerce_optional_int, validate_choice=True)


class TaskDoneForm(FlaskForm):
    """Mark a liaison task done: the contact it asked for, logged with what was learned."""

    note = TextAreaField(_l("Contact note"), validators=[_required(), _length(2000)])


class NoteForm(FlaskForm):
    """A follow-up note on a help request."""

    text = TextAreaField(_l("Note"), validators=[_required(), _length(2000)])


class ResolveForm(FlaskForm):
    """Close a help request with a message to the member."""

    resolution = TextAreaField(
        _l("Closing message to the member"), validators=[_required(), _length(300)]
    )


class HandledForm(FlaskForm):
    """Mark the selected inbox items handled."""

    message_ids = SelectMultipleField(coerce=to_int, validate_choice=False)
    recording_ids = SelectMultipleField(coerce=to_int, validate_choice=False)


class LinkForm(FlaskForm):
    """Attach an unregistered number's texts and recordings to a member found by search."""

    phone = StringField(validators=[_required(), _length(32)])
    member_id = IntegerField(
        _l("Member"),
        validators=[
            InputRequired(message=_l("Choose a member from the search.")),
            NumberRange(0, INT_MAX, message=_l("Choose a member from the search.")),
        ],
    )
    make_phone = BooleanField(_l("Also make it the member's registered phone"))


def _domain_check(check: Callable[[str], Any]) -> Callable[[Any, Any], None]:
    """A field validator that runs a domain check and shows its message in the user's language."""

    def validate(form: Any, field: Any) -> None:
        try:
            check(field.data or "")
        except SettingsError as exc:
            raise WTFValidationError(bilingual(exc)) from None

    return validate


def _day_field(label: Any) -> IntegerField:
    return IntegerField(
        label,
        validators=[
            InputRequired(message=_l("Give a day of the month from 1 to 28.")),
            NumberRange(
                1, LAST_ESCALATION_DAY, message=_l("Give a day of the month from 1 to 28.")
            ),
        ],
    )


class SettingsForm(FlaskForm):
    """A township's cycle settings, or a branch's overrides of them."""

    window_start = StringField(_l("Contact window from"), validators=[_domain_check(check_time)])
    window_end = StringField(_l("Contact window to"), validators=[_domain_check(check_time)])
    quiet_start = StringField(_l("Quiet hours from"), validators=[_domain_check(check_time)])
    quiet_end = StringField(_l("Quiet hours to"), validators=[_domain_check(check_time)])
    busy_seasons = TextAreaField(
        _l("Busy seasons (no lesson calls), one a line, e.g. 09-20..10-10"),
        validators=[Optional(), _length(500), _domain_check(parse_seasons)],
    )
    reminder = _day_field(_l("Reminder SMS on day"))
    second_reminder = _day_field(_l("Second reminder on day"))
    ivr_call = _day_field(_l("Reminder call on day"))
    liaison_task = _day_field(_l("Liaison task on day"))
    # The township's page only: its provider's caps per number, if it wants others (empty:
    # the provider's; 0: none).
    sms_daily_cap = IntegerField(
        _l("Texts a number may receive a day"),
        validators=[
            Optional(),
            NumberRange(0, MAX_DAILY_CAP, message=_l("Give a whole number from 0 to 1000.")),
        ],
    )
    sms_same_content_seconds = IntegerField(
        _l("Seconds before the same text may go to a number again"),
        validators=[
            Optional(),
            NumberRange(
                0, MAX_SAME_CONTENT_SECONDS, message=_l("Give a whole number from 0 to 86400.")
            ),
        ],
    )
    # A branch's page only: which groups the branch sets itself (unticked: the township's).
    own_window = BooleanField(_l("This branch has its own contact window"))
    own_quiet = BooleanField(_l("This branch has its own quiet hours"))
    own_seasons = BooleanField(_l("This branch has its own busy seasons"))
    own_days = BooleanField(_l("This branch has its own escalation days"))

    def validate_window_end(self, field: Any) -> None:
        """The window's two ends must differ."""
        self._span(self.window_start, field)

    def validate_quiet_end(self, field: Any) -> None:
        """The quiet hours' two ends must differ."""
        self._span(self.quiet_start, field)

    def validate_liaison_task(self, field: Any) -> None:
        """The four days come one after the other."""
        days = {name.value: getattr(self, name).data for name in STEPS}
        if any(value is None for value in days.values()):
            return  # each missing day already has its own message
        try:
            check_escalation_days(days)
        except SettingsError as exc:
            raise WTFValidationError(bilingual(exc)) from None

    def _span(self, start: Any, end: Any) -> None:
        try:
            check_span(start.data or "", end.data or "")
        except SettingsError as exc:
            if not start.errors and not end.errors:
                raise WTFValidationError(bilingual(exc)) from None


class RegisterUploadForm(FlaskForm):
    """A register file to check (and then import)."""

    register = FileField(
        _l("Register (CSV or XLSX)"),
        validators=[FileRequired(message=_l("Choose a CSV or XLSX file."))],
    )


class RegisterApplyForm(FlaskForm):
    """Import the register that was just checked."""

    token = StringField(validators=[_required(), _length(64)])


class RatingForm(FlaskForm):
    """A member's rating in the yearly review, and why."""

    member_id = IntegerField(validators=[InputRequired(), NumberRange(0, INT_MAX)])
    year = IntegerField(validators=[InputRequired(), NumberRange(2000, 2100)])
    grade = SelectField(
        _l("Rating"),
        choices=options(
            [
                (Grade.EXCELLENT.value, _l("Excellent")),
                (Grade.QUALIFIED.value, _l("Qualified")),
                (Grade.BASIC.value, _l("Basically qualified")),
                (Grade.UNQUALIFIED.value, _l("Unqualified")),
            ]
        ),
    )
    reason = TextAreaField(_l("Reason"), validators=[_required(), _length(MAX_REASON_CHARS)])


TIP_TOPICS = [
    (TipTopic.FARMING.value, _l("Farming and breeding")),
    (TipTopic.JOBS.value, _l("Jobs away from home")),
    (TipTopic.BUSINESS.value, _l("Starting a business")),
    (TipTopic.MARKET.value, _l("Market prices")),
    (TipTopic.OTHER.value, _l("Other")),
]


class DecideForm(FlaskForm):
    """Confirm or decline a deed (approve a tip, under a topic), with the reason to decline."""

    decision = SelectField(
        _l("Decision"),
        choices=options([("confirm", _l("Confirm")), ("decline", _l("Decline"))]),
    )
    reason = TextAreaField(_l("Reason"), validators=[Optional(), _length(MAX_DECISION_CHARS)])
    topic = SelectField(_l("Topic"), choices=options([("", ""), *TIP_TOPICS]), default="")


class TipForm(FlaskForm):
    """A tip for getting richer typed by staff, for the branch to approve."""

    text = TextAreaField(_l("Tip"), validators=[_required(), _length(MAX_DEED_CHARS)])
    topic = SelectField(_l("Topic"), choices=options(TIP_TOPICS))
    branch_id = IntegerField(validators=[InputRequired(), NumberRange(0, INT_MAX)])


class ExemplarForm(FlaskForm):
    """Mark a member exemplary (树形象) for a year, with why; or take the mark away."""

    member_id = IntegerField(validators=[InputRequired(), NumberRange(0, INT_MAX)])
    year = IntegerField(validators=[InputRequired(), NumberRange(2000, 2100)])
    reason = TextAreaField(_l("Reason"), validators=[Optional(), _length(MAX_DECISION_CHARS)])
    remove = BooleanField(_l("Take the mark away"))


class BroadcastForm(FlaskForm):
    """A notice and who gets it."""

    # Under a template provider: the notice form chosen ('' : free text); see NOTICE_FORMS.
    notice = SelectField(
        _l("Notice template"), choices=options([("", "")]), default="", validate_choice=True
    )
    text = TextAreaField(_l("Notice"), validators=[_required(), _length(1600)])
    branches = SelectMultipleField(_l("Branches"), coerce=to_int, validate_choice=True)
    cities = SelectMultipleField(_l("Cities"), validate_choice=True)
    hosts = SelectMultipleField(_l("Host organisations"), coerce=to_int, validate_choice=True)
    industries = SelectMultipleField(_l("Industries"), validate_choice=True)
    nonreporters = StringField(_l("Only non-reporters of (YYYY-MM)"), validators=[Optional()])
    scheduled_at = DateTimeLocalField(
        _l("Send at (empty: now)"), validators=[Optional()], format="%Y-%m-%dT%H:%M"
    )
    urgent = BooleanField(_l("Urgent: send to everyone at once, whatever their contact windows"))
    essential = BooleanField(
        _l("Essential: a member whose text fails is called in their window and hears it")
    )

    def validate_nonreporters(self, field: Any) -> None:
        """A period is written YYYY-MM."""
        if field.data and not re.match(r"^\d{4}-(0[1-9]|1[0-2])$", field.data.strip()):
            raise WTFValidationError(_l("Write the month as YYYY-MM, e.g. 2026-03."))


class SurveyForm(FlaskForm):
    """A survey's title, who gets it and how it is asked; its questions are posted as rows
    (q-N-text, q-N-kind, q-N-choices, q-N-field) and checked by models.survey.read_survey."""

    title = StringField(_l("Title"), validators=[_required(), _length(120)])
    title_en = StringField(_l("Title in English"), validators=[Optional(), _length(120)])
    branches = SelectMultipleField(_l("Branches"), coerce=to_int, validate_choice=True)
    cities = SelectMultipleField(_l("Cities"), validate_choice=True)
    hosts = SelectMultipleField(_l("Host organisations"), coerce=to_int, validate_choice=True)
    industries = SelectMultipleField(_l("Industries"), validate_choice=True)
    nonreporters = StringField(_l("Only non-reporters of (YYYY-MM)"), validators=[Optional()])
    # Those who answered nothing of an earlier survey of the user's ('' : anyone).
    nonresponders = SelectField(
        _l("Only those who answered nothing of"), coerce=str, default="", validate_choice=True
    )
    by_sms = BooleanField(_l("Ask by SMS"), default=True)
    by_call = BooleanField(_l("Ask by a call (keypad)"))
    remind_after_days = IntegerField(
        _l("Remind once after (days)"),
        default=3,
        validators=[
            InputRequired(message=REQUIRED),
            NumberRange(1, 30, message=_l("Between 1 and 30 days.")),
        ],
    )

    def validate_nonreporters(self, field: Any) -> None:
        """A period is written YYYY-MM."""
        if field.data and not re.match(r"^\d{4}-(0[1-9]|1[0-2])$", field.data.strip()):
            raise WTFValidationError(_l("Write the month as YYYY-MM, e.g. 2026-03."))

    def validate_by_call(self, field: Any) -> None:
        """A survey is asked one way at least."""
        if not field.data and not self.by_sms.data:
            raise WTFValidationError(_l("Choose SMS, a call, or both."))


class ApprovalSettingsForm(FlaskForm):
    """A township's thresholds above which a notice waits for approval (models.approval)."""

    members = StringField(_l("Notices to more than this many members"), validators=[Optional()])
    cost = StringField(_l("Notices costing more than (CNY)"), validators=[Optional()])
    township_own = BooleanField(_l("The township's own notices need a second township user"))


class ReturnForm(FlaskForm):
    """Return a pending notice to its author, saying why."""

    reason = TextAreaField(
        _l("Why it is returned"), validators=[_required(), _length(MAX_APPROVAL_REASON)]
    )


class LessonForm(FlaskForm):
    """A new audio lesson."""

    title = StringField(_l("Title"), validators=[_required(), _length(128)])
    category = SelectField(
        _l("Category"),
        choices=options(
            [
                (LessonCategory.POLICY.value, _l("Policy and law")),
                (LessonCategory.SKILLS.value, _l("Practical skills")),
                (LessonCategory.EXPERIENCE.value, _l("Good practice")),
                (LessonCategory.MARKET.value, _l("Market news")),
                (LessonCategory.SCIENCE.value, _l("Science and health")),
            ]
        ),
    )
    transcript = TextAreaField(_l("Transcript"), validators=[Optional(), _length(20000)])
    audio = FileField(
        _l("Audio (MP3 or WAV)"), validators=[FileRequired(message=_l("Choose an audio file."))]
    )


class CampaignForm(FlaskForm):
    """Call members to play a lesson."""

    lesson_id = SelectField(_l("Lesson"), coerce=to_int, validate_choice=True)
    branches = SelectMultipleField(_l("Branches"), coerce=to_int, validate_choice=True)


class SimTextForm(FlaskForm):
    """Text the gateway as a member from the phone simulator."""

    phone = StringField(_l("From"), validators=[_required(), _length(32)])
    body = TextAreaField(_l("Text"), validators=[_required(), _length(1600)])


class SimCallForm(FlaskForm):
    """Call the gateway, or press keys in a call, from the phone simulator."""

    phone = StringField(_l("From"), validators=[Optional(), _length(32)])
    digits = StringField(_l("Keys"), validators=[Optional(), _length(32)])
    action = SelectField(choices=options([(a, a) for a in ("dial", "press", "record", "hangup")]))


class EraseForm(FlaskForm):
    """Erase a member who left: a box to tick, so a stray click erases nothing."""

    confirm = BooleanField()


class PlainForm(FlaskForm):
    """A form with nothing but its CSRF token (show a number, disable a user)."""
