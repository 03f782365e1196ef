"""The daily schedule replayed over one series: weekly forecast vintages and the detectors judged on them.

Replay approximation: instead of one forecast per day, one fit per week, whose forecasts serve the
days 8 to 14 after its last training day (issued 7 to 13 days before them), so every day is judged
against a forecast issued at least ``lead`` (7) days before it, as the engine does with daily
vintages. An open incident is judged against the latest fit issued at least ``lead`` days before
its baseline, where that fit reaches (the engine's ``_Deviations``). A series with a drop injected
shares the fits of its unmodified twin up to the drop start; only later fits are redone.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import Sequence, Union

import numpy as np
import pandas as pd

from _detection_data import FOLLOW_DAYS, BenchSeries, Drop
from _detection_global import StoredFit
from alerts.calibration import calibrate
from alerts.deviation import Deviation
from alerts.incidents import IncidentPolicy, IncidentTracker, MemoryIncidentStore
from forecaster.forecasting import choose_model, forecast_one
from forecaster.trading_days import close_forecast, open_demand
from forecaster.settings import ForecastSettings, MonitorSettings

LEAD = MonitorSettings().lead_for("D")
HORIZON = ForecastSettings().horizon
HISTORY = ForecastSettings().history
LEVELS = (80, 95)
WARMUP_DAYS = 14 + 70  # deviations before the window: N-of-M, week-to-date and CUSUM context, and calibration_days of errors
DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class ModelFit:
    """Fits of the product's forecaster (``forecast_one``) with the engine's horizon, history and levels.

    ``model`` is a registered model name, or ``auto`` for the engine's backtest pick among the
    default candidates, made once per series on the history before the window.
    """

    model: str

    def for_series(self, series: BenchSeries, origin: pd.Timestamp) -> ModelFit:
        if self.model != "auto":
            return self
        cfg = ForecastSettings()
        y = open_demand(series.y[series.y.index <= origin].iloc[-cfg.history :], series.calendar, "D")
        horizon = min(cfg.horizon, max(1, len(y) // (2 * cfg.backtest_folds)))
        return ModelFit(choose_model(y, "D", "auto", cfg.candidates, horizon, cfg.backtest_folds, {})[0])

    def __call__(self, series: BenchSeries, origin: pd.Timestamp) -> pd.DataFrame:
        y = series.y[series.y.index <= origin].iloc[-HISTORY:]
        frame, _ = forecast_one(open_demand(y, series.calendar, "D"), "D", HORIZON, LEVELS, self.model, {})
        return close_forecast(frame, y, series.calendar, "D").set_index("ds")


@dataclass(frozen=True)
class ProphetFit:
    """Prophet as many users run it: default settings with a 95% band, fitted on the open days."""

    def for_series(self, series: BenchSeries, origin: pd.Timestamp) -> ProphetFit:
        return self

    def __call__(self, series: BenchSeries, origin: pd.Timestamp) -> pd.DataFrame:
        stan = logging.getLogger("cmdstanpy")
        stan.setLevel(logging.WARNING)
        if not stan.handlers:  # cmdstanpy installs its own INFO handler unless one is there
            stan.addHandler(logging.NullHandler())
        logging.getLogger("prophet").setLevel(logging.WARNING)
        from prophet import Prophet

        known = series.open & (series.y.index <= origin)
        history = pd.DataFrame({"ds": series.y.index[known], "y": series.y[known].to_numpy()})
        model = Prophet(interval_width=0.95).fit(history)
        future = pd.DataFrame({"ds": pd.date_range(origin + DAY, periods=HORIZON, freq="D")})
        out = model.predict(future)
        return pd.DataFrame(
            {"yhat": out["yhat"].to_numpy(), "yhat_lo_95": out["yhat_lower"].to_numpy(), "yhat_hi_95": out["yhat_upper"].to_numpy()},
            index=future["ds"],
        )


Fit = Union[ModelFit, ProphetFit, StoredFit]


class WeeklyVintages:
    """Forecasts issued once a week, fitted lazily; ``base`` lends its fits up to ``changed_from``.

    Without a ``fit`` it is only the schedule: which origin serves which day.
    """

    def __init__(self, series: BenchSeries, fit: Fit | None, base: WeeklyVintages | None = None, changed_from: pd.Timestamp | None = None):
        self.series = series
        self.fit = fit
        self.first_day = series.window[0] - WARMUP_DAYS * DAY
        self.first_origin = self.first_day - (LEAD + 1) * DAY
        self.base = base
        self.changed_from = changed_from
        self._frames: dict[pd.Timestamp, pd.DataFrame] = {}

    def origin(self, day: pd.Timestamp) -> pd.Timestamp:
        """Last training day of the latest fit issued at least ``LEAD`` days before ``day``."""
        weeks = ((day - self.first_origin).days - (LEAD + 1)) // 7
        return self.first_origin + 7 * weeks * DAY

    def frame(self, origin: pd.Timestamp) -> pd.DataFrame:
        if self.base is not None and self.changed_from is not None and origin < self.changed_from:
            return self.base.frame(origin)
        if origin not in self._frames:
            self._frames[origin] = self.fit(self.series, origin)
        return self._frames[origin]

    def forecast(self, day: pd.Timestamp, baseline: pd.Timestamp | None = None) -> pd.Series:
        """The forecast row judging ``day``; with ``baseline``, from before it where that fit reaches."""
        if baseline is not None and day >= baseline:
            anchored = self.origin(baseline)
            if day <= anchored + HORIZON * DAY:
                return self.frame(anchored).loc[day]
        return self.frame(self.origin(day)).loc[day]


def weekly_origins(series: BenchSeries) -> list[pd.Timestamp]:
    """Every origin the replay of ``series`` reads a vintage from: ``WeeklyVintages.origin`` of each day it feeds."""
    schedule = WeeklyVintages(series, fit=None)
    return sorted({schedule.origin(day) for day in pd.date_range(schedule.first_day, series.window[-1])})


@dataclass
class Trace:
    """What one detector said on one series: the scored (open) days, whether it was in alarm on each
    and whether it notified (a baseline alerts on every alarm day; salescast when an incident
    opens or escalates).

    ``expected``/``lower80``/``lower95`` are the usual forecasts of those days (nan when the
    detector has none), for the forecast-quality diagnostics.
    """

    detector: str
    forecaster: str
    dataset: str
    series_id: str
    drop: Drop | None
    judged: list[pd.Timestamp] = field(default_factory=list)
    alarm: list[bool] = field(default_factory=list)
    notified: list[bool] = field(default_factory=list)
    actual: list[float] = field(default_factory=list)
    expected: list[float] = field(default_factory=list)
    lower80: list[float] = field(default_factory=list)
    lower95: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, day: pd.Timestamp, alarm: bool, actual: float, row: pd.Series | None, notified: bool | None = None) -> None:
        """Record a scored day; ``notified`` (default: ``alarm``) says whether people were told something new."""
        self.judged.append(day)
        self.alarm.append(alarm)
        self.notified.append(alarm if notified is None else notified)
        self.actual.append(actual)
        get = (lambda k: float(row[k]) if k in row.index else np.nan) if row is not None else (lambda k: np.nan)
        self.expected.append(get("yhat"))
        self.lower80.append(get("yhat_lo_80"))
        self.lower95.append(get("yhat_lo_95"))


def judged_days(series: BenchSeries, drop: Drop | None) -> list[pd.Timestamp]:
    """Open days of the window; with a drop, up to ``FOLLOW_DAYS`` days after its start."""
    days = series.window[series.open.reindex(series.window).to_numpy()]
    if drop is not None:
        days = days[days < drop.start + FOLLOW_DAYS * DAY]
    return list(days)


def _stop(drop: Drop | None, day: pd.Timestamp, notified: bool) -> bool:
    """An injected drop is followed until its first notification: nothing after it is scored."""
    return drop is not None and notified and day >= drop.start


class Detector(ABC):
    """Judges a series day by day; ``forecaster`` names the vintages it needs ("" for none)."""

    name: str
    forecaster: str

    @abstractmethod
    def trace(self, series: BenchSeries, vintages: WeeklyVintages | None, drop: Drop | None) -> Trace:
        """The detector's alarm state on each scored day of ``series`` (with ``drop`` injected, if any)."""


