"""The histories a forecast run reads from the store, a block of series per query, in the engine or in a worker.

On worker processes of this machine (``processes``, a local Dask cluster) each task reads its own
batch's histories: the engine's process then only stores what comes back, where reading every
history itself kept the workers waiting on it (benchmarks/README.md, "Speed"). A running Dask
scheduler's workers, which may not reach the store, get the histories from the engine unless
``parallel.workers_read_store`` says they reach it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from forecaster.data.series import regular_each
from forecaster.parallel import Outcome, run_batch
from forecaster.series_job import SeriesJob, run_series_job
from forecaster.settings import ParallelSettings
from forecaster.store import Store


@dataclass(frozen=True)
class HistoryWindow:
    """The part of each stored history a run forecasts from: periods of ``freq`` from ``first`` to ``end``, the last ``periods`` of them, at least ``min_periods``."""

    freq: str
    first: dt.date
    end: pd.Timestamp
    periods: int
    min_periods: int


def read_histories(store: Store, series: list[str], window: HistoryWindow) -> tuple[dict[str, pd.Series], list[str]]:
    """Each series' regular history in ``window``, in one query, by id; and the series too short to forecast yet."""
    points = store.orders.points(end=window.end.date(), series=series, start=window.first)
    regular = regular_each(points, window.freq, window.end)
    histories, short = {}, []
    for series_id in series:
        y = regular.pop(series_id, pd.Series(dtype=float)).iloc[-window.periods :]
        if len(y) < window.min_periods:
            short.append(series_id)
        else:
            histories[series_id] = y
    return histories, short


@dataclass(frozen=True)
class HistoryBlock:
    """Series jobs without their histories, which the worker reads from the store at ``url``."""

    url: str
    window: HistoryWindow
    jobs: tuple[tuple[str, SeriesJob], ...]


@dataclass(frozen=True)
class BlockForecasts:
    """Each forecast series' outcome, and the series too short to forecast yet."""

    outcomes: list[Outcome]
    waiting: list[str]


_STORES: dict[str, Store] = {}  # a worker's connections, kept from one task to the next


def run_history_block(block: HistoryBlock) -> BlockForecasts:
    """Read the block's histories, then run each series' job; a failing series is that series' outcome."""
    if block.url not in _STORES:
        _STORES[block.url] = Store(block.url)
    store = _STORES[block.url]
    histories, short = read_histories(store, [series_id for series_id, _ in block.jobs], block.window)
    jobs = [(series_id, dataclasses.replace(job, y=histories[series_id])) for series_id, job in block.jobs if series_id in histories]
    return BlockForecasts(run_batch(run_series_job, jobs), short)


def worker_url(store: Store, parallel: ParallelSettings) -> str | None:
    """The store's URL for workers that read their own histories, or None when the engine reads them.

    Workers read on this machine's backends, and a scheduler's when ``workers_read_store`` says
    they reach the store; never from a database in the engine's memory. A relative SQLite path is
    made absolute, so a worker started elsewhere finds the same file.
    """
    reads = parallel.workers_read_store if parallel.workers_read_store is not None else not parallel.scheduler
    if parallel.backend == "local" or not reads:
        return None
    url = store.engine.url
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:"):
            return None
        url = url.set(database=str(Path(url.database).resolve()))
    return url.render_as_string(hide_password=False)
