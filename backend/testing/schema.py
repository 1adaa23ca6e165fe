"""Building the test schema with the Alembic migrations, and the key that caches it."""

from __future__ import annotations

import asyncio
import hashlib
from importlib.metadata import version

from backend.db import create_engine
from backend.migrations import current_revision, migration_files, upgrade_connection


def schema_key() -> str:
    """A hash of everything the migrated schema depends on: the migration files and the tools."""
    digest = hashlib.sha256()
    for package in ("alembic", "sqlalchemy"):
        digest.update(f"{package}=={version(package)}\n".encode())
    for path in migration_files():
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def migrate(url: str) -> str:
    """Upgrade the database at ``url`` to head; return the revision it ends at."""
    return asyncio.run(_migrate(url))


async def _migrate(url: str) -> str:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(upgrade_connection)
            await connection.commit()
            revision = await connection.run_sync(current_revision)
    finally:
        await engine.dispose()
    return revision or "base"
