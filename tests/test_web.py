"""The dashboard end to end: a real uvicorn server on 127.0.0.1 over a store filled by the demo engine,
driven by Debian's headless Chromium through Playwright."""

from __future__ import annotations

import datetime as dt
import io
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pandas as pd
import pytest
import uvicorn

from alerts.incidents import Incident
from forecaster import settings as config
from forecaster.demo import DEMO_START, run_demo
from forecaster.store import Store
from forecaster.web import create_app, series_data
from conftest import DATA

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
TOKEN = "operator-token-for-tests"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync"]
HOSTILE = '<img src=x onerror="window.pwned=1">/Köln & "Co"'
DEMO_DAYS = 15  # runs from 24 Oct: the first incidents open from 2 Nov


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory) -> str:
    """The demo engine run once per day over the first two weeks of the demo: its store URL."""
    folder = tmp_path_factory.mktemp("demo")
    run_demo(folder, DEMO_START, DEMO_START + dt.timedelta(days=DEMO_DAYS - 1))
    return f"sqlite:///{folder / 'salescast.db'}"


def _settings(url: str, token: str | None = TOKEN, **update) -> config.Settings:
    base = config.load()
    web = base.web.model_copy(update={"token": config.SecretStr(token) if token else None})
    return base.model_copy(update={"store": base.store.model_copy(update={"url": url}), "web": web, **update})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _serving(settings: config.Settings):
    """The dashboard of ``settings`` served by uvicorn on a free port of 127.0.0.1; yields its base URL and store."""
    store = Store(settings.store.url).create()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, store), host="127.0.0.1", port=_free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started, "the dashboard server did not start"
    try:
        yield f"http://127.0.0.1:{server.config.port}", store
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()


@pytest.fixture(scope="module")
def dashboard(demo_store):
    with _serving(_settings(demo_store)) as served:
        yield served


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"headless Chromium is needed at {CHROMIUM}: run `apt-get install -y chromium`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield context.new_page()
    context.close()


def _watched(store: Store) -> list[str]:
    """The series the last run issued a forecast for."""
    return sorted(store.forecasts.issued(store.runs.latest()["as_of"]))


def test_overview_lists_every_series_the_demo_forecast_and_sorts_and_searches(dashboard, page):
    base, store = dashboard
    watched = _watched(store)
    assert len(watched) == 5 and "total" in watched
    response = page.goto(base + "/")
    assert response.status == 200
    names = page.locator("table.data[data-name=series] tbody tr td:first-child").all_inner_texts()
    assert sorted(names) == watched

    page.get_by_role("columnheader", name="actual").click()
    actuals = page.locator("table.data[data-name=series] tbody tr td:nth-child(3)").all_inner_texts()
    numbers = [float(a.replace("£", "").replace(",", "")) for a in actuals]
    assert numbers == sorted(numbers)

    page.get_by_placeholder("Search…").fill("germ")
    visible = page.locator("table.data[data-name=series] tbody tr:visible td:first-child").all_inner_texts()
    assert visible == ["Germany"]


def test_the_overview_reads_series_in_blocks_and_agrees_with_the_series_page(demo_store, monkeypatch):
    settings = _settings(demo_store)
    store = Store(demo_store)
    try:
        together = series_data.overview(settings, store)
        monkeypatch.setattr(series_data, "SERIES_PER_READ", 2)
        in_blocks = series_data.overview(settings, store)
        germany = series_data.series_data(settings, store, "Germany").expected.set_index("ds")
        watched = _watched(store)
    finally:
        store.close()
    pd.testing.assert_frame_equal(together, in_blocks)
    assert list(together["series"]) == watched and together["period"].notna().all()
    row = together.set_index("series").loc["Germany"]
    assert row["expected"] == pytest.approx(germany.loc[pd.Timestamp(row["period"]), "yhat"])


def test_series_page_draws_the_forecast_chart(dashboard, page):
    base, store = dashboard
    page.goto(f"{base}/series/Germany")
    page.wait_for_selector("#chart-series .main-svg")
    traces = page.locator("#chart-series g.trace.scatter").count()
    assert traces >= 6, "actuals, expected with its band, the latest vintage with two bands"
    legend = page.locator("#chart-series .legendtext").all_text_contents()
    assert "actual" in legend and any(t.startswith("latest vintage (") for t in legend)
    model = store.forecasts.choice("Germany")[0]
    assert page.locator(".card", has_text="Model").locator(".big").inner_text() == model
    assert page.locator("table.data[data-name=accuracy] tbody tr").count() > 0
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "web-series-Germany.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshot of the series page: {shot}")
    assert shot.stat().st_size > 20_000


