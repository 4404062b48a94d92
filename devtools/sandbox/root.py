"""`/` of the sandbox: where the mainland providers' SDKs post every API call.

Alibaba Cloud's and Tencent Cloud's SDKs post to the root of their endpoints and name the
action in their own headers; each provider's module says whether a request is its own.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from devtools.sandbox import aliyun, tencent

bp = Blueprint("sandbox_root", __name__)


@bp.route("/", methods=["GET", "POST"])
def api_root() -> Response:
    """Hand the call to the provider whose headers it carries; 404 for anyone else."""
    if "X-TC-Action" in request.headers:  # Tencent Cloud API 3.0
        return tencent.api()
    if aliyun.handles(request):
        return aliyun.dispatch()
    return Response("no provider API answers this request", status=404, mimetype="text/plain")


__all__ = ["bp"]
