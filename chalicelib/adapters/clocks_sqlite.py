"""The embedded `CustomerClocks`: one JSON clock per customer email in the hub's SQLite."""

from __future__ import annotations

import json
import time

from chalicelib.domain.customer import normalise_email
from chalicelib.domain.precedence import Clock
from chalicelib.plumbing.sqlite import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS customer_clocks (email TEXT PRIMARY KEY, clock TEXT NOT NULL, updated_at REAL NOT NULL);
"""


class SqliteClocks:
    """`CustomerClocks` on the embedded database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.script(SCHEMA)

    def get(self, email: str) -> Clock:
        rows = self.db.query("SELECT clock FROM customer_clocks WHERE email = ?", (normalise_email(email),))
        return Clock.from_dict(json.loads(rows[0]["clock"])) if rows else Clock()

    def put(self, email: str, clock: Clock) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO customer_clocks (email, clock, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (email) DO UPDATE SET clock = excluded.clock, updated_at = excluded.updated_at",
                (normalise_email(email), json.dumps(clock.to_dict()), time.time()),
            )
