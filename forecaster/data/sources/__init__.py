"""Order sources behind one protocol: ``load(since, until) -> Batch``; one file per kind."""

from __future__ import annotations

import datetime as dt
import importlib
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


#: kind -> (module, class); imported only when used.
_KINDS = {
    "csv": ("files", "FileOrders"),
    "parquet": ("files", "FileOrders"),
    "sql": ("sql", "SqlOrders"),
    "woocommerce": ("woocommerce", "WooCommerceOrders"),
    "woocommerce_db": ("woocommerce_db", "WooCommerceDbOrders"),
    "shopify": ("shopify", "ShopifyOrders"),
}


def open_source(config, timezone: str) -> Source:
    """The source for a ``source:`` config block; naive timestamps of mapped files and tables are read in ``timezone``."""
    module, name = _KINDS[config.kind]
    cls = getattr(importlib.import_module(f"forecaster.data.sources.{module}"), name)
    if hasattr(config, "columns"):
        return cls(config, config.timezone or timezone)
    return cls(config)  # shop sources: every time they read carries its zone (UTC)
