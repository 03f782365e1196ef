"""Known-future regressors: extra input columns, their values over the horizon, public holidays.

Every column of an input file beyond the id, date and value columns is a regressor (promotion,
holiday flags, prices, ...) and must be numeric. The column ``open`` is special: 0 marks a
period the store was closed, which is neither trained on as demand nor forecast as demand
(its forecast is 0 and the forecast row has ``closed = True``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from forecaster.data.series import period_starts
from forecaster.errors import InputError
from forecaster.models.panel import OPEN, regressor_columns

__all__ = ["OPEN", "add_holidays", "attach_regressors", "horizon_rows", "load_inputs", "read_future", "read_known_future", "regressor_columns"]


def _read(path: Path) -> tuple[pd.DataFrame, callable]:
    from forecaster.data.sources.files import read_table

    kind = "parquet" if Path(path).suffix.lower() in {".parquet", ".pq"} else "csv"
    line = (lambda i: f"line {i + 2}") if kind == "csv" else (lambda i: f"row {i + 1}")
    return read_table(path, kind), line


def _numeric(raw: pd.DataFrame, columns: list[str], path: Path, line) -> pd.DataFrame:
    """The ``columns`` of ``raw`` as floats, or an InputError naming the file, column and rows that are not numbers."""
    out = pd.DataFrame(index=raw.index)
    for column in columns:
        values = pd.to_numeric(raw[column], errors="coerce")
        bad = raw.index[values.isna() | ~np.isfinite(values.fillna(0))]
        if len(bad):
            shown = ", ".join(f"{line(i)} ({raw.at[i, column]!r})" for i in bad[:5])
            raise InputError(f"{path}: regressor column {column!r} has values that are not numbers: {shown}")
        out[column] = values.astype(float)
    return out


def _by_period(frame: pd.DataFrame, columns: list[str], freq: str) -> pd.DataFrame:
    """Regressors per period: the mean over its days; a period is open if any of its days is."""
    frame = frame.assign(ds=period_starts(frame["ds"], freq))
    rules = {c: ("max" if c == OPEN else "mean") for c in columns}
    return frame.groupby(["unique_id", "ds"], as_index=False).agg(rules)


def attach_regressors(long: pd.DataFrame, path: Path, id_col: str, date_col: str, value_col: str, freq: str) -> pd.DataFrame:
    """``long`` (from ``read_long`` of the same file) with the file's extra columns as numeric regressors."""
    raw, line = _read(path)
    columns = [c for c in raw.columns if c not in (id_col, date_col, value_col)]
    if not columns:
        return long
    values = _numeric(raw, columns, path, line)
    values["unique_id"] = raw[id_col].astype(str)
    values["ds"] = pd.to_datetime(raw[date_col], errors="coerce", format="mixed")
    merged = long.merge(_by_period(values, columns, freq), on=["unique_id", "ds"], how="left")
    merged = merged.fillna({c: (1.0 if c == OPEN else 0.0) for c in columns})
    merged.attrs = dict(long.attrs)
    return merged


