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
