"""The embedded customer sheet: a SQLite table whose columns are the sheet's headers.

Staff can add rows by hand (`sqlite3 .hub/hub.sqlite3`, or any SQLite browser), just as
they would type into the Google Sheet; the scheduled sync picks them up.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterator
from contextlib import contextmanager

from chalicelib.adapters.sheet_layout import EMAIL, HEADERS, STRIPE, from_cells, readable, rows_of, to_cells
from chalicelib.domain.customer import Customer, normalise_email
from chalicelib.plumbing.sqlite import Database
from chalicelib.ports import CustomerRows

_COLUMNS = ", ".join(f"\"{h}\" TEXT NOT NULL DEFAULT ''" for h in HEADERS)
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS sheet (row INTEGER PRIMARY KEY AUTOINCREMENT, {_COLUMNS});
CREATE UNIQUE INDEX IF NOT EXISTS sheet_email ON sheet (lower(trim("{EMAIL}")));
"""


class SqliteSheet:
    """`CustomerSheet` on the embedded database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.script(SCHEMA)
        # A sheet made by an older hub lacks the columns added since (as Google Sheets
        # gets its missing headers appended).
        have = {r["name"] for r in db.query("PRAGMA table_info(sheet)")}
        for header in HEADERS:
            if header not in have:
                try:
                    db.script(f"ALTER TABLE sheet ADD COLUMN \"{header}\" TEXT NOT NULL DEFAULT ''")
                except sqlite3.OperationalError as exc:  # another process added it first
                    if "duplicate column" not in str(exc):
                        raise

    def _one(self, where: str, value: str) -> Customer | None:
        rows = self.db.query(f"SELECT * FROM sheet WHERE {where} ORDER BY row LIMIT 1", (value,))
        return from_cells(dict(rows[0])) if rows else None

    def get(self, email: str) -> Customer | None:
        key = normalise_email(email)
        return self._one(f'lower(trim("{EMAIL}")) = ?', key) if key else None

    def find_by_stripe_customer(self, stripe_customer: str) -> Customer | None:
        """The first row with this Stripe id; none for an empty id (rows typed by hand have none)."""
        wanted = (stripe_customer or "").strip()
        return self._one(f'trim("{STRIPE}") = ?', wanted) if wanted else None

    def save(self, customer: Customer) -> bool:
        with self.db.transaction() as conn:
            return _upsert(conn, customer)

    @contextmanager
    def edit(self, emails: Collection[str], stripe_customers: Collection[str] = ()) -> Iterator[CustomerRows]:
        """The rows of these emails and Stripe ids in one query; the changed ones written in
        one transaction when the block ends."""
        keys = sorted({normalise_email(e) for e in emails})
        ids = sorted(set(stripe_customers))
        where = " OR ".join(
            part
            for part, values in (
                (f'lower(trim("{EMAIL}")) IN ({", ".join("?" * len(keys))})', keys),
                (f'"{STRIPE}" IN ({", ".join("?" * len(ids))})', ids),
            )
            if values
        )
        found = self.db.query(f"SELECT * FROM sheet WHERE {where} ORDER BY row", (*keys, *ids)) if where else []
        rows = rows_of(dict(r) for r in found)
        yield rows
        changed = rows.changed()
        if changed:
            with self.db.transaction() as conn:
                for customer in changed:
                    _upsert(conn, customer)

    def change_email(self, old_email: str, new_email: str) -> bool:
        with self.db.transaction() as conn:
            done = conn.execute(
                f'UPDATE sheet SET "{EMAIL}" = ? WHERE lower(trim("{EMAIL}")) = ?',
                (normalise_email(new_email), normalise_email(old_email)),
            )
        return done.rowcount > 0

    def all(self) -> list[Customer]:
        """Every row with an email, in sheet order (a row typed by hand may have none yet);
        a row whose Status the hub cannot read is left out (`readable`)."""
        rows = self.db.query(f"SELECT * FROM sheet WHERE trim(\"{EMAIL}\") != '' ORDER BY row")
        return readable(dict(r) for r in rows)

    def ping(self) -> str:
        count = self.db.query("SELECT COUNT(*) AS n FROM sheet")[0]["n"]
        return f"embedded sheet, {count} rows"


def _upsert(conn: sqlite3.Connection, customer: Customer) -> bool:
    """Write the customer's row (by email, trimmed and lower-cased); True when it was added."""
    cells = to_cells(customer)
    cells[EMAIL] = normalise_email(customer.email)
    names = ", ".join(f'"{h}"' for h in HEADERS)
    marks = ", ".join("?" for _ in HEADERS)
    updates = ", ".join(f'"{h}" = excluded."{h}"' for h in HEADERS if h != EMAIL)
    existed = conn.execute(f'SELECT 1 FROM sheet WHERE lower(trim("{EMAIL}")) = ?', (cells[EMAIL],)).fetchone()
    conn.execute(
        f'INSERT INTO sheet ({names}) VALUES ({marks}) ON CONFLICT (lower(trim("{EMAIL}"))) DO UPDATE SET {updates}',
        tuple(cells[h] for h in HEADERS),
    )
    return existed is None
