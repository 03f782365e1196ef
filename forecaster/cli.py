"""`salescast ...`: parse, call, print. Exit codes: 0 success, 1 partial failure, 2 bad config or input."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from forecaster.errors import ConfigError, ForecasterError, InputError, StoreError

app = typer.Typer(help="salescast: forecast sales, watch actuals, alert when sales slow down.", no_args_is_help=True, add_completion=False)
out = Console()
err = Console(stderr=True, soft_wrap=True)

ConfigOption = typer.Option(None, "--config", "-c", help="Config file (default: the embedded demo config).", exists=False)
alerts_app = typer.Typer(help="The outbox: list deliveries, re-send dead letters, test a channel.", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")


def _fail(exc: Exception, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
    return typer.Exit(code)


def _as_of(value: Optional[str], timezone: str) -> Optional[dt.datetime]:
    """A date (midnight local) or an ISO date-time; naive times are local to the config's zone."""
    if value is None:
        return None
    import pandas as pd

    try:
        stamp = pd.Timestamp(value)
    except ValueError:
        raise InputError(f"--as-of: {value!r} is not a date (use YYYY-MM-DD or YYYY-MM-DDTHH:MM)") from None
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(timezone)
    return stamp.to_pydatetime()


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log details to stderr.")) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


@app.command("check-config")
def check_config(config: Optional[Path] = ConfigOption) -> None:
    """Validate a config file and print it resolved, with secrets redacted."""
    from forecaster import settings

    try:
        resolved = settings.load(config)
    except ConfigError as exc:
        raise _fail(exc) from None
    out.print_json(json.dumps(settings.redacted(resolved), default=str))
    out.print(f"[green]ok:[/] {config or settings.DEFAULT_CONFIG} is valid")


