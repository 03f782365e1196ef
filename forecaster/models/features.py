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
    long_closure: int  # closed periods in a row that make a closure (a refurbishment), not a weekly rest day


WINDOWS = {
    "D": Windows(short=7, medium=28, year=364, week=7, smooth=7, long_closure=3),
    "W": Windows(short=4, medium=13, year=52, week=0, smooth=3, long_closure=1),
    "M": Windows(short=3, medium=6, year=12, week=0, smooth=1, long_closure=1),
}
SAME_WEEKDAY_WEEKS = 8
# Caps of the distance features, in periods: beyond them an event is "not near".
NEAR_CLOSED, NEAR_REOPENED, NEAR_EVENT = 30, 90, 14


def feature_names(panel: Panel) -> list[str]:
    """Column names of the matrices ``SeriesFeatures.matrix`` returns, in order."""
    calendar = {"D": ["dayofweek", "day", "month", "weekofyear", "dayofyear"], "W": ["weekofyear", "month"], "M": ["month"]}[panel.freq]
    levels = ["level_short", "level_medium", "level_typical", *(["same_weekday"] if WINDOWS[panel.freq].week else []), "last", "last_year"]
    names = ["step", *calendar, "since_closed", "until_closed", "since_long_closure", "until_long_closure", *levels, "profile"]
    for name in panel.regressors:
        names += [name, f"{name}_before", f"{name}_after", f"{name}_run", f"{name}_since", f"{name}_until", f"{name}_profile"]
    return names


def _rolling_mean(y: np.ndarray, window: int, center: bool = False) -> np.ndarray:
    return pd.Series(y).rolling(window, min_periods=1, center=center).mean().to_numpy()


def _rolling_sum(values: np.ndarray, window: int) -> np.ndarray:
    """Sum of the last ``window`` values up to each position along the first axis (fewer at the start)."""
    sums = np.cumsum(np.concatenate([np.zeros((1, *values.shape[1:])), values]), axis=0)
    return sums[1:] - sums[np.maximum(np.arange(1, len(values) + 1) - window, 0)]


