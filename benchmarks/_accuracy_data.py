"""The accuracy benchmark's cases: real series cut into history, known future and holdout."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
ROSSMANN_HOLDOUT = (pd.Timestamp("2015-06-20"), pd.Timestamp("2015-07-31"))


@dataclass
class Case:
    """One benchmark case: every method sees ``history`` (and ``future`` regressors) and forecasts ``horizon``."""

    name: str
    freq: str
    horizon: int
    season_length: int
    history: pd.DataFrame  # unique_id, ds, y[, regressors, open]
    future: pd.DataFrame | None  # unique_id, ds, regressors, open over the horizon
    holdout: pd.DataFrame  # unique_id, ds, y, scored (bool: the period counts in the scores)


def rossmann_daily(stores: int | None) -> pd.DataFrame:
    """Rossmann daily sales per store with promo, holiday flags and open; days missing from the file are closed."""
    raw = pd.read_csv(DATA / "rossmann" / "train.csv.gz", dtype={"StateHoliday": str}, parse_dates=["Date"])
    ids = np.sort(raw["Store"].unique())
    if stores is not None:
        ids = ids[np.linspace(0, len(ids) - 1, stores).round().astype(int)]
        raw = raw[raw["Store"].isin(ids)]
    long = pd.DataFrame({
        "unique_id": raw["Store"].astype(str).str.zfill(4), "ds": raw["Date"], "y": raw["Sales"].astype(float),
        "promo": raw["Promo"].astype(float), "state_holiday": (raw["StateHoliday"] != "0").astype(float),
        "school_holiday": raw["SchoolHoliday"].astype(float), "open": raw["Open"].astype(float),
    })
    days = pd.date_range(long["ds"].min(), long["ds"].max(), freq="D", name="ds")
    grid = pd.MultiIndex.from_product([sorted(long["unique_id"].unique()), days], names=["unique_id", "ds"])
    full = long.set_index(["unique_id", "ds"]).reindex(grid).reset_index()
    # 180 stores have no rows for 2014-07-01 .. 2014-12-31: unknown days, treated as closed.
    full = full.fillna({"y": 0.0, "promo": 0.0, "state_holiday": 0.0, "school_holiday": 0.0, "open": 0.0})
    return store_regressors(full)


def store_regressors(long: pd.DataFrame) -> pd.DataFrame:
    """Add what ``store.csv`` says about each day of each store, all known in advance.

    ``competition``: the log of the distance in metres to the nearest competitor from the month it
    opened (always, where no opening date is given; 0 before it and where no competitor is known);
    ``promo2``: 1 in the months of the store's continuing promotion (``PromoInterval``) from the
    week it joined.
    """
    stores = pd.read_csv(DATA / "rossmann" / "store.csv", dtype={"PromoInterval": str})
    stores["unique_id"] = stores["Store"].astype(str).str.zfill(4)
    opened = pd.to_datetime(pd.DataFrame({
        "year": stores["CompetitionOpenSinceYear"].fillna(1900), "month": stores["CompetitionOpenSinceMonth"].fillna(1), "day": 1,
    }))
    joined = pd.to_datetime(
        stores["Promo2SinceYear"].fillna(2100).astype(int).astype(str) + "-W" + stores["Promo2SinceWeek"].fillna(1).astype(int).astype(str).str.zfill(2) + "-1",
        format="%G-W%V-%u",
    )
    months = stores["PromoInterval"].fillna("").str.replace("Sept", "Sep").str.split(",")
    per_store = pd.DataFrame({
        "unique_id": stores["unique_id"], "opened": opened, "distance": np.log(stores["CompetitionDistance"]),
        "joined": joined.where(stores["Promo2"] == 1), "months": months,
    })
    rows = long[["unique_id", "ds"]].merge(per_store, on="unique_id", how="left")
    promo_month = [month in promo_months for month, promo_months in zip(rows["ds"].dt.strftime("%b"), rows["months"])]
    competition = np.where(rows["ds"] >= rows["opened"], rows["distance"], np.nan)
    return long.assign(
        competition=np.nan_to_num(competition, nan=0.0),
        promo2=((rows["ds"] >= rows["joined"]) & np.array(promo_month)).astype(float).to_numpy(),
    )


def rossmann_case(stores: int | None) -> Case:
    """Rossmann, last six weeks held out, scored on open days with sales > 0 (the Kaggle convention)."""
    long = rossmann_daily(stores)
    start, end = ROSSMANN_HOLDOUT
    history, later = long[long["ds"] < start], long[(long["ds"] >= start) & (long["ds"] <= end)]
    holdout = later[["unique_id", "ds", "y"]].assign(scored=(later["open"] == 1) & (later["y"] > 0))
    return Case("Rossmann daily", "D", 42, 7, history.reset_index(drop=True), later.drop(columns="y").reset_index(drop=True), holdout)


def rossmann_weekly_case(stores: int | None, horizon: int = 8) -> Case:
    """Rossmann summed into Monday weeks (open if any day is), the last ``horizon`` full weeks held out.

    Without the competitor's distance, which is constant for most stores: with it, gbm's weekly
    backtest errors grew and selection turned to the ensemble (benchmarks/README.md, "Forecast accuracy").
    """
    long = rossmann_daily(stores)
    week = long["ds"] - pd.to_timedelta(long["ds"].dt.weekday, unit="D")
    weekly = long.assign(ds=week).groupby(["unique_id", "ds"], as_index=False).agg(
        y=("y", "sum"), promo=("promo", "mean"), state_holiday=("state_holiday", "mean"),
        school_holiday=("school_holiday", "mean"), promo2=("promo2", "mean"), open=("open", "max"), days=("y", "size"),
    )
    weekly = weekly[weekly["days"] == 7].drop(columns="days")
    cut = weekly["ds"].max() - pd.Timedelta(weeks=horizon - 1)
    history, later = weekly[weekly["ds"] < cut], weekly[weekly["ds"] >= cut]
    holdout = later[["unique_id", "ds", "y"]].assign(scored=(later["open"] == 1) & (later["y"] > 0))
    return Case("Rossmann weekly", "W", horizon, 52, history.reset_index(drop=True), later.drop(columns="y").reset_index(drop=True), holdout)


def online_retail_case(countries: int = 5, horizon: int = 28) -> Case:
    """Online Retail daily revenue (both UCI files) of the top countries and the total; last ``horizon`` days held out."""
    old = pd.read_parquet(DATA / "online_retail" / "online_retail_ii_2009_2010.parquet")
    new = pd.read_parquet(DATA / "online_retail" / "online_retail_2010_2011.parquet")
    old = old.rename(columns={"Price": "UnitPrice"})
    lines = pd.concat([old[old["InvoiceDate"] < new["InvoiceDate"].min()], new], ignore_index=True)
    lines = lines.assign(revenue=lines["Quantity"] * lines["UnitPrice"], ds=lines["InvoiceDate"].dt.normalize())
    top = lines.groupby("Country")["revenue"].sum().nlargest(countries).index
    per_country = lines[lines["Country"].isin(top)].groupby(["Country", "ds"])["revenue"].sum().rename("y").reset_index()
    total = lines.groupby("ds")["revenue"].sum().rename("y").reset_index().assign(Country="total")
    frame = pd.concat([per_country, total]).rename(columns={"Country": "unique_id"})
    days = pd.date_range(frame["ds"].min(), frame["ds"].max() - pd.Timedelta(days=1), freq="D", name="ds")  # the last day is partial
    grid = pd.MultiIndex.from_product([sorted(frame["unique_id"].unique()), days], names=["unique_id", "ds"])
    long = frame.set_index(["unique_id", "ds"]).reindex(grid, fill_value=0.0).reset_index()
    long["y"] = long["y"].clip(lower=0.0)  # a day of net refunds is no sales
    cut = days[-horizon]
    history, later = long[long["ds"] < cut], long[long["ds"] >= cut]
    return Case("Online Retail daily", "D", horizon, 7, history.reset_index(drop=True), None, later.assign(scored=True).reset_index(drop=True))
