"""HubSpot and Salesforce sources against HTTP servers on 127.0.0.1 speaking their paging and error shapes."""

from __future__ import annotations

import urllib.parse

import pytest
from servers import HTTPServer, Reply, free_port

from forecaster.data.sources.http import ApiClient, TokenRefusedError
from forecaster.data.sources.hubspot import HubSpotDeals, hubspot_client
from forecaster.data.sources.salesforce import SalesforceOpportunities, salesforce_client
from forecaster.errors import InputError
from forecaster.settings_sources import HttpPolicy

TOKEN = "pat-na1-secret-token-value"


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """The waits the clients ask for, recorded instead of spent."""
    asked: list[float] = []
    monkeypatch.setattr("forecaster.data.sources.http.sleep", asked.append)
    return asked


def _client(name: str, retries: int = 3) -> ApiClient:
    make = hubspot_client if name == "hubspot" else salesforce_client
    return make(TOKEN, HttpPolicy(attempts=retries + 1, backoff_seconds=0.25, max_wait_seconds=60))


def _deal(deal_id: str, stage: str, amount: str | None, closed: str | None, won: bool, is_closed: bool) -> dict:
    properties = {
        "dealname": f"deal {deal_id}", "amount": amount, "dealstage": stage, "createdate": "2024-01-02T10:00:00.000Z",
        "closedate": closed, "hubspot_owner_id": "77", "pipeline": "default",
        "hs_is_closed_won": str(won).lower(), "hs_is_closed": str(is_closed).lower(),
    }
    return {"id": deal_id, "properties": properties, "createdAt": "2024-01-02T10:00:00.000Z", "archived": False}


def _query(path: str) -> dict[str, list[str]]:
    return urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)


HUBSPOT_PAGE_1 = {
    "results": [_deal("11", "closedwon", "1200.50", "2024-02-01T00:00:00Z", True, True), _deal("12", "presentationscheduled", None, None, False, False)],
    "paging": {"next": {"after": "12", "link": "https://api.hubapi.com/crm/v3/objects/deals?after=12"}},
}
HUBSPOT_PAGE_2 = {"results": [_deal("13", "9912345", "0", "2024-02-03T00:00:00Z", False, True)]}
EXPIRED = {
    "status": "error", "message": "The OAuth token used to make this call expired 2 hour(s) ago.",
    "correlationId": "4c2b", "category": "EXPIRED_AUTHENTICATION",
}


def test_hubspot_pages_with_after_and_sends_the_bearer_token(waits):
    with HTTPServer() as server:
        server.reply(Reply(body=HUBSPOT_PAGE_1), Reply(body=HUBSPOT_PAGE_2))
        deals = HubSpotDeals(_client("hubspot"), base_url=server.url, page_size=2, extra_properties=["pipeline"]).load()
    first, second = server.requests
    assert first.path.startswith("/crm/v3/objects/deals?")
    assert _query(first.path)["limit"] == ["2"] and "after" not in _query(first.path)
    assert "dealstage" in _query(first.path)["properties"][0].split(",")
    assert _query(second.path)["after"] == ["12"]
    assert first.headers["Authorization"] == f"Bearer {TOKEN}"
    assert list(deals["opportunity_id"]) == ["11", "12", "13"]
    assert list(deals["outcome"]) == ["won", "open", "lost"]  # a custom lost stage id, from hs_is_closed
    assert deals.loc[0, "amount"] == 1200.50 and deals.loc[0, "closed_at"].strftime("%Y-%m-%d") == "2024-02-01"
    assert deals["closed_at"].isna().tolist() == [False, True, False]
    assert set(deals["pipeline"]) == {"default"}


def test_hubspot_waits_out_429_retry_after_and_5xx(waits):
    with HTTPServer() as server:
        server.reply(
            Reply(status=429, body={"status": "error", "category": "RATE_LIMITS"}, headers={"Retry-After": "7"}),
            Reply(status=502, body="bad gateway"),
            Reply(body=HUBSPOT_PAGE_2),
        )
        deals = HubSpotDeals(_client("hubspot"), base_url=server.url).load()
    assert waits == [7.0, 0.5]  # Retry-After, then backoff * 2**1
    assert len(server.requests) == 3 and len(deals) == 1


def test_hubspot_gives_up_after_the_configured_retries(waits):
    with HTTPServer() as server:
        server.reply(*[Reply(status=503, body="unavailable")] * 3)
        with pytest.raises(InputError, match="HTTP 503"):
            HubSpotDeals(_client("hubspot", retries=2), base_url=server.url).load()
    assert len(server.requests) == 3 and waits == [0.25, 0.5]


