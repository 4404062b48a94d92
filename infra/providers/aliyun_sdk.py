"""One Alibaba Cloud SDK call, for the SMS (dysmsapi) and voice (dyvmsapi) clients alike: the
SDK's exceptions and a body whose Code is not OK become a ProviderError read by the caller's
table of codes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from infra.providers.base import ProviderError
from models.delivery import Failure
from models.numbers import parse_int

OK = "OK"


def call_sdk(
    method: Callable[[Any, Any], Any],
    request: Any,
    runtime: Any,
    read: Callable[[str | None, int | None], Failure],
    refused: str,
) -> Any:
    """Run `method(request, runtime)`; its body when Code is OK, else a ProviderError whose
    failure `read` gives from Alibaba's code and HTTP status (`refused`: the message when
    Alibaba gives none)."""
    from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
    from darabonba.exceptions import UnretryableException

    try:
        response = method(request, runtime)
    except AlibabaCloudException as exc:
        code = str(exc.code) if exc.code else None
        status = parse_int(getattr(exc, "status_code", None))
        data = getattr(exc, "data", None) or {}
        message = str(data.get("Message") or exc.message or "Alibaba Cloud error")
        raise ProviderError(message, status=status, code=code, failure=read(code, status)) from exc
    except UnretryableException as exc:
        # The connection failed or timed out: the request may have reached Alibaba.
        raise ProviderError(
            f"provider unreachable: {exc}", failure=Failure.RETRY_LATER, connection_error=True
        ) from exc
    body = response.body
    code = str(body.code or "")
    if code != OK:
        raise ProviderError(
            str(body.message or refused),
            status=parse_int(response.status_code),
            code=code or None,
            failure=read(code, None),
        )
    return body


__all__ = ["OK", "call_sdk"]
