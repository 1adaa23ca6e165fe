"""A per-user token generation, and login attempts kept in the database.

``auth_user.token_generation`` is a random value every token carries; it changes when the
password, the active flag or a privilege changes, which ends the user's older tokens. Existing
users get a random value each (their tokens from before this revision, which carry none, end).
``login_attempts`` holds recent login attempts so the throttle holds across restarts and workers.

On PostgreSQL the column is added without blocking auth_user for the back-fill (rewritten so in
issue 22; the schema and data it produces are unchanged): see ``add_generations_online``.

Revision ID: 8e5b2a9d4f17
Revises: 4c1d8e2f7a60
Create Date: 2026-11-27 14:40:00+00:00
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa

from alembic import context, op

revision: str = "8e5b2a9d4f17"
down_revision: str | Sequence[str] | None = "4c1d8e2f7a60"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# squawk's rules against dropping what clients may rely on, declared: what is dropped is this
# revision's own scaffolding (`nox -s migrations` prints this and fails on anything undeclared).
dangerous_operations = [
    {
        "table": "auth_user",
        "rules": ["ban-drop-constraint", "ban-drop-default"],
        "reason": (
            "the check and the default it drops are its own scaffolding for the online back-fill, "
            "added a few statements earlier; auth_user ends as the model declares it (the app "
            "gives every new user a token_generation itself)"
        ),
    },
]

EMAIL_INDEX = "uq_auth_user_email_lower"
# Batch mode rebuilds SQLite tables from reflection, which does not see AUTOINCREMENT.
KEEP_AUTOINCREMENT = {"sqlite_autoincrement": True}
# 32 hex characters of randomness per row, in each engine's own SQL (also renders offline).
RANDOM_GENERATION = {
    "sqlite": "lower(hex(randomblob(16)))",
    "postgresql": "md5(random()::text || clock_timestamp()::text || id::text)",
}
# PostgreSQL: a default cannot name a column, so the running app's new users get this one.
PG_RANDOM = "md5(random()::text || clock_timestamp()::text)"
FILLED_CHECK = "ck_auth_user_token_generation_filled"
BATCH_SIZE = 1000
# One batch of users by id (an index range, never a scan of the table), and its filling.
BATCH_UPPER = f"""
SELECT max(id) FROM (
    SELECT id FROM auth_user WHERE id > :after ORDER BY id LIMIT {BATCH_SIZE}
) AS batch
"""  # noqa: S608 - constants
BATCH_FILL = f"""
UPDATE auth_user SET token_generation = {RANDOM_GENERATION["postgresql"]}
WHERE id > :after AND id <= :upper AND token_generation IS NULL
"""  # noqa: S608 - constants
# Offline (`alembic upgrade --sql`, run by hand with psql) the same batches, as one DO block that
# commits after each (allowed there: the block runs outside a transaction).
OFFLINE_FILL = f"""
DO $$
DECLARE
    after integer := (SELECT min(id) - 1 FROM auth_user);
    upper integer;
BEGIN
    WHILE after IS NOT NULL LOOP
        SELECT max(id) INTO upper FROM (
            SELECT id FROM auth_user WHERE id > after ORDER BY id LIMIT {BATCH_SIZE}
        ) AS batch;
        EXIT WHEN upper IS NULL;
        UPDATE auth_user SET token_generation = {RANDOM_GENERATION["postgresql"]}
        WHERE id > after AND id <= upper AND token_generation IS NULL;
        COMMIT;
        after := upper;
    END LOOP;
END
$$
"""  # noqa: S608 - constants


def upgrade() -> None:
    dialect = op.get_context().dialect.name
    if dialect == "postgresql":
        add_generations_online()
    else:
        add_generations(dialect)
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username_key", sa.String(length=64), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempts")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_login_attempts_username_key_attempted_at"),
        "login_attempts",
        ["username_key", "attempted_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_login_attempts_attempted_at"), "login_attempts", ["attempted_at"], unique=False
    )


def add_generations(dialect: str) -> None:
    """SQLite: one transaction, and a batch rebuild to make the column required."""
    op.add_column("auth_user", sa.Column("token_generation", sa.String(length=32), nullable=True))
    op.execute(f"UPDATE auth_user SET token_generation = {RANDOM_GENERATION[dialect]}")  # noqa: S608 - a constant
    with (
        rebuilding_auth_user(dialect),
        op.batch_alter_table("auth_user", table_kwargs=KEEP_AUTOINCREMENT) as batch_op,
    ):
        batch_op.alter_column(
            "token_generation", existing_type=sa.String(length=32), nullable=False
        )


def add_generations_online() -> None:
    """PostgreSQL: auth_user may hold millions of adopted Django users and every request reads it,
    so no lock that blocks it is held for longer than a catalog change.

    The column comes nullable, with a temporary random default for users the running app creates
    meanwhile; existing users are filled in batches that commit one by one; a NOT VALID check is
    validated without blocking writes, and lets SET NOT NULL skip its scan; then the check and the
    default go. Each step can be run again after a failure part-way.
    """
    column = sa.Column("token_generation", sa.String(length=32), nullable=True)
    op.add_column("auth_user", column, if_not_exists=True)
    op.alter_column("auth_user", "token_generation", server_default=sa.text(PG_RANDOM))
    with op.get_context().autocommit_block():
        fill_generations_in_batches()
    op.drop_constraint(op.f(FILLED_CHECK), "auth_user", type_="check", if_exists=True)
    op.create_check_constraint(
        op.f(FILLED_CHECK), "auth_user", "token_generation IS NOT NULL", postgresql_not_valid=True
    )
    commit()
    op.execute(f"ALTER TABLE auth_user VALIDATE CONSTRAINT {FILLED_CHECK}")
    commit()
    op.alter_column("auth_user", "token_generation", nullable=False, server_default=None)
    op.drop_constraint(op.f(FILLED_CHECK), "auth_user", type_="check")


def commit() -> None:
    """End the revision's transaction here, and with it its locks; the next statement begins another."""
    with op.get_context().autocommit_block():
        pass


def fill_generations_in_batches() -> None:
    if context.is_offline_mode():
        op.execute(OFFLINE_FILL)
        return
    connection = op.get_bind()
    after = connection.execute(sa.text("SELECT min(id) - 1 FROM auth_user")).scalar()
    while after is not None:
        upper = connection.execute(sa.text(BATCH_UPPER), {"after": after}).scalar()
        if upper is None:
            break
        connection.execute(sa.text(BATCH_FILL), {"after": after, "upper": upper})
        after = upper


def downgrade() -> None:
    op.drop_index(op.f("ix_login_attempts_attempted_at"), table_name="login_attempts")
    op.drop_index(op.f("ix_login_attempts_username_key_attempted_at"), table_name="login_attempts")
    op.drop_table("login_attempts")
    dialect = op.get_context().dialect.name
    with (
        rebuilding_auth_user(dialect),
        op.batch_alter_table("auth_user", table_kwargs=KEEP_AUTOINCREMENT) as batch_op,
    ):
        batch_op.drop_column("token_generation")


@contextmanager
def rebuilding_auth_user(dialect: str) -> Iterator[None]:
    """SQLite's batch rebuild cannot carry the lower(email) expression index: drop, then remake."""
    if dialect != "sqlite":
        yield
        return
    op.drop_index(EMAIL_INDEX, table_name="auth_user")
    yield
    op.create_index(
        EMAIL_INDEX,
        "auth_user",
        [sa.literal_column("lower(email)")],
        unique=True,
        sqlite_where=sa.text("email <> ''"),
    )
