"""Loading Django ``dumpdata`` fixtures: Django passwords keep working; bad files write nothing.

The Django users in ``data/users.json`` have PBKDF2 hashes (260 000 iterations, Django 3.2's
default, to keep the tests fast) of ADA_PASSWORD and BOB_PASSWORD below.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.loaddata import LoadDataError, load_files
from backend.models import Context, ContextEntry, ContextMember, Role, User, Visibility
from backend.tests.factories import make_context, make_user
from backend.tests.fixtures.clients import login

DATA = Path(__file__).parent / "data"
USERS = DATA / "users.json"
CONTEXTS = DATA / "contexts.json"
ADA_PASSWORD = "ada's django password"
BOB_PASSWORD = "bob's django password"
MODELS = (User, Context, ContextMember, ContextEntry)


async def row_counts(session: AsyncSession) -> dict[str, int]:
    counts = {}
    for model in MODELS:
        counts[model.__name__] = await session.scalar(select(func.count()).select_from(model))
    return counts


async def user_named(session: AsyncSession, username: str) -> User:
    session.expire_all()
    user = await session.scalar(select(User).where(User.username == username))
    assert user is not None, username
    return user


def write_fixture(tmp_path: Path, objects: object, name: str = "fixture.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(objects))
    return path


async def expect_nothing_written(session: AsyncSession, paths: list[Path]) -> str:
    """Load ``paths`` expecting a LoadDataError; check no table changed; return the message."""
    before = await row_counts(session)
    with pytest.raises(LoadDataError) as raised:
        await load_files(session, paths)
    assert await row_counts(session) == before
    return str(raised.value)


async def test_django_users_log_in_with_their_old_password_which_is_then_rehashed(
    db_session: AsyncSession, client: httpx.AsyncClient
) -> None:
    assert await load_files(db_session, [USERS]) == {"auth.user": 3}
    await db_session.commit()
    assert (await user_named(db_session, "ada")).password.startswith("pbkdf2_sha256$")

    response = await login(client, "ada", ADA_PASSWORD)
    assert response.status_code == 200, response.text
    assert (await user_named(db_session, "ada")).password.startswith("$argon2")
    assert (await login(client, "ada", ADA_PASSWORD)).status_code == 200
    assert (await login(client, "bob", ADA_PASSWORD)).status_code == 401
    assert (await login(client, "bob", BOB_PASSWORD)).status_code == 200


async def test_inactive_and_unusable_password_users_cannot_log_in(
    db_session: AsyncSession, client: httpx.AsyncClient
) -> None:
    await load_files(db_session, [USERS])
    await db_session.commit()
    carol = await user_named(db_session, "carol")
    assert not carol.is_active
    assert (await login(client, "carol", "!")).status_code == 401


async def test_user_fields_and_times_are_kept_in_utc(db_session: AsyncSession) -> None:
    await load_files(db_session, [USERS])
    ada = await user_named(db_session, "ada")
    assert (ada.is_superuser, ada.is_staff, ada.first_name, ada.email) == (
        True,
        True,
        "Ada",
        "ada@example.com",
    )
    assert ada.last_login == datetime(2023, 3, 4, 5, 6, 7, 123000, tzinfo=UTC)
    # A naive time is taken as UTC; an offset is converted to UTC.
    assert (await user_named(db_session, "bob")).date_joined == datetime(
        2022, 1, 2, 3, 4, 5, tzinfo=UTC
    )
    assert (await user_named(db_session, "carol")).date_joined == datetime(
        2022, 7, 8, 9, 30, tzinfo=UTC
    )


async def test_contexts_members_and_entries_load_whatever_the_file_order(
    db_session: AsyncSession,
) -> None:
    counts = await load_files(db_session, [CONTEXTS, USERS])
    assert counts == {
        "auth.user": 3,
        "contexts.context": 2,
        "contexts.contextmember": 1,
        "contexts.contextentry": 2,
    }
    engine = await db_session.scalar(select(Context).where(Context.slug == "analytical-engine"))
    assert engine is not None
    assert engine.visibility is Visibility.SHARED
    assert engine.metadata_ == {"tags": ["history", "computing"], "year": 1843}
    assert engine.owner_id == (await user_named(db_session, "ada")).id
    member = await db_session.scalar(select(ContextMember).where(ContextMember.context_id == 1))
    assert member is not None
    assert member.role is Role.EDITOR
    titles = await db_session.scalars(
        select(ContextEntry.title).where(ContextEntry.author_id.is_(None))
    )
    assert list(titles) == ["Left by a deleted user"]


async def test_rows_created_after_loading_get_new_ids(db_session: AsyncSession) -> None:
    """Explicit pks must not make later inserts collide (PostgreSQL's sequences are reset)."""
    await load_files(db_session, [USERS, CONTEXTS])
    await db_session.commit()
    newcomer = await make_user(db_session)
    context = await make_context(db_session, owner=newcomer)
    assert newcomer.id > 3
    assert context.id > 2


async def test_malformed_files_write_nothing(db_session: AsyncSession) -> None:
    message = await expect_nothing_written(db_session, [USERS, DATA / "malformed.json"])
    assert "malformed.json: not valid JSON" in message
    message = await expect_nothing_written(db_session, [USERS, DATA / "not_a_list.json"])
    assert "not_a_list.json: expected a JSON list" in message


async def test_unknown_model_writes_nothing_and_names_the_object(
    db_session: AsyncSession,
) -> None:
    message = await expect_nothing_written(db_session, [USERS, DATA / "unknown_model.json"])
    assert "unknown_model.json: object at index 1 (auth.group pk=1): unknown model" in message


async def test_groups_and_permissions_are_refused_with_a_reason(db_session: AsyncSession) -> None:
    message = await expect_nothing_written(db_session, [DATA / "groups.json"])
    assert "groups.json: object at index 0 (auth.user pk=30)" in message
    assert "no groups or permissions" in message


BAD_OBJECTS = [
    ({"model": "auth.user", "pk": 30}, "missing 'fields'"),
    ({"pk": 30, "fields": {}}, "missing 'model'"),
    ({"model": "auth.user", "pk": "30", "fields": {}}, "'pk' must be a positive integer"),
    (
        {"model": "auth.user", "pk": 30, "fields": {"username": "x", "password": "!", "x": 1}},
        "field 'x'",
    ),
    (
        {"model": "auth.user", "pk": 30, "fields": {"username": "u" * 151, "password": "!"}},
        "field 'username'",
    ),
    ({"model": "contexts.context", "pk": 30, "fields": {"owner": 1, "name": "n"}}, "field 'slug'"),
    (
        {
            "model": "contexts.context",
            "pk": 30,
            "fields": {"owner": 1, "name": "n", "slug": "s", "visibility": "secret"},
        },
        "field 'visibility'",
    ),
]


async def test_bad_objects_write_nothing_and_say_what_is_wrong(
    db_session: AsyncSession, tmp_path: Path
) -> None:
    good = {"model": "auth.user", "pk": 29, "fields": {"username": "fine", "password": "!"}}
    for item, expected in BAD_OBJECTS:
        path = write_fixture(tmp_path, [good, item])
        message = await expect_nothing_written(db_session, [path])
        assert f"{path}: object at index 1" in message, message
        assert expected in message, message


async def test_a_pk_already_in_the_database_writes_nothing(
    db_session: AsyncSession, tmp_path: Path
) -> None:
    existing = await make_user(db_session)
    path = write_fixture(
        tmp_path,
        [
            {
                "model": "auth.user",
                "pk": existing.id + 1,
                "fields": {"username": "a", "password": "!"},
            },
            {"model": "auth.user", "pk": existing.id, "fields": {"username": "b", "password": "!"}},
        ],
    )
    message = await expect_nothing_written(db_session, [path])
    assert f"(auth.user pk={existing.id}): pk {existing.id} is already in the database" in message


async def test_the_same_pk_in_two_files_writes_nothing(
    db_session: AsyncSession, tmp_path: Path
) -> None:
    copy = write_fixture(tmp_path, json.loads(USERS.read_text()), name="copy.json")
    message = await expect_nothing_written(db_session, [USERS, copy])
    assert "copy.json: object at index 0 (auth.user pk=1)" in message


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("username_clash.json", "the database refused it"),
        # Checked before writing: SQLite's unique index on lower(email) folds ASCII only.
        ("email_clash.json", "is already used (ignoring case) by the user 'ada'"),
    ],
)
async def test_a_unique_violation_midway_writes_nothing(
    db_session: AsyncSession, name: str, reason: str
) -> None:
    await load_files(db_session, [USERS])
    await db_session.commit()
    message = await expect_nothing_written(db_session, [DATA / name])
    assert f"{name}: object at index 1" in message
    assert reason in message


async def test_a_reference_to_a_missing_user_writes_nothing(db_session: AsyncSession) -> None:
    message = await expect_nothing_written(db_session, [CONTEXTS])
    assert "contexts.json: object at index 0 (contexts.context pk=1)" in message


async def test_a_missing_file_is_named(db_session: AsyncSession, tmp_path: Path) -> None:
    message = await expect_nothing_written(db_session, [USERS, tmp_path / "absent.json"])
    assert "absent.json: cannot read the file" in message