@app.command()
def run(
    config: Optional[Path] = ConfigOption,
    job: str = typer.Option("run", help="Job name recorded with the run."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Run as if it were this date (local midnight) or time."),
) -> None:
    """Sync, forecast, judge and deliver once, then print a summary."""
    from forecaster import settings
    from forecaster.engine import Engine
    from forecaster.store import Store

    try:
        resolved = settings.load(config)
        moment = _as_of(as_of, resolved.timezone)
        store = Store(resolved.store.url).create()
        try:
            with out.status("running…"):
                summary = Engine(resolved, store).run(moment, job=job)
        finally:
            store.close()
    except (ConfigError, InputError) as exc:
        raise _fail(exc) from None
    except (StoreError, ForecasterError) as exc:
        raise _fail(exc, 1) from None
    print_summary([summary])
    raise typer.Exit(summary.exit_code)


def print_summary(runs: list) -> None:
    """The end-of-run table: series, failures, incidents, deliveries."""
    last = runs[-1]
    table = Table(title="salescast run summary", show_header=False)
    table.add_row("runs", str(len(runs)))
    table.add_row("series watched", str(last.series))
    table.add_row("forecasts issued", str(sum(r.forecast for r in runs)))
    failed = {k: v for r in runs for k, v in r.failed.items()}
    table.add_row("series failed", str(len(failed)))
    table.add_row("incidents opened / escalated / resolved", " / ".join(str(sum(r.count(k) for r in runs)) for k in ("opened", "escalated", "resolved")))
    table.add_row("deliveries sent / retrying / dead", f"{sum(r.sent for r in runs)} / {last.retrying} / {sum(r.dead for r in runs)}")
    out.print(table)
    for series_id, reason in failed.items():
        err.print(f"series {series_id} failed: {reason}", highlight=False)
    for problem in last.delivery_errors:
        err.print(f"delivery failed: {problem}", highlight=False)


@app.command()
def demo(
    folder: Path = typer.Option(Path("salescast-demo"), "--dir", help="Where the demo keeps its database and outbox."),
) -> None:
    """Replay the bundled Online Retail sample day by day: forecasts, alerts, outbox. No config, no network."""
    from forecaster.demo import DEMO_END, DEMO_START, run_demo

    out.rule("salescast demo")
    out.print(
        f"Online Retail sample (UCI, CC BY 4.0): daily revenue per country, replayed as the scheduler would, "
        f"one run per day from {DEMO_START:%d %b} to {DEMO_END:%d %b %Y}.\n"
    )

    def progress(summary) -> None:
        events = ", ".join(f"{e.kind} {e.incident.series_id}/{e.incident.rule}" for e in summary.events)
        out.print(f"[dim]{summary.as_of:%a %d %b}[/]: {summary.forecast} forecasts" + (f"; {events}" if events else ""), highlight=False)

    try:
        result = run_demo(folder, on_run=progress)
    except ForecasterError as exc:
        raise _fail(exc, 1) from None
    print_summary(result.runs)
    out.print(f"Messages written to {folder / 'outbox'}; database {folder / 'salescast.db'}.")
    raise typer.Exit(max(r.exit_code for r in result.runs))


@app.command()
def forecast(
    input: Path = typer.Option(..., "--input", "-i", help="CSV or Parquet in long format (unique_id, ds, y)."),
    horizon: int = typer.Option(..., "--horizon", "-h", min=1, help="Periods to forecast."),
    freq: str = typer.Option("D", "--freq", help="D, W or M."),
    level: List[int] = typer.Option([80, 95], "--level", help="Interval level(s) in percent."),
    model: str = typer.Option("auto", "--model", help="auto, naive, ets or prophet."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="CSV to write (default: stdout)."),
    id_col: str = typer.Option("unique_id", "--id-col"),
    date_col: str = typer.Option("ds", "--date-col"),
    value_col: str = typer.Option("y", "--value-col"),
) -> None:
    """Forecast every series of a long-format file, with prediction intervals."""
    from forecaster.data.series import read_long
    from forecaster.forecasting import forecast_frame

    try:
        _check_choice("--freq", freq, ["D", "W", "M"])
        _check_choice("--model", model, ["auto", "naive", "ets", "prophet"])
        bad = [lv for lv in level if not 0 < lv < 100]
        if bad:
            raise InputError(f"--level: {bad} must be between 0 and 100 (exclusive)")
        long = read_long(input, id_col, date_col, value_col, freq)
    except InputError as exc:
        raise _fail(exc) from None
    _report_partial(long)
    result = forecast_frame(long, horizon, freq=freq, levels=sorted(set(level)), model=model)
    for series_id, reason in result.failures.items():
        err.print(f"series {series_id} skipped: {reason}", highlight=False)
    for series_id, note in result.notes.items():
        err.print(f"series {series_id}: {note}", highlight=False)
    frame = result.forecasts.assign(ds=result.forecasts["ds"].dt.strftime("%Y-%m-%d"))
    _write_csv(frame, output)
    raise typer.Exit(1 if result.failures else 0)


@app.command()
def replay(
    input: Path = typer.Option(..., "--input", "-i", help="CSV or Parquet in long format (unique_id, ds, y)."),
    start: str = typer.Option(..., "--start", help="First simulated run (YYYY-MM-DD)."),
    end: Optional[str] = typer.Option(None, "--end", help="Last simulated run (default: the day after the data ends)."),
    freq: Optional[str] = typer.Option(None, "--freq", help="D, W or M (default: the config's series.freq)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Alert policy to replay (default: built-in)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="CSV of notifications (default: stdout)."),
    id_col: str = typer.Option("unique_id", "--id-col"),
    date_col: str = typer.Option("ds", "--date-col"),
    value_col: str = typer.Option("y", "--value-col"),
) -> None:
    """Simulate the scheduled engine once per period and list every notification it would have sent."""
    from forecaster import settings
    from forecaster.data.series import read_long
    from forecaster.replay import replay_series

    try:
        resolved = settings.load(config) if config else settings.Settings()
        if freq:
            _check_choice("--freq", freq, ["D", "W", "M"])
            resolved = resolved.model_copy(update={"series": resolved.series.model_copy(update={"freq": freq})})
        long = read_long(input, id_col, date_col, value_col, resolved.series.freq)
        _report_partial(long)
        first = _date("--start", start)
        last = _date("--end", end) if end else (long["ds"].max() + dt.timedelta(days=1)).date()
        if last < first:
            raise InputError(f"--end {last} is before --start {first}")
    except (ConfigError, InputError) as exc:
        raise _fail(exc) from None
    with out.status("replaying…") if output else contextlib.nullcontext():
        notifications = replay_series(long, resolved, first, last)
    _write_csv(notifications, output)
    if output:
        out.print(f"{len(notifications)} notifications written to {output}")


@app.command()
def kpis(
    opportunities: Path = typer.Option(..., "--opportunities", help="CSV or Parquet of opportunities (deals)."),
    orders: Optional[Path] = typer.Option(None, "--orders", help="Orders file (order_id, ordered_at, amount[, status]): adds orders and aov."),
    freq: str = typer.Option("M", "--freq", help="W, M or Q."),
    by: Optional[str] = typer.Option(None, "--by", help="Segment column, e.g. sales_agent, product, or a joined column such as regional_office."),
    window: int = typer.Option(90, "--window", help="Trailing days for the win rate, deal size and cycle of pipeline velocity."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="CSV to write (default: stdout)."),
    products: Optional[Path] = typer.Option(None, "--products", help="Products table (product, sales_price): list price of deals without an amount."),
    join: List[Path] = typer.Option([], "--join", help="Lookup table joined on shared columns, e.g. sales_teams.csv (repeatable)."),
    quotas: Optional[Path] = typer.Option(None, "--quotas", help="Quota table (ds, quota[, segment]): adds quota, attainment, coverage."),
    id_col: str = typer.Option("opportunity_id", "--id-col"),
    created_col: str = typer.Option("engage_date", "--created-col"),
    stage_col: str = typer.Option("deal_stage", "--stage-col"),
    amount_col: str = typer.Option("close_value", "--amount-col"),
    owner_col: str = typer.Option("sales_agent", "--owner-col"),
    close_col: str = typer.Option("close_date", "--close-col"),
    product_col: str = typer.Option("product", "--product-col", help="Product column ('' for none)."),
    won_stage: List[str] = typer.Option(["Won", "Closed Won"], "--won-stage", help="Stage value meaning won (repeatable)."),
    lost_stage: List[str] = typer.Option(["Lost", "Closed Lost"], "--lost-stage", help="Stage value meaning lost (repeatable)."),
) -> None:
    """Sales KPIs per period (and segment): win rate, deal size, cycle, open pipeline, velocity, ..."""
    from forecaster.data.opportunities import OpportunityColumns, Outcomes
    from forecaster.revops import kpi_report

    try:
        _check_choice("--freq", freq, ["W", "M", "Q"])
        columns = OpportunityColumns(id_col, created_col, stage_col, amount_col, owner_col, close_col, product_col or None)
        report = kpi_report(
            opportunities, freq, by, window, columns, Outcomes(tuple(won_stage), tuple(lost_stage)),
            products=products, joins=join, quotas=quotas, orders=orders,
        )
    except InputError as exc:
        raise _fail(exc) from None
    _write_csv(report, output)
    if output:
        out.print(f"{len(report)} rows written to {output}")


def _report_partial(long) -> None:
    for series_id in long.attrs.get("partial_periods", []):
        err.print(f"series {series_id}: its last period is incomplete in the input and is left out", highlight=False)


@alerts_app.command("list")
def alerts_list(
    failed: bool = typer.Option(False, "--failed", help="Only dead letters (deliveries that gave up)."),
    config: Optional[Path] = ConfigOption,
) -> None:
    """List the outbox's deliveries, oldest first."""
    from forecaster import settings
    from forecaster.store import Store

    try:
        store = Store(settings.load(config).store.url).create()
    except (ConfigError, StoreError) as exc:
        raise _fail(exc) from None
    try:
        deliveries = store.outbox.list("dead" if failed else None)
    finally:
        store.close()
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
    from forecaster import settings
    from forecaster.engine import Engine
    from forecaster.store import Store

    if (delivery_id is None) == (not every):
        raise _fail(InputError("give a delivery ID or --all (not both)"))
    try:
        resolved = settings.load(config)
        store = Store(resolved.store.url).create()
    except (ConfigError, StoreError) as exc:
        raise _fail(exc) from None
    try:
        engine = Engine(resolved, store)
        ids = None if every else [delivery_id]
        revived, report = redeliver(store.outbox, ids, engine.notifiers, resolved.delivery, engine.clock(), router=engine.router)
    finally:
        store.close()
    if delivery_id is not None and not revived:
        raise _fail(InputError(f"no dead delivery with id {delivery_id!r} (see `salescast alerts list --failed`)"))
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
        raise _fail(exc) from None
    except DeliveryError as exc:
        raise _fail(exc, 1) from None
    out.print(f"[green]ok:[/] a test message went out through {channel}")


def _check_choice(option: str, value: str, choices: list[str]) -> None:
    if value not in choices:
        raise InputError(f"{option}: {value!r} is not one of {', '.join(choices)}")


def _date(option: str, value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{option}: {value!r} is not a date (use YYYY-MM-DD)") from None


def _write_csv(frame, output: Optional[Path]) -> None:
    if output is None:
        frame.to_csv(sys.stdout, index=False)
    else:
        frame.to_csv(output, index=False)


# --- The service: serve, status, db upgrade ---

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
        _check_choice("--log-format", log_format, ["plain", "json"])
        resolved = settings.load(config)
        configure(log_format, logging.INFO, secrets_of(resolved))
        service = Service(config, resolved)
    except (ConfigError, InputError) as exc:
        raise _fail(exc) from None
    except StoreError as exc:
        raise _fail(exc, 1) from None
    raise typer.Exit(service.serve((health_host, health_port) if health_port else None))


@app.command()
def status(config: Optional[Path] = ConfigOption, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show the schedule, last and next run per job, the leader, open incidents and pending deliveries."""
    from forecaster import settings
    from forecaster.health import status as service_status
    from forecaster.store import Store

    try:
        resolved = settings.load(config)
        store = Store(resolved.store.url).create()
    except ConfigError as exc:
        raise _fail(exc) from None
    except StoreError as exc:
        raise _fail(exc, 1) from None
    try:
        report = service_status(resolved, store, dt.datetime.now(dt.timezone.utc))
    finally:
        store.close()
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
    from forecaster import settings
    from forecaster.store import Store
    from forecaster.store.schema import revision

    try:
        store = Store(settings.load(config).store.url).create()
    except ConfigError as exc:
        raise _fail(exc) from None
    except StoreError as exc:
        raise _fail(exc, 1) from None
    try:
        out.print(f"[green]ok:[/] {store.where} is at revision {revision(store.engine)}")
    finally:
        store.close()
