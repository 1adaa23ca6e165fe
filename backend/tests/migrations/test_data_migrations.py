"""Data migrations keep data: rows seeded before each one survive its upgrade transformed as
intended, and its downgrade restores them."""

# ruff: noqa: RUF001 - look-alike letters are what some of these tests are about

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager

import psycopg
import pytest
from pytest_dbharness.migration_checks import MigrationDriver, script_directory
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url

SLUGS = "9d4c7f3e8a13"
EMAIL_INDEX = "e71f0a9b3c35"
NO_ID_REUSE = "4c1d8e2f7a60"
TOKEN_GENERATION = "8e5b2a9d4f17"
NFKC_USERNAMES = "c7bb3ba2903c"


def _rows(connection: Connection, sql: str) -> list[tuple[object, ...]]:
    return [tuple(row) for row in connection.execute(text(sql)).all()]


def _seed_users(connection: Connection, *emails: str) -> None:
    for number, email in enumerate(emails, 1):
        connection.execute(
            text(
                "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, "
                "email, is_staff, is_active, date_joined) VALUES ('!', false, :username, '', '', "
                ":email, false, true, CURRENT_TIMESTAMP)"
            ),
            {"username": f"user{number}", "email": email},
        )


async def check_slug_backfill(db: MigrationDriver) -> None:
    await db.upgrade(f"{SLUGS}-1")
    names = ["Team Notes", "team notes!", "Ünïcode Ω", "---", "Team Notes"]

    def seed(connection: Connection) -> None:
        _seed_users(connection, "a@example.com", "b@example.com")
        owners = [row[0] for row in _rows(connection, "SELECT id FROM auth_user ORDER BY id")]
        for index, name in enumerate(names):
            owner = owners[1] if index == len(names) - 1 else owners[0]
            connection.execute(
                text(
                    "INSERT INTO contexts (owner_id, name, description, visibility, metadata, "
                    "created_at, updated_at) VALUES (:owner, :name, '', 'private', '{}', "
                    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"owner": owner, "name": name},
            )

    await db.run(seed)
    before = await db.run(lambda c: _rows(c, "SELECT id, owner_id, name FROM contexts ORDER BY id"))
    await db.upgrade(SLUGS)
    slugs = await db.run(lambda c: _rows(c, "SELECT name, slug FROM contexts ORDER BY id"))
    assert slugs == [
        ("Team Notes", "team-notes"),
        ("team notes!", "team-notes-2"),  # the same owner: numbered
        ("Ünïcode Ω", "unicode"),  # folded to ASCII
        ("---", "context"),  # nothing left: the fallback
        ("Team Notes", "team-notes"),  # another owner: no clash
    ], f"[{db.engine_name}] revision {SLUGS} back-filled the wrong slugs"
    await db.downgrade(f"{SLUGS}-1")
    after = await db.run(lambda c: _rows(c, "SELECT id, owner_id, name FROM contexts ORDER BY id"))
    assert after == before, f"[{db.engine_name}] downgrade of {SLUGS} did not restore the rows"


async def check_email_index(db: MigrationDriver) -> None:
    await db.upgrade(f"{EMAIL_INDEX}-1")
    await db.run(lambda c: _seed_users(c, "Ann@Example.com", "bob@example.com", "", ""))
    before = await db.run(lambda c: _rows(c, "SELECT id, email FROM auth_user ORDER BY id"))
    await db.upgrade(EMAIL_INDEX)
    assert await db.run(lambda c: _rows(c, "SELECT id, email FROM auth_user ORDER BY id")) == before
    await db.downgrade(f"{EMAIL_INDEX}-1")
    assert await db.run(lambda c: _rows(c, "SELECT id, email FROM auth_user ORDER BY id")) == before


USERS = "SELECT id, username, email, password, is_active FROM auth_user ORDER BY id"


async def check_rebuild_keeps_rows_and_ids(db: MigrationDriver) -> None:
    # Not a data migration by the signs above, but SQLite rebuilds every table (copy, drop,
    # rename): the rows and their ids must survive, and ids keep growing past them.
    await db.upgrade(f"{NO_ID_REUSE}-1")
    await db.run(lambda c: _seed_users(c, "a@example.com", "b@example.com", "c@example.com"))
    await db.run(lambda c: c.execute(text("DELETE FROM auth_user WHERE username = 'user3'")))
    before = await db.run(lambda c: _rows(c, USERS))
    await db.upgrade(NO_ID_REUSE)
    assert await db.run(lambda c: _rows(c, USERS)) == before
    await db.downgrade(f"{NO_ID_REUSE}-1")
    assert await db.run(lambda c: _rows(c, USERS)) == before


