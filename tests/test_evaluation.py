"""Metrics, rolling-origin backtests, model selection and the naive fallback, on real series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import DATA
from forecaster.errors import ModelError
from forecaster.evaluation import Selection, backtest, coverage, forecast_series, mase, select_model
from forecaster.models import MODELS, Model



class BrokenModel(Model):
    """A model whose solver always fails, as a numerical library would."""

    name = "broken"

    def _fit(self, y: pd.Series, freq: str) -> None:
        raise np.linalg.LinAlgError("Schur decomposition solver error")

    def _predict(self, horizon: int, levels: list[int]) -> pd.DataFrame:
        raise NotImplementedError


@pytest.fixture
def broken(monkeypatch) -> str:
    monkeypatch.setitem(MODELS, "broken", f"{__name__}:BrokenModel")
    return "broken"


@pytest.fixture(scope="module")
def store_1() -> pd.Series:
    """Daily Sales of Rossmann store 1, closed days kept as 0."""
    frame = pd.read_csv(DATA / "rossmann" / "train.csv.gz", usecols=["Store", "Date", "Sales"], parse_dates=["Date"])
    sales = frame[frame["Store"] == 1].set_index("Date")["Sales"].sort_index()
    return sales.astype(float).rename_axis("ds")


@pytest.fixture(scope="module")
def us_retail() -> pd.Series:
    """Monthly US retail sales."""
    frame = pd.read_csv(DATA / "us_retail_monthly" / "example_retail_sales.csv", parse_dates=["ds"])
    return frame.set_index("ds")["y"].astype(float)


def test_mase_of_insample_seasonal_naive_is_one(store_1) -> None:
    y = store_1.to_numpy()
    assert mase(y[7:], y[:-7], y, 7) == pytest.approx(1.0)
    assert mase([3.0, 5.0], [2.0, 5.0], [1.0, 2.0, 3.0, 4.0], 1) == pytest.approx(0.5)


def test_mase_scale_fallbacks() -> None:
    # Seasonal differences are all 0: the first differences (mean 1) scale the error.
    assert mase([2.0], [4.0], [1.0, 2.0, 1.0, 2.0], 2) == pytest.approx(2.0)
    assert np.isnan(mase([2.0], [4.0], [5.0, 5.0, 5.0], 2))
    with pytest.raises(ValueError, match="shape"):
        mase([1.0, 2.0], [1.0], [1.0, 2.0, 3.0], 1)


def test_coverage() -> None:
    assert coverage([1.0, 5.0, 9.0, 3.0], [0.0, 0.0, 0.0, 3.0], [2.0, 4.0, 10.0, 3.0]) == 0.75
    assert np.isnan(coverage([], [], []))


def test_backtest_rows_and_cutoffs(store_1) -> None:
    result = backtest(store_1, "D", ["naive", "ets"], horizon=42, folds=3)
    assert list(result.columns) == ["model", "fold", "cutoff", "mase", "coverage_80", "coverage_95", "error"]
    assert len(result) == 6
    assert sorted(set(zip(result["model"], result["fold"]))) == [(m, f) for m in ("ets", "naive") for f in (1, 2, 3)]
    cutoffs = sorted(set(result["cutoff"]))
    assert cutoffs == [store_1.index[-1 - 42 * k] for k in (3, 2, 1)]
    assert result["error"].isna().all()
    assert result["mase"].between(0.2, 1.5).all()
    assert result[["coverage_80", "coverage_95"]].stack().between(0, 1).all()
    assert (result["coverage_95"] >= result["coverage_80"]).all()


def test_backtest_reports_failures_per_row(store_1, broken) -> None:
    result = backtest(store_1, "D", ["naive", broken], horizon=28, folds=2, levels=(50,))
    assert "coverage_50" in result.columns and "coverage_80" not in result.columns
    failed = result[result["model"] == broken]
    assert failed["mase"].isna().all()
    assert failed["error"].str.contains("Schur decomposition").all()
    assert result.loc[result["model"] == "naive", "error"].isna().all()


def test_backtest_rejects_impossible_windows(store_1) -> None:
    with pytest.raises(ModelError, match="too few for 3 folds of 42"):
        backtest(store_1.iloc[:100], "D", ["naive"], horizon=42)
    with pytest.raises(ModelError, match="unknown model"):
        backtest(store_1, "D", ["naive", "arma"], horizon=7)


def test_select_model_picks_ets_on_monthly_retail(us_retail) -> None:
    selection = select_model(us_retail, "M", ["naive", "ets"], horizon=12)
    assert isinstance(selection, Selection)
    # Measured over the last 3 years: naive 0.91, ets 0.55.
    assert selection.model == "ets"
    assert set(selection.scores) == {"naive", "ets"}
    assert selection.scores["ets"] < 0.7 < selection.scores["naive"]
    assert "lowest mean MASE" in selection.reason


def test_select_model_skips_failing_candidates(store_1, broken) -> None:
    selection = select_model(store_1, "D", [broken, "naive"], horizon=28, folds=2)
    assert selection.model == "naive"
    assert np.isnan(selection.scores[broken])
    everything_fails = select_model(store_1, "D", [broken], horizon=28, folds=2)
    assert everything_fails.model == "naive"
    assert "Schur decomposition" in everything_fails.reason


def test_select_model_on_too_short_history(store_1) -> None:
    selection = select_model(store_1.iloc[:40], "D", ["ets", "prophet"], horizon=14)
    assert selection == Selection("naive", {}, "history too short for a backtest")


def test_forecast_series_uses_the_model(us_retail) -> None:
    frame, used, reason = forecast_series(us_retail, "M", 12, model="ets")
    assert (used, reason) == ("ets", None)
    assert list(frame.columns) == ["ds", "model", "yhat", "yhat_lo_80", "yhat_hi_80", "yhat_lo_95", "yhat_hi_95"]
    assert (frame["model"] == "ets").all()
    assert frame["ds"].iloc[0] == pd.Timestamp("2016-06-01")


def test_forecast_series_falls_back_to_naive(store_1, broken) -> None:
    frame, used, reason = forecast_series(store_1, "D", 14, model=broken)
    assert used == "naive" and (frame["model"] == "naive").all()
    assert "Schur decomposition" in reason
    np.testing.assert_array_equal(frame["yhat"], np.tile(store_1.iloc[-7:].to_numpy(), 2))

    frame, used, reason = forecast_series(store_1.iloc[:3], "D", 7, levels=(90,), model="ets")
    assert used == "naive" and "at least 5 observations" in reason
    assert {"yhat_lo_90", "yhat_hi_90"} <= set(frame.columns)


def test_forecast_series_raises_when_nothing_can_forecast(store_1) -> None:
    with pytest.raises(ModelError, match="unknown model"):
        forecast_series(store_1, "D", 7, model="arma")
    with pytest.raises(ModelError, match="missing or infinite"):
        forecast_series(store_1.where(store_1 > 0), "D", 7, model="ets")
