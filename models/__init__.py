"""Tables and the domain operations on them: the one place the rules live."""

from __future__ import annotations

from models.audit import AuditAction, AuditLog, audit
from models.base import Base, utcnow
from models.broadcast import Broadcast, BroadcastStatus
from models.call import (
    Call,
    CallbackReason,
    CallbackRequest,
    CallbackStatus,
    CallDirection,
    CallPurpose,
    CallStatus,
    Recording,
    RecordingKind,
    call_can_move,
)
from models.contact import ContactKind, ContactLog
from models.deed import Deed, DeedStatus, Exemplar
from models.help import HelpCategory, HelpNote, HelpRequest, HelpStatus, open_help_request
from models.lesson import CampaignStatus, Lesson, LessonCampaign, LessonCategory, LessonListen
from models.makeup import MakeupFlag
from models.member import (
    ChangeField,
    ChangeSource,
    Language,
    Member,
    MemberChange,
    MembershipStatus,
    change_phone,
    change_status,
    find_member_by_phone,
    opt_in,
    opt_out,
)
from models.message import (
    Conversation,
    Direction,
    Message,
    MessageStatus,
    PhoneChange,
    can_move,
    open_conversation,
)
from models.notice import NoticeChannel, PrivacyNotice
from models.org import HostKind, Organization, OrgKind, find_org, subtree_ids
from models.period import Period, period_of
from models.phones import InvalidPhone, normalize_phone, try_normalize
from models.privacy import RetentionRun
from models.push import ProviderPush
from models.rating import Grade, MemberRating
from models.reminder import EscalationStep, ReminderStep
from models.report import Channel, NonReporter, Report, ReportRevision, record_report
from models.stored_file import StoredFile
from models.survey import (
    QuestionKind,
    Survey,
    SurveyAnswer,
    SurveyQuestion,
    SurveyRecipient,
    SurveyStatus,
)
from models.user import Role, User

__all__ = [
    "AuditAction",
    "AuditLog",
    "Base",
    "Broadcast",
    "BroadcastStatus",
    "Call",
    "CallDirection",
    "CallPurpose",
    "CallStatus",
    "CallbackReason",
    "CallbackRequest",
    "CallbackStatus",
    "CampaignStatus",
    "ChangeField",
    "ChangeSource",
    "Channel",
    "ContactKind",
    "ContactLog",
    "Conversation",
    "Deed",
    "DeedStatus",
    "Direction",
    "EscalationStep",
    "Exemplar",
    "Grade",
    "HelpCategory",
    "HelpNote",
    "HelpRequest",
    "HelpStatus",
    "HostKind",
    "InvalidPhone",
    "Language",
    "Lesson",
    "LessonCampaign",
    "LessonCategory",
    "LessonListen",
    "MakeupFlag",
    "Member",
    "MemberChange",
    "MemberRating",
    "MembershipStatus",
    "Message",
    "MessageStatus",
    "NonReporter",
    "NoticeChannel",
    "OrgKind",
    "Organization",
    "Period",
    "PhoneChange",
    "PrivacyNotice",
    "ProviderPush",
    "QuestionKind",
    "Recording",
    "RecordingKind",
    "ReminderStep",
    "Report",
    "ReportRevision",
    "RetentionRun",
    "Role",
    "StoredFile",
    "Survey",
    "SurveyAnswer",
    "SurveyQuestion",
    "SurveyRecipient",
    "SurveyStatus",
    "User",
    "audit",
    "call_can_move",
    "can_move",
    "change_phone",
    "change_status",
    "find_member_by_phone",
    "find_org",
    "normalize_phone",
    "open_conversation",
    "open_help_request",
    "opt_in",
    "opt_out",
    "period_of",
    "record_report",
    "subtree_ids",
    "try_normalize",
    "utcnow",
]
