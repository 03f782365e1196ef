"""Exponential smoothing (ETS) with additive errors, the form chosen by AICc."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from forecaster.errors import ModelError
from forecaster.models.base import SeasonalModel

# The smallest history on which the simplest candidate (level only, 3 parameters) has a finite AICc.
MIN_OBSERVATIONS = 5


class ETS(SeasonalModel):
    """statsmodels ``ETSModel`` with additive errors.

    Candidates: no trend or an additive damped trend (an undamped trend extrapolates promotion
    peaks), each with additive seasonality when the history holds at least two full seasons.
    Additive errors keep it well defined on series with zeros (closed days).
    """

    name = "ets"
    cleans_spikes = True
    min_observations = MIN_OBSERVATIONS

    def _fit(self, y: pd.Series, freq: str) -> None:
        from statsmodels.tools.eval_measures import aicc
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel

        m = self._season(freq)
        endog = pd.Series(y.to_numpy())
        seasonal_options: list[str | None] = [None, "add"] if len(y) >= 2 * m and m > 1 else [None]
        best, best_params, best_aicc = None, None, np.inf
        for trend in (None, "add"):
            for seasonal in seasonal_options:
                model = ETSModel(
                    endog,
                    error="add",
                    trend=trend,
                    damped_trend=trend is not None,
                    seasonal=seasonal,
                    seasonal_periods=m if seasonal else None,
                )
                with warnings.catch_warnings():
                    # Convergence and overflow warnings are judged below by the criterion and finiteness.
                    warnings.simplefilter("ignore")
                    # Parameters only: a full result computes a numerical Hessian, wasted on the forms not chosen.
                    params = model.fit(disp=False, return_params=True)
                    score = aicc(model.loglike(params), model.nobs, model.k_params + 1)  # + 1: the variance, as statsmodels counts
                # A perfect fit (a constant series) scores -inf and is rightly the best.
                if score < best_aicc:
                    best, best_params, best_aicc = model, params, score
        if best is None:
            raise ModelError(f"ets: no candidate has a finite AICc on {len(y)} observations")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._result = best.smooth(best_params)

    def _predict(self, horizon: int, levels: list[int]) -> pd.DataFrame:
        n = self._result.nobs
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prediction = self._result.get_prediction(start=n, end=n + horizon - 1)
            frame = pd.DataFrame({"yhat": prediction.predicted_mean.to_numpy()})
            for level in levels:
                bounds = prediction.summary_frame(alpha=1 - level / 100)
                frame[f"yhat_lo_{level}"] = bounds["pi_lower"].to_numpy()
                frame[f"yhat_hi_{level}"] = bounds["pi_upper"].to_numpy()
        return frame
