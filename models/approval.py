"""When a notice must be approved by a township user before it goes, and checking that setting.

A township may set, in its `settings` under APPROVAL_KEY, a number of members and a cost above
which a branch's notice waits for a township user's approval; and whether its own notices
above them need a second township user (never the author). The decisions themselves are in
models.broadcast (approve_broadcast, return_broadcast).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from models.org import Organization, OrgKind
from models.targets import BilingualError

APPROVAL_KEY = "notice_approval"
MAX_MEMBERS = 10_000_000
MAX_COST = Decimal("10000000")
MAX_REASON_CHARS = 500


class ApprovalError(BilingualError):
    """An approval setting or decision that cannot be made."""


@dataclass(frozen=True)
class ApprovalRule:
    """A township's thresholds: None is no threshold."""

    members: int | None = None
    cost: Decimal | None = None
    township_own: bool = False

    @property
    def active(self) -> bool:
        """Whether any notice can need approval at all."""
        return self.members is not None or self.cost is not None


def approval_rule(township: Organization) -> ApprovalRule:
    """The township's approval thresholds (none unless it set them)."""
    stored = (township.settings or {}).get(APPROVAL_KEY) or {}
    members = stored.get("members")
    cost = stored.get("cost")
    return ApprovalRule(
        members=int(members) if members is not None else None,
        cost=Decimal(str(cost)) if cost is not None else None,
        township_own=bool(stored.get("township_own")),
    )


def approval_reasons(
    rule: ApprovalRule, org: Organization, recipients: int, cost: Decimal
) -> list[str]:
    """Why a notice of this organisation must wait for approval ("members", "cost"), or []."""
    if org.kind is OrgKind.TOWNSHIP and not rule.township_own:
        return []
    reasons = []
    if rule.members is not None and recipients > rule.members:
        reasons.append("members")
    if rule.cost is not None and cost > rule.cost:
        reasons.append("cost")
    return reasons


def check_approval_settings(members: Any, cost: Any, township_own: bool) -> dict[str, Any]:
    """The setting as stored: an empty field is no threshold; members a whole number from 0,
    cost an amount from 0 (CNY, two decimals at most)."""
    checked: dict[str, Any] = {"members": None, "cost": None, "township_own": bool(township_own)}
    members_text = str(members if members is not None else "").strip()
    if members_text:
        try:
            number = int(members_text)
        except ValueError:
            raise ApprovalError(
                f"人数应为整数:{members_text!r}",
                f"The number of members must be whole: {members_text!r}",
            ) from None
        if not 0 <= number <= MAX_MEMBERS:
            raise ApprovalError(
                f"人数应在0到{MAX_MEMBERS}之间:{number}",
                f"The number of members must be from 0 to {MAX_MEMBERS}: {number}",
            )
        checked["members"] = number
    cost_text = str(cost if cost is not None else "").strip()
    if cost_text:
        try:
            amount = Decimal(cost_text)
        except InvalidOperation:
            raise ApprovalError(
                f"费用应为金额,例如50或12.5:{cost_text!r}",
                f"The cost must be an amount such as 50 or 12.5: {cost_text!r}",
            ) from None
        if not amount.is_finite() or not Decimal(0) <= amount <= MAX_COST:
            raise ApprovalError(
                f"费用应在0到{MAX_COST}元之间:{cost_text}",
                f"The cost must be from 0 to {MAX_COST} yuan: {cost_text}",
            )
        if amount != amount.quantize(Decimal("0.01")):
            raise ApprovalError(
                f"费用最多两位小数:{cost_text}", f"The cost has at most two decimals: {cost_text}"
            )
        checked["cost"] = str(amount.quantize(Decimal("0.01")))
    return checked


def check_reason(reason: str) -> str:
    """A reason for returning a notice: not empty, at most MAX_REASON_CHARS."""
    text = (reason or "").strip()
    if not text:
        raise ApprovalError("请写明退回的理由", "Say why the notice is returned")
    if len(text) > MAX_REASON_CHARS:
        raise ApprovalError(
            f"理由最多{MAX_REASON_CHARS}字", f"The reason is at most {MAX_REASON_CHARS} characters"
        )
    return text


__all__ = [
    "APPROVAL_KEY",
    "MAX_REASON_CHARS",
    "ApprovalError",
    "ApprovalRule",
    "approval_reasons",
    "approval_rule",
    "check_approval_settings",
    "check_reason",
]
