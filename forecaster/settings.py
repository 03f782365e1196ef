"""The typed schema of config/*.yaml, and loading it with ${ENV} interpolation and clear errors."""

from __future__ import annotations

import os
import re
import zoneinfo
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from alerts.channels import Channel, ConsoleChannel
from alerts.incidents import IncidentPolicy
from alerts.outbox import DeliveryPolicy
from alerts.rules import BandRule, PacingRule, Rule
from forecaster.errors import ConfigError

SAMPLE_DIR = Path(__file__).parent / "sample"
DEFAULT_CONFIG = SAMPLE_DIR / "salescast.yaml"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OrderColumns(_Frozen):
    """Which source column holds each order field."""

    order_id: str
    ordered_at: str
    amount: str
    status: str | None = None
    updated_at: str | None = Field(None, description="Last-modified column; enables incremental sync from SQL.")
    segments: dict[str, str] = Field(default_factory=dict, description="Segment name -> column, e.g. country: Country.")


class StatusPolicy(_Frozen):
    """Which order statuses count as sales and which as refunds (negative amounts); others are ignored."""

    sale: list[str] = ["completed", "processing"]
    refund: list[str] = ["refunded"]

    @model_validator(mode="after")
    def _disjoint(self) -> "StatusPolicy":
        both = set(self.sale) & set(self.refund)
        if both:
            raise ValueError(f"statuses {sorted(both)} are listed both as sale and as refund")
        return self


class _OrdersSource(_Frozen):
    name: str = "orders"
    columns: OrderColumns
    statuses: StatusPolicy = StatusPolicy()
    timezone: str | None = Field(None, description="Time zone of timestamps without one; default: the top-level timezone.")

    _tz = field_validator("timezone")(lambda cls, v: _check_timezone(v))


class FileSource(_OrdersSource):
    """Orders from a CSV or Parquet file (read whole at each sync; changed orders are updated)."""

    kind: Literal["csv", "parquet"]
    path: Path | None = None
    sample: str | None = Field(None, description="Name of a data file bundled with salescast, instead of path.")

    @model_validator(mode="after")
    def _one_location(self) -> "FileSource":
        if (self.path is None) == (self.sample is None):
            raise ValueError("give exactly one of 'path' or 'sample'")
        if self.sample is not None and not (SAMPLE_DIR / self.sample).is_file():
            raise ValueError(f"no bundled sample named {self.sample!r}")
        return self

    @property
    def location(self) -> Path:
        """The file to read."""
        return SAMPLE_DIR / self.sample if self.sample else self.path  # type: ignore[return-value]


class SqlSource(_OrdersSource):
    """Orders from a table or query in any database SQLAlchemy can reach."""

    kind: Literal["sql"]
    url: str = Field(description="SQLAlchemy URL; put the password in ${ENV}, it is never printed.")
    table: str | None = None
    query: str | None = None

    @model_validator(mode="after")
    def _table_or_query(self) -> "SqlSource":
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of 'table' or 'query'")
        return self


Source = Annotated[Union[FileSource, SqlSource], Field(discriminator="kind")]


class SeriesSettings(_Frozen):
    """How orders become series."""

    freq: Literal["D", "W", "M"] = "D"
    metric: Literal["revenue", "orders"] = "revenue"
    by: list[str] = Field(default_factory=list, description="Segment names (keys of source.columns.segments).")
    total: bool = Field(True, description="Also watch the total over all segments.")
    top: int | None = Field(None, ge=1, description="Watch only the N largest segments (by the metric over the last year).")
    min_history: int = Field(28, ge=2, description="Complete periods needed before a series is forecast.")


class ForecastSettings(_Frozen):
    """Which model, how far ahead, and how often to re-select it."""

    model: Literal["auto", "naive", "ets", "prophet"] = "auto"
    candidates: list[Literal["naive", "ets", "prophet"]] = ["naive", "ets"]
    horizon: int = Field(28, ge=1, description="Periods ahead each run forecasts (more than the monitor lead).")
    history: int = Field(730, ge=14, description="At most this many recent periods are fitted.")
    backtest_folds: int = Field(3, ge=1)
    reselect_every: int = Field(7, ge=1, description="Periods between model selections for model: auto.")
    holidays_country: str | None = Field(None, description="Country code for Prophet's public holidays, e.g. GB.")


class MonitorSettings(_Frozen):
    """How actuals are judged against forecasts and when incidents open."""

    completeness_delay_hours: float = Field(0.0, ge=0, description="Judge a period only this long after it ends.")
    rules: list[Rule] = Field(default_factory=lambda: [BandRule(kind="band"), PacingRule(kind="pacing")])
    incidents: IncidentPolicy = IncidentPolicy()
    lookback: int = Field(60, ge=1, description="On a first run, judge at most this many past periods.")
    lead: int | None = Field(
        None, ge=1,
        description="Judge each period against the forecast issued at least this many periods before it "
        "(default 7 for daily series, 1 otherwise), so a model that adapts overnight cannot absorb a drop.",
    )

    def lead_for(self, freq: str) -> int:
        """The lead in periods for series of ``freq``."""
        return self.lead if self.lead is not None else (7 if freq == "D" else 1)

    @model_validator(mode="after")
    def _unique_rule_names(self) -> "MonitorSettings":
        names = [r.rule_name if isinstance(r, PacingRule) else r.name for r in self.rules]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"rule names must be unique; repeated: {dupes} (set 'name' on each)")
        return self


class StoreSettings(_Frozen):
    """The engine's own database."""

    url: str = "sqlite:///salescast.db"


class Settings(_Frozen):
    """The whole configuration of one salescast deployment."""

    timezone: str = "UTC"
    currency: str = ""
    store: StoreSettings = StoreSettings()
    source: Source | None = Field(None, description="Where orders come from; optional only for replays of series files.")
    series: SeriesSettings = SeriesSettings()
    forecast: ForecastSettings = ForecastSettings()
    monitor: MonitorSettings = MonitorSettings()
    channels: list[Channel] = Field(default_factory=lambda: [ConsoleChannel(kind="console")])
    delivery: DeliveryPolicy = DeliveryPolicy()
    dashboard_url: str | None = None

    _tz = field_validator("timezone")(lambda cls, v: _check_timezone(v))

    @model_validator(mode="after")
    def _segments_known(self) -> "Settings":
        defined = self.source.columns.segments if self.source else {}
        unknown = [s for s in self.series.by if s not in defined]
        if self.source and unknown:
            raise ValueError(
                f"series.by names {unknown}, which source.columns.segments does not define "
                f"(it defines {sorted(defined) or 'none'})"
            )
        lead = self.monitor.lead_for(self.series.freq)
        if self.forecast.horizon <= lead:
            raise ValueError(f"forecast.horizon ({self.forecast.horizon}) must exceed the monitor lead ({lead} periods), or nothing can be judged")
        labels = [c.label for c in self.channels]
        if len(set(labels)) != len(labels):
            raise ValueError("two channels share a name; give each a distinct 'name'")
        return self


def _check_timezone(value: str | None) -> str | None:
    if value is not None:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)") from exc
    return value


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

    return scrub(settings.model_dump(mode="python"))


def hide_password(url: str) -> str:
    """A database URL with its password replaced by '***'."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "***"
