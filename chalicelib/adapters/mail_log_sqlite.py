"""The embedded `MailLog`: who was sent which campaign, and who unsubscribed."""

from __future__ import annotations

import time

from chalicelib.plumbing.sqlite import Database
from chalicelib.ports import Claim, MailStatus

SCHEMA = """
CREATE TABLE IF NOT EXISTS mail_log (
    email TEXT NOT NULL, campaign TEXT NOT NULL, status TEXT NOT NULL, updated_at REAL NOT NULL,
    PRIMARY KEY (email, campaign)
);
CREATE TABLE IF NOT EXISTS suppressions (email TEXT PRIMARY KEY, at REAL NOT NULL);
"""


class SqliteMailLog:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.script(SCHEMA)

    def status(self, email: str, campaign: str) -> MailStatus | None:
        rows = self.db.query("SELECT status FROM mail_log WHERE email = ? AND campaign = ?", (email, campaign))
        return rows[0]["status"] if rows else None

    def claim(self, email: str, campaign: str, lease_seconds: float) -> Claim:
        now = time.time()
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT status, updated_at FROM mail_log WHERE email = ? AND campaign = ?", (email, campaign)
            ).fetchone()
            if row and row["status"] == "sent":
                return "sent"
            if row and row["status"] in ("sending", "handing") and row["updated_at"] > now - lease_seconds:
                return "busy"
            if row and row["status"] == "handing":  # its holder died after the server had it all
                conn.execute(
                    "UPDATE mail_log SET status = 'sent', updated_at = ? WHERE email = ? AND campaign = ?",
                    (now, email, campaign),
                )
                return "sent"
            conn.execute(
                "INSERT INTO mail_log (email, campaign, status, updated_at) VALUES (?, ?, 'sending', ?)"
                " ON CONFLICT (email, campaign) DO UPDATE SET status = 'sending', updated_at = excluded.updated_at",
                (email, campaign, now),
            )
        return "claimed"

    def mark(self, email: str, campaign: str, status: MailStatus) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO mail_log (email, campaign, status, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (email, campaign)"
                " DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at",
                (email, campaign, status, time.time()),
            )

    def suppress(self, email: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO suppressions (email, at) VALUES (?, ?)", (email, time.time()))

    def is_suppressed(self, email: str) -> bool:
        return bool(self.db.query("SELECT 1 FROM suppressions WHERE email = ?", (email,)))

    def sent_count(self) -> int:
        return int(self.db.query("SELECT COUNT(*) AS n FROM mail_log WHERE status = 'sent'")[0]["n"])