@dataclass(frozen=True)
class PolicyDetector(Detector):
    """salescast's monitor as the engine runs it: every rule judges each day, one incident per series.

    Every day is fed, closed ones too: the series' calendar (``alerts.calendar``) excuses what it
    recognizes, as in the engine. The detector is in alarm on a day while the incident is open.
    """

    name: str
    forecaster: str
    rules: Sequence
    policy: IncidentPolicy = IncidentPolicy()
    calibration_days: int = 0  # monitor.calibration_days: bands from the errors of this many days before

    def trace(self, series: BenchSeries, vintages: WeeklyVintages | None, drop: Drop | None) -> Trace:
        tracker = IncidentTracker(self.policy, MemoryIncidentStore())
        by_day = dict(zip(series.y.index.date, series.y.to_numpy(dtype=float)))
        excused: dict[pd.Timestamp, str | None] = {}
        plain: dict[tuple[pd.Timestamp, pd.Timestamp | None], Deviation] = {}
        cache: dict[tuple[pd.Timestamp, pd.Timestamp | None], Deviation] = {}

        def model_deviation(day: pd.Timestamp, baseline: pd.Timestamp | None) -> Deviation:
            if (day, baseline) not in plain:
                row = vintages.forecast(day, baseline)
                bounds = {lv: (float(row[f"yhat_lo_{lv}"]), float(row[f"yhat_hi_{lv}"])) for lv in LEVELS}
                dev = Deviation(series.id, day.date(), day.date(), float(series.y[day]), float(row["yhat"]), bounds)
                if day not in excused:
                    excused[day] = series.calendar.excuse([dev], by_day, "D")[0].excused
                plain[(day, baseline)] = replace(dev, excused=excused[day])
            return plain[(day, baseline)]

        def deviation(day: pd.Timestamp, baseline: pd.Timestamp | None) -> Deviation:
            if (day, baseline) not in cache:
                dev = model_deviation(day, baseline)
                if self.calibration_days:
                    earliest = max(vintages.first_day, day - self.calibration_days * DAY)
                    earlier = [model_deviation(d, baseline) for d in pd.date_range(earliest, day - DAY)]
                    dev = calibrate(dev, earlier, self.calibration_days, baseline.date() if baseline is not None else None)
                cache[(day, baseline)] = dev
            return cache[(day, baseline)]

        scored = judged_days(series, drop)
        last = scored[-1] if scored else vintages.first_day
        days = [d for d in series.y.index if vintages.first_day <= d <= last]
        out = Trace(self.name, self.forecaster, series.dataset, series.id, drop)
        since = lambda a, b: (b - a).days  # noqa: E731
        news = False  # an incident opened or escalated since the last scored day
        for i, day in enumerate(days):
            if day < series.window[0]:
                continue
            incident = tracker.current(series.id)
            baseline = pd.Timestamp(incident.baseline_from) if incident is not None and incident.status == "open" else None
            history = [deviation(d, baseline) for d in days[: i + 1]]
            event = tracker.observe(series.id, day.date(), [rule.evaluate(history) for rule in self.rules], since)
            news = news or (event is not None and event.kind in ("opened", "escalated"))
            if day in scored:
                incident = tracker.current(series.id)
                alarm = incident is not None and incident.status == "open"
                out.add(day, alarm, float(series.y[day]), vintages.forecast(day), news)
                if _stop(drop, day, news):
                    break
                news = False
        return out


