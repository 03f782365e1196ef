"""Digests: the messages of a day or a week for one channel, combined into one message.

A digest channel's deliveries are held in the outbox until the local midnight that ends their
period (the next day, or the next Monday for weekly digests), then sent together as one message
that lists the open incidents and the biggest movers of the period.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import zoneinfo
from typing import Literal, Sequence

from alerts.message import Message, Severity

Every = Literal["daily", "weekly"]
MOVERS = 5
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


def build_digest(channel: str, every: Every, messages: Sequence[Message], timezone: str, now: dt.datetime) -> Message:
    """One message listing ``messages`` (all held for ``channel``): open incidents first, then resolved ones."""
    if not messages:
        raise ValueError("build_digest() needs at least one message")
    start, end = period_of(min(m.created_at for m in messages), every, timezone)
    latest: dict[tuple[str, str], Message] = {}
    for message in sorted(messages, key=lambda m: (m.created_at, m.period_end)):
        latest[(message.series_id, message.rule)] = message
    still_open = sorted((m for m in latest.values() if m.event != "resolved"), key=lambda m: m.deviation_pct)
    resolved = [m for m in latest.values() if m.event == "resolved"]
    facts = [f"Open, {m.severity}: {m.title} ({m.currency}{m.actual:,.0f} vs {m.currency}{m.expected:,.0f} expected)" for m in still_open]
    facts += [f"Resolved: {m.title}" for m in resolved]
    movers = sorted(still_open, key=lambda m: -abs(m.deviation_pct))[:MOVERS]
    if movers:
        facts.append("Biggest movers: " + ", ".join(f"{m.series_id} {m.deviation_pct:+.0f}%" for m in movers))
    when = f"{start:%a} {start.day} {start:%b %Y}" if every == "daily" else f"week of {start.day} {start:%b %Y}"
    counts = f"{len(still_open)} open incident{'s' * (len(still_open) != 1)}, {len(resolved)} resolved"
    keys = hashlib.sha256("\n".join(sorted(m.key for m in messages)).encode()).hexdigest()[:12]
    severity: Severity = max((m.severity for m in still_open), key=_RANK.__getitem__, default="info")
    return Message(
        key=f"digest:{channel}:{start.isoformat()}:{keys}",
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
        currency=messages[0].currency,
    )
