"""Split-conformal intervals: coverage on real data the calibration has not seen, and the bound rules."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from forecaster.errors import ModelError
from forecaster.forecasting import COLD_START_WIDENING, forecast_frame
from forecaster.intervals import ConformalIntervals, min_residuals
from forecaster.models import create
from tests.conftest import DATA

HOLDOUT = pd.Timestamp("2015-06-20")


@pytest.fixture(scope="module")
def rossmann() -> pd.DataFrame:
    """40 real stores (evenly spaced ids) since 2014-06, with the open flag."""
    raw = pd.read_csv(DATA / "rossmann" / "train.csv.gz", usecols=["Store", "Date", "Sales", "Open"], parse_dates=["Date"])
    stores = np.arange(1, 1116, 28)
    raw = raw[raw["Store"].isin(stores) & (raw["Date"] >= "2014-06-01")]
    return raw.rename(columns={"Store": "unique_id", "Date": "ds", "Sales": "y", "Open": "open"}).assign(
        unique_id=lambda f: f["unique_id"].astype(str), y=lambda f: f["y"].astype(float), open=lambda f: f["open"].astype(float)
    )


def held_out_coverage(forecast: pd.DataFrame, actuals: pd.DataFrame, level: int) -> tuple[float, int]:
    joined = forecast.merge(actuals, on=["unique_id", "ds"])
    joined = joined[(joined["open"] == 1) & (joined["y"] > 0)]
    inside = (joined["y"] >= joined[f"yhat_lo_{level}"]) & (joined["y"] <= joined[f"yhat_hi_{level}"])
    return float(inside.mean()), len(joined)


def test_conformal_intervals_cover_their_level_on_a_held_out_window(rossmann) -> None:
    """Seasonal naive calibrated on six backtest windows, judged on the next six weeks it never saw.

    About 1,400 store-days are scored, but they share one window's shocks (holidays, weather,
    promotions): on the six calibration windows themselves the 80% band covered between 66% and
    95%, so one window's coverage is a sample of about one. The tolerance is therefore wide
    (10 points at 80%, 6 at 95%); the benchmark measures coverage over 1,115 stores.
    """
    history, later = rossmann[rossmann["ds"] < HOLDOUT], rossmann[rossmann["ds"] >= HOLDOUT]
    future = later.drop(columns="y")
    result = forecast_frame(history, 42, "D", (80, 95), model="naive", folds=6, future=future)
    cover_80, scored = held_out_coverage(result.forecasts, later, 80)
    cover_95, _ = held_out_coverage(result.forecasts, later, 95)
    assert scored > 1000
    assert abs(cover_80 - 0.80) <= 0.10
    assert abs(cover_95 - 0.95) <= 0.06


def test_calibration_repairs_prophets_narrow_intervals() -> None:
    """US retail, the last 24 months held out: Prophet's own 80% band covers far less; the calibrated one covers ~80%."""
    retail = pd.read_csv(DATA / "us_retail_monthly" / "example_retail_sales.csv", parse_dates=["ds"]).assign(unique_id="us")
    history, later = retail.iloc[:-24], retail.iloc[-24:]
    own = create("prophet").fit(history.set_index("ds")["y"], "M").predict(24)
    calibrated = forecast_frame(history, 24, "M", (80, 95), model="prophet", folds=4).forecasts
    def cover(frame):
        y = later["y"].to_numpy()
        return float(np.mean((y >= frame["yhat_lo_80"].to_numpy()) & (y <= frame["yhat_hi_80"].to_numpy())))
    # 24 correlated months: only a large gap is evidence; the calibrated band must be the wider, better one.
    assert cover(calibrated) >= 0.65
    assert cover(calibrated) > cover(own) + 0.15
    assert (calibrated["yhat_lo_80"] >= 0).all()


def residual_rows(rossmann: pd.DataFrame, stores: int) -> pd.DataFrame:
    """Backtest rows of seasonal naive on the first ``stores`` stores."""
    history = rossmann[rossmann["ds"] < HOLDOUT]
    ids = sorted(history["unique_id"].unique())[:stores]
    return forecast_frame(history[history["unique_id"].isin(ids)], 28, model="naive", folds=3).backtest


