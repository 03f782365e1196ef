"""Known-future regressors on real Rossmann stores: the --future file, closed days, public holidays."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecaster.cli import app
from forecaster.errors import InputError
from forecaster.forecasting import forecast_frame
from forecaster.regressors import add_holidays, load_inputs, read_known_future
from tests.conftest import DATA

HORIZON = 14
CUT = "2015-07-18"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Three real stores since 2014 as an input file with promo and open, and the future file of the last 14 days."""
    raw = pd.read_csv(DATA / "rossmann" / "train.csv.gz", dtype={"StateHoliday": str}, parse_dates=["Date"])
    raw = raw[raw["Store"].isin([1, 2, 3]) & (raw["Date"] >= "2014-01-01")].sort_values(["Store", "Date"])
    frame = pd.DataFrame({"unique_id": raw["Store"], "ds": raw["Date"].dt.strftime("%Y-%m-%d"), "y": raw["Sales"], "promo": raw["Promo"], "open": raw["Open"]})
    folder = tmp_path_factory.mktemp("regressors")
    frame[frame["ds"] < CUT].to_csv(folder / "history.csv", index=False)
    later = frame[frame["ds"] >= CUT]
    later.drop(columns="y").to_csv(folder / "future.csv", index=False)
    later.to_csv(folder / "actuals.csv", index=False)
    return folder


def future_variant(files, name: str, change) -> str:
    frame = pd.read_csv(files / "future.csv", dtype=str)
    path = files / f"{name}.csv"
    change(frame).to_csv(path, index=False)
    return str(path)


def forecast_cli(files, future: str | None, *extra: str):
    args = ["forecast", "-i", str(files / "history.csv"), "-h", str(HORIZON), "--model", "naive", "--folds", "2", *extra]
    return CliRunner().invoke(app, args + (["--future", future] if future else []))


def test_future_errors_name_the_file_and_row(files) -> None:
    no_future = forecast_cli(files, None)
    assert no_future.exit_code == 2 and "--future" in no_future.output and "promo" in no_future.output
    missing_column = forecast_cli(files, future_variant(files, "no_promo", lambda f: f.drop(columns="promo")))
    assert missing_column.exit_code == 2 and "no_promo.csv" in missing_column.output and "promo" in missing_column.output
    missing_day = forecast_cli(files, future_variant(files, "gap", lambda f: f[f["ds"] != "2015-07-25"]))
    assert missing_day.exit_code == 2 and "gap.csv" in missing_day.output and "2015-07-25" in missing_day.output
    bad = future_variant(files, "bad", lambda f: f.assign(promo=f["promo"].where(f.index != 3, "yes")))
    text = forecast_cli(files, bad).output
    assert "bad.csv" in text and "line 5" in text and "'yes'" in text and "promo" in text


def test_closed_days_are_forecast_as_closed_zeros(files, tmp_path) -> None:
    out = tmp_path / "forecast.csv"
    result = forecast_cli(files, str(files / "future.csv"), "-o", str(out))
    assert result.exit_code == 0, result.output
    forecast = pd.read_csv(out)
    future = pd.read_csv(files / "future.csv")
    joined = forecast.merge(future, on=["unique_id", "ds"])
    assert len(joined) == 3 * HORIZON
    closed = joined[joined["open"] == 0]
    assert len(closed) >= 6  # two Sundays per store
    assert closed["closed"].all() and (closed.filter(like="yhat") == 0).all().all()
    opened = joined[joined["open"] == 1]
    assert not opened["closed"].any() and (opened["yhat"] > 1000).all()


def test_closed_days_are_not_trained_on_as_demand(files) -> None:
    """With the open flag, closed Sundays are neither fitted nor scored as zero demand."""
    long, future = load_inputs(files / "history.csv", files / "future.csv", HORIZON, "D")
    actuals = pd.read_csv(files / "actuals.csv", parse_dates=["ds"]).assign(unique_id=lambda f: f["unique_id"].astype(str))
    aware = forecast_frame(long, HORIZON, model="ets", folds=2, future=future).forecasts
    plain = forecast_frame(long.drop(columns=["promo", "open"]), HORIZON, model="ets", folds=2).forecasts

    def open_days(forecast):
        joined = forecast.merge(actuals, on=["unique_id", "ds"])
        return joined[joined["open"] == 1]

    def error(forecast):
        days = open_days(forecast)
        return float(np.mean(np.abs(days["y"] - days["yhat"]) / days["y"]))

    assert error(aware) <= error(plain)
    rows = forecast_frame(long, HORIZON, model="ets", folds=2, future=future).backtest
    closed_days = long.loc[long["open"] == 0, ["unique_id", "ds"]]
    assert rows.merge(closed_days, on=["unique_id", "ds"])["y"].isna().all()  # residuals skip closed days


def test_holidays_by_country_and_subdivision() -> None:
    days = pd.DataFrame({"ds": pd.to_datetime(["2015-01-06", "2015-05-01", "2015-05-04"])})
    bavaria = add_holidays(days, "DE", "BY")["holiday"].tolist()
    berlin = add_holidays(days, "DE", "BE")["holiday"].tolist()
    assert bavaria == [1.0, 1.0, 0.0] and berlin == [0.0, 1.0, 0.0]  # Epiphany is a holiday in Bavaria only
    with pytest.raises(InputError, match="subdivision 'XX'"):
        add_holidays(days, "DE", "XX")
    with pytest.raises(InputError, match="'ZZ' is not supported"):
        add_holidays(days, "ZZ")


def test_holidays_become_a_regressor_over_the_horizon(files) -> None:
    long, future = load_inputs(files / "history.csv", files / "future.csv", HORIZON, "D", holidays="DE-NW")
    assert "holiday" in long.columns and "holiday" in future.columns
    assert long.loc[long["ds"] == "2014-12-25", "holiday"].eq(1.0).all()
    assert len(future) == 3 * HORIZON


def test_the_engines_known_future_file_is_checked_column_by_column(tmp_path) -> None:
    path = tmp_path / "calendar.csv"
    pd.DataFrame({"store": ["a", "a", "b"], "day": ["2015-07-01", "2015-07-02", "2015-07-01"], "promo": [1, 0, 1], "Open": [1, 0, 1]}).to_csv(path, index=False)
    frame = read_known_future(path, "store", "day", None, "Open", "D")
    assert list(frame.columns) == ["unique_id", "ds", "promo", "open"]
    assert frame.to_dict("list")["open"] == [1.0, 0.0, 1.0]
    with pytest.raises(InputError, match=r"calendar.csv: missing column\(s\) \['price', 'is_open'\] named in forecast.known_future"):
        read_known_future(path, "store", "day", ["promo", "price"], "is_open", "D")
    path.write_text("store,day,promo\na,2015-07-01,1\na,someday,0\n")
    with pytest.raises(InputError, match=r"calendar.csv: column 'day' has values that are not dates: line 3 \('someday'\)"):
        read_known_future(path, "store", "day", None, None, "D")
