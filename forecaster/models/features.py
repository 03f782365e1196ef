"""Features for a global model, each known at the forecast origin: no value from after it leaks in.

An example is a (series, origin o, step h) triple predicting the period t = o + h. Calendar,
regressors and open/closed flags describe t (they are known in advance); every level feature is
computed from demand up to o only and divided by the series' scale at o, so that big and small
series share one model. The target is demand at t divided by the same scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecaster.models.panel import Panel, SeriesArrays


@dataclass(frozen=True)
class Windows:
    """Window lengths in periods for one frequency."""

    short: int
    medium: int
    year: int
    week: int  # the weekly cycle of daily data; 0 when the frequency has none
    smooth: int  # centred window around the same period one year earlier


WINDOWS = {
    "D": Windows(short=7, medium=28, year=364, week=7, smooth=7),
    "W": Windows(short=4, medium=13, year=52, week=0, smooth=3),
    "M": Windows(short=3, medium=6, year=12, week=0, smooth=1),
}
SAME_WEEKDAY_WEEKS = 8


def feature_names(panel: Panel) -> list[str]:
    """Column names of the matrices ``examples`` returns, in order."""
    calendar = {"D": ["dayofweek", "day", "month", "weekofyear", "dayofyear"], "W": ["weekofyear", "month"], "M": ["month"]}[panel.freq]
    names = ["step", *calendar, "since_closed", "until_closed", "level_short", "level_medium", "last", "last_year"]
    if WINDOWS[panel.freq].week:
        names.insert(names.index("last"), "same_weekday")
    for name in panel.regressors:
        names += [name, f"{name}_before", f"{name}_after", f"{name}_run", f"{name}_level"]
    return names


def _rolling_mean(y: np.ndarray, window: int, center: bool = False) -> np.ndarray:
    return pd.Series(y).rolling(window, min_periods=1, center=center).mean().to_numpy()


def _same_weekday_mean(y: np.ndarray, week: int) -> np.ndarray:
    """Mean of y at d, d - week, d - 2 week, ... over the last SAME_WEEKDAY_WEEKS weeks (nan-aware)."""
    total, count = np.zeros(len(y)), np.zeros(len(y))
    for j in range(min(SAME_WEEKDAY_WEEKS, (len(y) - 1) // week + 1)):
        shifted = np.full(len(y), np.nan)
        shifted[j * week :] = y[: len(y) - j * week]
        seen = ~np.isnan(shifted)
        total[seen] += shifted[seen]
        count += seen
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _rolling_sum(values: np.ndarray, window: int) -> np.ndarray:
    return pd.Series(values).rolling(window, min_periods=1).sum().to_numpy()


def _run_length(active: np.ndarray) -> np.ndarray:
    """How many periods in a row ``active`` has held up to and including each period (0 where it does not)."""
    run = np.zeros(len(active))
    for i in np.flatnonzero(active):
        run[i] = run[i - 1] + 1 if i and active[i - 1] else 1
    return run


def _distance(events: np.ndarray, backwards: bool, cap: int = 30) -> np.ndarray:
    """Periods since the last (or until the next) event, excluding the period itself; ``cap`` when none is near."""
    index = np.arange(len(events))
    marks = np.where(events, index, -10**9 if backwards else 10**9).astype(float)
    if backwards:
        nearest = np.maximum.accumulate(np.concatenate([[-10**9], marks[:-1]]))
        return np.minimum(index - nearest, cap)
    nearest = np.minimum.accumulate(np.concatenate([marks[1:], [10**9]])[::-1])[::-1]
    return np.minimum(nearest - index, cap)


def _calendar(dates: pd.DatetimeIndex, freq: str) -> np.ndarray:
    iso = dates.isocalendar()
    if freq == "D":
        columns = [dates.dayofweek, dates.day, dates.month, iso.week.to_numpy(), dates.dayofyear]
    elif freq == "W":
        columns = [iso.week.to_numpy(), dates.month]
    else:
        columns = [dates.month]
    return np.column_stack([np.asarray(c, dtype=float) for c in columns])


def _shifted(values: np.ndarray, shift: int) -> np.ndarray:
    """values[t + shift] at each t, nan past either end (works on 1-d and 2-d arrays)."""
    out = np.full(values.shape, np.nan)
    if abs(shift) >= len(values):
        return out
    if shift > 0:
        out[:-shift] = values[shift:]
    else:
        out[-shift:] = values[: len(values) + shift]
    return out


class SeriesFeatures:
    """Precomputed per-period arrays of one series, to cut examples from by index."""

    def __init__(self, s: SeriesArrays, freq: str):
        w = WINDOWS[freq]
        self.s, self.w = s, w
        y = s.y
        scale = _rolling_mean(y, w.year)
        fallback = np.nanmean(y[: s.n_history]) if np.isfinite(y[: s.n_history]).any() else 1.0
        scale = np.where(np.isfinite(scale) & (scale > 0), scale, fallback if fallback > 0 else 1.0)
        self.scale = scale
        self.short = _rolling_mean(y, w.short)
        self.medium = _rolling_mean(y, w.medium)
        self.last = pd.Series(y).ffill().to_numpy()
        self.same_weekday = _same_weekday_mean(y, w.week) if w.week else None
        self.year_ago = _shifted(_rolling_mean(y, w.smooth, center=True), -w.year)
        self.calendar = _calendar(s.dates, freq)
        self.context = np.column_stack([_distance(~s.is_open, backwards=True), _distance(~s.is_open, backwards=False)])
        blocks = []
        for r in s.regressors.T:
            active = r > 0
            seen = np.isfinite(y)
            # Mean demand over the last year on periods where the regressor was active, per scale.
            active_level = _rolling_sum(np.where(active & seen, y, 0.0), w.year) / np.maximum(_rolling_sum((active & seen).astype(float), w.year), 1)
            blocks.append(np.column_stack([r, _shifted(r, -1), _shifted(r, 1), _run_length(active), active_level]))
        self.regressors = np.hstack(blocks) if blocks else np.zeros((len(y), 0))
        self.level_columns = [5 * j + 4 for j in range(len(blocks))]

    def matrix(self, origins: np.ndarray, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Feature rows for (origin, step) pairs, and the scale at each origin."""
        t, o = origins + steps, origins
        scale = self.scale[o]
        w = self.w
        levels = [self.short[o] / scale, self.medium[o] / scale]
        if w.week:
            anchor = t - w.week * np.ceil(steps / w.week).astype(int)
            levels.append(self.same_weekday[anchor] / scale)
        # The smoothed value a year before t is known only if its whole window ends by the origin.
        known = t - w.year + w.smooth // 2 <= o
        year_ago = np.where(known, self.year_ago[t] / scale, np.nan)
        columns = [
            steps[:, None].astype(float),
            self.calendar[t],
            self.context[t],
            np.column_stack([*levels, self.last[o] / scale, year_ago]),
            self.regressors[t],
        ]
        x = np.hstack(columns)
        if self.level_columns:
            # Per-regressor levels describe the history up to the origin, not the target period.
            first = x.shape[1] - self.regressors.shape[1]
            for column in self.level_columns:
                x[:, first + column] = self.regressors[o, column] / scale
        return x, scale


