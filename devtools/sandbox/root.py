"""POST /: where the mainland providers' SDKs send every API call, told apart by their headers."""

from __future__ import annotations

from flask import Blueprint, Response, request

from devtools.sandbox import tencent

bp = Blueprint("sandbox_root", __name__)


@bp.post("/")
def provider_api() -> Response:
    """Hand the request to the provider whose SDK made it; 404 for any other."""
    if "X-TC-Action" in request.headers:  # Tencent Cloud API 3.0
        return tencent.api()
    return Response("no provider API recognised at /", status=404, mimetype="text/plain")


__all__ = ["bp"]
