"""Why a series fell short: fewer orders or smaller baskets, and which segments lost the most.

The evidence window of a finding is compared with a reference: the same window shifted back
by whole weeks (daily and weekly series: four times, so weekdays line up) or by whole months
(monthly series: the four months before). The reference gives the usual average order value
(AOV) and each segment value's usual share of the total:

- expected orders = expected revenue / reference AOV, so that
  ``(1 + orders change) * (1 + basket change) = actual revenue / expected revenue``;
- a segment value was expected to bring its reference share of the expected total; the values
  whose actual fell furthest below that explain most of the shortfall. A value's part of the
  shortfall is its gap over the sum of the gaps of all values that fell short (values above
  their share offset some of the loss, so the parts of the net shortfall could exceed 100%).

For a series of order counts only the segment part applies. Pure: order rows in, a
:class:`alerts.message.Decomposition` out.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import replace
from typing import Sequence

import pandas as pd

from alerts.message import Decomposition, SegmentShare

REFERENCE_WINDOWS = 4
TOP_SEGMENTS = 3
ORDER_COLUMNS = ("ordered_at", "amount", "counted", "segments")
_NO_VALUE = "(none)"


def reference_windows(start: dt.date, end: dt.date, freq: str) -> list[tuple[dt.date, dt.date]]:
    """The windows (first and last day) the evidence window ``start..end`` is compared with, latest first."""
    if end < start:
        raise ValueError(f"the evidence window ends ({end}) before it starts ({start})")
    if freq == "M":
        months = (end.year - start.year) * 12 + end.month - start.month + 1
        first = pd.Timestamp(start)
        return [
            ((first - pd.DateOffset(months=months * k)).date(), (first - pd.DateOffset(months=months * (k - 1)) - pd.Timedelta(days=1)).date())
            for k in range(1, REFERENCE_WINDOWS + 1)
        ]
    if freq not in ("D", "W"):
        raise ValueError(f"unknown series frequency {freq!r} (use D, W or M)")
    step = dt.timedelta(days=7 * math.ceil(((end - start).days + 1) / 7))
    return [(start - k * step, end - k * step) for k in range(1, REFERENCE_WINDOWS + 1)]


def describe_reference(start: dt.date, end: dt.date, freq: str) -> str:
    """The reference of :func:`reference_windows` in words: ``the same days of the previous 4 weeks``."""
    if freq == "M":
        return f"the previous {REFERENCE_WINDOWS} months"
    weeks = math.ceil(((end - start).days + 1) / 7)
    if weeks == 1:
        return f"the same days of the previous {REFERENCE_WINDOWS} weeks"
    return f"the {REFERENCE_WINDOWS} {weeks}-week stretches before it"


def decompose(
    orders: pd.DataFrame,
    *,
    timezone: str,
    start: dt.date,
    end: dt.date,
    expected: float,
    freq: str,
    metric: str = "revenue",
    by: Sequence[str] = (),
    series_id: str | None = None,
    dimensions: Sequence[str] = (),
    top: int = TOP_SEGMENTS,
) -> Decomposition | None:
    """Decompose the change of one series over the local days ``start..end`` against ``expected``.

    ``orders`` are order rows (``ordered_at`` UTC, signed ``amount``, ``counted``, ``segments``
    as a JSON object). The series is the total when ``series_id`` is None, else the orders whose
    ``by`` segment values, joined by `` / ``, equal ``series_id``. ``dimensions`` are the segment
    names to break the shortfall down by (at most ``top`` values each). Returns None when nothing
    can be said: nothing was expected, or the window and its reference hold no orders.
    """
    if metric not in ("revenue", "orders"):
        raise ValueError(f"unknown metric {metric!r} (use revenue or orders)")
    if not math.isfinite(expected) or expected <= 0:
        return None
    windows = reference_windows(start, end, freq)
    table = _order_table(orders, timezone, by, series_id, dimensions)
    current = table[(table["day"] >= start) & (table["day"] <= end)]
    reference = pd.concat([table[(table["day"] >= first) & (table["day"] <= last)] for first, last in windows])  # disjoint windows
    if current.empty and reference.empty:
        return None
    value = "revenue" if metric == "revenue" else "orders"
    actual = float(current[value].sum())
    result = Decomposition(actual=actual, expected=expected, reference=describe_reference(start, end, freq))
    if metric == "revenue":
        result = _orders_and_basket(result, current, reference)
    segments = tuple(s for name in dimensions for s in _segment_shares(name, current, reference, value, expected, actual, top))
    if result.orders_change is None and not segments:
        return None
    return replace(result, segments=segments)


def _order_table(orders: pd.DataFrame, timezone: str, by: Sequence[str], series_id: str | None, dimensions: Sequence[str]) -> pd.DataFrame:
    """Counted orders of the series as ``day`` (local date), ``revenue``, ``orders`` (0 or 1) and one column per dimension."""
    missing = [c for c in ORDER_COLUMNS if c not in orders.columns]
    if missing:
        raise ValueError(f"decompose: the order rows lack column(s) {missing}; they have {list(orders.columns)}")
    counted = orders[orders["counted"].astype(bool)]
    segments = [json.loads(s) if isinstance(s, str) else dict(s or {}) for s in counted["segments"]]
    if series_id is not None:
        keep = [" / ".join(str(s.get(name, "")) for name in by) == series_id for s in segments]
        counted = counted[keep]
        segments = [s for s, k in zip(segments, keep, strict=True) if k]
    amount = counted["amount"].astype(float).to_numpy()
    table = pd.DataFrame(
        {
            "day": pd.DatetimeIndex(pd.to_datetime(counted["ordered_at"], utc=True)).tz_convert(timezone).date,
            "revenue": amount,
            "orders": (amount > 0).astype(int),
        }
    )
    for name in dimensions:
        table[name] = [str(s.get(name) or _NO_VALUE) for s in segments]
    return table


def _orders_and_basket(result: Decomposition, current: pd.DataFrame, reference: pd.DataFrame) -> Decomposition:
    """Split the revenue change into order count and average order value, against the reference AOV."""
    reference_orders, reference_revenue = int(reference["orders"].sum()), float(reference["revenue"].sum())
    actual_orders = int(current["orders"].sum())
    if reference_orders == 0 or reference_revenue <= 0 or actual_orders == 0:
        return result
    reference_aov = reference_revenue / reference_orders
    expected_orders = result.expected / reference_aov
    actual_aov = result.actual / actual_orders
    return replace(
        result,
        orders_change=actual_orders / expected_orders - 1,
        basket_change=actual_aov / reference_aov - 1,
        actual_orders=actual_orders,
        expected_orders=expected_orders,
        actual_aov=actual_aov,
        reference_aov=reference_aov,
    )


def _segment_shares(
    name: str, current: pd.DataFrame, reference: pd.DataFrame, value: str, expected: float, actual: float, top: int
) -> list[SegmentShare]:
    """The ``top`` values of dimension ``name`` that fell furthest below their share of ``expected``."""
    shortfall = expected - actual
    usual = reference.groupby(name)[value].sum()
    usual = usual[usual > 0]
    if shortfall <= 0 or usual.empty:
        return []
    frame = pd.DataFrame({"expected": usual / usual.sum() * expected, "actual": current.groupby(name)[value].sum()}).fillna(0.0)
    frame["gap"] = frame["expected"] - frame["actual"]
    short = frame[frame["gap"] > 0].sort_values("gap", ascending=False)
    lost = short["gap"].sum()
    return [SegmentShare(name, str(v), float(r.expected), float(r.actual), float(r.gap / lost)) for v, r in short.head(top).iterrows()]
