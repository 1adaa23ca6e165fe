"""Who may call what: every route of the app, for every kind of caller → the status they get.

The context is private; "other" is a logged-in user with no part in it, and staff and superusers
get no implicit access to contexts (they see a 404 like any stranger). A refused request must
change nothing. A route without a row fails ``test_every_route_has_a_row``.

Refused logins (wrong password, unknown or inactive user) answer alike after the same hashing
work; timing itself is not asserted (it flakes), the hashers' calls are counted instead.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from pytest_dbharness.fixtures.app import asgi_client
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.auth.passwords import _timing_decoy, password_hash
from backend.models import Context, ContextEntry, ContextMember, Role, User, Visibility
from backend.tests.factories import DEFAULT_PASSWORD, make_entry, make_member, make_user
from backend.tests.fixtures.contexts import make_cast_members
from backend.tests.fixtures.live import bearer

ACTORS = ("anonymous", "other", "viewer", "editor", "owner", "staff", "superuser")


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    statuses: tuple[int, ...]  # one per actor, in the order of ACTORS

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    def expected(self, actor: str) -> int:
        return self.statuses[ACTORS.index(actor)]


def row(method: str, path: str, *statuses: int) -> Row:
    assert len(statuses) == len(ACTORS), (method, path)
    return Row(method, path, statuses)


ALL_200 = (200,) * 7
SIGNED_IN = (401, *(200,) * 6)
# The context's settings and members: its owner only; strangers do not learn it exists.
OWNER_ONLY = (401, 404, 403, 403, 200, 404, 404)
STAFF = (401, 403, 403, 403, 403, 200, 200)
SUPERUSER = (401, 403, 403, 403, 403, 403, 200)
#  (anonymous, other, viewer, editor, owner, staff, superuser)
MATRIX = [
    row("GET", "/openapi.json", *ALL_200),
    row("GET", "/docs", *ALL_200),
    row("GET", "/docs/oauth2-redirect", *ALL_200),
    row("GET", "/redoc", *ALL_200),
    row("GET", "/health", *ALL_200),
    row("POST", "/auth/token", *ALL_200),  # the body's credentials count, not the caller's token
    row("GET", "/auth/me", *SIGNED_IN),
    row("POST", "/auth/password", *SIGNED_IN),
    row("GET", "/contexts", *SIGNED_IN),
    row("POST", "/contexts", 401, *(201,) * 6),
    row("GET", "/contexts/{context_id}", 401, 404, 200, 200, 200, 404, 404),
    row("PATCH", "/contexts/{context_id}", *OWNER_ONLY),
    row("DELETE", "/contexts/{context_id}", 401, 404, 403, 403, 204, 404, 404),
    row("GET", "/contexts/{context_id}/members", 401, 404, 200, 200, 200, 404, 404),
    row("POST", "/contexts/{context_id}/members", 401, 404, 403, 403, 201, 404, 404),
    row("PATCH", "/contexts/{context_id}/members/{user_id}", *OWNER_ONLY),
    row("DELETE", "/contexts/{context_id}/members/{user_id}", 401, 404, 403, 403, 204, 404, 404),
    row("GET", "/contexts/{context_id}/entries", 401, 404, 200, 200, 200, 404, 404),
    row("POST", "/contexts/{context_id}/entries", 401, 404, 403, 201, 201, 404, 404),
    row("PATCH", "/contexts/{context_id}/entries/{entry_id}", 401, 404, 403, 200, 200, 404, 404),
    row("DELETE", "/contexts/{context_id}/entries/{entry_id}", 401, 404, 403, 204, 204, 404, 404),
    row("GET", "/admin/users", *STAFF),
    row("POST", "/admin/users", 401, 403, 403, 403, 403, 201, 201),
    row("POST", "/admin/users/{user_id}/activate", *STAFF),
    row("POST", "/admin/users/{user_id}/deactivate", *STAFF),
    row("POST", "/admin/users/{user_id}/grant-staff", *SUPERUSER),
    row("POST", "/admin/users/{user_id}/revoke-staff", *STAFF),
    row("POST", "/admin/users/{user_id}/grant-superuser", *SUPERUSER),
    row("DELETE", "/admin/users/{user_id}", 401, 403, 403, 403, 403, 403, 204),
]


@dataclass
class World:
    """The private context and its parts, the users the requests act on, and a user per actor.

    Built once for the module (``module_db_session``): every test starts from exactly this world,
    whatever the test before it deleted or changed. ``member`` is a viewer of the context who is
    none of the actors (removing them is removing somebody else), ``newcomer`` is a user to add as
    a member, ``target`` a plain user for the admin endpoints, and ``login`` a user whose
    credentials the login request sends. ``snapshot`` is every value a request could wrongly
    change, as the world was built.
    """

    ids: dict[str, int]
    login: str
    headers: dict[str, dict[str, str]]  # per actor: no header, or a bearer token (plain values)
    snapshot: list[Any]

    def url(self, entry: Row) -> str:
        # {user_id} is the member under /contexts and the target user under /admin.
        user_id = self.ids["member" if entry.path.startswith("/contexts") else "target"]
        return entry.path.format(
            context_id=self.ids["context"], entry_id=self.ids["entry"], user_id=user_id
        )

    def body(self, entry: Row) -> dict[str, Any]:
        builders: dict[str, Callable[[], dict[str, Any]]] = {
            "POST /auth/token": lambda: {
                "data": {"username": self.login, "password": DEFAULT_PASSWORD}
            },
            "POST /auth/password": lambda: {
                "json": {"current_password": DEFAULT_PASSWORD, "new_password": "a new password"}
            },
            "POST /contexts": lambda: {"json": {"name": "Created by the matrix"}},
            "PATCH /contexts/{context_id}": lambda: {"json": {"name": "Renamed by the matrix"}},
            "POST /contexts/{context_id}/members": lambda: {
                "json": {"user_id": self.ids["newcomer"], "role": "viewer"}
            },
            "PATCH /contexts/{context_id}/members/{user_id}": lambda: {"json": {"role": "editor"}},
            "POST /contexts/{context_id}/entries": lambda: {"json": {"title": "Matrix entry"}},
            "PATCH /contexts/{context_id}/entries/{entry_id}": lambda: {
                "json": {"body": "Changed by the matrix"}
            },
            "POST /admin/users": lambda: {
                "json": {"username": "made-by-matrix", "password": "a long enough password"}
            },
        }
        build = builders.get(str(entry))
        return build() if build else {}


async def _snapshot(session: AsyncSession) -> list[Any]:
    """Every value a request could wrongly change, read afresh (columns, not cached objects)."""
    queries = [
        select(User.id, User.username, User.is_active, User.is_staff, User.is_superuser),
        select(Context.id, Context.name, Context.slug, Context.visibility, Context.description),
        select(ContextMember.context_id, ContextMember.user_id, ContextMember.role),
        select(ContextEntry.id, ContextEntry.title, ContextEntry.body),
    ]
    connection = await session.connection()  # rows, not objects: no ORM needed
    return [sorted((await connection.execute(query)).all()) for query in queries]


@pytest.fixture(scope="module")
async def world(module_db_session: AsyncSession) -> World:
    session = module_db_session
    owner = await make_user(session, username="alice")
    context, cast = await make_cast_members(session, owner=owner, visibility=Visibility.PRIVATE)
    member = await make_user(session)
    await make_member(session, context=context, user=member, role=Role.VIEWER)
    entry = await make_entry(session, context=context)
    newcomer, target, login = [await make_user(session) for _ in range(3)]
    users = {
        "other": cast["stranger"],
        **{name: cast[name] for name in ("viewer", "editor", "owner")},
        "staff": await make_user(session, username="staff", is_staff=True),
        "superuser": await make_user(session, username="root", is_staff=True, is_superuser=True),
    }
    ids = {
        "context": context.id,
        "entry": entry.id,
        "member": member.id,
        "newcomer": newcomer.id,
        "target": target.id,
    }
    headers = {"anonymous": {}, **{actor: bearer(user) for actor, user in users.items()}}
    return World(ids, login.username, headers, snapshot=await _snapshot(session))


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("entry", MATRIX, ids=str)
async def test_each_caller_gets_the_expected_status(
    world: World,
    db_sessionmaker: async_sessionmaker[AsyncSession],
    app: FastAPI,
    entry: Row,
    actor: str,
) -> None:
    async with asgi_client(app, world.headers[actor]) as caller:
        response = await caller.request(entry.method, world.url(entry), **world.body(entry))
    assert response.status_code == entry.expected(actor), response.text
    if response.status_code >= 400:
        async with db_sessionmaker() as session:
            assert await _snapshot(session) == world.snapshot, "a refused request changed data"
        assert "detail" in response.json()


def test_every_route_has_a_row(app: FastAPI) -> None:
    routes = set()
    for route in iter_route_contexts(app.routes):
        methods = route.methods or set()
        # Starlette adds HEAD to every GET route by itself.
        routes |= {f"{method} {route.path}" for method in methods - {"HEAD"} or methods}
    assert routes == {str(entry) for entry in MATRIX}


def test_every_refusal_in_the_matrix_is_declared_in_the_schema(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    undeclared = [
        f"{entry} {status}"
        for entry in MATRIX
        if entry.path in paths
        for status in set(entry.statuses)
        if str(status) not in paths[entry.path][entry.method.lower()]["responses"]
    ]
    assert undeclared == []


# --- Login refusals tell nothing ------------------------------------------------------------------

REFUSED_LOGINS = {
    "wrong password": ("alice", "not the password"),
    "unknown user": ("nobody-by-that-name", DEFAULT_PASSWORD),
    "inactive user": ("dormant", DEFAULT_PASSWORD),
    "inactive user, wrong password": ("dormant", "not the password"),
    "unusable password": ("unusable", DEFAULT_PASSWORD),
    "NUL in the username": ("ali\x00ce", DEFAULT_PASSWORD),
}


@pytest.fixture
def hashing_work(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Counts every hash and verify each password hasher does (the costly work of a login)."""
    work: Counter[str] = Counter()
    for hasher in password_hash.hashers:
        for method in ("hash", "verify"):
            original = getattr(hasher, method)

            def counted(
                *args: Any, _original: Any = original, _key: str = "", **kwargs: Any
            ) -> Any:
                work[_key] += 1
                return _original(*args, **kwargs)

            key = f"{type(hasher).__name__}.{method}"
            monkeypatch.setattr(hasher, method, functools.partial(counted, _key=key))
    return work


