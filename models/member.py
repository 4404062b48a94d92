"""Members, their dated history of changes, and the operations on them."""

from __future__ import annotations

import enum
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from models.base import Base, enum_type, utcnow
from models.contact import ContactKind, ContactLog
from models.org import Organization
from models.period import Period
from models.places import city_key, province_of
from models.sql import Raw, Sql, insert_into, update_of


class ChangeSource(enum.StrEnum):
    """How a change of a member's details came in (a report's or request's Channel, or more)."""

    SMS = "sms"
    IVR = "ivr"
    ADMIN = "admin"
    IMPORT = "import"  # a register upload
    SURVEY = "survey"  # an answer to a survey (MemberChange.survey_id says which)


class MembershipStatus(enum.StrEnum):
    """Full or probationary Party member."""

    FULL = "full"
    PROBATIONARY = "probationary"


class Language(enum.StrEnum):
    """The language a member is spoken to in."""

    ZH = "zh_CN"
    EN = "en"


class ChangeField(enum.StrEnum):
    """Which tracked detail of a member changed."""

    CITY = "city"
    EMPLOYER = "employer"
    PHONE = "phone"
    HOST_ORG = "host_org"
    # The card fields a survey may fill (models.survey.CARD_FIELDS) beside city and employer.
    OTHER_PHONE = "other_phone"
    DEPARTURE_YEAR = "departure_year"
    REASON = "reason"
    PROVINCE = "province"
    OCCUPATION = "occupation"
    INDUSTRY = "industry"
    WORK_FORM = "work_form"
    LIVING = "living"
    EDUCATION = "education"
    WORKPLACE_PARTY_ORG = "workplace_party_org"
    PARTY_ROLE = "party_role"


class Member(Base):
    """A Party member who works away from the home village (流动党员)."""

    __tablename__ = "members"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    other_phone: Mapped[str | None] = mapped_column(String(20))
    branch_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    host_org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    status: Mapped[MembershipStatus] = mapped_column(
        enum_type(MembershipStatus), default=MembershipStatus.FULL
    )
    sex: Mapped[str | None] = mapped_column(String(8))
    birth_year: Mapped[int | None] = mapped_column(Integer)
    education: Mapped[str | None] = mapped_column(String(32))
    occupation: Mapped[str | None] = mapped_column(String(64))
    industry: Mapped[str | None] = mapped_column(String(64), index=True)
    employer: Mapped[str | None] = mapped_column(String(128))
    city: Mapped[str | None] = mapped_column(String(64), index=True)
    province: Mapped[str | None] = mapped_column(String(32))
    departure_date: Mapped[date | None] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(String(128))
    # Learnt from surveys (五个摸清): how they work and live, the Party organisation at work.
    work_form: Mapped[str | None] = mapped_column(String(64))
    living: Mapped[str | None] = mapped_column(String(64))
    workplace_party_org: Mapped[str | None] = mapped_column(String(64))
    party_role: Mapped[str | None] = mapped_column(String(64))
    card_no: Mapped[str | None] = mapped_column(String(32))
    liaison_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    window_start: Mapped[str | None] = mapped_column(String(5))  # "19:00" local; None: township's
    window_end: Mapped[str | None] = mapped_column(String(5))
    language: Mapped[Language] = mapped_column(enum_type(Language), default=Language.ZH)
    opted_out_at: Mapped[datetime | None]
    phone_invalid_at: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Erased after leaving the programme: the row stays as a tombstone (models.privacy).
    erased_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    branch: Mapped[Organization] = relationship(foreign_keys=[branch_id], lazy="joined")
    host_org: Mapped[Organization | None] = relationship(foreign_keys=[host_org_id])

    @property
    def opted_out(self) -> bool:
        """Whether the member asked for no more non-essential messages."""
        return self.opted_out_at is not None


