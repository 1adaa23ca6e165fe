"""Recent login attempts, kept in the database so the throttle holds across restarts and workers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, UTCDateTime


class LoginAttempt(Base):
    """One attempt, reserved before its password is checked; pruned once older than any window."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_username_key_attempted_at", "username_key", "attempted_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # A digest of the case-folded username: fixed length whatever was typed.
    username_key: Mapped[str] = mapped_column(String(64))
    # The client's address as the server sees it (no proxy header is trusted).
    client: Mapped[str] = mapped_column(String(64))
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
