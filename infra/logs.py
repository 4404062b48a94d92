"""Logging for every process: one JSON object a line on stderr, phone numbers masked, the
request's or job's ids on each line, and errors to Sentry when SENTRY_DSN is set.

The ids come from `bind()`: the web binds a Twilio request's MessageSid or CallSid and the
admin's user id, a worker the job's id and function, for as long as the request or job runs
(context variables, so threads and requests do not mix them).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import sys
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import IO, Any

from pythonjsonlogger.json import JsonFormatter

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_BOUND: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "log_bound", default=_EMPTY
)

# A run of 7 to 15 digits, with or without a leading +, not part of a longer word or number
# (a MessageSid's hex, a decimal fraction, an id inside a name); Chinese text around it is fine.
# A UUID (an RQ job's id) is matched first and kept whole: one in forty has a first group of
# eight digits, which would otherwise read as a number.
_PHONE = re.compile(
    r"(?P<uuid>(?<![0-9A-Za-z-])[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}(?![0-9A-Za-z-]))"
    r"|(?<![A-Za-z0-9_.+])(\+?)(\d{7,15})(?![A-Za-z0-9_]|\.\d)",
    re.IGNORECASE,
)


def _mask_match(match: re.Match[str]) -> str:
    if match.group("uuid"):
        return match.group("uuid")
    plus, digits = match.group(2), match.group(3)
    # The last four digits stay (enough to tell members apart in a log), and what comes before
    # the eight before them: 13800010001 -> 138****0001, +8613800010001 -> +86138****0001.
    return f"{plus}{digits[: max(0, len(digits) - 8)]}****{digits[-4:]}"


def mask_phones(text: str) -> str:
    """The text with every phone-like run of digits masked but its head and last four."""
    return _PHONE.sub(_mask_match, text)


def bound() -> dict[str, Any]:
    """The ids bound to the current request or job."""
    return dict(_BOUND.get())


def bind(**values: Any) -> None:
    """Add ids to every following log line of this request or job (None values are left out)."""
    merged = dict(_BOUND.get())
    merged.update({key: value for key, value in values.items() if value is not None})
    _BOUND.set(merged)


def clear() -> None:
    """Forget the bound ids (a request or job ended)."""
    _BOUND.set(_EMPTY)


@contextlib.contextmanager
def bound_to(**values: Any) -> Iterator[None]:
    """Bind ids for the length of a block, then restore what was bound before."""
    token = _BOUND.set({**_BOUND.get(), **{k: v for k, v in values.items() if v is not None}})
    try:
        yield
    finally:
        _BOUND.reset(token)


class BoundIds(logging.Filter):
    """Puts the bound ids on each record (as attributes, which the JSON formatter writes)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _BOUND.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class MaskedJsonFormatter(JsonFormatter):
    """python-json-logger's formatter, its whole line masked (message, extras, traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_phones(super().format(record))


class MaskedTextFormatter(logging.Formatter):
    """A readable line for `make run`, the bound ids after the message, masked too."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = " ".join(f"{key}={value}" for key, value in _BOUND.get().items())
        return mask_phones(f"{line} {ids}" if ids else line)


_HANDLER_NAME = "gateway-stderr"


def configure(config: Mapping[str, Any], stream: IO[str] | None = None) -> logging.Handler:
    """Send the root logger's records to stderr (or `stream`) in the configured format.

    Safe to call again: the handler this installed before is replaced, others are kept.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(BoundIds())
    if config.get("LOG_FORMAT", "json") == "text":
        handler.setFormatter(MaskedTextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(
            MaskedJsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(process)d",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                timestamp=False,
            )
        )
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(str(config.get("LOG_LEVEL", "INFO")).upper())
    # Alembic announces each of its plugins at INFO whenever the models load.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    return handler


def init_sentry(config: Mapping[str, Any], *, component: str) -> bool:
    """Report errors to SENTRY_DSN (Flask and RQ integrations) when it is set."""
    dsn = str(config.get("SENTRY_DSN") or "")
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.flask import FlaskIntegration
    from sentry_sdk.integrations.rq import RqIntegration

    sentry_sdk.init(
        dsn=dsn,
        integrations=[FlaskIntegration(), RqIntegration()],
        send_default_pii=False,
        before_send=_mask_event,
        server_name=None,
    )
    sentry_sdk.set_tag("component", component)
    return True


def _mask_event(event: Any, _hint: Any) -> Any:
    """Mask phone numbers anywhere in an event before it leaves the process."""
    return _mask_tree(event)


def _mask_tree(value: Any) -> Any:
    if isinstance(value, str):
        return mask_phones(value)
    if isinstance(value, dict):
        return {key: _mask_tree(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask_tree(item) for item in value]
    return value


__all__ = [
    "bind",
    "bound",
    "bound_to",
    "clear",
    "configure",
    "init_sentry",
    "mask_phones",
]
