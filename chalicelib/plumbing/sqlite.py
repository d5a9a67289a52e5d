"""The embedded runtime's one SQLite database, shared by its threads, with the
runtime's own tables (queue messages, dead letters, the door's idempotency keys).

The embedded adapters (sheet, stock ledger, mail log) keep their tables in the same
file and create them with `Database.script`.

One connection per thread (sqlite3 connections are not shared across threads), WAL so
readers never block the writer, `synchronous=FULL` so a queued event survives even a
power cut, and a busy timeout so concurrent writers wait instead of failing.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY,
    queue TEXT NOT NULL,
    body TEXT NOT NULL,
    dedupe_id TEXT,
    sent_at REAL NOT NULL,
    visible_at REAL NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt TEXT
);
CREATE INDEX IF NOT EXISTS messages_ready ON messages (queue, visible_at);
CREATE UNIQUE INDEX IF NOT EXISTS messages_dedupe ON messages (queue, dedupe_id);

CREATE TABLE IF NOT EXISTS dead_letters (
    id TEXT PRIMARY KEY,
    queue TEXT NOT NULL,
    body TEXT NOT NULL,
    reason TEXT NOT NULL,
    step TEXT NOT NULL,
    failed_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'dead',
    note TEXT NOT NULL DEFAULT '',
    resolved_at REAL
);

CREATE TABLE IF NOT EXISTS idempotency (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    expiry INTEGER NOT NULL,
    in_progress_expiry INTEGER,
    data TEXT,
    validation TEXT
);
"""


class Database:
    """A SQLite file under `HUB_STATE_DIR`, with the runtime's tables."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self.script(SCHEMA)

    def connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # isolation_level=None: we open transactions ourselves, with BEGIN IMMEDIATE,
            # so a read-then-write never loses a race to another thread.
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed on success, rolled back on any error."""
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            # Also when COMMIT itself fails (disk full): a connection left inside its
            # transaction would hold the write lock and stall every other thread.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def script(self, sql: str) -> None:
        self.connection().executescript(sql)

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        return self.connection().execute(sql, params).fetchall()
