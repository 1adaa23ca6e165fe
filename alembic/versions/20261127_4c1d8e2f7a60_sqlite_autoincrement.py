"""Never reuse a primary key on SQLite: every table's integer id becomes AUTOINCREMENT.

Without it SQLite hands a deleted row's id (the highest one) to the next insert, so a deleted
user's token named the next user created. PostgreSQL's sequences never go back; there this
revision does nothing. SQLite cannot alter a primary key in place, so each table is rebuilt
(batch mode), and the rebuild loses the expression index on lower(email), which is made again.

Revision ID: 4c1d8e2f7a60
Revises: e71f0a9b3c35
Create Date: 2026-11-27 14:20:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "4c1d8e2f7a60"
down_revision: str | Sequence[str] | None = "e71f0a9b3c35"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Parents before children, so each rebuilt child refers to an already rebuilt parent.
TABLES = ("auth_user", "contexts", "context_members", "context_entries")
EMAIL_INDEX = "uq_auth_user_email_lower"


def upgrade() -> None:
    rebuild(autoincrement=True)


def downgrade() -> None:
    rebuild(autoincrement=False)


def rebuild(*, autoincrement: bool) -> None:
    if op.get_context().dialect.name != "sqlite":
        return
    op.drop_index(EMAIL_INDEX, table_name="auth_user")
    for table in TABLES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass
    op.create_index(
        EMAIL_INDEX,
        "auth_user",
        [sa.literal_column("lower(email)")],
        unique=True,
        sqlite_where=sa.text("email <> ''"),
    )
