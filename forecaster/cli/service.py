"""The service commands: serve, status, db upgrade."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from forecaster.cli.common import ConfigOption, app, check_choice, fail, opened_store, out
from forecaster.errors import ConfigError, InputError, StoreError

db_app = typer.Typer(help="The engine's database: schema migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.command()
def serve(
    config: Optional[Path] = ConfigOption,
    health_port: Optional[int] = typer.Option(None, "--health-port", help="Answer GET /health on this port (200 ok, 503 failing)."),
    health_host: str = typer.Option("127.0.0.1", "--health-host", help="Address the health endpoint listens on."),
    log_format: str = typer.Option("plain", "--log-format", help="plain or json (one object per line)."),
) -> None:
    """Run the configured jobs on their schedules until SIGTERM; SIGHUP reloads the config."""
    from forecaster import settings
    from forecaster.logs import configure, secrets_of
    from forecaster.service import Service

    try:
        check_choice("--log-format", log_format, ["plain", "json"])
        resolved = settings.load(config)
        configure(log_format, logging.INFO, secrets_of(resolved))
        service = Service(config, resolved)
    except (ConfigError, InputError) as exc:
        raise fail(exc) from None
    except StoreError as exc:
        raise fail(exc, 1) from None
    raise typer.Exit(service.serve((health_host, health_port) if health_port else None))


@app.command()
def status(config: Optional[Path] = ConfigOption, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show the schedule, last and next run per job, the leader, open incidents and pending deliveries."""
    from forecaster.health import status as service_status

    with opened_store(config) as (resolved, store):
        report = service_status(resolved, store, dt.datetime.now(dt.timezone.utc))
    if as_json:
        out.print_json(json.dumps(report))
        return
    table = Table(title=f"jobs (leader: {report['leader'] or 'none'})")
    for column in ("job", "schedule", "last run", "status", "next run"):
        table.add_column(column)
    for job in report["jobs"]:
        last = job["last_run"] or {}
        table.add_row(job["name"], f"{job['cron']} ({job['timezone']})", last.get("as_of") or "never", last.get("status", ""), job["next_run"] or "")
    out.print(table)
    out.print(f"open incidents: {len(report['open_incidents'])}; pending deliveries: {report['pending_deliveries']}", highlight=False)
    for incident in report["open_incidents"]:
        out.print(f"  {incident['series']} / {incident['rule']}: {incident['severity']} since {incident['since']}", highlight=False)


@db_app.command("upgrade")
def db_upgrade(config: Optional[Path] = ConfigOption) -> None:
    """Migrate the store's database to the current schema (`serve` also does this on start)."""
    from forecaster.store.schema import revision

    with opened_store(config) as (_, store):
        out.print(f"[green]ok:[/] {store.where} is at revision {revision(store.engine)}")

