"""Order sources behind one protocol: ``load(since, until) -> Batch``; one file per kind."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

import pandas as pd


@dataclass(frozen=True)
class Batch:
    """Normalized orders (see ``forecaster.data.orders.ORDER_FIELDS``) and the watermark after them.

    ``complete`` says the batch holds every order of the source up to ``until`` (a full read),
    rather than only the ones changed since the last watermark.
    """

    orders: pd.DataFrame
    watermark: dt.datetime | None
    complete: bool


class Source(Protocol):
    """Where orders come from."""

    name: str

    def load(self, since: dt.datetime | None, until: dt.datetime | None) -> Batch:
        """Orders changed after ``since`` (all when None) and placed no later than ``until``."""


def open_source(config, timezone: str) -> Source:
    """The source for a ``source:`` config block; naive timestamps are read in ``timezone``."""
    tz = config.timezone or timezone
    if config.kind == "sql":
        from forecaster.data.sources.sql import SqlOrders

        return SqlOrders(config, tz)
    from forecaster.data.sources.files import FileOrders

    return FileOrders(config, tz)
