"""Plotly figure specifications (plain dicts, drawn by plotly.js in the browser).

Each page also renders the same numbers as a table, so a chart without JavaScript is never lost.
"""

from __future__ import annotations

import pandas as pd

from alerts.message import Point
from forecaster.web.series_data import SeriesData

_ACTUAL = "#1f2937"
_EXPECTED = "#2563eb"
_LATEST = "#7c3aed"
_INCIDENT = "rgba(220, 38, 38, 0.12)"
_EARLIER_VINTAGES = 4


def _days(values) -> list[str]:
    return [pd.Timestamp(v).strftime("%Y-%m-%d") for v in values]


def _band(x: list[str], lo, hi, color: str, name: str, group: str) -> list[dict]:
    """A shaded band between ``lo`` and ``hi`` (two traces: the lower edge, then the upper filled to it)."""
    return [
        {"type": "scatter", "mode": "lines", "x": x, "y": list(lo), "line": {"width": 0}, "hoverinfo": "skip", "showlegend": False, "legendgroup": group},
        {"type": "scatter", "mode": "lines", "x": x, "y": list(hi), "line": {"width": 0}, "fill": "tonexty", "fillcolor": color, "name": name, "legendgroup": group},
    ]


def series_figure(data: SeriesData) -> dict:
    """Actuals, the forecast each period was held against (80% band), the latest vintage (80/95% bands),
    a few earlier vintages as thin lines, and incidents shaded on the timeline."""
    traces: list[dict] = []
    expected = data.expected[data.expected["ds"].isin(data.actuals["ds"])]
    if not expected.empty:
        x = _days(expected["ds"])
        traces += _band(x, expected["lo80"], expected["hi80"], "rgba(37, 99, 235, 0.15)", "expected, 80% band", "expected")
        traces.append({"type": "scatter", "mode": "lines", "x": x, "y": list(expected["yhat"]), "name": "expected (issued before)", "line": {"color": _EXPECTED, "dash": "dot"}, "legendgroup": "expected"})
    latest = data.latest_vintage
    if not latest.empty:
        x = _days(latest["ds"])
        issued = latest["issued_at"].iloc[0].strftime("%Y-%m-%d %H:%M UTC")
        traces += _band(x, latest["lo95"], latest["hi95"], "rgba(124, 58, 237, 0.10)", "latest vintage, 95% band", "latest95")
        traces += _band(x, latest["lo80"], latest["hi80"], "rgba(124, 58, 237, 0.20)", "latest vintage, 80% band", "latest80")
        traces.append({"type": "scatter", "mode": "lines", "x": x, "y": list(latest["yhat"]), "name": f"latest vintage ({issued})", "line": {"color": _LATEST}})
    issued_times = sorted(data.vintages["issued_at"].unique()) if not data.vintages.empty else []
    for issued_at in issued_times[-1 - 7 * _EARLIER_VINTAGES : -1 : 7]:
        vintage = data.vintages[data.vintages["issued_at"] == issued_at]
        traces.append({
            "type": "scatter", "mode": "lines", "x": _days(vintage["ds"]), "y": list(vintage["yhat"]), "visible": "legendonly",
            "name": f"vintage {pd.Timestamp(issued_at).strftime('%Y-%m-%d')}", "line": {"width": 1, "dash": "dash"},
        })
    traces.append({"type": "scatter", "mode": "lines+markers", "x": _days(data.actuals["ds"]), "y": list(data.actuals["y"]), "name": "actual", "line": {"color": _ACTUAL}, "marker": {"size": 4}})
    shapes = [
        {"type": "rect", "xref": "x", "yref": "paper", "x0": str(i.opened_period), "x1": str(i.resolved_period or i.last_period), "y0": 0, "y1": 1,
         "fillcolor": _INCIDENT, "line": {"width": 0}, "layer": "below"}
        for i in data.incidents
    ]
    return {"data": traces, "layout": _layout(shapes)}


def message_figure(history: tuple[Point, ...]) -> dict:
    """The periods an alert message showed: actual against expected with its band."""
    x = [p.ds.isoformat() for p in history]
    traces = _band(x, [p.lower for p in history], [p.upper for p in history], "rgba(37, 99, 235, 0.15)", "expected band", "band")
    traces.append({"type": "scatter", "mode": "lines", "x": x, "y": [p.expected for p in history], "name": "expected", "line": {"color": _EXPECTED, "dash": "dot"}})
    traces.append({"type": "scatter", "mode": "lines+markers", "x": x, "y": [p.actual for p in history], "name": "actual", "line": {"color": _ACTUAL}})
    return {"data": traces, "layout": _layout([])}


def _layout(shapes: list[dict]) -> dict:
    """Shared layout; no titles: names from the data (series, rules) stay in the escaped HTML around the chart."""
    return {
        "shapes": shapes,
        "margin": {"l": 60, "r": 20, "t": 20, "b": 40},
        "hovermode": "x unified",
        "legend": {"orientation": "h", "y": -0.15},
        "xaxis": {"type": "date"},
        "height": 440,
    }
