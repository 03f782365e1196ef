"""What every page shares: templates and their filters, tables with CSV export, the empty-store check, the token."""

from __future__ import annotations

import datetime as dt
import hmac
import math
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pandas as pd
from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from forecaster.settings import Settings
from forecaster.store import Store

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TOKEN_HEADER = "X-Salescast-Token"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class Table:
    """A table shown on a page and exported as CSV (``?format=csv&table=<name>``).

    ``formats`` maps a column to how it is shown (money, number, pct, share, ratio; times show in UTC);
    ``links`` maps a column to the path its values link to (``/series/`` + the URL-encoded value).
    """

    name: str
    frame: pd.DataFrame
    labels: dict[str, str] = field(default_factory=dict)
    formats: dict[str, str] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    searchable: bool = False

    @property
    def columns(self) -> list[str]:
        return list(self.frame.columns)

    def records(self) -> list[dict]:
        return self.frame.to_dict("records")


class NoRuns(Exception):
    """The store holds no run yet: pages show how to make one."""


def context(request: Request) -> tuple[Settings, Store]:
    """The app's settings and store."""
    return request.app.state.settings, request.app.state.store


def require_runs(request: Request) -> None:
    """Dependency of every data page: raise :class:`NoRuns` on an empty store."""
    if request.app.state.store.runs.latest() is None:
        raise NoRuns()


def page(request: Request, template: str, status_code: int = 200, **values) -> Response:
    """A rendered page, or the CSV of one of its tables when the query asks for ``format=csv``."""
    tables: list[Table] = values.get("tables", [])
    if request.query_params.get("format") == "csv":
        wanted = request.query_params.get("table") or (tables[0].name if tables else "")
        chosen = next((t for t in tables if t.name == wanted), None)
        if chosen is None:
            names = ", ".join(t.name for t in tables) or "none"
            return message(request, 404, "No such table", f"This page has no table {wanted!r}; its tables: {names}.")
        return csv_response(chosen)
    settings, _ = context(request)
    values.setdefault("title", "")
    return TEMPLATES.TemplateResponse(
        request, template, {"can_act": actions_enabled(settings), "currency": settings.currency, **values}, status_code=status_code
    )


def message(request: Request, status_code: int, heading: str, text: str) -> HTMLResponse:
    """A page that only says something (errors, refusals)."""
    return TEMPLATES.TemplateResponse(request, "message.html", {"title": heading, "heading": heading, "text": text, "can_act": False}, status_code=status_code)


def csv_response(table: Table) -> Response:
    """A table as a CSV download; text cells that a spreadsheet would run as a formula are quoted with '."""
    frame = table.frame.copy()
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].map(lambda v: f"'{v}" if isinstance(v, str) and v.startswith(_FORMULA_START) else v)
    return Response(
        frame.to_csv(index=False),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{table.name}.csv"'},
    )


def actions_enabled(settings: Settings) -> bool:
    """Whether an operator token is configured (an empty one, from an unset ``${VAR:-}``, is none)."""
    return settings.web.token is not None and bool(settings.web.token.get_secret_value())


def token_problem(settings: Settings, supplied: str | None) -> str | None:
    """Why an action is refused (no token configured, none given, a wrong one), or None when allowed."""
    expected = settings.web.token
    if not actions_enabled(settings):
        return "Actions are disabled: this dashboard has no operator token (set web.token in the config)."
    if not supplied:
        return "This action needs the operator token."
    if not hmac.compare_digest(supplied.encode(), expected.get_secret_value().encode()):
        return "The operator token is wrong."
    return None


# --- template filters ---


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT


def show(value, kind: str = "", currency: str = "") -> str:
    """A cell as text: numbers with separators, percentages, times in UTC; '–' for missing."""
    if _missing(value):
        return "–"
    if kind == "money":
        return f"{currency}{value:,.0f}"
    if kind == "number":
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if kind == "pct":
        return f"{value:+.1f}%"
    if kind == "share":
        return f"{100 * value:.0f}%"
    if kind == "ratio":
        return f"{value:.2f}"
    if isinstance(value, (dt.datetime, pd.Timestamp)):
        stamp = pd.Timestamp(value)
        stamp = stamp.tz_convert("UTC") if stamp.tzinfo else stamp
        return stamp.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def sort_key(value) -> str:
    """The value a table column sorts by (numbers as numbers, everything else as text)."""
    if _missing(value):
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(float(value))
    return str(value)


def urlpart(value) -> str:
    """A value as one URL path segment ('/', '|' and every other reserved character encoded)."""
    return quote(str(value), safe="")


TEMPLATES.env.filters.update(show=show, sort_key=sort_key, urlpart=urlpart)
