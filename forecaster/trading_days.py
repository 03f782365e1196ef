"""Days a store does not trade: neither demand to learn from nor demand to forecast.

The monitor's calendar (``monitor.calendar``, ``alerts/calendar.py``) says which past days
without sales were closed days (a closed weekday, a holiday, a weekday it was usually closed on
lately) and which future days it will most likely be closed. Per-series models are fitted on the
series with those days interpolated from their open neighbours, so a shop's closed Sundays
neither pull its other days down nor widen every interval; a day it will be closed on is
forecast as 0, bounds included; the global model (``global_forecast``) marks those days closed
instead, and learns only from open ones. Weekly and monthly series are used as they are.
"""

from __future__ import annotations

import datetime as dt
from typing import Sequence

import numpy as np
import pandas as pd

from alerts.calendar import Calendar


def _by_day(y: pd.Series) -> dict[dt.date, float]:
    return dict(zip(y.index.date, y.to_numpy(dtype=float)))


def closed_days(y: pd.Series, calendar: Calendar, freq: str) -> np.ndarray:
    """Which periods of ``y`` were days without sales the store did not trade (none for weekly and monthly series)."""
    if freq != "D":
        return np.zeros(len(y), dtype=bool)
    if len(y) and (y.index[-1] - y.index[0]).days + 1 == len(y):  # gap-free, as the engine's series are
        return calendar.closed_each(y.index[0].date(), y.to_numpy(dtype=float))
    by_day = _by_day(y)
    return np.array([value <= 0 and calendar.was_closed(day, value, by_day) for day, value in by_day.items()], dtype=bool)


def will_close(days: Sequence[dt.date], y: pd.Series, calendar: Calendar, freq: str) -> list[bool]:
    """Whether the store will most likely be closed on each of ``days``, judged from its history ``y``."""
    if freq != "D":
        return [False] * len(days)
    return calendar.will_be_closed(list(days), _by_day(y))


def open_demand(y: pd.Series, calendar: Calendar, freq: str) -> pd.Series:
    """``y`` with its closed days interpolated from open neighbours (unchanged when none, or none is open)."""
    closed = closed_days(y, calendar, freq)
    if not closed.any() or closed.all():
        return y
    return y.mask(closed).interpolate(limit_direction="both")


def close_forecast(forecast: pd.DataFrame, y: pd.Series, calendar: Calendar, freq: str) -> pd.DataFrame:
    """``forecast`` (``ds`` and value columns) with 0 on every day the store will most likely be closed, judged from ``y``."""
    closed = will_close(pd.DatetimeIndex(forecast["ds"]).date, y, calendar, freq)
    if not any(closed):
        return forecast
    values = [c for c in forecast.columns if c.startswith("yhat")]
    out = forecast.copy()
    out[values] = np.where(np.asarray(closed)[:, None], 0.0, out[values].to_numpy(dtype=float))
    return out
