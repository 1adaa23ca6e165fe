"""Load Django ``dumpdata`` JSON into this project's tables: every object, or none of them.

As in Django's ``loaddata``, objects are ``{"model": "app.model", "pk": 1, "fields": {...}}``,
foreign keys hold the referenced pk, and pks are inserted as given. Everything is checked before
anything is written, and the writes happen inside a savepoint, so a bad file leaves no trace.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import Table, cast, func, insert, select
from sqlalchemy.dialects.postgresql import REGCLASS
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from backend.auth.loaded_hashes import describe_refusal, refused_hashes, unusable_password
from backend.core.identities import email_key, normalize_username
from backend.core.json_document import Metadata
from backend.core.search import folded
from backend.core.validation import (
    CONTEXT_NAME_MAX,
    EMAIL_MAX,
    INT32_MAX,
    PASSWORD_HASH_MAX,
    PERSON_NAME_MAX,
    SLUG_MAX,
    USERNAME_MAX,
    Id,
    reject_nul,
)
from backend.models import Base, Context, ContextEntry, ContextMember, Role, User, Visibility

T = TypeVar("T")


class LoadDataError(Exception):
    """A fixture cannot be loaded; the message names the file and the object. Nothing is written."""


def _as_utc(value: datetime) -> datetime:
    # Django writes naive datetimes when USE_TZ is off; its database then held UTC by convention.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _encodable(value: str) -> str:
    # json turns a "\ud800" escape into a lone surrogate, which no database can store as UTF-8.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (it holds a lone surrogate)") from None
    return value


def _django_username(value: str) -> str:
    value = normalize_username(value)
    if len(value) > USERNAME_MAX:
        raise ValueError(f"must be at most {USERNAME_MAX} characters once NFKC-normalised")
    return value


UTCDateTime = Annotated[datetime, AfterValidator(_as_utc)]
Text = Annotated[str, AfterValidator(reject_nul), AfterValidator(_encodable)]


# SQLite does not enforce VARCHAR lengths, so they are checked here for both engines.
Text128 = Annotated[Text, Field(max_length=PASSWORD_HASH_MAX)]
Text150 = Annotated[Text, Field(max_length=PERSON_NAME_MAX)]
Text200 = Annotated[Text, Field(max_length=CONTEXT_NAME_MAX)]
Text220 = Annotated[Text, Field(max_length=SLUG_MAX)]
Text254 = Annotated[Text, Field(max_length=EMAIL_MAX)]


class _Fields(BaseModel):
    # Unknown fields are errors: silently dropping data is worse than refusing the file.
    model_config = ConfigDict(extra="forbid")


class UserFields(_Fields):
    password: Text128
    last_login: UTCDateTime | None = None
    is_superuser: bool = False
    # NFKC, as Django stores names: a look-alike of a loaded or existing name is that name.
    username: Annotated[
        Text, Field(min_length=1, max_length=USERNAME_MAX), AfterValidator(_django_username)
    ]
    first_name: Text150 = ""
    last_name: Text150 = ""
    email: Text254 = ""
    is_staff: bool = False
    is_active: bool = True
    date_joined: UTCDateTime | None = None
    groups: list[Any] = Field(default_factory=list)
    user_permissions: list[Any] = Field(default_factory=list)

    @field_validator("groups", "user_permissions")
    @classmethod
    def _must_be_empty(cls, value: list[Any]) -> list[Any]:
        if value:
            raise ValueError(
                f"{value!r} cannot be loaded: this project has no groups or permissions "
                "tables; empty the list in the fixture (or dump without them)"
            )
        return value


class ContextFields(_Fields):
    owner: Id
    name: Text200
    slug: Text220
    description: Text = ""
    visibility: Visibility = Visibility.PRIVATE
    # The API's rule: JSON itself (no NaN), no NUL, not too deep or large.
    metadata: Metadata = Field(default_factory=dict)
    created_at: UTCDateTime | None = None
    updated_at: UTCDateTime | None = None


class ContextMemberFields(_Fields):
    context: Id
    user: Id
    role: Role = Role.VIEWER
    created_at: UTCDateTime | None = None


class ContextEntryFields(_Fields):
    context: Id
    author: Id | None = None
    title: Text200
    body: Text = ""
    created_at: UTCDateTime | None = None
    updated_at: UTCDateTime | None = None


@dataclass(frozen=True)
class ModelSpec:
    model: type[Base]
    fields: type[_Fields]
    # Django field name -> our attribute, where they differ; Django FK fields hold the pk.
    renames: Mapping[str, str]
    # Accepted for Django compatibility, never stored.
    ignored: frozenset[str] = frozenset()


# In dependency order: objects are inserted in this order whatever order the files list them in,
# because our foreign keys are checked per statement (Django's are deferred to the commit).
MODELS: dict[str, ModelSpec] = {
    "auth.user": ModelSpec(User, UserFields, {}, ignored=frozenset({"groups", "user_permissions"})),
    "contexts.context": ModelSpec(
        Context, ContextFields, {"owner": "owner_id", "metadata": "metadata_"}
    ),
    "contexts.contextmember": ModelSpec(
        ContextMember, ContextMemberFields, {"context": "context_id", "user": "user_id"}
    ),
    "contexts.contextentry": ModelSpec(
        ContextEntry, ContextEntryFields, {"context": "context_id", "author": "author_id"}
    ),
}


def _table(spec: ModelSpec) -> Table:
    table = spec.model.__table__
    assert isinstance(table, Table)
    return table


@dataclass(frozen=True)
class Row:
    """One object of a fixture file, validated and mapped to our columns."""

    path: Path
    index: int
    label: str
    pk: int
    values: dict[str, Any]

    @property
    def where(self) -> str:
        return f"{self.path}: object at index {self.index} ({self.label} pk={self.pk})"

    @property
    def spec(self) -> ModelSpec:
        return MODELS[self.label]


async def load_files(
    session: AsyncSession, paths: Sequence[Path], *, unusable_weak_hashes: bool = False
) -> dict[str, int]:
    """Load every object of every file, or none; return how many objects of each model.

    Users whose password hash is weak are refused, or given an unusable password when
    ``unusable_weak_hashes`` (see backend.loaddata_passwords).

    The session is flushed, not committed: the caller decides. On any problem a LoadDataError
    is raised and everything this call wrote has been rolled back (to a savepoint, so the
    caller's own earlier work in the session survives).
    """
    rows = sorted(read_all(paths), key=lambda row: list(MODELS).index(row.label))
    _refuse_repeated_pks(rows)
    _handle_weak_hashes([row for row in rows if row.label == "auth.user"], unusable_weak_hashes)
    async with session.begin_nested():
        await _refuse_existing_pks(session, rows)
        await _refuse_emails_in_use([row for row in rows if row.label == "auth.user"], session)
        for row in rows:
            await _insert(session, row)
        await reset_sequences(await session.connection(), {row.label for row in rows})
    return dict(Counter(row.label for row in rows))


def read_all(paths: Iterable[Path]) -> list[Row]:
    return [row for path in paths for row in read_file(path)]


def read_file(path: Path) -> list[Row]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise LoadDataError(f"{path}: cannot read the file: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise LoadDataError(f"{path}: not UTF-8 text: {error}") from None
    except json.JSONDecodeError as error:
        raise LoadDataError(f"{path}: not valid JSON: {error}") from None
    except RecursionError:
        raise LoadDataError(f"{path}: nested too deeply to read as JSON") from None
    if not isinstance(document, list):
        raise LoadDataError(
            f"{path}: expected a JSON list of objects as Django's dumpdata writes, "
            f"found {_json_kind(document)}"
        )
    return [parse_object(path, index, item) for index, item in enumerate(document)]


def _json_kind(value: object) -> str:
    kinds = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    return "null" if value is None else kinds.get(type(value), "a number")


def parse_object(path: Path, index: int, item: object) -> Row:
    at = f"{path}: object at index {index}"
    if not isinstance(item, dict):
        raise LoadDataError(f"{at}: expected an object, found {_json_kind(item)}")
    missing = [key for key in ("model", "pk", "fields") if key not in item]
    if missing:
        raise LoadDataError(f"{at}: missing {', '.join(map(repr, missing))}")
    unexpected = sorted(set(item) - {"model", "pk", "fields"})
    if unexpected:
        raise LoadDataError(f"{at}: unexpected keys {', '.join(map(repr, unexpected))}")
    label, pk, fields = item["model"], item["pk"], item["fields"]
    if not isinstance(label, str):
        raise LoadDataError(f"{at}: 'model' must be a string like 'auth.user'")
    # bool is an int in Python, and natural keys are lists: both are refused here.
    if isinstance(pk, bool) or not isinstance(pk, int) or not 1 <= pk <= INT32_MAX:
        raise LoadDataError(
            f"{at} ({label}): 'pk' must be a positive integer up to {INT32_MAX}, not {pk!r}"
        )
    at = f"{at} ({label} pk={pk})"
    label = label.lower()
    if label not in MODELS:
        raise LoadDataError(f"{at}: unknown model; this project loads {', '.join(MODELS)}")
    if not isinstance(fields, dict):
        raise LoadDataError(f"{at}: 'fields' must be an object")
    return Row(path, index, label, pk, _columns(at, MODELS[label], fields))


def _columns(at: str, spec: ModelSpec, fields: dict[str, Any]) -> dict[str, Any]:
    try:
        validated = spec.fields.model_validate(fields)
    except ValidationError as error:
        raise LoadDataError(f"{at}: {_describe(error)}") from None
    # Fields the fixture leaves out get our column defaults, as Django fills in model defaults.
    given = validated.model_dump(exclude_unset=True, exclude=set(spec.ignored))
    return {spec.renames.get(name, name): value for name, value in given.items()}


def _describe(error: ValidationError) -> str:
    problems = []
    for detail in error.errors():
        field = ".".join(str(part) for part in detail["loc"]) or "fields"
        problems.append(f"field {field!r}: {detail['msg']}")
    return "; ".join(problems)


def _handle_weak_hashes(users: Sequence[Row], make_unusable: bool) -> None:
    refused = refused_hashes(row.values for row in users)
    if refused and not make_unusable:
        raise LoadDataError(describe_refusal(refused))
    weak = {name for names in refused.values() for name in names}
    for row in users:
        if row.values["username"] in weak:
            row.values["password"] = unusable_password()


def _refuse_repeated_pks(rows: Sequence[Row]) -> None:
    seen: dict[tuple[str, int], Row] = {}
    for row in rows:
        first = seen.setdefault((row.label, row.pk), row)
        if first is not row:
            raise LoadDataError(
                f"{row.where}: the same pk is already given at index {first.index} of {first.path}"
            )


async def _refuse_existing_pks(session: AsyncSession, rows: Sequence[Row]) -> None:
    for label, spec in MODELS.items():
        wanted = {row.pk: row for row in rows if row.label == label}
        id_column = _table(spec).c.id
        for chunk in _chunks(sorted(wanted), 500):
            taken = (await session.execute(select(id_column).where(id_column.in_(chunk)))).scalars()
            for pk in taken:
                raise LoadDataError(f"{wanted[pk].where}: pk {pk} is already in the database")


def _chunks(values: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    # Bounded IN lists: SQLite caps the number of parameters in one statement.
    return (values[start : start + size] for start in range(0, len(values), size))


async def _refuse_emails_in_use(users: Sequence[Row], session: AsyncSession) -> None:
    """Emails are unique whatever their case, in every script: checked here for both engines.

    The unique index on lower(email) is the net on PostgreSQL; SQLite's lower() folds ASCII only.
    """
    owners: dict[str, Row] = {}
    for row in users:
        email = row.values.get("email", "")
        if email:
            first = owners.setdefault(email_key(email), row)
            if first is not row:
                raise LoadDataError(
                    f"{row.where}: the email {email!r} is already given (ignoring case) at "
                    f"index {first.index} of {first.path}"
                )
    for chunk in _chunks(sorted(owners), 500):
        query = select(User.username, User.email).where(folded(User.email).in_(chunk))
        for username, email in await session.execute(query):
            row = owners[email_key(email)]
            raise LoadDataError(
                f"{row.where}: the email {row.values['email']!r} is already used (ignoring case) "
                f"by the user {username!r}"
            )


async def _insert(session: AsyncSession, row: Row) -> None:
    statement = insert(row.spec.model).values({"id": row.pk, **row.values})
    try:
        await session.execute(statement)
    except DBAPIError as error:
        problem = " ".join(str(error.orig).split())
        raise LoadDataError(f"{row.where}: the database refused it: {problem}") from None


async def _reset_postgresql_sequences(connection: AsyncConnection, tables: list[Table]) -> None:
    for table in tables:
        # Explicit pks do not advance the id sequence; without this, the next ordinary insert
        # would be given an id that a loaded row already has. GREATEST keeps the sequence from
        # moving backwards, so ids of rows deleted earlier are not handed out again.
        sequence = cast(func.pg_get_serial_sequence(table.name, "id"), REGCLASS)
        largest_id = select(func.max(table.c.id)).scalar_subquery()
        last_value = func.coalesce(func.pg_sequence_last_value(sequence), 0)
        await connection.execute(
            select(func.setval(sequence, func.greatest(largest_id, last_value)))
        )


async def _nothing_to_reset(_connection: AsyncConnection, _tables: list[Table]) -> None:
    """SQLite's AUTOINCREMENT counter moves past explicit ids by itself."""


SEQUENCE_RESETS: dict[str, Callable[[AsyncConnection, list[Table]], Awaitable[None]]] = {
    "postgresql": _reset_postgresql_sequences,
    "sqlite": _nothing_to_reset,
}


async def reset_sequences(connection: AsyncConnection, labels: set[str]) -> None:
    """Make each loaded table's id generator continue after the largest loaded id."""
    tables = [_table(spec) for label, spec in MODELS.items() if label in labels]
    if tables:
        await SEQUENCE_RESETS[connection.dialect.name](connection, tables)
