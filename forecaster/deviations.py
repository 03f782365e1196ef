"""Actual vs. expected per period, each judged against a forecast issued ``lead`` periods before it."""

from __future__ import annotations

import datetime as dt
from itertools import groupby
from operator import itemgetter

import numpy as np
import pandas as pd

from alerts.calendar import SAME_WEEKDAYS_LOOKED_AT
from alerts.calibration import calibrated
from alerts.deviation import Deviation
from forecaster.batches import SERIES_PER_READ
from forecaster.data.series import PANDAS_FREQ, next_period, period_span, period_starts
from forecaster.settings import Settings
from forecaster.store import Store


class Deviations:
    """Actual vs. expected per period, each against a forecast issued ``lead`` periods before it.

    With a ``baseline`` (the first period of an open incident's evidence), only forecasts issued
    before it count, so the incident is judged against the plan made before it began; where no
    such forecast reaches, the usual one is used (a drop that lasts becomes the new normal).
    The monitor's calendar excuses holidays, events and closed days (``alerts.calendar``), and the
    bounds come from the series' own errors over ``monitor.calibration_days`` before each period
    (``alerts.calibration``); the forecasts judging those earlier periods are read one per period.
    Callers go series by series in the order given, and the vintages are read a block at a time.
    """

    def __init__(self, store: Store, settings: Settings, freq: str, series: list[str], start: pd.Timestamp, end: pd.Timestamp):
        self.freq = freq
        self.timezone = settings.timezone
        self.lead = settings.monitor.lead_for(freq)
        self.calendar = settings.monitor.calendar
        self.calibration_days = settings.monitor.calibration_days
        self.start, self.end = start, end
        # Actuals from the first calibration period, and the weeks before it the calendar's
        # closed-day test looks back on; nothing older is needed.
        looked_back = pd.Timedelta(days=self.calibration_days + 7 * SAME_WEEKDAYS_LOOKED_AT)
        first = period_starts(pd.DatetimeIndex([start - looked_back]), freq)[0]
        self.actuals = _actuals(store.orders.points(end=end.date(), series=series, start=first.date()), freq, end)
        self.earlier = self._earlier(store, series) if self.calibration_days else {}
        self._store = store
        self._series = series
        self._positions = {series_id: i for i, series_id in enumerate(series)}
        self._block: tuple[int, _Vintages] | None = None
        self._anchors: dict[dt.date, np.datetime64] = {}
        self._cache: dict[tuple[str, dt.date | None], list[Deviation]] = {}

    def _earlier(self, store: Store, series: list[str]) -> dict[str, list[tuple[dt.date, float]]]:
        """Per series, the forecast that judged each period of the calibration window before ``start``."""
        days = pd.date_range(self.start - pd.Timedelta(days=self.calibration_days), self.start - pd.Timedelta(days=1))
        starts = period_starts(days, self.freq).unique()
        starts = starts[starts < self.start]
        cutoffs = dict(zip(starts.date, (t.to_pydatetime() for t in self._cutoff(pd.Series(starts)))))
        frame = store.forecasts.at_cutoffs(series, cutoffs).sort_values(["series_id", "ds"])
        return {k: list(zip(f["ds"].dt.date, f["yhat"].astype(float))) for k, f in frame.groupby("series_id")}

    def _cutoff(self, days: pd.Series) -> pd.Series:
        """Latest issue time (UTC) a forecast for each period may have: the local start ``lead`` periods earlier."""
        unique = pd.DatetimeIndex(days.unique())  # a few hundred periods however many series
        shifted = pd.Series([d - period_span(self.lead, self.freq) for d in unique], dtype="datetime64[ns]")
        cutoffs = shifted.dt.tz_localize(self.timezone, ambiguous=False, nonexistent="shift_forward").dt.tz_convert("UTC")
        return pd.to_datetime(days.map(dict(zip(unique, cutoffs))), utc=True)

    def periods(self, series_id: str) -> list[pd.Timestamp]:
        """Periods of the series that have a usable forecast, oldest first."""
        return [pd.Timestamp(d.period_start) for d in self.history(series_id, None, None)]

    def history(self, series_id: str, until: pd.Timestamp | None, baseline: dt.date | None) -> list[Deviation]:
        """Deviations up to ``until`` (all when None), against pre-``baseline`` forecasts when given."""
        key = (series_id, baseline)
        if key not in self._cache:
            if any(cached != series_id for cached, _ in self._cache):
                self._cache.clear()  # callers go series by series: keep one series' deviations, not all
            self._cache[key] = self._build(series_id, baseline)
        devs = self._cache[key]
        return devs if until is None else [d for d in devs if pd.Timestamp(d.period_start) <= until]

    def _build(self, series_id: str, baseline: dt.date | None) -> list[Deviation]:
        actual = self.actuals.get(series_id)
        if series_id not in self._positions or actual is None:
            return []
        vintages = self._vintages_of(series_id)
        plans = vintages.latest.get(series_id)
        if plans is None:
            return []
        if baseline is not None:
            before = vintages.before(series_id, self._anchor(baseline))
            planned = {b[0] for b in before}
            plans = sorted([*before, *(p for p in plans if p[0] not in planned)], key=lambda p: p[0])
        devs = [self._deviation(series_id, ds, actual, yhat, {}) for ds, yhat in self.earlier.get(series_id, ())]
        devs += [self._deviation(series_id, ds, actual, yhat, bounds) for ds, yhat, bounds in plans]
        devs = self.calendar.excuse([d for d in devs if d is not None], actual, self.freq)
        devs = calibrated(devs, self.calibration_days, baseline)
        return [d for d in devs if d.period_start >= self.start.date()]

    def _vintages_of(self, series_id: str) -> _Vintages:
        """The usable vintages of the block of series holding ``series_id``, read when first needed.

        Series are read ``SERIES_PER_READ`` at a time in the order given, the order callers walk
        them: a run holds one block's vintages however many series it watches.
        """
        index = self._positions[series_id] // SERIES_PER_READ
        if self._block is None or self._block[0] != index:
            self._block = None  # the previous block's rows go before the next block is read
            block = self._series[index * SERIES_PER_READ : (index + 1) * SERIES_PER_READ]
            until = self._cutoff(pd.Series([self.end])).iloc[0].to_pydatetime()
            forecasts = self._store.forecasts.issued_before(block, self.start.date(), self.end.date(), until)
            usable = forecasts[forecasts["issued_at"] <= self._cutoff(forecasts["ds"])]
            self._block = (index, _Vintages(usable.sort_values(["series_id", "ds", "issued_at"], ignore_index=True)))
        return self._block[1]

    def _anchor(self, baseline: dt.date) -> np.datetime64:
        """The latest issue time (naive UTC) of a plan made before the ``baseline`` period."""
        if baseline not in self._anchors:
            self._anchors[baseline] = self._cutoff(pd.Series([pd.Timestamp(baseline)])).dt.tz_localize(None).to_numpy()[0]
        return self._anchors[baseline]

    def _deviation(self, series_id: str, ds: dt.date, actual: dict[dt.date, float], yhat: float, bounds: dict) -> Deviation | None:
        if ds not in actual:
            return None
        last_day = (next_period(pd.Timestamp(ds), self.freq) - pd.Timedelta(days=1)).date() if self.freq != "D" else ds
        return Deviation(series_id, ds, last_day, actual[ds], float(yhat), bounds)