def training_examples(panel: Panel, stride: int, max_rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows and scaled targets from past origins every ``stride`` periods before each series' end.

    Only open periods with an observed value are targets. When there are more than ``max_rows``
    examples, a random sample of that size (fixed ``seed``) is kept.
    """
    blocks, targets = [], []
    steps_all = np.arange(1, panel.horizon + 1)
    for s in panel.series:
        features = SeriesFeatures(s, panel.freq)
        last_origin = s.n_history - 1
        origins = np.arange(last_origin - stride, WINDOWS[panel.freq].short - 1, -stride)
        if not len(origins):
            continue
        o = np.repeat(origins, len(steps_all))
        h = np.tile(steps_all, len(origins))
        keep = (o + h < s.n_history) & np.isfinite(s.y[np.minimum(o + h, len(s.y) - 1)])
        o, h = o[keep], h[keep]
        if not len(o):
            continue
        x, scale = features.matrix(o, h)
        blocks.append(x)
        targets.append(s.y[o + h] / scale)
    if not blocks:
        return np.empty((0, len(feature_names(panel)))), np.empty(0)
    x, y = np.vstack(blocks), np.concatenate(targets)
    if len(y) > max_rows:
        chosen = np.random.default_rng(seed).choice(len(y), size=max_rows, replace=False)
        x, y = x[chosen], y[chosen]
    return x, y


def forecast_rows(panel: Panel) -> tuple[list[SeriesArrays], np.ndarray, np.ndarray]:
    """Feature rows for every series' horizon from its last observed period, with the scale of each row."""
    steps = np.arange(1, panel.horizon + 1)
    blocks, scales = [], []
    for s in panel.series:
        x, scale = SeriesFeatures(s, panel.freq).matrix(np.full(len(steps), s.n_history - 1), steps)
        blocks.append(x)
        scales.append(scale)
    return panel.series, np.vstack(blocks), np.concatenate(scales)
