"""Input at the edges, through HTTP and on both engines: a 4xx or the right answer, never a 500.

Limits (at the limit accepted, one past refused), Unicode stored and returned byte for byte, NUL
bytes and lone surrogates refused, deep and odd JSON metadata, absurd pages and ids, text that
looks like SQL, and the same edges in ``backend loaddata`` files. The plain over-the-limit cases
already in the domain tests are not repeated here.
"""

from __future__ import annotations

import functools
import json
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.json_document import MAX_METADATA_BYTES, MAX_METADATA_DEPTH
from backend.core.pagination import MAX_PAGE, MAX_PAGE_SIZE
from backend.loaddata import LoadDataError, load_files
from backend.models import Context, ContextEntry, User
from backend.tests.factories import make_context, make_user

INT32_MAX = 2**31 - 1
STRANGE_TEXT = [
    "right\u200fto\u202eleft\u202c marks",
    "astral 𝄞 \U0001d49c and a family 👩\u200d👩\u200d👧",
    "combining e\u0301 and precomposed é",
    "zero\u200bwidth, \ufeffBOM, line\u2028separator",
    "quotes ' \" ` and a backslash \\",
]
SQL_LOOKING = [
    "Robert'); DROP TABLE contexts;--",
    "' OR '1'='1",
    "100% done_now",
    "back\\slash %_",
]


@dataclass
class Actors:
    """The usual actors and a context of the superuser's, built once for the module."""

    user: User
    staff_user: User
    superuser: User
    context: Context


@pytest.fixture(scope="module")
async def actors(module_db_session: AsyncSession) -> Actors:
    session = module_db_session
    superuser = await make_user(session, username="root", is_staff=True, is_superuser=True)
    return Actors(
        user=await make_user(session, username="alice"),
        staff_user=await make_user(session, username="staff", is_staff=True),
        superuser=superuser,
        context=await make_context(session, owner=superuser, name="unchanged"),
    )


# The shared actor fixtures (and the clients built on them) are this module's scoped ones.
@pytest.fixture
def user(actors: Actors) -> User:
    return actors.user


@pytest.fixture
def staff_user(actors: Actors) -> User:
    return actors.staff_user


@pytest.fixture
def superuser(actors: Actors) -> User:
    return actors.superuser


def json_body(raw: str) -> dict[str, Any]:
    """Request arguments that send ``raw`` as the JSON body, exactly as written."""
    return {"content": raw.encode(), "headers": {"Content-Type": "application/json"}}


def assert_refused(response: httpx.Response, status: int = 422) -> None:
    assert response.status_code == status, response.text
    assert "detail" in response.json()


# --- Limits: at the limit is accepted, one past it is refused ------------------------------------

# (path, field, limit, the other fields the body needs); a limit counts characters, not bytes.
BODY_LIMITS = [
    ("/contexts", "name", 200, {}),
    ("/contexts", "description", 10_000, {"name": "n"}),
    ("/contexts/{id}/entries", "title", 200, {}),
    ("/contexts/{id}/entries", "body", 100_000, {"title": "t"}),
    ("/admin/users", "username", 150, {"password": "long enough"}),
    ("/admin/users", "first_name", 150, {"username": "first", "password": "long enough"}),
    ("/admin/users", "last_name", 150, {"username": "last", "password": "long enough"}),
    ("/admin/users", "password", 4096, {"username": "secretive"}),
]


@pytest.mark.parametrize("character", ["x", "\U0001d49c"], ids=["ascii", "astral"])
@pytest.mark.parametrize(("path", "field", "limit", "others"), BODY_LIMITS)
async def test_text_at_its_limit_is_stored_and_one_more_character_is_refused(
    superuser_client: httpx.AsyncClient,
    actors: Actors,
    path: str,
    field: str,
    limit: int,
    others: dict[str, Any],
    character: str,
) -> None:
    url = path.format(id=actors.context.id)
    too_long = await superuser_client.post(url, json={**others, field: character * (limit + 1)})
    assert_refused(too_long)
    at_limit = await superuser_client.post(url, json={**others, field: character * limit})
    assert at_limit.status_code == 201, at_limit.text
    if field != "password":
        # Usernames are stored NFKC-normalised, as Django stores them (U+1D49C is then "A").
        normal = unicodedata.normalize("NFKC", character) if field == "username" else character
        assert at_limit.json()[field] == normal * limit


