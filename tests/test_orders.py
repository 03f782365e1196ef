"""Orders from files and SQL tables: normalization, bad rows, incremental and idempotent sync."""

import datetime as dt
import json

import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import given, settings as hsettings, strategies as st

from forecaster.data.series import last_complete, points_from_orders, read_long, regular, regular_each
from forecaster.data.sources import open_source
from forecaster.errors import InputError
from forecaster.settings_sources import FileSource, OrderColumns, SqlSource, StatusPolicy

COLUMNS = OrderColumns(order_id="id", ordered_at="ts", amount="total", status="status", segments={"country": "country"})


def csv_source(path):
    return FileSource(kind="csv", path=path, columns=COLUMNS)


def write_csv(tmp_path, rows):
    path = tmp_path / "orders.csv"
    pd.DataFrame(rows, columns=["id", "ts", "total", "status", "country"]).to_csv(path, index=False)
    return path


def test_bundled_sample_totals_match_the_uci_file():
    from forecaster.settings import load

    batch = open_source(load().source, "Europe/London").load(None, None)
    assert len(batch.orders) == 25900
    assert batch.orders["amount"].sum() == pytest.approx(9_747_747.93, abs=0.01)  # the data set's documented total
    assert (batch.orders.loc[batch.orders.status == "refunded", "amount"] <= 0).all()


@pytest.mark.parametrize(
    "rows, message",
    [
        ([["1", "2024-13-45", "10", "completed", "DE"]], r"'ts' has values that are not dates.*: line 2 \('2024-13-45'\)"),
        ([["1", "2024-01-02", "ten", "completed", "DE"]], r"'total' has values that are not numbers: line 2 \('ten'\)"),
        ([["1", "2024-01-02", "1", "completed", "DE"], ["1", "2024-01-03", "2", "completed", "DE"]], r"duplicate order ids: line 2 \(1\), line 3 \(1\)"),
        ([["1", "2099-01-02", "1", "completed", "DE"]], r"orders dated in the future .*line 2"),
        ([["", "2024-01-02", "1", "completed", "DE"]], r"'id' \(order id\) is empty: line 2"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path, rows, message):
    path = write_csv(tmp_path, rows)
    with pytest.raises(InputError, match=message) as error:
        open_source(csv_source(path), "UTC").load(None, None)
    assert str(path) in str(error.value)


def test_missing_column_and_missing_file(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("id,ts\n1,2024-01-01\n")
    with pytest.raises(InputError, match=r"missing column\(s\) \['total', 'status', 'country'\]"):
        open_source(csv_source(path), "UTC").load(None, None)
    with pytest.raises(InputError, match="file not found"):
        open_source(csv_source(tmp_path / "nope.csv"), "UTC").load(None, None)


def test_statuses_refunds_and_time_zone(tmp_path):
    path = write_csv(
        tmp_path,
        [
            ["1", "2024-03-01 23:30", "100", "Completed", "DE"],
            ["2", "2024-03-02 00:30", "50", "refunded", "DE"],
            ["3", "2024-03-02 01:00", "70", "pending", ""],
        ],
    )
    orders = open_source(csv_source(path), "Europe/Berlin").load(None, None).orders
    assert orders["amount"].tolist() == [100.0, -50.0, 70.0]
    assert orders["counted"].tolist() == [True, True, False]
    assert orders["ordered_at"].iloc[0] == pd.Timestamp("2024-03-01 22:30", tz="UTC")
    assert json.loads(orders["segments"].iloc[2]) == {"country": "(none)"}
    points = points_from_orders(orders, "Europe/Berlin", "D", ["country"], True, "revenue")
    assert points.set_index(["unique_id", "ds"])["y"].to_dict() == {
        ("DE", pd.Timestamp("2024-03-01")): 100.0, ("DE", pd.Timestamp("2024-03-02")): -50.0,
        ("total", pd.Timestamp("2024-03-01")): 100.0, ("total", pd.Timestamp("2024-03-02")): -50.0,
    }


def test_last_complete_respects_time_zone_and_delay():
    as_of = dt.datetime(2024, 3, 5, 0, 30, tzinfo=dt.timezone.utc)  # 01:30 in Berlin on the 5th
    assert last_complete(as_of, "Europe/Berlin", "D") == pd.Timestamp("2024-03-04")
    assert last_complete(as_of, "Europe/Berlin", "D", delay_hours=2) == pd.Timestamp("2024-03-03")
    assert last_complete(as_of, "America/New_York", "D") == pd.Timestamp("2024-03-03")
    assert last_complete(as_of, "UTC", "W") == pd.Timestamp("2024-02-26")
    assert last_complete(as_of, "UTC", "M") == pd.Timestamp("2024-02-01")


@hsettings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60), st.floats(-1e4, 1e4, allow_nan=False)), min_size=1, max_size=40), st.sampled_from(["D", "W", "M"]))
def test_points_keep_every_amount_and_regular_fills_zeros(orders, freq):
    frame = pd.DataFrame(
        {
            "ordered_at": [pd.Timestamp("2024-01-01 12:00", tz="UTC") + pd.Timedelta(days=d) for d, _ in orders],
            "amount": [a for _, a in orders],
            "counted": True,
            "segments": "{}",
        }
    )
    points = points_from_orders(frame, "UTC", freq, [], True, "revenue")
    assert points["y"].sum() == pytest.approx(sum(a for _, a in orders), abs=1e-6)
    series = regular(points, freq, points["ds"].max())
    assert series.sum() == pytest.approx(points["y"].sum(), abs=1e-6)
    assert series.index.is_monotonic_increasing and series.index.freq is not None


