"""TwiML responses and the Twilio signature check shared by every webhook."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import Response, abort, current_app, request
from twilio.twiml import TwiML
from twilio.twiml.messaging_response import MessagingResponse

from infra.providers.twilio import SignatureCheck

F = TypeVar("F", bound=Callable[..., Any])


def twiml(response: TwiML | str, status: int = 200) -> Response:
    """Serve a TwiML document as text/xml."""
    body = response if isinstance(response, str) else response.to_xml()
    return Response(body, status=status, mimetype="text/xml")


def message_twiml(text: str | None) -> Response:
    """The TwiML answering an inbound SMS with one message (or none, for no text)."""
    response = MessagingResponse()
    if text:
        response.message(text)
    return twiml(response)


def public_url() -> str:
    """The URL Twilio requested: PUBLIC_BASE_URL plus this request's path and query string."""
    base = current_app.config["PUBLIC_BASE_URL"]
    base_path = urlsplit(base).path.rstrip("/")
    path = request.full_path if request.query_string else request.path
    # full_path keeps the query; a script root (proxy prefix) is part of the public base already.
    return base[: len(base) - len(base_path)] + base_path + path


def _signature_check() -> SignatureCheck:
    check = current_app.extensions.get("twilio_signature")
    if check is None:
        check = SignatureCheck.from_config(current_app.config)
        current_app.extensions["twilio_signature"] = check
    return cast(SignatureCheck, check)


def signature_is_valid() -> bool:
    """Whether the request carries Twilio's valid signature for its public URL."""
    signature = request.headers.get("X-Twilio-Signature", "")
    return _signature_check().valid(public_url(), request.form, signature)


def twilio_signed(view: F) -> F:
    """Refuse (403) any request not signed by Twilio with our auth token."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not signature_is_valid():
            abort(403)
        return view(*args, **kwargs)

    return cast(F, wrapper)
