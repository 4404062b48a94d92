"""TwiML responses and the Twilio signature check shared by every webhook."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlparse, urlsplit

from flask import Response, abort, current_app, request
from twilio.request_validator import RequestValidator, add_port, remove_port
from twilio.twiml import TwiML
from twilio.twiml.messaging_response import MessagingResponse

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


def _validator() -> RequestValidator:
    validator = current_app.extensions.get("twilio_validator")
    if validator is None:
        validator = RequestValidator(current_app.config["TWILIO_AUTH_TOKEN"])
        current_app.extensions["twilio_validator"] = validator
    return cast(RequestValidator, validator)


def signature_is_valid() -> bool:
    """Whether the request carries Twilio's valid signature for its public URL."""
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:
        return False
    validator = _validator()
    expected = signature.encode()
    # RequestValidator.validate signs twice on every call (the URL with and without its port,
    # since Twilio is not consistent about ports); signing the URL as configured first, and
    # the other form only on a mismatch, accepts the same requests for half the work.
    for url in _signed_forms(public_url()):
        computed = validator.compute_signature(url, request.form)
        if hmac.compare_digest(computed.encode(), expected):
            return True
    return False


@functools.lru_cache(maxsize=1024)
def _signed_forms(url: str) -> tuple[str, ...]:
    """The URL as given, then its other form (port added or removed), as Twilio may sign it."""
    parsed = urlparse(url)
    forms = [url]
    for other in (remove_port(parsed), add_port(parsed)):
        if other not in forms:
            forms.append(other)
    return tuple(forms)


def twilio_signed(view: F) -> F:
    """Refuse (403) any request not signed by Twilio with our auth token."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not signature_is_valid():
            abort(403)
        return view(*args, **kwargs)

    return cast(F, wrapper)
