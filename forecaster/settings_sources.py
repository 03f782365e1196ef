"""The typed schema of the ``source:`` block: where orders come from, one class per kind."""

from __future__ import annotations

import zoneinfo
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

SAMPLE_DIR = Path(__file__).parent / "sample"


class Frozen(BaseModel):
    """Base of every config model: frozen, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def check_timezone(value: str | None) -> str | None:
    """``value`` if it names an IANA time zone (or is None), else ValueError."""
    if value is not None:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)") from exc
    return value


class OrderColumns(Frozen):
    """Which source column holds each order field."""

    order_id: str
    ordered_at: str
    amount: str
    status: str | None = None
    updated_at: str | None = Field(None, description="Last-modified column; enables incremental sync from SQL.")
    segments: dict[str, str] = Field(default_factory=dict, description="Segment name -> column, e.g. country: Country.")


class StatusPolicy(Frozen):
    """Which order statuses count as sales and which as refunds (negative amounts); others are ignored."""

    sale: list[str] = ["completed", "processing"]
    refund: list[str] = ["refunded"]

    @model_validator(mode="after")
    def _disjoint(self) -> "StatusPolicy":
        both = set(self.sale) & set(self.refund)
        if both:
            raise ValueError(f"statuses {sorted(both)} are listed both as sale and as refund")
        return self


class _OrdersSource(Frozen):
    name: str = "orders"
    columns: OrderColumns
    statuses: StatusPolicy = StatusPolicy()
    timezone: str | None = Field(None, description="Time zone of timestamps without one; default: the top-level timezone.")

    _tz = field_validator("timezone")(lambda cls, v: check_timezone(v))

    @property
    def segment_names(self) -> list[str]:
        """The segment names ``series.by`` may use."""
        return list(self.columns.segments)


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

    _one = model_validator(mode="after")(lambda self: _table_or_query(self))


def _table_or_query(config):
    """``config`` if it names exactly one of a table or a query, else ValueError."""
    if (config.table is None) == (config.query is None):
        raise ValueError("give exactly one of 'table' or 'query'")
    return config


class HttpPolicy(Frozen):
    """Timeouts and retries of a shop API (429, 5xx and connection errors are retried with backoff)."""

    timeout_seconds: float = Field(30.0, gt=0)
    attempts: int = Field(6, ge=1, description="Tries per request, the first included.")
    backoff_seconds: float = Field(1.0, ge=0, description="Wait before the first retry; doubled at each next one.")
    max_wait_seconds: float = Field(120.0, ge=0, description="Longest single wait, also for a server's Retry-After.")


class _ShopSource(Frozen):
    """A shop whose API or database fixes the order fields, so no column mapping is needed."""

    name: str = "orders"
    statuses: list[str] = Field(["completed", "processing"], min_length=1, description="Order statuses that count as sales.")
    segments: list[str] = Field(default_factory=list, description="Segments to split series by, from the kind's fixed set.")

    @property
    def segment_names(self) -> list[str]:
        """The segment names ``series.by`` may use."""
        return list(self.segments)


def _local_or_https(url: str) -> str:
    """Shop credentials travel only over HTTPS (plain HTTP only to this machine)."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1].split(":", 1)[0]
    if scheme == "https" or (scheme == "http" and host in {"localhost", "127.0.0.1", "::1", "[::1]"}):
        return url.rstrip("/")
    raise ValueError(f"use an https:// URL (got {url!r}); credentials are never sent over plain HTTP")


class WooCommerceSource(_ShopSource):
    """Orders from the WooCommerce REST API v3; only orders modified since the last sync are read."""

    kind: Literal["woocommerce"]
    url: str = Field(description="The shop's base URL, e.g. https://shop.example.com.")
    consumer_key: SecretStr
    consumer_secret: SecretStr
    auth: Literal["basic", "query"] = Field("basic", description="HTTP basic auth, or consumer_key/consumer_secret query parameters for servers that drop the Authorization header.")
    segments: list[Literal["billing_country", "shipping_country", "currency", "created_via", "payment_method"]] = []
    page_size: int = Field(100, ge=1, le=100)
    http: HttpPolicy = HttpPolicy()

    _url = field_validator("url")(lambda cls, v: _local_or_https(v))


