"""WooCommerce database connector against the machine's MariaDB, with the WooCommerce order tables."""

import datetime as dt

import pytest
import sqlalchemy as sa

from forecaster.data.sources import open_source
from forecaster.engine import Engine
from forecaster.errors import InputError
from forecaster.settings import parse
from forecaster.store import Store
from shops import sample_orders

AS_OF = dt.datetime(2011, 3, 1, tzinfo=dt.timezone.utc)

# The order tables as WooCommerce creates them (columns the connector does not read are kept, abridged).
HPOS_DDL = [
    """CREATE TABLE {p}wc_order_stats (
        order_id bigint(20) unsigned NOT NULL, parent_id bigint(20) unsigned DEFAULT 0 NOT NULL,
        date_created datetime DEFAULT '0000-00-00 00:00:00' NOT NULL, date_created_gmt datetime DEFAULT '0000-00-00 00:00:00' NOT NULL,
        date_paid datetime DEFAULT '0000-00-00 00:00:00', date_completed datetime DEFAULT '0000-00-00 00:00:00',
        num_items_sold int(11) DEFAULT 0 NOT NULL, total_sales double DEFAULT 0 NOT NULL, tax_total double DEFAULT 0 NOT NULL,
        shipping_total double DEFAULT 0 NOT NULL, net_total double DEFAULT 0 NOT NULL, returning_customer tinyint(1) DEFAULT NULL,
        status varchar(200) NOT NULL, customer_id bigint(20) unsigned NOT NULL,
        PRIMARY KEY (order_id), KEY date_created (date_created), KEY customer_id (customer_id), KEY status (status(191)))""",
    """CREATE TABLE {p}wc_order_addresses (
        id bigint(20) unsigned auto_increment PRIMARY KEY, order_id bigint(20) unsigned NOT NULL, address_type varchar(20) NULL,
        first_name text NULL, last_name text NULL, company text NULL, address_1 text NULL, address_2 text NULL, city text NULL,
        state text NULL, postcode text NULL, country text NULL, email varchar(320) NULL, phone varchar(100) NULL,
        KEY order_id (order_id), UNIQUE KEY address_type_order_id (address_type, order_id))""",
]
LEGACY_DDL = [
    """CREATE TABLE {p}posts (
        ID bigint(20) unsigned NOT NULL auto_increment, post_author bigint(20) unsigned NOT NULL default '0',
        post_date datetime NOT NULL default '0000-00-00 00:00:00', post_date_gmt datetime NOT NULL default '0000-00-00 00:00:00',
        post_content longtext NOT NULL, post_title text NOT NULL, post_excerpt text NOT NULL, post_status varchar(20) NOT NULL default 'publish',
        comment_status varchar(20) NOT NULL default 'open', ping_status varchar(20) NOT NULL default 'open', post_password varchar(255) NOT NULL default '',
        post_name varchar(200) NOT NULL default '', to_ping text NOT NULL, pinged text NOT NULL,
        post_modified datetime NOT NULL default '0000-00-00 00:00:00', post_modified_gmt datetime NOT NULL default '0000-00-00 00:00:00',
        post_content_filtered longtext NOT NULL, post_parent bigint(20) unsigned NOT NULL default '0', guid varchar(255) NOT NULL default '',
        menu_order int(11) NOT NULL default '0', post_type varchar(20) NOT NULL default 'post', post_mime_type varchar(100) NOT NULL default '',
        comment_count bigint(20) NOT NULL default '0',
        PRIMARY KEY (ID), KEY type_status_date (post_type, post_status, post_date, ID), KEY post_parent (post_parent))""",
    """CREATE TABLE {p}postmeta (
        meta_id bigint(20) unsigned NOT NULL auto_increment, post_id bigint(20) unsigned NOT NULL default '0',
        meta_key varchar(255) default NULL, meta_value longtext,
        PRIMARY KEY (meta_id), KEY post_id (post_id), KEY meta_key (meta_key(191)))""",
]
_POST_TEXT = {"post_content": "", "post_title": "Order", "post_excerpt": "", "to_ping": "", "pinged": "", "post_content_filtered": ""}


