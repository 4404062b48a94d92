"""Whole numbers from outside (addresses, query arguments, forms, webhooks, keys pressed).

Every id and count column is an INTEGER, which PostgreSQL keeps in 32 bits and SQLite's
driver refuses beyond 64: a larger number from outside is no row we have, so it is read as
"not a number" here, once, rather than reaching the database and failing there.
"""

from __future__ import annotations

import re
from typing import Any

INT_MAX = 2**31 - 1  # PostgreSQL INTEGER, the type of every id column
_DIGITS_RE = re.compile(r"[0-9]{1,10}")


def to_int(value: Any) -> int:
    """A whole number from 0 to INT_MAX, from ASCII digits or an int; ValueError otherwise.

    Usable as a `type=` of request.args.get and as a WTForms `coerce`.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _DIGITS_RE.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        raise ValueError(f"not a whole number from 0 to {INT_MAX}: {str(value)[:20]!r}")
    if not 0 <= number <= INT_MAX:
        raise ValueError(f"not a whole number from 0 to {INT_MAX}: {number}")
    return number


def parse_int(value: Any, default: int | None = None) -> int | None:
    """to_int(value), or the default when it is missing, not a number or out of range."""
    try:
        return to_int(value)
    except ValueError:
        return default


__all__ = ["INT_MAX", "parse_int", "to_int"]
