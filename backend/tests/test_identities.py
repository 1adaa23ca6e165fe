"""Identities as Django defines them: NFKC usernames on every path, emails unique in any case."""

# ruff: noqa: RUF001 - look-alike letters are what some of these tests are about

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.service import set_password_by_username
from backend.loaddata import LoadDataError, load_files
from backend.models import User
from backend.tests.factories import make_user
from backend.tests.fixtures.clients import login
from backend.tests.test_loaddata import expect_nothing_written, write_fixture

PASSWORD = "a long enough password"
# Each look-alike and the name Django stores for it (NFKC): fullwidth, modifier letters, a
# ligature, a Roman numeral.
LOOK_ALIKES = {
    "ｒｏｏｔ": "root",
    "ａｄｍｉｎ": "admin",
    "ʳᵒᵒᵗ": "root",
    "ﬁona": "fiona",
    "ⅰvan": "ivan",
}


def new_user(username: str, email: str = "") -> dict[str, str]:
    return {"username": username, "email": email, "password": PASSWORD}


async def usernames(session: AsyncSession) -> list[str]:
    session.expire_all()
    return sorted((await session.scalars(select(User.username))).all())


@pytest.mark.parametrize(("look_alike", "name"), LOOK_ALIKES.items())
async def test_a_look_alike_of_an_existing_name_is_a_conflict(
    superuser_client: httpx.AsyncClient, look_alike: str, name: str
) -> None:
    if name != "root":  # the superuser fixture is root
        assert (await superuser_client.post("/admin/users", json=new_user(name))).status_code == 201
    response = await superuser_client.post("/admin/users", json=new_user(look_alike))
    assert response.status_code == 409, response.text
    assert repr(name) in response.json()["detail"]


async def test_a_new_name_is_stored_as_django_would_and_logs_in_by_either_spelling(
    superuser_client: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    response = await superuser_client.post("/admin/users", json=new_user("ﬁona"))
    assert response.status_code == 201, response.text
    assert response.json()["username"] == "fiona"
    for typed in ("fiona", "ﬁona", "ｆｉｏｎａ"):
        assert (await login(client, typed, PASSWORD)).status_code == 200, typed
    # Case still tells accounts apart, as in Django.
    assert (await login(client, "Fiona", PASSWORD)).status_code == 401


async def test_a_name_too_long_once_normalised_is_refused(
    superuser_client: httpx.AsyncClient,
) -> None:
    # U+337F (a square ligature) is four characters under NFKC: 40 of them are 160.
    response = await superuser_client.post("/admin/users", json=new_user("\u337f" * 40))
    assert response.status_code == 422, response.text
    assert "NFKC" in response.text


async def test_changepassword_finds_the_account_by_a_look_alike(
    db_session: AsyncSession, client: httpx.AsyncClient
) -> None:
    await make_user(db_session, username="fiona")
    await set_password_by_username(session=db_session, username="ﬁona", password=PASSWORD)
    await db_session.commit()
    assert (await login(client, "fiona", PASSWORD)).status_code == 200


def _django_user(pk: int, username: str, email: str = "") -> dict[str, object]:
    fields = {"username": username, "password": "!", "email": email}
    return {"model": "auth.user", "pk": pk, "fields": fields}


def _pk_after(user: User) -> int:
    """A pk no user has: a fixed one may be a factory user's, whose ids a PostgreSQL sequence
    hands out across the tests of a worker (rolled back or not)."""
    return user.id + 1


async def test_loaddata_stores_nfkc_names(db_session: AsyncSession, tmp_path: Path) -> None:
    await load_files(db_session, [write_fixture(tmp_path, [_django_user(700, "ⅰvan")])])
    assert await usernames(db_session) == ["ivan"]


async def test_loaddata_refuses_a_look_alike_of_an_existing_name(
    db_session: AsyncSession, tmp_path: Path
) -> None:
    root = await make_user(db_session, username="root")
    fixture = write_fixture(tmp_path, [_django_user(_pk_after(root), "ｒｏｏｔ")])
    message = await expect_nothing_written(db_session, [fixture])
    assert "object at index 0" in message and "refused it" in message, message


async def test_loaddata_refuses_two_look_alikes_in_one_file(
    db_session: AsyncSession, tmp_path: Path
) -> None:
    fixture = write_fixture(tmp_path, [_django_user(702, "root"), _django_user(703, "ʳᵒᵒᵗ")])
    message = await expect_nothing_written(db_session, [fixture])
    assert "object at index 1" in message


# Emails: unique whatever their case, in every script, on both engines.


@pytest.mark.parametrize(
    ("first", "second"),
    [("ÖSTEN@example.com", "östen@example.com"), ("ΣΊΣΥΦΟΣ@example.com", "σίσυφοσ@example.com")],
)
async def test_emails_differing_only_in_non_ascii_case_conflict(
    superuser_client: httpx.AsyncClient, first: str, second: str
) -> None:
    created = await superuser_client.post("/admin/users", json=new_user("first", first))
    assert created.status_code == 201, created.text
    response = await superuser_client.post("/admin/users", json=new_user("second", second))
    assert response.status_code == 409, response.text
    assert "email" in response.json()["detail"]


async def test_loaddata_refuses_an_email_in_use_in_another_case(
    db_session: AsyncSession, tmp_path: Path
) -> None:
    osten = await make_user(db_session, username="osten", email="ÖSTEN@example.com")
    fixture = write_fixture(
        tmp_path, [_django_user(_pk_after(osten), "other", "östen@example.com")]
    )
    message = await expect_nothing_written(db_session, [fixture])
    assert "already used (ignoring case) by the user 'osten'" in message


async def test_loaddata_refuses_two_emails_alike_in_one_file(
    db_session: AsyncSession, tmp_path: Path
) -> None:
    users = [
        _django_user(705, "a", "ÖSTEN@example.com"),
        _django_user(706, "b", "östen@example.com"),
    ]
    with pytest.raises(LoadDataError, match=r"already given \(ignoring case\) at index 0"):
        await load_files(db_session, [write_fixture(tmp_path, users)])