def test_hubspot_expired_token_is_a_clear_error_without_the_token():
    with HTTPServer() as server:
        server.reply(Reply(status=401, body=EXPIRED))
        with pytest.raises(TokenRefusedError) as caught:
            HubSpotDeals(_client("hubspot"), base_url=server.url).load()
    message = str(caught.value)
    assert "token expired" in message and "EXPIRED_AUTHENTICATION" in message and "private app token" in message
    assert TOKEN not in message
    assert len(server.requests) == 1  # a refused token is not retried


def test_hubspot_answer_without_results_is_an_input_error():
    with HTTPServer() as server:
        server.reply(Reply(body={"message": "unexpected"}))
        with pytest.raises(InputError, match="no 'results' list"):
            HubSpotDeals(_client("hubspot"), base_url=server.url).load()


def _opportunity(record_id: str, stage: str, amount: float | None, close: str | None, closed: bool, won: bool) -> dict:
    return {
        "attributes": {"type": "Opportunity", "url": f"/services/data/v59.0/sobjects/Opportunity/{record_id}"},
        "Id": record_id, "Name": f"Opp {record_id}", "StageName": stage, "Amount": amount,
        "CreatedDate": "2024-01-05T09:30:00.000+0000", "CloseDate": close, "OwnerId": "005xx01",
        "IsClosed": closed, "IsWon": won, "Account": {"attributes": {"type": "Account"}, "Industry": "Retail"},
    }


def test_salesforce_follows_next_records_url_until_done():
    next_url = "/services/data/v59.0/query/01gD0000002HU6KIAW-2000"
    with HTTPServer() as server:
        server.reply(
            Reply(body={"totalSize": 3, "done": False, "nextRecordsUrl": next_url, "records": [
                _opportunity("0061", "Signed", 5000.0, "2024-02-10", True, True),
                _opportunity("0062", "Negotiation", 800.0, "2024-04-30", False, False),
            ]}),
            Reply(body={"totalSize": 3, "done": True, "records": [_opportunity("0063", "Went dark", None, "2024-02-12", True, False)]}),
        )
        source = SalesforceOpportunities(_client("salesforce"), server.url, extra_fields=["Account.Industry"], where="CreatedDate = LAST_N_DAYS:365")
        deals = source.load()
    first, second = server.requests
    assert urllib.parse.urlsplit(first.path).path == "/services/data/v59.0/query"
    soql = _query(first.path)["q"][0]
    assert soql.startswith("SELECT Id, Name, StageName, Amount") and "Account.Industry FROM Opportunity WHERE CreatedDate" in soql
    assert second.path == next_url
    assert second.headers["Authorization"] == f"Bearer {TOKEN}"
    assert list(deals["outcome"]) == ["won", "open", "lost"]  # custom stage names, from IsWon / IsClosed
    assert deals["closed_at"].isna().tolist() == [False, True, False]  # an open deal's CloseDate is only expected
    assert list(deals["Account.Industry"]) == ["Retail"] * 3
    assert deals.loc[0, "created_at"].strftime("%Y-%m-%d") == "2024-01-05"


def test_salesforce_invalid_session_says_the_token_expired():
    body = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    with HTTPServer() as server:
        server.reply(Reply(status=401, body=body))
        with pytest.raises(TokenRefusedError) as caught:
            SalesforceOpportunities(_client("salesforce"), server.url).load()
    message = str(caught.value)
    assert "INVALID_SESSION_ID" in message and "token expired" in message and "log in again" in message
    assert TOKEN not in message


def test_salesforce_retries_429_then_reports_a_bad_record_by_id(waits):
    with HTTPServer() as server:
        server.reply(
            Reply(status=429, body=[{"errorCode": "REQUEST_LIMIT_EXCEEDED"}], headers={"Retry-After": "2"}),
            Reply(body={"totalSize": 1, "done": True, "records": [_opportunity("0069", "Closed Won", 10.0, None, True, True)]}),
        )
        with pytest.raises(InputError, match="opportunity 0069"):
            SalesforceOpportunities(_client("salesforce"), server.url).load()
    assert waits == [2.0]


def test_unreachable_server_is_retried_then_reported(waits):
    client = _client("salesforce", retries=2)
    with pytest.raises(InputError, match="cannot reach"):
        SalesforceOpportunities(client, f"http://127.0.0.1:{free_port()}").load()
    assert waits == [0.25, 0.5]


def test_extra_fields_must_be_field_names():
    source = SalesforceOpportunities(_client("salesforce"), "http://127.0.0.1:9", extra_fields=["Amount; DROP"])
    with pytest.raises(InputError, match="not Salesforce field names"):
        source.soql()