class WooCommerceDbSource(_ShopSource):
    """Orders read-only from a WooCommerce MySQL database (HPOS stats table or legacy posts tables)."""

    kind: Literal["woocommerce_db"]
    url: str = Field(description="SQLAlchemy URL of the shop database (a read-only user); password in ${ENV}.")
    schema_: Literal["hpos", "legacy"] = Field("hpos", alias="schema", description="hpos: {prefix}wc_order_stats; legacy: {prefix}posts and postmeta.")
    table_prefix: str = Field("wp_", pattern=r"^[A-Za-z0-9_]*$")
    segments: list[Literal["billing_country"]] = []


class ShopifySource(_ShopSource):
    """Orders from the Shopify Admin GraphQL API; only orders updated since the last sync are read."""

    kind: Literal["shopify"]
    shop: str = Field(description="The shop's admin URL, e.g. https://my-shop.myshopify.com.")
    access_token: SecretStr
    api_version: str = Field("2024-10", pattern=r"^\d{4}-\d{2}$")
    statuses: list[str] = Field(
        ["paid", "partially_paid", "partially_refunded", "refunded"], min_length=1,
        description="Financial statuses (displayFinancialStatus, any case) that count as sales; cancelled orders never do.",
    )
    segments: list[Literal["billing_country", "shipping_country", "currency"]] = []
    page_size: int = Field(100, ge=1, le=250)
    http: HttpPolicy = HttpPolicy()

    _shop = field_validator("shop")(lambda cls, v: _local_or_https(v))


Source = Annotated[
    Union[FileSource, SqlSource, WooCommerceSource, WooCommerceDbSource, ShopifySource], Field(discriminator="kind")
]



# --- Where opportunities (deals) come from: ``revops.source`` ---


class SqlOpportunitySource(Frozen):
    """Opportunities from a table or query, mapped by ``revops.columns``; other columns become segments."""

    kind: Literal["sql"]
    url: str = Field(description="SQLAlchemy URL; put the password in ${ENV}, it is never printed.")
    table: str | None = None
    query: str | None = None

    _one = model_validator(mode="after")(lambda self: _table_or_query(self))


class HubSpotSource(Frozen):
    """HubSpot deals (CRM v3 API); won and lost from HubSpot's own closed flags."""

    kind: Literal["hubspot"]
    token: SecretStr = Field(description="A private app token with the crm.objects.deals.read scope, e.g. ${HUBSPOT_TOKEN}.")
    base_url: str = "https://api.hubapi.com"
    properties: list[str] = Field(default_factory=list, description="Extra deal properties to read, usable as segments.")
    page_size: int = Field(100, ge=1, le=100)
    http: HttpPolicy = HttpPolicy()

    _url = field_validator("base_url")(lambda cls, v: _local_or_https(v))


class SalesforceSource(Frozen):
    """Salesforce opportunities (REST query API); won and lost from IsWon and IsClosed."""

    kind: Literal["salesforce"]
    instance_url: str = Field(description="The org's address, e.g. https://acme.my.salesforce.com.")
    token: SecretStr = Field(description="An OAuth access token, e.g. ${SALESFORCE_TOKEN}.")
    api_version: str = Field("59.0", pattern=r"^\d+\.\d$")
    fields: list[str] = Field(default_factory=list, description="Extra Opportunity fields (e.g. Account.Industry), usable as segments.")
    where: str | None = Field(None, description="A SOQL condition, e.g. IsDeleted = false AND Type = 'New Business'.")
    http: HttpPolicy = HttpPolicy()

    _url = field_validator("instance_url")(lambda cls, v: _local_or_https(v))


OpportunitySource = Annotated[Union[SqlOpportunitySource, HubSpotSource, SalesforceSource], Field(discriminator="kind")]