class HposShop:
    """Orders written the way WooCommerce fills wc_order_stats and wc_order_addresses."""

    def __init__(self, conn, prefix):
        self.conn, self.p = conn, prefix
        for ddl in HPOS_DDL:
            conn.execute(sa.text(ddl.format(p=prefix)))

    def order(self, order_id, created, total, country, status="wc-completed"):
        self.conn.execute(sa.text(f"INSERT INTO {self.p}wc_order_stats (order_id, parent_id, date_created, date_created_gmt, total_sales, net_total, status, customer_id) "
                                  "VALUES (:id, 0, :at, :at, :total, :total, :status, 1)"), {"id": order_id, "at": created, "total": total, "status": status})
        self.conn.execute(sa.text(f"INSERT INTO {self.p}wc_order_addresses (order_id, address_type, country) VALUES (:id, 'billing', :c)"), {"id": order_id, "c": country})

    def refund(self, refund_id, order_id, when, amount):
        self.conn.execute(sa.text(f"INSERT INTO {self.p}wc_order_stats (order_id, parent_id, date_created, date_created_gmt, total_sales, net_total, status, customer_id) "
                                  "VALUES (:id, :parent, :at, :at, :total, :total, 'wc-completed', 1)"), {"id": refund_id, "parent": order_id, "at": when, "total": -amount})

    def edit(self, order_id, **values):
        sets = ", ".join(f"{k} = :{k}" for k in values)
        self.conn.execute(sa.text(f"UPDATE {self.p}wc_order_stats SET {sets} WHERE order_id = :id"), {"id": order_id, **values})


class LegacyShop:
    """Orders written the way WooCommerce fills posts and postmeta without HPOS."""

    def __init__(self, conn, prefix):
        self.conn, self.p = conn, prefix
        for ddl in LEGACY_DDL:
            conn.execute(sa.text(ddl.format(p=prefix)))

    def _post(self, post_id, kind, status, when, modified, parent=0):
        self.conn.execute(sa.text(
            f"INSERT INTO {self.p}posts (ID, post_date, post_date_gmt, post_status, post_modified, post_modified_gmt, post_parent, post_type, "
            f"{', '.join(_POST_TEXT)}) VALUES (:id, :at, :at, :status, :mod, :mod, :parent, :kind, {', '.join(':' + k for k in _POST_TEXT)})"),
            {"id": post_id, "at": when, "status": status, "mod": modified, "parent": parent, "kind": kind, **_POST_TEXT})

    def _meta(self, post_id, key, value):
        self.conn.execute(sa.text(f"INSERT INTO {self.p}postmeta (post_id, meta_key, meta_value) VALUES (:id, :k, :v)"), {"id": post_id, "k": key, "v": value})

    def order(self, order_id, created, total, country, status="wc-completed"):
        self._post(order_id, "shop_order", status, created, created)
        self._meta(order_id, "_order_total", f"{total:.2f}")
        self._meta(order_id, "_billing_country", country)
        self._meta(order_id, "_order_currency", "GBP")

    def refund(self, refund_id, order_id, when, amount):
        self._post(refund_id, "shop_order_refund", "wc-completed", when, when, parent=order_id)
        self._meta(refund_id, "_order_total", f"{-amount:.2f}")
        self._meta(refund_id, "_refund_amount", f"{amount:.2f}")
        self.touch(order_id, when)

    def touch(self, order_id, when, status=None, total=None):
        self.conn.execute(sa.text(f"UPDATE {self.p}posts SET post_modified = :m, post_modified_gmt = :m, post_status = COALESCE(:s, post_status) WHERE ID = :id"),
                          {"m": when, "s": status, "id": order_id})
        if total is not None:
            self.conn.execute(sa.text(f"UPDATE {self.p}postmeta SET meta_value = :v WHERE post_id = :id AND meta_key = '_order_total'"), {"v": f"{total:.2f}", "id": order_id})