def read_future(path: Path, long: pd.DataFrame, horizon: int, freq: str, id_col: str = "unique_id", date_col: str = "ds") -> pd.DataFrame:
    """The regressors' values over the horizon of every series of ``long``, checked for completeness.

    Raises InputError naming the file for a missing column, a date that is not a date, a value that
    is not a number (with its line), or a series and period the file does not cover.
    """
    raw, line = _read(path)
    needed = regressor_columns(long) + ([OPEN] if OPEN in long.columns else [])
    missing = [c for c in (id_col, date_col, *needed) if c not in raw.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {missing}; the input has regressors {needed} and the future file has {list(raw.columns)}")
    ds = pd.to_datetime(raw[date_col], errors="coerce", format="mixed")
    if ds.isna().any():
        bad = raw.index[ds.isna()]
        raise InputError(f"{path}: column {date_col!r} has values that are not dates: " + ", ".join(f"{line(i)} ({raw.at[i, date_col]!r})" for i in bad[:5]))
    values = _numeric(raw, needed, path, line)
    values["unique_id"] = raw[id_col].astype(str)
    values["ds"] = ds.dt.tz_localize(None) if getattr(ds.dt, "tz", None) is not None else ds
    future = _by_period(values, needed, freq)
    rows, gaps = horizon_rows(future, long.groupby("unique_id")["ds"].max(), horizon, freq)
    if gaps:
        series_id, gap = next(iter(gaps.items()))
        raise InputError(f"{path}: series {series_id!r} {gap}")
    return rows


def horizon_rows(known: pd.DataFrame, ends: pd.Series, horizon: int, freq: str) -> tuple[pd.DataFrame, dict[str, str]]:
    """The rows of ``known`` (``unique_id, ds``, values) for the ``horizon`` periods after each series' end in ``ends``.

    Returns the rows of the series covered in full and, for every other series, what is missing.
    """
    from forecaster.data.series import next_period

    needed = [c for c in known.columns if c not in ("unique_id", "ds")]
    groups = dict(tuple(known.groupby("unique_id", sort=False)))
    rows, gaps = [], {}
    for series_id, end in ends.items():
        wanted, day = [], end
        for _ in range(horizon):
            day = next_period(day, freq)
            wanted.append(day)
        have = groups.get(series_id, known.iloc[:0]).set_index("ds").reindex(wanted)
        missing = have.index[have[needed].isna().any(axis=1)] if needed else []
        if len(missing):
            gaps[series_id] = (
                f"has no row for {missing[0]:%Y-%m-%d}" + (f" and {len(missing) - 1} more period(s)" if len(missing) > 1 else "")
                + f"; the known future must cover the {horizon} periods after {end:%Y-%m-%d}"
            )
            continue
        rows.append(have.rename_axis("ds").reset_index().assign(unique_id=series_id))
    columns = ["unique_id", "ds", *needed]
    return (pd.concat(rows, ignore_index=True)[columns] if rows else pd.DataFrame(columns=columns)), gaps


def read_known_future(path: Path, series_col: str, date_col: str, columns: list[str] | None, open_col: str | None, freq: str) -> pd.DataFrame:
    """The engine's file of known-future inputs (``forecast.known_future``) as ``unique_id, ds``, inputs, ``open`` per period.

    Raises InputError naming the file for a file that cannot be read, a missing column, a date that
    is not a date or a value that is not a number (with its line).
    """
    raw, line = _read(path)
    named = [series_col, date_col, *(columns or []), *([open_col] if open_col else [])]
    missing = [c for c in dict.fromkeys(named) if c not in raw.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {missing} named in forecast.known_future; the file has {list(raw.columns)}")
    inputs = columns if columns is not None else [c for c in raw.columns if c not in (series_col, date_col, open_col)]
    ds = pd.to_datetime(raw[date_col], errors="coerce", format="mixed")
    if ds.isna().any():
        bad = raw.index[ds.isna()]
        raise InputError(f"{path}: column {date_col!r} has values that are not dates: " + ", ".join(f"{line(i)} ({raw.at[i, date_col]!r})" for i in bad[:5]))
    values = _numeric(raw, [*inputs, *([open_col] if open_col else [])], path, line).rename(columns={open_col: OPEN} if open_col else {})
    values["unique_id"] = raw[series_col].astype(str)
    values["ds"] = ds.dt.tz_localize(None) if getattr(ds.dt, "tz", None) is not None else ds
    kept = [*inputs, *([OPEN] if open_col else [])]
    return _by_period(values, kept, freq)[["unique_id", "ds", *kept]]


def add_holidays(frame: pd.DataFrame, country: str, subdivision: str | None = None) -> pd.DataFrame:
    """``frame`` with a ``holiday`` regressor: 1 on the public holidays of ``country`` (and ``subdivision``)."""
    import holidays

    if country not in holidays.list_supported_countries():
        raise InputError(f"holidays: country {country!r} is not supported; use an ISO 3166 code such as 'DE', 'US' or 'GB'")
    supported = holidays.list_supported_countries()[country]
    if subdivision is not None and subdivision not in supported:
        raise InputError(f"holidays: {country} has no subdivision {subdivision!r}; valid: {', '.join(supported)}")
    years = range(frame["ds"].dt.year.min(), frame["ds"].dt.year.max() + 1)
    calendar = holidays.country_holidays(country, subdiv=subdivision, years=years)
    return frame.assign(holiday=frame["ds"].dt.date.map(lambda day: 1.0 if day in calendar else 0.0).astype(float))


def load_inputs(
    path: Path, future_path: Path | None, horizon: int, freq: str, id_col: str = "unique_id", date_col: str = "ds",
    value_col: str = "y", holidays: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The long frame of ``path`` with its regressors, and their future values from ``future_path``.

    ``holidays`` is a country code, optionally with a subdivision (``DE-BY``), adding a ``holiday``
    regressor to both. Raises InputError when the input has regressors but no future file is given.
    """
    from forecaster.data.series import next_period, read_long

    long = attach_regressors(read_long(path, id_col, date_col, value_col, freq), path, id_col, date_col, value_col, freq)
    extra = [c for c in long.columns if c not in ("unique_id", "ds", "y")]
    if extra and future_path is None:
        raise InputError(f"{path}: the columns {extra} are regressors; give their values over the horizon with --future PATH")
    if future_path is not None and not extra:
        raise InputError(f"--future {future_path}: {path} has no regressor columns beyond {id_col}, {date_col}, {value_col}")
    future = read_future(future_path, long, horizon, freq, id_col, date_col) if future_path is not None else None
    if holidays:
        country, _, subdivision = holidays.partition("-")
        if future is None:
            rows = []
            for series_id, end in long.groupby("unique_id")["ds"].max().items():
                day = end
                for _ in range(horizon):
                    day = next_period(day, freq)
                    rows.append((series_id, day))
            future = pd.DataFrame(rows, columns=["unique_id", "ds"])
        long, future = add_holidays(long, country, subdivision or None), add_holidays(future, country, subdivision or None)
    return long, future
