"""A per-user token generation, and login attempts kept in the database.

``auth_user.token_generation`` is a random value every token carries; it changes when the
password, the active flag or a privilege changes, which ends the user's older tokens. Existing
users get a random value each (their tokens from before this revision, which carry none, end).
``login_attempts`` holds recent login attempts so the throttle holds across restarts and workers.

Revision ID: 8e5b2a9d4f17
Revises: 4c1d8e2f7a60
Create Date: 2026-11-27 14:40:00+00:00
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa

from alembic import op

revision: str = "8e5b2a9d4f17"
down_revision: str | Sequence[str] | None = "4c1d8e2f7a60"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EMAIL_INDEX = "uq_auth_user_email_lower"
# Batch mode rebuilds SQLite tables from reflection, which does not see AUTOINCREMENT.
KEEP_AUTOINCREMENT = {"sqlite_autoincrement": True}
# 32 hex characters of randomness per row, in each engine's own SQL (also renders offline).
RANDOM_GENERATION = {
    "sqlite": "lower(hex(randomblob(16)))",
    "postgresql": "md5(random()::text || clock_timestamp()::text || id::text)",
}


def upgrade() -> None:
    op.add_column("auth_user", sa.Column("token_generation", sa.String(length=32), nullable=True))
    dialect = op.get_context().dialect.name
    op.execute(f"UPDATE auth_user SET token_generation = {RANDOM_GENERATION[dialect]}")  # noqa: S608 - a constant
    with (
        rebuilding_auth_user(dialect),
        op.batch_alter_table("auth_user", table_kwargs=KEEP_AUTOINCREMENT) as batch_op,
    ):
        batch_op.alter_column(
            "token_generation", existing_type=sa.String(length=32), nullable=False
        )
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
