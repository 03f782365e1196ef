"""Incident events in plain words: the title, facts and recent history of the message people receive."""

from __future__ import annotations

import datetime as dt
import math
from typing import Sequence

from alerts.deviation import Deviation
from alerts.incidents import IncidentEvent
from alerts.message import Decomposition, Message, Point, SegmentShare
from alerts.rules import Finding

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
    decomposition: Decomposition | None = None,
    metric: str = "revenue",
    plural: bool = True,
) -> Message:
    """Build the message for ``event``. ``subject`` names the series ("Sales in Germany", or
    "Pipeline velocity" with ``plural`` False).

    ``metric`` is what the series measures (``revenue``, ``orders``, or a KPI such as
    ``win_rate``); ``currency`` is the unit of its amounts, and empty for counts and rates.

    ``history`` is the series' recent deviations, oldest first, drawn as the message's chart
    with the band of the finding's interval level. ``decomposition`` explains an opened or
    escalated incident (see :mod:`alerts.decompose`); a resolution carries none.
    """
    finding = event.finding
    evidence = finding.evidence
    verb = "are" if plural else "is"
    pct = abs(round(evidence.deviation_pct))
    when = _when(finding.pacing, finding.periods, freq)
    if event.kind == "resolved":
        title = f"{subject} {verb} back within the expected range"
        opened = event.incident.opened_period
        facts = (f"The incident opened on {opened:%a %d %b %Y} is resolved.",)
    else:
        side = "below" if finding.direction == "down" else "above"
        title = f"{subject} {verb} {pct}% {side} forecast {when}"
        facts = (_facts_for(finding, currency),)
        if event.kind == "escalated":
            title = f"{'Worse' if finding.direction == 'down' else 'Further up'}: {title[0].lower()}{title[1:]}"
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
        metric=metric,
        currency=currency,
        history=tuple(_point(d, finding.level) for d in history),
        decomposition=None if event.kind == "resolved" else decomposition,
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
    shortfall = expected - actual
    segments = tuple(
        SegmentShare("country", name, expected * usual, expected * usual - shortfall * share, share)
        for name, usual, share in (("United Kingdom", 0.8, 0.62), ("Germany", 0.08, 0.21), ("France", 0.06, 0.09))
    )
    orders = round(expected / 25 * 0.78)
    why = Decomposition(
        actual, expected, "the same days of the previous 4 weeks", orders_change=orders / (expected / 25) - 1,
        basket_change=actual / orders / 25 - 1, actual_orders=orders, expected_orders=expected / 25,
        actual_aov=actual / orders, reference_aov=25.0, segments=segments,
    )
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
        decomposition=why,
    )


def _point(deviation: Deviation, level: int) -> Point:
    lower, upper = deviation.bounds.get(level, (float("nan"), float("nan")))
    return Point(deviation.period_start, deviation.actual, deviation.expected, lower, upper)


def _when(pacing: str | None, periods: int, freq: str) -> str:
    if pacing:
        return f"this {pacing} so far"
    unit = _UNITS[freq]
    return f"this {unit}" if periods == 1 else f"over the last {periods} {unit}s"


def _facts_for(finding: Finding, currency: str) -> str:
    """Actual against expected over the evidence; for pacing, the pace and the projected end-of-period gap."""
    evidence, pacing = finding.evidence, finding.pacing
    words = f"{pacing} to date" if pacing else "in total"
    fact = f"{words.capitalize()}: {currency}{evidence.actual:,.0f} of an expected {currency}{evidence.expected:,.0f}"
    if not pacing:
        return f"{fact}."
    fact = f"{fact}; on pace for {evidence.deviation_pct:+.0f}%"
    if finding.projected_shortfall and finding.projected_shortfall > 0:
        fact = f"{fact}, ending the {pacing} about {currency}{finding.projected_shortfall:,.0f} short"
    return f"{fact}."
