"""The engine's forecast step: a vintage for every watched series, per series on the parallel backend or
from one global model, stored batch by batch."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Mapping

import pandas as pd

from forecaster.batches import SERIES_PER_READ, batches
from forecaster.crash_points import crash_point
from forecaster.data.kpi_series import is_kpi
from forecaster.data.series import period_span, periods_between
from forecaster.errors import ForecasterError, ModelError
from forecaster.global_forecast import MODEL as GLOBAL_MODEL, GlobalJob, forecast_global
from forecaster.histories import HistoryBlock, HistoryWindow, read_histories, run_history_block, worker_url
from forecaster.intervals import ConformalIntervals
from forecaster.models.ensemble import NAME as ENSEMBLE, with_members
from forecaster.parallel import Outcome, map_batches
from forecaster.regressors import read_known_future
from forecaster.series_job import SeriesJob, run_series_job
from forecaster.settings import Settings
from forecaster.store import Store
from forecaster.store.forecasts import ModelChoice

if TYPE_CHECKING:
    from forecaster.engine import RunSummary

log = logging.getLogger(__name__)
LEVELS = (80, 95)


class ForecastStep:
    """One run's forecasts for one configuration and store; ``progress(done, total)`` hears after each stored batch."""

    def __init__(self, settings: Settings, store: Store, freq: str, progress: Callable[[int, int], None] | None = None):
        self.settings = settings
        self.store = store
        self.freq = freq
        self.progress = progress

    def run(self, as_of: dt.datetime, end: pd.Timestamp, series: list[str], summary: RunSummary) -> None:
        """Issue a vintage for every watched series that has none at ``as_of``.

        Per-series models run on ``parallel.backend``: histories are read a few hundred series at
        a time (by the workers themselves on this machine's worker processes) and results stored
        batch by batch, so memory stays bounded however many series there are. The global model
        (``model: gbm``) is fitted once across the orders series, in this process, its trees on
        ``parallel.workers`` threads (default: every core); KPI series, which its known-future
        inputs do not describe, get ``auto`` then.
        """
        issued = self.store.forecasts.issued(as_of)
        pending = [s for s in series if s not in issued]
        global_model = self.settings.forecast.model == GLOBAL_MODEL
        together = [s for s in pending if global_model and not is_kpi(s)]
        alone = [s for s in pending if not (global_model and not is_kpi(s))]
        outcomes = itertools.chain(
            self._global_outcomes(dict(self._histories(together, end, summary)), end, summary) if together else (),
            self._series_outcomes(alone, end, summary) if alone else (),
        )
        handled = 0
        for batch in outcomes:
            self._store_forecasts(batch, as_of, end, summary)
            handled += len(batch)
            if self.progress is not None:
                self.progress(handled + len(summary.waiting), len(pending))

    def _window(self, end: pd.Timestamp) -> HistoryWindow:
        cfg = self.settings.forecast
        first = (end - period_span(cfg.history, self.freq)).date()
        return HistoryWindow(self.freq, first, end, cfg.history, self.settings.series.min_history)

    def _histories(self, pending: list[str], end: pd.Timestamp, summary: RunSummary) -> Iterator[tuple[str, pd.Series]]:
        """Each series' regular history up to ``end``, read a block at a time; those too short are noted as waiting."""
        for chunk in batches(pending, SERIES_PER_READ):
            histories, short = read_histories(self.store, chunk, self._window(end))
            summary.waiting.extend(short)
            yield from histories.items()

    def _series_outcomes(self, pending: list[str], end: pd.Timestamp, summary: RunSummary) -> Iterator[list[Outcome]]:
        """Per-series forecasts on the parallel backend, from histories the engine reads or, on this machine's workers, each batch's worker."""
        parallel = self.settings.parallel
        url = worker_url(self.store, parallel)
        if url is None:
            yield from map_batches(run_series_job, self._jobs(self._histories(pending, end, summary), self._choices(), end), parallel)
            return
        window = self._window(end)
        blocks = {
            jobs[0][0]: HistoryBlock(url, window, tuple(jobs))
            for jobs in batches(self._jobs(((s, None) for s in pending), self._choices(), end), parallel.batch_size)
        }
        # One block per task (batch_size 1), up to SERIES_PER_READ of them in flight: they carry
        # no history, and each result is its block's forecasts only.
        for done in map_batches(run_history_block, blocks.items(), parallel.model_copy(update={"batch_size": 1})):
            for outcome in done:
                if outcome.error is not None:  # the block's read failed: every series in it did
                    yield [Outcome(s, error=outcome.error, detail=outcome.detail) for s, _ in blocks[outcome.key].jobs]
                else:
                    summary.waiting.extend(outcome.value.waiting)
                    yield outcome.value.outcomes

    def _jobs(self, histories: Iterable[tuple[str, pd.Series | None]], choices: Mapping[str, ModelChoice], end: pd.Timestamp) -> Iterator[tuple[str, SeriesJob]]:
        """A per-series forecast job for each history (None: the worker reads it), with the configured model or the stored choice."""
        cfg = self.settings.forecast
        params = {"prophet": {"holidays_country": cfg.holidays_country}} if cfg.holidays_country else {}
        for series_id, y in histories:
            stored = choices.get(series_id)
            model = self._model_for(stored, end)
            # A stored ensemble combines the best of the candidates it was chosen among.
            series_params = with_members(params, stored.scores) if stored and model == stored.model == ENSEMBLE else params
            yield series_id, SeriesJob(y, self.freq, cfg.horizon, LEVELS, model, tuple(cfg.candidates), cfg.backtest_folds, series_params, self.settings.monitor.calendar)

    def _global_outcomes(self, histories: dict[str, pd.Series], end: pd.Timestamp, summary: RunSummary) -> Iterator[list[Outcome]]:
        """Every series forecast by one fit of the global model, in batches to store.

        The intervals' calibration (a backtest: three more fits) is stored and refreshed every
        ``reselect_every`` periods, so the runs between fit the model once.

        An unreadable known-future file fails the step with its path and line (the run is
        partial); with too little history to calibrate it, ``forecast_frame`` uses seasonal naive.
        """
        if not histories:
            return
        cfg = self.settings.forecast
        known = cfg.known_future
        try:
            job = GlobalJob(
                freq=self.freq, horizon=cfg.horizon, levels=LEVELS, folds=cfg.backtest_folds, calendar=self.settings.monitor.calendar,
                known=read_known_future(known.path, known.series, known.date, known.columns, known.open, self.freq) if known else None,
                known_source=str(known.path) if known else "", holidays_country=cfg.holidays_country, calibration=self._fresh_calibration(end),
                threads=self.settings.parallel.workers,
            )
            result = forecast_global(histories, job)
        except ForecasterError as exc:
            summary.failed[GLOBAL_MODEL] = str(exc)
            log.warning("forecast: %s", exc)
            return
        if result.calibration is not None and result.calibration is not job.calibration:
            self.store.forecasts.save_calibration(GLOBAL_MODEL, end.date(), result.calibration.as_dict())
        outcomes = [
            Outcome(s, value=result.forecasts[s]) if s in result.forecasts else Outcome(s, error=result.failures.get(s, "not forecast")) for s in histories
        ]
        yield from batches(outcomes, SERIES_PER_READ)

    def _fresh_calibration(self, end: pd.Timestamp) -> ConformalIntervals | None:
        """The global model's stored interval calibration, unless ``reselect_every`` periods old or for other levels."""
        stored = self.store.forecasts.calibration(GLOBAL_MODEL)
        if stored is None or not 0 <= periods_between(pd.Timestamp(stored[0]), end, self.freq) < self.settings.forecast.reselect_every:
            return None
        try:
            calibration = ConformalIntervals.from_dict(stored[1])
        except ModelError:  # stored by an earlier version: calibrate again
            return None
        return calibration if set(LEVELS) <= set(calibration.levels) else None

    def _store_forecasts(self, batch: list[Outcome], as_of: dt.datetime, end: pd.Timestamp, summary: RunSummary) -> None:
        """Store a batch's vintages in one transaction; report the series that failed."""
        frames = {}
        for outcome in batch:
            series_id = outcome.key
            if outcome.error is not None:
                summary.failed[series_id] = outcome.error
                log.warning("series %s: %s%s", series_id, outcome.error, f"\n{outcome.detail}" if outcome.detail else "", extra={"series": series_id})
                continue
            result = outcome.value
            if result.choice is not None:
                self.store.forecasts.save_choice(series_id, *result.choice, end.date())
            if result.note:
                summary.notes[series_id] = result.note
            frames[series_id] = result.forecast
        self.store.forecasts.add_vintages(as_of, frames)
        summary.forecast += len(frames)
        if frames and summary.forecast == len(frames):
            crash_point("mid_forecast")

    def _choices(self) -> dict[str, ModelChoice]:
        """The stored model choices, read only when ``auto`` is used (``model: auto``, or KPI series beside gbm)."""
        return self.store.forecasts.choices() if self.settings.forecast.model in ("auto", GLOBAL_MODEL) else {}

    def _model_for(self, stored: ModelChoice | None, end: pd.Timestamp) -> str:
        """The configured model, the stored choice while it is fresh, else ``auto`` (select in this run)."""
        cfg = self.settings.forecast
        if cfg.model not in ("auto", GLOBAL_MODEL):
            return cfg.model
        if stored and periods_between(pd.Timestamp(stored.selected_for), end, self.freq) < cfg.reselect_every:
            return stored.model
        return "auto"
