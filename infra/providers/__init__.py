"""SMS and voice providers behind one interface; `build_provider` picks one by PROVIDER."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.providers.base import (
    CallReceipt,
    OutboundCall,
    OutboundSms,
    Provider,
    ProviderError,
    PushedText,
    Receipt,
    RecordingAudio,
    RecordingRefused,
    RedirectRefused,
    SentMessage,
)
from models.delivery import Failure


def build_provider(config: Mapping[str, Any]) -> Provider:
    """The provider the settings name (`twilio`, `sandbox`: Twilio's API served locally,
    `aliyun`: Alibaba Cloud SMS, `tencent`: Tencent Cloud SMS; the last two against the
    provider or the sandbox's copy of its API)."""
    kind = str(config["PROVIDER"])
    if kind in ("twilio", "sandbox"):
        from infra.providers import twilio

        return twilio.from_config(config)
    if kind == "aliyun":
        from infra.providers import aliyun

        return aliyun.from_config(config)
    if kind == "tencent":
        from infra.providers import tencent

        return tencent.from_config(config)
    raise ValueError(f"unknown PROVIDER {kind!r}")


__all__ = [
    "CallReceipt",
    "Failure",
    "OutboundCall",
    "OutboundSms",
    "Provider",
    "ProviderError",
    "PushedText",
    "Receipt",
    "RecordingAudio",
    "RecordingRefused",
    "RedirectRefused",
    "SentMessage",
    "build_provider",
]
