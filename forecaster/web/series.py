"""The series page: history, forecast vintages with their bands, incidents, the model and why, accuracy."""

from __future__ import annotations

import math

import pandas as pd
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from forecaster.web.charts import series_figure
from forecaster.web.common import Table, context, message, page, require_runs
from forecaster.web.series_data import series_data

router = APIRouter()

_ACCURACY_LABELS = {
    "issued_at": "vintage issued", "periods": "periods scored", "mase": "MASE", "bias_pct": "bias",
    "mape": "MAPE %", "coverage_80": "in 80% band", "coverage_95": "in 95% band",
}


@router.get("/series/{series_id:path}", dependencies=[Depends(require_runs)])
def series_page(request: Request, series_id: str, days: int = Query(120, ge=7, le=3660)) -> Response:
    """One series over the last ``days`` days of actuals."""
    settings, store = context(request)
    data = series_data(settings, store, series_id, days)
    if data is None:
        return message(request, 404, "No such series", f"The store has no series named {series_id!r}.")
    chart = data.actuals.merge(
        data.expected[["ds", "yhat", "lo80", "hi80"]], on="ds", how="left"
    ).drop(columns="unique_id").sort_values("ds", ascending=False)
    chart["ds"] = chart["ds"].dt.date
    latest = data.latest_vintage[["ds", "yhat", "lo80", "hi80", "lo95", "hi95"]].assign(ds=lambda f: f["ds"].dt.date)
    incidents = [
        {"id": i.id, "rule": i.rule, "status": i.status, "severity": i.severity, "opened": i.opened_period,
         "last_judged": i.last_period, "resolved": i.resolved_period, "feedback": i.feedback or ""}
        for i in data.incidents
    ]
    money = {c: "money" for c in ("y", "yhat", "lo80", "hi80", "lo95", "hi95")}
    tables = [
        Table("actuals", chart, labels={"ds": "period", "y": "actual", "yhat": "expected", "lo80": "80% low", "hi80": "80% high"}, formats=money),
        Table("latest_vintage", latest, labels={"ds": "period", "yhat": "forecast", "lo80": "80% low", "hi80": "80% high", "lo95": "95% low", "hi95": "95% high"}, formats=money),
        Table("accuracy", data.accuracy, labels=_ACCURACY_LABELS, formats={"mase": "ratio", "bias_pct": "pct", "mape": "number", "coverage_80": "share", "coverage_95": "share"}),
        Table("incidents", pd.DataFrame(incidents, columns=["id", "rule", "status", "severity", "opened", "last_judged", "resolved", "feedback"]), links={"id": "/incidents/"}),
    ]
    summary = _accuracy_summary(data.accuracy)
    return page(
        request, "series.html", title=series_id, series_id=series_id, days=days, tables=tables,
        figure=series_figure(data), choice=data.choice, summary=summary,
    )


def _accuracy_summary(accuracy) -> dict[str, float]:
    """Mean MASE, bias and coverage over the scored vintages (nan when none)."""
    if accuracy.empty:
        return {}
    means = accuracy[["mase", "bias_pct", "coverage_80", "coverage_95"]].astype(float).mean()
    return {k: float(v) for k, v in means.items() if not math.isnan(v)} | {"vintages": len(accuracy)}
