"""Incident events in plain words: the title, facts and recent history of the message people receive."""

from __future__ import annotations

import datetime as dt
import math
from typing import Sequence

from alerts.deviation import Deviation
from alerts.incidents import IncidentEvent
from alerts.message import Message, Point

_UNITS = {"D": "day", "W": "week", "M": "month"}


def compose(
    event: IncidentEvent,
    *,
    subject: str,
    freq: str,
    now: dt.datetime,
    currency: str = "",
    link: str | None = None,
    history: Sequence[Deviation] = (),
) -> Message:
    """Build the message for ``event``. ``subject`` names the series ("Sales in Germany").

    ``history`` is the series' recent deviations, oldest first, drawn as the message's chart
    with the band of the finding's interval level.
    """
    finding = event.finding
    evidence = finding.evidence
    pct = abs(round(evidence.deviation_pct))
    when = _when(finding.pacing, finding.periods, freq)
    if event.kind == "resolved":
        title = f"{subject} are back within the expected range"
        opened = event.incident.opened_period
        facts = (f"The incident opened on {opened:%a %d %b %Y} is resolved.",)
    else:
        title = f"{subject} are {pct}% below forecast {when}"
        facts = (_facts_for(finding.pacing, evidence, currency),)
        if event.kind == "escalated":
            title = f"Worse: {title[0].lower()}{title[1:]}"
    lower, upper = evidence.bounds.get(finding.level, (float("nan"), float("nan")))
    return Message(
        key=event.key,
        event=event.kind,
        series_id=event.incident.series_id,
        rule=event.incident.rule,
        severity="info" if event.kind == "resolved" else finding.severity,
        title=title,
        period_start=evidence.period_start,
        period_end=evidence.period_end,
        actual=evidence.actual,
        expected=evidence.expected,
        lower=lower,
        upper=upper,
        deviation_pct=evidence.deviation_pct,
        created_at=now,
        facts=facts,
        link=link,
        currency=currency,
        history=tuple(_point(d, finding.level) for d in history),
    )


def sample_message(now: dt.datetime, currency: str = "") -> Message:
    """A test message with four weeks of made-up history, to check that a channel works end to end."""
    start = now.date() - dt.timedelta(days=28)
    history = []
    for day in range(28):
        expected = 1000.0 + 150.0 * math.sin(day * 2 * math.pi / 7)
        actual = expected * (1.02 if day < 21 else 0.7)
        history.append(Point(start + dt.timedelta(days=day), round(actual, 2), expected, expected * 0.85, expected * 1.15))
    last = history[-7:]
    actual, expected = sum(p.actual for p in last), sum(p.expected for p in last)
    return Message(
        key=f"test:{now:%Y%m%dT%H%M%S}",
        event="test",
        series_id="sample",
        rule="test",
        severity="warning",
        title="Sales in the sample series are 30% below forecast this week",
        period_start=last[0].ds,
        period_end=last[-1].ds,
        actual=actual,
        expected=expected,
        lower=expected * 0.9,
        upper=expected * 1.1,
        deviation_pct=100 * (actual - expected) / expected,
        created_at=now,
        facts=("Made-up figures: this message only checks that the channel works.",),
        currency=currency,
        history=tuple(history),
    )


def _point(deviation: Deviation, level: int) -> Point:
    lower, upper = deviation.bounds.get(level, (float("nan"), float("nan")))
    return Point(deviation.period_start, deviation.actual, deviation.expected, lower, upper)


def _when(pacing: str | None, periods: int, freq: str) -> str:
    if pacing:
        return f"this {pacing} so far"
    unit = _UNITS[freq]
    return f"this {unit}" if periods == 1 else f"over the last {periods} {unit}s"


def _facts_for(pacing: str | None, evidence: Deviation, currency: str) -> str:
    words = f"{pacing} to date" if pacing else "in total"
    fact = f"{words.capitalize()}: {currency}{evidence.actual:,.0f} of an expected {currency}{evidence.expected:,.0f}"
    return f"{fact}; on pace for {evidence.deviation_pct:+.0f}%." if pacing else f"{fact}."