async def test_refused_logins_answer_alike_after_the_same_hashing_work(
    client: httpx.AsyncClient, user: User, db_session: AsyncSession, hashing_work: Counter[str]
) -> None:
    await make_user(db_session, username="dormant", is_active=False)
    locked = await make_user(db_session, username="unusable")
    locked.password = "!Ab3dE6gH9jK"  # what Django's set_unusable_password() writes
    await db_session.commit()

    async def attempt(username: str, password: str) -> tuple[Any, ...]:
        hashing_work.clear()
        response = await client.post(
            "/auth/token", data={"username": username, "password": password}
        )
        headers = {name: response.headers.get(name) for name in ("www-authenticate", "retry-after")}
        return response.status_code, response.content, headers, dict(hashing_work)

    # The timing decoy is made on first use: the first login after start-up must cost the same
    # whoever it names, and so must every later one.
    first, later = {}, {}
    for case, (username, password) in REFUSED_LOGINS.items():
        _timing_decoy.cache_clear()
        first[case] = await attempt(username, password)
        later[case] = await attempt(username, password)
    for answers in (first, later):
        assert answers == {case: answers["wrong password"] for case in answers}
    assert later["unknown user"][0] == 401
    assert later["unknown user"][3] == {"Argon2Hasher.verify": 1}
