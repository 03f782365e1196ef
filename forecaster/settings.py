"""The typed schema of config/*.yaml, and loading it with ${ENV} interpolation and clear errors."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator

from alerts.channels import Channel, ConsoleChannel
from alerts.incidents import IncidentPolicy
from alerts.outbox import DeliveryPolicy
from alerts.calendar import Calendar
from alerts.rules import BandRule, PacingRule, Rule
from forecaster.data.kpi_series import SERIES_KPIS
from forecaster.data.opportunities import OpportunityColumns
from forecaster.errors import ConfigError

from forecaster.settings_sources import SAMPLE_DIR, FileSource, Frozen, OpportunitySource, Source, SqlSource, check_timezone

DEFAULT_CONFIG = SAMPLE_DIR / "salescast.yaml"


class SeriesSettings(Frozen):
    """How orders become series."""

    freq: Literal["D", "W", "M"] = "D"
    metric: Literal["revenue", "orders"] = "revenue"
    by: list[str] = Field(default_factory=list, description="Segment names (keys of source.columns.segments).")
    total: bool = Field(True, description="Also watch the total over all segments.")
    top: int | None = Field(None, ge=1, description="Watch only the N largest segments (by the metric over the last year).")
    min_history: int = Field(28, ge=2, description="Complete periods needed before a series is forecast.")


class KnownFuture(Frozen):
    """``forecast.known_future``: a CSV or Parquet file of inputs known in advance, per series and day.

    One row per series and day, over the history and at least the horizon ahead: promotions,
    holiday flags, prices, and the days a series is open. The global model (``model: gbm``) learns
    from them and forecasts with their values ahead.
    """

    path: Path
    series: str = Field("unique_id", description="Column holding the series id (a segment's value, or 'total').")
    date: str = Field("ds", description="Column holding the day.")
    columns: list[str] | None = Field(None, description="The numeric input columns to use; default: every other column.")
    open: str | None = Field(None, description="Column that is 0 on days the series is closed (neither demand nor a slowdown).")


class ForecastSettings(Frozen):
    """Which model, how far ahead, and how often to re-select it."""

    model: Literal["auto", "naive", "ets", "arima", "prophet", "tsb", "ensemble", "gbm"] = Field(
        "auto", description="auto: per series, the best of candidates in a backtest (tsb for intermittent series); gbm: one global model across every series; "
        "ensemble: the median of naive, ets and arima (as a candidate: of the best other candidates).",
    )
    candidates: list[Literal["naive", "ets", "arima", "prophet", "tsb", "ensemble"]] = ["naive", "ets"]
    horizon: int = Field(28, ge=1, description="Periods ahead each run forecasts (more than the monitor lead).")
    history: int = Field(730, ge=14, description="At most this many recent periods are fitted.")
    backtest_folds: int = Field(3, ge=1)
    reselect_every: int = Field(7, ge=1, description="Periods between model selections for model: auto.")
    holidays_country: str | None = Field(None, description="Country code of the public holidays Prophet and gbm learn from, e.g. GB.")
    known_future: KnownFuture | None = Field(None, description="Inputs known in advance (promotions, open days), for model: gbm.")

    @model_validator(mode="after")
    def _known_future_needs_gbm(self) -> "ForecastSettings":
        if self.known_future is not None and self.model != "gbm":
            raise ValueError(f"known_future is an input of the global model: set model: gbm (model is {self.model!r}), or remove known_future")
        return self


class MonitorSettings(Frozen):
    """How actuals are judged against forecasts and when incidents open."""

    completeness_delay_hours: float = Field(0.0, ge=0, description="Judge a period only this long after it ends.")
    rules: list[Rule] = Field(default_factory=lambda: [BandRule(kind="band"), PacingRule(kind="pacing")])
    incidents: IncidentPolicy = IncidentPolicy()
    calendar: Calendar = Field(Calendar(), description="Holidays, events and closed days that are not judged (docs/detection.md).")
    lookback: int = Field(60, ge=1, description="On a first run, judge at most this many past periods.")
    lead: int | None = Field(
        None, ge=1,
        description="Judge each period against the forecast issued at least this many periods before it "
        "(default 7 for daily series, 1 otherwise), so a model that adapts overnight cannot absorb a drop.",
    )

    calibration_days: int = Field(
        70, ge=0,
        description="Band from the series' own errors: each period's 80%/95% bounds are the conformal quantiles of "
        "actual/expected over the judged periods of this many days before it (0: the model's intervals).",
    )

    def lead_for(self, freq: str) -> int:
        """The lead in periods for series of ``freq``."""
        return self.lead if self.lead is not None else (7 if freq == "D" else 1)

    @model_validator(mode="after")
    def _unique_rule_names(self) -> "MonitorSettings":
        names = [r.rule_name for r in self.rules]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"rule names must be unique; repeated: {dupes} (set 'name' on each)")
        return self


class ParallelSettings(Frozen):
    """``parallel:``: where the per-series work of a run goes."""

    backend: Literal["local", "processes", "dask"] = Field("local", description="local: in-process; processes: all cores; dask: a Dask cluster.")
    workers: int | None = Field(
        None, ge=1, description="Processes (processes), local Dask workers, or the threads of model gbm's trees; default: the machine's cores.",
    )
    batch_size: int = Field(25, ge=1, description="Series per task sent to a worker.")
    scheduler: str | None = Field(None, description="Address of a running Dask scheduler (tcp://host:8786); default: a local cluster.")
    workers_read_store: bool | None = Field(
        None, description="Workers read their series' histories from the store.url themselves; default: yes for processes and a local "
        "cluster, no for a scheduler's workers, which may not reach the store (the engine sends them the histories).",
    )


class StoreSettings(Frozen):
    """The engine's own database."""

    url: str = "sqlite:///salescast.db"
    retention_days: int | None = Field(
        None, ge=30, description="After each scheduled run, delete forecasts for periods and sent deliveries older than this (default: keep all)."
    )