def test_regular_each_starts_every_series_at_its_own_first_period_and_fills_gaps():
    points = pd.DataFrame(
        {
            "unique_id": ["a", "a", "b", "b", "b"],
            "ds": pd.to_datetime(["2024-01-01", "2024-01-04", "2024-01-03", "2024-01-05", "2024-01-09"]),
            "y": [1.0, 4.0, 3.0, 5.0, 9.0],
        }
    )
    series = regular_each(points, "D", pd.Timestamp("2024-01-06"))
    assert series["a"].tolist() == [1.0, 0.0, 0.0, 4.0, 0.0, 0.0]
    assert series["a"].index[0] == pd.Timestamp("2024-01-01")
    assert series["b"].tolist() == [3.0, 0.0, 5.0, 0.0], "points after the end are left out"
    assert series["b"].index[0] == pd.Timestamp("2024-01-03") and series["b"].index.freq is not None
    assert regular_each(points, "D", pd.Timestamp("2023-12-31")) == {}


def test_read_long_validates(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("unique_id,ds,y\na,2024-01-01,1\na,2024-01-01,2\n")
    with pytest.raises(InputError, match=r"more than once: line 2 \(a 2024-01-01\)"):
        read_long(path)
    path.write_text("unique_id,ds,y\na,2024-01-01,x\n")
    with pytest.raises(InputError, match=r"'y' has values that are not numbers: line 2"):
        read_long(path)
    path.write_text("id,ds,y\n")
    with pytest.raises(InputError, match=r"missing column\(s\) \['unique_id'\]"):
        read_long(path)


def _orders_table(url):
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    table = sa.Table(
        "shop_orders", meta,
        sa.Column("id", sa.Integer, primary_key=True), sa.Column("created", sa.DateTime), sa.Column("total", sa.Numeric(12, 2)),
        sa.Column("state", sa.String(20)), sa.Column("country", sa.String(40)), sa.Column("modified", sa.DateTime),
    )
    meta.create_all(engine)
    return engine, table


def test_sql_source_incremental_sync_updates_changed_orders(store_url):
    from forecaster.store import Store

    engine, table = _orders_table(store_url)
    base = dt.datetime(2024, 5, 1, 10)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"id": i, "created": base + dt.timedelta(hours=i), "total": 10 + i, "state": "completed", "country": "DE", "modified": base + dt.timedelta(hours=i)} for i in range(1, 31)])
    config = SqlSource(
        kind="sql", url=store_url, table="shop_orders",
        columns=OrderColumns(order_id="id", ordered_at="created", amount="total", status="state", updated_at="modified", segments={"country": "country"}),
        statuses=StatusPolicy(sale=["completed"], refund=["refunded"]),
    )
    store = Store(store_url).create()
    source = open_source(config, "UTC")
    now = dt.datetime(2024, 6, 1, tzinfo=dt.timezone.utc)

    def sync():
        batch = source.load(store.orders.watermark(source.name), None)
        store.orders.upsert(source.name, batch.orders, batch.watermark, now)
        return batch

    assert len(sync().orders) == 30
    assert len(sync().orders) == 0  # nothing changed since the watermark
    with engine.begin() as conn:
        conn.execute(table.update().where(table.c.id == 5).values(state="refunded", modified=base + dt.timedelta(days=3)))
        conn.execute(table.insert().values(id=31, created=base + dt.timedelta(days=3), total=99, state="completed", country="FR", modified=base + dt.timedelta(days=3)))
    assert sorted(sync().orders["order_id"]) == ["31", "5"]
    stored = store.orders.load(source.name)
    assert len(stored) == 31
    assert stored.set_index("order_id").loc["5", "amount"] == -15.0
    assert stored["amount"].sum() == pytest.approx(sum(10 + i for i in range(1, 31)) - 2 * 15 + 99)
    store.close()
    engine.dispose()


