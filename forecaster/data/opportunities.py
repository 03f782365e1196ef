"""Raw opportunity rows -> validated, normalized opportunities; every bad row is reported with where it is.

A normalized frame has one row per opportunity with the columns of ``OPPORTUNITY_FIELDS`` plus
every unmapped source column under its own name (account, region, ...), usable as a segment.
Dates are calendar days (naive); ``outcome`` is ``won``, ``lost`` or ``open``. An open deal's close
date, when the source has one, is its ``expected_close`` (``closed_at`` is set for closed deals only).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from forecaster.errors import InputError

OPPORTUNITY_FIELDS = ["opportunity_id", "created_at", "closed_at", "expected_close", "stage", "outcome", "amount", "list_price", "owner", "product"]
_SHOWN = 5


@dataclass(frozen=True)
class OpportunityColumns:
    """Which source column holds each opportunity field; the defaults match the Maven CRM export."""

    opportunity_id: str = "opportunity_id"
    created_at: str = "engage_date"
    stage: str = "deal_stage"
    amount: str = "close_value"
    owner: str = "sales_agent"
    closed_at: str = "close_date"
    product: str | None = "product"

    def mapping(self) -> dict[str, str]:
        """Canonical field -> source column, for the mapped fields."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}


@dataclass(frozen=True)
class Outcomes:
    """Which stage values mean won and lost (compared case-insensitively); every other stage is open."""

    won: tuple[str, ...] = ("won", "closed won", "closedwon")
    lost: tuple[str, ...] = ("lost", "closed lost", "closedlost")


def product_key(name: object) -> str:
    """A product name compared without spaces, punctuation or case ("GTX Pro" == "GTXPro")."""
    return re.sub(r"[\W_]+", "", str(name)).lower()


def _fail(where: str, problem: str, rows: pd.Index, describe: Callable[[int], str]) -> None:
    shown = ", ".join(describe(r) for r in rows[:_SHOWN])
    more = f" and {len(rows) - _SHOWN} more" if len(rows) > _SHOWN else ""
    raise InputError(f"{where}: {problem}: {shown}{more}")


def _days(raw: pd.DataFrame, column: str, where: str, describe: Callable[[int], str]) -> pd.Series:
    values = raw[column]
    parsed = pd.to_datetime(values, errors="coerce", format="mixed", utc=True)
    bad = raw.index[parsed.isna() & values.notna() & (values.astype(str).str.strip() != "")]
    if len(bad):
        _fail(where, f"column {column!r} has values that are not dates", bad, lambda r: f"{describe(r)} ({values[r]!r})")
    return parsed.dt.tz_localize(None).dt.normalize()


