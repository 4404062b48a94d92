"""Read-side queries for the admin pages, one module a page or family of pages, each scoped
to what the user may see. They only read: what a page shows is written by the domain
operations beside the tables (`models/*.py`) and by the jobs.

They are written for a township of 100,000 members with years of reports: counts are
aggregate SQL over the existing indexes, lists are paginated, and the trend chart reads the
per-branch tallies the period-close job keeps (`models.tally`) instead of every report again.

    common        Page and paginate, the scope's members, periods of a range, names by id
    dashboard     rates per branch, the 12-month trend, what needs attention
    members       the member list, its filters and the choices its forms offer
    member_file   one member's file and the months of their record
    reports_grid  members by months
    nonreporters  members who missed months, with their lesson record
    roster        the make-up training roster
    inbox         unhandled texts and recordings, unknown numbers, replies to notices
    help_requests help requests, their recordings and notes
    review        the yearly review
    deeds         deeds for home, the tips board, contributions and branches compared
    hosts         a host organisation's members and their feedback
    notices       broadcasts, their recipients and replies
    lessons       lessons and lesson campaigns with their figures
    audit_log     the audit log
    inspection    the inspection (考核检查): per branch and month, what was done in time
    survey        surveys, each question's answers by branch, a member's answers
"""

from __future__ import annotations

from models.reads import (
    audit_log,
    common,
    dashboard,
    deeds,
    help_requests,
    hosts,
    inbox,
    inspection,
    lessons,
    member_file,
    members,
    nonreporters,
    notices,
    reports_grid,
    review,
    roster,
    survey,
)

__all__ = [
    "audit_log",
    "common",
    "dashboard",
    "deeds",
    "help_requests",
    "hosts",
    "inbox",
    "inspection",
    "lessons",
    "member_file",
    "members",
    "nonreporters",
    "notices",
    "reports_grid",
    "review",
    "roster",
    "survey",
]