class _Vintages:
    """Usable vintage rows of some series as arrays, sorted by series, period and issue time (oldest first).

    A series judged against an earlier plan is then a slice and a mask, not a pandas group-by.
    """

    def __init__(self, usable: pd.DataFrame):
        self._ids = usable["series_id"].to_numpy()
        self._ds = usable["ds"].to_numpy(dtype="datetime64[ns]")
        self._issued = usable["issued_at"].dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
        self._values = {c: usable[c].to_numpy(dtype=float) for c in ("yhat", "lo80", "hi80", "lo95", "hi95")}
        latest = np.flatnonzero(_last_of_runs(self._ids, self._ds))  # per series, each period's latest plan
        self.latest = {k: [plan for _, plan in rows] for k, rows in groupby(zip(self._ids[latest], self._plans(latest)), key=itemgetter(0))}

    def before(self, series_id: str, anchor: np.datetime64) -> list[tuple[dt.date, float, dict]]:
        """Per period, the series' latest plan issued at or before ``anchor`` (naive UTC)."""
        first, last = np.searchsorted(self._ids, series_id, side="left"), np.searchsorted(self._ids, series_id, side="right")
        rows = first + np.flatnonzero(self._issued[first:last] <= anchor)
        return self._plans(rows[_last_of_runs(self._ds[rows])])

    def _plans(self, rows: np.ndarray) -> list[tuple[dt.date, float, dict]]:
        """Rows as ``(period start, yhat, {level: (lower, upper)})``, in the order given."""
        columns = [self._values[c][rows].tolist() for c in ("yhat", "lo80", "hi80", "lo95", "hi95")]
        days = pd.DatetimeIndex(self._ds[rows]).date
        return [(ds, yhat, {80: (lo80, hi80), 95: (lo95, hi95)}) for ds, yhat, lo80, hi80, lo95, hi95 in zip(days, *columns)]


def _last_of_runs(*keys: np.ndarray) -> np.ndarray:
    """Which rows of sorted ``keys`` end a run of equal keys (the next row differs, or there is none)."""
    if not len(keys[0]):
        return np.zeros(0, dtype=bool)
    changes = np.zeros(len(keys[0]) - 1, dtype=bool)
    for key in keys:
        changes |= key[1:] != key[:-1]
    return np.append(changes, True)


def _actuals(points: pd.DataFrame, freq: str, end: pd.Timestamp) -> dict[str, dict[dt.date, float]]:
    """Each series' actual per period start, from its first point to ``end``; periods without a point are 0."""
    if points.empty:
        return {}
    wide = points.pivot(index="ds", columns="unique_id", values="y")
    wide = wide.reindex(pd.date_range(wide.index.min(), end, freq=PANDAS_FREQ[freq]))
    days = wide.index.date
    values = wide.to_numpy(dtype=float)
    started = np.maximum.accumulate(~np.isnan(values), axis=0)
    values = np.where(started, np.nan_to_num(values, nan=0.0), np.nan)
    actuals = {}
    for column, series_id in enumerate(wide.columns):
        first = int(np.argmax(started[:, column]))
        actuals[series_id] = dict(zip(days[first:], values[first:, column].tolist()))
    return actuals
