"""The engine's database: the only code that writes SQL. SQLite, PostgreSQL and MySQL/MariaDB."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from forecaster.errors import StoreError


def utc_naive(moment: dt.datetime) -> dt.datetime:
    """How an aware time is stored: naive UTC."""
    return moment.astimezone(dt.timezone.utc).replace(tzinfo=None)


def utc_aware(stored: dt.datetime | None) -> dt.datetime | None:
    """A stored naive-UTC time, made aware again."""
    return stored.replace(tzinfo=dt.timezone.utc) if stored is not None else None


class Store:
    """Connection to the engine's database, with one repository per concern."""

    def __init__(self, url: str):
        from forecaster.settings import hide_password

        self.url = url
        self.where = hide_password(url)
        database = sa.engine.make_url(url).database if url.startswith("sqlite") else None
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.engine = sa.create_engine(url, future=True)
        except (SQLAlchemyError, ImportError) as exc:
            raise StoreError(f"store: cannot use database URL {self.where}: {exc}") from None
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)

        from forecaster.store.forecasts import ForecastRepository
        from forecaster.store.incidents import SqlIncidentStore, MonitorState
        from forecaster.store.orders import OrderRepository
        from forecaster.store.outbox import SqlOutbox
        from forecaster.store.pipeline import PipelineSnapshots
        from forecaster.store.runs import RunRepository
        from forecaster.store.schedule import JobTicks, Leases

        self.orders = OrderRepository(self.engine)
        self.forecasts = ForecastRepository(self.engine)
        self.incidents = SqlIncidentStore(self.engine)
        self.monitor_state = MonitorState(self.engine)
        self.outbox = SqlOutbox(self.engine)
        self.pipeline = PipelineSnapshots(self.engine)
        self.runs = RunRepository(self.engine)
        self.leases = Leases(self.engine)
        self.ticks = JobTicks(self.engine)

    def create(self) -> "Store":
        """Migrate the database to the current schema (creating it when empty)."""
        from forecaster.store.schema import upgrade

        try:
            upgrade(self.engine)
        except SQLAlchemyError as exc:
            raise StoreError(f"store {self.where}: cannot migrate the schema: {exc}") from None
        return self

    def prune(self, retention_days: int, now: dt.datetime) -> dict[str, int]:
        """Delete forecasts for periods, pipeline snapshots and sent deliveries older than ``retention_days``."""
        from forecaster.store.retention import prune

        return prune(self.engine, utc_naive(now) - dt.timedelta(days=retention_days))

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
