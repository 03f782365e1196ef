"""Salesforce opportunities (REST query API) as a normalized opportunities frame."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from forecaster.data.opportunities import (
    OpportunityColumns,
    Outcomes,
    normalize_opportunities,
)
from forecaster.data.sources.http import ApiClient, bearer_client
from forecaster.errors import InputError
from forecaster.settings_sources import HttpPolicy

FIELDS = ["Id", "Name", "StageName", "Amount", "CreatedDate", "CloseDate", "OwnerId", "IsClosed", "IsWon"]
_COLUMNS = OpportunityColumns(
    opportunity_id="Id", created_at="CreatedDate", stage="StageName", amount="Amount", owner="OwnerId", closed_at="CloseDate", product=None
)
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def salesforce_client(token: str, policy: HttpPolicy = HttpPolicy(), name: str = "salesforce") -> ApiClient:
    """A client for Salesforce's REST API with an OAuth access token."""
    return bearer_client(name, token, policy, "the session token expired or is invalid: log in again or refresh the OAuth token")


@dataclass
class SalesforceOpportunities:
    """``GET /services/data/vXX.X/query?q=SOQL``, following ``nextRecordsUrl`` until ``done``.

    Won and lost come from ``IsWon`` / ``IsClosed``, so custom stage names need no mapping.
    ``extra_fields`` (e.g. ``Account.Industry``) become extra columns; ``where`` filters in SOQL.
    """

    client: ApiClient
    instance_url: str
    api_version: str = "59.0"
    extra_fields: list[str] = field(default_factory=list)
    where: str | None = None

    def soql(self) -> str:
        """The query sent."""
        bad = [f for f in self.extra_fields if not _FIELD_NAME.match(f)]
        if bad:
            raise InputError(f"{self.client.name}: not Salesforce field names: {bad}")
        fields = ", ".join(dict.fromkeys(FIELDS + self.extra_fields))
        return f"SELECT {fields} FROM Opportunity" + (f" WHERE {self.where}" if self.where else "")

    def load(self) -> pd.DataFrame:
        """Every matching opportunity, normalized (see ``forecaster.data.opportunities``)."""
        base = self.instance_url.rstrip("/")
        page = self.client.get_json(f"{base}/services/data/v{self.api_version}/query", "query", {"q": self.soql()})
        rows: list[dict] = []
        while True:
            records = page.get("records") if isinstance(page, dict) else None
            if not isinstance(records, list):
                raise InputError(f"{self.client.name}: the query answer has no 'records' list")
            rows.extend(_flatten(record) for record in records)
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                break
            page = self.client.get_json(base + next_url, "query, next page")
        raw = pd.DataFrame(rows, columns=list(dict.fromkeys(FIELDS + self.extra_fields)))
        won, closed = raw["IsWon"].eq(True), raw["IsClosed"].eq(True)
        outcomes = Outcomes(won=tuple(raw.loc[won, "StageName"].dropna()), lost=tuple(raw.loc[closed & ~won, "StageName"].dropna()))
        frame = normalize_opportunities(raw, _COLUMNS, self.client.name, lambda i: f"opportunity {raw.at[i, 'Id']}", outcomes)
        return frame.drop(columns=["IsClosed", "IsWon"])


def _flatten(record: dict, prefix: str = "") -> dict:
    """A record with related objects as dotted names (``Account.Industry``), without ``attributes``."""
    flat: dict = {}
    for key, value in record.items():
        if key == "attributes":
            continue
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
