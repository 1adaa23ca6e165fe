"""Give every context a slug, unique per owner, back-filled from existing names.

A data migration: existing rows get slugs derived from their names (with -2, -3… where an owner
has two contexts that slugify alike) before the column becomes required and unique.

Revision ID: 9d4c7f3e8a13
Revises: 5b7e41a0c2d2
Create Date: 2026-11-25 08:20:00+00:00
"""

import re
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import context, op

revision: str = "9d4c7f3e8a13"
down_revision: str | Sequence[str] | None = "5b7e41a0c2d2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Dangerous on PostgreSQL, on purpose: the back-fill runs under the ACCESS EXCLUSIVE lock of the
# ADD COLUMN, then SET NOT NULL and the unique constraint scan the table under their locks.
# `nox -s migrations` prints this declaration and fails on anything dangerous it does not name.
dangerous_operations = [
    {
        "table": "contexts",
        "rules": [
            "work-under-lock",
            "scan-under-lock",
            "backfill-in-one-transaction",
            "adding-not-nullable-field",
            "constraint-missing-not-valid",
            "disallowed-unique-constraint",
        ],
        "reason": (
            "contexts is created by 5b7e41a0c2d2, two revisions earlier in the same first release "
            "(both came with the skeleton), so every database that reaches this revision holds no "
            "contexts or a handful (a Django database being adopted has no contexts table); the "
            "locks last milliseconds there, and a back-fill in committed batches would give up "
            "its all-or-nothing slugs for no deployment"
        ),
    },
]

# A stub of the table as it is at this revision; the live models change later.
contexts = sa.table(
    "contexts",
    sa.column("id", sa.Integer),
    sa.column("owner_id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("slug", sa.String),
)


def slugify(name: str) -> str:
    """This revision's own copy of the slug rule, frozen with it."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:200] or "context"


# Offline (`alembic upgrade --sql`, for review by a DBA) there are no rows to read, so the
# back-fill is rendered as one PostgreSQL statement. It differs from slugify() in one way:
# non-ASCII letters become separators instead of being folded to ASCII (Ü -> "-", not "u").
OFFLINE_BACKFILL = """
UPDATE contexts SET slug = numbered.base
    || CASE WHEN numbered.n > 1 THEN '-' || numbered.n ELSE '' END
FROM (
    SELECT id, base, row_number() OVER (PARTITION BY owner_id, base ORDER BY id) AS n
    FROM (
        SELECT id, owner_id, coalesce(nullif(left(trim(both '-' from
            regexp_replace(lower(name), '[^a-z0-9]+', '-', 'g')), 200), ''), 'context') AS base
        FROM contexts
    ) AS based
) AS numbered
WHERE contexts.id = numbered.id
"""


def upgrade() -> None:
    op.add_column("contexts", sa.Column("slug", sa.String(length=220), nullable=True))
    if context.is_offline_mode():
        op.execute(OFFLINE_BACKFILL)
    else:
        backfill_slugs()
    with op.batch_alter_table("contexts") as batch_op:
        batch_op.alter_column("slug", existing_type=sa.String(length=220), nullable=False)
        batch_op.create_unique_constraint(
            batch_op.f("uq_contexts_owner_id_slug"), ["owner_id", "slug"]
        )


def backfill_slugs() -> None:
    connection = op.get_bind()
    taken: set[tuple[int, str]] = set()
    rows = connection.execute(
        sa.select(contexts.c.id, contexts.c.owner_id, contexts.c.name).order_by(contexts.c.id)
    )
    for context_id, owner_id, name in rows.all():
        base = slugify(name)
        slug, suffix = base, 1
        while (owner_id, slug) in taken:
            suffix += 1
            slug = f"{base}-{suffix}"
        taken.add((owner_id, slug))
        connection.execute(contexts.update().where(contexts.c.id == context_id).values(slug=slug))


def downgrade() -> None:
    with op.batch_alter_table("contexts") as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_contexts_owner_id_slug"), type_="unique")
        batch_op.drop_column("slug")