def fill(shop, rows):
    """The sample's orders (naive UTC), one refund, one cancelled and one pending order; the expected net sales."""
    ids = []
    for row in rows.itertuples():
        shop.order(int(row.order_id), row.ordered_at.tz_localize(None).to_pydatetime(), row.amount, row.country)
        ids.append(int(row.order_id))
    shop.refund(800001, ids[1], dt.datetime(2011, 1, 5, 12), 6.5)
    return ids


def net(rows, minus=0.0):
    return round(rows["amount"].sum() - minus, 2)


def setup(mysql_url, tmp_path, schema, prefix):
    settings = parse({
        "store": {"url": f"sqlite:///{tmp_path / 'store.db'}"}, "series": {"by": ["billing_country"]},
        "source": {"kind": "woocommerce_db", "name": "wcdb", "url": mysql_url, "schema": schema, "table_prefix": prefix, "segments": ["billing_country"]},
    }, "test")
    store = Store(settings.store.url).create()
    return settings, store, Engine(settings, store, notifiers={})


def counted_total(store):
    orders = store.orders.load("wcdb")
    return round(orders.loc[orders["counted"], "amount"].sum(), 2), orders.set_index("order_id")


@pytest.mark.parametrize("schema, prefix, shop_class", [("hpos", "wp_", HposShop), ("legacy", "wpx_", LegacyShop)])
def test_sync_from_the_order_tables(mysql_url, tmp_path, schema, prefix, shop_class):
    rows = sample_orders(300)
    db = sa.create_engine(mysql_url)
    with db.begin() as conn:
        shop = shop_class(conn, prefix)
        ids = fill(shop, rows)
    settings, store, engine = setup(mysql_url, tmp_path, schema, prefix)
    assert engine.sync(AS_OF)
    total, stored = counted_total(store)
    assert total == net(rows, 6.5) and len(stored) == 301
    refund = stored.loc[f"{ids[1]}-refund-800001"]
    assert refund["amount"] == -6.5 and refund["status"] == "refunded" and str(refund["ordered_at"]).startswith("2011-01-05 12:00")
    assert stored.loc[str(ids[0]), "segments"] == '{"billing_country": "United Kingdom"}'

    edited_total = 321.0
    with db.begin() as conn:
        shop.conn = conn
        if schema == "hpos":
            shop.edit(ids[10], total_sales=edited_total, net_total=edited_total)
            shop.edit(ids[11], status="wc-cancelled")
        else:
            shop.touch(ids[10], dt.datetime(2011, 1, 25), total=edited_total)
            shop.touch(ids[11], dt.datetime(2011, 1, 25), status="wc-cancelled")
        shop.refund(800002, ids[12], dt.datetime(2011, 1, 25, 9), 3.0)
    watermark = store.orders.watermark("wcdb")
    if schema == "legacy":  # incremental: only the changed orders and their refunds are read
        batch = open_source(settings.source, "UTC").load(watermark, AS_OF)
        assert sorted(batch.orders["order_id"]) == sorted([str(ids[10]), str(ids[11]), str(ids[12]), f"{ids[12]}-refund-800002"])
        assert not batch.complete
    assert engine.sync(AS_OF)
    total, stored = counted_total(store)
    amounts = rows.set_index(rows["order_id"].astype(int))["amount"]
    expected = net(rows, 6.5 + 3.0) - amounts[ids[10]] + edited_total - amounts[ids[11]]
    assert total == pytest.approx(expected, abs=0.005) and len(stored) == 302
    assert not stored.loc[str(ids[11]), "counted"]
    assert not engine.sync(AS_OF)  # nothing changed
    store.close()
    db.dispose()


def test_missing_tables_are_a_clear_error(mysql_url, tmp_path):
    settings, store, engine = setup(mysql_url, tmp_path, "legacy", "nope_")
    with pytest.raises(InputError, match=r"source wcdb \(mysql\+pymysql://root@.*legacy tables nope_\*\): query failed: ProgrammingError: .*nope_posts"):
        engine.sync(AS_OF)
    store.close()
