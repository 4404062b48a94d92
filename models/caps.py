"""How many texts one number may be sent: the mainland providers' caps, applied before sending.

Domestic SMS providers and the carriers behind them cap what one number receives: Tencent
Cloud by default two texts a day and no identical text within 30 seconds, the carriers ten
notifications a day, Alibaba Cloud fifty a day per signature and template. Every request the
provider accepts counts, delivered or not. A text over a cap is refused by the provider and
lost; here it waits instead, for the next day's contact window (or the end of the interval),
with the reason kept on the row.

The caps are the provider's by default; a township may set its own (lower, when its
provider account was given lower limits, or none where it negotiated more) in its settings.
The provider's day is China's: the caps restart at midnight Beijing time.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

PROVIDER_TIMEZONE = ZoneInfo("Asia/Shanghai")
DAILY_CAP_KEY = "sms_daily_cap"
SAME_CONTENT_KEY = "sms_same_content_seconds"
CAP_KEYS = (DAILY_CAP_KEY, SAME_CONTENT_KEY)
MAX_DAILY_CAP = 1000
MAX_SAME_CONTENT_SECONDS = 24 * 3600


class HoldReason(enum.StrEnum):
    """Why a queued text waits."""

    WINDOW = "window"  # outside the member's contact window
    DAILY_CAP = "daily_cap"  # the number had all the texts its provider allows today
    SAME_CONTENT = "same_content"  # the same text went to the number moments ago


@dataclass(frozen=True)
class SendCaps:
    """The caps texts to one number are held to; None or 0 is no cap."""

    daily: int | None = None
    same_content_seconds: int = 0

    @property
    def any(self) -> bool:
        """Whether there is anything to check."""
        return bool(self.daily) or self.same_content_seconds > 0


# Each provider's defaults (see the module's docstring). Twilio caps nothing per number.
PROVIDER_CAPS: dict[str, SendCaps] = {
    "twilio": SendCaps(),
    "sandbox": SendCaps(),
    "aliyun": SendCaps(daily=10, same_content_seconds=30),
    "tencent": SendCaps(daily=2, same_content_seconds=30),
}


def caps_for(provider: str, township_settings: dict[str, Any] | None = None) -> SendCaps:
    """The caps for a township on a provider: its own values where set, else the provider's."""
    default = PROVIDER_CAPS.get(provider, SendCaps())
    settings = township_settings or {}
    daily = settings.get(DAILY_CAP_KEY, default.daily)
    same = settings.get(SAME_CONTENT_KEY, default.same_content_seconds)
    return SendCaps(
        daily=int(daily) if daily else None,
        same_content_seconds=int(same or 0),
    )


def check_caps(daily: str, same_content_seconds: str) -> dict[str, int | None]:
    """A township's cap settings from a form: whole numbers in range; empty means the
    provider's default (None). Raises ValueError naming the field."""
    values: dict[str, int | None] = {}
    for key, text, top in (
        (DAILY_CAP_KEY, daily, MAX_DAILY_CAP),
        (SAME_CONTENT_KEY, same_content_seconds, MAX_SAME_CONTENT_SECONDS),
    ):
        text = (text or "").strip()
        if not text:
            values[key] = None
            continue
        if not text.isascii() or not text.isdigit() or not 0 <= int(text) <= top:
            raise ValueError(key)
        values[key] = int(text)
    return values


def provider_day(at: datetime) -> tuple[str, datetime]:
    """The provider's day an instant falls in (as YYYYMMDD) and when the next day starts."""
    local = at.astimezone(PROVIDER_TIMEZONE)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    tomorrow = (midnight + timedelta(days=1)).replace(tzinfo=None).replace(tzinfo=PROVIDER_TIMEZONE)
    return local.strftime("%Y%m%d"), tomorrow.astimezone(at.tzinfo)


__all__ = [
    "CAP_KEYS",
    "PROVIDER_CAPS",
    "PROVIDER_TIMEZONE",
    "HoldReason",
    "SendCaps",
    "caps_for",
    "check_caps",
    "provider_day",
]
