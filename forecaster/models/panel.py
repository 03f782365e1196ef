"""Many series side by side for global models: history, closed days and known-future regressors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecaster.errors import ModelError
from forecaster.models.base import PANDAS_FREQ
from forecaster.models.spikes import without_spikes

# The column that marks a period as open (1) or closed (0): a closed period is not demand.
OPEN = "open"


@dataclass
class SeriesArrays:
    """One series on a regular grid that runs ``horizon`` periods past its history."""

    unique_id: str
    dates: pd.DatetimeIndex
    y: np.ndarray  # observed demand without its unexplained spikes; nan where closed and over the horizon
    is_open: np.ndarray  # bool, history and horizon
    regressors: np.ndarray  # (len(dates), k) floats
    n_history: int


@dataclass
class Panel:
    """Series of one frequency with the same regressor columns, each extended by ``horizon`` periods."""

    freq: str
    horizon: int
    regressors: list[str]
    series: list[SeriesArrays]


def regressor_columns(frame: pd.DataFrame) -> list[str]:
    """The columns of a long frame beyond ``unique_id, ds, y`` and the open flag."""
    return [c for c in frame.columns if c not in ("unique_id", "ds", "y", OPEN)]


def build_panel(long: pd.DataFrame, freq: str, horizon: int, future: pd.DataFrame | None = None) -> Panel:
    """Arrange a long frame (and the regressors' future values) as a Panel.

    ``long`` is regular per series (``regular`` in ``forecaster.data.series`` makes it so); ``future``
    holds ``unique_id, ds`` and the same regressor columns for the ``horizon`` periods after each
    series ends. Without regressors ``future`` may be None.
    """
    names = regressor_columns(long)
    if names and future is None:
        raise ModelError(f"regressors {names} need their values over the horizon (a future frame)")
    offset = pd.tseries.frequencies.to_offset(PANDAS_FREQ[freq])
    future_groups = dict(tuple(future.groupby("unique_id", sort=False))) if future is not None else {}
    out = []
    for series_id, points in _by_series(long):
        points = points.sort_values("ds")
        dates = pd.date_range(points["ds"].iloc[0], periods=len(points) + horizon, freq=offset)
        if not dates[: len(points)].equals(pd.DatetimeIndex(points["ds"])):
            raise ModelError(f"series {series_id}: the history is not regular at freq {freq!r}")
        ahead = _future_rows(series_id, future_groups.get(series_id), dates[len(points):], names)
        is_open = np.concatenate([_open_flags(points), _open_flags(ahead)])
        regressors = np.vstack([points[names].to_numpy(dtype=float), ahead[names].to_numpy(dtype=float)]) if names else np.zeros((len(dates), 0))
        history = np.where(is_open[: len(points)], points["y"].to_numpy(dtype=float), np.nan)
        state = np.unique(regressors[: len(points)] > 0, axis=0, return_inverse=True)[1].ravel()  # which regressors were on
        y = np.concatenate([without_spikes(history, freq, state), np.full(horizon, np.nan)])
        out.append(SeriesArrays(str(series_id), dates, y, is_open, regressors, len(points)))
    return Panel(freq, horizon, names, out)


def _by_series(long: pd.DataFrame) -> Iterator[tuple[object, pd.DataFrame]]:
    """Each series' rows, in id order, as slices of ``long``: a groupby would first copy the whole frame sorted."""
    if long.empty:
        return
    if not long["unique_id"].is_monotonic_increasing:
        long = long.sort_values("unique_id", kind="stable")
    ids = long["unique_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    for start, end in zip(starts, np.r_[starts[1:], len(ids)]):
        yield ids[start], long.iloc[start:end]


def _open_flags(frame: pd.DataFrame) -> np.ndarray:
    if OPEN not in frame.columns:
        return np.ones(len(frame), dtype=bool)
    return frame[OPEN].to_numpy(dtype=float) != 0


def _future_rows(series_id, rows: pd.DataFrame | None, dates: pd.DatetimeIndex, names: list[str]) -> pd.DataFrame:
    """The future rows of one series on ``dates``; without regressors, open periods with no columns."""
    if rows is None:
        if names:
            raise ModelError(f"series {series_id}: no future values for regressors {names}")
        return pd.DataFrame(index=range(len(dates)))
    rows = rows.set_index("ds").reindex(dates)
    missing = rows[names].isna().any(axis=1) if names else pd.Series(False, index=dates)
    if missing.any():
        raise ModelError(f"series {series_id}: no future regressor values for {missing.idxmax():%Y-%m-%d}")
    return rows.reset_index(drop=True)
