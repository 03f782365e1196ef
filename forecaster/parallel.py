"""Per-series work mapped over batches of series: in-process, on every core, or on a Dask cluster.

Every backend runs the same module-level function on the same inputs, so results are the same
whichever runs them. A task that raises is reported as that item's error, never fatal to the
others. Batches come back as they finish, so the caller stores results batch by batch, and at
most ``SERIES_PER_READ`` items (a read block of series; at least 2 batches per worker) are in
flight: enough to keep the workers busy while the caller reads the next block, and memory stays
bounded however many series there are.
"""

from __future__ import annotations

import contextlib
import os
import queue
import traceback
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from forecaster.batches import SERIES_PER_READ, batches
from forecaster.errors import ConfigError, ForecasterError
from forecaster.settings import ParallelSettings

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_CONNECT_SECONDS = 10  # a reachable scheduler answers in well under this
# Dask settings for the workers of a local cluster. The engine reads no worker profiles or
# metrics, and a worker's timers (its stack sampled every 10 ms, the event loop's health every
# 20 ms, memory every 0.1 s, psutil every 0.5 s) take the GIL from the fit running beside them:
# every fit ran about a tenth slower on two cores. Dask's nanny also starts workers with
# MALLOC_TRIM_THRESHOLD_=65536, which hands freed memory back to the OS at once: each batch's
# histories were paged in again (three to five times the page faults), and the 10,000-series
# run took about 2.5 s longer (benchmarks/README.md, "Speed"). The README gives the same
# settings, as a Dask config file, for workers an operator runs.
QUIET_WORKERS = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,  # None: not set
}


@dataclass(frozen=True)
class Outcome:
    """One item's result, or why it failed (``error``: the message; ``detail``: the traceback of an unexpected failure)."""

    key: str
    value: Any = None
    error: str | None = None
    detail: str | None = None


def run_batch(fn: Callable[[Any], Any], batch: list[tuple[str, Any]]) -> list[Outcome]:
    """``fn`` on each ``(key, item)``; a raised error becomes that item's outcome."""
    outcomes = []
    for key, item in batch:
        try:
            outcomes.append(Outcome(key, fn(item)))
        except ForecasterError as exc:
            outcomes.append(Outcome(key, error=str(exc)))
        except Exception as exc:  # a bug or a library failure on one series must not stop the others
            outcomes.append(Outcome(key, error=f"{type(exc).__name__}: {exc}", detail=traceback.format_exc()))
    return outcomes


def _one_thread_each() -> None:
    """A worker process's numerical libraries use one thread: the processes already share the cores.

    The variables cover the libraries a job loads later (scipy brings its own OpenBLAS);
    threadpoolctl those already loaded. Two BLAS threads per worker on two cores made the
    workers slower than the engine alone.
    """
    from threadpoolctl import threadpool_limits

    for name in _THREAD_VARIABLES:
        os.environ[name] = "1"
    threadpool_limits(1)


def _worker_context(fn: Callable[[Any], Any]):
    """Worker processes forked by a clean server process that has ``fn``'s module imported.

    Not ``fork``: forking the engine (threads, BLAS thread pools, a large heap) made workers up to
    3x slower than the engine alone on real stores; not ``spawn``: every worker would import the
    libraries again. The server outlives the pool, so later runs of a service start at once.
    """
    import multiprocessing

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([fn.__module__])
    return context


def quiet_worker_config() -> dict:
    """``QUIET_WORKERS`` as the nested mapping of a Dask config file (a variable cannot unset the nanny's one)."""
    config: dict = {}
    for key, value in QUIET_WORKERS.items():
        *parents, leaf = key.split(".")
        node = config
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return config


def _workers(settings: ParallelSettings) -> int:
    """The configured worker count, else the machine's cores."""
    return settings.workers or os.cpu_count() or 1


def map_batches(fn: Callable[[Any], Any], items: Iterable[tuple[str, Any]], settings: ParallelSettings) -> Iterator[list[Outcome]]:
    """Outcomes of ``fn`` over ``(key, item)`` pairs, one list per batch, as batches finish (not in order)."""
    chunks = batches(items, settings.batch_size)
    if settings.backend == "local":
        yield from (run_batch(fn, batch) for batch in chunks)
    elif settings.backend == "processes":
        workers = _workers(settings)
        with ProcessPoolExecutor(max_workers=workers, initializer=_one_thread_each, mp_context=_worker_context(fn)) as pool:
            for _ in range(workers):  # one task each starts every worker now, while the first items are read
                pool.submit(int)
            finished: queue.SimpleQueue = queue.SimpleQueue()
            yield from _bounded(
                lambda batch: pool.submit(run_batch, fn, batch).add_done_callback(finished.put),
                lambda: finished.get().result(), chunks, _in_flight(workers, settings),
            )
    else:
        with _dask_client(settings) as client:
            from distributed import as_completed

            workers = max(1, len(client.scheduler_info()["workers"]))
            # Results are fetched from the workers in the client's background thread as tasks
            # finish, not one round trip at a time while this thread would be storing.
            finished = as_completed(with_results=True)
            yield from _bounded(
                lambda batch: finished.add(client.submit(run_batch, fn, batch, pure=False)),
                lambda: next(finished)[1], chunks, _in_flight(workers, settings),
            )


def _in_flight(workers: int, settings: ParallelSettings) -> int:
    """Batches to keep submitted: a read block's worth, so the workers do not wait while the caller reads.

    With two per worker, workers on 2 cores waited while the engine read 500 histories; that
    read takes longer than 50 series' naive forecasts (benchmarks/README.md, "Speed").
    """
    return max(2 * workers, -(-SERIES_PER_READ // settings.batch_size))


def _bounded(submit: Callable[[list], None], next_done: Callable[[], list[Outcome]], chunks, limit: int) -> Iterator[list[Outcome]]:
    """Keep at most ``limit`` batches in flight; yield each batch's outcomes as it finishes."""
    in_flight = 0
    for batch in chunks:
        submit(batch)
        in_flight += 1
        if in_flight >= limit:
            yield next_done()
            in_flight -= 1
    for _ in range(in_flight):
        yield next_done()


@contextlib.contextmanager
def _dask_client(settings: ParallelSettings):
    """A client of the configured scheduler, or of a local cluster of ``workers`` single-threaded processes."""
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError("parallel.backend dask needs Dask: pip install 'salescast[dask]'") from None
    if settings.scheduler:
        try:
            client = Client(settings.scheduler, timeout=_CONNECT_SECONDS)
        except OSError as exc:
            raise ConfigError(f"parallel.scheduler {settings.scheduler}: cannot connect ({exc})") from None
        with client:
            yield client
        return
    workers = _workers(settings)
    with dask.config.set(QUIET_WORKERS), LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        with Client(cluster) as client:
            yield client
