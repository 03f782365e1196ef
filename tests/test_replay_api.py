"""The helpers notebooks use to summarise replays and stored forecast vintages."""

from __future__ import annotations

import datetime as dt
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from forecaster.evaluation import absolute_percentage_error, vintage_accuracy
from forecaster.replay import NOTIFICATION_COLUMNS, alert_rate, alert_rate_preview
from real_series import rossmann_long


def notifications(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["unique_id", "fired_at", "event"])
    return frame.reindex(columns=NOTIFICATION_COLUMNS)


def test_alert_rate_counts_events_per_series_and_month():
    rate = alert_rate(notifications([
        ("shop b", "2015-06-04T00:00:00+02:00", "opened"),
        ("shop a", "2015-06-30T00:00:00+02:00", "opened"),
        ("shop a", "2015-07-01T00:00:00+02:00", "escalated"),
        ("shop a", "2015-07-09T00:00:00+02:00", "resolved"),
        ("shop a", "2015-06-02T00:00:00+02:00", "opened"),
    ]))
    assert list(rate.columns) == ["unique_id", "month", "opened", "escalated", "resolved", "total"]
    assert rate.values.tolist() == [
        ["shop a", "2015-06", 2, 0, 0, 2],
        ["shop a", "2015-07", 0, 1, 1, 2],
        ["shop b", "2015-06", 1, 0, 0, 1],
    ]


def test_alert_rate_of_a_quiet_replay_is_empty():
    rate = alert_rate(notifications([]))
    assert rate.empty
    assert list(rate.columns) == ["unique_id", "month", "opened", "escalated", "resolved", "total"]


def test_alert_rate_preview_counts_alerts_per_series_per_month_quiet_series_included():
    sent = notifications([
        ("shop a", "2015-06-02T00:00:00+02:00", "opened"),
        ("shop a", "2015-06-09T00:00:00+02:00", "escalated"),
        ("shop a", "2015-06-20T00:00:00+02:00", "resolved"),
        ("shop b", "2015-06-04T00:00:00+02:00", "opened"),
    ])
    preview = alert_rate_preview(sent, ["shop b", "shop c", "shop a"], dt.date(2015, 6, 1), dt.date(2015, 7, 31))
    assert preview.months == pytest.approx(60 / 30.44, abs=0.01)
    assert list(preview.per_series.columns) == ["unique_id", "opened", "escalated", "resolved", "alerts_per_month"]
    assert preview.per_series.unique_id.tolist() == ["shop a", "shop b", "shop c"], "noisiest first"
    assert preview.per_series[["opened", "escalated", "resolved"]].values.tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert preview.per_series.alerts_per_month.tolist() == pytest.approx([2 / preview.months, 1 / preview.months, 0], abs=0.01)
    assert preview.alerts_per_series_month == pytest.approx(3 / (3 * 60 / 30.44), abs=0.001)
    with pytest.raises(ValueError, match="no series"):
        alert_rate_preview(sent, [], dt.date(2015, 6, 1), dt.date(2015, 7, 31))


def test_replay_prints_the_alert_rate_preview(tmp_path):
    """Two Rossmann stores over four weeks of May 2015, with and without the German holiday calendar."""
    path = tmp_path / "stores.csv"
    rossmann_long([1, 3], since="2015-01-01").to_csv(path, index=False)
    rates = {}
    for name, calendar in (("plain", "{}"), ("german", "{country: DE}")):
        config = tmp_path / f"{name}.yaml"
        config.write_text(f"timezone: Europe/Berlin\nseries: {{min_history: 56}}\nforecast: {{model: naive}}\nmonitor: {{calendar: {calendar}}}\n")
        args = ["replay", "-i", path, "--start", "2015-05-04", "--end", "2015-06-01", "-c", config]
        result = subprocess.run([sys.executable, "-m", "forecaster", *map(str, args)], capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("unique_id,fired_at,event"), "stdout stays the CSV of notifications"
        assert "alerts_per_month" in result.stderr and "store 1" in result.stderr and "store 3" in result.stderr
        overall = [line for line in result.stderr.splitlines() if line.startswith("overall:")]
        assert len(overall) == 1 and "alerts (opened or escalated) per series per month" in overall[0]
        rates[name] = float(overall[0].split()[1])
    assert rates["german"] < rates["plain"], "holidays no longer read as slowdowns"


def test_absolute_percentage_error_is_nan_where_nothing_was_sold():
    errors = absolute_percentage_error([100.0, 0.0, 50.0], [90.0, 5.0, 75.0])
    assert errors[0] == pytest.approx(10.0)
    assert math.isnan(errors[1])
    assert errors[2] == pytest.approx(50.0)
    with pytest.raises(ValueError):
        absolute_percentage_error([1.0, 2.0], [1.0])


def test_vintage_accuracy_scores_each_vintage_on_the_periods_with_actuals():
    day = pd.Timestamp("2011-11-14")
    issued = [pd.Timestamp("2011-11-14", tz="UTC"), pd.Timestamp("2011-11-15", tz="UTC")]
    forecasts = pd.DataFrame({
        "series_id": "total",
        "issued_at": [issued[0]] * 3 + [issued[1]] * 2,
        "ds": [day, day + pd.Timedelta(days=1), day + pd.Timedelta(days=2), day + pd.Timedelta(days=1), day + pd.Timedelta(days=2)],
        "model": "naive",
        "yhat": [110.0, 180.0, 50.0, 200.0, 70.0],
        "lo80": [90.0, 150.0, 0.0, 190.0, 0.0],
        "hi80": [120.0, 190.0, 90.0, 210.0, 90.0],
    })
    actuals = pd.DataFrame({"unique_id": ["total", "total", "other"], "ds": [day, day + pd.Timedelta(days=1), day], "y": [100.0, 200.0, 1.0]})
    accuracy = vintage_accuracy(forecasts, actuals)
    assert list(accuracy.columns) == ["series_id", "issued_at", "periods", "mape", "bias_pct", "coverage_80"]
    first, second = accuracy.to_dict("records")
    assert (first["issued_at"], first["periods"]) == (issued[0], 2)
    assert first["mape"] == pytest.approx(10.0)  # 10% and 10%
    assert first["bias_pct"] == pytest.approx(-10 / 3)  # 290 forecast for 300 sold
    assert first["coverage_80"] == pytest.approx(0.5)  # 200 is above the 190 bound
    assert (second["periods"], second["mape"], second["bias_pct"], second["coverage_80"]) == (1, 0.0, 0.0, 1.0)
    assert not np.isnan(accuracy["mape"]).any()
