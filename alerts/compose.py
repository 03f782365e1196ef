"""Incident events in plain words: the title and facts of the message people receive."""

from __future__ import annotations

import datetime as dt

from alerts.incidents import IncidentEvent
from alerts.message import Message

_UNITS = {"D": "day", "W": "week", "M": "month"}


def compose(event: IncidentEvent, *, subject: str, freq: str, now: dt.datetime, currency: str = "", link: str | None = None) -> Message:
    """Build the message for ``event``. ``subject`` names the series ("Sales in Germany")."""
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
        facts = (_facts_for(finding.pacing, evidence.actual, evidence.expected, currency),)
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
    )


def _when(pacing: str | None, periods: int, freq: str) -> str:
    if pacing:
        return f"this {pacing} so far"
    unit = _UNITS[freq]
    return f"this {unit}" if periods == 1 else f"over the last {periods} {unit}s"


def _facts_for(pacing: str | None, actual: float, expected: float, currency: str) -> str:
    words = f"{pacing} to date" if pacing else "in total"
    return f"{words.capitalize()}: {currency}{actual:,.0f} of an expected {currency}{expected:,.0f}."
