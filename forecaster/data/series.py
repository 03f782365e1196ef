"""Orders and long-format files -> regular series ``unique_id, ds, y`` on a calendar.

``ds`` is the start of a period in the configured time zone: the day, the Monday of the week, or
the first of the month. A period without orders is a zero, not a gap. A period is *complete* once
it has ended (plus the completeness delay); only complete periods are fitted and judged.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd

from forecaster.errors import InputError
from forecaster.models import PANDAS_FREQ

TOTAL = "total"
KPI_PREFIX = "kpi "  # series ids of KPIs of the opportunities (forecaster.data.kpi_series)


def period_starts(days: pd.Series | pd.DatetimeIndex, freq: str) -> pd.DatetimeIndex:
    """The start of the period that contains each (naive, local) day."""
    days = pd.DatetimeIndex(days).normalize()
    if freq == "D":
        return days
    if freq == "W":
        return days - pd.to_timedelta(days.weekday, unit="D")
    return days.to_period("M").to_timestamp()


def next_period(start: pd.Timestamp, freq: str) -> pd.Timestamp:
    """The start of the period after the one starting at ``start``."""
    return start + (pd.DateOffset(months=1) if freq == "M" else pd.Timedelta(days=1 if freq == "D" else 7))


def last_complete(as_of: dt.datetime, timezone: str, freq: str, delay_hours: float = 0.0) -> pd.Timestamp:
    """Start of the latest period that has ended (and waited out the delay) at ``as_of``."""
    local = pd.Timestamp(as_of).tz_convert(timezone) - pd.Timedelta(hours=delay_hours)
    current = period_starts(pd.DatetimeIndex([local.tz_localize(None)]), freq)[0]
    return period_starts(pd.DatetimeIndex([current - pd.Timedelta(days=1)]), freq)[0]


def periods_between(start: pd.Timestamp, end: pd.Timestamp, freq: str) -> int:
    """How many periods lie from ``start`` to ``end`` (0 when equal)."""
    if freq == "M":
        return (end.year - start.year) * 12 + end.month - start.month
    return (end - start).days // (1 if freq == "D" else 7)


def points_from_orders(orders: pd.DataFrame, timezone: str, freq: str, by: list[str], total: bool, metric: str) -> pd.DataFrame:
    """Aggregate counted orders into ``unique_id, ds, y`` for the total and each segment."""
    counted = orders[orders["counted"]]
    if counted.empty:
        return pd.DataFrame({"unique_id": pd.Series(dtype=str), "ds": pd.Series(dtype="datetime64[ns]"), "y": pd.Series(dtype=float)})
    local = pd.DatetimeIndex(counted["ordered_at"]).tz_convert(timezone).tz_localize(None)
    frame = pd.DataFrame({"ds": period_starts(local, freq)})
    frame["y"] = counted["amount"].to_numpy() if metric == "revenue" else np.where(counted["amount"].to_numpy() > 0, 1.0, 0.0)
    parts = []
    if total:
        parts.append(frame.assign(unique_id=TOTAL))
    if by:
        segments = [json.loads(s) for s in counted["segments"]]
        frame = frame.assign(unique_id=[segment_id(" / ".join(s[name] for name in by)) for s in segments])
        parts.append(frame)
    if not parts:
        raise InputError("series: neither 'total' nor any 'by' segment is configured; nothing to watch")
    points = pd.concat(parts).groupby(["unique_id", "ds"], as_index=False)["y"].sum()
    return points[["unique_id", "ds", "y"]]


def segment_id(values: str) -> str:
    """A segment's series id: its values, marked " (segment)" where they would read as the total or a KPI series."""
    return f"{values} (segment)" if values == TOTAL or values.startswith(KPI_PREFIX) else values


def period_span(n: int, freq: str) -> pd.DateOffset | pd.Timedelta:
    """The length of ``n`` periods of ``freq`` (months as calendar months)."""
    return pd.DateOffset(months=n) if freq == "M" else pd.Timedelta(days=n * (1 if freq == "D" else 7))


def regular(points: pd.DataFrame, freq: str, end: pd.Timestamp) -> pd.Series:
    """One series' points (some up to ``end``) as a gap-free series from its first period to ``end``; missing periods are 0."""
    return regular_each(points.assign(unique_id=""), freq, end)[""]


