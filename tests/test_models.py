"""Forecasting models on real sales series: the frame contract, accuracy on hold-outs, bad inputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecaster.errors import ModelError
from forecaster.evaluation import coverage, mase
from forecaster.models import MODELS, PANDAS_FREQ, SEASON_LENGTH, create
from forecaster.models.intermittent import is_intermittent, zero_share
from forecaster.models.spikes import spikes

PROJECT = Path(__file__).resolve().parents[1]
DATA = PROJECT.parent / "shared" / "data"
LEVELS = (80, 95)


@pytest.fixture(scope="module")
def series() -> dict[str, tuple[pd.Series, str]]:
    """Real series by name, each with its frequency."""
    frame = pd.read_csv(DATA / "rossmann" / "train.csv.gz", usecols=["Store", "Date", "Sales"], parse_dates=["Date"])
    out: dict[str, tuple[pd.Series, str]] = {}
    for store in (1, 2, 262):
        sales = frame[frame["Store"] == store].set_index("Date")["Sales"].sort_index()
        out[f"rossmann_{store}"] = (sales.astype(float).rename_axis("ds"), "D")
    weekly = out["rossmann_1"][0].resample("W-MON", label="left", closed="left").sum()
    out["rossmann_1_weekly"] = (weekly.iloc[1:-1], "W")  # full Monday-to-Sunday weeks only
    retail = pd.read_csv(DATA / "us_retail_monthly" / "example_retail_sales.csv", parse_dates=["ds"])
    out["us_retail"] = (retail.set_index("ds")["y"].astype(float), "M")
    lines = pd.read_parquet(DATA / "online_retail" / "online_retail_2010_2011.parquet")
    revenue = (lines["Quantity"] * lines["UnitPrice"]).groupby(lines["InvoiceDate"].dt.normalize()).sum()
    out["online_retail"] = (revenue.asfreq("D", fill_value=0.0).rename_axis("ds"), "D")
    belgium = lines[lines["Country"] == "Belgium"]
    revenue = (belgium["Quantity"] * belgium["UnitPrice"]).groupby(belgium["InvoiceDate"].dt.normalize()).sum().clip(lower=0)
    out["online_retail_belgium"] = (revenue.asfreq("D", fill_value=0.0).rename_axis("ds"), "D")  # no sales on 74% of days
    return out


def holdout_mase(y: pd.Series, freq: str, model: str, horizon: int, **params) -> float:
    train, test = y.iloc[:-horizon], y.iloc[-horizon:]
    frame = create(model, **params).fit(train, freq).predict(horizon)
    return mase(test, frame["yhat"], train, SEASON_LENGTH[freq])


def check_frame(frame: pd.DataFrame, y: pd.Series, freq: str, horizon: int) -> None:
    """The forecast frame contract every model keeps."""
    assert list(frame.columns) == ["ds", "yhat", "yhat_lo_80", "yhat_hi_80", "yhat_lo_95", "yhat_hi_95"]
    assert len(frame) == horizon
    expected = pd.date_range(y.index[-1], periods=horizon + 1, freq=PANDAS_FREQ[freq])[1:]
    assert (pd.DatetimeIndex(frame["ds"]) == expected).all()
    values = frame.drop(columns="ds")
    assert np.isfinite(values.to_numpy()).all()
    assert (values >= 0).all().all()
    assert (frame["yhat_lo_95"] <= frame["yhat_lo_80"]).all()
    assert (frame["yhat_lo_80"] <= frame["yhat"]).all()
    assert (frame["yhat"] <= frame["yhat_hi_80"]).all()
    assert (frame["yhat_hi_80"] <= frame["yhat_hi_95"]).all()
    width_80 = (frame["yhat_hi_80"] - frame["yhat_lo_80"]).mean()
    assert (frame["yhat_hi_95"] - frame["yhat_lo_95"]).mean() > width_80 > 0


SERIES = ("rossmann_1", "rossmann_2", "rossmann_262", "rossmann_1_weekly", "us_retail", "online_retail")
CASES = [(model, name) for model in ("naive", "ets") for name in SERIES]
CASES += [("prophet", "rossmann_262"), ("prophet", "us_retail")]
CASES += [("arima", name) for name in ("rossmann_262", "rossmann_1_weekly", "us_retail", "online_retail")]
CASES += [("tsb", name) for name in ("online_retail_belgium", "rossmann_1_weekly")]
CASES += [("ensemble", name) for name in ("rossmann_262", "us_retail")]


@pytest.mark.parametrize(("model", "name"), CASES)
def test_forecast_frame_contract_on_real_series(series, model: str, name: str) -> None:
    y, freq = series[name]
    horizon = {"D": 42, "W": 13, "M": 12}[freq]
    check_frame(create(model).fit(y, freq).predict(horizon, LEVELS), y, freq, horizon)


def test_importing_models_loads_no_heavy_library() -> None:
    code = "import sys, forecaster.models; print(sorted({'statsmodels', 'prophet'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_rossmann_holdout_accuracy(series) -> None:
    scores = {
        model: [holdout_mase(series[f"rossmann_{store}"][0], "D", model, 42) for store in (1, 2, 262)]
        for model in ("naive", "ets")
    }
    # Measured on the last 42 days: naive 0.475 / 0.660 / 0.552, ets 0.497 / 0.655 / 0.590.
    assert scores["naive"][0] < 0.55
    assert scores["ets"][0] < 0.60
    assert np.mean(scores["ets"]) < 1.15 * np.mean(scores["naive"])
    # Prophet measured 0.469 on store 1.
    assert holdout_mase(series["rossmann_1"][0], "D", "prophet", 42) < 0.60
    # SARIMA measured 0.485 / 0.493 / 0.572: the weekly season differenced, an ARMA on top.
    arima = [holdout_mase(series[f"rossmann_{store}"][0], "D", "arima", 42) for store in (1, 2, 262)]
    assert np.mean(arima) < 0.95 * np.mean(scores["naive"])


def test_monthly_retail_ets_and_prophet_beat_naive(series) -> None:
    y, _ = series["us_retail"]
    naive, ets, prophet = (holdout_mase(y, "M", model, 24) for model in ("naive", "ets", "prophet"))
    # Measured on the last 24 months: naive 1.36, ets 0.58, prophet 0.81.
    assert ets < 0.75 < 1.2 < naive
    assert prophet < 1.0


def test_closed_sundays_are_forecast_as_closed(series) -> None:
    y, _ = series["rossmann_1"]
    for model in ("naive", "ets"):
        frame = create(model).fit(y.iloc[:-42], "D").predict(42)
        sunday = frame["ds"].dt.dayofweek == 6
        assert frame.loc[sunday, "yhat"].mean() < 0.05 * frame.loc[~sunday, "yhat"].mean()


def test_intervals_cover_rossmann_holdout(series) -> None:
    for model in ("naive", "ets"):
        hits = []
        for store in (1, 2, 262):
            y = series[f"rossmann_{store}"][0]
            frame = create(model).fit(y.iloc[:-42], "D").predict(42)
            hits.append(coverage(y.iloc[-42:], frame["yhat_lo_95"], frame["yhat_hi_95"]))
        assert np.mean(hits) >= 0.85


def test_prophet_with_german_holidays_forecasts_christmas_closure(series) -> None:
    y, _ = series["rossmann_1"]
    train = y[:"2014-12-15"]
    plain = create("prophet").fit(train, "D").predict(14).set_index("ds")["yhat"]
    german = create("prophet", holidays_country="DE").fit(train, "D").predict(14).set_index("ds")
    check_frame(german.reset_index(), train, "D", 14)
    christmas = pd.Timestamp("2014-12-25")
    assert german.loc[christmas, "yhat"] < 0.2 * plain.loc[christmas]


def test_seasonal_naive_repeats_last_season(series) -> None:
    y, _ = series["rossmann_2"]
    frame = create("naive").fit(y, "D").predict(14)
    np.testing.assert_array_equal(frame["yhat"], np.tile(y.iloc[-7:].to_numpy(), 2))


def test_short_history_falls_back_to_last_value_with_widening_interval(series) -> None:
    y = series["rossmann_262"][0].iloc[:5]
    frame = create("naive").fit(y, "D").predict(10)
    assert (frame["yhat"] == y.iloc[-1]).all()
    width = frame["yhat_hi_80"] - frame["yhat_lo_80"]
    assert width.iloc[-1] > 2 * width.iloc[0] > 0


def test_ets_on_short_history(series) -> None:
    y = series["rossmann_262"][0]
    check_frame(create("ets").fit(y.iloc[:10], "D").predict(7), y.iloc[:10], "D", 7)
    with pytest.raises(ModelError, match="at least 5 observations"):
        create("ets").fit(y.iloc[:3], "D")


def test_nonnegative_false_keeps_negative_bounds(series) -> None:
    y, _ = series["online_retail"]
    centred = y - y.mean()
    assert (create("naive", nonnegative=False).fit(centred, "D").predict(7)["yhat_lo_95"] < 0).any()
    assert (create("naive").fit(centred, "D").predict(7)["yhat_lo_95"] >= 0).all()


@pytest.mark.parametrize(
    ("mutate", "freq", "message"),
    [
        (lambda y: y.iloc[:0], "D", "empty"),
        (lambda y: y.where(y.index != y.index[3]), "D", "missing or infinite"),
        (lambda y: y.drop(y.index[5]), "D", "not regular"),
        (lambda y: y.iloc[::-1], "D", "not regular"),
        (lambda y: y.reset_index(drop=True), "D", "DatetimeIndex"),
        (lambda y: y.astype(str), "D", "numeric"),
        (lambda y: y, "H", "unknown frequency"),
        (lambda y: y.set_axis(y.index + pd.Timedelta(days=1)).resample("W-TUE").sum(), "W", "period start"),
    ],
    ids=["empty", "nan", "gap", "unsorted", "no-dates", "text", "bad-freq", "weekly-not-monday"],
)
@pytest.mark.parametrize("model", ["naive", "ets", "arima", "prophet", "tsb"])
def test_bad_series_raise_model_error(series, model: str, mutate, freq: str, message: str) -> None:
    y = mutate(series["rossmann_1"][0].iloc[:60])
    with pytest.raises(ModelError, match=message):
        create(model).fit(y, freq)


def test_bad_predict_arguments(series) -> None:
    y, _ = series["rossmann_1"]
    with pytest.raises(ModelError, match="before fit"):
        create("naive").predict(7)
    model = create("naive").fit(y, "D")
    with pytest.raises(ModelError, match="horizon must be an integer >= 1"):
        model.predict(0)
    with pytest.raises(ModelError, match="levels"):
        model.predict(7, levels=(80, 100))


def test_create_rejects_unknown_names_and_parameters() -> None:
    with pytest.raises(ModelError, match="unknown model 'arma'.*ets.*naive.*prophet"):
        create("arma")
    with pytest.raises(ModelError, match="invalid parameters for model 'ets'"):
        create("ets", alpha=0.3)
    with pytest.raises(ModelError, match="holidays_country 'Germany' is not supported"):
        create("prophet", holidays_country="Germany")
    for name in ("naive", "ets", "arima"):
        with pytest.raises(ModelError, match=f"{name}: season_length must be >= 1, got 0"):
            create(name, season_length=0)
    assert {"naive", "ets", "arima", "prophet", "tsb"} <= set(MODELS)


def test_tsb_refuses_negative_sales_and_a_history_without_sales(series) -> None:
    y, freq = series["online_retail_belgium"]
    refund = y.copy()
    refund.iloc[10] = -50.0
    with pytest.raises(ModelError, match=f"tsb: sales cannot be negative, got -50.0 on {y.index[10].date()}"):
        create("tsb").fit(refund, freq)
    with pytest.raises(ModelError, match="tsb: needs at least 2 periods with sales, got 0"):
        create("tsb").fit(y * 0, freq)


def test_library_errors_are_translated(series) -> None:
    y = series["us_retail"][0].iloc[:1]
    with pytest.raises(ModelError, match="prophet: fitting 1 points") as info:
        create("prophet").fit(y, "M")
    assert isinstance(info.value.__cause__, ValueError)


@pytest.fixture(scope="module")
def rossmann_stores() -> pd.DataFrame:
    """Eight real Rossmann stores since 2014 with promo and the open flag, in long format."""
    raw = pd.read_csv(DATA / "rossmann" / "train.csv.gz", usecols=["Store", "Date", "Sales", "Promo", "Open"], parse_dates=["Date"])
    raw = raw[raw["Store"].isin([1, 2, 3, 4, 5, 6, 7, 8]) & (raw["Date"] >= "2014-01-01")].sort_values(["Store", "Date"])
    return pd.DataFrame({
        "unique_id": raw["Store"].astype(str), "ds": raw["Date"], "y": raw["Sales"].astype(float),
        "promo": raw["Promo"].astype(float), "open": raw["Open"].astype(float),
    }).reset_index(drop=True)


def test_a_panel_is_the_same_whatever_the_order_of_the_long_frames_rows(rossmann_stores) -> None:
    from forecaster.models.panel import build_panel

    history = rossmann_stores[rossmann_stores["ds"] < "2015-06-20"]
    later = rossmann_stores[rossmann_stores["ds"] >= "2015-06-20"].drop(columns="y")
    ordered = build_panel(history, "D", 42, later).series
    shuffled = build_panel(history.sample(frac=1.0, random_state=0), "D", 42, later).series
    assert [s.unique_id for s in shuffled] == [str(k) for k in range(1, 9)] == [s.unique_id for s in ordered]
    for a, b in zip(ordered, shuffled):
        assert a.dates.equals(b.dates) and a.n_history == b.n_history
        assert np.array_equal(a.y, b.y, equal_nan=True) and np.array_equal(a.regressors, b.regressors)


def test_gbm_beats_seasonal_naive_on_rossmann_holdout(rossmann_stores) -> None:
    from forecaster.metrics import rmspe
    from forecaster.models.panel import build_panel

    horizon = 42
    cut = pd.Timestamp("2015-06-20")
    history, later = rossmann_stores[rossmann_stores["ds"] < cut], rossmann_stores[rossmann_stores["ds"] >= cut]
    panel = build_panel(history, "D", horizon, later.drop(columns="y"))
    forecast = create("gbm").fit(panel).predict(panel)
    assert list(forecast.columns) == ["unique_id", "ds", "yhat", "closed"] and len(forecast) == 8 * horizon
    joined = forecast.merge(later, on=["unique_id", "ds"])
    assert (joined["closed"] == (joined["open"] == 0)).all()
    assert (joined.loc[joined["closed"], "yhat"] == 0).all() and (joined["yhat"] >= 0).all()
    scored = joined[(joined["open"] == 1) & (joined["y"] > 0)]
    naive = np.concatenate([
        create("naive").fit(s.set_index("ds")["y"], "D").predict(horizon)["yhat"].to_numpy() for _, s in history.groupby("unique_id")
    ])
    naive = joined.assign(yhat=naive[: len(joined)])[(joined["open"] == 1) & (joined["y"] > 0)]
    assert rmspe(scored["y"], scored["yhat"]) < 0.6 * rmspe(naive["y"], naive["yhat"])
    assert rmspe(scored["y"], scored["yhat"]) < 0.2


def test_gbm_features_never_see_past_the_origin(rossmann_stores) -> None:
    """Changing every value after an origin leaves that origin's feature rows unchanged (no leakage)."""
    from forecaster.models.features import SeriesFeatures
    from forecaster.models.panel import build_panel

    store = rossmann_stores[rossmann_stores["unique_id"] == "1"]
    panel = build_panel(store.iloc[:-42], "D", 42, store.iloc[-42:].drop(columns="y"))
    series = panel.series[0]
    origin = series.n_history - 100
    origins, steps = np.full(42, origin), np.arange(1, 43)
    before, _ = SeriesFeatures(series, "D").matrix(origins, steps, 42)
    series.y[origin + 1 :] = np.where(np.isnan(series.y[origin + 1 :]), np.nan, 1e6)
    after, _ = SeriesFeatures(series, "D").matrix(origins, steps, 42)
    np.testing.assert_array_equal(before, after)


