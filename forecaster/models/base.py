"""The Model protocol: validated public ``fit``/``predict`` over private ``_fit``/``_predict`` hooks."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from forecaster.errors import ModelError
from forecaster.models.spikes import without_spikes

PANDAS_FREQ: dict[str, str] = {"D": "D", "W": "W-MON", "M": "MS"}
SEASON_LENGTH: dict[str, int] = {"D": 7, "W": 52, "M": 12}

# Errors that numerical libraries (numpy, statsmodels, prophet/cmdstanpy) raise on data they cannot fit.
NUMERICAL_ERRORS = (ValueError, ArithmeticError, RuntimeError)


def validate_series(y: pd.Series, freq: str) -> pd.Series:
    """Return ``y`` as floats, or raise ModelError saying why it is not a regular series at ``freq``."""
    if freq not in PANDAS_FREQ:
        raise ModelError(f"unknown frequency {freq!r}: use one of {', '.join(PANDAS_FREQ)}")
    if not isinstance(y, pd.Series):
        raise ModelError(f"expected a pandas Series, got {type(y).__name__}")
    if y.empty:
        raise ModelError("the series is empty")
    if not isinstance(y.index, pd.DatetimeIndex):
        raise ModelError(f"the series index must be a DatetimeIndex, got {type(y.index).__name__}")
    if not pd.api.types.is_numeric_dtype(y.dtype) or pd.api.types.is_bool_dtype(y.dtype):
        raise ModelError(f"the series values must be numeric, got dtype {y.dtype}")
    values = y.astype(float)
    bad = ~np.isfinite(values.to_numpy())
    if bad.any():
        raise ModelError(
            f"the series has {int(bad.sum())} missing or infinite value(s), first at {y.index[bad.argmax()].date()}"
        )
    offset = to_offset(PANDAS_FREQ[freq])
    start = y.index[0]
    if start != start.normalize() or not offset.is_on_offset(start):
        raise ModelError(
            f"the series starts at {start}, which is not a period start for freq {freq!r} ({offset.freqstr})"
        )
    expected = pd.date_range(start, periods=len(y), freq=offset)
    mismatch = np.flatnonzero(expected != y.index)
    if mismatch.size:
        i = int(mismatch[0])
        raise ModelError(
            f"the series index is not regular at freq {freq!r} ({offset.freqstr}): "
            f"position {i} is {y.index[i]}, expected {expected[i]} (sort it and fill gaps first)"
        )
    return values


class Model(ABC):
    """A forecasting model for one regular series of period-start dates.

    Models that set ``uses_regressors`` learn from known-future inputs (promotions, holidays)
    passed to ``fit`` over the history and to ``predict`` over the horizon; the others ignore them.
    """

    name: str
    cleans_spikes = False  # models that extrapolate recent values fit on the history without its isolated spikes
    min_observations = 1  # the shortest history the model can fit
    uses_regressors = False

    def __init__(self, nonnegative: bool = True) -> None:
        self.nonnegative = nonnegative
        self._index: pd.DatetimeIndex | None = None
        self._freq: str | None = None
        self._regressors: pd.DataFrame | None = None  # over the history, during fit
        self._future_regressors: pd.DataFrame | None = None  # over the horizon, during predict

    def fit(self, y: pd.Series, freq: str, regressors: pd.DataFrame | None = None) -> Model:
        """Fit on ``y`` (regular at ``freq``: "D", "W" or "M") and ``regressors`` (one row per period of ``y``); raise ModelError if it cannot."""
        values = validate_series(y, freq)
        if len(values) < self.min_observations:
            raise ModelError(f"{self.name}: needs at least {self.min_observations} observations, got {len(values)}")
        self._index, self._freq = None, None
        self._regressors = _informative(_checked(regressors, values.index, self.name, "history")) if self.uses_regressors and regressors is not None else None
        if self.cleans_spikes:
            # With regressors, a period is compared only with neighbours in the same state (promotion days with promotion days).
            state = None if self._regressors is None else np.unique(self._regressors.to_numpy() > 0, axis=0, return_inverse=True)[1].ravel()
            values = pd.Series(without_spikes(values.to_numpy(), freq, state), index=values.index)
        try:
            self._fit(values, freq)
        except NUMERICAL_ERRORS as exc:
            raise ModelError(f"{self.name}: fitting {len(y)} points at freq {freq!r} failed: {exc}") from exc
        self._index, self._freq = values.index, freq
        return self

    def predict(self, horizon: int, levels: Sequence[int] = (80, 95), regressors: pd.DataFrame | None = None) -> pd.DataFrame:
        """Forecast ``horizon`` periods: columns ds, yhat, yhat_lo_<level>, yhat_hi_<level> per level.

        A model fitted with regressors needs their values over the horizon (``horizon`` rows).
        """
        if self._index is None or self._freq is None:
            raise ModelError(f"{self.name}: predict() called before fit()")
        if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
            raise ModelError(f"{self.name}: horizon must be an integer >= 1, got {horizon!r}")
        for level in levels:
            if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or not 0 < level < 100:
                raise ModelError(f"{self.name}: interval levels must be integers between 1 and 99, got {level!r}")
        levels = sorted({int(level) for level in levels})
        self._future_regressors = None
        if self._regressors is not None:
            dates = pd.date_range(self._index[-1], periods=int(horizon) + 1, freq=PANDAS_FREQ[self._freq])[1:]
            if regressors is None:
                raise ModelError(f"{self.name}: fitted with regressors {list(self._regressors.columns)}, it needs their values over the horizon")
            self._future_regressors = _checked(regressors, dates, self.name, "horizon", list(self._regressors.columns))
        try:
            raw = self._predict(int(horizon), levels)
        except NUMERICAL_ERRORS as exc:
            raise ModelError(f"{self.name}: forecasting {horizon} periods failed: {exc}") from exc
        return self._finish(raw, int(horizon), levels)

    def _finish(self, raw: pd.DataFrame, horizon: int, levels: list[int]) -> pd.DataFrame:
        """Add ds, order and nest the intervals, clip at zero when sales cannot be negative."""
        columns = ["yhat"] + [f"yhat_{side}_{level}" for level in levels for side in ("lo", "hi")]
        values = raw[columns].to_numpy(dtype=float)
        if values.shape[0] != horizon or not np.isfinite(values).all():
            raise ModelError(f"{self.name}: the forecast has missing or infinite values")
        lo, hi = values[:, 0], values[:, 0]
        for i, _ in enumerate(levels):  # wider levels contain narrower ones: nest them
            lo = values[:, 1 + 2 * i] = np.minimum(lo, values[:, 1 + 2 * i])
            hi = values[:, 2 + 2 * i] = np.maximum(hi, values[:, 2 + 2 * i])
        if self.nonnegative:
            values = values.clip(min=0.0)
        ds = pd.date_range(self._index[-1], periods=horizon + 1, freq=PANDAS_FREQ[self._freq])[1:]
        return pd.DataFrame({"ds": ds, **dict(zip(columns, values.T))})

    @abstractmethod
    def _fit(self, y: pd.Series, freq: str) -> None:
        """Fit on a validated float series."""

    @abstractmethod
    def _predict(self, horizon: int, levels: list[int]) -> pd.DataFrame:
        """Return ``horizon`` rows with yhat and yhat_lo_<level>/yhat_hi_<level> for each level."""


def _checked(regressors: pd.DataFrame, index: pd.DatetimeIndex, model: str, where: str, columns: list[str] | None = None) -> pd.DataFrame:
    """``regressors`` as floats on ``index`` (positionally, one row per period), or ModelError saying what is wrong."""
    if not isinstance(regressors, pd.DataFrame):
        raise ModelError(f"{model}: regressors must be a DataFrame, got {type(regressors).__name__}")
    missing = [c for c in columns or [] if c not in regressors.columns]
    if missing:
        raise ModelError(f"{model}: no values over the {where} for regressors {missing}")
    if len(regressors) != len(index):
        raise ModelError(f"{model}: {len(regressors)} rows of regressors over the {where}, expected {len(index)}")
    frame = regressors[columns] if columns else regressors
    try:
        values = frame.to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{model}: regressors over the {where} must be numbers: {exc}") from exc
    if not np.isfinite(values).all():
        row, col = np.argwhere(~np.isfinite(values))[0]
        raise ModelError(f"{model}: regressor {frame.columns[col]!r} has no value at {index[row].date()} ({where})")
    return pd.DataFrame(values, index=index, columns=frame.columns)


def _informative(regressors: pd.DataFrame) -> pd.DataFrame | None:
    """The regressors that vary over the history (a constant one teaches nothing); None when none does."""
    varying = [c for c in regressors.columns if regressors[c].nunique() > 1]
    return regressors[varying] if varying else None


class SeasonalModel(Model):
    """A model with a season: ``season_length`` periods, or by default the frequency's (``SEASON_LENGTH``)."""

    def __init__(self, season_length: int | None = None, nonnegative: bool = True) -> None:
        super().__init__(nonnegative=nonnegative)
        if season_length is not None and season_length < 1:
            raise ModelError(f"{self.name}: season_length must be >= 1, got {season_length}")
        self.season_length = season_length

    def _season(self, freq: str) -> int:
        return self.season_length or SEASON_LENGTH[freq]
