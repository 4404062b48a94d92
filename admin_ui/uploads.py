"""Checking and storing uploaded lesson audio: the type by its first bytes, the size by limit."""

from __future__ import annotations

import io
import secrets
import wave

from werkzeug.datastructures import FileStorage

from infra import filestore

AUDIO_TYPES = ("mp3", "wav")
LESSON_DIR = "lessons"


class UploadError(ValueError):
    """The file is not one we accept; `reason` says which rule it broke."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "type" or "size" or "empty"


def sniff_audio(head: bytes) -> str | None:
    """ "wav" or "mp3" from a file's first bytes, or None for anything else."""
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:3] == b"ID3":
        return "mp3"
    # An MPEG audio frame starts with 11 set sync bits; layer bits 01 mean Layer III.
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and (head[1] & 0x06) == 0x02:
        return "mp3"
    return None


def wav_seconds(data: bytes) -> int | None:
    """How long a WAV file plays, in whole seconds (None when it cannot be read)."""
    try:
        with wave.open(io.BytesIO(data)) as audio:
            rate = audio.getframerate()
            return round(audio.getnframes() / rate) if rate else None
    except (wave.Error, EOFError):
        return None


def store_lesson_audio(upload: FileStorage, max_bytes: int) -> tuple[str, int | None]:
    """Check an uploaded lesson file and store it (UPLOAD_STORE); returns its path in the store
    and length. In the database, the file is written with the caller's transaction.

    The name's extension must be .mp3 or .wav and agree with the content.
    """
    name = (upload.filename or "").lower()
    extension = name.rsplit(".", 1)[-1] if "." in name else ""
    data = upload.stream.read(max_bytes + 1)
    if not data:
        raise UploadError("empty")
    if len(data) > max_bytes:
        raise UploadError("size")
    kind = sniff_audio(data[:16])
    if extension not in AUDIO_TYPES or kind != extension:
        raise UploadError("type")
    relative = f"{LESSON_DIR}/{secrets.token_hex(12)}.{kind}"
    filestore.save(relative, data)
    return relative, wav_seconds(data) if kind == "wav" else None
