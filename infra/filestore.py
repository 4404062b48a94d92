"""Where uploaded files live: UPLOAD_STORE=local (files under UPLOAD_DIR, one machine or a
shared mount) or database (the `stored_files` table, which every host reads).

Paths are relative ("lessons/<token>.mp3") in both stores; a lesson's `audio_path` is one.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from flask import Response, abort, current_app, send_from_directory
from sqlalchemy import select

from infra.db import get_session
from models.stored_file import StoredFile

STORES = ("local", "database")


def _store() -> str:
    return str(current_app.config["UPLOAD_STORE"])


def _local_path(relative: str) -> Path | None:
    """The file under UPLOAD_DIR, or None for a path that would leave it."""
    root = Path(current_app.config["UPLOAD_DIR"]).resolve()
    path = (root / relative).resolve()
    return path if path.is_relative_to(root) and path != root else None


def save(relative: str, data: bytes) -> None:
    """Store a file; in the database it is written with the caller's transaction."""
    if _store() == "database":
        get_session().add(StoredFile(path=relative, size=len(data), data=data))
        return
    path = _local_path(relative)
    if path is None:
        raise ValueError(f"not a path under UPLOAD_DIR: {relative!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def read(relative: str) -> bytes | None:
    """A stored file's bytes, or None when there is none at that path."""
    if _store() == "database":
        data: bytes | None = get_session().scalar(
            select(StoredFile.data).where(StoredFile.path == relative)
        )
        return data
    path = _local_path(relative)
    if path is None or not path.is_file():
        return None
    try:
        return path.read_bytes()
    except OSError:
        return None


def send(relative: str, mimetype: str | None = None, max_age: int | None = None) -> Response:
    """A response with the stored file (404 when there is none)."""
    mimetype = mimetype or mimetypes.guess_type(relative)[0]
    if _store() == "database":
        data = read(relative)
        if data is None:
            abort(404)
        response = Response(data, mimetype=mimetype)
        if max_age is not None:
            response.cache_control.max_age = max_age
            response.cache_control.public = True
        return response
    return send_from_directory(
        current_app.config["UPLOAD_DIR"], relative, mimetype=mimetype, max_age=max_age
    )


__all__ = ["STORES", "read", "save", "send"]
