"""The message's chart: recent actuals against the forecast band, the shortfall shaded (PNG).

Drawn at 600 x 300 CSS pixels, twice that in device pixels, so it stays sharp at phone width.
matplotlib is imported on first use, with the Agg backend (no display needed).
"""

from __future__ import annotations

import io
import math

from alerts.errors import DeliveryError
from alerts.message import Message

WIDTH_PX, HEIGHT_PX, SCALE = 600, 300, 2
TICKS = 5
BAND = "#bbdefb"
EXPECTED = "#1565c0"
ACTUAL = "#212121"
SHORTFALL = "#e53935"


def render_chart(message: Message) -> bytes | None:
    """The PNG of ``message.history``; None when the message has fewer than two periods of history."""
    points = message.history
    if len(points) < 2:
        return None
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.dates import DateFormatter
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    dpi = 100 * SCALE
    figure = Figure(figsize=(WIDTH_PX / 100, HEIGHT_PX / 100), dpi=dpi)
    axes = figure.add_subplot()
    days = [p.ds for p in points]
    actual = [p.actual for p in points]
    expected = [p.expected for p in points]
    banded = all(math.isfinite(p.lower) and math.isfinite(p.upper) for p in points)
    if banded:
        axes.fill_between(days, [p.lower for p in points], [p.upper for p in points], color=BAND, linewidth=0, label="expected range")
    axes.fill_between(days, actual, expected, where=[a < e for a, e in zip(actual, expected)], interpolate=True, color=SHORTFALL, alpha=0.35, linewidth=0, label="shortfall")
    axes.plot(days, expected, color=EXPECTED, linestyle="--", linewidth=1.2, label="forecast")
    axes.plot(days, actual, color=ACTUAL, linewidth=1.8, marker="o", markersize=2.5, label="actual")
    axes.axvspan(message.period_start, message.period_end, color="#fff3e0", zorder=0)
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: _short(value, message.currency)))
    axes.set_ylim(bottom=0)
    axes.tick_params(labelsize=9)
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis="y", color="#eeeeee")
    axes.set_xticks(days[:: max(1, len(days) // TICKS)])
    axes.xaxis.set_major_formatter(DateFormatter("%d %b"))
    axes.legend(loc="lower left", bbox_to_anchor=(0, 1), fontsize=8.5, ncols=4, frameon=False)
    figure.tight_layout(pad=0.6)
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=dpi)
    except (ValueError, OverflowError) as exc:
        raise DeliveryError(f"chart of {message.key}: cannot be drawn: {exc}", retryable=False) from exc
    return buffer.getvalue()


def _short(value: float, currency: str) -> str:
    """``£41k``-style tick labels."""
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{currency}{value / size:,.3g}{suffix}"
    return f"{currency}{value:,.0f}"
