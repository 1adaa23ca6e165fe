"""Every revision upgrades, downgrades and upgrades again to the same schema, on this run's engine."""

from __future__ import annotations

from pytest_dbharness.migration_checks import (
    MigrationDriver,
    describe,
    revisions_base_to_head,
    schema_differences,
)


async def test_upgrade_from_empty_to_head(empty_database_url: str) -> None:
    async with MigrationDriver(empty_database_url) as db:
        failure = await db.attempt("upgrade from empty to head", db.upgrade("head"))
        assert failure is None, failure
        head = revisions_base_to_head()[-1].revision
        assert await db.current() == head, f"[{db.engine_name}] upgrade stopped before head"


async def test_each_revision_round_trips_to_the_same_schema(empty_database_url: str) -> None:
    async with MigrationDriver(empty_database_url) as db:
        problems: list[str] = []
        for script in revisions_base_to_head():
            where = f"[{db.engine_name}] revision {describe(script.revision)}"
            before = await db.schema()
            failure = await db.attempt("upgrade", db.upgrade(script.revision))
            if failure:
                problems.append(failure)
                break
            upgraded = await db.schema()
            failure = await db.attempt("downgrade", db.downgrade("-1"))
            if failure:
                problems.append(failure)
                break
            problems += [
                f"{where}: its downgrade did not restore the schema before it: {line}"
                for line in schema_differences(before, await db.schema())
            ]
            failure = await db.attempt(
                "upgrade after its own downgrade", db.upgrade(script.revision)
            )
            if failure:
                problems.append(f"{failure} (does the downgrade leave something behind?)")
                break
            problems += [
                f"{where}: upgrade, downgrade, upgrade changed the schema: {line}"
                for line in schema_differences(upgraded, await db.schema())
            ]
        assert not problems, "\n".join(problems)


async def test_downgrade_to_base_leaves_only_alembics_table(empty_database_url: str) -> None:
    async with MigrationDriver(empty_database_url) as db:
        failure = await db.attempt("upgrade from empty to head", db.upgrade("head"))
        assert failure is None, failure
        failure = await db.attempt("downgrade to base", db.downgrade("base"))
        assert failure is None, f"{failure} (does a later revision's downgrade leave something?)"
        schema = await db.schema()
        leftovers = set(schema["tables"])
        leftovers |= {f"enum type {name}" for name in schema.get("enum types", [])}
        leftovers |= {f"sequence {name}" for name in schema.get("sequences", [])}
        assert not leftovers, f"[{db.engine_name}] downgrade to base left: {sorted(leftovers)}"


async def test_models_match_the_migrations(empty_database_url: str) -> None:
    async with MigrationDriver(empty_database_url) as db:
        failure = await db.attempt("upgrade from empty to head", db.upgrade("head"))
        assert failure is None, failure
        differences, operations = await db.model_differences()
        assert not differences, (
            f"[{db.engine_name}] the models differ from the schema the migrations build at head "
            f"{describe(revisions_base_to_head()[-1].revision)}. A new revision would need:\n"
            f"{operations}"
        )
