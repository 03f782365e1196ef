"""Raw order rows -> validated, normalized orders; every bad row is reported with where it is."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd

from forecaster.errors import InputError

#: Columns of a normalized orders frame (segments travel as a JSON object per order).
ORDER_FIELDS = ["order_id", "ordered_at", "amount", "status", "counted", "segments", "updated_at"]
FUTURE_TOLERANCE = dt.timedelta(hours=1)
_SHOWN = 5


def _fail(where: str, problem: str, rows: pd.Index, describe) -> None:
    shown = ", ".join(describe(r) for r in rows[:_SHOWN])
    more = f" and {len(rows) - _SHOWN} more" if len(rows) > _SHOWN else ""
    raise InputError(f"{where}: {problem}: {shown}{more}")


def _timestamps(values: pd.Series, tz: str, where: str, column: str, describe) -> pd.Series:
    """Parse timestamps; naive ones are in ``tz``; the result is UTC."""
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values
    else:
        parsed = pd.to_datetime(values, errors="coerce", utc=False, format="mixed")
        bad = values.index[parsed.isna() & values.notna()]
        if len(bad):
            _fail(where, f"column {column!r} has values that are not dates (or lie outside 1677-2262)", bad, lambda r: f"{describe(r)} ({values[r]!r})")
    missing = values.index[parsed.isna()]
    if len(missing):
        _fail(where, f"column {column!r} is empty", missing, describe)
    if getattr(parsed.dt, "tz", None) is None:
        parsed = parsed.dt.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
        ambiguous = values.index[parsed.isna()]
        if len(ambiguous):
            _fail(where, f"column {column!r} has local times that are ambiguous in {tz} (DST change); add an offset", ambiguous, describe)
    return parsed.dt.tz_convert("UTC")


def normalize(
    raw: pd.DataFrame,
    columns,
    statuses,
    tz: str,
    where: str,
    describe=None,
    now: dt.datetime | None = None,
) -> pd.DataFrame:
    """Map, parse and validate raw order rows.

    ``columns`` and ``statuses`` are the source's ``OrderColumns`` and ``StatusPolicy``;
    ``describe(index)`` names a row in errors (a file line, an order id). Refund statuses count
    as negative amounts whatever the sign in the source; statuses that are neither sale nor
    refund are kept but not counted.
    """
    describe = describe or (lambda r: f"row {r}")
    needed = {"order_id": columns.order_id, "ordered_at": columns.ordered_at, "amount": columns.amount}
    optional = {"status": columns.status, "updated_at": columns.updated_at}
    wanted = [c for c in [*needed.values(), *optional.values(), *columns.segments.values()] if c]
    missing = [c for c in dict.fromkeys(wanted) if c not in raw.columns]
    if missing:
        raise InputError(f"{where}: missing column(s) {missing}; the file has {list(raw.columns)}")
    if raw.empty:
        return pd.DataFrame(columns=ORDER_FIELDS)

    ids = raw[columns.order_id]
    blank = raw.index[ids.isna() | (ids.astype(str).str.strip() == "")]
    if len(blank):
        _fail(where, f"column {columns.order_id!r} (order id) is empty", blank, describe)
    ids = ids.astype(str).str.strip()
    dupes = raw.index[ids.duplicated(keep=False)]
    if len(dupes):
        _fail(where, "duplicate order ids", dupes, lambda r: f"{describe(r)} ({ids[r]})")

    amount = pd.to_numeric(raw[columns.amount], errors="coerce")
    bad = raw.index[amount.isna() | ~np.isfinite(amount.fillna(0))]
    if len(bad):
        _fail(where, f"column {columns.amount!r} has values that are not numbers", bad, lambda r: f"{describe(r)} ({raw.at[r, columns.amount]!r})")

    ordered_at = _timestamps(raw[columns.ordered_at], tz, where, columns.ordered_at, describe)
    now = now or dt.datetime.now(dt.timezone.utc)
    future = raw.index[ordered_at > pd.Timestamp(now + FUTURE_TOLERANCE)]
    if len(future):
        _fail(where, f"orders dated in the future (after {now:%Y-%m-%d %H:%M} UTC)", future, lambda r: f"{describe(r)} ({ordered_at[r]})")

    status = raw[columns.status].astype(str).str.strip().str.lower() if columns.status else pd.Series("sale", index=raw.index)
    sale = {s.lower() for s in statuses.sale} if columns.status else {"sale"}
    refund = {s.lower() for s in statuses.refund}
    is_refund = status.isin(refund)
    amount = amount.where(~is_refund, -amount.abs())
    segments = [json.dumps({k: _label(raw.at[r, c]) for k, c in columns.segments.items()}, sort_keys=True) for r in raw.index]
    updated = _timestamps(raw[columns.updated_at], tz, where, columns.updated_at, describe) if columns.updated_at else ordered_at
    return pd.DataFrame(
        {
            "order_id": ids,
            "ordered_at": ordered_at,
            "amount": amount.astype(float),
            "status": status,
            "counted": status.isin(sale) | is_refund,
            "segments": segments,
            "updated_at": updated,
        }
    ).reset_index(drop=True)


def _label(value) -> str:
    """A segment value as text ('(none)' for a missing one)."""
    return "(none)" if pd.isna(value) or str(value).strip() == "" else str(value).strip()
