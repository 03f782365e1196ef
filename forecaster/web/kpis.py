"""The RevOps KPI page: win rate, deal size, sales cycle, pipeline velocity, coverage against quota,
and the current period's revenue forecast from the pipeline (P10/P50/P90), from the `revops:` opportunities."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from fastapi import APIRouter, Request
from fastapi.responses import Response

from forecaster.errors import InputError
from forecaster.revops import kpi_report, load_opportunities, pipeline_outlook
from forecaster.settings import RevOpsSettings
from forecaster.web.common import Table, context, page

router = APIRouter()

_FORMATS = {
    "revenue": "money", "win_rate": "share", "avg_deal_size": "money", "sales_cycle_days": "number", "pipeline_value": "money",
    "pipeline_velocity": "money", "revenue_growth": "share", "quota": "money", "attainment": "share", "coverage": "ratio", "aov": "money",
    "churn_rate": "share", "retention_rate": "share", "revenue_per_customer": "money", "ltv": "money", "spend": "money", "cac": "money",
    "ltv_cac": "ratio",
}


def kpi_table(deals: pd.DataFrame, revops: RevOpsSettings) -> pd.DataFrame:
    """The KPI report per period, with quota, attainment and coverage when a quota per period is set.

    Coverage is the pipeline value at the period's start (the previous period's end) over its quota.
    """
    report = kpi_report(deals, revops.freq, None, revops.window_days, orders=revops.orders, spend=revops.spend).drop(columns="segment")
    if revops.quota is not None:
        report["quota"] = revops.quota
        report["attainment"] = report["revenue"] / revops.quota
        report["coverage"] = report["pipeline_value"].shift(1) / revops.quota
    return report


@router.get("/kpis")
def kpis_page(request: Request) -> Response:
    """KPI cards for the current period, the per-period table, and the pipeline forecast; or how to configure it."""
    settings, _ = context(request)
    revops = settings.revops
    if revops is None:
        return page(request, "kpis.html", title="KPIs", configured=False)
    try:
        deals = load_opportunities(revops)
        table = kpi_table(deals, revops)
        outlook = pipeline_outlook(deals, revops, dt.datetime.now(dt.timezone.utc).date())
    except InputError as exc:
        return page(request, "kpis.html", title="KPIs", configured=True, problem=str(exc), status_code=422)
    current = table[table["ds"] == outlook.period.start_time.strftime("%Y-%m-%d")]
    pacing = outlook.pacing(revops.quota) if revops.quota else None
    return page(
        request, "kpis.html", title="KPIs", configured=True, tables=[Table("kpis", table.iloc[::-1], formats=_FORMATS)],
        current=current.iloc[0].to_dict() if len(current) else {}, outlook=outlook, pacing=pacing, quota=revops.quota,
    )
