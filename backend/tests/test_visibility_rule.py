"""The visibility rule is written twice, in Python (permissions) and in SQL (queries): they agree.

For every visibility and every kind of caller, a context is readable one by one (Python's rule)
exactly when the list shows it (SQL's rule), and each narrower scope stays within it.
"""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from backend.contexts import queries
from backend.contexts.permissions import access
from backend.contexts.schemas import Scope
from backend.core.errors import NotFound
from backend.core.pagination import PageParams
from backend.models import Role, User, Visibility
from backend.tests.factories import make_context, make_member, make_user

CALLERS = ("owner", "editor", "viewer", "stranger", "staff", "superuser")
# What both rules must say, spelt out once more so that agreeing on a wrong rule fails too.
EXPECTED_VISIBLE = {
    Visibility.PRIVATE: {"owner", "editor", "viewer"},
    Visibility.SHARED: {"owner", "editor", "viewer"},
    Visibility.PUBLIC: set(CALLERS),
}
EVERYTHING = PageParams(page=1, page_size=100)


async def _caller(session: AsyncSession, name: str) -> User:
    return await make_user(
        session, is_staff=name in ("staff", "superuser"), is_superuser=name == "superuser"
    )


async def _python_says_visible(session: AsyncSession, user: User, context_id: int) -> bool:
    try:
        await access(session=session, user=user, context_id=context_id)
    except NotFound:
        return False
    return True


async def _sql_lists(session: AsyncSession, user: User, scope: Scope) -> set[int]:
    rows, total = await queries.visible_contexts(
        session, user_id=user.id, scope=scope, q=None, page=EVERYTHING
    )
    assert total == len(rows)
    return {context.id for context, _role in rows}


@pytest.mark.parametrize("visibility", list(Visibility))
async def test_python_and_sql_agree_for_every_caller(
    db_session: AsyncSession, visibility: Visibility
) -> None:
    callers = {name: await _caller(db_session, name) for name in CALLERS}
    context = await make_context(db_session, owner=callers["owner"], visibility=visibility)
    for name, role in (("editor", Role.EDITOR), ("viewer", Role.VIEWER)):
        await make_member(db_session, context=context, user=callers[name], role=role)

    python_visible, sql_visible = set(), set()
    for name, user in callers.items():
        if await _python_says_visible(db_session, user, context.id):
            python_visible.add(name)
        listed = await _sql_lists(db_session, user, Scope.ALL)
        if context.id in listed:
            sql_visible.add(name)
        for scope in Scope:
            assert await _sql_lists(db_session, user, scope) <= listed, (name, scope)
    assert python_visible == sql_visible == EXPECTED_VISIBLE[visibility]
