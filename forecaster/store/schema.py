"""Alembic migrations to head, on every supported database, with one migrator at a time."""

from __future__ import annotations

from pathlib import Path

import logging

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext

MIGRATIONS = Path(__file__).parent / "migrations"
BASELINE = "0001"
_LOCK = 72_706_001
log = logging.getLogger(__name__)


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """An Alembic config for the bundled migrations, bound to ``connection`` when given."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: sa.Engine) -> None:
    """Migrate the database to head.

    A database created before migrations existed (tables but no ``alembic_version``) is stamped
    with the baseline revision first. Concurrent starts serialize on a database lock
    (PostgreSQL advisory lock, MySQL/MariaDB named lock).
    """
    with engine.connect() as conn:
        _serialize(conn, acquire=True)
        try:
            config = alembic_config(conn)
            tables = set(sa.inspect(conn).get_table_names())
            if "alembic_version" not in tables and "runs" in tables:
                command.stamp(config, BASELINE)
            before = MigrationContext.configure(conn).get_current_revision()
            command.upgrade(config, "head")
            conn.commit()
            after = MigrationContext.configure(conn).get_current_revision()
            if after != before:
                log.info("database migrated from revision %s to %s", before, after)
        finally:
            _serialize(conn, acquire=False)


def _serialize(conn: sa.Connection, acquire: bool) -> None:
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.execute(sa.text(f"SELECT pg_advisory_{'lock' if acquire else 'unlock'}(:key)"), {"key": _LOCK})
    elif dialect in ("mysql", "mariadb"):
        conn.execute(sa.text("SELECT GET_LOCK('salescast_migrations', 300)" if acquire else "SELECT RELEASE_LOCK('salescast_migrations')"))
    conn.commit()


def revision(engine: sa.Engine) -> str | None:
    """The database's current revision (None before the first migration)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