def test_bounds_are_nested_nonnegative_and_zero_when_closed(rossmann) -> None:
    rows = residual_rows(rossmann, 5)
    calibration = ConformalIntervals.fit(rows[np.isfinite(rows["y"])], (80, 95))
    forecast = pd.DataFrame({"unique_id": "1", "ds": pd.date_range(HOLDOUT, periods=28), "yhat": np.linspace(0, 8000, 28)})
    forecast["closed"] = forecast["ds"].dt.dayofweek == 6
    out = calibration.apply(forecast)
    bounds = out[["yhat_lo_95", "yhat_lo_80", "yhat", "yhat_hi_80", "yhat_hi_95"]].to_numpy()
    assert (np.diff(bounds, axis=1) >= 0).all()
    assert (bounds >= 0).all()
    assert (out.loc[out["closed"], ["yhat", "yhat_lo_95", "yhat_hi_95"]] == 0).all().all()
    open_days = out[~out["closed"] & (out["yhat"] > 0)]
    assert (open_days["yhat_hi_95"] > open_days["yhat_hi_80"]).all()


def test_too_few_residuals_for_a_level_are_refused(rossmann) -> None:
    rows = residual_rows(rossmann, 1)
    few = rows[np.isfinite(rows["y"])].head(min_residuals(95) - 1)
    with pytest.raises(ModelError, match="too few"):
        ConformalIntervals.fit(few, (80, 95))
    assert min_residuals(80) == 9 and min_residuals(95) == 39


def test_a_calibration_read_back_from_json_puts_the_same_bounds_and_spares_the_backtest(rossmann) -> None:
    history = rossmann[rossmann["ds"] < HOLDOUT]
    first = forecast_frame(history, 28, model="naive", folds=3)
    stored = json.loads(json.dumps(first.calibrations["naive"].as_dict()))
    again = forecast_frame(history, 28, model="naive", folds=3, calibrations={"naive": ConformalIntervals.from_dict(stored)})
    pd.testing.assert_frame_equal(again.forecasts, first.forecasts)
    assert len(first.backtest) > 0 and len(again.backtest) == 0


def test_a_new_series_gets_intervals_around_its_own_level_widened_and_flagged(rossmann) -> None:
    """Two stores with 8 weeks of history, one of the busiest and one of the quietest, join 40 calibrated ones."""
    raw = pd.read_csv(DATA / "rossmann" / "train.csv.gz", usecols=["Store", "Date", "Sales", "Open"], parse_dates=["Date"])
    new = raw[raw["Store"].isin([262, 307]) & raw["Date"].between(HOLDOUT - pd.Timedelta(days=56), HOLDOUT - pd.Timedelta(days=1))]
    new = new.rename(columns={"Store": "unique_id", "Date": "ds", "Sales": "y", "Open": "open"}).astype({"unique_id": str, "y": float, "open": float})
    history = rossmann[rossmann["ds"] < HOLDOUT]
    calibrated = forecast_frame(history, 28, model="naive", folds=3).calibrations
    result = forecast_frame(pd.concat([history, new]), 28, model="naive", calibrations=calibrated)

    assert result.cold_start == {"262", "307"}
    assert all("cold start: 56 periods of history" in result.notes[sid] for sid in ("262", "307"))
    frame = result.forecasts[result.forecasts["yhat"] > 0]
    relative = ((frame["yhat_hi_80"] - frame["yhat_lo_80"]) / frame["yhat"]).groupby(frame["unique_id"]).median()
    assert relative[["262", "307"]].min() > 0.8 * relative[["262", "307"]].max()  # each around its own level
    assert relative[["262", "307"]].min() > COLD_START_WIDENING * 0.9 * relative.drop(["262", "307"]).median()
    sales = new.groupby("unique_id")["y"].mean()
    assert sales["262"] > 3 * sales["307"]


def test_a_calibration_stored_by_an_earlier_version_is_refused(rossmann) -> None:
    stored = forecast_frame(rossmann[rossmann["ds"] < HOLDOUT], 28, model="naive", folds=3).calibrations["naive"].as_dict()
    stored["pooled_scale"] = stored.pop("pooled_spread")
    with pytest.raises(ModelError, match="calibrate again"):
        ConformalIntervals.from_dict(stored)


def test_a_series_that_left_the_best_model_is_calibrated_on_the_others_errors(rossmann) -> None:
    """A series switches model for its own backtest score; calibrating its band on those same lucky errors makes it too narrow."""
    history = rossmann[rossmann["ds"] < HOLDOUT]
    result = forecast_frame(history, 28, model="auto", candidates=("ets", "naive"), folds=2)
    counts = pd.Series(result.choices).value_counts()
    best, other = counts.index[0], counts.index[1]
    switched = {sid for sid, model in result.choices.items() if model == other}
    assert 0 < len(switched) < 10
    calibrated_on = set(result.calibrations[other].series_scale)
    assert calibrated_on and calibrated_on.isdisjoint(switched)
    assert switched <= set(result.calibrations[best].series_scale)  # the best model's calibration still saw them
