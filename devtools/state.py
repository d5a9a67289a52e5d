"""Read-only views of what the embedded runtime wrote under `HUB_STATE_DIR`
(the demo's report, and the end-to-end tests' assertions)."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path


class State:
    """Read-only views of what the hub wrote under its state folder."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir

    def _db(self):
        conn = sqlite3.connect(f"file:{self.dir / 'hub.sqlite3'}?mode=ro", uri=True, timeout=10)
        conn.row_factory = sqlite3.Row
        return conn

    def _rows(self, sql: str) -> list[dict]:
        if not (self.dir / "hub.sqlite3").exists():
            return []
        with closing(self._db()) as conn:
            try:
                return [dict(r) for r in conn.execute(sql)]
            except Exception as exc:  # a table the hub has not created yet
                if "no such table" in str(exc):
                    return []
                raise

    def customers(self) -> list[dict]:
        return self._rows("SELECT * FROM sheet ORDER BY row")

    def customer(self, email: str) -> dict | None:
        return next((c for c in self.customers() if c["Email"].strip().lower() == email), None)

    def orders(self) -> list[dict]:
        return self._rows(
            "SELECT o.client_order_ref, o.state, p.email, pr.default_code FROM stock_orders o"
            " JOIN stock_partners p ON p.id = o.partner_id JOIN stock_products pr ON pr.id = o.product_id"
        )

    def emails(self) -> list[Path]:
        folder = self.dir / "outbox" / "mail"
        return sorted(folder.glob("*.eml")) if folder.exists() else []

    def slack(self) -> list[dict]:
        path = self.dir / "outbox" / "slack.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def queued(self) -> int:
        return len(self._rows("SELECT id FROM messages"))

    def dead_letters(self) -> list[dict]:
        return self._rows("SELECT * FROM dead_letters WHERE state = 'dead'")
