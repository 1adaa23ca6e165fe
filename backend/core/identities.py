"""What makes two usernames, or two emails, the same account's: the rules every path applies.

Usernames are compared as Django stores them: NFKC-normalised (``AbstractBaseUser.normalize_username``
and the login form's ``UsernameField``), so look-alikes such as ``ｒｏｏｔ``, ``ʳᵒᵒᵗ`` or ``ﬁona`` are
the names ``root`` and ``fiona``, while case still tells accounts apart (``Fiona`` is not ``fiona``),
as in Django. Emails are unique whatever their case, in every script, on both engines.
"""

# ruff: noqa: RUF002 - look-alike letters are this module's subject

from __future__ import annotations

import unicodedata

from backend.core.search import search_lower


def normalize_username(username: str) -> str:
    """The username Django would store or look up for what was typed."""
    return unicodedata.normalize("NFKC", username)


def email_key(email: str) -> str:
    """What two emails must share to belong to one account: each character's lowercase.

    The same folding as PostgreSQL's ``lower()`` under a UTF-8 locale (which the unique index on
    ``lower(email)`` uses there), so the check before a write and the index agree on both engines.
    """
    folded = search_lower(email)
    assert folded is not None
    return folded
