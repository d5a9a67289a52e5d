"""The `DeadLetters` port of the embedded runtime: the `dead_letters` table of the one
SQLite database, beside the queue's `messages` (so a replay is one transaction)."""

from __future__ import annotations

import builtins
import json
import uuid
from typing import Any

from chalicelib.dead_letters import letter_id
from chalicelib.plumbing.sqlite import Database
from chalicelib.ports import DeadLetter
from chalicelib.runtime.embedded.queue import SqliteQueue


class SqliteDeadLetters:
    """Parked messages with their reasons; replays go back on `queue`'s table, atomically."""

    def __init__(self, db: Database, queue: SqliteQueue) -> None:
        self.db = db
        self.queue = queue

    def park(self, queue: str, body: dict[str, Any], reason: str, step: str, message_id: str = "") -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO dead_letters (id, queue, body, reason, step, failed_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (letter_id(message_id), queue, json.dumps(body), reason, step, self.queue.clock()),
            )

    def list(self) -> builtins.list[DeadLetter]:
        rows = self.db.query("SELECT * FROM dead_letters WHERE state = 'dead' ORDER BY failed_at, id")
        return [
            DeadLetter(r["id"], r["queue"], json.loads(r["body"]), r["reason"], r["step"], r["failed_at"]) for r in rows
        ]

    def replay(self, letter_id: str) -> bool:
        now = self.queue.clock()
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT queue, body FROM dead_letters WHERE id = ? AND state = 'dead'", (letter_id,)
            ).fetchone()
            if row is None:
                return False
            conn.execute("UPDATE dead_letters SET state = 'replayed', resolved_at = ? WHERE id = ?", (now, letter_id))
            conn.execute(
                "INSERT OR IGNORE INTO messages (id, queue, body, dedupe_id, sent_at, visible_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (str(uuid.uuid4()), row["queue"], row["body"], f"replay:{letter_id}", now, now),
            )
        self.queue.notify(row["queue"])
        return True

    def discard(self, letter_id: str, reason: str) -> bool:
        with self.db.transaction() as conn:
            return (
                conn.execute(
                    "UPDATE dead_letters SET state = 'discarded', note = ?, resolved_at = ?"
                    " WHERE id = ? AND state = 'dead'",
                    (reason, self.queue.clock(), letter_id),
                ).rowcount
                == 1
            )
