"""What every command shares: the app, the consoles, and parsing and printing helpers."""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Optional

import typer
from rich.console import Console
from rich.table import Table

from forecaster.errors import InputError

if TYPE_CHECKING:
    from forecaster.settings import Settings
    from forecaster.store import Store

app = typer.Typer(help="salescast: forecast sales, watch actuals, alert when sales slow down.", no_args_is_help=True, add_completion=False)
out = Console()
err = Console(stderr=True, soft_wrap=True)

ConfigOption = typer.Option(None, "--config", "-c", help="Config file (default: the embedded demo config).", exists=False)


def fail(exc: Exception, code: int = 2) -> typer.Exit:
    """Print ``exc`` as one line on stderr; the Exit to raise with ``code``."""
    err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
    return typer.Exit(code)


def parse_as_of(value: Optional[str], timezone: str) -> Optional[dt.datetime]:
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


def report_partial(long) -> None:
    """Name the series whose incomplete last period ``read_long`` left out."""
    for series_id in long.attrs.get("partial_periods", []):
        err.print(f"series {series_id}: its last period is incomplete in the input and is left out", highlight=False)


def check_choice(option: str, value: str, choices: list[str]) -> None:
    """InputError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise InputError(f"{option}: {value!r} is not one of {', '.join(choices)}")


def parse_date(option: str, value: str) -> dt.date:
    """An ISO date given to ``option``, or InputError."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{option}: {value!r} is not a date (use YYYY-MM-DD)") from None


def write_csv(frame, output: Optional[Path]) -> None:
    """Write ``frame`` to ``output``, or to stdout without one."""
    if output is None:
        frame.to_csv(sys.stdout, index=False)
    else:
        frame.to_csv(output, index=False)



@contextlib.contextmanager
def opened_store(config: Optional[Path]) -> Iterator[tuple["Settings", "Store"]]:
    """The config and its store, for a command's duration; a bad config exits with code 2, an unusable database with 1."""
    from forecaster import settings
    from forecaster.errors import ConfigError, StoreError
    from forecaster.store import Store

    try:
        resolved = settings.load(config)
        store = Store(resolved.store.url).create()
    except ConfigError as exc:
        raise fail(exc) from None
    except StoreError as exc:
        raise fail(exc, 1) from None
    try:
        yield resolved, store
    finally:
        store.close()


@contextlib.contextmanager
def series_progress() -> Iterator[Callable[[int, int], None]]:
    """A progress bar on standard error for the forecast phase (series done, series/s, time left); a callback."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
    from rich.text import Text

    class Speed(ProgressColumn):
        def render(self, task) -> Text:
            return Text(f"{task.speed:.1f} series/s" if task.speed else "")

    with Progress(TextColumn("forecasting"), BarColumn(), MofNCompleteColumn(), Speed(), TimeRemainingColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("forecast", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)
