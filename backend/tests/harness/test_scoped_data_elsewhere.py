"""A second module with scoped data: it never sees ``test_scoped_data.py``'s, nor that one its.

Modules run in random order (pytest-randomly) and, with ``-n 2``, on either worker: whichever of
the two modules runs second on a worker checks that the first one's data is gone.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Context, User
from backend.tests.factories import make_context, make_user
from backend.tests.harness.test_scoped_data import MODULE_CONTEXT, MODULE_EMAIL

ELSEWHERE_CONTEXT = "Made once for test_scoped_data_elsewhere"


@pytest.fixture(scope="module")
async def other_context(module_db_session: AsyncSession) -> Context:
    owner = await make_user(module_db_session)
    return await make_context(module_db_session, owner=owner, name=ELSEWHERE_CONTEXT)


async def test_the_first_modules_data_is_not_here(
    other_context: Context, db_session: AsyncSession
) -> None:
    names = (await db_session.scalars(select(Context.name))).all()
    assert names == [ELSEWHERE_CONTEXT]
    query = select(func.count()).select_from(User).where(User.email == MODULE_EMAIL)
    assert await db_session.scalar(query) == 0
    assert MODULE_CONTEXT not in names
