"""Digests: the messages of a day or a week for one audience, combined into one message.

A digest audience's deliveries are held in the outbox until the local midnight that ends their
period (the next day, or the next Monday for weekly digests), then sent together as one message
that lists the open incidents, the resolutions, forecast vs actual of every watched series
(when an overview is at hand) and the biggest movers of the period.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import zoneinfo
from dataclasses import dataclass
from typing import Callable, Literal, Sequence

from alerts.message import Message, Severity
from alerts.render import change_summary, format_amount

Every = Literal["daily", "weekly"]
MOVERS = 5


@dataclass(frozen=True)
class SeriesStatus:
    """One series over a digest's period: what came in against what was forecast."""

    series_id: str
    actual: float
    expected: float

    @property
    def deviation_pct(self) -> float:
        """Actual vs expected in percent (-8.0 = 8% below); 0 when nothing was expected."""
        return 100 * (self.actual / self.expected - 1) if self.expected else 0.0


#: Forecast vs actual of every watched series over the local days ``start..end``.
Overview = Callable[[dt.date, dt.date], Sequence[SeriesStatus]]
_RANK = {"info": 0, "warning": 1, "critical": 2}


def period_of(moment: dt.datetime, every: Every, timezone: str) -> tuple[dt.date, dt.date]:
    """The first and last local day of the digest period that contains ``moment``."""
    day = moment.astimezone(zoneinfo.ZoneInfo(timezone)).date()
    if every == "daily":
        return day, day
    monday = day - dt.timedelta(days=day.weekday())
    return monday, monday + dt.timedelta(days=6)


def due_at(moment: dt.datetime, every: Every, timezone: str) -> dt.datetime:
    """When the digest holding a message created at ``moment`` is sent: local midnight after its period."""
    end = period_of(moment, every, timezone)[1]
    midnight = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tzinfo=zoneinfo.ZoneInfo(timezone))
    return midnight.astimezone(dt.timezone.utc)


def _figures(message: Message) -> str:
    """``£41,200 vs £52,900 expected; orders -20%, basket -4%``."""
    figures = f"{format_amount(message.actual, message.currency)} vs {format_amount(message.expected, message.currency)} expected"
    why = change_summary(message.decomposition) if message.decomposition else None
    return f"{figures}; {why}" if why else figures


def build_digest(
    target: str, every: Every, messages: Sequence[Message], timezone: str, now: dt.datetime, overview: Overview | None = None
) -> Message:
    """One message listing ``messages`` (all held for ``target``): open incidents first, then resolved ones.

    With ``overview``, every watched series' forecast vs actual over the digest's period follows,
    and the biggest movers are taken from all series rather than from the incidents only.
    """
    if not messages:
        raise ValueError("build_digest() needs at least one message")
    start, end = period_of(min(m.created_at for m in messages), every, timezone)
    latest: dict[tuple[str, str], Message] = {}
    for message in sorted(messages, key=lambda m: (m.created_at, m.period_end)):
        latest[(message.series_id, message.rule)] = message
    still_open = sorted((m for m in latest.values() if m.event != "resolved"), key=lambda m: m.deviation_pct)
    resolved = [m for m in latest.values() if m.event == "resolved"]
    currency = messages[0].currency
    facts = [f"Open, {m.severity}: {m.title} ({_figures(m)})" for m in still_open]
    facts += [f"Resolved: {m.title}" for m in resolved]
    statuses = sorted(overview(start, end) if overview else (), key=lambda s: -s.expected)
    facts += [
        f"{s.series_id}: {format_amount(s.actual, currency)} vs {format_amount(s.expected, currency)} forecast ({s.deviation_pct:+.0f}%)"
        for s in statuses
    ]
    moves = [(s.series_id, s.deviation_pct) for s in statuses] or [(m.series_id, m.deviation_pct) for m in still_open]
    movers = sorted(moves, key=lambda move: -abs(move[1]))[:MOVERS]
    if movers:
        facts.append("Biggest movers: " + ", ".join(f"{series} {pct:+.0f}%" for series, pct in movers))
    when = f"{start:%a} {start.day} {start:%b %Y}" if every == "daily" else f"week of {start.day} {start:%b %Y}"
    counts = f"{len(still_open)} open incident{'s' * (len(still_open) != 1)}, {len(resolved)} resolved"
    keys = hashlib.sha256("\n".join(sorted(m.key for m in messages)).encode()).hexdigest()[:12]
    severity: Severity = max((m.severity for m in still_open), key=_RANK.__getitem__, default="info")
    return Message(
        key=f"digest:{target}:{start.isoformat()}:{keys}",
        event="digest",
        series_id="*",
        rule="digest",
        severity=severity,
        title=f"{every.capitalize()} digest, {when}: {counts}",
        period_start=start,
        period_end=end,
        actual=math.nan,
        expected=math.nan,
        lower=math.nan,
        upper=math.nan,
        deviation_pct=math.nan,
        created_at=now,
        facts=tuple(facts),
        currency=currency,
    )