# --- The service (`salescast serve`): jobs and leadership ---


class JobSettings(Frozen):
    """One scheduled job: a cron expression in a time zone."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    cron: str = Field(description="'minute hour day month day-of-week', or six fields with seconds first.")
    timezone: str | None = Field(None, description="Time zone of the cron fields; default: the top-level timezone.")

    _tz = field_validator("timezone")(lambda cls, v: check_timezone(v))

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        from forecaster.service import cron_trigger

        cron_trigger(value, "UTC")
        return value


class ServiceSettings(Frozen):
    """How `salescast serve` shares work between processes and handles late runs."""

    lease_seconds: float = Field(15.0, gt=0, description="Leader lease; another process takes over this long after the leader dies.")
    misfire_grace_seconds: int = Field(3600, ge=1, description="A run may start at most this late (e.g. after a long previous run).")


# --- The review dashboard (`salescast web`) and its KPI page ---


class WebSettings(Frozen):
    """Where the dashboard listens, who may act on incidents, and the address alert links use."""

    host: str = Field("127.0.0.1", description="Address to listen on; 0.0.0.0 exposes the dashboard to the network.")
    port: int = Field(8050, ge=1, le=65535)
    token: SecretStr | None = Field(None, description="Operator token for acknowledge, snooze and feedback, e.g. ${SALESCAST_WEB_TOKEN}; without it the pages are read-only.")
    public_url: str | None = Field(None, pattern=r"^https?://", description="The dashboard's address as people reach it; alert messages link to its incident pages.")


class RevOpsSettings(Frozen):
    """The KPI page: an opportunities file and, optionally, orders and a quota per period."""

    opportunities: Path | None = Field(None, description="CSV or Parquet of opportunities (deals); or give a source.")
    source: OpportunitySource | None = Field(None, description="Where opportunities come from instead of a file: sql, hubspot or salesforce.")
    columns: OpportunityColumns = Field(OpportunityColumns(), description="Which column holds each opportunity field (files and sql).")
    won_stages: list[str] = ["Won", "Closed Won"]
    lost_stages: list[str] = ["Lost", "Closed Lost"]
    products: Path | None = Field(None, description="Products table (product, sales_price): list price of deals without an amount.")
    orders: Path | None = Field(
        None, description="Orders file (order_id, ordered_at, amount[, status, customer_id]): adds orders and average order value, "
        "and with customers churn, retention and lifetime value.",
    )
    spend: Path | None = Field(None, description="Marketing spend table (ds, spend), with orders naming customers: adds acquisition cost and LTV/CAC.")
    quota: float | None = Field(None, gt=0, description="Quota per period, in the currency of the amounts.")
    alert_below: float | None = Field(
        0.9, gt=0, description="With a quota, each run alerts when the period's revenue simulated from the pipeline (P50) "
        "is below this share of quota (None: no pacing alert).",
    )
    coverage_target: float = Field(3.0, gt=0, description="Pipeline coverage of the quota still to win that the pacing alert calls healthy.")
    freq: Literal["M", "Q"] = Field("Q", description="The period the page reports and forecasts: month or quarter.")
    window_days: int = Field(90, ge=1, description="Trailing days for the win rate, deal size and cycle of pipeline velocity.")
    watch: list[Literal[SERIES_KPIS]] = Field(  # type: ignore[valid-type]
        default_factory=list, description="KPIs forecast and judged like sales, as series 'kpi <name>' at series.freq: "
        + ", ".join(SERIES_KPIS) + ".",
    )

    @model_validator(mode="after")
    def _one_source(self) -> "RevOpsSettings":
        if (self.opportunities is None) == (self.source is None):
            raise ValueError("give exactly one of 'opportunities' (a file) or 'source'")
        return self


class Settings(Frozen):
    """The whole configuration of one salescast deployment."""

    timezone: str = "UTC"
    currency: str = ""
    store: StoreSettings = StoreSettings()
    parallel: ParallelSettings = ParallelSettings()
    source: Source | None = Field(None, description="Where orders come from; optional for replays of series files and for watching only the pipeline (revops:).")
    series: SeriesSettings = SeriesSettings()
    forecast: ForecastSettings = ForecastSettings()
    monitor: MonitorSettings = MonitorSettings()
    channels: list[Channel] = Field(default_factory=lambda: [ConsoleChannel(kind="console")])
    delivery: DeliveryPolicy = DeliveryPolicy()
    dashboard_url: str | None = Field(None, description="Older name of web.public_url, still read.")
    web: WebSettings = WebSettings()
    revops: RevOpsSettings | None = None
    jobs: list[JobSettings] = Field(default_factory=lambda: [JobSettings(name="daily", cron="0 6 * * *")])
    service: ServiceSettings = ServiceSettings()

    _tz = field_validator("timezone")(lambda cls, v: check_timezone(v))

    @field_validator("jobs")
    @classmethod
    def _unique_jobs(cls, jobs: list[JobSettings]) -> list[JobSettings]:
        names = [j.name for j in jobs]
        if len(set(names)) != len(names):
            raise ValueError("two jobs share a name; give each a distinct 'name'")
        return jobs

    @model_validator(mode="after")
    def _segments_known(self) -> "Settings":
        defined = self.source.segment_names if self.source else []
        unknown = [s for s in self.series.by if s not in defined]
        if self.source and unknown:
            where = "source.columns.segments" if isinstance(self.source, (FileSource, SqlSource)) else "source.segments"
            raise ValueError(f"series.by names {unknown}, which {where} does not define (it defines {sorted(defined) or 'none'})")
        lead = self.monitor.lead_for(self.series.freq)
        if self.forecast.horizon <= lead:
            raise ValueError(f"forecast.horizon ({self.forecast.horizon}) must exceed the monitor lead ({lead} periods), or nothing can be judged")
        labels = [c.label for c in self.channels]
        if len(set(labels)) != len(labels):
            raise ValueError("two channels share a name; give each a distinct 'name'")
        kept, calibrated = self.store.retention_days, self.monitor.calibration_days
        if kept is not None and kept < calibrated:
            raise ValueError(
                f"store.retention_days ({kept}) is shorter than monitor.calibration_days ({calibrated}): the bands would lose "
                f"the forecast errors they are calibrated on; keep at least {calibrated} days or shorten calibration_days"
            )
        return self

    @property
    def public_url(self) -> str | None:
        """The dashboard's public address (``web.public_url``, else the older ``dashboard_url``)."""
        return self.web.public_url or self.dashboard_url




