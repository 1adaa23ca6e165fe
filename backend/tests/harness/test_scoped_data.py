"""Scoped data: a module's world, built once with ``module_db_session``, is where every test of the
module starts, whatever the tests before it did; a class's world stacks on it.

Tests that come in pairs check the same thing: whichever of the two runs second (random order
included) fails if the first one's changes leaked. ``test_scoped_data_elsewhere.py`` is the second
module, which must never see this one's data.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Context, ContextMember, User
from backend.tests.factories import make_context, make_member, make_user
from backend.tests.fixtures.clients import ClientFor
from backend.tests.harness.test_isolation import stopped_by_the_harness

MODULE_CONTEXT = "Made once for test_scoped_data"
MODULE_EMAIL = "owner@scoped.example"
CLASS_USERNAME = "scoped-class-viewer"


@dataclass
class World:
    owner: User
    context: Context


@pytest.fixture(scope="module")
async def world(module_db_session: AsyncSession) -> World:
    owner = await make_user(module_db_session, username="scoped-owner", email=MODULE_EMAIL)
    context = await make_context(module_db_session, owner=owner, name=MODULE_CONTEXT)
    return World(owner, context)


async def contexts_named(session: AsyncSession, name: str) -> int:
    query = select(func.count()).select_from(Context).where(Context.name == name)
    return int(await session.scalar(query) or 0)


@pytest.mark.parametrize("attempt", [1, 2])
async def test_a_context_deleted_through_the_api_is_back_for_the_next_test(
    attempt: int, world: World, db_session: AsyncSession, client_for: ClientFor
) -> None:
    owner = await client_for(world.owner)
    assert (await owner.get(f"/contexts/{world.context.id}")).status_code == 200
    assert (await owner.delete(f"/contexts/{world.context.id}")).status_code == 204
    assert (await owner.get(f"/contexts/{world.context.id}")).status_code == 404
    assert await contexts_named(db_session, MODULE_CONTEXT) == 0


@pytest.mark.parametrize("attempt", [1, 2])
async def test_an_email_changed_by_a_test_is_the_original_in_the_next(
    attempt: int, world: World, db_session: AsyncSession, client_for: ClientFor
) -> None:
    assert world.owner.email == MODULE_EMAIL
    client = await client_for(world.owner)
    assert (await client.get("/auth/me")).json()["email"] == MODULE_EMAIL
    # The scoped object is in the test's own session, as a function-scoped one would be.
    world.owner.email = f"changed-{attempt}@scoped.example"
    await db_session.commit()
    assert (await client.get("/auth/me")).json()["email"] == f"changed-{attempt}@scoped.example"


async def test_the_module_data_is_visible_to_the_test_session_and_requests(
    world: World, db_session: AsyncSession, client_for: ClientFor
) -> None:
    # Only this module's: test_scoped_data_elsewhere.py's context is not here.
    assert (await db_session.scalars(select(Context.name))).all() == [MODULE_CONTEXT]
    listed = (await (await client_for(world.owner)).get("/contexts")).json()["items"]
    assert [item["name"] for item in listed] == [MODULE_CONTEXT]


@pytest.fixture(scope="class")
async def viewer(class_db_session: AsyncSession, world: World) -> User:
    """A member of the module's context, for the tests of one class."""
    viewer = await make_user(class_db_session, username=CLASS_USERNAME)
    await make_member(class_db_session, context=world.context, user=viewer)
    return viewer


class TestClassData:
    @pytest.mark.parametrize("attempt", [1, 2])
    async def test_the_class_data_stacks_on_the_modules(
        self, attempt: int, world: World, viewer: User, client_for: ClientFor
    ) -> None:
        client = await client_for(viewer)
        # The class's member reads the module's context; removing themselves is rolled back.
        assert (await client.get(f"/contexts/{world.context.id}")).status_code == 200
        members = (await client.get(f"/contexts/{world.context.id}/members")).json()
        assert [member["user_id"] for member in members] == [viewer.id]
        path = f"/contexts/{world.context.id}/members/{viewer.id}"
        assert (await (await client_for(world.owner)).delete(path)).status_code == 204


async def test_the_class_data_is_not_seen_outside_the_class(
    world: World, db_session: AsyncSession
) -> None:
    query = select(func.count()).select_from(User).where(User.username == CLASS_USERNAME)
    assert await db_session.scalar(query) == 0
    assert await db_session.scalar(select(func.count()).select_from(ContextMember)) == 0


async def test_a_test_without_the_world_does_not_see_it(
    db_session: AsyncSession, client: httpx.AsyncClient
) -> None:
    assert await contexts_named(db_session, MODULE_CONTEXT) == 0
    assert await db_session.scalar(select(func.count()).select_from(User)) == 0


# Ids handed out by the tests of this module so far (this worker's).
SEEN_IDS: list[int] = []


@pytest.mark.parametrize("attempt", [1, 2, 3])
async def test_ids_are_never_handed_out_twice(
    attempt: int, world: World, client_for: ClientFor
) -> None:
    client = await client_for(world.owner)
    created = await client.post("/contexts", json={"name": f"Attempt {attempt}"})
    assert created.status_code == 201, created.text
    new_id = created.json()["id"]
    assert new_id > world.context.id
    assert new_id not in SEEN_IDS
    SEEN_IDS.append(new_id)


@pytest.mark.parametrize("attempt", [1, 2])
async def test_a_scoped_object_changed_in_python_only_is_the_original_in_the_next_test(
    attempt: int, world: World
) -> None:
    assert world.context.name == MODULE_CONTEXT
    world.context.name = "Changed without a session"


@pytest.mark.parametrize("attempt", [1, 2])
async def test_a_scoped_object_deleted_through_db_session_is_back_in_the_next_test(
    attempt: int, world: World, db_session: AsyncSession, client_for: ClientFor
) -> None:
    assert await db_session.get(Context, world.context.id) is world.context
    await db_session.delete(world.context)
    await db_session.commit()
    assert await contexts_named(db_session, MODULE_CONTEXT) == 0
    owner = await client_for(world.owner)
    assert (await owner.get(f"/contexts/{world.context.id}")).status_code == 404


@pytest.mark.parametrize("attempt", [1, 2])
async def test_a_scoped_object_refreshed_after_a_request_is_the_original_in_the_next_test(
    attempt: int, world: World, db_session: AsyncSession, client_for: ClientFor
) -> None:
    assert world.context.name == MODULE_CONTEXT
    owner = await client_for(world.owner)
    path = f"/contexts/{world.context.id}"
    assert (await owner.patch(path, json={"name": "Renamed by a request"})).status_code == 200
    await db_session.refresh(world.context)
    assert world.context.name == "Renamed by a request"


@pytest.mark.rollback_only(
    reason="a guard of the one connection; commit mode runs this as production"
)
async def test_the_isolation_guards_apply_on_top_of_scoped_data(
    world: World, db_session: AsyncSession, client_for: ClientFor, request: pytest.FixtureRequest
) -> None:
    client = await client_for(world.owner)
    world.owner.first_name = "Flushed, not committed"
    await db_session.flush()
    with stopped_by_the_harness(request) as message:
        await client.get("/auth/me")
    assert "holds writes it has not committed (db_session (the test's own): User(" in message[0]
