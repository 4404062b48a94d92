"""Uploaded files kept in the database (UPLOAD_STORE=database): every web and worker host
reads the same lesson audio without a shared disk."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow

# Paths are relative to the store, as under UPLOAD_DIR: "lessons/<token>.mp3".
STORED_PATH_LENGTH = 255


class StoredFile(Base):
    """One file: its path under the store, its bytes and their length."""

    __tablename__ = "stored_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(String(STORED_PATH_LENGTH), unique=True)
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
