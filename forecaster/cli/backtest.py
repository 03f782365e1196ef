"""`salescast backtest`: rolling-origin accuracy of every candidate model, per series and overall."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from forecaster.cli.common import app, check_choice, err, fail, report_partial, write_csv
from forecaster.errors import InputError
from forecaster.models import MODELS

LEVELS = (80, 95)


@app.command()
def backtest(
    input: Path = typer.Option(..., "--input", "-i", help="CSV or Parquet in long format (unique_id, ds, y[, regressors..., open])."),
    horizon: int = typer.Option(..., "--horizon", "-h", min=1, help="Periods each fold forecasts."),
    folds: int = typer.Option(3, "--folds", min=2, help="Rolling origins (the first one only calibrates intervals)."),
    freq: str = typer.Option("D", "--freq", help="D, W or M."),
    model: List[str] = typer.Option([], "--model", help="Candidate to evaluate (repeatable; default: every model)."),
    holidays: Optional[str] = typer.Option(None, "--holidays", help="Public holidays as a regressor: country code, optionally with subdivision (DE-BY)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="CSV of per-series scores (default: stdout)."),
    id_col: str = typer.Option("unique_id", "--id-col"),
    date_col: str = typer.Option("ds", "--date-col"),
    value_col: str = typer.Option("y", "--value-col"),
) -> None:
    """MASE, RMSSE, RMSPE, sMAPE, bias, interval coverage and width of every candidate, per series and overall.

    Regressor columns of the input are used as known at each origin (their recorded values).
    Intervals of fold k are calibrated on folds 1..k-1, so coverage is measured on unseen data.
    """
    import pandas as pd

    from forecaster.backtesting import candidate_rows, score, with_intervals
    from forecaster.forecasting import regularize
    from forecaster.data.series import read_long
    from forecaster.regressors import add_holidays, attach_regressors

    candidates = model or sorted(MODELS)
    try:
        check_choice("--freq", freq, ["D", "W", "M"])
        for name in candidates:
            check_choice("--model", name, sorted(MODELS))
        long = attach_regressors(read_long(input, id_col, date_col, value_col, freq), input, id_col, date_col, value_col, freq)
        if holidays:
            country, _, subdivision = holidays.partition("-")
            long = add_holidays(long, country, subdivision or None)
    except InputError as exc:
        raise fail(exc) from None
    report_partial(long)
    long, failures = regularize(long, freq)
    rows, more, _ = candidate_rows(long, freq, candidates, horizon, folds, {})
    failures.update(more)
    for series_id, reason in failures.items():
        err.print(f"series {series_id} skipped: {reason}", highlight=False)
    if rows.empty:
        raise fail(InputError(f"{input}: no series is long enough for {folds} folds of {horizon} periods"), 1)
    scores = score(with_intervals(rows, LEVELS), long, freq, LEVELS)
    overall = scores.drop(columns="unique_id").groupby("model").agg(
        {"periods": "sum", **{c: "mean" for c in scores.columns if c not in ("unique_id", "model", "periods")}}
    ).reset_index().assign(unique_id="overall")
    report = pd.concat([scores, overall], ignore_index=True)
    write_csv(report.round(4), output)
    if output:
        err.print(f"{len(scores)} series x model rows written to {output}")
    err.print(overall.drop(columns="unique_id").round(3).to_string(index=False), highlight=False)
    raise typer.Exit(1 if failures else 0)
