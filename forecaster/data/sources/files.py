"""Orders from a CSV or Parquet file."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from forecaster.data.orders import normalize
from forecaster.data.sources import Batch
from forecaster.errors import InputError


class FileOrders:
    """Reads the whole file at each sync; the store's upsert keeps only what changed."""

    def __init__(self, config, timezone: str):
        self.config = config
        self.name = config.name
        self.timezone = timezone

    def load(self, since: dt.datetime | None, until: dt.datetime | None) -> Batch:
        path = self.config.location
        raw = read_table(path, self.config.kind)
        orders = normalize(
            raw, self.config.columns, self.config.statuses, self.timezone, str(path), describe=_line_of(self.config.kind)
        )
        if until is not None:
            orders = orders[orders["ordered_at"] <= pd.Timestamp(until)].reset_index(drop=True)
        watermark = orders["updated_at"].max().to_pydatetime() if len(orders) else None
        return Batch(orders, watermark, complete=True)


def read_table(path, kind: str) -> pd.DataFrame:
    """Read a CSV (all columns as text) or Parquet file, with errors that name the file."""
    try:
        if kind == "parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"{path}: cannot read it as {kind.upper()}: {exc}") from None


def _line_of(kind: str):
    if kind == "csv":
        return lambda index: f"line {index + 2}"
    return lambda index: f"row {index + 1}"