async def check_token_generation_backfill(db: MigrationDriver) -> None:
    await db.upgrade(f"{TOKEN_GENERATION}-1")
    # More users than one batch of the PostgreSQL back-fill (1000), so batches follow batches.
    emails = ["a@example.com", "b@example.com", ""] + [f"u{n}@example.com" for n in range(2100)]
    await db.run(lambda c: _seed_users(c, *emails))
    before = await db.run(lambda c: _rows(c, USERS))
    await db.upgrade(TOKEN_GENERATION)
    assert await db.run(lambda c: _rows(c, USERS)) == before
    generations = await db.run(
        lambda c: [row[0] for row in _rows(c, "SELECT token_generation FROM auth_user")]
    )
    # Each user its own random value: one shared value would let tokens outlive a reset.
    assert all(isinstance(g, str) and len(g) == 32 for g in generations), generations
    assert len(set(generations)) == len(generations), generations
    await db.downgrade(f"{TOKEN_GENERATION}-1")
    assert await db.run(lambda c: _rows(c, USERS)) == before


# Accounts from before NFKC: look-alikes beside the names they imitate, and lone ones; then
# what the upgrade leaves (lone look-alikes rewritten, colliding ones all kept as they were).
NAMES_BEFORE = [
    "root",
    "ｒｏｏｔ",
    "ʳᵒᵒᵗ",
    "ﬁona",
    "Fiona",
    "ⅰvan",
    "ａｄｍｉｎ",
    "ｓｕｅ",
    "ｓｕｅ\u0301",
]
NAMES_AFTER = ["root", "ｒｏｏｔ", "ʳᵒᵒᵗ", "fiona", "Fiona", "ivan", "admin", "sue", "su\u00e9"]


async def check_nfkc_usernames(db: MigrationDriver) -> None:
    await db.upgrade(f"{NFKC_USERNAMES}-1")
    emails = [f"u{n}@example.com" for n in range(len(NAMES_BEFORE))]
    if db.engine_name == "sqlite":
        # SQLite's ASCII-only lower(email) index let these two in; PostgreSQL's refuses them.
        emails[-2:] = ["ÖSTEN@example.com", "östen@example.com"]
    await db.run(lambda c: _seed_named_users(c, zip(NAMES_BEFORE, emails, strict=True)))
    with _warnings("alembic.runtime.migration") as report:
        await db.upgrade(NFKC_USERNAMES)
    after = await db.run(lambda c: _rows(c, "SELECT username FROM auth_user ORDER BY id"))
    assert [row[0] for row in after] == NAMES_AFTER, f"[{db.engine_name}] {after}"
    text_ = "\n".join(report)
    assert "'ｒｏｏｔ' (id " in text_ and "'ʳᵒᵒᵗ' (id " in text_ and "'root' (id " in text_, text_
    assert "nothing merged" in text_, text_
    assert "'ﬁona' -> 'fiona'" in text_, text_
    if db.engine_name == "sqlite":
        assert "'ÖSTEN@example.com' (id " in text_ and "emails are the same" in text_, text_
    await db.downgrade(f"{NFKC_USERNAMES}-1")
    assert await db.run(lambda c: _rows(c, "SELECT username FROM auth_user ORDER BY id")) == after


def _seed_named_users(connection: Connection, users: Iterable[tuple[str, str]]) -> None:
    for number, (username, email) in enumerate(users):
        connection.execute(
            text(
                "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, "
                "email, is_staff, is_active, date_joined, token_generation) VALUES ('!', false, "
                ":username, '', '', :email, false, true, CURRENT_TIMESTAMP, :generation)"
            ),
            {"username": username, "email": email, "generation": f"{number:032d}"},
        )


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _warnings(name: str) -> Iterator[list[str]]:
    handler = _Collect()
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


DATA_MIGRATION_CHECKS: dict[str, Callable[[MigrationDriver], Awaitable[None]]] = {
    SLUGS: check_slug_backfill,
    EMAIL_INDEX: check_email_index,
    NO_ID_REUSE: check_rebuild_keeps_rows_and_ids,
    TOKEN_GENERATION: check_token_generation_backfill,
    NFKC_USERNAMES: check_nfkc_usernames,
}


