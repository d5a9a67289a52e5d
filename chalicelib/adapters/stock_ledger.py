"""The embedded stock ledger: Odoo's records that the hub touches, on SQLite.

It keeps Odoo's shape on purpose (partners, products by `default_code`, sale orders
with a non-unique `client_order_ref` and a draft/sale state), so the flow's
search-before-create and confirm-after-crash logic is exercised the same way here.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from chalicelib.domain.catalog import Catalog
from chalicelib.domain.customer import Customer, normalise_email
from chalicelib.domain.words import plural
from chalicelib.errors import PermanentError
from chalicelib.plumbing.sqlite import Database
from chalicelib.ports import OrderSummary, StockOrder

SCHEMA = """
CREATE TABLE IF NOT EXISTS stock_partners (
    id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT NOT NULL, name TEXT, address TEXT
);
CREATE TABLE IF NOT EXISTS stock_products (
    id INTEGER PRIMARY KEY AUTOINCREMENT, default_code TEXT NOT NULL UNIQUE, name TEXT
);
CREATE TABLE IF NOT EXISTS stock_orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    partner_id INTEGER NOT NULL REFERENCES stock_partners (id),
    product_id INTEGER NOT NULL REFERENCES stock_products (id),
    product_uom_qty INTEGER NOT NULL,
    client_order_ref TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'draft',
    created_at REAL NOT NULL
);
"""


class StockLedger:
    """`StockSystem` on the embedded database; its products are the catalog's boxes."""

    def __init__(self, db: Database, catalog: Catalog) -> None:
        self.db = db
        db.script(SCHEMA)
        with db.transaction() as conn:
            for box in catalog.boxes:
                conn.execute(
                    "INSERT OR IGNORE INTO stock_products (default_code, name) VALUES (?, ?)", (box.sku, box.name)
                )

    def find_order(self, ref: str) -> StockOrder | None:
        """A confirmed order of `ref` if any, else the oldest (as Odoo's adapter chooses)."""
        return _pick(self.db.query(_BY_REF, (ref,)))

    def ensure_partner(self, customer: Customer) -> int:
        """The oldest partner with the customer's email (trimmed, any case), else a new one."""
        email = normalise_email(customer.email)
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT id FROM stock_partners WHERE lower(trim(email)) = ? ORDER BY id", (email,)
            ).fetchone()
            if row:
                return int(row["id"])
            return _inserted(
                conn.execute(
                    "INSERT INTO stock_partners (email, name, address) VALUES (?, ?, ?)",
                    (email, customer.name or email, customer.address),
                )
            )

    def create_order(self, partner_id: int, sku: str, ref: str) -> StockOrder:
        """As Odoo's adapter: when `ref` has an order already (a concurrent delivery made it
        between the flow's search and this create), that one is returned, not a second."""
        with self.db.transaction() as conn:
            product = conn.execute("SELECT id FROM stock_products WHERE default_code = ?", (sku,)).fetchone()
            if product is None:
                raise PermanentError(f"no product with internal reference {sku!r} in stock")
            existing = _pick(conn.execute(_BY_REF, (ref,)).fetchall())
            if existing is not None:
                return existing
            order_id = _inserted(
                conn.execute(
                    "INSERT INTO stock_orders (partner_id, product_id, product_uom_qty, client_order_ref, created_at)"
                    " VALUES (?, ?, 1, ?, ?)",
                    (partner_id, product["id"], ref, time.time()),
                )
            )
        return StockOrder(order_id, confirmed=False)

    def confirm_order(self, order_id: int) -> None:
        """Harmless on a confirmed order; a `PermanentError` for one that does not exist."""
        with self.db.transaction() as conn:
            done = conn.execute("UPDATE stock_orders SET state = 'sale' WHERE id = ?", (order_id,))
        if done.rowcount == 0:
            raise PermanentError(f"no sale order {order_id} in stock to confirm")

    def orders(self) -> list[dict[str, Any]]:
        """Every order with its partner's email and product: for the demo and the tests."""
        rows = self.db.query(
            "SELECT o.id, o.client_order_ref, o.state, o.product_uom_qty, p.email, pr.default_code"
            " FROM stock_orders o JOIN stock_partners p ON p.id = o.partner_id"
            " JOIN stock_products pr ON pr.id = o.product_id ORDER BY o.id"
        )
        return [dict(r) for r in rows]

    def recent_orders(self, limit: int) -> list[OrderSummary]:
        rows = self.db.query(
            "SELECT o.client_order_ref, o.state, o.created_at, p.name, p.email, pr.default_code"
            " FROM stock_orders o JOIN stock_partners p ON p.id = o.partner_id"
            " JOIN stock_products pr ON pr.id = o.product_id ORDER BY o.id DESC LIMIT ?",
            (limit,),
        )
        return [
            OrderSummary(
                ref=r["client_order_ref"],
                customer=r["name"] or r["email"],
                product=r["default_code"],
                state=r["state"],
                created=time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r["created_at"])),
            )
            for r in rows
        ]

    def ping(self) -> str:
        return f"embedded stock ledger, {plural(len(self.orders()), 'order')}"


_BY_REF = "SELECT id, state FROM stock_orders WHERE client_order_ref = ? ORDER BY state = 'sale' DESC, id"


def _pick(rows: list[sqlite3.Row]) -> StockOrder | None:
    return StockOrder(int(rows[0]["id"]), rows[0]["state"] == "sale") if rows else None


def _inserted(cursor: sqlite3.Cursor) -> int:
    """The row id an INSERT gave (sqlite3 types it optional: it is set after any INSERT)."""
    assert cursor.lastrowid is not None
    return cursor.lastrowid
