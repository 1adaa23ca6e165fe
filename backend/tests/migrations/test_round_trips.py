"""Every revision upgrades, downgrades and upgrades again to the same schema, on this run's engine."""

from __future__ import annotations

from backend.testing.migration_checks import (
    MigrationDriver,
    describe,
    revisions_base_to_head,
    schema_differences,
)


async def test_upgrade_from_empty_to_head(empty_database_url: str) -> None:
    async with MigrationDriver(empty_database_url) as db:
        await db.upgrade("head")
        head = revisions_base_to_head()[-1].revision
        assert await db.current() == head, f"[{db.engine_name}] upgrade stopped before head"


async def test_each_revision_round_trips_to_the_same_schema(empty_database_url: str) -> None:
    async with MigrationDriver(empty_database_url) as db:
        problems: list[str] = []
        for script in revisions_base_to_head():
            before = await db.schema()
            await db.upgrade(script.revision)
            upgraded = await db.schema()
            await db.downgrade("-1")
            downgraded = await db.schema()
            await db.upgrade(script.revision)
            again = await db.schema()
            where = f"[{db.engine_name}] revision {describe(script.revision)}"
            problems += [
                f"{where}: its downgrade did not restore the schema before it: {line}"
                for line in schema_differences(before, downgraded)
            ]
            problems += [
                f"{where}: upgrade, downgrade, upgrade changed the schema: {line}"
                for line in schema_differences(upgraded, again)
            ]
        assert not problems, "\n".join(problems)


async def test_downgrade_to_base_leaves_only_alembics_table(empty_database_url: str) -> None:
    async with MigrationDriver(empty_database_url) as db:
        await db.upgrade("head")
        await db.downgrade("base")
        schema = await db.schema()
        leftovers = set(schema["tables"])
        leftovers |= {f"enum type {name}" for name in schema.get("enum types", [])}
        leftovers |= {f"sequence {name}" for name in schema.get("sequences", [])}
        assert not leftovers, f"[{db.engine_name}] downgrade to base left: {sorted(leftovers)}"


async def test_models_match_the_migrations(empty_database_url: str) -> None:
    async with MigrationDriver(empty_database_url) as db:
        await db.upgrade("head")
        differences, operations = await db.model_differences()
        assert not differences, (
            f"[{db.engine_name}] the models differ from the schema the migrations build at head "
            f"{describe(revisions_base_to_head()[-1].revision)}. A new revision would need:\n"
            f"{operations}"
        )
