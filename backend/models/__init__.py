"""Every model, imported here so ``Base.metadata`` (which Alembic compares against) is complete."""

from backend.models.base import Base
from backend.models.contexts import Context, ContextEntry, ContextMember, Role, Visibility
from backend.models.login_attempt import LoginAttempt
from backend.models.user import User

__all__ = [
    "Base",
    "Context",
    "ContextEntry",
    "ContextMember",
    "LoginAttempt",
    "Role",
    "User",
    "Visibility",
]
