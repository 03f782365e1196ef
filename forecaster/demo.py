"""The demo: the bundled Online Retail sample replayed day by day through the real engine."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from alerts.channels import DirectoryChannel
from forecaster import settings as config
from forecaster.engine import Engine, RunSummary
from forecaster.replay import SimulatedClock, run_times
from forecaster.store import Store

DEMO_START = dt.date(2011, 10, 24)  # forecasts from here are first judged on Mon 31 Oct
DEMO_END = dt.date(2011, 12, 9)  # the data ends at noon on 9 Dec: the last full day is the 8th


@dataclass
class DemoResult:
    """Totals over the demo's runs."""

    folder: Path
    runs: list[RunSummary] = field(default_factory=list)

    def total(self, attribute: str) -> int:
        return sum(getattr(r, attribute) for r in self.runs)

    def events(self, kind: str) -> int:
        return sum(r.count(kind) for r in self.runs)


def run_demo(folder: Path, start: dt.date = DEMO_START, end: dt.date = DEMO_END, on_run: Callable[[RunSummary], None] | None = None) -> DemoResult:
    """Load the sample into a fresh SQLite store under ``folder`` and run the job once per day."""
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "salescast.db"
    for stale in folder.glob("salescast.db*"):
        stale.unlink()
    base = config.load()
    settings = base.model_copy(
        update={
            "store": base.store.model_copy(update={"url": f"sqlite:///{database}"}),
            "channels": [c if not isinstance(c, DirectoryChannel) else c.model_copy(update={"path": folder / "outbox"}) for c in base.channels],
        }
    )
    times = run_times(start, end, "D", settings.timezone)
    clock = SimulatedClock(times[0])
    store = Store(settings.store.url).create()
    result = DemoResult(folder)
    try:
        engine = Engine(settings, store, clock=clock)
        for moment in times:
            clock.now = moment
            summary = engine.run(moment, job="demo")
            result.runs.append(summary)
            if on_run:
                on_run(summary)
    finally:
        store.close()
    return result
