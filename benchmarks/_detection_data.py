"""The detection benchmark's series and injected drops, from the real data in ``shared/data``.

A :class:`BenchSeries` is one daily series as the engine would see it (gap-free, a closed day is
a zero), which days the business was open (only those are scored) and the monitor calendar a
user would configure for it (public holidays of the store's country and state).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from alerts.calendar import Calendar

WINDOW_DAYS = 120  # the replayed stretch at the end of every series
FOLLOW_DAYS = 14  # every drop is followed this many days, so recall within 14 days is defined for all
DROP_SIZES = (0.1, 0.2, 0.3)
STATE_SUBDIVISION = {"HBNI": "NI"}  # Rossmann's Bremen/Lower Saxony group: Lower Saxony's holidays


@dataclass(frozen=True)
class BenchSeries:
    """One real daily series: ``y`` is regular (a closed day is 0), ``open`` marks the days scored."""

    id: str
    dataset: str
    y: pd.Series
    open: pd.Series
    calendar: Calendar
    window_days: int = WINDOW_DAYS
    regressors: pd.DataFrame | None = None  # known-future inputs by day (Rossmann: promo, holidays)

    @property
    def window(self) -> pd.DatetimeIndex:
        """The last ``window_days`` days: the days the schedule is replayed over."""
        return self.y.index[-self.window_days :]


@dataclass(frozen=True)
class Drop:
    """A sustained drop: actuals times ``1 - size`` from ``start`` (an open day) onwards."""

    size: float
    start: pd.Timestamp

    @property
    def label(self) -> str:
        return f"{round(self.size * 100)}%"

    def copy_id(self, series_id: str) -> str:
        """The id of ``series_id``'s copy with this drop injected."""
        return f"{series_id} -{self.label}"

    def apply(self, series: BenchSeries) -> BenchSeries:
        """The series with the drop injected."""
        factor = np.where(series.y.index >= self.start, 1.0 - self.size, 1.0)
        return replace(series, id=self.copy_id(series.id), y=series.y * factor)


def drop_start(series: BenchSeries, seed: int) -> pd.Timestamp:
    """A random open day of the window that leaves ``FOLLOW_DAYS`` days after it, fixed by seed and series id."""
    window = series.window[: -(FOLLOW_DAYS - 1)]
    candidates = window[series.open.reindex(window).to_numpy()]
    if len(candidates) == 0:
        raise ValueError(f"series {series.id}: no open day in {window[0].date()}..{window[-1].date()} to start a drop")
    rng = np.random.default_rng([seed, zlib.crc32(series.id.encode())])
    return candidates[rng.integers(len(candidates))]


def _check(path: Path) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: pass --data pointing at the shared data folder (it holds rossmann/ and online_retail/)")
    return path


def rossmann_sample(data: Path, stores: int, seed: int = 0) -> list[BenchSeries]:
    """The first ``stores`` of a seeded permutation of the stores with a complete history (no 2014 gap)."""
    frame = pd.read_csv(
        _check(data / "rossmann" / "train.csv.gz"), usecols=["Store", "Date", "Sales", "Open", "Promo", "StateHoliday", "SchoolHoliday"],
        parse_dates=["Date"], dtype={"StateHoliday": str},
    )
    days = pd.date_range(frame["Date"].min(), frame["Date"].max(), freq="D", name="ds")
    complete = frame.groupby("Store")["Date"].nunique()
    eligible = np.sort(complete.index[complete == len(days)].to_numpy())
    if stores > len(eligible):
        raise ValueError(f"--stores {stores}: only {len(eligible)} Rossmann stores have a complete history")
    chosen = np.random.default_rng(seed).permutation(eligible)[:stores]
    states = pd.read_csv(_check(data / "rossmann" / "store_states.csv")).set_index("Store")["State"]
    out = []
    for store in chosen:
        rows = frame[frame["Store"] == store].set_index("Date").sort_index().reindex(days)
        y = rows["Sales"].fillna(0.0).astype(float).rename("y")
        is_open = (rows["Open"].fillna(0) == 1) & (y > 0)
        calendar = Calendar(country="DE", subdivision=STATE_SUBDIVISION.get(states[store], states[store]))
        regressors = pd.DataFrame({
            "promo": rows["Promo"].fillna(0).astype(float),
            "state_holiday": (rows["StateHoliday"].fillna("0") != "0").astype(float),
            "school_holiday": rows["SchoolHoliday"].fillna(0).astype(float),
        })
        out.append(BenchSeries(f"rossmann {store}", "Rossmann", y, is_open, calendar, regressors=regressors))
    return out


def online_retail_series(data: Path, countries: int) -> list[BenchSeries]:
    """Daily revenue (cancellations negative) of the whole shop and its ``countries`` largest countries.

    The 2009-2010 file supplies the days before the 2010-2011 file starts; the last, partial day is
    left out. A day with no revenue (Saturdays, Christmas) is a closed day.
    """
    folder = data / "online_retail"
    new = pd.read_parquet(_check(folder / "online_retail_2010_2011.parquet"), columns=["InvoiceDate", "Quantity", "UnitPrice", "Country"])
    old = pd.read_parquet(_check(folder / "online_retail_ii_2009_2010.parquet"), columns=["InvoiceDate", "Quantity", "Price", "Country"])
    old = old.rename(columns={"Price": "UnitPrice"})
    lines = pd.concat([old[old["InvoiceDate"] < new["InvoiceDate"].min().normalize()], new], ignore_index=True)
    lines["day"] = lines["InvoiceDate"].dt.normalize()
    lines["revenue"] = lines["Quantity"] * lines["UnitPrice"]
    lines = lines[lines["day"] < lines["day"].max()]
    days = pd.date_range(lines["day"].min(), lines["day"].max(), freq="D", name="ds")
    last_year = lines[lines["day"] > days[-1] - pd.Timedelta(days=365)]
    largest = last_year.groupby("Country")["revenue"].sum().nlargest(countries).index
    groups = [("online retail total", lines)] + [(f"online retail {c}", lines[lines["Country"] == c]) for c in largest]
    out = []
    for name, part in groups:
        y = part.groupby("day")["revenue"].sum().reindex(days, fill_value=0.0).astype(float).rename("y").rename_axis("ds")
        out.append(BenchSeries(name, "Online Retail", y, y > 0, Calendar(country="GB")))
    return out
