"""Actual vs. expected per period, each judged against a forecast issued ``lead`` periods before it."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from alerts.calibration import calibrated
from alerts.deviation import Deviation
from forecaster.data.series import next_period, period_span, period_starts, regular
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
    """

    def __init__(self, store: Store, settings: Settings, freq: str, series: list[str], start: pd.Timestamp, end: pd.Timestamp):
        self.freq = freq
        self.timezone = settings.timezone
        self.lead = settings.monitor.lead_for(freq)
        self.calendar = settings.monitor.calendar
        self.calibration_days = settings.monitor.calibration_days
        self.start = start
        self.earlier = self._earlier(store, series) if self.calibration_days else {}
        forecasts = store.forecasts.issued_before(series, start.date(), end.date())
        forecasts["cutoff"] = self._cutoff(forecasts["ds"])
        self.forecasts = {k: f.sort_values("issued_at") for k, f in forecasts.groupby("series_id")}
        points = store.orders.points(end=end.date(), series=series)
        self.actuals = {k: regular(p, self.freq, end) for k, p in points.groupby("unique_id")}
        self._cache: dict[tuple[str, dt.date | None], list[Deviation]] = {}
        self._days: dict[str, dict[dt.date, float]] = {}

    def _earlier(self, store: Store, series: list[str]) -> dict[str, pd.Series]:
        """Per series, the forecast that judged each period of the calibration window before ``start``."""
        days = pd.date_range(self.start - pd.Timedelta(days=self.calibration_days), self.start - pd.Timedelta(days=1))
        starts = period_starts(days, self.freq).unique()
        starts = starts[starts < self.start]
        cutoffs = dict(zip(starts.date, (t.to_pydatetime() for t in self._cutoff(pd.Series(starts)))))
        frame = store.forecasts.at_cutoffs(series, cutoffs)
        return {k: f.set_index("ds")["yhat"].sort_index() for k, f in frame.groupby("series_id")}

    def _cutoff(self, days: pd.Series) -> pd.Series:
        """Latest issue time (UTC) a forecast for each period may have: the local start ``lead`` periods earlier."""
        shifted = pd.Series([d - period_span(self.lead, self.freq) for d in days], index=days.index, dtype="datetime64[ns]")
        return shifted.dt.tz_localize(self.timezone, ambiguous=False, nonexistent="shift_forward").dt.tz_convert("UTC")

    def periods(self, series_id: str) -> list[pd.Timestamp]:
        """Periods of the series that have a usable forecast, oldest first."""
        return [pd.Timestamp(d.period_start) for d in self.history(series_id, None, None)]

    def history(self, series_id: str, until: pd.Timestamp | None, baseline: dt.date | None) -> list[Deviation]:
        """Deviations up to ``until`` (all when None), against pre-``baseline`` forecasts when given."""
        key = (series_id, baseline)
        if key not in self._cache:
            self._cache[key] = self._build(series_id, baseline)
        devs = self._cache[key]
        return devs if until is None else [d for d in devs if pd.Timestamp(d.period_start) <= until]

    def _build(self, series_id: str, baseline: dt.date | None) -> list[Deviation]:
        forecasts = self.forecasts.get(series_id)
        actual = self.actuals.get(series_id)
        if forecasts is None or actual is None:
            return []
        eligible = forecasts[forecasts["issued_at"] <= forecasts["cutoff"]]
        chosen = eligible.groupby("ds").tail(1).set_index("ds")
        if baseline is not None:
            anchor = self._cutoff(pd.Series([pd.Timestamp(baseline)])).iloc[0]
            chosen = eligible[eligible["issued_at"] <= anchor].groupby("ds").tail(1).set_index("ds").combine_first(chosen)
        devs = [self._deviation(series_id, ds, actual, yhat, {}) for ds, yhat in self.earlier.get(series_id, pd.Series(dtype=float)).items()]
        for ds, r in chosen.sort_index().iterrows():
            devs.append(self._deviation(series_id, ds, actual, r.yhat, {80: (r.lo80, r.hi80), 95: (r.lo95, r.hi95)}))
        devs = self.calendar.excuse([d for d in devs if d is not None], self._by_day(series_id), self.freq)
        devs = calibrated(devs, self.calibration_days, baseline)
        return [d for d in devs if d.period_start >= self.start.date()]

    def _deviation(self, series_id: str, ds: pd.Timestamp, actual: pd.Series, yhat: float, bounds: dict) -> Deviation | None:
        if ds not in actual.index:
            return None
        last_day = (next_period(ds, self.freq) - pd.Timedelta(days=1)).date()
        return Deviation(series_id, ds.date(), last_day, float(actual[ds]), float(yhat), bounds)

    def _by_day(self, series_id: str) -> dict[dt.date, float]:
        """The series' actuals by period start, for the calendar's closed-day test."""
        if series_id not in self._days:
            actual = self.actuals[series_id]
            self._days[series_id] = dict(zip(actual.index.date, actual.to_numpy(dtype=float)))
        return self._days[series_id]
