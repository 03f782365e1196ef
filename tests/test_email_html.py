"""The alert email as a reader sees it: its HTML, with the inline chart, rendered by headless Chromium."""

import dataclasses
import datetime as dt
import subprocess
from pathlib import Path

import numpy as np
import pytest

from alerts.chart import BAND
from alerts.compose import sample_message
from alerts.notifiers.email import EmailNotifier

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
WIDTH, HEIGHT = 600, 1000
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
    "--no-first-run", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
]


def _pixels_near(image: np.ndarray, colour: str, tolerance: float = 0.02) -> int:
    rgb = np.array([int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return int((np.abs(image[..., :3] - rgb).max(axis=-1) < tolerance).sum())


def test_email_html_with_its_inline_chart_renders_in_chromium(tmp_path):
    if not CHROMIUM.exists():
        pytest.fail(f"headless Chromium is needed at {CHROMIUM}: run `apt-get install -y chromium`")
    import matplotlib.image

    sample = sample_message(dt.datetime(2011, 12, 12, 8, tzinfo=dt.timezone.utc), "£")
    message = dataclasses.replace(sample, key="total|band|2011-12-05:opened", event="opened", series_id="total", rule="band", link="https://salescast.example/incidents/1")
    mail = EmailNotifier("127.0.0.1", 25, security="none", sender="a@shop.test", recipients=["b@shop.test"]).build(message)
    parts = {part.get_content_type(): part for part in mail.walk()}
    cid = parts["image/png"]["Content-ID"].strip("<>")
    html = parts["text/html"].get_content()
    assert f"cid:{cid}" in html
    (tmp_path / "chart.png").write_bytes(parts["image/png"].get_content())
    page = tmp_path / "email.html"
    page.write_text(html.replace(f"cid:{cid}", "chart.png"), encoding="utf-8")  # what a mail client resolves

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "email.png"
    shot.unlink(missing_ok=True)
    browser = [str(CHROMIUM), *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={WIDTH},{HEIGHT}"]
    subprocess.run([*browser, f"--screenshot={shot}", page.as_uri()], check=True, capture_output=True, timeout=120)
    dom = subprocess.run([*browser, "--dump-dom", page.as_uri()], check=True, capture_output=True, text=True, timeout=120).stdout

    assert message.title in dom and "£4,900" in dom and "chart.png" in dom
    assert "Orders -22%, basket -10%" in dom and "United Kingdom -£1,302 (62% of the shortfall)" in dom
    image = matplotlib.image.imread(shot)
    assert image.shape[:2] == (HEIGHT, WIDTH)
    assert _pixels_near(image, BAND) > 2000, "the chart's forecast band is visible in the rendered email"
    assert _pixels_near(image, "#e65100") > 500, "the warning colour bar and button are drawn"
