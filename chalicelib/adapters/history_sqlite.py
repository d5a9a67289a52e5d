"""The embedded `EventHistory`: three tables in the runtime's SQLite database.

`history_events` (one row per event), `history_steps` (its story, in order) and
`history_keys` (the search keys: email digest, provider ids). Rows older than the
retention are pruned by the writer, at most once an hour.
"""

from __future__ import annotations

import sqlite3
import time

from chalicelib.domain.history import (
    DEFAULT_DAYS,
    STATUS_AFTER,
    Entry,
    EventRecord,
    Step,
    Story,
    event_status,
    search_keys,
)
from chalicelib.plumbing.sqlite import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS history_events (
    event_id TEXT PRIMARY KEY,
    provider TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL DEFAULT '',
    received_at REAL NOT NULL,
    status TEXT NOT NULL,
    who TEXT NOT NULL DEFAULT '',
    ref TEXT NOT NULL DEFAULT '',
    parent TEXT NOT NULL DEFAULT '',
    known INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS history_events_time ON history_events (received_at);
CREATE INDEX IF NOT EXISTS history_events_parent ON history_events (parent);
CREATE TABLE IF NOT EXISTS history_steps (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    at REAL NOT NULL,
    step TEXT NOT NULL,
    detail TEXT NOT NULL,
    letter_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS history_steps_event ON history_steps (event_id, seq);
CREATE TABLE IF NOT EXISTS history_keys (
    key TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (key, event_id)
);
"""

_COLUMNS = "event_id, provider, kind, received_at, status, who, ref, parent"
PRUNE_EVERY = 3600.0


def _record(row: sqlite3.Row, steps: tuple[Step, ...] = ()) -> EventRecord:
    return EventRecord(
        event_id=row["event_id"],
        provider=row["provider"],
        kind=row["kind"],
        received_at=row["received_at"],
        status=event_status(row["status"]),
        who=row["who"],
        ref=row["ref"],
        parent=row["parent"],
        steps=steps,
    )


class SqliteHistory:
    """The event history of the embedded runtime."""

    def __init__(self, db: Database, days: int = DEFAULT_DAYS) -> None:
        self.db = db
        self.days = days
        self._pruned_at = 0.0
        db.script(SCHEMA)

    def received(self, entry: Entry) -> bool:
        r = entry.record
        with self.db.transaction() as conn:
            row = conn.execute("SELECT known FROM history_events WHERE event_id = ?", (r.event_id,)).fetchone()
            if row is not None and row["known"]:
                return False
            if row is None:
                conn.execute(
                    f"INSERT INTO history_events ({_COLUMNS}, known) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)",
                    (r.event_id, r.provider, r.kind, r.received_at, r.status, r.who, r.ref, r.parent),
                )
            else:  # a step got here first (the consumer outran the door's record)
                conn.execute(
                    "UPDATE history_events SET provider = ?, kind = ?, received_at = ?, who = ?, ref = ?,"
                    " parent = ?, known = 1 WHERE event_id = ?",
                    (r.provider, r.kind, r.received_at, r.who, r.ref, r.parent, r.event_id),
                )
            conn.execute(
                "INSERT INTO history_steps (event_id, at, step, detail) VALUES (?, ?, 'received', ?)",
                (r.event_id, r.received_at, f"{r.kind} from {r.provider}"),
            )
            conn.executemany(
                "INSERT OR IGNORE INTO history_keys (key, event_id) VALUES (?, ?)",
                [(key, r.event_id) for key in entry.keys],
            )
        self._prune()
        return True

    def add_step(self, event_id: str, step: Step) -> None:
        status = STATUS_AFTER.get(step.step)
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO history_events (event_id, received_at, status) VALUES (?, ?, ?)",
                (event_id, step.at, status or "queued"),
            )
            if status:
                conn.execute("UPDATE history_events SET status = ? WHERE event_id = ?", (status, event_id))
            conn.execute(
                "INSERT INTO history_steps (event_id, at, step, detail, letter_id) VALUES (?, ?, ?, ?, ?)",
                (event_id, step.at, step.step, step.detail, step.letter_id),
            )

    def search(self, query: str = "", limit: int = 50) -> list[EventRecord]:
        q = query.strip()
        if not q:
            rows = self.db.query(
                f"SELECT {_COLUMNS} FROM history_events ORDER BY received_at DESC, event_id LIMIT ?", (limit,)
            )
        else:
            keys = search_keys(q)
            marks = ",".join("?" * len(keys))
            rows = self.db.query(
                f"SELECT {_COLUMNS} FROM history_events WHERE event_id = ?"
                f" OR event_id IN (SELECT event_id FROM history_keys WHERE key IN ({marks}))"
                " ORDER BY received_at DESC, event_id LIMIT ?",
                (q, *keys, limit),
            )
        return [_record(r) for r in rows]

    def story(self, event_id: str) -> Story | None:
        rows = self.db.query(f"SELECT {_COLUMNS} FROM history_events WHERE event_id = ?", (event_id,))
        if not rows:
            return None
        children = self.db.query(
            f"SELECT {_COLUMNS} FROM history_events WHERE parent = ? ORDER BY received_at, event_id", (event_id,)
        )
        return Story(
            event=_record(rows[0], self._steps(event_id)),
            children=tuple(_record(c, self._steps(c["event_id"])) for c in children),
        )

    def _steps(self, event_id: str) -> tuple[Step, ...]:
        rows = self.db.query(
            "SELECT at, step, detail, letter_id FROM history_steps WHERE event_id = ? ORDER BY at, seq", (event_id,)
        )
        return tuple(Step(r["at"], r["step"], r["detail"], r["letter_id"]) for r in rows)

    def counts_per_day(self, days: int) -> dict[str, dict[str, int]]:
        since = time.time() - days * 86400
        out: dict[str, dict[str, int]] = {}
        for sql, name in (
            (
                "SELECT date(received_at, 'unixepoch') AS day, COUNT(*) AS n FROM history_events"
                " WHERE known = 1 AND received_at >= ? GROUP BY day",
                "received",
            ),
            (
                "SELECT date(at, 'unixepoch') AS day, COUNT(*) AS n FROM history_steps"
                " WHERE step = 'dead letter' AND at >= ? GROUP BY day",
                "dead letter",
            ),
        ):
            for row in self.db.query(sql, (since,)):
                out.setdefault(row["day"], {"received": 0, "dead letter": 0})[name] = row["n"]
        return dict(sorted(out.items()))

    def _prune(self) -> None:
        """Forget events older than the retention (at most once per `PRUNE_EVERY`)."""
        now = time.time()
        if now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        cutoff = now - self.days * 86400
        with self.db.transaction() as conn:
            old = "SELECT event_id FROM history_events WHERE received_at < ?"
            conn.execute(f"DELETE FROM history_steps WHERE event_id IN ({old})", (cutoff,))
            conn.execute(f"DELETE FROM history_keys WHERE event_id IN ({old})", (cutoff,))
            conn.execute("DELETE FROM history_events WHERE received_at < ?", (cutoff,))
