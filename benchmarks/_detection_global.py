"""Weekly vintages of a global model (``gbm``), fitted once per origin across a dataset's series.

A global model cannot be refitted one series at a time, so its vintages are made before the
per-series replay: for each weekly origin, the model is fitted on every unmodified series of the
dataset (their last ``HISTORY`` days, with the known-future regressors and open days) and its
conformal intervals are calibrated on a backtest of the same panel, as ``salescast forecast
--model gbm`` does (with 2 folds instead of its default 3, to keep 30 weekly refits
affordable). The same fit then forecasts each series with a drop injected from its start on:
the drifting series' own history feeds the model's level features, while the fit is the
unmodified panel's (one drifting series among many barely moves a global fit).
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Sequence

import pandas as pd

from _detection_data import BenchSeries, Drop
from forecaster.backtesting import global_rows
from forecaster.errors import ModelError
from forecaster.intervals import ConformalIntervals
from forecaster.models import create
from forecaster.models.panel import OPEN, build_panel

FOLDS = 2  # backtest folds per weekly fit (the forecast command's default is 3)
Key = tuple[str, pd.Timestamp]  # (series id, origin)


class TooFewSeries(ValueError):
    """A data set too small for a global model's backtest to calibrate its intervals."""


@dataclass(frozen=True)
class StoredFit:
    """A Fit whose forecasts were made beforehand: ``frames[(series id, origin)]``, indexed by day."""

    model: str
    frames: dict[Key, pd.DataFrame]

    def for_series(self, series: BenchSeries, origin: pd.Timestamp) -> StoredFit:
        return self

    def __call__(self, series: BenchSeries, origin: pd.Timestamp) -> pd.DataFrame:
        return self.frames[(series.id, origin)]

    def only(self, series_id: str, drops: Sequence[Drop]) -> StoredFit:
        """The frames of one series and of its copies with ``drops`` injected."""
        ids = {series_id, *(d.copy_id(series_id) for d in drops)}
        return StoredFit(self.model, {k: v for k, v in self.frames.items() if k[0] in ids})


def _long(series: Sequence[BenchSeries], first: pd.Timestamp, last: pd.Timestamp) -> pd.DataFrame:
    """``unique_id, ds, y, regressors..., open`` of every series over ``first..last``."""
    frames = []
    for s in series:
        days = s.y.index[(s.y.index >= first) & (s.y.index <= last)]
        frame = pd.DataFrame({"unique_id": s.id, "ds": days, "y": s.y.reindex(days).to_numpy()})
        if s.regressors is not None:
            frame = frame.join(s.regressors.reindex(days).reset_index(drop=True))
        frames.append(frame.assign(**{OPEN: s.open.reindex(days).to_numpy(dtype=float)}))
    return pd.concat(frames, ignore_index=True)


def vintages_at(model: str, series: Sequence[BenchSeries], drops: dict[str, Sequence[Drop]], origin: pd.Timestamp, history: int, horizon: int, levels: Sequence[int], params: dict | None = None) -> dict[Key, pd.DataFrame]:
    """One origin: fit on the unmodified ``series``, forecast them and every drifting copy begun by then.

    The horizon stops at the data's last day (the known future ends there); ``params`` are the model's.
    """
    params = params or {}
    horizon = min(horizon, min((s.y.index[-1] - origin).days for s in series))
    first = origin - pd.Timedelta(days=history - 1)
    ahead = (origin + pd.Timedelta(days=1), origin + pd.Timedelta(days=horizon))
    clean = _long(series, first, origin)
    try:
        calibration = ConformalIntervals.fit(global_rows(clean, "D", model, horizon, FOLDS, {model: params}), levels)
    except ModelError as exc:
        raise TooFewSeries(f"{model} fitted at {origin.date()} on {len(series)} {series[0].dataset} series: {exc}; replay it on more series") from exc
    future = _long(series, *ahead).drop(columns="y")
    fitted = create(model, **params).fit(build_panel(clean, "D", horizon, future))
    drifting = [d.apply(s) for s in series for d in drops.get(s.id, ()) if d.start <= origin]
    out: dict[Key, pd.DataFrame] = {}
    for members in (list(series), drifting):
        if not members:
            continue
        ids = [s.id for s in members]
        long, ahead_rows = _long(members, first, origin), _long(members, *ahead).drop(columns="y")
        frame = calibration.apply(fitted.predict(build_panel(long, "D", horizon, ahead_rows)))
        for sid, rows in frame.groupby("unique_id", sort=False):
            out[(sid, origin)] = rows.drop(columns=["unique_id", "closed"]).set_index("ds")
        missing = set(ids) - {k[0] for k in out}
        if missing:
            raise RuntimeError(f"{model} at {origin.date()}: no forecast for {sorted(missing)}")
    return out


def _one_thread() -> None:
    """A worker's model uses one OpenMP thread: two workers on two cores must not oversubscribe them."""
    import sklearn.ensemble  # noqa: F401  (loads the OpenMP runtime, so that the limit reaches it)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def global_fit(model: str, series: Sequence[BenchSeries], drops: dict[str, Sequence[Drop]], origins: Sequence[pd.Timestamp], history: int, horizon: int, levels: Sequence[int], workers: int) -> StoredFit:
    """The vintages of every origin, fitted in parallel (one origin per task)."""
    frames: dict[Key, pd.DataFrame] = {}
    with ProcessPoolExecutor(max_workers=workers, initializer=_one_thread) as pool:
        for part in pool.map(vintages_at, *zip(*[(model, series, drops, o, history, horizon, levels) for o in origins])):
            frames.update(part)
    return StoredFit(model, frames)
