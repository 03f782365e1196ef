"""Incidents: the open and recent ones with the messages sent and their delivery, one incident's page,
and the operator's actions on it (acknowledge, snooze, feedback), which need the token."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from urllib.parse import quote

import pandas as pd
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from alerts.incidents import FEEDBACK_LABELS
from alerts.outbox import Delivery
from forecaster.errors import InputError
from forecaster.logs import secrets_of
from forecaster.web.charts import message_figure
from forecaster.web.common import TOKEN_HEADER, Table, context, message, page, require_runs, token_problem

router = APIRouter()

SNOOZE_HOURS = (4, 24, 48, 168)
_ACTOR_LIMIT = 128
_NOTE_LIMIT = 2000


def _incident_of(delivery: Delivery) -> str:
    """The incident a delivery's message announces (its key is ``<incident id>:<event>:<period>``)."""
    return delivery.message.key.rsplit(":", 2)[0]


def _deliveries_by_incident(request: Request) -> dict[str, list[Delivery]]:
    _, store = context(request)
    grouped: dict[str, list[Delivery]] = defaultdict(list)
    for delivery in store.outbox.list():
        grouped[_incident_of(delivery)].append(delivery)
    return grouped


def _delivery_summary(deliveries: list[Delivery]) -> str:
    counts: dict[str, int] = defaultdict(int)
    for d in deliveries:
        counts[d.status] += 1
    return ", ".join(f"{status} {n}" for status, n in sorted(counts.items()))


@router.get("/incidents", dependencies=[Depends(require_runs)])
def incidents_page(request: Request, status: str | None = None) -> Response:
    """Open incidents first, then the rest, newest first, with their messages' delivery status."""
    _, store = context(request)
    if status not in (None, "", "open", "resolved"):
        return message(request, 400, "Unknown status", "status must be open or resolved.")
    grouped = _deliveries_by_incident(request)
    rows = []
    for i in sorted(store.incidents.list(status or None), key=lambda i: i.status != "open"):
        sent = grouped.get(i.id, [])
        rows.append({
            "id": i.id, "series": i.series_id, "rule": i.rule, "status": i.status, "severity": i.severity,
            "opened": i.opened_period, "last_judged": i.last_period, "resolved": i.resolved_period,
            "acknowledged": i.acknowledged_at, "snoozed_until": i.snoozed_until, "feedback": i.feedback or "",
            "messages": len({d.message.key for d in sent}), "deliveries": _delivery_summary(sent),
        })
    columns = ["id", "series", "rule", "status", "severity", "opened", "last_judged", "resolved", "acknowledged", "snoozed_until", "feedback", "messages", "deliveries"]
    table = Table("incidents", pd.DataFrame(rows, columns=columns), links={"id": "/incidents/", "series": "/series/"}, searchable=True)
    return page(request, "incidents.html", title="Incidents", tables=[table], status=status or "")


@router.get("/incidents/{incident_id:path}", dependencies=[Depends(require_runs)])
def incident_page(request: Request, incident_id: str, done: str | None = None) -> Response:
    """One incident: its state, what people did, the messages sent and where they went."""
    settings, store = context(request)
    try:
        incident = store.incidents.get(incident_id)
    except InputError:
        return message(request, 404, "No such incident", f"The store has no incident {incident_id!r}.")
    deliveries = _deliveries_by_incident(request).get(incident.id, [])
    secrets = [s for s in secrets_of(settings) if s]
    messages = {d.message.key: d.message for d in deliveries}
    message_rows = [
        {"created": m.created_at, "event": m.event, "severity": m.severity, "title": m.title, "period": f"{m.period_start} to {m.period_end}",
         "actual": m.actual, "expected": m.expected, "deviation_pct": m.deviation_pct, "facts": " · ".join(m.facts)}
        for m in sorted(messages.values(), key=lambda m: m.created_at)
    ]
    delivery_rows = [
        {"message": d.message.key, "channel": d.channel, "status": d.status, "attempts": d.attempts, "sent": d.sent_at,
         "next_attempt": d.next_attempt_at if d.status == "pending" else None, "last_error": _scrub(d.last_error, secrets)}
        for d in deliveries
    ]
    action_rows = [{"at": a.at, "action": a.action, "value": a.value, "actor": a.actor, "note": a.note or ""} for a in store.incidents.actions(incident.id)]
    tables = [
        Table("messages", pd.DataFrame(message_rows, columns=["created", "event", "severity", "title", "period", "actual", "expected", "deviation_pct", "facts"]),
              formats={"actual": "money", "expected": "money", "deviation_pct": "pct"}),
        Table("deliveries", pd.DataFrame(delivery_rows, columns=["message", "channel", "status", "attempts", "sent", "next_attempt", "last_error"])),
        Table("actions", pd.DataFrame(action_rows, columns=["at", "action", "value", "actor", "note"])),
    ]
    latest = max(messages.values(), key=lambda m: m.created_at, default=None)
    figure = message_figure(latest.history) if latest is not None and latest.history else None
    return page(
        request, "incident.html", title=f"Incident {incident.id}", incident=incident, tables=tables, figure=figure,
        labels=FEEDBACK_LABELS, snooze_hours=SNOOZE_HOURS, done=done,
    )


def _scrub(text: str | None, secrets: list[str]) -> str:
    text = text or ""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _act(request: Request, incident_id: str, token: str | None, done: str, action) -> Response:
    """Check the token, run ``action(store, now)`` on a known incident, and go back to its page."""
    settings, store = context(request)
    problem = token_problem(settings, request.headers.get(TOKEN_HEADER) or token)
    if problem:
        return message(request, 403, "Not allowed", problem)
    try:
        store.incidents.get(incident_id)
    except InputError as exc:
        return message(request, 404, "No such incident", str(exc))
    try:
        action(store, dt.datetime.now(dt.timezone.utc))
    except InputError as exc:
        return message(request, 400, "Not done", str(exc))
    return RedirectResponse(f"/incidents/{quote(incident_id, safe='')}?done={done}", status_code=303)


def _actor(actor: str) -> str:
    return actor.strip()[:_ACTOR_LIMIT] or "dashboard"


@router.post("/incidents/{incident_id:path}/ack")
def acknowledge(request: Request, incident_id: str, token: str | None = Form(None), actor: str = Form("")) -> Response:
    """Acknowledge: someone is on it."""
    return _act(request, incident_id, token, "acknowledged", lambda store, now: store.incidents.acknowledge(incident_id, _actor(actor), now))


@router.post("/incidents/{incident_id:path}/snooze")
def snooze(request: Request, incident_id: str, token: str | None = Form(None), actor: str = Form(""), hours: int = Form(24)) -> Response:
    """Snooze the incident's messages for ``hours`` (one of ``SNOOZE_HOURS``)."""

    def act(store, now: dt.datetime):
        if hours not in SNOOZE_HOURS:
            raise InputError(f"snooze: hours must be one of {', '.join(map(str, SNOOZE_HOURS))}, got {hours}")
        return store.incidents.snooze(incident_id, now + dt.timedelta(hours=hours), _actor(actor), now)

    return _act(request, incident_id, token, "snoozed", act)


@router.post("/incidents/{incident_id:path}/feedback")
def feedback(request: Request, incident_id: str, label: str = Form(...), token: str | None = Form(None), actor: str = Form(""), note: str = Form("")) -> Response:
    """Say whether the incident was real, expected or a false alarm."""
    return _act(
        request, incident_id, token, "labelled",
        lambda store, now: store.incidents.label(incident_id, label, _actor(actor), now, note.strip()[:_NOTE_LIMIT] or None),
    )
