"""The command line: stable contracts, exit codes 0/1/2, errors without tracebacks."""

import datetime as dt
import subprocess
import sys

import pandas as pd
import pytest

from conftest import DATA


def salescast(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "forecaster", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def retail_long(tmp_path_factory):
    """US Census monthly retail sales plus a series too short to forecast."""
    frame = pd.read_csv(DATA / "us_retail_monthly/example_retail_sales.csv").assign(unique_id="us_retail")
    frame = pd.concat([frame, pd.DataFrame({"unique_id": ["tiny"], "ds": ["2016-01-01"], "y": [float("inf")]})])
    path = tmp_path_factory.mktemp("long") / "retail.csv"
    frame[frame.unique_id == "us_retail"].to_csv(path, index=False)
    return path


def test_forecast_contract(retail_long, tmp_path):
    out = tmp_path / "fc.csv"
    result = salescast("forecast", "--input", retail_long, "--horizon", 12, "--freq", "M", "--model", "ets", "--output", out)
    assert result.returncode == 0, result.stderr
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["unique_id", "ds", "model", "yhat", "yhat_lo_80", "yhat_hi_80", "yhat_lo_95", "yhat_hi_95"]
    assert len(frame) == 12 and frame.ds.iloc[0] == "2016-06-01"
    assert (frame.yhat_lo_95 <= frame.yhat_lo_80).all() and (frame.yhat_lo_80 <= frame.yhat).all() and (frame.yhat >= 0).all()


def test_forecast_custom_columns_levels_and_a_failing_series(tmp_path):
    path = tmp_path / "in.csv"
    days = pd.date_range("2024-01-01", periods=70, freq="D")
    good = pd.DataFrame({"store": "a", "day": days, "sales": [100 + (i % 7) * 10 for i in range(70)]})
    pd.concat([good, pd.DataFrame({"store": ["b"], "day": [days[0]], "sales": [1.0]})]).to_csv(path, index=False)
    result = salescast("forecast", "--input", path, "--horizon", 7, "--level", 90, "--model", "naive", "--id-col", "store", "--date-col", "day", "--value-col", "sales")
    frame = pd.read_csv(pd.io.common.StringIO(result.stdout))
    assert list(frame.columns)[-2:] == ["yhat_lo_90", "yhat_hi_90"]
    assert set(frame.unique_id) <= {"a", "b"} and len(frame[frame.unique_id == "a"]) == 7
    if "b" not in set(frame.unique_id):
        assert result.returncode == 1 and "series b skipped" in result.stderr


def test_bad_input_exits_2_with_a_clear_message(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("unique_id,ds,y\na,not-a-date,1\n")
    result = salescast("forecast", "--input", path, "--horizon", 3)
    assert result.returncode == 2
    assert "line 2 ('not-a-date')" in result.stderr and "Traceback" not in result.stderr


def test_check_config(tmp_path):
    ok = salescast("check-config")
    assert ok.returncode == 0 and '"timezone": "Europe/London"' in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("source: {kind: csv, path: x.csv, columns: {order_id: a, ordered_at: b, amount: c}}\nseries: {frq: D}\n")
    result = salescast("check-config", "--config", bad)
    assert result.returncode == 2 and "series.frq: unknown key" in result.stderr and "Traceback" not in result.stderr


def test_run_with_a_bad_source_file_exits_2(tmp_path):
    config = tmp_path / "c.yaml"
    (tmp_path / "orders.csv").write_text("id,ts,total\n1,2024-01-01,abc\n")
    config.write_text(f"store: {{url: 'sqlite:///{tmp_path}/s.db'}}\nsource: {{kind: csv, path: orders.csv, columns: {{order_id: id, ordered_at: ts, amount: total}}}}\n")
    result = salescast("run", "--config", config)
    assert result.returncode == 2 and "orders.csv: column 'total' has values that are not numbers: line 2 ('abc')" in result.stderr


def test_run_twice_for_the_same_date_sends_nothing_twice(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(
        f"""
timezone: Europe/London
store: {{url: 'sqlite:///{tmp_path}/s.db'}}
source:
  kind: csv
  sample: online_retail_orders.csv.gz
  columns: {{order_id: order_id, ordered_at: ordered_at, amount: amount, status: status}}
  statuses: {{sale: [completed], refund: [refunded]}}
forecast: {{model: naive}}
channels: [{{kind: directory, path: {tmp_path}/outbox}}]
"""
    )
    first = salescast("run", "--config", config, "--as-of", "2011-11-01")
    assert first.returncode == 0, first.stderr
    assert "forecasts issued" in first.stdout
    second = salescast("run", "--config", config, "--as-of", "2011-11-01")
    assert second.returncode == 0
    assert "│ forecasts issued                        │ 0 " in second.stdout


def test_replay_contract(tmp_path):
    sales = pd.read_csv(DATA / "rossmann/train.csv.gz", dtype={"StateHoliday": str}, usecols=["Store", "Date", "Sales"])
    store = sales[(sales.Store == 262) & (sales.Date >= "2015-01-01")].rename(columns={"Store": "unique_id", "Date": "ds", "Sales": "y"})
    store["y"] = store["y"].astype(float).where(store.ds < "2015-07-01", store["y"] * 0.5)
    path = tmp_path / "store.csv"
    store.to_csv(path, index=False)
    out = tmp_path / "alerts.csv"
    result = salescast("replay", "--input", path, "--start", "2015-06-15", "--output", out)
    assert result.returncode == 0, result.stderr
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["unique_id", "fired_at", "event", "rule", "severity", "period_start", "period_end", "actual", "expected", "lower", "upper", "deviation_pct"]
    announced = frame[frame.event.isin(["opened", "escalated"])]  # an incident open before the drop escalates
    assert (announced.fired_at.str[:10].between("2015-07-02", "2015-07-09")).any(), frame


def test_demo_on_a_short_window(tmp_path):
    from forecaster.demo import run_demo

    result = run_demo(tmp_path / "demo", start=dt.date(2011, 11, 21), end=dt.date(2011, 11, 23))
    assert len(result.runs) == 3 and result.total("forecast") == 15
    assert (tmp_path / "demo" / "salescast.db").is_file()
