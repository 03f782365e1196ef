"""Prophet with weekly/yearly seasonality, optional country holidays, multi-level sampled intervals."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from forecaster.errors import ModelError
from forecaster.models.base import PANDAS_FREQ, Model


def _import_prophet() -> type:
    """Import the Prophet class with its per-fit logging turned down to warnings."""
    # Interactive plots are not used here; Prophet reports a missing plotly as an error at import.
    logging.getLogger("prophet.plot").setLevel(logging.CRITICAL)
    from prophet import Prophet

    logging.getLogger("prophet").setLevel(logging.WARNING)
    stan_logger = logging.getLogger("cmdstanpy")
    stan_logger.setLevel(logging.WARNING)
    # cmdstanpy installs its own INFO handler and level on first use unless the logger already has a handler.
    if not stan_logger.handlers:
        stan_logger.addHandler(logging.NullHandler())
    return Prophet


class ProphetModel(Model):
    """A fresh ``prophet.Prophet`` per fit.

    Weekly seasonality for daily data, yearly seasonality once the history spans two years,
    country holidays when ``holidays_country`` is set (e.g. "DE"), regressors as extra additive
    terms. Intervals for every level are quantiles of one set of ``uncertainty_samples``
    predictive samples.
    """

    name = "prophet"
    uses_regressors = True  # each an extra additive term (Prophet's add_regressor)

    def __init__(
        self,
        holidays_country: str | None = None,
        uncertainty_samples: int = 300,
        nonnegative: bool = True,
    ) -> None:
        super().__init__(nonnegative=nonnegative)
        if holidays_country is not None:
            import holidays

            if holidays_country not in holidays.list_supported_countries():
                raise ModelError(
                    f"prophet: holidays_country {holidays_country!r} is not supported: "
                    "use an upper-case ISO 3166 country code such as 'DE', 'US' or 'GB'"
                )
        self.holidays_country = holidays_country
        self.uncertainty_samples = uncertainty_samples

    def _fit(self, y: pd.Series, freq: str) -> None:
        prophet_class = _import_prophet()
        start, end = y.index[0], y.index[-1] + pd.tseries.frequencies.to_offset(PANDAS_FREQ[freq])
        model = prophet_class(
            weekly_seasonality=freq == "D",
            yearly_seasonality=end >= start + pd.DateOffset(years=2),
            daily_seasonality=False,
            uncertainty_samples=self.uncertainty_samples,
        )
        if self.holidays_country:
            model.add_country_holidays(country_name=self.holidays_country)
        history = pd.DataFrame({"ds": y.index.tz_localize(None), "y": y.to_numpy()})
        if self._regressors is not None:
            for name in self._regressors.columns:
                model.add_regressor(name)
            history = history.join(self._regressors.reset_index(drop=True))
        model.fit(history)
        self._model = model
        self._pandas_freq = PANDAS_FREQ[freq]

    def _predict(self, horizon: int, levels: list[int]) -> pd.DataFrame:
        future = self._model.make_future_dataframe(periods=horizon, freq=self._pandas_freq, include_history=False)
        if self._future_regressors is not None:
            future = future.join(self._future_regressors.reset_index(drop=True))
        frame = pd.DataFrame({"yhat": self._model.predict(future)["yhat"].to_numpy()})
        samples = self._model.predictive_samples(future)["yhat"]
        for level in levels:
            tail = (1 - level / 100) / 2
            frame[f"yhat_lo_{level}"] = np.quantile(samples, tail, axis=1)
            frame[f"yhat_hi_{level}"] = np.quantile(samples, 1 - tail, axis=1)
        return frame
