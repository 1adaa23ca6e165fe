"""Make email addresses unique regardless of case (users without an email are exempt).

Before the index is built, existing users are checked: emails that collide when lower-cased stop
the migration with a list of them, since choosing which account keeps the address is a human call.
The index is built CONCURRENTLY (rewritten so in issue 22; the schema it produces is unchanged).

Revision ID: e71f0a9b3c35
Revises: c2e8b5d61f24
Create Date: 2026-11-25 08:40:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import context, op

revision: str = "e71f0a9b3c35"
down_revision: str | Sequence[str] | None = "c2e8b5d61f24"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX_NAME = "uq_auth_user_email_lower"


def upgrade() -> None:
    if not context.is_offline_mode():
        refuse_emails_that_clash()
    # An adopted Django auth_user can be large and every login writes to it (hash upgrades):
    # the index is built CONCURRENTLY, outside a transaction, so writes go on during the build.
    # A build that failed (a clash written meanwhile) leaves an invalid index of this name: the
    # next run drops it first.
    with op.get_context().autocommit_block():
        op.drop_index(
            INDEX_NAME, table_name="auth_user", if_exists=True, postgresql_concurrently=True
        )
        op.create_index(
            INDEX_NAME,
            "auth_user",
            [sa.literal_column("lower(email)")],
            unique=True,
            postgresql_where=sa.text("email <> ''"),
            sqlite_where=sa.text("email <> ''"),
            postgresql_concurrently=True,
        )


def refuse_emails_that_clash() -> None:
    duplicates = op.get_bind().execute(
        sa.text(
            "SELECT lower(email), count(*) FROM auth_user WHERE email <> '' "
            "GROUP BY lower(email) HAVING count(*) > 1"
        )
    )
    clashes = [email for email, _count in duplicates]
    if clashes:
        raise RuntimeError(
            "these emails belong to several users when case is ignored; give each one owner "
            f"before upgrading: {', '.join(sorted(clashes))}"
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index(INDEX_NAME, table_name="auth_user", postgresql_concurrently=True)
