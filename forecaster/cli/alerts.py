"""`salescast alerts list|retry|test`: the outbox: list deliveries, re-send dead letters, test a channel."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from forecaster.cli.common import ConfigOption, app, err, fail, opened_store, out
from forecaster.errors import ConfigError, InputError

alerts_app = typer.Typer(help="Incidents (list, ack, snooze, feedback) and the outbox (list, retry, test).", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")


@alerts_app.command("list")
def alerts_list(
    failed: bool = typer.Option(False, "--failed", help="Only dead letters (deliveries that gave up)."),
    config: Optional[Path] = ConfigOption,
) -> None:
    """List the outbox's deliveries, oldest first."""
    with opened_store(config) as (_, store):
        deliveries = store.outbox.list("dead" if failed else None)
    table = Table(title="dead letters" if failed else "deliveries")
    for column in ("id", "channel", "status", "attempts", "last error"):
        table.add_column(column, overflow="fold")
    for d in deliveries:
        table.add_row(d.id, d.channel, d.status, str(d.attempts), d.last_error or "")
    out.print(table)


@alerts_app.command("retry")
def alerts_retry(
    delivery_id: Optional[str] = typer.Argument(None, metavar="[ID]", help="Delivery id, as `alerts list` shows it."),
    every: bool = typer.Option(False, "--all", help="Re-send every dead letter."),
    config: Optional[Path] = ConfigOption,
) -> None:
    """Re-send dead letters now: one by its id, or all of them."""
    from alerts.outbox import redeliver
    from forecaster.engine import Engine

    if (delivery_id is None) == (not every):
        raise fail(InputError("give a delivery ID or --all (not both)"))
    with opened_store(config) as (resolved, store):
        engine = Engine(resolved, store)
        ids = None if every else [delivery_id]
        revived, report = redeliver(
            store.outbox, ids, engine.notifiers, resolved.delivery, engine.clock(), router=engine.router, overview=engine.overview,
        )
    if delivery_id is not None and not revived:
        raise fail(InputError(f"no dead delivery with id {delivery_id!r} (see `salescast alerts list --failed`)"))
    out.print(f"revived {revived}; sent {report.sent}, retrying {report.retrying}, dead {report.dead}", highlight=False)
    for problem in report.errors:
        err.print(f"delivery failed: {problem}", highlight=False)
    raise typer.Exit(1 if report.retrying or report.dead else 0)


@alerts_app.command("test")
def alerts_test(
    channel: str = typer.Option(..., "--channel", help="Name of the channel to check (its `name`, else its kind)."),
    config: Optional[Path] = ConfigOption,
) -> None:
    """Send a sample message, with a chart, through one channel to check its setup."""
    from alerts.compose import sample_message
    from alerts.errors import DeliveryError
    from forecaster import settings

    try:
        resolved = settings.load(config)
        chosen = {c.label: c for c in resolved.channels}.get(channel)
        if chosen is None:
            raise InputError(f"--channel: no channel named {channel!r}; configured: {', '.join(c.label for c in resolved.channels)}")
        chosen.create().send(sample_message(dt.datetime.now(dt.timezone.utc), resolved.currency))
    except (ConfigError, InputError) as exc:
        raise fail(exc) from None
    except DeliveryError as exc:
        raise fail(exc, 1) from None
    out.print(f"[green]ok:[/] a test message went out through {channel}")

