"""How large a request body may be: small everywhere, larger on the upload routes only.

Twilio's webhooks and the admin's forms are a few kilobytes. A body larger than the route
allows is refused with 413 before anything reads it, so an unsigned 20 MB form cannot tie
up a worker while the signature or CSRF check waits for it. A body sent without a
Content-Length (chunked) is read up to the same limit and no further (Werkzeug stops the
stream there; gunicorn and the development server both say they end the stream), and one
that reaches the limit is refused too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, abort, current_app, request

F = TypeVar("F", bound=Callable[..., Any])

_UPLOAD_MARK = "_accepts_upload"


def accepts_upload(view: F) -> F:
    """Mark a view as an upload route: its body may be up to MAX_UPLOAD_MB."""
    setattr(view, _UPLOAD_MARK, True)
    return view


def form_limit(config: Any) -> int:
    """The largest body, in bytes, outside the upload routes."""
    return int(config["MAX_FORM_KB"]) * 1024


def upload_limit(config: Any) -> int:
    """The largest body, in bytes, on an upload route."""
    return int(config["MAX_UPLOAD_MB"]) * 1024 * 1024


def is_upload_route() -> bool:
    """Whether this request's view accepts uploads."""
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, _UPLOAD_MARK, False))


def init_app(app: Flask) -> None:
    """The small limit app-wide, the upload limit on marked views, checked before any read."""
    app.config["MAX_CONTENT_LENGTH"] = form_limit(app.config)
    # The app's before_request runs before the blueprints' (the admin's CSRF check reads
    # the form), and before any view or decorator touches the body.
    app.before_request_funcs.setdefault(None, []).insert(0, _limit_body)


def _limit_body() -> None:
    if is_upload_route():
        request.max_content_length = upload_limit(current_app.config)
    limit = request.max_content_length
    length = request.content_length
    if limit is None:
        return
    if length is not None:
        if length > limit:
            abort(413)
        return
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    # Werkzeug reads a chunked body up to the limit and quietly stops there: a form cut off at
    # the limit is refused rather than parsed. Small bodies only: read once, kept for the form.
    if chunked and not is_upload_route() and len(request.get_data(cache=True)) >= limit:
        abort(413)