def normalize_opportunities(
    raw: pd.DataFrame,
    columns: OpportunityColumns = OpportunityColumns(),
    where: str = "opportunities",
    describe: Callable[[int], str] | None = None,
    outcomes: Outcomes = Outcomes(),
    prices: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Map, parse and validate raw opportunity rows.

    Closed deals need a close date; open deals may lack one (and a created date). A deal without
    an amount is worth its product's list price when ``prices`` (see :func:`read_products`) has it.
    """
    describe = describe or (lambda r: f"row {r}")
    mapping = columns.mapping()
    missing = [c for c in dict.fromkeys(mapping.values()) if c not in raw.columns]
    if missing:
        raise InputError(f"{where}: missing column(s) {missing}; the file has {list(raw.columns)}")
    raw = raw.reset_index(drop=True)
    ids = raw[columns.opportunity_id].astype("string").str.strip()
    blank = raw.index[ids.isna() | (ids == "")]
    if len(blank):
        _fail(where, f"column {columns.opportunity_id!r} (opportunity id) is empty", blank, describe)
    dupes = raw.index[ids.duplicated(keep=False)]
    if len(dupes):
        _fail(where, "duplicate opportunity ids", dupes, lambda r: f"{describe(r)} ({ids[r]})")

    stage = raw[columns.stage].astype("string").str.strip()
    no_stage = raw.index[stage.isna() | (stage == "")]
    if len(no_stage):
        _fail(where, f"column {columns.stage!r} (stage) is empty", no_stage, describe)
    lowered = stage.str.lower()
    outcome = np.select([lowered.isin([s.lower() for s in outcomes.won]), lowered.isin([s.lower() for s in outcomes.lost])], ["won", "lost"], "open")

    text = raw[columns.amount].astype("string").str.strip()
    amount = pd.to_numeric(text, errors="coerce")
    bad = raw.index[(amount.isna() & text.notna() & (text != "")) | ~np.isfinite(amount.fillna(0)) | (amount < 0)]
    if len(bad):
        _fail(where, f"column {columns.amount!r} has values that are not non-negative numbers", bad, lambda r: f"{describe(r)} ({raw.at[r, columns.amount]!r})")

    created = _days(raw, columns.created_at, where, describe)
    closed = _days(raw, columns.closed_at, where, describe)
    unclosed = raw.index[(outcome != "open") & closed.isna()]
    if len(unclosed):
        _fail(where, f"won or lost deals without a close date ({columns.closed_at!r})", unclosed, describe)
    early = raw.index[(outcome != "open") & created.notna() & (closed < created)]
    if len(early):
        _fail(where, "deals closed before they were created", early, lambda r: f"{describe(r)} ({created[r]:%Y-%m-%d} > {closed[r]:%Y-%m-%d})")

    product = raw[columns.product].astype("string").str.strip() if columns.product else pd.Series(pd.NA, index=raw.index, dtype="string")
    list_price = product.map(lambda p: (prices or {}).get(product_key(p), np.nan) if pd.notna(p) else np.nan).astype(float)
    frame = pd.DataFrame(
        {
            "opportunity_id": ids.astype(str),
            "created_at": created,
            "closed_at": closed.where(pd.Series(outcome != "open", index=raw.index)),
            "expected_close": closed.where(pd.Series(outcome == "open", index=raw.index)),
            "stage": stage.astype(str),
            "outcome": outcome,
            "amount": amount.fillna(list_price).astype(float),
            "list_price": list_price,
            "owner": raw[columns.owner].astype("string").str.strip().fillna("(none)").astype(str),
            "product": product.fillna("(none)").astype(str),
        }
    )
    extra = raw.drop(columns=[c for c in dict.fromkeys(mapping.values())]).drop(columns=OPPORTUNITY_FIELDS, errors="ignore")
    return pd.concat([frame, extra], axis=1)


def read_opportunities(
    path: Path,
    columns: OpportunityColumns = OpportunityColumns(),
    outcomes: Outcomes = Outcomes(),
    prices: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Read and normalize a CSV or Parquet file of opportunities; errors name the file and line."""
    from forecaster.data.sources.files import read_table

    kind = file_kind(path)
    raw = read_table(path, kind)
    line = (lambda i: f"line {i + 2}") if kind == "csv" else (lambda i: f"row {i + 1}")
    return normalize_opportunities(raw, columns, str(path), line, outcomes, prices)


def read_products(path: Path, name: str = "product", price: str = "sales_price") -> dict[str, float]:
    """List prices by normalized product name (see :func:`product_key`) from a products table."""
    from forecaster.data.sources.files import read_table

    table = read_table(path, file_kind(path))
    missing = [c for c in (name, price) if c not in table.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {missing}; the file has {list(table.columns)}")
    values = pd.to_numeric(table[price], errors="coerce")
    bad = table.index[values.isna()]
    if len(bad):
        _fail(str(path), f"column {price!r} has values that are not numbers", bad, lambda i: f"line {i + 2}")
    return {product_key(n): float(v) for n, v in zip(table[name], values)}


def join_table(opportunities: pd.DataFrame, path: Path, columns: OpportunityColumns = OpportunityColumns()) -> pd.DataFrame:
    """Add the columns of a lookup table (e.g. sales teams) joined on the column names both share.

    A table column named like a mapped source column (``sales_agent``) joins on its canonical
    field (``owner``).
    """
    from forecaster.data.sources.files import read_table

    table = read_table(path, file_kind(path))
    table = table.rename(columns={source: field for field, source in columns.mapping().items()})
    keys = [c for c in table.columns if c in opportunities.columns]
    if not keys:
        raise InputError(f"{path}: shares no column with the opportunities (it has {list(table.columns)})")
    dupes = table.index[table.duplicated(keys, keep=False)]
    if len(dupes):
        _fail(str(path), f"the join key {keys} repeats", dupes, lambda i: f"line {i + 2}")
    return opportunities.merge(table, on=keys, how="left")


def as_known_at(opportunities: pd.DataFrame, moment: pd.Timestamp) -> pd.DataFrame:
    """The opportunities as they looked just before ``moment``: no deal created after it, no close at or after it.

    A deal that closed later is open again, at an unknown stage and expected close, worth its
    product's list price (its final value was not known yet). A deal still open keeps what the
    source says of it now: its stage, amount and expected close.
    """
    moment = pd.Timestamp(moment)
    known = opportunities[opportunities["created_at"].notna() & (opportunities["created_at"] < moment)].copy()
    reopened = known["closed_at"] >= moment
    known.loc[reopened, ["outcome", "stage"]] = ["open", "(open)"]
    known.loc[reopened, ["closed_at", "expected_close"]] = pd.NaT
    known.loc[reopened, "amount"] = known.loc[reopened, "list_price"]
    return known.reset_index(drop=True)


def file_kind(path: Path) -> str:
    """``parquet`` for .parquet/.pq files, else ``csv``."""
    return "parquet" if Path(path).suffix.lower() in {".parquet", ".pq"} else "csv"
