"""The engine's commands: check-config, run, demo, forecast, replay, kpis."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from pathlib import Path
from typing import List, Optional

import typer

from forecaster.cli.common import (
    ConfigOption, app, check_choice, err, fail, out, parse_as_of, parse_date, print_summary, report_partial, series_progress,
    write_csv,
)
from forecaster.errors import ConfigError, ForecasterError, InputError, StoreError
from forecaster.models import MODELS

MODEL_NAMES = sorted(MODELS)

PREVIEW_ROWS = 10  # series listed in replay's alert-rate preview (the noisiest)


@app.command("check-config")
def check_config(config: Optional[Path] = ConfigOption) -> None:
    """Validate a config file and print it resolved, with secrets redacted."""
    from forecaster import settings

    try:
        resolved = settings.load(config)
    except ConfigError as exc:
        raise fail(exc) from None
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
        moment = parse_as_of(as_of, resolved.timezone)
        store = Store(resolved.store.url).create()
        try:
            with series_progress() as progress:
                summary = Engine(resolved, store, progress=progress).run(moment, job=job)
        finally:
            store.close()
    except (ConfigError, InputError) as exc:
        raise fail(exc) from None
    except (StoreError, ForecasterError) as exc:
        raise fail(exc, 1) from None
    print_summary([summary])
    raise typer.Exit(summary.exit_code)



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
        raise fail(exc, 1) from None
    print_summary(result.runs)
    out.print(f"Messages written to {folder / 'outbox'}; database {folder / 'salescast.db'}.")
    raise typer.Exit(max(r.exit_code for r in result.runs))


@app.command()
def forecast(
    input: Path = typer.Option(..., "--input", "-i", help="CSV or Parquet in long format (unique_id, ds, y[, regressors..., open])."),
    horizon: int = typer.Option(..., "--horizon", "-h", min=1, help="Periods to forecast."),
    freq: str = typer.Option("D", "--freq", help="D, W or M."),
    level: List[int] = typer.Option([80, 95], "--level", help="Interval level(s) in percent."),
    model: str = typer.Option("auto", "--model", help="auto, " + ", ".join(MODEL_NAMES) + "."),
    future: Optional[Path] = typer.Option(None, "--future", help="Regressor values (and open) over the horizon: unique_id, ds, one column per regressor."),
    holidays: Optional[str] = typer.Option(None, "--holidays", help="Public holidays as a regressor: a country code, optionally with a subdivision (DE, DE-BY)."),
    folds: int = typer.Option(3, "--folds", min=1, help="Backtest folds for selection and interval calibration."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="CSV to write (default: stdout)."),
    id_col: str = typer.Option("unique_id", "--id-col"),
    date_col: str = typer.Option("ds", "--date-col"),
    value_col: str = typer.Option("y", "--value-col"),
) -> None:
    """Forecast every series of a long-format file, with calibrated prediction intervals."""
    from forecaster.forecasting import forecast_frame
    from forecaster.regressors import load_inputs

    try:
        check_choice("--freq", freq, ["D", "W", "M"])
        check_choice("--model", model, ["auto", *MODEL_NAMES])
        bad = [lv for lv in level if not 0 < lv < 100]
        if bad:
            raise InputError(f"--level: {bad} must be between 0 and 100 (exclusive)")
        long, known = load_inputs(input, future, horizon, freq, id_col, date_col, value_col, holidays)
    except InputError as exc:
        raise fail(exc) from None
    report_partial(long)
    result = forecast_frame(long, horizon, freq=freq, levels=sorted(set(level)), model=model, folds=folds, future=known)
    for series_id, reason in result.failures.items():
        err.print(f"series {series_id} skipped: {reason}", highlight=False)
    for series_id, note in result.notes.items():
        err.print(f"series {series_id}: {note}", highlight=False)
    frame = result.forecasts.assign(ds=result.forecasts["ds"].dt.strftime("%Y-%m-%d"))
    write_csv(frame, output)
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
    """Simulate the scheduled engine once per period, list every notification it would have sent, and preview the alert rate."""
    from forecaster import settings
    from forecaster.data.series import read_long
    from forecaster.replay import alert_rate_preview, replay_series

    try:
        resolved = settings.load(config) if config else settings.Settings()
        if freq:
            check_choice("--freq", freq, ["D", "W", "M"])
            resolved = resolved.model_copy(update={"series": resolved.series.model_copy(update={"freq": freq})})
        long = read_long(input, id_col, date_col, value_col, resolved.series.freq)
        report_partial(long)
        first = parse_date("--start", start)
        last = parse_date("--end", end) if end else (long["ds"].max() + dt.timedelta(days=1)).date()
        if last < first:
            raise InputError(f"--end {last} is before --start {first}")
    except (ConfigError, InputError) as exc:
        raise fail(exc) from None
    with out.status("replaying…") if output else contextlib.nullcontext():
        notifications = replay_series(long, resolved, first, last)
    write_csv(notifications, output)
    if output:
        out.print(f"{len(notifications)} notifications written to {output}")
    preview = alert_rate_preview(notifications, sorted(long["unique_id"].unique()), first, last)
    _print_alert_rate(preview, out if output else err)


def _print_alert_rate(preview, console) -> None:
    """The alert-rate preview: the noisiest series, then alerts per series per month overall."""
    from rich.table import Table

    shown = preview.per_series.head(PREVIEW_ROWS)
    table = Table(title=f"alerts the policy would have sent over {preview.months:g} months")
    for column in shown.columns:
        table.add_column(column, justify="left" if column == "unique_id" else "right")
    for row in shown.itertuples(index=False):
        table.add_row(*(str(v) for v in row))
    console.print(table)
    hidden = len(preview.per_series) - len(shown)
    if hidden:
        console.print(f"... and {hidden} quieter series", highlight=False)
    console.print(f"overall: {preview.alerts_per_series_month:g} alerts (opened or escalated) per series per month", highlight=False)


@app.command()
def kpis(
    opportunities: Path = typer.Option(..., "--opportunities", help="CSV or Parquet of opportunities (deals)."),
    orders: Optional[Path] = typer.Option(
        None, "--orders", help="Orders file (order_id, ordered_at, amount[, status, customer_id]): adds orders and aov, and with customers churn, retention and LTV.",
    ),
    customer_col: str = typer.Option("customer_id", "--customer-col", help="The orders' customer column."),
    active_days: int = typer.Option(90, "--active-days", help="A customer is active with an order in this many trailing days."),
    spend: Optional[Path] = typer.Option(None, "--spend", help="Marketing spend table (ds, spend): adds spend, cac and ltv_cac."),
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
    from forecaster.revops import kpi_report, read_deals

    try:
        check_choice("--freq", freq, ["W", "M", "Q"])
        columns = OpportunityColumns(id_col, created_col, stage_col, amount_col, owner_col, close_col, product_col or None)
        deals = read_deals(opportunities, columns, Outcomes(tuple(won_stage), tuple(lost_stage)), products, join)
        report = kpi_report(
            deals, freq, by, window, quotas=quotas, orders=orders, order_columns=("order_id", "ordered_at", "amount", customer_col),
            spend=spend, active_days=active_days,
        )
    except InputError as exc:
        raise fail(exc) from None
    write_csv(report, output)
    if output:
        out.print(f"{len(report)} rows written to {output}")