async def test_the_slug_and_an_email_at_their_limits_are_accepted(
    user_client: httpx.AsyncClient, staff_client: httpx.AsyncClient
) -> None:
    slug = "-".join(["a" * 9] * 22)  # 219 characters
    assert_refused(await user_client.post("/contexts", json={"name": "n", "slug": slug + "-b"}))
    created = await user_client.post("/contexts", json={"name": "n", "slug": slug + "b"})
    assert created.status_code == 201, created.text
    assert len(created.json()["slug"]) == 220
    email = f"{'a' * 64}@{'b' * 63}.{'c' * 63}.{'d' * 57}.org"
    assert len(email) == 254
    body = {"username": "longmail", "password": "long enough", "email": email}
    response = await staff_client.post("/admin/users", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["email"] == email


@pytest.mark.parametrize(("path", "limit"), [("/contexts", 200), ("/admin/users", 254)])
async def test_search_terms_at_their_limit_are_accepted(
    superuser_client: httpx.AsyncClient, path: str, limit: int
) -> None:
    assert (await superuser_client.get(path, params={"q": "q" * limit})).status_code == 200
    assert_refused(await superuser_client.get(path, params={"q": "q" * (limit + 1)}))


# --- Unicode, NUL bytes and lone surrogates ------------------------------------------------------


@pytest.mark.parametrize("text", STRANGE_TEXT + SQL_LOOKING)
async def test_text_comes_back_byte_for_byte_through_the_api(
    user_client: httpx.AsyncClient, text: str
) -> None:
    body = {"name": f"[{text}]", "description": f" {text} ", "metadata": {text: [text]}}
    created = await user_client.post("/contexts", json=body)
    assert created.status_code == 201, created.text
    context_path = f"/contexts/{created.json()['id']}"
    entry = await user_client.post(f"{context_path}/entries", json={"title": text, "body": text})
    assert entry.status_code == 201, entry.text
    stored = (await user_client.get(context_path)).json()
    assert {key: stored[key] for key in body} == body
    listed = (await user_client.get(f"{context_path}/entries")).json()["items"]
    assert [(item["title"], item["body"]) for item in listed] == [(text, text)]
    # Found by searching for itself: %, _ and \ are matched literally on both engines.
    found = (await user_client.get("/contexts", params={"q": text})).json()["items"]
    assert [item["name"] for item in found] == [body["name"]]


async def test_like_wildcards_in_a_search_match_only_themselves(
    user_client: httpx.AsyncClient, staff_client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    for name in ("plain", "100% done", "under_score", "back\\slash"):
        assert (await user_client.post("/contexts", json={"name": name})).status_code == 201
        new_user = {"username": f"u{len(name)}", "password": "long enough", "last_name": name}
        assert (await staff_client.post("/admin/users", json=new_user)).status_code == 201
    for term, expected in (("%", "100% done"), ("_", "under_score"), ("\\", "back\\slash")):
        contexts = (await user_client.get("/contexts", params={"q": term})).json()["items"]
        assert [item["name"] for item in contexts] == [expected]
        users = (await staff_client.get("/admin/users", params={"q": term})).json()["items"]
        assert [item["last_name"] for item in users] == [expected]


async def test_a_name_with_non_ascii_capitals_is_found_by_its_exact_spelling(
    user_client: httpx.AsyncClient, staff_client: httpx.AsyncClient
) -> None:
    # SQLite's lower() folds only ASCII: "École" stays "École" there, so folding the search term
    # in Python ("école") found nothing on SQLite, even typed exactly as stored.
    assert (await user_client.post("/contexts", json={"name": "École Ärger"})).status_code == 201
    found = (await user_client.get("/contexts", params={"q": "École Ä"})).json()["items"]
    assert [item["name"] for item in found] == ["École Ärger"]
    new_user = {"username": "ecole", "password": "long enough", "last_name": "École"}
    assert (await staff_client.post("/admin/users", json=new_user)).status_code == 201
    users = (await staff_client.get("/admin/users", params={"q": "École"})).json()["items"]
    assert [item["last_name"] for item in users] == ["École"]


# (path, body) for every JSON body field that holds text; {id} is a context of the caller's.
TEXT_FIELDS = [
    ("POST", "/contexts", {"name": "{}"}),
    ("POST", "/contexts", {"name": "n", "description": "{}"}),
    ("POST", "/contexts", {"name": "n", "metadata": {"k": "{}"}}),
    ("POST", "/contexts", {"name": "n", "metadata": {"{}": 1}}),
    ("PATCH", "/contexts/{id}", {"name": "{}"}),
    ("POST", "/contexts/{id}/entries", {"title": "{}"}),
    ("POST", "/contexts/{id}/entries", {"title": "t", "body": "{}"}),
    ("POST", "/admin/users", {"username": "{}", "password": "long enough"}),
    ("POST", "/admin/users", {"username": "u", "password": "long enough", "email": "{}@x.org"}),
    ("POST", "/admin/users", {"username": "u", "password": "long {}enough"}),
    ("POST", "/admin/users", {"username": "u", "password": "long enough", "first_name": "{}"}),
]


@pytest.mark.parametrize("bad", ["a\\u0000b", "a\\ud800b", "\\udfff"], ids=["NUL", "lone", "low"])
@pytest.mark.parametrize(("method", "path", "template"), TEXT_FIELDS, ids=str)
async def test_nul_bytes_and_lone_surrogates_are_refused_with_a_json_422(
    superuser_client: httpx.AsyncClient,
    db_session: AsyncSession,
    actors: Actors,
    method: str,
    path: str,
    template: dict[str, Any],
    bad: str,
) -> None:
    # Written as JSON escapes: a lone surrogate cannot even be encoded as UTF-8 by the client.
    raw = json.dumps(template).replace("{}", bad)
    context = actors.context  # named "unchanged"
    before = await _row_counts(db_session)
    url = path.format(id=context.id)
    assert_refused(await superuser_client.request(method, url, **json_body(raw)))
    assert (await superuser_client.get(f"/contexts/{context.id}")).json()["name"] == "unchanged"
    assert await _row_counts(db_session) == before


async def _row_counts(session: AsyncSession) -> list[int]:
    """How many users, contexts and entries there are (one query)."""
    counts = [
        select(func.count()).select_from(m).scalar_subquery() for m in (User, Context, ContextEntry)
    ]
    row = (await session.execute(select(*counts))).one()
    return list(row)


@pytest.mark.parametrize(("username", "password"), [("a\x00b", "long enough"), ("alice", "a\x00b")])
async def test_a_nul_byte_in_a_login_is_a_plain_refusal(
    client: httpx.AsyncClient, user: User, username: str, password: str
) -> None:
    response = await client.post("/auth/token", data={"username": username, "password": password})
    assert response.status_code == 401, response.text
    assert response.json()["detail"] == "wrong username or password, or the account is inactive"


async def test_an_enormous_token_is_refused_with_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/auth/me", headers={"Authorization": "Bearer " + "a" * 1_000_000})
    assert_refused(response, 401)


async def test_a_body_that_is_not_utf8_is_refused_as_the_schema_declares(
    app: FastAPI, superuser_client: httpx.AsyncClient, actors: Actors
) -> None:
    context = actors.context
    paths = app.openapi()["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            if "requestBody" not in operation:
                continue
            url = path.format(context_id=context.id, entry_id=1, user_id=1)
            response = await superuser_client.request(
                method,
                url,
                content=b'{"name": "\xff\xfe"}',
                headers={"Content-Type": "application/json"},
            )
            assert response.status_code in (400, 422), (method, path, response.text)
            assert str(response.status_code) in operation["responses"], (method, path)


# --- JSON metadata -------------------------------------------------------------------------------


def nested(depth: int) -> dict[str, Any]:
    """A JSON object ``depth`` objects deep: nested(1) is {}."""
    document: dict[str, Any] = {}
    for _ in range(depth - 1):
        document = {"d": document}
    return document


async def test_metadata_at_the_depth_and_size_limits_is_stored_whole(
    user_client: httpx.AsyncClient,
) -> None:
    deepest = nested(MAX_METADATA_DEPTH)
    # Two-byte characters, and one ASCII one if needed: exactly the limit as compact UTF-8.
    room = MAX_METADATA_BYTES - len(json.dumps({"blob": ""}, separators=(",", ":")))
    largest = {"blob": "é" * (room // 2) + "x" * (room % 2)}
    assert len(json.dumps(largest, ensure_ascii=False, separators=(",", ":")).encode()) == (
        MAX_METADATA_BYTES
    )
    for name, metadata in (("deepest", deepest), ("largest", largest)):
        response = await user_client.post("/contexts", json={"name": name, "metadata": metadata})
        assert response.status_code == 201, response.text[:500]
        stored = (await user_client.get(f"/contexts/{response.json()['id']}")).json()
        assert stored["metadata"] == metadata
    one_byte_more = {"blob": largest["blob"] + "x"}
    assert_refused(
        await user_client.post("/contexts", json={"name": "n", "metadata": one_byte_more})
    )


@pytest.mark.parametrize("depth", [1_000, 100_000])
async def test_absurdly_deep_metadata_is_refused_with_a_json_4xx(
    user_client: httpx.AsyncClient, depth: int
) -> None:
    raw = '{"name": "n", "metadata": ' + '{"d":' * depth + "1" + "}" * depth + "}"
    response = await user_client.post("/contexts", **json_body(raw))
    assert response.status_code in (400, 422), response.text[:300]
    assert "detail" in response.json()


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
async def test_numbers_json_cannot_hold_are_refused(
    user_client: httpx.AsyncClient, number: str
) -> None:
    response = await user_client.post(
        "/contexts", **json_body(f'{{"name": "n", "metadata": {{"x": {number}}}}}')
    )
    assert_refused(response)


def typed(value: Any) -> Any:
    """A JSON value with every number paired with its type: 1 and 1.0 differ here."""
    if isinstance(value, dict):
        return {key: typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [typed(item) for item in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (type(value).__name__, value)
    return value


# Numbers PostgreSQL's JSONB (numeric) used to give back changed: 1e308 and 1e20 as integers.
ROUND_TRIPPED = (
    '{"a": 1e308, "c": 1e20, "big": -1.5e+100, "tiny": 5e-324, "small": 1e-7, "one": 1.0, '
    '"int": 1, "huge_int": 1234567890123456789012345, "half": 0.5, "list": [1e16, 2, 0.1]}'
)


async def test_metadata_numbers_come_back_as_sent_on_both_engines(
    user_client: httpx.AsyncClient,
) -> None:
    created = await user_client.post(
        "/contexts", **json_body(f'{{"name": "n", "metadata": {ROUND_TRIPPED}}}')
    )
    assert created.status_code == 201, created.text
    path = f"/contexts/{created.json()['id']}"
    updated = await user_client.patch(path, **json_body(f'{{"metadata": {ROUND_TRIPPED}}}'))
    assert updated.status_code == 200, updated.text
    read = await user_client.get(path)
    for response in (created, updated, read):
        assert typed(response.json()["metadata"]) == typed(json.loads(ROUND_TRIPPED))
    # The same document, key order included, whether just written or read back from either engine.
    assert json.dumps(created.json()["metadata"]) == json.dumps(read.json()["metadata"])


@pytest.mark.parametrize("document", ['{"b": -0.0}', '{"x": [1, {"y": -0.0}]}', '{"z": -1e-400}'])
async def test_negative_zero_which_jsonb_cannot_keep_is_refused_saying_why(
    user_client: httpx.AsyncClient, document: str
) -> None:
    response = await user_client.post(
        "/contexts", **json_body(f'{{"name": "n", "metadata": {document}}}')
    )
    assert response.status_code == 422, response.text
    assert "negative zero" in response.text


# --- Pages and ids -------------------------------------------------------------------------------

BAD_PAGES = [
    {"page_size": MAX_PAGE_SIZE + 1},
    {"page_size": -1},
    {"page_size": 10**30},
    {"page": -1},
    {"page": MAX_PAGE + 1},
    {"page": 2**63},
    {"page": 10**30},
    {"page": "1.5"},
    {"page": "one"},
]


@pytest.mark.parametrize("path", ["/contexts", "/contexts/{id}/entries", "/admin/users"])
async def test_absurd_pages_are_a_json_422_and_the_last_page_is_empty(
    superuser_client: httpx.AsyncClient, actors: Actors, path: str
) -> None:
    url = path.format(id=actors.context.id)
    for params in BAD_PAGES:
        response = await superuser_client.get(url, params=params)
        assert_refused(response)
        assert [error["loc"][-1] for error in response.json()["detail"]] == list(params)
    last = await superuser_client.get(url, params={"page": MAX_PAGE, "page_size": MAX_PAGE_SIZE})
    assert last.status_code == 200, last.text
    assert last.json()["items"] == []


# Valid bodies, so that only the ids decide the answer.
BODIES = {
    "POST /contexts/{context_id}/members": {"user_id": 1},
    "PATCH /contexts/{context_id}/members/{user_id}": {"role": "viewer"},
    "POST /contexts/{context_id}/entries": {"title": "t"},
    "PATCH /contexts/{context_id}/entries/{entry_id}": {"title": "t"},
    "PATCH /contexts/{context_id}": {"name": "n"},
}


@functools.cache  # the app's routes do not change, and listing them costs 10 ms
def routes_with_ids(app: FastAPI) -> list[tuple[str, str, dict[str, Any] | None]]:
    """(method, path, a valid body) for every route with an id in its path."""
    found = [
        (method, route.path, BODIES.get(f"{method} {route.path}"))
        for route in iter_route_contexts(app.routes)
        if "{" in (route.path or "")
        for method in sorted((route.methods or set()) & {"GET", "POST", "PATCH", "DELETE"})
    ]
    assert len(found) >= 16
    return found


@pytest.mark.parametrize("bad_id", ["0", "-1", str(2**31), str(2**63), str(2**64), "abc", "\uff11"])
async def test_ids_outside_the_integer_range_or_not_numbers_are_a_json_422(
    app: FastAPI, superuser_client: httpx.AsyncClient, bad_id: str
) -> None:
    for method, path, body in routes_with_ids(app):
        url = path.format(context_id=bad_id, entry_id=bad_id, user_id=bad_id)
        assert_refused(await superuser_client.request(method, url, json=body))


async def test_the_largest_valid_id_names_nothing_a_json_404(
    app: FastAPI, superuser_client: httpx.AsyncClient
) -> None:
    # A 404, not a database error, on every route (once: it does not depend on any bad id).
    for method, path, body in routes_with_ids(app):
        url = path.format(context_id=INT32_MAX, entry_id=INT32_MAX, user_id=INT32_MAX)
        assert_refused(await superuser_client.request(method, url, json=body), 404)


# --- backend loaddata ----------------------------------------------------------------------------


def _fixture(tmp_path: Path, raw: str) -> Path:
    path = tmp_path / "edge.json"
    path.write_text(raw, encoding="utf-8")
    return path


def _context_object(owner: int, **fields: Any) -> dict[str, Any]:
    return {
        "model": "contexts.context",
        "pk": 7,
        "fields": {"owner": owner, "name": "n", "slug": "s", **fields},
    }


@pytest.mark.parametrize("pk", [2**31, 2**63, 2**64])
async def test_loaddata_refuses_ids_past_the_integer_range_naming_the_object(
    db_session: AsyncSession, tmp_path: Path, user: User, pk: int
) -> None:
    before = await _row_counts(db_session)
    for objects in (
        [{"model": "auth.user", "pk": pk, "fields": {"username": "big", "password": "!"}}],
        [_context_object(owner=pk)],
    ):
        path = _fixture(tmp_path, json.dumps(objects))
        with pytest.raises(LoadDataError, match=r"edge\.json: object at index 0 \("):
            await load_files(db_session, [path])
    assert await _row_counts(db_session) == before


@pytest.mark.parametrize(
    "metadata", ['{"x": NaN}', '{"x": "nul\\u0000"}', '{"x": "\\ud800"}', json.dumps(nested(21))]
)
async def test_loaddata_refuses_metadata_the_api_refuses(
    db_session: AsyncSession, tmp_path: Path, user: User, metadata: str
) -> None:
    before = await _row_counts(db_session)
    raw = json.dumps([_context_object(owner=user.id, metadata="METADATA")])
    path = _fixture(tmp_path, raw.replace('"METADATA"', metadata))
    with pytest.raises(
        LoadDataError, match=r"object at index 0 \(contexts.context pk=7\).*metadata"
    ):
        await load_files(db_session, [path])
    assert await _row_counts(db_session) == before


async def test_loaddata_refuses_lone_surrogates_and_absurd_nesting_naming_the_file(
    db_session: AsyncSession, tmp_path: Path
) -> None:
    lone = '[{"model": "auth.user", "pk": 3, "fields": {"username": "a\\ud800", "password": "!"}}]'
    with pytest.raises(LoadDataError, match=r"object at index 0 \(auth.user pk=3\).*username"):
        await load_files(db_session, [_fixture(tmp_path, lone)])
    with pytest.raises(LoadDataError, match=r"edge\.json: .*nested"):
        await load_files(db_session, [_fixture(tmp_path, "[" * 100_000 + "]" * 100_000)])
    assert await db_session.scalar(select(func.count()).select_from(User)) == 0
