"""The embedded runtime's one SQLite database, shared by its threads, with the
runtime's own tables (queue messages, dead letters, the door's idempotency keys).

The embedded adapters (sheet, stock ledger, mail log) keep their tables in the same
file and create them with `Database.script`.

One connection per thread (sqlite3 connections are not shared across threads), WAL so
readers never block the writer, `synchronous=FULL` so a queued event survives even a
power cut, and a busy timeout so concurrent writers wait instead of failing.

Writers queue on a lock of their own (a thread lock, then `flock` on `<db>.writer` for
the other processes on the file: the dispatcher's, the CLI's) before `BEGIN IMMEDIATE`,
rather than on SQLite's busy handler: that one sleeps 1, 2, 5 … 100 ms between attempts,
so under eight concurrent webhooks one unlucky writer kept losing the race for seconds
(ack p99 over 1 s). A waiter on the lock is woken the moment the writer before it commits.

A transaction opened inside another joins it (as a savepoint): the door's idempotency
key, its history line and its queued message commit together, with one fsync, not four.

The WAL is checkpointed by a thread of its own every `CHECKPOINT_EVERY` commits, not by
SQLite's automatic checkpoint: that one runs inside the COMMIT that crosses 1,000 pages,
so once every ~150 webhooks one of them (and every writer queued behind it) waited for
the copy back into the database and its fsync.
"""

from __future__ import annotations

import contextlib
import fcntl
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

# Commits (of one process) between two checkpoints; a webhook writes about 6 pages.
CHECKPOINT_EVERY = 100

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
        self._writer = threading.Lock()
        self._writer_file: IO[bytes] | None = None
        self._commits = 0
        self._checkpoint_due = threading.Event()
        self._checkpointer: threading.Thread | None = None
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
            conn.execute("PRAGMA wal_autocheckpoint=0")  # `_checkpoints` does it, outside any commit
            self._local.conn = conn
        return conn

    @contextmanager
    def _write_lock(self) -> Iterator[None]:
        """This process's turn to write: first among its threads, then among processes."""
        with self._writer:
            if self._writer_file is None:
                self._writer_file = open(self.path.with_name(self.path.name + ".writer"), "ab")  # noqa: SIM115 - kept for the Database's life
            fcntl.flock(self._writer_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._writer_file, fcntl.LOCK_UN)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed on success, rolled back on any error.

        Inside another transaction of the same thread it is a savepoint of it: its own
        error undoes only its own writes, and it is committed with the outer one."""
        conn = self.connection()
        depth: int = getattr(self._local, "depth", 0)
        if depth:
            yield from self._savepoint(conn, depth)
            return
        with self._write_lock():
            conn.execute("BEGIN IMMEDIATE")
            self._local.depth, self._local.after = 1, []
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                # Also when COMMIT itself fails (disk full): a connection left inside its
                # transaction would hold the write lock and stall every other thread.
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                self._local.after = []
                raise
            finally:
                self._local.depth = 0
            self._count_commit()
        callbacks, self._local.after = self._local.after, []
        for callback in callbacks:
            callback()

    def _savepoint(self, conn: sqlite3.Connection, depth: int) -> Iterator[sqlite3.Connection]:
        name = f"nested{depth}"
        conn.execute(f"SAVEPOINT {name}")
        self._local.depth = depth + 1
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:  # not when SQLite itself rolled the whole one back (disk full)
                conn.execute(f"ROLLBACK TO {name}")
            raise
        finally:
            if conn.in_transaction:
                conn.execute(f"RELEASE {name}")
            self._local.depth = depth

    def _count_commit(self) -> None:
        """Called under the writer lock: every `CHECKPOINT_EVERY` commits, wake the checkpointer."""
        self._commits += 1
        if self._commits % CHECKPOINT_EVERY:
            return
        if self._checkpointer is None:
            self._checkpointer = threading.Thread(target=self._checkpoints, name="sqlite-checkpoint", daemon=True)
            self._checkpointer.start()
        self._checkpoint_due.set()

    def _checkpoints(self) -> None:
        """Copy the WAL back into the database (PASSIVE: writers go on meanwhile)."""
        while True:
            self._checkpoint_due.wait()
            self._checkpoint_due.clear()
            # Busy or failing now: the next one copies what this one left.
            with contextlib.suppress(sqlite3.Error):
                self.connection().execute("PRAGMA wal_checkpoint(PASSIVE)")

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once this thread's transaction has committed (at once outside
        one; never if it rolls back): wake a consumer only when its message is there."""
        if getattr(self._local, "depth", 0):
            self._local.after.append(callback)
        else:
            callback()

    def script(self, sql: str) -> None:
        """Schema statements (each commits on its own), so never inside a transaction."""
        if getattr(self._local, "depth", 0):
            raise RuntimeError("Database.script inside a transaction would commit it: build the adapter before")
        with self._write_lock():
            self.connection().executescript(sql)

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        return self.connection().execute(sql, params).fetchall()
