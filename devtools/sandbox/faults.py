"""Fault rules: how a test tells the sandbox to answer like a failing or slow Twilio."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The text Twilio answers with for the error codes the sandbox can produce.
ERROR_MESSAGES: dict[int, str] = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "An internal server error has occurred",
    20503: "Service is unavailable. Please try again",
    21201: "No 'To' number is specified",
    21205: "Url is not a valid URL",
    21211: "The 'To' number is not a valid phone number.",
    21213: "No 'From' number is specified",
    21215: "Account not authorized to call this number.",
    21408: "Permission to send an SMS has not been enabled for the region indicated by the 'To' "
    "number.",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number is not a valid mobile number",
    21617: "The concatenated message body exceeds the 1600 character limit.",
}
# Delivery failures as reported in a status callback's ErrorCode.
DELIVERY_STATUSES = ("failed", "undelivered")
CALL_FAILURES = ("busy", "no-answer", "failed")
ANSWERED_BY = ("human", "machine_start", "machine_end_beep", "fax", "unknown")
RESOURCES = ("messages", "calls")

_INT_KEYS = ("status", "code", "count", "delay_ms", "error_code", "call_duration")
_STR_KEYS = ("to", "resource", "message", "delivery", "answered_by", "call_status")
_KEYS = {*_INT_KEYS, *_STR_KEYS, "callbacks"}


@dataclass(frozen=True)
class Fault:
    """One rule; `remaining` None means it applies until the faults are cleared."""

    id: int
    remaining: int | None
    to: str | None = None
    resource: str | None = None
    status: int | None = None
    code: int | None = None
    message: str | None = None
    delay_ms: int | None = None
    delivery: str | None = None
    error_code: int | None = None
    callbacks: bool | None = None
    answered_by: str | None = None
    call_status: str | None = None
    call_duration: int | None = None

    @classmethod
    def from_rule(cls, fault_id: int, rule: dict[str, Any], remaining: int | None) -> Fault:
        """Rebuild a fault from its stored rule."""
        fields = {key: value for key, value in rule.items() if key != "count"}
        return cls(id=fault_id, remaining=remaining, **fields)

    def matches(self, resource: str, to: str | None) -> bool:
        """True when this rule applies to a request on `resource` for the number `to`."""
        if self.resource is not None and self.resource != resource:
            return False
        return self.to is None or self.to == to

    @property
    def is_error(self) -> bool:
        """True when the rule makes a create answer with an error."""
        return self.status is not None or self.code is not None

    def error(self) -> tuple[int, int, str]:
        """The HTTP status, Twilio code and message this rule answers a create with."""
        status = self.status if self.status is not None else _status_for(self.code)
        code = self.code if self.code is not None else _code_for(status)
        message = self.message or ERROR_MESSAGES.get(code, "Error")
        return status, code, message


def parse_rule(payload: Any) -> dict[str, Any]:
    """Check a rule posted to /_sandbox/faults; raise ValueError saying what is wrong."""
    if not isinstance(payload, dict) or not payload:
        raise ValueError("a fault is a non-empty JSON object")
    unknown = set(payload) - _KEYS
    if unknown:
        raise ValueError(f"unknown fault keys: {', '.join(sorted(unknown))}")
    rule: dict[str, Any] = {}
    for key, value in payload.items():
        if key in _INT_KEYS:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{key} must be a non-negative integer")
        elif key in _STR_KEYS:
            if not isinstance(value, str) or not value:
                raise ValueError(f"{key} must be a non-empty string")
        elif not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false")
        rule[key] = value
    _check_choice(rule, "resource", RESOURCES)
    _check_choice(rule, "delivery", DELIVERY_STATUSES)
    _check_choice(rule, "answered_by", ANSWERED_BY)
    _check_choice(rule, "call_status", CALL_FAILURES)
    if "error_code" in rule and "delivery" not in rule:
        raise ValueError("error_code goes with delivery")
    status = rule.get("status")
    if status is not None and not 400 <= status <= 599:
        raise ValueError("status must be an HTTP error status (400-599)")
    if rule.get("code") == 500 and status is None:
        # A bare HTTP status given as the code: answer with it, as Twilio's 5xx do.
        rule["status"] = 500
        rule["code"] = 20500
    return rule


def _check_choice(rule: dict[str, Any], key: str, choices: tuple[str, ...]) -> None:
    if key in rule and rule[key] not in choices:
        raise ValueError(f"{key} must be one of {', '.join(choices)}")


def _status_for(code: int | None) -> int:
    """The HTTP status Twilio pairs with an error code."""
    if code == 20429:
        return 429
    if code in (20500, 20503):
        return code - 20000
    if code == 20003:
        return 401
    if code == 20404:
        return 404
    return 400


def _code_for(status: int) -> int:
    """The Twilio code for a bare HTTP status: 20xxx for the generic ones."""
    if status in (401, 404, 429, 500, 503):
        return 20000 + status
    return status


__all__ = ["ERROR_MESSAGES", "Fault", "parse_rule"]
