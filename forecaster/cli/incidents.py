"""`salescast alerts incidents|ack|snooze|feedback`: people's say on incidents."""

from __future__ import annotations

import datetime as dt
import getpass
import re
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from alerts.incidents import FEEDBACK_LABELS
from forecaster.cli.alerts import alerts_app
from forecaster.cli.common import ConfigOption, fail, opened_store, out, parse_as_of
from forecaster.errors import InputError

ByOption = typer.Option(None, "--by", help="Who is acting (default: the login name).")
_DURATION = re.compile(r"^(\d+)([hdw])$")
_UNIT = {"h": "hours", "d": "days", "w": "weeks"}


def _actor(by: Optional[str]) -> str:
    try:
        return by or getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@alerts_app.command("incidents")
def incidents_list(
    only_open: bool = typer.Option(False, "--open", help="Only open incidents."),
    series: Optional[str] = typer.Option(None, "--series", help="Only this series."),
    config: Optional[Path] = ConfigOption,
) -> None:
    """List incidents, newest first, with their acknowledgement, snooze and feedback."""
    with opened_store(config) as (_, store):
        found = store.incidents.list("open" if only_open else None, series)
    table = Table(title="open incidents" if only_open else "incidents")
    for column in ("id", "status", "severity", "opened", "last period", "ack", "snoozed until", "feedback"):
        table.add_column(column, overflow="fold")
    for i in found:
        table.add_row(
            i.id, i.status, i.severity, str(i.opened_period), str(i.last_period),
            "yes" if i.acknowledged_at else "", f"{i.snoozed_until:%Y-%m-%d %H:%M} UTC" if i.snoozed_until else "", i.feedback or "",
        )
    out.print(table)


@alerts_app.command("ack")
def incidents_ack(
    incident_id: str = typer.Argument(..., metavar="ID", help="Incident id, as `alerts incidents` shows it."),
    by: Optional[str] = ByOption,
    config: Optional[Path] = ConfigOption,
) -> None:
    """Acknowledge an incident: no more escalation messages; its resolution is still announced."""
    with opened_store(config) as (_, store):
        try:
            store.incidents.acknowledge(incident_id, _actor(by), _now())
        except InputError as exc:
            raise fail(exc) from None
    out.print(f"acknowledged {incident_id}", highlight=False)


@alerts_app.command("snooze")
def incidents_snooze(
    incident_id: str = typer.Argument(..., metavar="ID", help="Incident id, as `alerts incidents` shows it."),
    duration: Optional[str] = typer.Option(None, "--for", help="How long: 12h, 3d or 2w."),
    until: Optional[str] = typer.Option(None, "--until", help="Until this date (local midnight) or ISO date-time."),
    by: Optional[str] = ByOption,
    config: Optional[Path] = ConfigOption,
) -> None:
    """Snooze an incident: no message about it until the time given."""
    with opened_store(config) as (settings, store):
        try:
            now = _now()
            end = _snooze_end(duration, until, settings.timezone, now)
            store.incidents.snooze(incident_id, end, _actor(by), now)
        except InputError as exc:
            raise fail(exc) from None
    out.print(f"snoozed {incident_id} until {end.astimezone(dt.timezone.utc):%Y-%m-%d %H:%M} UTC", highlight=False)


def _snooze_end(duration: Optional[str], until: Optional[str], timezone: str, now: dt.datetime) -> dt.datetime:
    """The end of a snooze given as ``--for`` or ``--until`` (exactly one)."""
    if (duration is None) == (until is None):
        raise InputError("give --for or --until (one of them)")
    if until is not None:
        return parse_as_of(until, timezone)
    match = _DURATION.match(duration.strip())
    if not match or int(match.group(1)) == 0:
        raise InputError(f"--for: {duration!r} is not a duration (use 12h, 3d or 2w)")
    return now + dt.timedelta(**{_UNIT[match.group(2)]: int(match.group(1))})


@alerts_app.command("feedback")
def incidents_feedback(
    incident_id: str = typer.Argument(..., metavar="ID", help="Incident id, as `alerts incidents` shows it."),
    label: str = typer.Argument(..., metavar="LABEL", help=f"One of {', '.join(FEEDBACK_LABELS)}."),
    note: Optional[str] = typer.Option(None, "--note", help="Why, in a few words."),
    by: Optional[str] = ByOption,
    config: Optional[Path] = ConfigOption,
) -> None:
    """Say whether an incident was real, expected or a false alarm; false alarms make that series' rules less sensitive."""
    with opened_store(config) as (_, store):
        try:
            store.incidents.label(incident_id, label.replace("-", "_"), _actor(by), _now(), note)
        except InputError as exc:
            raise fail(exc) from None
    out.print(f"recorded {label} for {incident_id}", highlight=False)
