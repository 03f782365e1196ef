"""The overview: every forecast series, its latest actual against what was expected, and its incidents."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from forecaster.web.common import Table, context, page, require_runs
from forecaster.web.series_data import overview

router = APIRouter()


@router.get("/", dependencies=[Depends(require_runs)])
def overview_page(request: Request) -> Response:
    """All series, sortable and searchable; each links to its page."""
    settings, store = context(request)
    frame = overview(settings, store)
    table = Table(
        "series",
        frame,
        labels={
            "series": "series", "period": "latest period", "actual": "actual", "expected": "expected",
            "deviation_pct": "deviation", "lo80": "80% low", "hi80": "80% high", "inside_80": "inside 80%",
            "open_incidents": "open incidents", "feedback": "feedback", "model": "model", "last_forecast_issued": "last forecast issued",
        },
        formats={"actual": "money", "expected": "money", "lo80": "money", "hi80": "money", "deviation_pct": "pct"},
        links={"series": "/series/"},
        searchable=True,
    )
    last_run = store.runs.latest()
    return page(request, "overview.html", title="Overview", tables=[table], last_run=last_run)
