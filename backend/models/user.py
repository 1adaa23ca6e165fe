"""Django's ``auth_user`` table, column for column, so a Django-era database can be adopted."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Index, Integer, String, event, func, inspect, text
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
    # Carried by every token; a new value ends the older ones (see end_tokens_on_account_change).
    token_generation: Mapped[str] = mapped_column(String(32), default=lambda: new_generation())

    def upgrade_hash(self, new_hash: str) -> None:
        """Store a re-encoded hash of the same password: unlike a new password, tokens live on."""
        self.password = new_hash
        self.__dict__["_same_password"] = True  # read (and dropped) by the flush event below

    def __repr__(self) -> str:
        return f"<User {self.id} {self.username!r}>"


# A token stands for the account as it was: these changes end the tokens issued before them.
TOKEN_ENDING_ATTRIBUTES = ("password", "is_active", "is_staff", "is_superuser")


def new_generation() -> str:
    return secrets.token_hex(16)


@event.listens_for(User, "before_update")
def end_tokens_on_account_change(_mapper: Any, _connection: Any, user: User) -> None:
    """A new token generation whenever a token-ending attribute changes, by any code path.

    On the model rather than in each service, so the admin API, the CLI and anything written
    later cannot forget it. (Core UPDATE statements bypass it; the code issues none on users.)
    """
    state = inspect(user)
    changed = {name for name in TOKEN_ENDING_ATTRIBUTES if state.attrs[name].history.has_changes()}
    if user.__dict__.pop("_same_password", False):
        changed.discard("password")
    if changed:
        user.token_generation = new_generation()
