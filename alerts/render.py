"""One message, rendered per channel: plain text, Slack Block Kit, and email (subject, text, HTML).

Text and email come from Jinja2 templates in ``alerts/templates``; a user folder given as
``templates`` is searched first, so any of them can be overridden from config. Templates receive
``message`` and the figures already formatted (``actual``, ``expected``, ``range``, ``period``,
``deviation``, ``colour``), ``why`` (the lines of :func:`explanation`, maybe empty) and
``chart_cid``, the Content-ID of the inline chart (None without one).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from alerts.errors import DeliveryError
from alerts.message import Decomposition, Message

# Slack's documented limits (Block Kit, incoming webhooks and chat.postMessage).
MAX_BLOCKS = 50
MAX_HEADER_TEXT = 150
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_CONTEXT_ELEMENTS = 10
MAX_BUTTON_URL = 3000

ELLIPSIS = "…"

_COLOURS = {"critical": "#c62828", "warning": "#e65100", "info": "#1565c0"}
_RESOLVED_COLOUR = "#2e7d32"
_SLACK_MARKS = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "info": ":large_blue_circle:"}


class TemplateError(DeliveryError):
    """A message template is missing or broken: no message can be rendered until it is fixed."""

    def __init__(self, message: str):
        super().__init__(message, retryable=False)


@dataclass(frozen=True)
class EmailContent:
    """A rendered email: one subject, a plain-text body and an HTML body."""

    subject: str
    text: str
    html: str


def format_amount(value: float, currency: str = "") -> str:
    """``£41,200`` (no decimals from 100 up), ``£12.50`` below; ``n/a`` when not a number."""
    if not math.isfinite(value):
        return "n/a"
    sign = "-" if value < 0 else ""
    digits = f"{abs(value):,.0f}" if abs(value) >= 100 else f"{abs(value):,.2f}"
    return f"{sign}{currency}{digits}"


def format_period(start: dt.date, end: dt.date) -> str:
    """``Mon 5 Dec 2011`` for one day, ``5–11 Dec 2011`` (or wider forms) for a range."""
    if start == end:
        return f"{start:%a} {start.day} {start:%b %Y}"
    if (start.year, start.month) == (end.year, end.month):
        return f"{start.day}–{end.day} {end:%b %Y}"
    if start.year == end.year:
        return f"{start.day} {start:%b} – {end.day} {end:%b %Y}"
    return f"{start.day} {start:%b %Y} – {end.day} {end:%b %Y}"


def render_text(message: Message, templates: Path | None = None) -> str:
    """Plain text for consoles, logs and the text part of emails."""
    return _render("message.txt.j2", message, templates).strip()


def render_email(message: Message, templates: Path | None = None, chart_cid: str | None = None) -> EmailContent:
    """Subject, plain text and HTML (every user-provided string escaped) of an email.

    With ``chart_cid``, the HTML shows the inline image of that Content-ID (without angle brackets).
    """
    return EmailContent(
        subject=headline(message),
        text=render_text(message, templates),
        html=_render("email.html.j2", message, templates, chart_cid),
    )


def headline(message: Message) -> str:
    """The title on one line, tagged with the severity or event: ``[critical] <title>``, ``[resolved] <title>``."""
    tag = message.event if message.event in ("resolved", "test", "digest") else message.severity
    return " ".join(f"[{tag}] {message.title}".split())


def change_summary(decomposition: Decomposition) -> str | None:
    """``orders -20%, basket -4%``; None for a series of order counts."""
    if decomposition.orders_change is None or decomposition.basket_change is None:
        return None
    return f"orders {_percent(decomposition.orders_change)}, basket {_percent(decomposition.basket_change)}"


def explanation(message: Message) -> list[str]:
    """Why it moved, in plain lines: orders against basket size, then the segments that fell short most."""
    found = message.decomposition
    if found is None:
        return []
    lines = []
    summary = change_summary(found)
    if summary:
        lines.append(
            f"{summary[0].upper()}{summary[1:]}: {found.actual_orders:,} orders of an expected {found.expected_orders:,.0f}, "
            f"{format_amount(found.actual_aov, message.currency)} per order against a usual "
            f"{format_amount(found.reference_aov, message.currency)} ({found.reference})."
        )
    for dimension in dict.fromkeys(s.dimension for s in found.segments):
        parts = []
        for rank, segment in enumerate(s for s in found.segments if s.dimension == dimension):
            share = f"{segment.share:.0%} of the shortfall" if rank == 0 else f"{segment.share:.0%}"
            parts.append(f"{segment.value} {_quantity(segment.change, message)} ({share})")
        lines.append(f"Biggest shortfalls by {dimension}: {', '.join(parts)}.")
    return lines


def render_slack(message: Message) -> dict[str, Any]:
    """A Slack incoming-webhook payload: plain fallback ``text`` and Block Kit ``blocks``."""
    figures = _figures(message)
    fields = [
        (figures["actual_label"], figures["actual"]),
        (figures["expected_label"], figures["expected"]),
        ("Range", figures["range"] or "n/a"),
        ("Period", figures["period"]),
        ("Deviation", figures["deviation"]),
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(message.title, MAX_HEADER_TEXT)}},
    ]
    if message.event == "test":
        blocks.append(_section("This is a *test message* from salescast: no action is needed."))
    if message.event != "digest":
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": _clip_mrkdwn(f"*{label}*\n{value}", MAX_FIELD_TEXT)}
                    for label, value in fields
                ],
            }
        )
    if message.facts:
        blocks.append(_section(_clip_mrkdwn("\n".join(f"• {fact}" for fact in message.facts))))
    why = explanation(message)
    if why:
        blocks.append(_section("*Why*\n" + _clip_mrkdwn("\n".join(f"• {line}" for line in why), MAX_SECTION_TEXT - 8)))
    status = message.event if message.event in ("resolved", "digest") else message.severity
    mark = ":white_check_mark:" if message.event == "resolved" else _SLACK_MARKS[message.severity]
    context = [f"{mark} {status}", f"rule {message.rule}", f"series {message.series_id}"]
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": _clip_mrkdwn(item)} for item in context],
        }
    )
    if message.link and len(message.link) <= MAX_BUTTON_URL:
        button = {"type": "button", "text": {"type": "plain_text", "text": "Open in salescast"}, "url": message.link}
        blocks.append({"type": "actions", "elements": [button]})
    fallback = headline(message)
    if message.event != "digest":
        fallback += f": {message.labels[0]} {figures['actual']} vs {message.labels[1]} {figures['expected']}"
    summary = change_summary(message.decomposition) if message.decomposition else None
    if summary:
        fallback += f" ({summary})"
    return {"text": _clip_mrkdwn(fallback), "blocks": blocks}


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(ELLIPSIS)] + ELLIPSIS


def _clip_mrkdwn(text: str, limit: int = MAX_SECTION_TEXT) -> str:
    """Escape, then shorten to ``limit`` without cutting an ``&amp;``-style entity in half."""
    escaped = escape_mrkdwn(text)
    if len(escaped) <= limit:
        return escaped
    cut = escaped[: limit - len(ELLIPSIS)]
    amp = cut.rfind("&", len(cut) - 4)
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + ELLIPSIS


def _percent(fraction: float) -> str:
    return f"{100 * fraction:+.0f}%".replace("-0%", "+0%")


def _quantity(change: float, message: Message) -> str:
    """A segment's change in the series' unit: ``-£4,100`` or ``-41 orders``."""
    if message.metric == "orders":
        return f"{change:+,.0f} orders"
    return ("+" if change > 0 else "") + format_amount(change, message.currency)


def _figures(message: Message) -> dict[str, str | None]:
    bounded = math.isfinite(message.lower) and math.isfinite(message.upper)
    resolved = message.event == "resolved"
    return {
        "actual": format_amount(message.actual, message.currency),
        "expected": format_amount(message.expected, message.currency),
        "range": (
            f"{format_amount(message.lower, message.currency)}–{format_amount(message.upper, message.currency)}"
            if bounded
            else None
        ),
        "period": format_period(message.period_start, message.period_end),
        "deviation": f"{message.deviation_pct:+.1f}%",
        "actual_label": message.labels[0].capitalize(),
        "expected_label": message.labels[1].capitalize(),
        "colour": _RESOLVED_COLOUR if resolved else _COLOURS[message.severity],
    }


def _render(name: str, message: Message, templates: Path | None, chart_cid: str | None = None) -> str:
    try:
        template = _environment(templates).get_template(name)
        return template.render(message=message, chart_cid=chart_cid, why=explanation(message), **_figures(message))
    except jinja2.TemplateError as exc:
        where = f" (templates {templates})" if templates else ""
        raise TemplateError(f"template {name}{where} cannot be rendered: {exc}") from exc


@functools.lru_cache(maxsize=8)
def _environment(templates: Path | None) -> jinja2.Environment:
    builtin = jinja2.PackageLoader("alerts", "templates")
    loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(templates), builtin]) if templates else builtin
    return jinja2.Environment(
        loader=loader,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2"), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
