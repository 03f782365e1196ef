"""Orders and opportunities from a table or query in any SQL database (through SQLAlchemy)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from forecaster.data.opportunities import Outcomes, normalize_opportunities
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
        self.where = _where(config)

    def load(self, since: dt.datetime | None, until: dt.datetime | None) -> Batch:
        cols = self.config.columns
        incremental = cols.updated_at is not None
        names = list(dict.fromkeys(c for c in [cols.order_id, cols.ordered_at, cols.amount, cols.status, cols.updated_at, *cols.segments.values()] if c))
        changed = (cols.updated_at, since) if incremental and since is not None else None
        raw = read_rows(self.config, self.where, names, changed)
        orders = normalize(
            raw, cols, self.config.statuses, self.timezone, self.where,
            describe=lambda i: f"order {raw.at[i, cols.order_id]!r}",
        )
        if until is not None:
            bound = pd.Timestamp(until)
            orders = orders[(orders["ordered_at"] <= bound) & (orders["updated_at"] <= bound)].reset_index(drop=True)
        watermark = orders["updated_at"].max().to_pydatetime() if len(orders) else since
        return Batch(orders, watermark, complete=not incremental or since is None)


def read_opportunities_sql(config, columns, outcomes: Outcomes, prices=None) -> pd.DataFrame:
    """Every row of the table or query, normalized as opportunities; unmapped columns become segments."""
    where = _where(config)
    raw = read_rows(config, where, None)
    return normalize_opportunities(raw, columns, where, lambda i: f"opportunity {raw.at[i, columns.opportunity_id]!r}", outcomes, prices)


def read_rows(config, where: str, names: list[str] | None, changed: tuple[str, dt.datetime] | None = None) -> pd.DataFrame:
    """Columns ``names`` (all when None) of ``config``'s table or query, only rows whose ``changed[0]`` is after ``changed[1]``."""
    try:
        engine = sa.create_engine(config.url)
    except (SQLAlchemyError, ImportError) as exc:
        raise InputError(f"{where}: cannot use database URL {hide_password(config.url)}: {exc}") from None
    try:
        with engine.connect() as conn:
            return pd.read_sql(_select(conn, config, where, names, changed), conn)
    except SQLAlchemyError as exc:
        raise InputError(f"{where}: query failed: {exc.__class__.__name__}: {getattr(exc, 'orig', exc)}") from None
    finally:
        engine.dispose()


def _select(conn, config, where: str, names: list[str] | None, changed: tuple[str, dt.datetime] | None) -> sa.Select:
    if config.table:
        schema, _, name = config.table.rpartition(".")
        try:
            table = sa.Table(name, sa.MetaData(), schema=schema or None, autoload_with=conn)
        except sa.exc.NoSuchTableError:
            raise InputError(f"{where}: no such table") from None
        names = names or list(table.c.keys())
        absent = [n for n in names if n not in table.c]
        if absent:
            raise InputError(f"{where}: missing column(s) {absent}; the table has {list(table.c.keys())}")
        column = table.c.get
        query = sa.select(*[table.c[n] for n in names])
    else:
        quote = conn.dialect.identifier_preparer.quote
        column = lambda n: sa.literal_column(f"src.{quote(n)}")  # noqa: E731
        source = sa.text(f"({config.query}) src")
        query = sa.select(*[column(n).label(n) for n in names]).select_from(source) if names else sa.select(sa.text("*")).select_from(source)
    if changed is not None:
        name, since = changed
        query = query.where(column(name) > _naive_utc(since, conn))
    return query


def _where(config) -> str:
    """The database and table (or 'query') in errors; never the password."""
    return hide_password(config.url) + (f" table {config.table}" if config.table else " query")


def _naive_utc(moment: dt.datetime, conn) -> dt.datetime:
    """Watermarks compare as naive UTC on databases whose timestamps carry no zone."""
    if conn.dialect.name in {"sqlite", "mysql", "mariadb"}:
        return moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return moment