def test_sql_source_reports_a_missing_table(tmp_path):
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    sa.create_engine(url).connect().close()
    config = SqlSource(kind="sql", url=url, table="absent", columns=COLUMNS)
    with pytest.raises(InputError, match="table absent: no such table"):
        open_source(config, "UTC").load(None, None)


def test_sql_source_from_a_query(tmp_path):
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    engine, table = _orders_table(url)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"id": 1, "created": dt.datetime(2024, 1, 1), "total": 5, "state": "completed", "country": "DE", "modified": dt.datetime(2024, 1, 1)}])
    config = SqlSource(kind="sql", url=url, query="SELECT id, created, total, state, country FROM shop_orders WHERE total > 1",
                       columns=OrderColumns(order_id="id", ordered_at="created", amount="total", status="state"), statuses=StatusPolicy(sale=["completed"]))
    orders = open_source(config, "UTC").load(None, None).orders
    assert orders["amount"].tolist() == [5.0]


def test_parquet_source_reads_typed_columns(tmp_path):
    path = tmp_path / "orders.parquet"
    pd.DataFrame(
        {"id": [1, 2], "ts": pd.to_datetime(["2024-01-01 10:00", "2024-01-02 11:00"]), "total": [12.5, 7.5], "status": ["completed", "refunded"], "country": ["DE", None]}
    ).to_parquet(path)
    config = FileSource(kind="parquet", path=path, columns=COLUMNS)
    orders = open_source(config, "UTC").load(None, None).orders
    assert orders["order_id"].tolist() == ["1", "2"] and orders["amount"].tolist() == [12.5, -7.5]


def test_an_empty_source_is_a_clear_error(tmp_path):
    from forecaster.engine import Engine
    from forecaster.settings import parse
    from forecaster.store import Store

    path = write_csv(tmp_path, [])
    settings = parse({"store": {"url": f"sqlite:///{tmp_path / 's.db'}"}, "source": {"kind": "csv", "path": str(path), "columns": COLUMNS.model_dump()}}, "test")
    store = Store(settings.store.url).create()
    with pytest.raises(InputError, match="source orders: no orders placed up to"):
        Engine(settings, store, notifiers={}).run()
    store.close()


def test_read_long_leaves_out_an_incomplete_last_week(tmp_path):
    path = tmp_path / "daily.csv"
    days = pd.date_range("2024-01-01", "2024-01-17", freq="D")  # Mon 1 .. Wed 17: the third week is partial
    pd.DataFrame({"unique_id": "a", "ds": days, "y": 1.0}).to_csv(path, index=False)
    weekly = read_long(path, freq="W")
    assert weekly["ds"].tolist() == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-08")]
    assert weekly["y"].tolist() == [7.0, 7.0] and weekly.attrs["partial_periods"] == ["a"]
    assert len(read_long(path, freq="D")) == 17