@pytest.mark.parametrize("revision", sorted(DATA_MIGRATION_CHECKS))
async def test_data_migration_keeps_data(empty_database_url: str, revision: str) -> None:
    async with MigrationDriver(empty_database_url) as db:
        await DATA_MIGRATION_CHECKS[revision](db)


async def test_emails_that_clash_by_case_stop_the_upgrade_and_name_them(
    empty_database_url: str,
) -> None:
    async with MigrationDriver(empty_database_url) as db:
        await db.upgrade(f"{EMAIL_INDEX}-1")
        await db.run(lambda c: _seed_users(c, "Ann@Example.com", "ann@example.com", "x@y.z"))
        with pytest.raises(
            RuntimeError, match=r"give each one owner before upgrading: ann@example\.com$"
        ):
            await db.upgrade(EMAIL_INDEX)
        # Transactional DDL on both engines: the failed revision left the database where it was.
        previous = script_directory().get_revision(EMAIL_INDEX).down_revision
        assert await db.current() == previous


KEPT = "0123456789abcdef0123456789abcdef"


@pytest.mark.postgres_only(reason="the batched, resumable back-fill is the PostgreSQL path")
async def test_token_generations_resume_after_a_run_that_failed_part_way(
    empty_database_url: str,
) -> None:
    async with MigrationDriver(empty_database_url) as db:
        await db.upgrade(f"{TOKEN_GENERATION}-1")
        await db.run(lambda c: _seed_users(c, "a@example.com", "b@example.com", "c@example.com"))

        def part_way(connection: Connection) -> None:
            # Where a run stopped by a timeout in VALIDATE leaves it: the column, one batch
            # filled, the NOT VALID check (each committed before the next step).
            for sql in (
                "ALTER TABLE auth_user ADD COLUMN token_generation VARCHAR(32)",
                f"UPDATE auth_user SET token_generation = '{KEPT}' WHERE username = 'user1'",  # noqa: S608 - a constant
                "ALTER TABLE auth_user ADD CONSTRAINT ck_auth_user_token_generation_filled "
                "CHECK (token_generation IS NOT NULL) NOT VALID",
            ):
                connection.execute(text(sql))

        await db.run(part_way)
        await db.upgrade(TOKEN_GENERATION)
        rows = await db.run(
            lambda c: _rows(c, "SELECT username, token_generation FROM auth_user ORDER BY id")
        )
        constraints = await db.run(
            lambda c: _rows(c, "SELECT conname FROM pg_constraint WHERE conname LIKE '%filled'")
        )
    assert rows[0] == ("user1", KEPT), "a user filled by the first run keeps its value"
    generations = [generation for _username, generation in rows]
    assert all(isinstance(g, str) and len(g) == 32 for g in generations), generations
    assert len(set(generations)) == len(generations), generations
    assert constraints == [], "the temporary check is gone"


@pytest.mark.postgres_only(reason="only a CONCURRENTLY build leaves an invalid index behind")
async def test_the_email_index_is_rebuilt_over_an_invalid_one_a_failed_build_left(
    empty_database_url: str,
) -> None:
    async with MigrationDriver(empty_database_url) as db:
        await db.upgrade(f"{EMAIL_INDEX}-1")
        await db.run(lambda c: _seed_users(c, "Ann@Example.com", "ann@example.com"))
    conninfo = make_url(empty_database_url).set(drivername="postgresql")
    with psycopg.connect(conninfo.render_as_string(hide_password=False), autocommit=True) as pg:
        # A build that met a clash written meanwhile: it fails and leaves the index invalid.
        with pytest.raises(psycopg.errors.UniqueViolation):
            pg.execute(
                "CREATE UNIQUE INDEX CONCURRENTLY uq_auth_user_email_lower ON auth_user "
                "(lower(email)) WHERE email <> ''"
            )
        pg.execute("DELETE FROM auth_user WHERE email = 'ann@example.com'")
    async with MigrationDriver(empty_database_url) as db:
        await db.upgrade(EMAIL_INDEX)
        valid = await db.run(
            lambda c: _rows(
                c,
                "SELECT indisvalid FROM pg_index "
                "WHERE indexrelid = 'uq_auth_user_email_lower'::regclass",
            )
        )
    assert valid == [(True,)]
