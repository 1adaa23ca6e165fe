"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}

revision: str = ${repr(up_revision)}
down_revision: str | Sequence[str] | None = ${repr(down_revision)}
branch_labels: str | Sequence[str] | None = ${repr(branch_labels)}
depends_on: str | Sequence[str] | None = ${repr(depends_on)}

# Production runs this against a live PostgreSQL whose tables hold rows. `nox -s migrations`
# traces what each statement locks, rewrites and scans there, lints it with squawk, and fails
# on a lock that blocks writers for longer than a catalog change. The safe patterns
# (docs/migrations.md, "Safe on a live PostgreSQL"):
# - an index: CONCURRENTLY, outside the revision's transaction, dropping a failed build first:
#       with op.get_context().autocommit_block():
#           op.drop_index("ix_t_c", table_name="t", if_exists=True, postgresql_concurrently=True)
#           op.create_index("ix_t_c", "t", ["c"], postgresql_concurrently=True)
# - a foreign key or check: op.create_foreign_key(..., postgresql_not_valid=True), then
#   op.execute("ALTER TABLE t VALIDATE CONSTRAINT name") in an autocommit block;
# - a required column: add it nullable, back-fill in batches inside an autocommit block, add
#   CHECK (c IS NOT NULL) NOT VALID, validate it, then alter_column(nullable=False);
# - never a type change in place (it rewrites the table): a new column, back-filled.
# What must be dangerous anyway is declared here, with the reason it is acceptable; the check
# prints it (rule names: the trace's and squawk's, as its failure message gives them):
# dangerous_operations = [
#     {"table": "t", "rules": ["scan-under-lock"], "reason": "t holds a few rows everywhere"},
# ]


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
