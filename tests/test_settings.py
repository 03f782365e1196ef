"""Config loading: validation errors name the file and YAML path; secrets come from the environment."""

import textwrap

import pytest

from forecaster import settings
from forecaster.errors import ConfigError

MINIMAL = """
source:
  kind: csv
  path: orders.csv
  columns: {order_id: id, ordered_at: ts, amount: total}
"""


def write(tmp_path, text, name="salescast.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_embedded_default_is_valid():
    config = settings.load()
    assert config.source.location.is_file()
    assert config.series.by == ["country"]


def test_relative_paths_resolve_from_the_config_file(tmp_path):
    config = settings.load(write(tmp_path, MINIMAL))
    assert config.source.path == tmp_path / "orders.csv"


def test_known_future_resolves_from_the_config_file_and_needs_the_global_model(tmp_path):
    config = settings.load(write(tmp_path, MINIMAL + "forecast:\n  model: gbm\n  known_future: {path: calendar.csv, open: Open}\n"))
    assert config.forecast.known_future.path == tmp_path / "calendar.csv"
    assert config.forecast.known_future.open == "Open"
    path = write(tmp_path, MINIMAL + "forecast:\n  model: ets\n  known_future: {path: calendar.csv}\n")
    with pytest.raises(ConfigError, match=r"forecast: known_future is an input of the global model: set model: gbm \(model is 'ets'\)"):
        settings.load(path)


def test_unknown_key_names_file_and_path(tmp_path):
    path = write(tmp_path, MINIMAL + "monitor:\n  rules:\n    - kind: band\n      nn: 3\n")
    with pytest.raises(ConfigError) as error:
        settings.load(path)
    assert str(path) in str(error.value)
    assert "monitor.rules[0].nn: unknown key" in str(error.value)


def test_invalid_value_says_what_would_be_valid(tmp_path):
    path = write(tmp_path, MINIMAL + "series:\n  freq: Q\n")
    with pytest.raises(ConfigError, match=r"series\.freq: Input should be 'D', 'W' or 'M'"):
        settings.load(path)


def test_bad_channel_kind_lists_the_valid_ones(tmp_path):
    path = write(tmp_path, MINIMAL + "channels:\n  - kind: pager\n")
    with pytest.raises(ConfigError, match=r"channels\[0\].*'console', 'directory', 'slack', 'email'"):
        settings.load(path)


def test_retention_shorter_than_the_calibration_window_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"store.retention_days \(40\) is shorter than monitor.calibration_days \(70\)"):
        settings.load(write(tmp_path, MINIMAL + "store: {retention_days: 40}\n"))
    shorter = settings.load(write(tmp_path, MINIMAL + "store: {retention_days: 40}\nmonitor: {calibration_days: 35}\n"))
    assert shorter.store.retention_days == 40


def test_env_interpolation_and_redaction(tmp_path, monkeypatch):
    monkeypatch.setenv("HOOK", "https://hooks.example.test/services/T000/B000/XXXX")
    monkeypatch.setenv("DB_PASSWORD", "s3cret")
    path = write(
        tmp_path,
        """
        store: {url: "postgresql+psycopg://app:${DB_PASSWORD}@db.internal/salescast"}
        source:
          kind: csv
          path: orders.csv
          columns: {order_id: id, ordered_at: ts, amount: total}
        channels:
          - kind: slack
            webhook_url: ${HOOK}
        """,
    )
    config = settings.load(path)
    assert config.channels[0].webhook_url.get_secret_value().endswith("XXXX")
    shown = str(settings.redacted(config))
    assert "s3cret" not in shown and "XXXX" not in shown
    assert "app:***@db.internal" in shown


def test_missing_env_var_is_named(tmp_path):
    path = write(tmp_path, MINIMAL + "channels:\n  - kind: slack\n    webhook_url: ${NOT_SET_ANYWHERE}\n")
    with pytest.raises(ConfigError, match=r"channels\[0\]\.webhook_url: environment variable NOT_SET_ANYWHERE is not set"):
        settings.load(path)


def test_env_default_is_used(tmp_path, monkeypatch):
    monkeypatch.delenv("ZONE", raising=False)
    config = settings.load(write(tmp_path, MINIMAL + "timezone: ${ZONE:-Europe/Berlin}\n"))
    assert config.timezone == "Europe/Berlin"


def test_yaml_syntax_error_gives_the_line(tmp_path):
    path = write(tmp_path, "source:\n  kind: csv\n   path: x\n")
    with pytest.raises(ConfigError, match=r"not valid YAML at line 3"):
        settings.load(path)


def test_unknown_timezone_and_segment(tmp_path):
    with pytest.raises(ConfigError, match="unknown time zone 'Mars/Olympus'"):
        settings.load(write(tmp_path, MINIMAL + "timezone: Mars/Olympus\n"))
    with pytest.raises(ConfigError, match=r"series.by names \['country'\]"):
        settings.load(write(tmp_path, MINIMAL + "series: {by: [country]}\n"))


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the config file"):
        settings.load(tmp_path / "absent.yaml")


@pytest.mark.parametrize("example", sorted((settings.Path(__file__).parents[1] / "config" / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_config_examples_are_valid(example, monkeypatch):
    for name in ("SALESCAST_DB_PASSWORD", "SHOP_DB_PASSWORD", "SMTP_PASSWORD", "SLACK_BOT_TOKEN", "SALESCAST_WEBHOOK_SECRET",
                 "WC_CONSUMER_KEY", "WC_CONSUMER_SECRET", "WC_DB_PASSWORD", "SHOPIFY_ACCESS_TOKEN", "SALESCAST_WEB_TOKEN"):
        monkeypatch.setenv(name, "secret")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.test/services/T/B/X")
    assert settings.load(example).channels
