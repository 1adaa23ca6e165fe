"""Usernames as Django stores them (NFKC); accounts that collide under NFKC are reported, not merged.

A data migration. From this revision on, every path that creates an account or logs in normalises
the username with NFKC, as Django does, so ``ｒｏｏｔ`` is the name ``root``. Existing names:

- a name whose NFKC form no other account has is rewritten to that form (its owner types it as
  before: logins normalise what is typed);
- names that share an NFKC form (``root`` and ``ｒｏｏｔ``) are left exactly as they are and
  reported: a login now reaches only the one already in NFKC form (none, if none is), and which
  account keeps the name is a human call (delete or rename the others);
- emails equal ignoring case in any script (``ÖSTEN@…`` and ``östen@…``, which SQLite's ASCII-only
  ``lower()`` let through its unique index) are reported too; the API refuses new ones.

The report goes to the ``alembic.runtime.migration`` logger as a warning (stderr under ``backend
migrate``). Offline (``--sql``) scripts cannot compute NFKC, so they change nothing here.

The downgrade changes nothing: normalised names are valid under the previous revision too, and the
original spellings of rewritten names are in the upgrade's report.

Revision ID: c7bb3ba2903c
Revises: 8e5b2a9d4f17
Create Date: 2026-11-28 09:00:00+00:00
"""

# ruff: noqa: RUF002 - look-alike letters are this revision's subject

import logging
import unicodedata
from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import context, op

revision: str = "c7bb3ba2903c"
down_revision: str | Sequence[str] | None = "8e5b2a9d4f17"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

logger = logging.getLogger("alembic.runtime.migration")

USERNAME_MAX = 150
# A stub of the table as it is at this revision; the live models change later.
auth_user = sa.table(
    "auth_user",
    sa.column("id", sa.Integer),
    sa.column("username", sa.String),
    sa.column("email", sa.String),
)
Account = tuple[int, str]


def email_key(email: str) -> str:
    """This revision's copy of the email folding (each character's lowercase, as PostgreSQL's)."""
    return "".join("i" if char == "\u0130" else char.lower() for char in email)


def upgrade() -> None:
    if context.is_offline_mode():
        return
    bind = op.get_bind()
    users = bind.execute(sa.select(auth_user.c.id, auth_user.c.username, auth_user.c.email)).all()
    names: defaultdict[str, list[Account]] = defaultdict(list)
    emails: defaultdict[str, list[Account]] = defaultdict(list)
    for user_id, username, email in users:
        names[unicodedata.normalize("NFKC", username)].append((user_id, username))
        if email:
            emails[email_key(email)].append((user_id, email))
    renamed, too_long = rewrite_unique_names(bind, names)
    report(renamed, too_long, names, emails)


def rewrite_unique_names(
    bind: sa.Connection, names: dict[str, list[Account]]
) -> tuple[list[str], list[str]]:
    renamed, too_long = [], []
    for normal, accounts in sorted(names.items()):
        if len(accounts) != 1 or accounts[0][1] == normal:
            continue
        user_id, username = accounts[0]
        if len(normal) > USERNAME_MAX:
            too_long.append(f"{username!r} (id {user_id})")
            continue
        bind.execute(sa.update(auth_user).where(auth_user.c.id == user_id).values(username=normal))
        renamed.append(f"{username!r} -> {normal!r} (id {user_id})")
    return renamed, too_long


def _groups(collisions: dict[str, list[Account]]) -> str:
    return "; ".join(
        ", ".join(f"{value!r} (id {user_id})" for user_id, value in sorted(accounts))
        for _key, accounts in sorted(collisions.items())
        if len(accounts) > 1
    )


def report(
    renamed: list[str],
    too_long: list[str],
    names: dict[str, list[Account]],
    emails: dict[str, list[Account]],
) -> None:
    if renamed:
        logger.warning("usernames rewritten to their NFKC form: %s", "; ".join(renamed))
    if too_long:
        logger.warning(
            "usernames left as they are, their NFKC form being longer than %d characters (they "
            "cannot log in until renamed): %s",
            USERNAME_MAX,
            "; ".join(too_long),
        )
    if clashing_names := _groups(names):
        logger.warning(
            "accounts whose usernames are the same under NFKC, left as they are (nothing merged): "
            "%s. A login reaches only the one whose name is already in NFKC form; delete or "
            "rename the others",
            clashing_names,
        )
    if clashing_emails := _groups(emails):
        logger.warning(
            "accounts whose emails are the same ignoring case, left as they are: %s. Give each "
            "address one owner",
            clashing_emails,
        )


def downgrade() -> None:
    """Nothing to undo: normalised names are valid before this revision too (see the report)."""
