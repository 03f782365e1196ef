"""The soak benchmark's per-cycle measurements, on a few real resampled stores."""

from __future__ import annotations

import sys
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from soak import soak  # noqa: E402


def test_each_cycle_reports_what_the_store_holds_and_where_memory_is():
    tracemalloc.start()
    try:
        table = soak(n=5, cycles=2, history_days=60)
    finally:
        tracemalloc.stop()
    assert list(table["forecasts"]) == [5, 5]
    assert list(table["forecast_rows"]) == [5 * 14, 2 * 5 * 14]  # one 14-day vintage per series and run
    assert (table["open_incidents"] >= 0).all() and (table["py_objects"] > 0).all()
    assert (table["heap_used_mib"] > 0).all() and (table["heap_free_mib"] >= 0).all()
    assert (table["peak_rss_mib"] >= table["rss_mib"]).all() and (table["anon_mib"] < table["rss_mib"]).all()
    assert (table["traced_mib"] > 0).all()  # reported while tracemalloc traces
