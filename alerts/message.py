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
class SegmentShare:
    """One segment value's part in a shortfall: what it was expected to bring, what it brought.

    ``expected`` is the value's share of the reference window times the expected total;
    ``share`` is its part of the shortfall (0.62 = 62%): its gap over the summed gaps of all the
    values of its dimension that fell short.
    """

    dimension: str
    value: str
    expected: float
    actual: float
    share: float

    @property
    def change(self) -> float:
        """Actual minus expected (negative for a shortfall)."""
        return self.actual - self.expected


@dataclass(frozen=True)
class Decomposition:
    """Why the series moved: orders against average order value, and the segments that fell short.

    ``orders_change`` and ``basket_change`` are fractions (-0.2 = 20% fewer orders); their
    product is the change of revenue: ``(1 + orders) * (1 + basket) = actual / expected``. Both
    are None for a series of order counts, or when the reference window had no orders.
    ``reference`` says in words which window the usual average order value comes from.
    """

    actual: float
    expected: float
    reference: str
    orders_change: float | None = None
    basket_change: float | None = None
    actual_orders: int | None = None
    expected_orders: float | None = None
    actual_aov: float | None = None
    reference_aov: float | None = None
    segments: tuple[SegmentShare, ...] = ()

    @property
    def change(self) -> float:
        """Actual against expected as a fraction (-0.23 = 23% below)."""
        return self.actual / self.expected - 1 if self.expected else 0.0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Decomposition":
        """Inverse of ``dataclasses.asdict``."""
        return cls(**{**data, "segments": tuple(SegmentShare(**s) for s in data.get("segments", ()))})


@dataclass(frozen=True)
class Message:
    """A notification about one incident event.

    ``key`` is the idempotency key: the same incident event always yields the same key, so a
    message persisted twice or retried is still shown once. ``facts`` are extra lines in plain
    language (pacing, decomposition), rendered in order under the headline numbers. ``history``
    holds the recent periods (oldest first) that the chart draws; empty when there is no chart.
    ``decomposition`` explains an opened or escalated incident (None when the orders behind the
    series are not available, as in replays). A ``digest`` message lists other messages'
    headlines in ``facts`` and has no figures of its own. ``labels`` name ``actual`` and
    ``expected`` as people read them: a quota's pace is ``projected`` against ``quota``.
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
    decomposition: Decomposition | None = None
    labels: tuple[str, str] = ("actual", "expected")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (dates as ISO strings)."""
        data = asdict(self)
        for name in ("period_start", "period_end", "created_at"):
            data[name] = data[name].isoformat()
        data["facts"] = list(self.facts)
        data["labels"] = list(self.labels)
        data["history"] = [{**asdict(p), "ds": p.ds.isoformat()} for p in self.history]
        if self.decomposition is not None:
            data["decomposition"]["segments"] = list(data["decomposition"]["segments"])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Message":
        """Inverse of :meth:`to_dict`."""
        values = dict(data)
        values["period_start"] = dt.date.fromisoformat(values["period_start"])
        values["period_end"] = dt.date.fromisoformat(values["period_end"])
        values["created_at"] = dt.datetime.fromisoformat(values["created_at"])
        values["facts"] = tuple(values.get("facts", ()))
        values["labels"] = tuple(values.get("labels", cls.labels))  # messages stored before labels existed
        values["history"] = tuple(Point(**{**p, "ds": dt.date.fromisoformat(p["ds"])}) for p in values.get("history", ()))
        found = values.get("decomposition")
        values["decomposition"] = Decomposition.from_dict(found) if found else None
        return cls(**values)
