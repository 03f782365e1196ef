"""The one message model every channel renders: what happened, by how much, how sure we are."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any, Literal

Event = Literal["opened", "escalated", "resolved", "test", "digest"]
Severity = Literal["info", "warning", "critical"]


@dataclass(frozen=True)
class Point:
    """One period of the series' recent history: the actual and the judged forecast with its band."""

    ds: dt.date
    actual: float
    expected: float
    lower: float
    upper: float


@dataclass(frozen=True)
class Message:
    """A notification about one incident event.

    ``key`` is the idempotency key: the same incident event always yields the same key, so a
    message persisted twice or retried is still shown once. ``facts`` are extra lines in plain
    language (pacing, decomposition), rendered in order under the headline numbers. ``history``
    holds the recent periods (oldest first) that the chart draws; empty when there is no chart.
    A ``digest`` message lists other messages' headlines in ``facts`` and has no figures of its own.
    """

    key: str
    event: Event
    series_id: str
    rule: str
    severity: Severity
    title: str
    period_start: dt.date
    period_end: dt.date
    actual: float
    expected: float
    lower: float
    upper: float
    deviation_pct: float
    created_at: dt.datetime
    facts: tuple[str, ...] = ()
    link: str | None = None
    metric: str = "revenue"
    currency: str = ""
    history: tuple[Point, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (dates as ISO strings)."""
        data = asdict(self)
        for name in ("period_start", "period_end", "created_at"):
            data[name] = data[name].isoformat()
        data["facts"] = list(self.facts)
        data["history"] = [{**asdict(p), "ds": p.ds.isoformat()} for p in self.history]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Message":
        """Inverse of :meth:`to_dict`."""
        values = dict(data)
        values["period_start"] = dt.date.fromisoformat(values["period_start"])
        values["period_end"] = dt.date.fromisoformat(values["period_end"])
        values["created_at"] = dt.datetime.fromisoformat(values["created_at"])
        values["facts"] = tuple(values.get("facts", ()))
        values["history"] = tuple(Point(**{**p, "ds": dt.date.fromisoformat(p["ds"])}) for p in values.get("history", ()))
        return cls(**values)