class MemberChange(Base):
    """One dated change of a member's city, employer, phone or host organisation."""

    __tablename__ = "member_changes"
    __table_args__ = (Index("ix_member_changes_member_at", "member_id", "changed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    field: Mapped[ChangeField] = mapped_column(enum_type(ChangeField))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    source: Mapped[ChangeSource] = mapped_column(enum_type(ChangeSource, 16))
    survey_id: Mapped[int | None] = mapped_column(ForeignKey("surveys.id"))  # source `survey`
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


def find_member_by_phone(session: Session, phone: str) -> Member | None:
    """The member whose registered phone is this E.164 number."""
    return session.scalar(select(Member).where(Member.phone == phone))


def differs(old: object, new: object) -> bool:
    """Whether a tracked detail really changes (and so gets a line of history)."""
    return (None if old is None else str(old)) != (None if new is None else str(new))


def record_detail(
    session: Session,
    member: Member,
    field: ChangeField,
    new: str | None,
    source: ChangeSource,
    at: datetime,
) -> bool:
    """Keep a line of history when a detail really changes (the caller sets the detail)."""
    attribute = {ChangeField.HOST_ORG: "host_org_id", ChangeField.DEPARTURE_YEAR: "departure_date"}
    old = getattr(member, attribute.get(field, field.value))
    if field is ChangeField.DEPARTURE_YEAR and old is not None:
        old = old.year
    old_text = None if old is None else str(old)
    new_text = None if new is None else str(new)
    if not differs(old_text, new_text):
        return False
    session.flush()  # the member first: the line of history refers to it
    record_change(
        Raw.of(session.connection()), member.id, field, old_text, new_text, source=source, at=at
    )
    return True


def change_status(
    session: Session,
    member: Member,
    *,
    city: str | None = None,
    employer: str | None = None,
    host_org_id: int | None = None,
    source: ChangeSource,
    at: datetime | None = None,
) -> list[ChangeField]:
    """Move a member to a new city, employer or host organisation, keeping the history.

    City and employer go through move_member, the one rule for a move; a host organisation
    given here is the caller's choice for the new place, so the old one is not reviewed.
    """
    at = at or utcnow()
    changed: list[ChangeField] = []
    if city or employer:
        session.flush()  # the member's pending changes first: the move reads and writes them
        before = (member.city, member.employer, member.host_org_id)
        move_member(
            Raw.of(session.connection()),
            member.id,
            current=(member.city, member.employer),
            city=city,
            employer=employer,
            source=source,
            at=at,
            review_host=host_org_id is None,
        )
        session.expire(member, ["city", "employer", "province", "host_org_id", "host_org"])
        after = (member.city, member.employer, member.host_org_id)
        fields = (ChangeField.CITY, ChangeField.EMPLOYER, ChangeField.HOST_ORG)
        changed += [f for f, old, new in zip(fields, before, after, strict=True) if old != new]
    if host_org_id is not None and record_detail(
        session, member, ChangeField.HOST_ORG, str(host_org_id), source, at
    ):
        member.host_org_id = host_org_id
        if ChangeField.HOST_ORG not in changed:
            changed.append(ChangeField.HOST_ORG)
    return changed


_CHANGE = insert_into(MemberChange, given=("old_value", "new_value"))
_MOVE = update_of(Member, set=("city", "employer"), where=("id",))
_MOVE_CITY = update_of(Member, set=("city", "employer", "province", "host_org_id"), where=("id",))
_PLACE = Sql(
    """SELECT m.host_org_id, h.city, h.name, b.timezone FROM members m
    JOIN organizations b ON b.id = m.branch_id
    LEFT JOIN organizations h ON h.id = m.host_org_id
    WHERE m.id = :member_id"""
)
_BRANCH_TASK = insert_into(ContactLog)


def record_change(
    raw: Raw,
    member_id: int,
    field: ChangeField,
    old: str | None,
    new: str | None,
    *,
    source: ChangeSource,
    at: datetime,
) -> None:
    """Write one line of a member's history (the one statement every change is kept by)."""
    _CHANGE.run(
        raw,
        {
            "member_id": member_id,
            "field": field.value,
            "old_value": old,
            "new_value": new,
            "source": source.value,
            "changed_at": raw.time(at),
        },
    )


def move_member(
    raw: Raw,
    member_id: int,
    *,
    current: tuple[str | None, str | None],
    city: str | None,
    employer: str | None,
    source: ChangeSource,
    at: datetime,
    review_host: bool = True,
) -> tuple[str | None, str | None]:
    """Move a member to a new city and/or employer, with history; returns them as they now are.

    The one rule for a move, whatever the channel (SMS, keypad, admin edit, import): each
    changed detail gets a line of history; a new city sets the province from the city (none
    when the city is not known); and a host organisation in another city no longer looks
    after the member (`review_host`): the attachment ends with a line of history, and the
    branch gets an open task to attach a host in the new city.
    `current` is the member's (city, employer) as read in this transaction.
    """
    old_city, old_employer = current
    new_city = city if city and differs(old_city, city) else old_city
    new_employer = employer if employer and differs(old_employer, employer) else old_employer
    if (new_city, new_employer) == current:
        return current
    for field, old, new in (
        (ChangeField.CITY, old_city, new_city),
        (ChangeField.EMPLOYER, old_employer, new_employer),
    ):
        if new != old:
            record_change(raw, member_id, field, old, new, source=source, at=at)
    if new_city == old_city:
        raw.run(_MOVE, {"id": member_id, "city": new_city, "employer": new_employer})
        return new_city, new_employer
    host_id, host_city, host_name, timezone = raw.one(_PLACE, {"member_id": member_id})
    if (
        review_host
        and host_id is not None
        and host_city
        and city_key(host_city) != city_key(new_city)
    ):
        record_change(
            raw, member_id, ChangeField.HOST_ORG, str(host_id), None, source=source, at=at
        )
        day = at.astimezone(ZoneInfo(timezone)).date()
        _BRANCH_TASK.run(
            raw,
            {
                "member_id": member_id,
                "kind": ContactKind.LIAISON_TASK.value,
                "period": str(Period(day.year, day.month)),
                "contact_date": day,
                "note": f"已迁往{new_city},原流入地党组织“{host_name}”不再对接,"
                f"请为其对接{new_city}的流入地党组织。",
                "done": False,
                "created_at": raw.time(at),
            },
        )
        host_id = None
    raw.run(
        _MOVE_CITY,
        {
            "id": member_id,
            "city": new_city,
            "employer": new_employer,
            "province": province_of(new_city),
            "host_org_id": host_id,
        },
    )
    return new_city, new_employer


_OPT_OUT = update_of(Member, also={"opted_out_at": "COALESCE(opted_out_at, :at)"}, where=("id",))
_OPT_IN = update_of(Member, set=("opted_out_at",), where=("id",))


def set_opted_out(raw: Raw, member_id: int, at: datetime | None) -> None:
    """opt_out (a time) or opt_in (None) on the raw connection; an earlier opt-out time stays."""
    if at is None:
        raw.run(_OPT_IN, {"id": member_id, "opted_out_at": None})
    else:
        raw.run(_OPT_OUT, {"id": member_id, "at": raw.time(at)})


_PHONE_TAKEN = Sql("SELECT id FROM members WHERE phone = :phone")


def phone_taken(raw: Raw, phone: str) -> bool:
    """Whether a member already has this E.164 number."""
    return raw.one(_PHONE_TAKEN, {"phone": phone}) is not None


# Years of birth the register and the member form accept: from this year to the current one.
FIRST_BIRTH_YEAR = 1900


def valid_birth_year(year: int) -> bool:
    """Whether a year of birth is plausible (the one rule for the import and the form)."""
    return FIRST_BIRTH_YEAR <= year <= utcnow().year


class PhoneTaken(ValueError):
    """Another member already has the phone number a member was to be given."""


def change_phone(
    session: Session,
    member: Member,
    new_phone: str,
    *,
    source: ChangeSource,
    at: datetime | None = None,
) -> bool:
    """Give a member a new registered phone (E.164), keeping the old one in the history.

    Raises PhoneTaken when another member has the number: every way in (the SMS
    confirmation, the member's file, the inbox, the register) meets the same rule here.
    """
    owner = session.scalar(
        select(Member.id).where(Member.phone == new_phone, Member.id != member.id)
    )
    if owner is not None:
        raise PhoneTaken(new_phone)
    if record_detail(session, member, ChangeField.PHONE, new_phone, source, at or utcnow()):
        member.other_phone = member.phone
        member.phone = new_phone
        member.phone_invalid_at = None
        return True
    return False


def opt_out(session: Session, member: Member, at: datetime | None = None) -> None:
    """Stop every non-essential send to this member from now on (an earlier opt-out stays).

    The ORM entry to `set_opted_out`, the one implementation the SMS path uses too."""
    _set_opted_out(session, member, at or utcnow())


def opt_in(session: Session, member: Member) -> None:
    """Resume sends to a member who had opted out."""
    _set_opted_out(session, member, None)


def _set_opted_out(session: Session, member: Member, at: datetime | None) -> None:
    session.flush()
    set_opted_out(Raw.of(session.connection()), member.id, at)
    session.expire(member, ["opted_out_at"])


# Details an admin may edit directly; city, employer and host organisation keep a history
# and go through change_status, the phone through change_phone.
EDITABLE_DETAILS = (
    "name",
    "status",
    "sex",
    "birth_year",
    "education",
    "occupation",
    "industry",
    "province",
    "departure_date",
    "reason",
    "card_no",
    "liaison_id",
    "window_start",
    "window_end",
    "language",
    "active",
)


def update_member(
    session: Session,
    member: Member,
    details: dict[str, object],
    *,
    source: ChangeSource,
    at: datetime | None = None,
) -> list[str]:
    """Apply an edit of a member's details; returns the names of the fields that changed.

    Keys outside EDITABLE_DETAILS and city / employer / host_org_id are refused (ValueError).
    """
    unknown = set(details) - set(EDITABLE_DETAILS) - {"city", "employer", "host_org_id"}
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    changed = [
        name
        for name in EDITABLE_DETAILS
        if name in details and getattr(member, name) != details[name]
    ]
    for name in changed:
        setattr(member, name, details[name])
    host = details.get("host_org_id")
    # A host left as it was is no choice for the new place: the move reviews it.
    chosen_host = int(str(host)) if host is not None else None
    moved = change_status(
        session,
        member,
        city=str(details["city"]) if details.get("city") else None,
        employer=str(details["employer"]) if details.get("employer") else None,
        host_org_id=chosen_host if chosen_host != member.host_org_id else None,
        source=source,
        at=at,
    )
    if "province" in changed:
        # Typed by the user: it wins over the province of the city.
        setattr(member, "province", details["province"])  # noqa: B010 - a detail of any type
    if "host_org_id" in details and host is None and member.host_org_id is not None:
        # change_status only records moves to a host; leaving every host is a change too.
        session.flush()
        record_change(
            Raw.of(session.connection()),
            member.id,
            ChangeField.HOST_ORG,
            str(member.host_org_id),
            None,
            source=source,
            at=at or utcnow(),
        )
        member.host_org_id = None
        moved.append(ChangeField.HOST_ORG)
    return changed + [field.value for field in moved]
