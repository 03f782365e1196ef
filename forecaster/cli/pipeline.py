"""`salescast pipeline`: what moved in the pipeline between two of the stored daily snapshots, or each stage's deals, conversion and time."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Optional

import pandas as pd
import typer
from rich.table import Table

from forecaster.cli.common import ConfigOption, app, err, fail, opened_store, out, parse_date
from forecaster.errors import InputError

SHOWN = 20  # changes printed without --output, the largest first


@app.command()
def pipeline(
    since: Optional[str] = typer.Option(None, "--since", help="Compare from the snapshot of this day (or the last before it); default: a week before --until."),
    until: Optional[str] = typer.Option(None, "--until", help="Compare to the snapshot of this day (or the last before it); default: the latest."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="CSV of every changed deal, or of the stages (default: printed)."),
    stages: bool = typer.Option(False, "--stages", help="Instead: deals, conversion and days in each stage over every snapshot."),
    config: Optional[Path] = ConfigOption,
) -> None:
    """New deals, stage moves, slipped close dates, amount changes, wins and losses between two snapshots."""
    from forecaster.pipeline_changes import movement, pipeline_changes

    with opened_store(config) as (settings, store):
        if stages:
            history = store.pipeline.history()
        else:
            try:
                first, last = _days(store.pipeline.days(), since, until)
            except InputError as exc:
                raise fail(exc) from None
            before, after = store.pipeline.on(first), store.pipeline.on(last)
    deals = _current_deals(settings)
    if stages:
        _report_stages(history, deals, settings.currency, output)
        return
    changes = pipeline_changes(before, after, deals)
    moved = movement(before, after, changes, first, last, settings.revops.freq if settings.revops else "Q")
    _print_movement(moved, settings.currency)
    if output is not None:
        changes.to_csv(output, index=False)
        out.print(f"{len(changes)} changed deals written to {output}")
    else:
        _print_largest(changes, settings.currency)


def _current_deals(settings):
    """The opportunities as the source shows them now, to tell won and lost deals; None when unreadable."""
    from forecaster.revops import load_opportunities

    if settings.revops is None:
        return None
    try:
        return load_opportunities(settings.revops)
    except InputError as exc:
        err.print(f"[yellow]warning:[/] cannot tell won and lost deals apart: {exc}")
        return None


def _report_stages(history: pd.DataFrame, deals, currency: str, output: Optional[Path]) -> None:
    from forecaster.pipeline_stages import stage_kpis

    if history.empty:
        raise fail(InputError("no pipeline snapshot stored yet: configure revops: and let salescast run"))
    table = stage_kpis(history, deals)
    if output is not None:
        table.to_csv(output, index=False)
        out.print(f"{len(table)} stages written to {output}")
        return
    days = history["snapshot_date"]
    shown = Table(title=f"stages over {days.nunique()} snapshots, {days.min():%Y-%m-%d} to {days.max():%Y-%m-%d}")
    for column in ("stage", "open now", "open value", "deals seen", "won / decided", "conversion", "days in stage"):
        shown.add_column(column, overflow="fold")
    for row in table.itertuples():
        shown.add_row(
            row.stage, f"{row.open_now:,}", f"{currency}{row.open_value:,.0f}", f"{row.deals_seen:,}", f"{row.won:,} / {row.decided:,}",
            f"{row.conversion:.0%}" if pd.notna(row.conversion) else "", f"{row.days_in_stage:.1f} ({row.spells_timed:,})" if row.spells_timed else "",
        )
    out.print(shown)


def _days(days: list[dt.date], since: Optional[str], until: Optional[str]) -> tuple[dt.date, dt.date]:
    """The snapshot days to compare: the last on or before each asked day."""
    if len(days) < 2:
        raise InputError(f"{len(days)} pipeline snapshot(s) stored; comparing needs two: configure revops: and let salescast run on two days")
    last_asked = parse_date("--until", until) if until else days[-1]
    first_asked = parse_date("--since", since) if since else last_asked - dt.timedelta(days=7)
    at_or_before = lambda day: max((d for d in days if d <= day), default=None)  # noqa: E731
    first, last = at_or_before(first_asked), at_or_before(last_asked)
    if last is None or first is None or first >= last:
        raise InputError(f"no two snapshots between {first_asked} and {last_asked}; the stored ones run from {days[0]} to {days[-1]}")
    return first, last


def _print_movement(moved, currency: str) -> None:
    money = lambda count_value: f"{count_value[0]:,} ({currency}{count_value[1]:,.0f})"  # noqa: E731
    out.print(f"[bold]Pipeline from {moved.since} to {moved.until}[/]: open deals {money(moved.open_before)} -> {money(moved.open_after)}")
    for kind, count_value in moved.by_kind.items():
        if count_value[0]:
            out.print(f"  {kind}: {money(count_value)}")
    if moved.slipped_out[0]:
        out.print(f"  slipped out of {moved.period}: {money(moved.slipped_out)}")


def _print_largest(changes: pd.DataFrame, currency: str) -> None:
    if changes.empty:
        return
    largest = changes.assign(size=changes["amount_after"].fillna(changes["amount_before"]).fillna(0)).nlargest(SHOWN, "size")
    table = Table(title=f"largest changes ({len(largest)} of {len(changes)})")
    for column in ("deal", "owner", "change", "stage", "amount", "expected close"):
        table.add_column(column, overflow="fold")
    for row in largest.itertuples():
        table.add_row(
            row.opportunity_id, row.owner, row.change, _pair(row.stage_before, row.stage_after),
            _pair(*(f"{currency}{a:,.0f}" if pd.notna(a) else None for a in (row.amount_before, row.amount_after))),
            _pair(*(f"{d:%Y-%m-%d}" if pd.notna(d) else None for d in (row.expected_close_before, row.expected_close_after))),
        )
    out.print(table)


def _pair(before, after) -> str:
    """``before -> after`` when they differ, else the one value."""
    before, after = (None if pd.isna(v) else str(v) for v in (before, after))
    if before == after:
        return before or ""
    return f"{before or '-'} -> {after or '-'}"
