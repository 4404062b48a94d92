"""GET /media/<path>: lesson audio and prompt recordings, which Twilio fetches to play.

`?from=<seconds>` serves a lesson's audio from that second on (a lesson resumed where the last
call stopped, ivr_flows.lessons): a WAV file is cut at the exact frame; an MP3 file at the same
share of its bytes (a player finds the next frame), from the lesson's stored length.
"""

from __future__ import annotations

import io
import wave

from flask import Blueprint, Flask, Response, abort, request
from sqlalchemy import select

from infra import filestore
from infra.db import get_session
from models.lesson import Lesson
from models.numbers import parse_int

bp = Blueprint("media", __name__)

# Only these folders under UPLOAD_DIR are public: Twilio fetches them without a login.
PUBLIC_FOLDERS = ("lessons", "prompts")
AUDIO_TYPES = {".mp3": "audio/mpeg", ".wav": "audio/wav"}


def init_app(app: Flask) -> None:
    """Register the media route."""
    app.register_blueprint(bp)


@bp.get("/media/<folder>/<name>")
def media(folder: str, name: str) -> Response:
    """Serve one uploaded audio file, from a second on when asked; anything else is 404."""
    suffix = name[name.rfind(".") :].lower() if "." in name else ""
    if folder not in PUBLIC_FOLDERS or suffix not in AUDIO_TYPES:
        abort(404)
    relative = f"{folder}/{name}"
    start = parse_int(request.args.get("from", ""))
    if folder == "lessons" and start is not None and start > 0:
        data = filestore.read(relative)
        if data is None:
            abort(404)
        cut = _from_second(data, relative, suffix, start)
        if cut is not None:
            return Response(cut, mimetype=AUDIO_TYPES[suffix])
    return filestore.send(relative, AUDIO_TYPES[suffix], max_age=3600)


def _from_second(data: bytes, relative: str, suffix: str, start: int) -> bytes | None:
    """The file's audio from `start` seconds on; None: serve it whole (unreadable, unknown)."""
    if suffix == ".wav":
        try:
            with wave.open(io.BytesIO(data), "rb") as source:
                frame = min(start * source.getframerate(), source.getnframes())
                source.setpos(frame)
                frames = source.readframes(source.getnframes() - frame)
                params = source.getparams()
        except (wave.Error, EOFError):
            return None
        out = io.BytesIO()
        with wave.open(out, "wb") as target:
            target.setparams(params)
            target.writeframes(frames)
        return out.getvalue()
    duration = get_session().scalar(
        select(Lesson.duration).where(Lesson.audio_path == relative).limit(1)
    )
    if not duration:
        return None
    return data[len(data) * min(start, duration) // duration :]
