"""HubSpot deals (CRM v3 objects API) as a normalized opportunities frame."""

from __future__ import annotations

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

PROPERTIES = ["dealname", "amount", "dealstage", "createdate", "closedate", "hubspot_owner_id", "pipeline", "hs_is_closed_won", "hs_is_closed"]
_COLUMNS = OpportunityColumns(
    opportunity_id="id", created_at="createdate", stage="dealstage", amount="amount", owner="hubspot_owner_id", closed_at="closedate", product=None
)


def hubspot_client(token: str, policy: HttpPolicy = HttpPolicy(), name: str = "hubspot") -> ApiClient:
    """A client for HubSpot's API with a private app token."""
    hint = "the token expired, was revoked or lacks the crm.objects.deals.read scope: create a new private app token"
    return bearer_client(name, token, policy, hint)


@dataclass
class HubSpotDeals:
    """``GET /crm/v3/objects/deals`` page by page (``limit``, ``after`` = ``paging.next.after``).

    Won and lost come from HubSpot's ``hs_is_closed_won`` / ``hs_is_closed`` flags, so custom
    pipelines need no stage mapping. ``extra_properties`` become extra columns (segments).
    """

    client: ApiClient
    base_url: str = "https://api.hubapi.com"
    page_size: int = 100
    extra_properties: list[str] = field(default_factory=list)

    def load(self) -> pd.DataFrame:
        """Every deal, normalized (see ``forecaster.data.opportunities``)."""
        url = f"{self.base_url.rstrip('/')}/crm/v3/objects/deals"
        properties = list(dict.fromkeys(PROPERTIES + self.extra_properties))
        params = {"limit": self.page_size, "properties": ",".join(properties), "archived": "false"}
        rows: list[dict] = []
        after: str | None = None
        while True:
            page = self.client.get_json(url, "deals", {**params, **({"after": after} if after else {})})
            results = page.get("results") if isinstance(page, dict) else None
            if not isinstance(results, list):
                raise InputError(f"{self.client.name}: the deals answer has no 'results' list")
            for deal in results:
                rows.append({p: (deal.get("properties") or {}).get(p) for p in properties} | {"id": deal.get("id")})
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                break
        raw = pd.DataFrame(rows, columns=["id", *properties])
        won = raw["hs_is_closed_won"].astype(str).str.lower() == "true"
        closed = raw["hs_is_closed"].astype(str).str.lower() == "true"
        outcomes = Outcomes(won=tuple(raw.loc[won, "dealstage"].dropna()), lost=tuple(raw.loc[closed & ~won, "dealstage"].dropna()))
        if not (won | closed).any():
            outcomes = Outcomes()
        frame = normalize_opportunities(raw, _COLUMNS, self.client.name, lambda i: f"deal {raw.at[i, 'id']}", outcomes)
        return frame.drop(columns=["hs_is_closed_won", "hs_is_closed"])
