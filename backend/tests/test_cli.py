"""The ``backend`` command, run in-process on its own SQLite file (not the harness's database)."""

# ruff: noqa: RUF001 - look-alike letters are what some of these tests are about

from __future__ import annotations

import shutil
import socket
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from backend import cli, upgrades
from backend.migrations import head_revision
from backend.serving import BoundedH11Protocol, ClientLimits, ServiceConfig

DATA = Path(__file__).parent / "data"
FIRST_REVISION = "0f3a2c1d9b01"
COMMANDS = ["serve", "migrate", "check", "createsuperuser", "changepassword", "loaddata"]
ROOT = ["--username", "root", "--email", "root@example.com", "--password", "a long password"]


@pytest.fixture
def db_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh SQLite file the CLI is pointed at through its environment."""
    path = tmp_path / "cli.sqlite3"
    monkeypatch.chdir(tmp_path)  # no stray .env file is read
    monkeypatch.setenv("BACKEND_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BACKEND_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.delenv("BACKEND_SUPERUSER_PASSWORD", raising=False)
    return path


@pytest.fixture(scope="session")
def _migrated_by_the_cli(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file the CLI's own ``migrate`` brought to head, once per run (0.1 to 0.5 s each time)."""
    directory = tmp_path_factory.mktemp("cli-migrated")
    path = directory / "cli.sqlite3"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(directory)
        patch.setenv("BACKEND_DATA_DIR", str(directory))
        patch.setenv("BACKEND_DATABASE_URL", f"sqlite:///{path}")
        result = run("migrate")
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture
def migrated(db_file: Path, _migrated_by_the_cli: Path) -> Path:
    """``db_file`` as ``backend migrate`` leaves it: a copy of the file it migrated once."""
    shutil.copyfile(_migrated_by_the_cli, db_file)
    return db_file


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli.app, list(args), input=input)


def query(db_file: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db_file) as connection:
        return connection.execute(sql).fetchall()


def user_count(db_file: Path) -> int:
    return int(query(db_file, "SELECT count(*) FROM auth_user")[0][0])


