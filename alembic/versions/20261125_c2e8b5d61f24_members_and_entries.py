"""Context members (viewer or editor) and context entries.

Revision ID: c2e8b5d61f24
Revises: 9d4c7f3e8a13
Create Date: 2026-11-25 08:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "c2e8b5d61f24"
down_revision: str | Sequence[str] | None = "9d4c7f3e8a13"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "context_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("context_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "viewer",
                "editor",
                name="role",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["context_id"],
            ["contexts.id"],
            name=op.f("fk_context_members_context_id_contexts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_user.id"],
            name=op.f("fk_context_members_user_id_auth_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_context_members")),
        sa.UniqueConstraint(
            "context_id", "user_id", name=op.f("uq_context_members_context_id_user_id")
        ),
    )
    op.create_index(
        op.f("ix_context_members_user_id"), "context_members", ["user_id"], unique=False
    )
    op.create_table(
        "context_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("context_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["auth_user.id"],
            name=op.f("fk_context_entries_author_id_auth_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["context_id"],
            ["contexts.id"],
            name=op.f("fk_context_entries_context_id_contexts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_context_entries")),
    )
    op.create_index(
        op.f("ix_context_entries_author_id"), "context_entries", ["author_id"], unique=False
    )
    op.create_index(
        op.f("ix_context_entries_context_id"), "context_entries", ["context_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_context_entries_context_id"), table_name="context_entries")
    op.drop_index(op.f("ix_context_entries_author_id"), table_name="context_entries")
    op.drop_table("context_entries")
    op.drop_index(op.f("ix_context_members_user_id"), table_name="context_members")
    op.drop_table("context_members")
