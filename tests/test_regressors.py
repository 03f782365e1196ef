"""Known-future regressors on real Rossmann stores: the --future file, closed days, public holidays, ARIMAX and Prophet."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecaster.cli import app
from forecaster.errors import InputError, ModelError
from forecaster.forecasting import forecast_frame
from forecaster.models import create
from forecaster.regressors import add_holidays, load_inputs, read_known_future
from tests.conftest import DATA

HORIZON = 14
LEVELS = (80, 95)
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


@pytest.fixture(scope="module")
def store_1_with_regressors() -> tuple[pd.Series, pd.DataFrame]:
    """Rossmann store 1: open-day sales (closed days interpolated) and promo, school and state holiday flags."""
    raw = pd.read_csv(DATA / "rossmann" / "train.csv.gz", dtype={"StateHoliday": str}, parse_dates=["Date"])
    store = raw[raw["Store"] == 1].set_index("Date").sort_index().rename_axis("ds")
    y = store["Sales"].where(store["Open"] == 1).interpolate(limit_direction="both").astype(float)
    x = pd.DataFrame({"promo": store["Promo"], "school_holiday": store["SchoolHoliday"], "state_holiday": (store["StateHoliday"] != "0")}).astype(float)
    return y, x


@pytest.mark.parametrize("model", ["arima", "prophet"])
def test_regressors_teach_arima_and_prophet_the_promotions(store_1_with_regressors, model: str) -> None:
    """Measured on the last 42 days (open days): ARIMA MAE 641 -> 340 with the flags, Prophet 670 -> 323."""
    y, x = store_1_with_regressors
    open_days = y.index[-42:].dayofweek != 6
    errors = {}
    for with_regressors in (False, True):
        fitted = create(model).fit(y.iloc[:-42], "D", x.iloc[:-42] if with_regressors else None)
        frame = fitted.predict(42, LEVELS, x.iloc[-42:] if with_regressors else None)
        errors[with_regressors] = np.abs(frame["yhat"].to_numpy() - y.iloc[-42:].to_numpy())[open_days].mean()
    assert errors[True] < 0.7 * errors[False]


def test_bad_regressors_are_refused_with_what_and_where(store_1_with_regressors) -> None:
    y, x = store_1_with_regressors
    train, ahead = y.iloc[:-42], x.iloc[-42:]
    with pytest.raises(ModelError, match="10 rows of regressors over the history, expected"):
        create("arima").fit(train, "D", x.iloc[:10])
    fitted = create("arima").fit(train, "D", x.iloc[:-42])
    with pytest.raises(ModelError, match="it needs their values over the horizon"):
        fitted.predict(42)
    with pytest.raises(ModelError, match=r"no values over the horizon for regressors \['promo'\]"):
        fitted.predict(42, regressors=ahead.drop(columns="promo"))
    gap = ahead.copy()
    gap.iloc[5, 0] = np.nan
    with pytest.raises(ModelError, match=f"regressor 'promo' has no value at {ahead.index[5].date()}"):
        fitted.predict(42, regressors=gap)
    # Models without regressors ignore them; a flag constant over the history is dropped.
    naive = create("naive").fit(train, "D", x.iloc[:-42]).predict(42)
    assert np.allclose(naive["yhat"], create("naive").fit(train, "D").predict(42)["yhat"])
    constant = x.iloc[:-42].assign(state_holiday=0.0)
    assert len(create("arima").fit(train, "D", constant).predict(42, regressors=ahead.drop(columns="state_holiday"))) == 42


def test_forecast_frame_gives_arima_the_regressors_and_their_future_values() -> None:
    """Rossmann store 1, its last six weeks held out: ARIMA with promo and holiday flags, and when a future value is missing."""
    raw = pd.read_csv(DATA / "rossmann" / "train.csv.gz", dtype={"StateHoliday": str}, parse_dates=["Date"])
    store = raw[(raw["Store"] == 1) & (raw["Date"] >= "2014-03-01")].sort_values("Date")
    long = pd.DataFrame({
        "unique_id": "1", "ds": store["Date"], "y": store["Sales"].astype(float), "promo": store["Promo"].astype(float),
        "school_holiday": store["SchoolHoliday"].astype(float), "open": store["Open"].astype(float),
    })
    history, later = long.iloc[:-42], long.iloc[-42:]
    errors = {}
    for columns in (["unique_id", "ds", "y", "open"], list(long.columns)):
        result = forecast_frame(history[columns], 42, model="arima", folds=1, future=later[columns].drop(columns="y"))
        forecast = result.forecasts.set_index("ds")["yhat"]
        opened = later.set_index("ds")["open"] == 1
        errors[len(columns)] = (forecast - later.set_index("ds")["y"]).abs()[opened].mean()
    assert errors[6] < 0.75 * errors[4]  # measured: MAE 672 -> 406

    gap = later.drop(columns="y").copy()
    gap.loc[gap.index[10], "promo"] = float("nan")
    result = forecast_frame(history, 42, model="arima", folds=1, future=gap)
    assert f"regressor 'promo' has no value at {gap['ds'].iloc[10].date()}" in result.notes["1"]
    assert "used naive" in result.notes["1"]
