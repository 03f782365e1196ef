"""One job, six steps: sync orders, read the pipeline, forecast each series, judge actuals, judge the quota's pace, deliver alerts.

Every step is idempotent for a given ``as_of``: running the same job twice issues no second
vintage, judges no period twice and sends nothing twice.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Mapping
from urllib.parse import quote

import pandas as pd

from alerts.compose import compose
from alerts.decompose import decompose, reference_windows
from alerts.digest import SeriesStatus
from alerts.deviation import Deviation
from alerts.message import Decomposition, Message
from alerts.incidents import BufferedIncidents, IncidentTracker, silenced
from alerts.notifiers import Notifier
from alerts.outbox import deliver_due
from alerts.routing import Router
from alerts.rules import rule_name
from forecaster.crash_points import crash_point
from forecaster.data.kpi_series import LABELS, MONEY, is_kpi, kpi_name, kpi_points
from forecaster.data.opportunities import as_known_at
from forecaster.data.series import TOTAL, last_complete, next_period, period_span, period_starts, periods_between, points_from_orders
from forecaster.data.sources import open_source
from forecaster.deviations import Deviations
from forecaster.errors import InputError
from forecaster.forecast_step import ForecastStep
from forecaster.logs import bound
from forecaster.quota_pacing import RULE as QUOTA_RULE, observe_pace, quota_message
from forecaster.revops import load_opportunities, pipeline_outlook
from forecaster.settings import Settings
from forecaster.store import Store

log = logging.getLogger(__name__)
Clock = Callable[[], dt.datetime]
_CONTEXT = {"band": 0, "week": 7, "month": 31, "quarter": 92}
CHART_PERIODS = 28
_JUDGED_PER_SAVE = 500
PIPELINE = "pipeline"  # the key of a failed opportunities source in RunSummary.failed


@dataclass
class RunSummary:
    """What one run did; ``exit_code`` is 1 when a series or a delivery failed."""

    as_of: dt.datetime
    run_id: str = ""
    orders_changed: bool = False
    series: int = 0
    forecast: int = 0
    pipeline_deals: int = 0
    waiting: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    events: list = field(default_factory=list)
    sent: int = 0
    retrying: int = 0
    dead: int = 0
    delivery_errors: list[str] = field(default_factory=list)
    steps: dict[str, dict[str, float]] = field(default_factory=dict)
    interrupted: bool = False

    def count(self, kind: str) -> int:
        """Incident events of one kind (opened, escalated, resolved) in this run."""
        return sum(1 for e in self.events if e.kind == kind)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed or self.retrying or self.dead else 0

    def as_dict(self) -> dict:
        """The summary kept with the run record."""
        return {
            "series": self.series, "forecast": self.forecast, "pipeline_deals": self.pipeline_deals, "failed": self.failed, "waiting": self.waiting,
            "opened": self.count("opened"), "escalated": self.count("escalated"), "resolved": self.count("resolved"),
            "sent": self.sent, "retrying": self.retrying, "dead": self.dead, "steps": self.steps,
        }


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Engine:
    """Runs the job of one configuration against one store."""

    def __init__(
        self, settings: Settings, store: Store, notifiers: Mapping[str, Notifier] | None = None, clock: Clock = _now,
        progress: Callable[[int, int], None] | None = None,
    ):
        """``progress(done, total)`` hears after each batch of series the forecast phase stores."""
        self.settings = settings
        self.progress = progress
        self.store = store
        self.notifiers = dict(notifiers) if notifiers is not None else {c.label: c.create() for c in settings.channels}
        self.clock = clock
        self.freq = settings.series.freq
        self.router = Router({c.label: c for c in settings.channels}, settings.timezone)

    def run(self, as_of: dt.datetime | None = None, sync: bool = True, job: str = "run", stop: threading.Event | None = None) -> RunSummary:
        """One scheduled run as of ``as_of`` (now when None).

        When ``stop`` is set, the run ends after the step in progress (status ``interrupted``);
        every step is idempotent, so running the same ``as_of`` again completes it.
        """
        as_of = as_of or self.clock()
        summary = RunSummary(as_of=as_of)
        summary.run_id = self.store.runs.start(job, as_of, self.clock())
        status = "failed"
        with bound(run_id=summary.run_id, job=job):
            try:
                status = self._steps(as_of, sync, summary, stop or threading.Event())
            finally:
                self.store.runs.finish(summary.run_id, status, summary.as_dict(), self.clock())
        return summary

    def _steps(self, as_of: dt.datetime, sync: bool, summary: RunSummary, stop: threading.Event) -> str:
        """Sync, read the pipeline, forecast, monitor, pace and deliver, timing each; returns the run's status."""
        with self._step("sync", summary, lambda: int(summary.orders_changed)):
            if sync:
                summary.orders_changed = self.sync(as_of)
        crash_point("after_sync")
        end = last_complete(as_of, self.settings.timezone, self.freq, self.settings.monitor.completeness_delay_hours)
        with self._step("pipeline", summary, lambda: summary.pipeline_deals):
            deals = self.pipeline(as_of, end, summary)
        series = self.watched_series(end)
        if PIPELINE in summary.failed:  # KPI points were not brought up to date: not forecast, not judged
            series = [s for s in series if not is_kpi(s)]
        summary.series = len(series)
        steps = [
            ("forecast", lambda: self.forecast(as_of, end, series, summary), lambda: summary.forecast),
            ("monitor", lambda: self.monitor(end, series, summary), lambda: len(summary.events)),
            ("pace", lambda: self.pace(deals, as_of, summary), lambda: sum(e.incident.rule == QUOTA_RULE for e in summary.events)),
            ("deliver", lambda: self.deliver(summary), lambda: summary.sent),
        ]
        for name, step, count in steps:
            if stop.is_set():
                summary.interrupted = True
                log.info("stopping before %s; the next run of this time completes it", name)
                return "interrupted"
            if name == "deliver":
                crash_point("before_send")
            with self._step(name, summary, count):
                step()
        return "succeeded" if summary.exit_code == 0 else "partial"

    @contextlib.contextmanager
    def _step(self, name: str, summary: RunSummary, count: Callable[[], int]) -> Iterator[None]:
        """Record a step's duration and count in the run summary."""
        started = time.perf_counter()
        yield
        summary.steps[name] = {"seconds": round(time.perf_counter() - started, 3), "count": count()}
        log.info("%s: %s in %.2f s", name, summary.steps[name]["count"], summary.steps[name]["seconds"])

    def sync(self, as_of: dt.datetime) -> bool:
        """Pull changed orders into the store and refresh the points they affect (nothing to pull for a
        deployment that watches only the pipeline: ``revops:`` without ``source:``)."""
        config = self.settings.source
        if config is None and self.settings.revops is not None:
            return False
        if config is None:
            raise InputError("config: no 'source' is configured; add one to load orders")
        source = open_source(config, self.settings.timezone)
        batch = source.load(self.store.orders.watermark(source.name), as_of)
        if batch.complete and batch.orders.empty:
            raise InputError(f"source {source.name}: no orders placed up to {as_of:%Y-%m-%d %H:%M %Z}; check the path, table or query")
        earliest = self.store.orders.upsert(source.name, batch.orders, batch.watermark, self.clock())
        if earliest is None:
            return False
        series = self.settings.series
        local_day = pd.Timestamp(earliest).tz_convert(self.settings.timezone).tz_localize(None).normalize()
        first = period_starts(pd.DatetimeIndex([local_day]), self.freq)[0]
        orders = self.store.orders.load(source.name, since=(first - pd.Timedelta(days=1)).tz_localize("UTC").to_pydatetime())
        points = points_from_orders(orders, self.settings.timezone, self.freq, series.by, series.total, series.metric)
        self.store.orders.replace_points(points, since=first)
        return True

    def watched_series(self, end: pd.Timestamp) -> list[str]:
        """The total, the largest segments (by the metric over the last year up to ``end``) and the KPI series."""
        sizes = self.store.orders.series_sizes(end.date(), since=(end - pd.Timedelta(days=365)).date())
        ids = list(sizes.index)
        top = self.settings.series.top
        if top is None:
            return ids
        kpis = {i for i in ids if is_kpi(i)}
        ranked = sizes.drop([TOTAL, *kpis], errors="ignore").sort_values(ascending=False, kind="stable")
        keep = set(ranked.index[:top]) | ({TOTAL} & set(ids)) | kpis
        return [i for i in ids if i in keep]

    def forecast(self, as_of: dt.datetime, end: pd.Timestamp, series: list[str], summary: RunSummary) -> None:
        """Issue a vintage for every watched series that has none at ``as_of`` (``forecaster.forecast_step``)."""
        ForecastStep(self.settings, self.store, self.freq, self.progress).run(as_of, end, series, summary)

    def monitor(self, end: pd.Timestamp, series: list[str], summary: RunSummary) -> None:
        """Judge every complete period not judged yet, oldest first, and queue the resulting messages.

        All rules judge a series' period together and feed one incident per series (see
        ``alerts.incidents``); feedback on a series raises its rules' thresholds, and snoozed or
        acknowledged incidents are tracked without being announced.
        """
        cfg = self.settings.monitor
        names = [rule_name(r) for r in cfg.rules]
        first_judged = self._first_unjudged(series, names, end)
        if not first_judged or min(first_judged.values()) > end:
            return
        context = max((r.history_periods for r in cfg.rules), default=0)
        context_days = max((_CONTEXT[getattr(r, "period", "band")] for r in cfg.rules), default=0)
        start = min(first_judged.values()) - period_span(max(context, CHART_PERIODS), self.freq) - pd.Timedelta(days=context_days)
        judge = Deviations(self.store, self.settings, self.freq, series, start, end)
        incidents = BufferedIncidents(self.store.incidents)
        tracker = IncidentTracker(cfg.incidents, incidents)
        feedback = self.store.incidents.feedback_counts()
        since = lambda a, b: periods_between(pd.Timestamp(a), pd.Timestamp(b), self.freq)  # noqa: E731
        judged: dict[tuple[str, str], dt.date] = {}
        for number, series_id in enumerate(series, 1):
            factor = cfg.incidents.sensitivity(feedback.get(series_id, {}))
            rules = [r.desensitized(factor) for r in cfg.rules]
            for period in judge.periods(series_id):
                if period < first_judged[series_id]:
                    continue
                incident = tracker.current(series_id)
                baseline = incident.baseline_from if incident is not None and incident.status == "open" else None
                history = judge.history(series_id, period, baseline)
                findings = [r.evaluate(history) for r in rules] if history and history[-1].period_start == period.date() else []
                event = tracker.observe(series_id, period.date(), findings, since)
                if event is not None and not silenced(event, self.clock()):
                    incidents.flush()  # the incident's state is stored before its message
                    self._announce(event, history[-CHART_PERIODS:], summary)
                judged.update({(series_id, name): period.date() for name in names})
            # Progress is saved every few hundred series: a crash re-judges at most those, and
            # re-judging a period announces the same event under the same key (nothing twice).
            if number % _JUDGED_PER_SAVE == 0 or number == len(series):
                incidents.flush()
                self.store.monitor_state.advance(judged)
                judged.clear()

    def _first_unjudged(self, series: list[str], names: list[str], end: pd.Timestamp) -> dict[str, pd.Timestamp]:
        """Per series, the first period some rule has not judged yet (a rule added later starts with the others)."""
        judged = self.store.monitor_state.all()
        first = {}
        for series_id in series:
            lasts = [judged[(series_id, n)] for n in names if (series_id, n) in judged]
            first[series_id] = next_period(pd.Timestamp(min(lasts)), self.freq) if lasts else end - period_span(self.settings.monitor.lookback - 1, self.freq)
        return first

    def pipeline(self, as_of: dt.datetime, end: pd.Timestamp, summary: RunSummary) -> pd.DataFrame | None:
        """Read the opportunities of ``revops:``, store the open ones as the snapshot of the run's local
        day (as the source knew them by that day's end) and the points of the watched KPIs up to
        ``end``; returns the opportunities read, or None without ``revops:`` or when the source
        fails (the run is then partial)."""
        revops = self.settings.revops
        if revops is None:
            return None
        try:
            deals = load_opportunities(revops)
        except InputError as exc:
            summary.failed[PIPELINE] = str(exc)
            log.warning("pipeline: %s", exc)
            return None
        day = self._local_day(as_of)
        known = as_known_at(deals, pd.Timestamp(day) + pd.Timedelta(days=1))
        summary.pipeline_deals = self.store.pipeline.save(day, known[known["outcome"] == "open"])
        if revops.watch:
            first = end - period_span(self.settings.forecast.history, self.freq)
            last = next_period(end, self.freq) - pd.Timedelta(days=1)
            points = kpi_points(deals, list(revops.watch), self.freq, first, last, revops.window_days)
            self.store.orders.replace_points(points, kpis=True)
        return deals

    def pace(self, deals: pd.DataFrame | None, as_of: dt.datetime, summary: RunSummary) -> None:
        """Judge the current period's revenue simulated from the pipeline against quota (``revops:``, see
        ``forecaster.quota_pacing``) and queue the message of any change."""
        revops = self.settings.revops
        if deals is None or revops.quota is None or revops.alert_below is None:
            return
        try:
            outlook = pipeline_outlook(deals, revops, self._local_day(as_of))
        except InputError as exc:  # e.g. no deal won lately: nothing to simulate from
            summary.failed[QUOTA_RULE] = str(exc)
            log.warning("quota pace: %s", exc)
            return
        event = observe_pace(outlook, revops.quota, revops.alert_below, self.settings.monitor.incidents, self.store.incidents)
        if event is not None and not silenced(event, self.clock()):
            self._queue(quota_message(event, outlook, revops.coverage_target, self.clock(), self.settings.currency, self._link(event)), event, summary)

    def _local_day(self, as_of: dt.datetime) -> dt.date:
        return pd.Timestamp(as_of).tz_convert(self.settings.timezone).date()

    def _announce(self, event, history: list[Deviation], summary: RunSummary) -> None:
        """Persist the message for an incident event in the outbox, for every channel its route lets through."""
        subject, metric, plural = self._naming(event.incident.series_id)
        message = compose(
            event, subject=subject, freq=self.freq, now=self.clock(), currency=self.settings.currency if metric in MONEY else "",
            link=self._link(event), history=history, decomposition=self._decomposition(event), metric=metric, plural=plural,
        )
        self._queue(message, event, summary)

    def _queue(self, message: Message, event, summary: RunSummary) -> None:
        """Persist ``message`` in the outbox for every channel its route lets through."""
        plan = self.router.plan(message, list(self.notifiers), self.clock())
        self.store.outbox.enqueue(message, list(plan), self.clock(), hold=plan)
        summary.events.append(event)

    def _decomposition(self, event) -> Decomposition | None:
        """Orders vs basket size and the segments behind an opened or escalated incident, from the stored orders.

        None for a resolution, without a source, or without orders in the store (replays).
        """
        source, series = self.settings.source, self.settings.series
        if event.kind == "resolved" or source is None or is_kpi(event.incident.series_id):
            return None
        evidence, series_id = event.finding.evidence, event.incident.series_id
        try:
            earliest = min(start for start, _ in reference_windows(evidence.period_start, evidence.period_end, self.freq))
            orders = self.store.orders.load(source.name, since=dt.datetime.combine(earliest - dt.timedelta(days=1), dt.time(), dt.timezone.utc))
            return decompose(
                orders, timezone=self.settings.timezone, start=evidence.period_start, end=evidence.period_end,
                expected=evidence.expected, freq=self.freq, metric=series.metric, by=series.by,
                series_id=None if series_id == TOTAL else series_id,
                dimensions=[d for d in source.segment_names if series_id == TOTAL or d not in series.by],
            )
        except Exception:  # the explanation is extra: a failure here must never hold back the alert
            log.exception("series %s: could not decompose the change; the alert goes out without it", series_id, extra={"series": series_id})
            return None

    def overview(self, start: dt.date, end: dt.date) -> list[SeriesStatus]:
        """Forecast vs actual of every watched orders series over the local days ``start..end`` (complete
        periods only), for digests; KPI series are left out, as the sum of a rate over days means nothing."""
        cfg = self.settings
        last = min(pd.Timestamp(end), last_complete(self.clock(), cfg.timezone, self.freq, cfg.monitor.completeness_delay_hours))
        series = [s for s in self.watched_series(last) if not is_kpi(s)]
        judge = Deviations(self.store, self.settings, self.freq, series, pd.Timestamp(start), last)
        statuses = []
        for series_id in series:
            inside = [d for d in judge.history(series_id, None, None) if d.period_start >= start and d.period_end <= end]
            if inside:
                statuses.append(SeriesStatus(series_id, sum(d.actual for d in inside), sum(d.expected for d in inside)))
        return statuses

    def _naming(self, series_id: str) -> tuple[str, str, bool]:
        """How messages name a series ("Sales in UK", "Pipeline velocity"), what it measures, and whether the name is plural."""
        if is_kpi(series_id):
            label, plural = LABELS[kpi_name(series_id)]
            return label, kpi_name(series_id), plural
        metric = self.settings.series.metric
        noun = "Sales" if metric == "revenue" else "Orders"
        return (noun if series_id == TOTAL else f"{noun} in {series_id}"), metric, True

    def _link(self, event) -> str | None:
        """The incident's page on the dashboard (its id URL-encoded: ids hold '|' and series names)."""
        base = self.settings.public_url
        return f"{base.rstrip('/')}/incidents/{quote(event.incident.id, safe='')}" if base else None

    def deliver(self, summary: RunSummary) -> None:
        """Send every due message; failures stay queued for the next run."""
        report = deliver_due(self.store.outbox, self.notifiers, self.settings.delivery, self.clock(), router=self.router, overview=self.overview)
        summary.sent, summary.retrying, summary.dead = report.sent, report.retrying, report.dead
        summary.delivery_errors = report.errors