def test_feedback_with_the_token_is_stored_and_shown(dashboard, page):
    base, store = dashboard
    incident = store.incidents.list("open")[0]
    page.goto(f"{base}/incidents/{quote(incident.id, safe='')}")
    form = page.locator("#feedback-form")
    form.get_by_label("Token").fill(TOKEN)
    form.get_by_label("Your name").fill("Dana <RevOps>")
    form.get_by_role("button", name="false alarm").click()
    page.wait_for_url("**?done=labelled")
    assert page.locator("#feedback").inner_text() == "false alarm"
    assert page.get_by_role("status").inner_text() == "Feedback recorded."
    assert store.incidents.get(incident.id).feedback == "false_alarm"
    [action] = [a for a in store.incidents.actions(incident.id) if a.action == "feedback"]
    assert (action.value, action.actor) == ("false_alarm", "Dana <RevOps>")
    assert "Dana <RevOps>" in page.locator("table.data[data-name=actions]").inner_text()

    export = page.request.get(f"{base}/incidents/{quote(incident.id, safe='')}?format=csv&table=actions")
    assert pd.read_csv(io.StringIO(export.text()))[["action", "value", "actor"]].values.tolist() == [["feedback", "false_alarm", "Dana <RevOps>"]]


def test_the_same_click_without_the_token_is_refused(dashboard, page):
    base, store = dashboard
    incident = store.incidents.list("open")[-1]
    before = store.incidents.get(incident.id)
    page.goto(f"{base}/incidents/{quote(incident.id, safe='')}")
    with page.expect_navigation() as navigation:
        page.locator("#feedback-form").get_by_role("button", name="real").click()
    assert navigation.value.status == 403
    assert "needs the operator token" in page.get_by_role("alert").inner_text()
    page.goto(f"{base}/incidents/{quote(incident.id, safe='')}")
    page.locator("#feedback-form").get_by_label("Token").fill(TOKEN + "x")
    with page.expect_navigation() as navigation:
        page.locator("#feedback-form").get_by_role("button", name="real").click()
    assert navigation.value.status == 403
    assert store.incidents.get(incident.id) == before
    assert not [a for a in store.incidents.actions(incident.id) if a.value == "real"]


def test_acknowledge_and_snooze_with_the_token_header(dashboard, page):
    base, store = dashboard
    incident = store.incidents.list("open")[0]
    path = f"{base}/incidents/{quote(incident.id, safe='')}"
    acked = page.request.post(path + "/ack", headers={"X-Salescast-Token": TOKEN}, form={"actor": "ops"}, max_redirects=0)
    assert acked.status == 303 and acked.headers["location"].endswith("?done=acknowledged")
    snoozed = page.request.post(path + "/snooze", headers={"X-Salescast-Token": TOKEN}, form={"hours": "48"}, max_redirects=0)
    assert snoozed.status == 303
    stored = store.incidents.get(incident.id)
    assert stored.acknowledged_at is not None
    assert dt.timedelta(hours=47) < stored.snoozed_until - stored.acknowledged_at < dt.timedelta(hours=49)
    assert [(a.action, a.actor) for a in store.incidents.actions(incident.id) if a.action != "feedback"] == [("ack", "ops"), ("snooze", "dashboard")]
    page.goto(path)
    assert page.locator("#snoozed-until").inner_text() == f"{stored.snoozed_until:%Y-%m-%d %H:%M} UTC"
    refused = page.request.post(path + "/snooze", headers={"X-Salescast-Token": TOKEN}, form={"hours": "5"}, max_redirects=0)
    assert refused.status == 400 and "hours must be one of" in refused.text()
    unknown = page.request.post(f"{base}/incidents/nothing%7Cband%7C2011-01-01/ack", headers={"X-Salescast-Token": TOKEN}, max_redirects=0)
    assert unknown.status == 404


def test_without_a_configured_token_pages_are_read_only(demo_store, page):
    with _serving(_settings(demo_store, token=None)) as (base, store):
        incident = store.incidents.list()[-1]
        actions = store.incidents.actions(incident.id)
        page.goto(f"{base}/incidents/{quote(incident.id, safe='')}")
        assert page.locator("form").count() == 0
        assert "Read-only" in page.locator("main").inner_text()
        refused = page.request.post(f"{base}/incidents/{quote(incident.id, safe='')}/ack", form={"token": TOKEN})
        assert refused.status == 403 and "no operator token" in refused.text()
        assert store.incidents.get(incident.id) == incident
        assert store.incidents.actions(incident.id) == actions


