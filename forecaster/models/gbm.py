"""A global gradient-boosting model: one HistGradientBoostingRegressor trained across all series.

Direct multi-step strategy: each training example is a past origin, a step h = 1..horizon and the
period h steps later, so the model learns every horizon step from features known at the origin
(see ``features.py``); nothing it predicts feeds back as an input, so errors do not compound and
no future value leaks in. Targets are divided by each series' recent mean level, so big and small
series share one model, and the model learns the log of that ratio, so that its errors are
relative ones (as in RMSPE) and a forecast is never negative. Closed periods are not trained on and are forecast as 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecaster.errors import ModelError
from forecaster.models.features import feature_names, forecast_rows, training_examples
from forecaster.models.panel import Panel

# Scaled demand below this (a near-empty open day) is raised to it before taking the log.
MIN_RATIO = 0.01


class GlobalBoosting:
    """Point forecasts for many series at once; intervals come from conformal calibration."""

    name = "gbm"
    is_global = True

    def __init__(
        self,
        max_iter: int = 300,
        learning_rate: float = 0.08,
        max_leaf_nodes: int = 63,
        min_samples_leaf: int = 40,
        stride: int = 7,
        max_rows: int = 400_000,
        seed: int = 0,
    ) -> None:
        if stride < 1 or max_rows < 1000:
            raise ModelError(f"gbm: stride must be >= 1 and max_rows >= 1000, got {stride} and {max_rows}")
        self.params = dict(max_iter=max_iter, learning_rate=learning_rate, max_leaf_nodes=max_leaf_nodes, min_samples_leaf=min_samples_leaf)
        self.stride, self.max_rows, self.seed = stride, max_rows, seed
        self._model = None

    def fit(self, panel: Panel) -> GlobalBoosting:
        """Train on examples cut from every series' history."""
        from sklearn.ensemble import HistGradientBoostingRegressor

        x, y = training_examples(panel, self.stride, self.max_rows, self.seed)
        if len(y) < 100:
            raise ModelError(f"gbm: {len(y)} training examples are too few; the series are too short for horizon {panel.horizon}")
        self._model = HistGradientBoostingRegressor(
            **self.params, l2_regularization=1.0, early_stopping=False, random_state=self.seed,
        )
        # A feature never known in training (the year-ago level of series under a year old) says nothing.
        self._known = ~np.isnan(x).all(axis=0)
        self._model.fit(x[:, self._known], np.log(np.maximum(y, MIN_RATIO)))
        self._features = feature_names(panel)
        return self

    def predict(self, panel: Panel) -> pd.DataFrame:
        """Forecast every series of ``panel`` over its horizon: ``unique_id, ds, yhat, closed``."""
        if self._model is None:
            raise ModelError("gbm: predict() called before fit()")
        if feature_names(panel) != self._features:
            raise ModelError(f"gbm: the panel's regressors {panel.regressors} differ from those it was fitted with")
        series, x, scale = forecast_rows(panel)
        yhat = np.exp(self._model.predict(x[:, self._known])) * scale
        frames = []
        for i, s in enumerate(series):
            rows = slice(i * panel.horizon, (i + 1) * panel.horizon)
            closed = ~s.is_open[s.n_history :]
            frames.append(pd.DataFrame({
                "unique_id": s.unique_id,
                "ds": s.dates[s.n_history :],
                "yhat": np.where(closed, 0.0, yhat[rows]),
                "closed": closed,
            }))
        return pd.concat(frames, ignore_index=True)
