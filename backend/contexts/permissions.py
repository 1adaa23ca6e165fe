"""Who may do what with a context: see it, write its entries, or manage it and its members."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from backend.contexts import queries
from backend.contexts.schemas import CallerRole
from backend.core.errors import Forbidden, NotFound
from backend.models import Context, Role, User, Visibility

_WRITERS: frozenset[CallerRole | None] = frozenset({"owner", "editor"})
_MEMBER_ROLES: dict[Role, CallerRole] = {Role.VIEWER: "viewer", Role.EDITOR: "editor"}


def caller_role(context: Context, *, user_id: int, member_role: Role | None) -> CallerRole | None:
    if context.owner_id == user_id:
        return "owner"
    return None if member_role is None else _MEMBER_ROLES[member_role]


@dataclass(frozen=True)
class Access:
    """A context and the role its caller holds in it."""

    context: Context
    role: CallerRole | None

    @property
    def visible(self) -> bool:
        # Kept in step with queries._scope_filter(Scope.ALL); tests/test_visibility_rule.py checks it.
        return self.role is not None or self.context.visibility == Visibility.PUBLIC

    def require_owner(self, action: str) -> None:
        if self.role != "owner":
            raise Forbidden(f"only the owner of a context may {action}")

    def require_writer(self) -> None:
        if self.role not in _WRITERS:
            raise Forbidden("only the owner and editors of a context may write its entries")


def may_be_added(candidate: User, *, by: User) -> bool:
    """Whether ``by`` may add ``candidate`` as a member, and so learn their username.

    Staff already list every account (``GET /admin/users``); anyone else may add only the
    accounts people share contexts with: active ones that are not superusers. Inactive and
    superuser accounts answer exactly as an id that does not exist, so ids do not reveal them.
    """
    if by.is_staff or by.is_superuser:
        return True
    return candidate.is_active and not candidate.is_superuser


async def access(*, session: AsyncSession, user: User, context_id: int) -> Access:
    """The caller's access to a context they may see.

    A context the caller may not see is "not found", exactly like one that does not exist, so
    that ids do not reveal which private contexts exist.
    """
    row = await queries.context_with_role(session, context_id=context_id, user_id=user.id)
    if row is not None:
        context, member_role = row
        found = Access(context, caller_role(context, user_id=user.id, member_role=member_role))
        if found.visible:
            return found
    raise NotFound(f"no context {context_id}")