@dataclass(frozen=True)
class ProphetBandDetector(Detector):
    """Baseline: a day is an alarm when the actual is below Prophet's 95% lower bound."""

    name: str = "Prophet 95% band"
    forecaster: str = "prophet"

    def trace(self, series: BenchSeries, vintages: WeeklyVintages | None, drop: Drop | None) -> Trace:
        out = Trace(self.name, self.forecaster, series.dataset, series.id, drop)
        for day in judged_days(series, drop):
            row = vintages.forecast(day)
            alarm = bool(series.y[day] < row["yhat_lo_95"])
            out.add(day, alarm, float(series.y[day]), row)
            if _stop(drop, day, alarm):
                break
        return out


@dataclass(frozen=True)
class SameWeekdayDetector(Detector):
    """Baseline: a day is an alarm when it is below ``ratio`` of the same weekday's mean over ``weeks`` weeks.

    Only open days of that weekday enter the mean; with fewer than half of them open, the day is
    not judged.
    """

    name: str = "8-week same weekday < 70%"
    forecaster: str = ""
    weeks: int = 8
    ratio: float = 0.7

    def trace(self, series: BenchSeries, vintages: WeeklyVintages | None, drop: Drop | None) -> Trace:
        out = Trace(self.name, self.forecaster, series.dataset, series.id, drop)
        for day in judged_days(series, drop):
            past = [day - 7 * k * DAY for k in range(1, self.weeks + 1)]
            values = [series.y[d] for d in past if d in series.y.index and series.open[d]]
            if 2 * len(values) < self.weeks:
                continue
            alarm = bool(series.y[day] < self.ratio * float(np.mean(values)))
            out.add(day, alarm, float(series.y[day]), None)
            if _stop(drop, day, alarm):
                break
        return out


def run_group(fit: Fit | None, detectors: Sequence[Detector], series: BenchSeries, drops: Sequence[Drop]) -> list[Trace]:
    """Every detector of one forecaster on a series and on each of its drops, sharing the fits.

    Each trace's ``seconds`` is the group's time (fits included) divided among its detectors.
    """
    started = time.perf_counter()
    base = None
    if fit is not None:
        base = WeeklyVintages(series, fit)
        fit = base.fit = fit.for_series(series, base.first_origin)
    traces = [d.trace(series, base, None) for d in detectors]
    for drop in drops:
        injected = drop.apply(series)
        vintages = WeeklyVintages(injected, fit, base, drop.start) if fit is not None else None
        traces += [d.trace(injected, vintages, drop) for d in detectors]
    share = (time.perf_counter() - started) / len(detectors)
    for trace in traces:
        trace.seconds = share / (1 + len(drops))
    return traces
