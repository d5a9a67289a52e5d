"""The `Queue` port of the embedded runtime: SQS semantics on SQLite (at-least-once
delivery, visibility timeout, receive count, per-queue dedupe of messages still
waiting, and the redrive of a message that keeps crashing its consumer)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.dead_letters import letter_id
from chalicelib.plumbing.sqlite import Database

VISIBILITY_TIMEOUT = 30.0


@dataclass(frozen=True)
class Received:
    """One delivery of a message: SQS's record, as the dispatcher hands it on."""

    id: str
    queue: str
    body: str
    receipt: str
    receive_count: int
    sent_at: float
    first_received_at: float


class SqliteQueue:
    """The `Queue` port of the embedded runtime, and what its dispatcher uses.

    Its dead letters are `SqliteDeadLetters`, on the same database.
    """

    def __init__(
        self, db: Database, visibility_timeout: float = VISIBILITY_TIMEOUT, clock: Callable[[], float] = time.time
    ) -> None:
        self.db = db
        self.visibility_timeout = visibility_timeout
        self.clock = clock  # the wall clock; tests replace it to live through a day of retries
        _add_first_received_at(db)
        # One per queue, set whenever a message is sent to it, so its idle consumer wakes at once.
        self._wakeups: dict[str, threading.Event] = {}
        self._wakeups_lock = threading.Lock()
        # Told too (the queue's name) when the consumers live in another process (`worker`).
        self.listeners: list[Callable[[str], None]] = []

    # --- Queue port ------------------------------------------------------------

    def send(self, queue: str, body: dict[str, Any], dedupe_id: str) -> None:
        now = self.clock()
        with self.db.transaction() as conn:
            # A message with the same dedupe id still waiting in this queue makes this a no-op.
            conn.execute(
                "INSERT OR IGNORE INTO messages (id, queue, body, dedupe_id, sent_at, visible_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (str(uuid.uuid4()), queue, json.dumps(body), dedupe_id, now, now),
            )
        # Once committed (the door sends inside its own transaction): a consumer woken
        # before would find nothing and doze off again.
        self.db.after_commit(lambda: self.notify(queue))

    def retry_later(self, queue: str, receipt: str, delay: float) -> None:
        """Hide a failed delivery for `delay` seconds (SQS ChangeMessageVisibility)."""
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE messages SET visible_at = ? WHERE queue = ? AND receipt = ?",
                (self.clock() + delay, queue, receipt),
            )

    # --- what the dispatcher uses ---------------------------------------------------

    def notify(self, queue: str) -> None:
        """A message was queued to `queue`: wake its consumers, here and in the dispatcher's process."""
        self.wakeup(queue).set()
        for listener in self.listeners:
            listener(queue)

    def wakeup(self, queue: str) -> threading.Event:
        """The event set when a message is sent to `queue` (its consumer clears it)."""
        with self._wakeups_lock:
            return self._wakeups.setdefault(queue, threading.Event())

    def receive(self, queue: str, max_messages: int) -> list[Received]:
        """Up to `max_messages` visible messages, each hidden for the visibility timeout."""
        now = self.clock()
        out: list[Received] = []
        with self.db.transaction() as conn:
            rows = conn.execute(
                "SELECT id, body, receive_count, sent_at, first_received_at FROM messages"
                " WHERE queue = ? AND visible_at <= ? ORDER BY sent_at LIMIT ?",
                (queue, now, max_messages),
            ).fetchall()
            for row in rows:
                receipt = uuid.uuid4().hex
                first = row["first_received_at"] or now
                conn.execute(
                    "UPDATE messages SET visible_at = ?, receive_count = receive_count + 1, receipt = ?,"
                    " first_received_at = ? WHERE id = ?",
                    (now + self.visibility_timeout, receipt, first, row["id"]),
                )
                out.append(
                    Received(row["id"], queue, row["body"], receipt, row["receive_count"] + 1, row["sent_at"], first)
                )
        return out

    def delete(self, queue: str, receipt: str) -> None:
        """Remove a processed message; a stale receipt (redelivered since) deletes nothing."""
        self.delete_many(queue, [receipt])

    def delete_many(self, queue: str, receipts: list[str]) -> None:
        """Remove a batch's processed messages in one transaction (one write, not ten)."""
        if not receipts:
            return
        with self.db.transaction() as conn:
            conn.executemany("DELETE FROM messages WHERE queue = ? AND receipt = ?", [(queue, r) for r in receipts])

    def redrive(self, queue: str, receipt: str, reason: str, step: str) -> None:
        """Move a delivery to the dead letters in one transaction (SQS's redrive policy)."""
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT id, body FROM messages WHERE queue = ? AND receipt = ?", (queue, receipt)
            ).fetchone()
            if row is None:
                return
            conn.execute("DELETE FROM messages WHERE queue = ? AND receipt = ?", (queue, receipt))
            conn.execute(
                "INSERT OR IGNORE INTO dead_letters (id, queue, body, reason, step, failed_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (letter_id(row["id"]), queue, row["body"], reason, step, self.clock()),
            )

    def release_all(self) -> int:
        """Make every in-flight message visible now: called once at start, by the only
        dispatcher, since the deliveries of a killed process will never finish."""
        with self.db.transaction() as conn:
            return conn.execute(
                "UPDATE messages SET visible_at = ? WHERE visible_at > ? AND receipt IS NOT NULL",
                (self.clock(), self.clock()),
            ).rowcount

    def next_visible_at(self, queues: list[str]) -> float | None:
        marks = ",".join("?" * len(queues))
        row = self.db.query(f"SELECT MIN(visible_at) AS t FROM messages WHERE queue IN ({marks})", tuple(queues))
        return row[0]["t"] if row else None

    def depth(self) -> dict[str, int]:
        """Messages waiting or in flight, by queue."""
        return {r["queue"]: r["n"] for r in self.db.query("SELECT queue, COUNT(*) AS n FROM messages GROUP BY queue")}

    def oldest_ages(self) -> dict[str, float]:
        """Seconds the oldest message of each non-empty queue has been waiting."""
        rows = self.db.query("SELECT queue, MIN(sent_at) AS t FROM messages GROUP BY queue")
        now = time.time()
        return {r["queue"]: max(0.0, now - r["t"]) for r in rows}


def _add_first_received_at(db: Database) -> None:
    """The column SQS calls `ApproximateFirstReceiveTimestamp`: the redelivery policy
    counts how long a message has been failing from it. Added to databases made before it."""
    columns = {row["name"] for row in db.query("PRAGMA table_info(messages)")}
    if "first_received_at" not in columns:
        with db.transaction() as conn:
            conn.execute("ALTER TABLE messages ADD COLUMN first_received_at REAL")