def assert_clean_failure(result: Result, *fragments: str) -> None:
    """Exit code 1, one-line advice on stderr, and no traceback."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.stderr


def test_every_command_explains_itself() -> None:
    overview = run("--help")
    assert overview.exit_code == 0
    for command in COMMANDS:
        assert command in overview.output
        result = run(command, "--help")
        assert result.exit_code == 0, (command, result.output)
        assert "Usage" in result.output
    assert "--reload" in run("serve", "--help").output
    assert "--no-input" in run("createsuperuser", "--help").output


def test_check_fails_until_the_database_is_migrated(db_file: Path) -> None:
    assert_clean_failure(run("check"), "run `backend migrate`")
    migrate = run("migrate")
    assert migrate.exit_code == 0, migrate.output
    assert head_revision() in migrate.output
    check = run("check")
    assert check.exit_code == 0, check.output
    assert head_revision() in check.stdout


def test_migrate_is_idempotent_and_takes_a_target_revision(db_file: Path) -> None:
    assert run("migrate", FIRST_REVISION).exit_code == 0
    assert query(db_file, "SELECT version_num FROM alembic_version") == [(FIRST_REVISION,)]
    assert_clean_failure(run("check"), FIRST_REVISION, "run `backend migrate`")
    assert run("migrate").exit_code == 0
    again = run("migrate")
    assert again.exit_code == 0
    assert "already at revision" in again.stdout


def test_migrate_refuses_a_database_from_an_unknown_history(migrated: Path) -> None:
    with sqlite3.connect(migrated) as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'f00dfeedbeef'")
    assert_clean_failure(run("migrate"), "f00dfeedbeef", "migration history")
    assert_clean_failure(run("check"), "f00dfeedbeef")


def test_migrate_to_an_unknown_revision_fails_cleanly(db_file: Path) -> None:
    assert_clean_failure(run("migrate", "nonexistent"), "nonexistent")


def test_migrate_reports_accounts_that_collide_under_nfkc(db_file: Path) -> None:
    assert run("migrate", "8e5b2a9d4f17").exit_code == 0
    with sqlite3.connect(db_file) as connection:
        connection.executemany(
            "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, "
            "email, is_staff, is_active, date_joined, token_generation) "
            "VALUES ('!', 0, ?, '', '', '', 0, 1, '2020-01-01', ?)",
            [("root", "a"), ("ｒｏｏｔ", "b")],
        )
    result = run("migrate")
    assert result.exit_code == 0, result.output
    assert "warning: accounts whose usernames are the same under NFKC" in result.stderr
    assert query(db_file, "SELECT username FROM auth_user ORDER BY id") == [
        ("root",),
        ("ｒｏｏｔ",),
    ]


def test_createsuperuser_from_options(migrated: Path) -> None:
    result = run("createsuperuser", "--no-input", *ROOT)
    assert result.exit_code == 0, result.output
    rows = query(
        migrated, "SELECT username, email, is_superuser, is_staff, password FROM auth_user"
    )
    assert len(rows) == 1
    username, email, is_superuser, is_staff, password = rows[0]
    assert (username, email, is_superuser, is_staff) == ("root", "root@example.com", 1, 1)
    assert password.startswith("$argon2")


def test_createsuperuser_refuses_a_duplicate(migrated: Path) -> None:
    assert run("createsuperuser", *ROOT).exit_code == 0
    assert_clean_failure(run("createsuperuser", *ROOT), "'root' is already taken")
    assert user_count(migrated) == 1


def test_createsuperuser_stores_nfkc_and_refuses_a_look_alike(migrated: Path) -> None:
    look_alike = ["--username", "ｒｏｏｔ", "--email", "", "--password", "a long password"]
    assert run("createsuperuser", "--no-input", *look_alike).exit_code == 0
    assert query(migrated, "SELECT username FROM auth_user") == [("root",)]
    assert_clean_failure(run("createsuperuser", *ROOT), "'root' is already taken")
    assert user_count(migrated) == 1


def test_createsuperuser_prompts_for_what_is_missing(migrated: Path) -> None:
    answers = "ada\nada@example.com\nsecret password\nsecret password\n"
    result = run("createsuperuser", input=answers)
    assert result.exit_code == 0, result.output
    assert query(migrated, "SELECT username, is_superuser FROM auth_user") == [("ada", 1)]


def test_createsuperuser_without_input_needs_every_option(migrated: Path) -> None:
    assert_clean_failure(run("createsuperuser", "--no-input", "--username", "root"), "--password")
    assert user_count(migrated) == 0


def test_createsuperuser_validates_like_the_api(migrated: Path) -> None:
    result = run("createsuperuser", "--username", "bad name", "--email", "", "--password", "short")
    assert_clean_failure(result, "username", "password")
    assert user_count(migrated) == 0


def test_createsuperuser_needs_a_migrated_database(db_file: Path) -> None:
    assert_clean_failure(run("createsuperuser", *ROOT), "run `backend migrate`")


def test_loaddata_loads_and_commits(migrated: Path) -> None:
    result = run("loaddata", str(DATA / "users.json"), str(DATA / "contexts.json"))
    assert result.exit_code == 0, result.output
    assert "loaded 8 objects" in result.stdout
    assert user_count(migrated) == 3
    assert query(migrated, "SELECT slug FROM contexts ORDER BY id") == [
        ("analytical-engine",),
        ("bobs-drafts",),
    ]


def test_loaddata_with_a_bad_file_writes_nothing(migrated: Path) -> None:
    result = run("loaddata", str(DATA / "users.json"), str(DATA / "unknown_model.json"))
    assert_clean_failure(result, "unknown_model.json", "auth.group", "nothing was loaded")
    assert user_count(migrated) == 0
    clash = run("loaddata", str(DATA / "users.json"), str(DATA / "username_clash.json"))
    assert_clean_failure(clash, "username_clash.json: object at index 1")
    assert user_count(migrated) == 0


def test_changepassword_sets_a_new_hash_and_a_new_token_generation(migrated: Path) -> None:
    assert run("createsuperuser", "--no-input", *ROOT).exit_code == 0
    before = query(migrated, "SELECT password, token_generation FROM auth_user")[0]
    result = run("changepassword", "root", input="another long password\nanother long password\n")
    assert result.exit_code == 0, result.output
    assert "older tokens no longer work" in result.stdout
    after = query(migrated, "SELECT password, token_generation FROM auth_user")[0]
    assert after[0].startswith("$argon2") and after[0] != before[0]
    assert after[1] != before[1]


def test_changepassword_refuses_an_unknown_user_or_a_short_password(migrated: Path) -> None:
    assert_clean_failure(run("changepassword", "nobody", "--password", "long enough"), "nobody")
    assert_clean_failure(run("changepassword", "nobody", "--password", "short"), "password")


def test_loaddata_refuses_weak_hashes_unless_told_to_make_them_unusable(
    migrated: Path, tmp_path: Path
) -> None:
    weak = tmp_path / "weak.json"
    weak.write_text(
        '[{"model": "auth.user", "pk": 5, "fields": {"username": "old", "password": "md5$s$'
        + "0" * 32
        + '"}}]'
    )
    assert_clean_failure(run("loaddata", str(weak)), "md5: old", "--unusable-weak-hashes")
    assert user_count(migrated) == 0
    assert run("loaddata", "--unusable-weak-hashes", str(weak)).exit_code == 0
    assert query(migrated, "SELECT substr(password, 1, 1) FROM auth_user") == [("!",)]


def test_serve_refuses_a_weak_production_key_in_one_line(
    migrated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKEND_ENVIRONMENT", "production")
    monkeypatch.setenv("BACKEND_SECRET_KEY", "hunter2")
    assert_clean_failure(run("serve"), "BACKEND_SECRET_KEY", "secrets.token_urlsafe(48)")


@pytest.fixture
def uvicorn_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Records what ``serve`` hands to the server runner instead of starting a server."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(cli, "run_server", lambda **options: calls.append(options))
    return calls


def test_serve_migrates_first_then_hands_the_options_to_uvicorn(
    db_file: Path, uvicorn_calls: list[dict[str, Any]]
) -> None:
    result = run("serve", "--port", "8123")
    assert result.exit_code == 0, result.output
    assert query(db_file, "SELECT version_num FROM alembic_version") == [(head_revision(),)]
    [options] = uvicorn_calls
    assert (options["host"], options["port"], options["workers"]) == ("127.0.0.1", 8123, 1)
    assert options["reload"] is False
    assert options["client_limits"] == ClientLimits(
        header_seconds=10.0, body_seconds=20.0, max_connections=100
    )


# The other tests of what serve hands to uvicorn start from a migrated file (``migrated``): that
# serve migrates first is the test above.


def test_serve_reads_the_slow_client_limits_from_the_settings(
    migrated: Path, monkeypatch: pytest.MonkeyPatch, uvicorn_calls: list[dict[str, Any]]
) -> None:
    monkeypatch.setenv("BACKEND_HEADER_TIMEOUT_SECONDS", "2.5")
    monkeypatch.setenv("BACKEND_BODY_TIMEOUT_SECONDS", "4")
    monkeypatch.setenv("BACKEND_MAX_CONNECTIONS", "7")
    assert run("serve").exit_code == 0
    [options] = uvicorn_calls
    assert options["client_limits"] == ClientLimits(
        header_seconds=2.5, body_seconds=4.0, max_connections=7
    )


def test_serve_with_reload_reloads(migrated: Path, uvicorn_calls: list[dict[str, Any]]) -> None:
    assert run("serve", "--reload").exit_code == 0
    [options] = uvicorn_calls
    assert options["reload"] is True


def test_the_upgrade_helper_reports_where_the_database_was_and_is(db_file: Path) -> None:
    url = f"sqlite+aiosqlite:///{db_file}"
    assert upgrades.upgrade_database(url) == (None, head_revision())
    assert upgrades.upgrade_database(url) == (head_revision(), head_revision())


# A database setting the backend cannot use: one line naming the setting, exit 1, no traceback.

BAD_URLS = {
    "malformed": ("not a database url", "is not a database URL"),
    "mysql": ("mysql://user:secret@localhost/app", "'mysql' engine"),
    "oracle": ("oracle://user:secret@localhost/app", "'oracle' engine"),
    "another driver": ("postgresql+asyncpg://user@localhost/app", "driver 'asyncpg'"),
}


def assert_one_line_naming(result: Result, setting: str, *fragments: str) -> None:
    assert_clean_failure(result, setting, *fragments)
    assert result.stderr.count("\n") == 1, result.stderr
    assert "secret" not in result.stderr  # the password of a URL is never printed


@pytest.mark.parametrize("command", ["serve", "migrate", "check"])
@pytest.mark.parametrize("case", BAD_URLS, ids=str)
def test_an_unusable_database_url_is_one_line_naming_the_setting(
    db_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    uvicorn_calls: list[dict[str, Any]],
    command: str,
    case: str,
) -> None:
    url, fragment = BAD_URLS[case]
    monkeypatch.setenv("BACKEND_DATABASE_URL", url)
    assert_one_line_naming(run(command), "BACKEND_DATABASE_URL", fragment)
    assert uvicorn_calls == []


@pytest.mark.parametrize("command", ["serve", "migrate", "check"])
@pytest.mark.parametrize("setting", ["BACKEND_DATABASE_URL", "BACKEND_DATA_DIR"])
def test_an_sqlite_path_that_cannot_be_written_is_one_line_naming_the_setting(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    uvicorn_calls: list[dict[str, Any]],
    command: str,
    setting: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    not_a_directory = tmp_path / "a-file"
    not_a_directory.write_text("")
    # Under a regular file: no directory can be made there, not even by root.
    if setting == "BACKEND_DATABASE_URL":
        monkeypatch.setenv(setting, f"sqlite:///{not_a_directory / 'db' / 'backend.sqlite3'}")
    else:
        monkeypatch.delenv("BACKEND_DATABASE_URL", raising=False)
        monkeypatch.setenv("BACKEND_SECRET_KEY", "a key, so that none is generated in data_dir")
        monkeypatch.setenv(setting, str(not_a_directory / "data"))
    assert_one_line_naming(run(command), setting, "cannot create the directory")


def test_serve_with_workers_starts_that_many_uvicorn_workers(
    migrated: Path, uvicorn_calls: list[dict[str, Any]]
) -> None:
    assert run("serve", "--workers", "3", "--port", "8124").exit_code == 0
    [options] = uvicorn_calls
    assert (options["port"], options["workers"]) == (8124, 3)


def test_the_workers_listen_on_a_socket_asyncio_sets_tcp_nodelay_on() -> None:
    # asyncio sets TCP_NODELAY only where proto is IPPROTO_TCP; without it Nagle's algorithm
    # delays every response of a worker by the client's delayed ACK (about 40 ms).
    limits = ClientLimits(header_seconds=1, body_seconds=1, max_connections=1)
    config = ServiceConfig(client_limits=limits, host="127.0.0.1", port=0, workers=2)
    with config.bind_socket() as sock:
        assert sock.proto == socket.IPPROTO_TCP
    assert config.http is BoundedH11Protocol


def test_serve_refuses_reload_with_workers(
    db_file: Path, uvicorn_calls: list[dict[str, Any]]
) -> None:
    result = run("serve", "--reload", "--workers", "2")
    assert_clean_failure(result, "--reload and --workers cannot be combined")
    assert uvicorn_calls == []