_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _interpolate(node: Any, where: str, path: str) -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string of the parsed YAML."""
    if isinstance(node, dict):
        return {k: _interpolate(v, where, f"{path}.{k}" if path else str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, where, f"{path}[{i}]") for i, v in enumerate(node)]
    if not isinstance(node, str):
        return node

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise ConfigError(f"{where}: {path}: environment variable {name} is not set (export it, or write ${{{name}:-default}})")

    return _ENV.sub(substitute, node)


def _yaml_path(loc: tuple[Any, ...], data: Any) -> str:
    """A readable YAML path from a pydantic error location, skipping union tags."""
    parts: list[str] = []
    node = data
    for element in loc:
        if isinstance(node, list) and isinstance(element, int):
            parts.append(f"[{element}]")
            node = node[element] if element < len(node) else None
        elif isinstance(node, dict) and element in node:
            parts.append(f".{element}" if parts else str(element))
            node = node[element]
        elif isinstance(node, dict) and node.get("kind") == element:
            continue
        else:
            parts.append(f".{element}" if parts else str(element))
            node = None
    return "".join(parts) or "(top level)"


def parse(data: Any, where: str, base_dir: Path | None = None) -> Settings:
    """Validate parsed YAML; ``where`` names the file in errors, relative paths resolve from ``base_dir``."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: the file must hold a mapping of settings, got {type(data).__name__}")
    data = _interpolate(data, where, "")
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        lines = [f"{where}: {exc.error_count()} invalid setting(s):"]
        for error in exc.errors():
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown key (check its spelling and indentation)"
            lines.append(f"  {_yaml_path(error['loc'], data)}: {message}")
        raise ConfigError("\n".join(lines)) from None
    source = settings.source
    if base_dir is not None and isinstance(source, FileSource) and source.path and not source.path.is_absolute():
        settings = settings.model_copy(update={"source": source.model_copy(update={"path": base_dir / source.path})})
    known = settings.forecast.known_future
    if base_dir is not None and known is not None and not known.path.is_absolute():
        forecast = settings.forecast.model_copy(update={"known_future": known.model_copy(update={"path": base_dir / known.path})})
        settings = settings.model_copy(update={"forecast": forecast})
    revops = settings.revops
    if base_dir is not None and revops is not None:
        files = {k: base_dir / v for k in ("opportunities", "products", "orders", "spend") if (v := getattr(revops, k)) is not None and not v.is_absolute()}
        settings = settings.model_copy(update={"revops": revops.model_copy(update=files)})
    return settings


def load(path: Path | None = None) -> Settings:
    """Load and validate a config file; without a path, the embedded demo default."""
    path = path or DEFAULT_CONFIG
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{at}: {getattr(exc, 'problem', exc)}") from None
    return parse(data, str(path), path.parent)


def redacted(settings: Settings) -> dict[str, Any]:
    """The resolved settings as plain data, every secret replaced by '***'."""

    def scrub(node: Any) -> Any:
        if isinstance(node, SecretStr):
            return "***" if node.get_secret_value() else ""
        if isinstance(node, dict):
            return {k: hide_password(v) if k == "url" else scrub(v) for k, v in node.items()}
        if isinstance(node, list):
            return [scrub(v) for v in node]
        if isinstance(node, Path):
            return str(node)
        return node

    return scrub(settings.model_dump(mode="python", by_alias=True))


def hide_password(url: str) -> str:
    """A database URL with its password replaced by '***'."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "***"
