"""Replay the scheduled engine over history: what would it have said, and when?"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from alerts.notifiers.memory import MemoryNotifier
from forecaster.data.series import PANDAS_FREQ, period_starts
from forecaster.engine import Engine, RunSummary
from forecaster.settings import Settings
from forecaster.store import Store

EVENTS = ["opened", "escalated", "resolved"]

NOTIFICATION_COLUMNS = [
    "unique_id", "fired_at", "event", "rule", "severity", "period_start", "period_end",
    "actual", "expected", "lower", "upper", "deviation_pct",
]


class SimulatedClock:
    """A clock that stands still at the run being simulated."""

    def __init__(self, start: dt.datetime):
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now


def run_times(start: dt.date, end: dt.date, freq: str, timezone: str) -> list[dt.datetime]:
    """One run per period, at the local start of each period from ``start`` to ``end``."""
    starts = pd.date_range(period_starts(pd.DatetimeIndex([pd.Timestamp(start)]), freq)[0], pd.Timestamp(end), freq=PANDAS_FREQ[freq])
    return [t.tz_localize(timezone, ambiguous=False, nonexistent="shift_forward").to_pydatetime() for t in starts]


def replay_series(
    long: pd.DataFrame,
    settings: Settings,
    start: dt.date,
    end: dt.date,
    on_run: Callable[[RunSummary], None] | None = None,
) -> pd.DataFrame:
    """Simulate a run per period over a long ``unique_id, ds, y`` frame; return every notification.

    Each run sees only the periods complete at its own time, issues its own forecasts and keeps
    incident state, exactly as the scheduled service would.
    """
    times = run_times(start, end, settings.series.freq, settings.timezone)
    if not times:
        raise ValueError(f"replay: no period starts between {start} and {end}")
    clock = SimulatedClock(times[0])
    recorder = MemoryNotifier()
    with tempfile.TemporaryDirectory(prefix="salescast-replay-") as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'replay.db'}").create()
        try:
            store.orders.replace_points(long)
            engine = Engine(settings, store, notifiers={"replay": recorder}, clock=clock)
            for moment in times:
                clock.now = moment
                summary = engine.run(moment, sync=False, job="replay")
                if on_run:
                    on_run(summary)
        finally:
            store.close()
    return notifications_frame(recorder.sent)


def notifications_frame(messages) -> pd.DataFrame:
    """Messages as the rows of ``salescast replay``'s output."""
    rows = [
        {
            "unique_id": m.series_id, "fired_at": m.created_at.isoformat(), "event": m.event, "rule": m.rule,
            "severity": m.severity, "period_start": m.period_start.isoformat(), "period_end": m.period_end.isoformat(),
            "actual": round(m.actual, 2), "expected": round(m.expected, 2), "lower": round(m.lower, 2),
            "upper": round(m.upper, 2), "deviation_pct": round(m.deviation_pct, 1),
        }
        for m in messages
    ]
    return pd.DataFrame(rows, columns=NOTIFICATION_COLUMNS)


def alert_rate(notifications: pd.DataFrame) -> pd.DataFrame:
    """Notifications per series and month of sending, one column per event, zeros where none.

    ``notifications`` is a replay's output (see ``replay_series``). The result has columns
    ``unique_id, month`` (``YYYY-MM`` of ``fired_at``), ``opened, escalated, resolved`` and ``total``,
    sorted by series and month.
    """
    months = notifications["fired_at"].astype(str).str[:7]
    counts = pd.crosstab([notifications["unique_id"], months.rename("month")], notifications["event"])
    counts = counts.reindex(columns=EVENTS, fill_value=0).rename_axis(columns=None)
    counts["total"] = counts.sum(axis=1)
    out = counts.reset_index().sort_values(["unique_id", "month"], ignore_index=True)
    return out[["unique_id", "month", *EVENTS, "total"]].astype({e: int for e in [*EVENTS, "total"]})


ALERTS = ["opened", "escalated"]  # the events that tell people something is wrong
PREVIEW_COLUMNS = ["unique_id", "opened", "escalated", "resolved", "alerts_per_month"]


@dataclass(frozen=True)
class AlertRatePreview:
    """What a policy would have sent over a replay: per series, and alerts per series per month overall."""

    per_series: pd.DataFrame
    months: float
    alerts_per_series_month: float


def alert_rate_preview(notifications: pd.DataFrame, series: list[str], start: dt.date, end: dt.date) -> AlertRatePreview:
    """Count a replay's messages per series (every series, quiet ones too), and its alerts per month.

    An alert is an ``opened`` or ``escalated`` message; the span is ``start`` to ``end`` (the
    replay's first and last run) in months of 30.44 days. Rows are sorted by alerts per month, most first.
    """
    if not series:
        raise ValueError("alert_rate_preview: no series to count")
    months = max((end - start).days, 1) / 30.44
    counts = pd.crosstab(notifications["unique_id"], notifications["event"]) if len(notifications) else pd.DataFrame()
    counts = counts.reindex(index=sorted(series), columns=EVENTS, fill_value=0).fillna(0).astype(int)
    counts["alerts_per_month"] = (counts[ALERTS].sum(axis=1) / months).round(2)
    table = counts.rename_axis(index="unique_id", columns=None).reset_index()
    table = table.sort_values(["alerts_per_month", "unique_id"], ascending=[False, True], ignore_index=True)
    overall = float(counts[ALERTS].to_numpy().sum()) / (len(series) * months)
    return AlertRatePreview(table[PREVIEW_COLUMNS], round(months, 2), round(overall, 3))