def regular_each(points: pd.DataFrame, freq: str, end: pd.Timestamp) -> dict[str, pd.Series]:
    """Many series' points (``unique_id, ds, y``, one row per series and period) as gap-free series, by id.

    Each runs from its own first period to ``end``; missing periods are 0. The points are placed
    in one array of series by periods, far cheaper than a reindex per series or a pivot.
    """
    points = points[points["ds"] <= end]
    if points.empty:
        return {}
    index = pd.date_range(points["ds"].min(), end, freq=PANDAS_FREQ[freq], name="ds")
    rows, ids = pd.factorize(points["unique_id"], sort=True)
    columns = index.get_indexer(points["ds"])
    on_period = columns >= 0  # a point off the periods' starts has no place in the series
    values = np.full((len(ids), len(index)), np.nan)
    values[rows[on_period], columns[on_period]] = points["y"].to_numpy(dtype=float)[on_period]
    firsts = (~np.isnan(values)).argmax(axis=1)
    np.nan_to_num(values, copy=False, nan=0.0)
    return {series_id: pd.Series(values[row, first:], index=index[first:], name="y") for row, (series_id, first) in enumerate(zip(ids, firsts))}


def read_long(path: Path, id_col: str = "unique_id", date_col: str = "ds", value_col: str = "y", freq: str = "D") -> pd.DataFrame:
    """Read a long-format CSV/Parquet file, validate it, and sum it into periods of ``freq``.

    A series whose last week or month is not covered to its end loses that incomplete period;
    ``frame.attrs["partial_periods"]`` lists those series.
    """
    from forecaster.data.sources.files import read_table

    kind = "parquet" if Path(path).suffix.lower() in {".parquet", ".pq"} else "csv"
    raw = read_table(path, kind)
    missing = [c for c in (id_col, date_col, value_col) if c not in raw.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {missing}; the file has {list(raw.columns)} (see --id-col/--date-col/--value-col)")
    if raw.empty:
        raise InputError(f"{path}: the file has no rows")
    line = (lambda i: f"line {i + 2}") if kind == "csv" else (lambda i: f"row {i + 1}")
    ds = pd.to_datetime(raw[date_col], errors="coerce", format="mixed")
    y = pd.to_numeric(raw[value_col], errors="coerce")
    for mask, what, column in ((ds.isna(), "values that are not dates", date_col), (y.isna() | ~np.isfinite(y.fillna(0)), "values that are not numbers", value_col)):
        bad = raw.index[mask]
        if len(bad):
            shown = ", ".join(f"{line(i)} ({raw.at[i, column]!r})" for i in bad[:5])
            raise InputError(f"{path}: column {column!r} has {what}: {shown}" + (f" and {len(bad) - 5} more" if len(bad) > 5 else ""))
    if getattr(ds.dt, "tz", None) is not None:
        ds = ds.dt.tz_localize(None)
    frame = pd.DataFrame({"unique_id": raw[id_col].astype(str), "ds": ds, "y": y.astype(float)})
    dupes = frame.index[frame.duplicated(["unique_id", "ds"], keep=False)]
    if len(dupes):
        shown = ", ".join(f"{line(i)} ({frame.at[i, 'unique_id']} {frame.at[i, 'ds']:%Y-%m-%d})" for i in dupes[:5])
        raise InputError(f"{path}: the same series and date appear more than once: {shown}")
    last_day = frame.groupby("unique_id")["ds"].max()
    starts = period_starts(frame["ds"], freq)
    finer = (frame["ds"].dt.normalize() != starts).groupby(frame["unique_id"]).any()  # not already at ``freq``
    frame["ds"] = starts
    summed = frame.groupby(["unique_id", "ds"], as_index=False)["y"].sum()
    if freq == "D":
        return summed
    # A trailing week or month the input does not cover to its end is incomplete: summing it
    # as if it were whole would look like a slump, so it is left out (and reported).
    last_start = summed.groupby("unique_id")["ds"].transform("max")
    period_end = last_start.map(lambda start: next_period(start, freq) - pd.Timedelta(days=1))
    ids = summed["unique_id"]
    partial = (summed["ds"] == last_start) & ids.map(finer) & (period_end > ids.map(last_day).dt.normalize())
    complete = summed[~partial].reset_index(drop=True)
    complete.attrs["partial_periods"] = sorted(summed.loc[partial, "unique_id"])
    return complete