def test_csv_export_of_the_overview_matches_the_store(dashboard, page):
    base, store = dashboard
    response = page.request.get(f"{base}/?format=csv")
    assert response.status == 200 and response.headers["content-type"].startswith("text/csv")
    frame = pd.read_csv(io.StringIO(response.text()))
    assert sorted(frame["series"]) == _watched(store)
    germany = frame.set_index("series").loc["Germany"]
    points = store.orders.points(series=["Germany"]).set_index("ds")["y"]
    assert germany["actual"] == pytest.approx(points[pd.Timestamp(germany["period"])])
    assert page.request.get(f"{base}/?format=csv&table=nothing").status == 404


def test_hostile_series_names_are_shown_as_text(tmp_path, page):
    url = f"sqlite:///{tmp_path / 'hostile.db'}"
    store = Store(url).create()
    days = pd.date_range("2024-01-01", periods=40, freq="D")
    store.orders.replace_points(pd.DataFrame({"unique_id": HOSTILE, "ds": days, "y": 100.0}))
    issued = dt.datetime(2024, 2, 1, tzinfo=dt.timezone.utc)
    future = pd.date_range("2024-01-20", periods=28, freq="D")
    store.forecasts.add_vintage(HOSTILE, issued - dt.timedelta(days=13), pd.DataFrame(
        {"ds": future, "model": "naive", "yhat": 90.0, "yhat_lo_80": 80.0, "yhat_hi_80": 110.0, "yhat_lo_95": 70.0, "yhat_hi_95": 120.0}))
    period = dt.date(2024, 2, 5)
    store.incidents.save(Incident(id=f"{HOSTILE}|band|{period}", series_id=HOSTILE, rule="band", status="open", opened_period=period,
                                  last_period=period, severity="warning", notified_score=0.2, baseline_from=period))
    store.runs.finish(store.runs.start("run", issued, issued), "succeeded", {}, issued)
    store.close()
    with _serving(_settings(url)) as (base, _):
        for path in ("/", "/incidents", f"/series/{quote(HOSTILE, safe='')}", f"/incidents/{quote(HOSTILE + '|band|2024-02-05', safe='')}"):
            assert page.goto(base + path).status == 200, path
            page.wait_for_load_state("load")
            assert page.evaluate("window.pwned") is None, path
            assert page.locator("img").count() == 0, path
            assert page.get_by_text(HOSTILE).first.is_visible(), path
        page.goto(base + "/")
        page.get_by_role("link", name=HOSTILE).click()
        assert page.locator("h1").inner_text() == HOSTILE


def test_an_empty_store_says_how_to_fill_it(tmp_path, page):
    with _serving(_settings(f"sqlite:///{tmp_path / 'empty.db'}")) as (base, _):
        for path in ("/", "/incidents", "/series/total"):
            assert page.goto(base + path).status == 200
            assert page.locator("#empty").inner_text().startswith("no runs yet: run salescast run")


def test_kpi_page_shows_the_pipeline_forecast_or_how_to_configure_it(demo_store, page):
    crm = DATA / "crm_pipeline"
    revops = config.RevOpsSettings(opportunities=crm / "sales_pipeline.csv", products=crm / "products.csv", quota=3_000_000)
    from forecaster.revops import load_opportunities, pipeline_outlook
    from forecaster.web.kpis import kpi_table

    deals = load_opportunities(revops)
    outlook = pipeline_outlook(deals, revops, dt.date.today())
    current = kpi_table(deals, revops).set_index("ds").loc[outlook.period.start_time.strftime("%Y-%m-%d")]
    with _serving(_settings(demo_store, revops=revops)) as (base, _):
        assert page.goto(base + "/kpis").status == 200
        assert page.locator("#kpi-win-rate .big").inner_text() == f"{100 * current['win_rate']:.0f}%"
        assert f"P50 £{outlook.p50:,.0f}" in page.locator("#pipeline-forecast").inner_text()
        assert "on pace for" in page.locator("#pipeline-forecast").inner_text()
        assert page.locator("#interval-note").inner_text() == outlook.interval_note()  # 2017Q4: two quarters to learn from, too few
        assert "simulation alone (fewer than 3 past quarters" in outlook.interval_note()
    with _serving(_settings(demo_store)) as (base, _):
        page.goto(base + "/kpis")
        assert "revops:" in page.locator("pre").inner_text()
    missing = revops.model_copy(update={"opportunities": crm / "no_such_file.csv"})
    with _serving(_settings(demo_store, revops=missing)) as (base, _):
        assert page.goto(base + "/kpis").status == 422
        assert "no_such_file.csv: file not found" in page.get_by_role("alert").inner_text()
