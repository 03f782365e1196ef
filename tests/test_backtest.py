"""`salescast backtest` on real Rossmann stores: every metric per series and overall, per candidate."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from forecaster.cli import app
from tests.conftest import DATA


def test_backtest_reports_every_metric_per_series_and_overall(tmp_path) -> None:
    raw = pd.read_csv(DATA / "rossmann" / "train.csv.gz", usecols=["Store", "Date", "Sales", "Promo", "Open"], parse_dates=["Date"])
    raw = raw[raw["Store"].isin([1, 2, 3]) & (raw["Date"] >= "2014-06-01")]
    data = tmp_path / "stores.csv"
    raw.rename(columns={"Store": "unique_id", "Date": "ds", "Sales": "y", "Promo": "promo", "Open": "open"}).to_csv(data, index=False)
    output = tmp_path / "scores.csv"
    result = CliRunner().invoke(app, ["backtest", "-i", str(data), "-h", "14", "--folds", "3", "--model", "naive", "--model", "gbm", "-o", str(output)])
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(output, dtype={"unique_id": str})
    metrics = ["mase", "rmsse", "rmspe", "smape", "bias", "coverage_80", "width_80", "coverage_95", "width_95"]
    assert list(scores.columns) == ["unique_id", "model", "periods", *metrics]
    assert sorted(scores["unique_id"].unique()) == ["1", "2", "3", "overall"]
    assert len(scores) == 8
    assert scores[metrics].notna().all().all()
    per_series = scores[scores["unique_id"] != "overall"]
    assert (per_series["periods"] < 3 * 14).all()  # closed Sundays are not scored
    overall = scores[scores["unique_id"] == "overall"].set_index("model")
    # The global model with promo and open beats repeating last week on every scaled error.
    assert (overall.loc["gbm", ["mase", "rmsse", "rmspe", "smape"]] < overall.loc["naive", ["mase", "rmsse", "rmspe", "smape"]]).all()
    assert (overall["width_95"] > overall["width_80"]).all()
    assert "coverage_80" in result.output  # the overall table is printed too


def test_auto_leaves_the_best_model_overall_only_for_one_better_in_every_fold() -> None:
    """Per-series choice from two folds is noisy: a series switches only on a consistent, clear win."""
    from forecaster.forecasting import SWITCH_MARGIN, _choose

    raw = pd.read_csv(DATA / "rossmann" / "train.csv.gz", usecols=["Store", "Date", "Sales"], parse_dates=["Date"])
    store = raw[raw["Store"] == 1].sort_values("Date")
    # Relative error of each (series, model) in folds 1 and 2; gbm is the better model over all series.
    errors = {
        "steady": {"gbm": (0.10, 0.10), "naive": (0.05, 0.06)},  # naive better in both folds, by 45%: switches
        "lucky": {"gbm": (0.10, 0.10), "naive": (0.02, 0.12)},  # naive better on the mean only
        "close": {"gbm": (0.10, 0.10), "naive": (0.095, 0.095)},  # naive better in both folds, by 5%
        "typical": {"gbm": (0.08, 0.08), "naive": (0.20, 0.20)},
    }
    history = pd.concat([pd.DataFrame({"unique_id": sid, "ds": store["Date"], "y": store["Sales"].astype(float)}) for sid in errors])
    cut = store["Date"].max() - pd.Timedelta(days=27)
    rows = []
    for sid, by_model in errors.items():
        for model, per_fold in by_model.items():
            for fold, error in enumerate(per_fold, start=1):
                days = store[(store["Date"] >= cut + pd.Timedelta(days=14 * (fold - 1))) & (store["Date"] < cut + pd.Timedelta(days=14 * fold))]
                days = days[days["Sales"] > 0]
                rows.append(pd.DataFrame({
                    "unique_id": sid, "model": model, "fold": fold, "step": range(1, len(days) + 1), "ds": days["Date"],
                    "y": days["Sales"].astype(float), "yhat": days["Sales"] * (1 + error),
                }))
    choices, notes, pooled_best = _choose(history, pd.concat(rows), ["gbm", "naive"], "D")
    assert pooled_best == "gbm"
    assert choices == {"steady": "naive", "lucky": "gbm", "close": "gbm", "typical": "gbm"}
    assert set(notes) == {"lucky", "close"}
    assert notes["lucky"].startswith("kept gbm") and f"every fold by {SWITCH_MARGIN:.0%}" in notes["lucky"]


def test_auto_forecasts_intermittent_series_with_tsb_and_its_own_intervals() -> None:
    """Online Retail by country: the UK sells every trading day, France and Belgium on a minority of them."""
    from forecaster.forecasting import choose_model, forecast_frame

    lines = pd.read_parquet(DATA / "online_retail" / "online_retail_2010_2011.parquet")
    lines = lines[lines["Country"].isin(["United Kingdom", "France", "Belgium"])]
    revenue = (lines["Quantity"] * lines["UnitPrice"]).clip(lower=0).groupby([lines["Country"], lines["InvoiceDate"].dt.normalize()]).sum()
    days = pd.date_range("2011-01-04", "2011-11-30", name="ds")
    long = revenue.unstack(0).reindex(days).fillna(0.0).stack().rename("y").reset_index().rename(columns={"Country": "unique_id"})
    long["open"] = (long["ds"].dt.dayofweek != 5).astype(float)  # the shop never trades on Saturdays

    result = forecast_frame(long, 28, model="auto", candidates=("naive", "ets"))
    assert result.choices["United Kingdom"] in {"naive", "ets"}
    assert result.choices["France"] == result.choices["Belgium"] == "tsb"
    assert result.notes["Belgium"].startswith("intermittent: ") and "tsb with its own intervals" in result.notes["Belgium"]
    belgium = result.forecasts[(result.forecasts["unique_id"] == "Belgium") & ~result.forecasts["closed"]]
    assert (belgium["yhat"] > 0).all() and (belgium["yhat_lo_80"] == 0).all()
    y = long[long["unique_id"] == "Belgium"].set_index("ds")["y"]
    assert choose_model(y, "D", "auto", ("naive", "ets"), 28, 3, {})[0] == "tsb"  # the engine's per-series selection


def test_regularize_fills_gaps_and_leaves_a_regular_frame_as_it_is() -> None:
    """Two Rossmann stores: the file lacks store 2's closed days; the engine's frames are already regular."""
    from forecaster.forecasting import regularize

    raw = pd.read_csv(DATA / "rossmann" / "train.csv.gz", usecols=["Store", "Date", "Sales", "Open"], parse_dates=["Date"])
    raw = raw[raw["Store"].isin([1, 2]) & (raw["Date"] >= "2015-06-01")].sort_values(["Store", "Date"])
    long = pd.DataFrame({"unique_id": raw["Store"].astype(str), "ds": raw["Date"], "y": raw["Sales"].astype(float), "open": raw["Open"].astype(float)})
    gappy = long.drop(index=long.index[(long["unique_id"] == "2") & (long["open"] == 0)])
    filled, failures = regularize(gappy, "D")
    assert not failures and len(filled) == len(long) and filled is not gappy
    assert set(filled.loc[~filled["ds"].isin(gappy[gappy["unique_id"] == "2"]["ds"]) & (filled["unique_id"] == "2"), "y"]) == {0.0}
    again, _ = regularize(filled.reset_index(drop=True), "D")
    pd.testing.assert_frame_equal(again, filled.reset_index(drop=True))
    regular = long.reset_index(drop=True)
    assert regularize(regular, "D")[0] is regular  # no copy of a frame that needs nothing
    rebuilt, _ = regularize(regular.iloc[::-1], "D")  # out of order: rebuilt in order
    pd.testing.assert_frame_equal(rebuilt, regular[["unique_id", "ds", "y", "open"]])
