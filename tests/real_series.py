"""Real Rossmann stores for the detection tests: long frames, deviations, and an engine over them."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

import pandas as pd

from alerts.calendar import Calendar
from alerts.deviation import Deviation
from alerts.notifiers.memory import MemoryNotifier
from forecaster.engine import Engine
from forecaster.replay import SimulatedClock, run_times
from forecaster.settings import parse
from forecaster.store import Store
from conftest import DATA

BERLIN = "Europe/Berlin"
NOISE = 0.16  # relative sd of the same-weekday-and-promo expectation on these stores (measured, 2015)


@functools.lru_cache(maxsize=1)
def _rossmann() -> pd.DataFrame:
    columns = ["Store", "Date", "Sales", "Promo", "Open", "StateHoliday", "SchoolHoliday"]
    sales = pd.read_csv(DATA / "rossmann/train.csv.gz", dtype={"StateHoliday": str}, usecols=columns)
    return sales.assign(ds=pd.to_datetime(sales.Date)).sort_values(["Store", "ds"], ignore_index=True)


def rossmann_known_future(stores: list[int], path: Path, since: str = "2013-01-01") -> Path:
    """A known-future file of ``stores`` at ``path``: ``series, day, promo, school_holiday, state_holiday, open`` per day."""
    sales = _rossmann()
    sales = sales[sales.Store.isin(stores) & (sales.ds >= since)]
    pd.DataFrame({
        "series": "store " + sales.Store.astype(str), "day": sales.Date, "promo": sales.Promo, "school_holiday": sales.SchoolHoliday,
        "state_holiday": (sales.StateHoliday != "0").astype(int), "open": sales.Open,
    }).to_csv(path, index=False)
    return path


Change = tuple[str, str, float]  # (first day, last day, factor): sales multiplied by factor on those days


def _changed(actual: pd.Series, days: pd.Series, changes: list[Change]) -> pd.Series:
    for first, last, factor in changes:
        actual = actual.where(~days.between(first, last), actual * factor)
    return actual


def rossmann_long(stores: list[int], since: str = "2014-11-01", changes: list[Change] = ()) -> pd.DataFrame:
    """Daily sales of ``stores`` as ``unique_id, ds, y`` ("store 1"), with ``changes`` applied."""
    sales = _rossmann()
    sales = sales[sales.Store.isin(stores) & (sales.ds >= since)]
    y = _changed(sales.Sales.astype(float), sales.ds, list(changes))
    return pd.DataFrame({"unique_id": "store " + sales.Store.astype(str), "ds": sales.ds, "y": y}).reset_index(drop=True)


def rossmann_deviations(store: int, start: str, end: str, changes: list[Change] = (), calendar: Calendar | None = None) -> list[Deviation]:
    """Deviations of one store's days from ``start`` to ``end``, excused by ``calendar`` (DE by default).

    The expectation is the mean of the four previous same weekdays with the same promo status,
    computed on the real sales (it knows nothing of the ``changes``), with an 80% / 95% interval
    of NOISE around it.
    """
    sales = _rossmann()
    own = sales[sales.Store == store].set_index("ds")
    open_days = own[own.Sales > 0]
    expected = open_days.groupby([open_days.index.dayofweek, open_days.Promo]).Sales.transform(lambda v: v.shift(1).rolling(4).mean())
    actual = _changed(own.Sales.astype(float), own.index.to_series(), list(changes))
    devs = []
    for day in pd.date_range(start, end):
        e = float(expected.get(day, 0.0))
        sigma = NOISE * e
        bounds = {80: (e - 1.2816 * sigma, e + 1.2816 * sigma), 95: (e - 1.96 * sigma, e + 1.96 * sigma)}
        devs.append(Deviation(f"store {store}", day.date(), day.date(), float(actual.get(day, 0.0)), e, bounds))
    by_day = {d.date(): float(v) for d, v in actual.items()}
    return (calendar or Calendar(country="DE")).excuse(devs, by_day, "D")


class DailyEngine:
    """The engine over a long frame in a fresh store (SQLite unless ``url``), run once per day at local midnight."""

    def __init__(self, long: pd.DataFrame, folder: Path, monitor: dict | None = None, url: str | None = None, **settings):
        self.settings = parse(
            {"timezone": BERLIN, "series": {"min_history": 56}, "forecast": {"model": "naive"}, "monitor": monitor or {}, **settings},
            "test config",
        )
        self.store = Store(url or f"sqlite:///{folder / 'store.db'}").create()
        self.store.orders.replace_points(long)
        self.memory = MemoryNotifier()
        self.clock = SimulatedClock(dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc))
        self.engine = Engine(self.settings, self.store, notifiers={"memory": self.memory}, clock=self.clock)

    def run(self, moment: dt.datetime):
        """One run at ``moment`` (the clock stands there)."""
        self.clock.now = moment
        return self.engine.run(moment, sync=False)

    def run_days(self, first: dt.date, last: dt.date) -> list:
        """One run per day from ``first`` to ``last``; the summaries."""
        return [self.run(moment) for moment in run_times(first, last, "D", BERLIN)]

    def sent(self, *kinds: str) -> list:
        """Messages delivered so far, only of ``kinds`` when given."""
        return [m for m in self.memory.sent if not kinds or m.event in kinds]

    def close(self) -> None:
        self.store.close()
