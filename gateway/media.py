"""GET /media/<path>: lesson audio and prompt recordings, which Twilio fetches to play."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, abort, current_app, send_from_directory

bp = Blueprint("media", __name__)

# Only these folders under UPLOAD_DIR are public: Twilio fetches them without a login.
PUBLIC_FOLDERS = ("lessons", "prompts")
AUDIO_TYPES = {".mp3": "audio/mpeg", ".wav": "audio/wav"}


def init_app(app: Flask) -> None:
    """Register the media route."""
    app.register_blueprint(bp)


@bp.get("/media/<folder>/<name>")
def media(folder: str, name: str) -> Response:
    """Serve one uploaded audio file; anything else is 404."""
    suffix = name[name.rfind(".") :].lower() if "." in name else ""
    if folder not in PUBLIC_FOLDERS or suffix not in AUDIO_TYPES:
        abort(404)
    directory = f"{current_app.config['UPLOAD_DIR']}/{folder}"
    return send_from_directory(directory, name, mimetype=AUDIO_TYPES[suffix], max_age=3600)
