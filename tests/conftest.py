"""Shared fixtures: real databases (SQLite always; PostgreSQL and MariaDB when their URLs are set)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

DROP_FROM = "2011-10-10"  # orders_with_drop: from this day on, orders are worth 40%
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # the real data sets, beside the checkout
REQUIRE_DATABASES = os.environ.get("SALESCAST_REQUIRE_DATABASES") == "1"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Stop at once, saying why, when the real data sets are not where the tests look."""
    if not DATA.is_dir():
        pytest.exit(f"the tests read real sales data from {DATA}, which does not exist: clone the project "
                    "next to the shared/ folder", returncode=2)


def _server_url(variable: str) -> str:
    url = os.environ.get(variable)
    if not url:
        if REQUIRE_DATABASES:
            pytest.fail(f"{variable} is not set, and SALESCAST_REQUIRE_DATABASES=1 forbids skipping")
        pytest.skip(f"{variable} not set")
    return url


@pytest.fixture
def postgres_url():
    """A URL to a fresh schema of the test PostgreSQL server, dropped afterwards."""
    url = sa.engine.make_url(_server_url("SALESCAST_TEST_POSTGRES_URL"))
    schema = f"salescast_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def mysql_url():
    """A URL to a fresh database of the test MariaDB/MySQL server, dropped afterwards."""
    url = sa.engine.make_url(_server_url("SALESCAST_TEST_MYSQL_URL"))
    name = f"salescast_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP DATABASE `{name}`"))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def store_url(request, tmp_path):
    """The engine's store on each supported database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture(scope="session")
def online_retail_orders():
    """The bundled demo sample (real UCI Online Retail invoices) as a DataFrame."""
    import pandas as pd

    from forecaster.settings_sources import SAMPLE_DIR

    return pd.read_csv(SAMPLE_DIR / "online_retail_orders.csv.gz", dtype={"order_id": str})


@pytest.fixture(scope="session")
def orders_with_drop(tmp_path_factory, online_retail_orders):
    """Real Online Retail orders Jun-Oct 2011; from 10 Oct every order is worth 40% of its real amount."""
    import pandas as pd

    orders = online_retail_orders.copy()
    when = pd.to_datetime(orders["ordered_at"])
    orders = orders[(when >= "2011-05-01") & (when < "2011-10-29")].copy()
    dropped = pd.to_datetime(orders["ordered_at"]) >= pd.Timestamp(DROP_FROM)
    orders.loc[dropped, "amount"] = (orders.loc[dropped, "amount"] * 0.4).round(2)
    path = tmp_path_factory.mktemp("orders") / "orders.csv"
    orders.to_csv(path, index=False)
    return path
