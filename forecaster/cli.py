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


def _report_partial(long) -> None:
    for series_id in long.attrs.get("partial_periods", []):
        err.print(f"series {series_id}: its last period is incomplete in the input and is left out", highlight=False)


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