def test_gbm_samples_its_training_examples_before_computing_them(rossmann_stores) -> None:
    """The sample is the one drawn from every example built, so memory follows max_rows, not the number of series."""
    from forecaster.models.features import training_examples
    from forecaster.models.panel import build_panel

    history = rossmann_stores.groupby("unique_id").head(len(rossmann_stores) // 8 - 42)
    future = rossmann_stores.drop(history.index).drop(columns="y")
    panel = build_panel(history, "D", 42, future)
    every_x, every_y = training_examples(panel, 7, 10**7)
    assert len(every_y) > 20_000
    chosen = np.random.default_rng(5).choice(len(every_y), size=5_000, replace=False)
    x, y = training_examples(panel, 7, 5_000, seed=5)
    np.testing.assert_array_equal(x, every_x[chosen])
    np.testing.assert_array_equal(y, every_y[chosen])


def test_gbm_features_know_the_calendar_only_one_horizon_ahead(rossmann_stores) -> None:
    """Closures and promotions past origin + horizon are not seen in training, as they are not when forecasting."""
    from forecaster.models.features import SeriesFeatures, feature_names
    from forecaster.models.panel import build_panel

    store = rossmann_stores[rossmann_stores["unique_id"] == "1"]
    panel = build_panel(store.iloc[:-42], "D", 42, store.iloc[-42:].drop(columns="y"))
    series = panel.series[0]
    origin, horizon = series.n_history - 200, 28
    origins, steps = np.full(horizon, origin), np.arange(1, horizon + 1)
    before, _ = SeriesFeatures(series, "D").matrix(origins, steps, horizon)
    beyond = slice(origin + horizon + 1, None)
    series.is_open[beyond], series.regressors[beyond] = False, 1.0
    after, _ = SeriesFeatures(series, "D").matrix(origins, steps, horizon)
    np.testing.assert_array_equal(before, after)
    # A three-day closure and a promotion at the horizon's end are seen from the steps before them.
    end = slice(origin + horizon - 2, origin + horizon + 1)
    series.is_open[end], series.regressors[end] = False, 1.0
    inside, _ = SeriesFeatures(series, "D").matrix(origins, steps, horizon)
    changed = {name for name, column in zip(feature_names(panel), (inside != after).any(axis=0)) if column}
    assert {"until_closed", "until_long_closure", "promo_until", "promo_after"} <= changed


def test_gbm_needs_future_regressors_and_enough_history(rossmann_stores) -> None:
    from forecaster.models.panel import build_panel

    with pytest.raises(ModelError, match="regressors .*promo.* need their values over the horizon"):
        build_panel(rossmann_stores, "D", 14)
    short = rossmann_stores.drop(columns=["promo", "open"]).groupby("unique_id").head(20)
    with pytest.raises(ModelError, match="too few"):
        create("gbm").fit(build_panel(short, "D", 14))


def test_gbm_fits_series_shorter_than_a_year(rossmann_stores) -> None:
    """Under a year of history there is no year-ago feature; the model still fits and forecasts."""
    from forecaster.models.panel import build_panel

    recent = rossmann_stores[rossmann_stores["ds"] >= "2015-01-01"].drop(columns=["promo", "open"])
    history, later = recent[recent["ds"] < "2015-07-01"], recent[recent["ds"] >= "2015-07-01"]
    forecast = create("gbm").fit(build_panel(history, "D", 14)).predict(build_panel(history, "D", 14))
    assert len(forecast) == 8 * 14 and np.isfinite(forecast["yhat"]).all() and (forecast["yhat"] >= 0).all()
    assert later["ds"].min() == forecast["ds"].min()


@pytest.mark.parametrize("model", ["naive", "ets", "arima"])
def test_a_one_day_spike_or_dip_does_not_bend_the_forecast(series, model: str) -> None:
    y, _ = series["rossmann_262"]
    odd = y.copy()
    odd.iloc[-3] *= 5  # a bulk order three days ago
    odd.iloc[-9] *= 0.1  # a power cut the week before
    plain = create(model).fit(y, "D").predict(14)["yhat"]
    bent = create(model).fit(odd, "D").predict(14)["yhat"]
    assert (bent / plain - 1).abs().max() < 0.1


@pytest.mark.parametrize("model", ["naive", "ets"])
def test_a_change_that_persists_is_a_new_normal(series, model: str) -> None:
    y, _ = series["rossmann_262"]
    lower = y.copy()
    lower.iloc[-3:] *= 0.4  # three days running is not a spike
    assert not spikes(lower.to_numpy(), "D")[-3:].any()
    lower.iloc[-28:] *= 0.7 / lower.iloc[-28:].div(y.iloc[-28:])  # four weeks 30% down
    plain = create(model).fit(y, "D").predict(14)["yhat"].sum()
    assert create(model).fit(lower, "D").predict(14)["yhat"].sum() / plain == pytest.approx(0.7, abs=0.03)


def test_seasonal_peaks_and_ordinary_days_are_not_spikes(series) -> None:
    weekly, _ = series["rossmann_1_weekly"]
    peaks = weekly[weekly.index.month == 12].groupby(weekly.index.year[weekly.index.month == 12]).max()
    assert len(peaks) == 2 and peaks.min() > 1.6 * weekly.median()  # the week before Christmas, each year
    assert not spikes(weekly.to_numpy(), "W").any()
    daily, _ = series["rossmann_262"]  # open on public holidays, when the shops around it are shut
    flagged = daily.index[spikes(daily.to_numpy(), "D")]
    days = pd.read_csv(DATA / "rossmann" / "train.csv.gz", usecols=["Store", "Date", "StateHoliday"], dtype={"StateHoliday": str}, parse_dates=["Date"])
    holidays = days.loc[(days["Store"] == 262) & (days["StateHoliday"] != "0"), "Date"]
    assert 0 < len(flagged) < 0.02 * len(daily) and flagged.isin(holidays).all()


def test_tsb_forecasts_intermittent_sales_at_their_rate_with_honest_intervals(series) -> None:
    y, freq = series["online_retail_belgium"]
    assert zero_share(y.to_numpy(), freq) > 0.7
    train, test = y.iloc[:-56], y.iloc[-56:]
    frame = create("tsb").fit(train, freq).predict(56)
    assert 0.75 < frame["yhat"].sum() / test.sum() < 1.25
    assert (frame["yhat_lo_80"] == 0).all()  # a day without sales is the likeliest outcome
    assert 0.7 <= coverage(test, frame["yhat_lo_80"], frame["yhat_hi_80"]) <= 0.95
    assert coverage(test, frame["yhat_lo_95"], frame["yhat_hi_95"]) >= 0.9
    naive = create("naive").fit(train, freq).predict(56)["yhat"]
    assert np.sqrt(np.mean((test.to_numpy() - frame["yhat"]) ** 2)) < 0.75 * np.sqrt(np.mean((test.to_numpy() - naive) ** 2))


def test_tsb_forecasts_a_series_that_stopped_selling_towards_zero(series) -> None:
    y, freq = series["online_retail_belgium"]
    selling = create("tsb").fit(y, freq).predict(7)["yhat"].iloc[0]
    stopped = pd.concat([y, pd.Series(0.0, index=pd.date_range(y.index[-1], periods=61, freq="D")[1:])])
    assert create("tsb").fit(stopped, freq).predict(7)["yhat"].iloc[0] < 0.3 * selling


def test_closing_weekdays_are_not_intermittence(series) -> None:
    y, _ = series["rossmann_1"]  # closed on Sundays: 16% of its days have no sales
    assert (y == 0).mean() > 0.15 and zero_share(y.to_numpy(), "D") < 0.05
    weekends_off = y.where(y.index.dayofweek != 5, 0.0)  # closed on Saturdays too: 30% of days
    assert (weekends_off == 0).mean() > 0.3 and not is_intermittent(weekends_off.to_numpy(), "D")
    missing = y.copy()
    missing.iloc[100:500] = 0.0  # 400 days missing from an export, filled as no sales
    assert (missing == 0).mean() > 0.4 and not is_intermittent(missing.to_numpy(), "D")


def test_gbm_is_not_bent_by_a_spike_on_a_promotion_day_but_sees_a_holiday(rossmann_stores) -> None:
    """A bulk order on a promotion day is still a spike (compared with other promotion days); a holiday has no peers and is kept."""
    from forecaster.models.panel import build_panel

    cut = pd.Timestamp("2015-07-18")
    history = rossmann_stores[rossmann_stores["ds"] < cut]
    future = pd.concat([
        pd.DataFrame({"unique_id": sid, "ds": pd.date_range(cut, periods=14), "promo": 0.0, "open": 1.0}) for sid in history["unique_id"].unique()
    ])
    spike_day = (history["unique_id"] == "1") & (history["ds"] == cut - pd.Timedelta(days=3))
    assert history.loc[spike_day, "promo"].item() == 1
    spiked = history.assign(y=history["y"].where(~spike_day, history["y"] * 5))
    plain = create("gbm").fit(build_panel(history, "D", 14, future)).predict(build_panel(history, "D", 14, future))
    bent = create("gbm").fit(build_panel(spiked, "D", 14, future)).predict(build_panel(spiked, "D", 14, future))
    ratio = bent.loc[bent["unique_id"] == "1", "yhat"].sum() / plain.loc[plain["unique_id"] == "1", "yhat"].sum()
    assert ratio == pytest.approx(1.0, abs=0.03)
    holiday = history.assign(holiday=(history["ds"] == "2015-05-14").astype(float))  # Ascension Day, the stores shut
    holiday.loc[spike_day, "y"] *= 5  # now a one-off holiday opening at five times the usual
    holiday.loc[spike_day, "holiday"] = 1.0
    panel = build_panel(holiday, "D", 14, future.assign(holiday=0.0))
    y = next(s for s in panel.series if s.unique_id == "1").y
    assert y[spike_day[history["unique_id"] == "1"].to_numpy().nonzero()[0][0]] == holiday.loc[spike_day, "y"].item()
