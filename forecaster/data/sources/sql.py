"""Orders from a table or query in any SQL database (through SQLAlchemy)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from forecaster.data.orders import normalize
from forecaster.data.sources import Batch
from forecaster.errors import InputError
from forecaster.settings import hide_password


class SqlOrders:
    """Incremental by ``columns.updated_at`` when mapped; otherwise a full read each sync."""

    def __init__(self, config, timezone: str):
        self.config = config
        self.name = config.name
        self.timezone = timezone
        self.where = hide_password(config.url) + (f" table {config.table}" if config.table else " query")

    def load(self, since: dt.datetime | None, until: dt.datetime | None) -> Batch:
        cols = self.config.columns
        incremental = cols.updated_at is not None
        try:
            engine = sa.create_engine(self.config.url)
        except (SQLAlchemyError, ImportError) as exc:
            raise InputError(f"source {self.name}: cannot use database URL {hide_password(self.config.url)}: {exc}") from None
        try:
            with engine.connect() as conn:
                raw = pd.read_sql(self._query(conn, since if incremental else None), conn)
        except SQLAlchemyError as exc:
            raise InputError(f"{self.where}: query failed: {exc.__class__.__name__}: {getattr(exc, 'orig', exc)}") from None
        finally:
            engine.dispose()
        orders = normalize(
            raw, cols, self.config.statuses, self.timezone, self.where,
            describe=lambda i: f"order {raw.at[i, cols.order_id]!r}",
        )
        if until is not None:
            bound = pd.Timestamp(until)
            orders = orders[(orders["ordered_at"] <= bound) & (orders["updated_at"] <= bound)].reset_index(drop=True)
        watermark = orders["updated_at"].max().to_pydatetime() if len(orders) else since
        return Batch(orders, watermark, complete=not incremental or since is None)

    def _query(self, conn, since: dt.datetime | None) -> sa.Select:
        """Select the mapped columns of the table or query, changed after ``since``."""
        cols = self.config.columns
        names = list(dict.fromkeys(c for c in [cols.order_id, cols.ordered_at, cols.amount, cols.status, cols.updated_at, *cols.segments.values()] if c))
        if self.config.table:
            schema, _, name = self.config.table.rpartition(".")
            try:
                table = sa.Table(name, sa.MetaData(), schema=schema or None, autoload_with=conn)
            except sa.exc.NoSuchTableError:
                raise InputError(f"{self.where}: no such table") from None
            absent = [n for n in names if n not in table.c]
            if absent:
                raise InputError(f"{self.where}: missing column(s) {absent}; the table has {list(table.c.keys())}")
            column = table.c.get
            query = sa.select(*[table.c[n] for n in names])
        else:
            quote = conn.dialect.identifier_preparer.quote
            column = lambda n: sa.literal_column(f"src.{quote(n)}")  # noqa: E731
            query = sa.select(*[column(n).label(n) for n in names]).select_from(sa.text(f"({self.config.query}) src"))
        if since is not None:
            query = query.where(column(cols.updated_at) > _naive_utc(since, conn))
        return query


def _naive_utc(moment: dt.datetime, conn) -> dt.datetime:
    """Watermarks compare as naive UTC on databases whose timestamps carry no zone."""
    if conn.dialect.name in {"sqlite", "mysql", "mariadb"}:
        return moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return moment
