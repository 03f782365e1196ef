"""Dashboard page load times on the demo database, measured in headless Chromium.

Runs the whole demo (the bundled sample replayed day by day) into a fresh SQLite store, serves
the dashboard with uvicorn on 127.0.0.1 and loads each page several times in Debian's Chromium
through Playwright; a page's time is navigation start to the load event (charts drawn). The
KPI page reads the real CRM pipeline (``../shared/data/crm_pipeline``) with a quota of 3,000,000.

    python3 benchmarks/web_pages.py [--loads 5]

prints one row per page (median and slowest load in ms, size of the HTML sent).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

import uvicorn
from playwright.sync_api import sync_playwright

from forecaster import settings as config
from forecaster.demo import run_demo
from forecaster.store import Store
from forecaster.web import create_app

CRM = Path(__file__).resolve().parents[2] / "shared" / "data" / "crm_pipeline"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pages(store: Store) -> dict[str, str]:
    incident = store.incidents.list()[0]
    series = incident.series_id
    return {
        "overview": "/",
        "series total": "/series/total",
        f"series {series}": f"/series/{quote(series, safe='')}",
        "incidents": "/incidents",
        "incident": f"/incidents/{quote(incident.id, safe='')}",
        "KPIs": "/kpis",
        "overview CSV": "/?format=csv",
    }


def measure(loads: int) -> list[tuple[str, float, float, int]]:
    """(page, median ms, slowest ms, bytes) for every page of the demo's dashboard."""
    folder = Path(tempfile.mkdtemp(prefix="salescast-web-"))
    with contextlib.redirect_stdout(io.StringIO()):  # the demo's console channel
        run_demo(folder)
    base = config.load()
    revops = config.RevOpsSettings(opportunities=CRM / "sales_pipeline.csv", products=CRM / "products.csv", quota=3_000_000)
    settings = base.model_copy(update={"store": base.store.model_copy(update={"url": f"sqlite:///{folder / 'salescast.db'}"}), "revops": revops})
    store = Store(settings.store.url).create()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, store), host="127.0.0.1", port=_free_port(), log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    root = f"http://127.0.0.1:{server.config.port}"
    rows = []
    try:
        with sync_playwright() as p:
            page = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS).new_page()
            for name, path in _pages(store).items():
                if path.endswith("format=csv"):
                    timings, size = _csv_timings(page, root + path, loads)
                else:
                    page.goto(root + path)  # warm: the first request of a page pays for imports
                    timings = []
                    for _ in range(loads):
                        response = page.goto(root + path)
                        assert response.status == 200, f"{path}: HTTP {response.status}"
                        timings.append(page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd"))
                    size = len(response.body())
                rows.append((name, statistics.median(timings), max(timings), size))
    finally:
        server.should_exit = True
        store.close()
    return rows


def _csv_timings(page, url: str, loads: int) -> tuple[list[float], int]:
    timings, size = [], 0
    for _ in range(loads + 1):
        started = time.perf_counter()
        response = page.request.get(url)
        body = response.body()
        timings.append((time.perf_counter() - started) * 1000)
        size = len(body)
    return timings[1:], size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=5, help="loads per page after one warm-up load")
    args = parser.parse_args()
    rows = measure(args.loads)
    print(f"| page | median ms | slowest ms | HTML KiB |  ({args.loads} loads each, demo database)")
    print("|---|---:|---:|---:|")
    for name, median, slowest, size in rows:
        print(f"| {name} | {median:.0f} | {slowest:.0f} | {size / 1024:.0f} |")


if __name__ == "__main__":
    main()
