"""Rebuild forecaster/sample/online_retail_orders.csv.gz from the UCI Online Retail data.

One row per invoice: order_id, ordered_at (UK local time), amount (sum of Quantity x UnitPrice),
status (``refunded`` for cancellation invoices, whose numbers start with C), country.
Source: Daqing Chen, "Online Retail", UCI Machine Learning Repository, doi:10.24432/C5BW33 (CC BY 4.0).

    python benchmarks/make_demo_sample.py [path/to/online_retail_2010_2011.parquet]
"""

import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared/data/online_retail/online_retail_2010_2011.parquet"
TARGET = ROOT / "forecaster/sample/online_retail_orders.csv.gz"


def main(source: Path) -> None:
    lines = pd.read_parquet(source)
    lines["amount"] = lines["Quantity"] * lines["UnitPrice"]
    orders = lines.groupby("InvoiceNo").agg(ordered_at=("InvoiceDate", "min"), amount=("amount", "sum"), country=("Country", "first")).reset_index()
    orders["status"] = orders["InvoiceNo"].str.startswith("C").map({True: "refunded", False: "completed"})
    orders["amount"] = orders["amount"].round(2)
    orders = orders.rename(columns={"InvoiceNo": "order_id"}).sort_values(["ordered_at", "order_id"])
    orders[["order_id", "ordered_at", "amount", "status", "country"]].to_csv(TARGET, index=False, compression="gzip")
    print(f"{len(orders)} orders, total {orders['amount'].sum():,.2f} -> {TARGET}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else SOURCE)
