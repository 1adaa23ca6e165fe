"""Django's password hash formats log in and are upgraded; weak ones are refused; hashing is off
the event loop, bounded in cost, and a refused login costs the same whatever the account.

The Django hashes in data/django_hashes.json were written by Django 5.2.19 itself
(data/make_django_hashes.py, run in a scratch virtualenv with Django, argon2-cffi and bcrypt): each
format once at Django's own cost (PBKDF2 at 1,000,000 iterations: 0.3 s a check here), checked by
one test per format, and once at a cost lowered the way Django's own tests lower it, for every
other test.
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth import hashers
from backend.auth.passwords import MAX_PADDING_SECONDS, CostFloor, _timing_decoy
from backend.loaddata import LoadDataError, load_files
from backend.models import User
from backend.tests.factories import DEFAULT_PASSWORD, make_user
from backend.tests.fixtures.clients import login

DATA = Path(__file__).parent / "data"
DJANGO = json.loads((DATA / "django_hashes.json").read_text())
DJANGO_PASSWORD: str = DJANGO["password"]
# Made by the same Django hashers at their lowest costs: the formats and code paths of the real ones.
CHEAP: dict[str, str] = DJANGO["cheap_hashes"]
GOOD_FORMATS = ["pbkdf2_sha256", "pbkdf2_sha1", "argon2", "bcrypt_sha256", "scrypt"]
WEAK_HASHES = {
    "salted-md5": CHEAP["md5"],
    "salted-sha1": "sha1$Xq9$" + "3f" * 20,
    "unsalted-md5": "5f4dcc3b5aa765d61d8327deb882cf99",
    "prefixed-unsalted-md5": "md5$$5f4dcc3b5aa765d61d8327deb882cf99",
    "unsalted-sha1": "sha1$$5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8",
    "crypt": "crypt$$abN0vhbeSvVrQ",
    "plain": "hunter2",
}


def user_object(pk: int, username: str, password: str, **fields: Any) -> dict[str, Any]:
    return {"model": "auth.user", "pk": pk, "fields": {"username": username, "password": password}
            | fields}  # fmt: skip


def fixture(tmp_path: Path, *objects: dict[str, Any]) -> Path:
    path = tmp_path / "users.json"
    path.write_text(json.dumps(list(objects)))
    return path


async def stored_hash(session: AsyncSession, username: str) -> str:
    session.expire_all()
    return str(await session.scalar(select(User.password).where(User.username == username)))


@pytest.mark.parametrize("algorithm", GOOD_FORMATS)
async def test_a_django_hash_at_djangos_own_cost_logs_in_and_is_upgraded(
    client: httpx.AsyncClient, db_session: AsyncSession, tmp_path: Path, algorithm: str
) -> None:
    # The one check per format at the real cost: the parameters Django writes by default verify.
    django_hash = DJANGO["hashes"][algorithm]
    await load_files(db_session, [fixture(tmp_path, user_object(900, "django", django_hash))])
    await db_session.commit()
    response = await login(client, "django", DJANGO_PASSWORD)
    assert response.status_code == 200, response.text
    # (A second login here would only sleep: it is padded to the cost just seen. The cheap
    # test below logs in again with the upgraded hash.)
    assert (await stored_hash(db_session, "django")).startswith("$argon2id$")


@pytest.mark.parametrize("algorithm", GOOD_FORMATS)
async def test_a_django_hash_refuses_a_wrong_password_then_logs_in_and_is_upgraded(
    client: httpx.AsyncClient, db_session: AsyncSession, tmp_path: Path, algorithm: str
) -> None:
    django_hash = CHEAP[algorithm]
    await load_files(db_session, [fixture(tmp_path, user_object(900, "django", django_hash))])
    await db_session.commit()
    assert (await login(client, "django", "not the password")).status_code == 401
    assert await stored_hash(db_session, "django") == django_hash
    response = await login(client, "django", DJANGO_PASSWORD)
    assert response.status_code == 200, response.text
    assert (await stored_hash(db_session, "django")).startswith("$argon2id$")
    assert (await login(client, "django", DJANGO_PASSWORD)).status_code == 200


async def test_upgrading_a_hash_keeps_the_users_other_tokens(
    client: httpx.AsyncClient, db_session: AsyncSession, tmp_path: Path
) -> None:
    django_hash = CHEAP["pbkdf2_sha256"]
    await load_files(db_session, [fixture(tmp_path, user_object(901, "keeps", django_hash))])
    await db_session.commit()
    first = (await login(client, "keeps", DJANGO_PASSWORD)).json()["access_token"]
    assert (await stored_hash(db_session, "keeps")).startswith("$argon2id$")
    me = await client.get("/auth/me", headers={"Authorization": f"Bearer {first}"})
    assert me.status_code == 200


async def test_weak_hashes_are_refused_in_one_message_naming_the_users(
    db_session: AsyncSession, tmp_path: Path
) -> None:
    objects = [
        user_object(910 + n, name, value) for n, (name, value) in enumerate(WEAK_HASHES.items())
    ]
    objects.append(user_object(930, "fine", CHEAP["pbkdf2_sha256"]))
    with pytest.raises(LoadDataError) as raised:
        await load_files(db_session, [fixture(tmp_path, *objects)])
    message = str(raised.value)
    assert all(name in message for name in WEAK_HASHES), message
    assert "fine" not in message.split("(", 1)[1].split(")")[0]
    assert "--unusable-weak-hashes" in message
    assert await db_session.scalar(select(User.id).where(User.id >= 910)) is None


async def test_weak_hashes_become_unusable_when_asked(
    client: httpx.AsyncClient, db_session: AsyncSession, tmp_path: Path
) -> None:
    objects = [
        user_object(910 + n, name, value) for n, (name, value) in enumerate(WEAK_HASHES.items())
    ]
    await load_files(db_session, [fixture(tmp_path, *objects)], unusable_weak_hashes=True)
    await db_session.commit()
    for name in WEAK_HASHES:
        assert (await stored_hash(db_session, name)).startswith("!")
    # "hunter2" was the plain-text password: it must not log in, nor its md5's preimage.
    assert (await login(client, "plain", "hunter2")).status_code == 401
    assert (await login(client, "unsalted-md5", "password")).status_code == 401


async def test_a_hash_costlier_than_the_ceiling_is_refused_and_never_computed(
    client: httpx.AsyncClient,
    db_session: AsyncSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stall = "pbkdf2_sha256$10000000$salt$" + "A" * 43 + "="
    with pytest.raises(LoadDataError, match="costlier than this server verifies: stall"):
        await load_files(db_session, [fixture(tmp_path, user_object(940, "stall", stall))])
    # Written by some other path, it still costs one ordinary check, not ten million rounds.
    costly = await make_user(db_session, username="costly")
    costly.password = stall
    await db_session.commit()
    legacy_checks: list[str] = []
    monkeypatch.setattr(hashers, "_verify_pbkdf2", lambda *args: legacy_checks.append("run"))
    assert (await login(client, "costly", "anything")).status_code == 401
    assert legacy_checks == []


async def test_an_inactive_django_user_with_the_right_password_is_not_rehashed(
    client: httpx.AsyncClient,
    db_session: AsyncSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Computing the upgrade made this case slower than any other refusal: a password oracle.
    django_hash = CHEAP["pbkdf2_sha256"]
    dormant = user_object(950, "dormant", django_hash, is_active=False)
    await load_files(db_session, [fixture(tmp_path, dormant)])
    await db_session.commit()
    _timing_decoy()  # made once per process: not a rehash
    new_hashes: list[str] = []
    make_hash = Argon2Hasher.hash

    def counted_hash(self: Argon2Hasher, password: str | bytes, **kwargs: Any) -> str:
        new_hashes.append("made")
        return make_hash(self, password, **kwargs)

    monkeypatch.setattr(Argon2Hasher, "hash", counted_hash)
    right = await login(client, "dormant", DJANGO_PASSWORD)
    wrong = await login(client, "dormant", "wrong")
    assert (right.status_code, right.json()) == (wrong.status_code, wrong.json())
    assert new_hashes == []
    assert await stored_hash(db_session, "dormant") == django_hash


# Two requests at once: each needs a connection of its own, as in production.
@pytest.mark.committed
async def test_health_answers_while_a_password_is_being_checked(
    client: httpx.AsyncClient, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    checking, release = threading.Event(), threading.Event()
    verify = Argon2Hasher.verify

    def held_verify(self: Argon2Hasher, password: str | bytes, hash: str | bytes) -> bool:
        checking.set()
        release.wait(timeout=10)  # on the event loop this would stall everything for 10 s
        return verify(self, password, hash)

    monkeypatch.setattr(Argon2Hasher, "verify", held_verify)
    logging_in = asyncio.create_task(login(client, user.username, DEFAULT_PASSWORD))
    await asyncio.to_thread(checking.wait, 10)
    health = await client.get("/health")
    answered_during_the_check = not release.is_set() and not logging_in.done()
    release.set()
    assert health.status_code == 200
    assert answered_during_the_check
    assert (await logging_in).status_code == 200


def test_the_padding_follows_the_costliest_usual_hash_kind() -> None:
    floor = CostFloor(smoothing=0.5)
    floor.observe("argon2", 0.10)
    assert floor.seconds() == 0.10
    floor.observe("pbkdf2_sha256$1000000", 0.30)
    assert floor.seconds() == 0.30  # every login now lasts as long as a PBKDF2 check
    floor.observe("pbkdf2_sha256$1000000", 0.10)
    assert floor.seconds() == pytest.approx(0.20)  # an average, not one slow moment
    floor.observe("scrypt", 60.0)
    assert floor.seconds() == MAX_PADDING_SECONDS
