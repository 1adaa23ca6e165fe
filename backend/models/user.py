"""Django's ``auth_user`` table, column for column, so a Django-era database can be adopted."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, UTCDateTime, utcnow


class User(Base):
    __tablename__ = "auth_user"
    __table_args__ = (
        # Emails are unique regardless of case, but Django allows many users with no email.
        Index(
            "uq_auth_user_email_lower",
            func.lower(text("email")),
            unique=True,
            postgresql_where=text("email <> ''"),
            sqlite_where=text("email <> ''"),
        ),
        # SQLite would otherwise hand a deleted user's id to the next user, tokens and all.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    password: Mapped[str] = mapped_column(String(128))
    last_login: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_superuser: Mapped[bool] = mapped_column(Boolean, default=False)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    first_name: Mapped[str] = mapped_column(String(150), default="")
    last_name: Mapped[str] = mapped_column(String(150), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    is_staff: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    date_joined: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<User {self.id} {self.username!r}>"
