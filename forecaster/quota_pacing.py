"""The period's pace against quota, judged from the pipeline forecast, as an incident like any other.

Each run simulates the current period's revenue from the pipeline (``forecaster.pipeline_forecast``)
and judges its median (P50) against ``revops.alert_below`` of the quota: below it, an incident of
the series ``quota <period>`` (``quota 2017Q3``) opens, escalates as the pace worsens and
resolves once the pace has held for ``monitor.incidents.resolve_after`` days; a new period is a
new series, so every quarter starts afresh. Critical when even the P90 falls short of quota.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from alerts.deviation import Deviation
from alerts.incidents import IncidentEvent, IncidentPolicy, IncidentStore, IncidentTracker
from alerts.message import Message
from alerts.rules import Finding
from forecaster.pipeline_forecast import PipelineForecast

RULE = "quota_pace"
LEVEL = 80  # the P10-P90 range of the simulated revenue


def series_of(outlook: PipelineForecast) -> str:
    """The series a period's pace is tracked under: ``quota 2017Q3``."""
    return f"quota {outlook.period}"


def observe_pace(outlook: PipelineForecast, quota: float, alert_below: float, policy: IncidentPolicy, incidents: IncidentStore) -> IncidentEvent | None:
    """Judge the outlook's period once for its day (``outlook.as_of``); the event to announce, if any.

    An open pace incident of an earlier period is resolved first, without an event: that period
    is over, and whether it made quota is for the KPI page, not an alert.
    """
    series_id = series_of(outlook)
    for incident in incidents.list("open"):
        if incident.rule == RULE and incident.series_id != series_id:
            incidents.save(replace(incident, status="resolved", resolved_period=incident.last_period))
    finding = quota_finding(outlook, quota, alert_below)
    return IncidentTracker(policy, incidents).observe(series_id, outlook.as_of.date(), [finding], lambda a, b: (b - a).days)


def quota_finding(outlook: PipelineForecast, quota: float, alert_below: float) -> Finding:
    """The verdict on the period's pace: firing when the P50 is below ``alert_below`` of ``quota``."""
    period = outlook.period
    evidence = Deviation(
        series_of(outlook), period.start_time.date(), period.end_time.date(), actual=outlook.p50, expected=quota,
        bounds={LEVEL: (outlook.p10, outlook.p90)},
    )
    firing = outlook.p50 < alert_below * quota
    return Finding(
        rule=RULE, firing=firing, recovered=not firing, severity="critical" if outlook.p90 < quota else "warning",
        evidence=evidence, level=LEVEL, periods=1,
    )


def quota_message(
    event: IncidentEvent, outlook: PipelineForecast, coverage_target: float, now: dt.datetime, currency: str = "", link: str | None = None,
) -> Message:
    """The message of a pace incident's event: where the period is heading against quota, and why."""
    evidence = event.finding.evidence
    quota, share = evidence.expected, outlook.p50 / evidence.expected
    label = str(outlook.period)
    if event.kind == "resolved":
        title = f"{label} is back on pace: {share:.0%} of quota"
    else:
        title = f"{label} is on pace for {share:.0%} of quota"
        if event.kind == "escalated":
            title = f"Worse: {title}"
    facts = (
        _coverage(outlook, quota, coverage_target, currency),
        f"Won so far {currency}{outlook.won_so_far:,.0f}; open pipeline {currency}{outlook.open_value:,.0f}; "
        f"simulated period revenue P10 {currency}{outlook.p10:,.0f}, P50 {currency}{outlook.p50:,.0f}, P90 {currency}{outlook.p90:,.0f}. "
        + outlook.interval_note(),
        f"Pipeline as of {outlook.as_of:%a %d %b %Y}.",
    )
    return Message(
        key=event.key, event=event.kind, series_id=event.incident.series_id, rule=RULE,
        severity="info" if event.kind == "resolved" else event.finding.severity, title=title,
        period_start=evidence.period_start, period_end=evidence.period_end, actual=outlook.p50, expected=quota,
        lower=outlook.p10, upper=outlook.p90, deviation_pct=100 * (share - 1), created_at=now, facts=facts, link=link,
        currency=currency, labels=("projected", "quota"),
    )


def _coverage(outlook: PipelineForecast, quota: float, target: float, currency: str) -> str:
    """The open pipeline against the quota still to win, in words."""
    remaining = quota - outlook.won_so_far
    if remaining <= 0:
        return f"The quota is won: {currency}{outlook.won_so_far:,.0f} so far."
    coverage = outlook.open_value / remaining
    side = "below" if coverage < target else "at or above"
    return f"Pipeline coverage {coverage:.1f}x of the {currency}{remaining:,.0f} still to win, {side} the {target:g}x target."
