"""Alembic migrations on SQLite, PostgreSQL and MariaDB: the migrated schema is exactly tables.py."""

import datetime as dt

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from forecaster.store import Store
from forecaster.store.schema import alembic_config, revision
from forecaster.store.tables import metadata


def schema_diff(engine: sa.Engine) -> list:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)


def test_upgrade_creates_exactly_the_declared_schema_and_is_repeatable(store_url):
    store = Store(store_url).create()
    try:
        assert schema_diff(store.engine) == []
        head = revision(store.engine)
        store.create()
        assert revision(store.engine) == head and schema_diff(store.engine) == []
    finally:
        store.close()


def test_a_database_from_before_migrations_is_adopted_and_upgraded(store_url):
    """Tables made by the old create_all (the baseline, no alembic_version) are stamped, then migrated."""
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        command.upgrade(alembic_config(conn), "0001")
        conn.execute(sa.text("DROP TABLE alembic_version"))
        conn.commit()
    engine.dispose()
    store = Store(store_url).create()
    try:
        assert schema_diff(store.engine) == []
        assert store.leases.acquire("scheduler", "a", 30, dt.datetime.now(dt.timezone.utc))
    finally:
        store.close()


def test_the_lease_has_one_holder_until_it_expires(store_url):
    store = Store(store_url).create()
    now = dt.datetime(2026, 1, 1, 12, tzinfo=dt.timezone.utc)
    later = now + dt.timedelta(seconds=20)
    try:
        assert store.leases.acquire("scheduler", "a", 15, now)
        assert not store.leases.acquire("scheduler", "b", 15, now + dt.timedelta(seconds=5))
        assert store.leases.acquire("scheduler", "a", 15, now + dt.timedelta(seconds=5)), "the holder renews"
        assert store.leases.holder("scheduler", later) == "a"
        assert store.leases.acquire("scheduler", "b", 15, now + dt.timedelta(seconds=21)), "taken over after expiry"
        assert not store.leases.acquire("scheduler", "a", 15, now + dt.timedelta(seconds=22))
        tick = dt.datetime(2026, 1, 1, 6, tzinfo=dt.timezone.utc)
        assert store.ticks.claim("daily", tick, "b", later) and not store.ticks.claim("daily", tick, "b", later)
        assert store.ticks.claim("daily", tick, "c", later), "an unfinished tick of a dead holder is taken over"
        store.ticks.finish("daily", tick, "run-1", later)
        assert not store.ticks.claim("daily", tick, "d", later) and store.ticks.is_finished("daily", tick)
    finally:
        store.close()