def _profile(y: np.ndarray, state: np.ndarray, cycle: int, periods: int) -> np.ndarray:
    """Mean of y over the last ``periods`` periods at the same place in the cycle (weekday) where ``state`` held.

    Periods without a value (closed) do not count; nan where no period qualifies.
    """
    seen = np.isfinite(y) & state
    rows = -(-len(y) // cycle)
    pad = rows * cycle - len(y)

    def by_phase(values: np.ndarray) -> np.ndarray:
        return np.concatenate([values, np.zeros(pad)]).reshape(rows, cycle)

    total = _rolling_sum(by_phase(np.where(seen, y, 0.0)), periods).ravel()[: len(y)]
    count = _rolling_sum(by_phase(seen.astype(float)), periods).ravel()[: len(y)]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _run_length(active: np.ndarray) -> np.ndarray:
    """How many periods in a row ``active`` has held up to and including each period (0 where it does not)."""
    run = np.zeros(len(active))
    for i in np.flatnonzero(active):
        run[i] = run[i - 1] + 1 if i and active[i - 1] else 1
    return run


def _long_runs(active: np.ndarray, min_run: int) -> np.ndarray:
    """The periods of ``active`` that belong to a run of at least ``min_run`` periods in a row."""
    run = _run_length(active)
    ends = np.flatnonzero(active & ~np.append(active[1:], False))
    out = np.zeros(len(active), dtype=bool)
    for end in ends[run[ends] >= min_run]:
        out[end - int(run[end]) + 1 : end + 1] = True
    return out


def _distance(events: np.ndarray, backwards: bool, cap: int) -> np.ndarray:
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
    """Precomputed per-period arrays of one series, to cut examples from by index.

    Open flags and regressors are known ``horizon`` periods past an origin and no further: a
    distance to the next event that reaches beyond is "not near", in training as when forecasting.
    Profiles are the series' mean over the last year on the same weekday in the same state (a
    regressor on or off; all regressors' states at once for ``profile``), read at the origin.
    """

    def __init__(self, s: SeriesArrays, freq: str):
        w = WINDOWS[freq]
        self.w = w
        y = s.y
        scale = _rolling_mean(y, w.year)
        fallback = np.nanmean(y[: s.n_history]) if np.isfinite(y[: s.n_history]).any() else 1.0
        self.scale = np.where(np.isfinite(scale) & (scale > 0), scale, fallback if fallback > 0 else 1.0)
        self.levels = np.column_stack([
            _rolling_mean(y, w.short), _rolling_mean(y, w.medium), pd.Series(y).rolling(w.medium, min_periods=1).median().to_numpy(),
        ])
        self.last = pd.Series(y).ffill().to_numpy()
        self.same_weekday = _profile(y, np.ones(len(y), dtype=bool), w.week, SAME_WEEKDAY_WEEKS) if w.week else None
        self.year_ago = _shifted(_rolling_mean(y, w.smooth, center=True), -w.year)
        self.calendar = _calendar(s.dates, freq)
        closed = ~s.is_open
        self.closures = _distance(closed, True, NEAR_CLOSED), _distance(closed, False, NEAR_CLOSED)
        long_closed = _long_runs(closed, w.long_closure)
        self.long_closures = _distance(long_closed, True, NEAR_REOPENED), _distance(long_closed, False, NEAR_CLOSED)
        cycle, periods = w.week or 1, w.year // (w.week or 1)
        active = s.regressors > 0
        self.regressors = []
        for r, on in zip(s.regressors.T, active.T):
            self.regressors.append(dict(
                value=r, before=_shifted(r, -1), after=_shifted(r, 1), run=_run_length(on), active=on,
                since=_distance(on, True, NEAR_EVENT), until=_distance(on, False, NEAR_EVENT),
                on=_profile(y, on, cycle, periods), off=_profile(y, ~on, cycle, periods),
            ))
        self.state = np.unique(active, axis=0, return_inverse=True)[1].ravel()  # one number per combination of on/off
        self.profiles = {state: _profile(y, self.state == state, cycle, periods) for state in np.unique(self.state)}

    def matrix(self, origins: np.ndarray, steps: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        """Feature rows for (origin, step) pairs, and the scale at each origin."""
        t, o, w = origins + steps, origins, self.w
        known_until = o + horizon
        scale = self.scale[o]

        def ahead(distance: np.ndarray, cap: int) -> np.ndarray:
            return np.where(t + distance[t] <= known_until, distance[t], cap)

        cycle = w.week or 1
        anchor = t - cycle * np.ceil(steps / cycle).astype(int)  # the last period at t's place in the cycle up to o
        levels = [self.levels[o] / scale[:, None]]
        if w.week:
            levels.append((self.same_weekday[anchor] / scale)[:, None])
        # The smoothed value a year before t is known only if its whole window ends by the origin.
        year_ago = np.where(t - w.year + w.smooth // 2 <= o, self.year_ago[t] / scale, np.nan)
        profile = np.full(len(t), np.nan)
        for state, values in self.profiles.items():
            rows = self.state[t] == state
            profile[rows] = values[anchor[rows]]
        columns = [
            steps, *self.calendar[t].T,
            self.closures[0][t], ahead(self.closures[1], NEAR_CLOSED),
            self.long_closures[0][t], ahead(self.long_closures[1], NEAR_CLOSED),
            *np.hstack(levels).T, self.last[o] / scale, year_ago, profile / scale,
        ]
        for r in self.regressors:
            columns += [
                r["value"][t], r["before"][t], np.where(t + 1 <= known_until, r["after"][t], np.nan), r["run"][t],
                r["since"][t], ahead(r["until"], NEAR_EVENT), np.where(r["active"][t], r["on"][anchor], r["off"][anchor]) / scale,
            ]
        return np.column_stack([np.asarray(c, dtype=float) for c in columns]), scale


def training_examples(panel: Panel, stride: int, max_rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows and scaled targets from past origins every ``stride`` periods before each series' end.

    Only open periods with an observed value are targets. When there are more than ``max_rows``
    examples, a random sample of that size (fixed ``seed``) is kept; the sample is drawn before
    any feature is computed, so memory grows with ``max_rows``, not with the number of series.
    """
    # Counted now, listed again per series below: every series' pairs at once would outweigh the sample.
    counts = np.array([len(_example_pairs(s, panel.freq, panel.horizon, stride)[0]) for s in panel.series], dtype=int)
    total = int(counts.sum())
    if not total:
        return np.empty((0, len(feature_names(panel)))), np.empty(0)
    chosen = np.random.default_rng(seed).choice(total, size=max_rows, replace=False) if total > max_rows else np.arange(total)
    wanted = np.sort(chosen)
    starts = np.concatenate([[0], np.cumsum(counts)])
    blocks, targets = [], []
    for s, first, end in zip(panel.series, starts[:-1], starts[1:]):
        mine = wanted[np.searchsorted(wanted, first) : np.searchsorted(wanted, end)] - first
        if not len(mine):
            continue
        origins, steps = _example_pairs(s, panel.freq, panel.horizon, stride)
        o, h = origins[mine], steps[mine]
        x, scale = SeriesFeatures(s, panel.freq).matrix(o, h, panel.horizon)
        blocks.append(x)
        targets.append(s.y[o + h] / scale)
    order = np.searchsorted(wanted, chosen)  # the rows in the sample's order, as if drawn from all examples built
    return np.vstack(blocks)[order], np.concatenate(targets)[order]


def _example_pairs(s: SeriesArrays, freq: str, horizon: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """The (origin, step) pairs of one series' training examples: origins every ``stride`` periods back, open targets."""
    steps = np.arange(1, horizon + 1)
    origins = np.arange(s.n_history - 1 - stride, WINDOWS[freq].short - 1, -stride)
    o, h = np.repeat(origins, len(steps)), np.tile(steps, len(origins))
    keep = (o + h < s.n_history) & np.isfinite(s.y[np.minimum(o + h, len(s.y) - 1)])
    return o[keep], h[keep]


def forecast_rows(panel: Panel) -> tuple[list[SeriesArrays], np.ndarray, np.ndarray]:
    """Feature rows for every series' horizon from its last observed period, with the scale of each row."""
    steps = np.arange(1, panel.horizon + 1)
    blocks, scales = [], []
    for s in panel.series:
        x, scale = SeriesFeatures(s, panel.freq).matrix(np.full(len(steps), s.n_history - 1), steps, panel.horizon)
        blocks.append(x)
        scales.append(scale)
    return panel.series, np.vstack(blocks), np.concatenate(scales)
