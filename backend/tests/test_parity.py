"""SQLite and PostgreSQL differ; the application must not. Each test here runs on both engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from backend.models import Context, ContextEntry, User
from backend.tests.factories import make_context, make_user


async def test_foreign_keys_are_enforced(db_session: AsyncSession) -> None:
    db_session.add(ContextEntry(context_id=987_654_321, title="orphan", body=""))
    with pytest.raises(IntegrityError):
        await db_session.flush()


async def test_deleting_a_user_cascades_to_their_contexts(db_session: AsyncSession) -> None:
    owner = await make_user(db_session)
    context = await make_context(db_session, owner=owner)
    await db_session.delete(owner)
    await db_session.commit()
    db_session.expunge_all()
    assert await db_session.get(Context, context.id) is None


async def test_emails_are_unique_regardless_of_case(db_session: AsyncSession) -> None:
    await make_user(db_session, email="Ann@Example.com")
    with pytest.raises(IntegrityError):
        await make_user(db_session, email="ann@example.COM")


async def test_many_users_may_have_no_email(db_session: AsyncSession) -> None:
    await make_user(db_session, email="")
    await make_user(db_session, email="")
    assert await db_session.scalar(select(func.count()).where(User.email == "")) == 2


# What the app's search finds for non-ASCII text, the same on both engines (issue 12, point 6):
# each letter's simple lowercase, as PostgreSQL's lower() gives it under a UTF-8 locale.
SEARCHES = [
    pytest.param("École d'été", "ÉCOLE", True, id="accented Latin, upper query"),
    pytest.param("ÉCOLE", "école", True, id="accented Latin, lower query"),
    pytest.param("Αθήνα", "ΑΘΉΝΑ", True, id="Greek"),
    pytest.param("ΟΔΟΣ", "οδοσ", True, id="Greek capital sigma is medial sigma"),
    pytest.param("ΟΔΟΣ", "οδος", False, id="Greek final sigma is another letter"),
    pytest.param("Привет, мир", "ПРИВЕТ", True, id="Cyrillic"),
    pytest.param("Straße", "STRAßE", True, id="German sharp s, same letter"),
    pytest.param("Straße", "strasse", False, id="German sharp s is not ss"),
    pytest.param("İstanbul", "istanbul", True, id="Turkish dotted capital I is i"),
    pytest.param("ISPARTA", "\u0131sparta", False, id="Turkish dotless i is not I"),
    pytest.param("\u0131sparta", "ISPARTA", False, id="Turkish I is not dotless i"),
]


@pytest.mark.parametrize(("stored", "query", "found"), SEARCHES)
async def test_the_apps_context_search_ignores_case_in_every_script(
    db_session: AsyncSession,
    user: User,
    user_client: httpx.AsyncClient,
    stored: str,
    query: str,
    found: bool,
) -> None:
    await make_context(db_session, owner=user, name=stored)
    await make_context(db_session, owner=user, name="Unrelated")
    response = await user_client.get("/contexts", params={"q": query})
    assert response.status_code == 200, response.text
    names = [item["name"] for item in response.json()["items"]]
    assert names == ([stored] if found else [])


@pytest.mark.parametrize(("stored", "query", "found"), SEARCHES)
async def test_the_apps_user_search_ignores_case_in_every_script(
    db_session: AsyncSession,
    staff_client: httpx.AsyncClient,
    stored: str,
    query: str,
    found: bool,
) -> None:
    await make_user(db_session, username="someone", last_name=stored)
    response = await staff_client.get("/admin/users", params={"q": query})
    assert response.status_code == 200, response.text
    usernames = [item["username"] for item in response.json()["items"]]
    assert usernames == (["someone"] if found else [])


async def test_like_is_case_sensitive_so_the_app_must_not_rely_on_it(
    db_session: AsyncSession, db_engine: AsyncEngine
) -> None:
    await make_context(db_session, name="Alpha")
    matches = await db_session.scalar(select(func.count()).where(Context.name.like("alpha")))
    # SQLite's LIKE ignores ASCII case, PostgreSQL's does not: the reason queries use lower().
    expected = 1 if db_engine.dialect.name == "sqlite" else 0
    assert matches == expected


async def test_time_zones_survive_a_round_trip(db_session: AsyncSession) -> None:
    joined = datetime(2024, 2, 29, 23, 30, tzinfo=timezone(timedelta(hours=5)))
    user = await make_user(db_session, date_joined=joined)
    db_session.expunge_all()
    stored = await db_session.get(User, user.id)
    assert stored is not None
    assert stored.date_joined == joined
    assert stored.date_joined.tzinfo is not None
    assert stored.date_joined.utcoffset() == timedelta(0)


async def test_naive_datetimes_are_refused_before_the_database(db_session: AsyncSession) -> None:
    db_session.add(User(username="naive", password="!", date_joined=datetime(2024, 1, 1)))
    with pytest.raises(Exception, match="naive datetime"):
        await db_session.flush()


async def test_json_metadata_round_trips_as_an_object(db_session: AsyncSession) -> None:
    metadata = {"zeta": 1, "alpha": {"nested": [1, 2.5, None, True]}, "ünï": "→ ✓"}
    context = await make_context(db_session, metadata_=metadata)
    db_session.expunge_all()
    stored = await db_session.get(Context, context.id)
    assert stored is not None
    # Equal as objects; key order is not kept by JSONB, so no caller may depend on it.
    assert stored.metadata_ == metadata


async def test_text_comes_back_byte_for_byte(db_session: AsyncSession) -> None:
    body = "e\u0301 \u202eRTL\u202c 𝄞 \t tab 'quote' \"double\" -- ; DROP TABLE x;"
    context = await make_context(db_session)
    db_session.add(ContextEntry(context_id=context.id, title="t", body=body))
    await db_session.commit()
    db_session.expunge_all()
    assert await db_session.scalar(select(ContextEntry.body)) == body


async def test_savepoints_really_roll_back(db_session: AsyncSession) -> None:
    await make_user(db_session, username="kept")
    nested = await db_session.begin_nested()
    db_session.add(User(username="discarded", password="!", date_joined=datetime.now(UTC)))
    await db_session.flush()
    await nested.rollback()
    names = set(await db_session.scalars(select(User.username)))
    assert names == {"kept"}


@pytest.mark.sqlite_only(reason="PRAGMA foreign_keys exists only on SQLite")
async def test_every_sqlite_connection_enforces_foreign_keys(db_session: AsyncSession) -> None:
    assert await db_session.scalar(text("PRAGMA foreign_keys")) == 1


@pytest.mark.postgres_only(reason="row locks (SELECT … FOR UPDATE) exist only on PostgreSQL")
@pytest.mark.committed
async def test_a_locked_row_makes_a_second_locker_wait(
    db_session: AsyncSession, db_engine: AsyncEngine
) -> None:
    from sqlalchemy.exc import OperationalError

    user = await make_user(db_session, username="locked")
    async with db_engine.connect() as first, db_engine.connect() as second:
        await first.execute(select(User).where(User.id == user.id).with_for_update())
        with pytest.raises(OperationalError, match="could not obtain lock"):
            await second.execute(
                select(User).where(User.id == user.id).with_for_update(nowait=True)
            )
        await first.rollback()
