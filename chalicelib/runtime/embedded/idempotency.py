"""A Powertools idempotency persistence layer on the embedded SQLite database.

The door uses Powertools' `idempotent_function` in both runtimes; only the store
differs (DynamoDB in AWS). The conditional insert mirrors DynamoDB's: a key may be
taken when it is new, expired, or INPROGRESS past its in-progress expiry (a crash).
"""

from __future__ import annotations

import sqlite3
import time

from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from chalicelib.plumbing.sqlite import Database


class SqlitePersistenceLayer(BasePersistenceLayer):
    def __init__(self, db: Database) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Powertools leaves it unannotated
        self.db = db

    @staticmethod
    def _record(row: sqlite3.Row) -> DataRecord:
        return DataRecord(
            idempotency_key=row["id"],
            status=row["status"],
            expiry_timestamp=row["expiry"],
            in_progress_expiry_timestamp=row["in_progress_expiry"],
            response_data=row["data"] or "",
            payload_hash=row["validation"] or "",
        )

    def _get_record(self, idempotency_key: str) -> DataRecord:
        rows = self.db.query("SELECT * FROM idempotency WHERE id = ?", (idempotency_key,))
        if not rows:
            raise IdempotencyItemNotFoundError
        return self._record(rows[0])

    def _put_record(self, data_record: DataRecord) -> None:
        now = time.time()
        with self.db.transaction() as conn:
            changed = conn.execute(
                "INSERT INTO idempotency (id, status, expiry, in_progress_expiry, validation)"
                " VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET status = excluded.status, expiry = excluded.expiry,"
                " in_progress_expiry = excluded.in_progress_expiry, validation = excluded.validation,"
                " data = NULL"
                " WHERE idempotency.expiry < ? OR (idempotency.status = 'INPROGRESS'"
                " AND idempotency.in_progress_expiry IS NOT NULL AND idempotency.in_progress_expiry < ?)",
                (
                    data_record.idempotency_key,
                    data_record.status,
                    data_record.expiry_timestamp,
                    data_record.in_progress_expiry_timestamp,
                    data_record.payload_hash or None,
                    int(now),
                    int(now * 1000),
                ),
            ).rowcount
            if changed == 0:
                row = conn.execute("SELECT * FROM idempotency WHERE id = ?", (data_record.idempotency_key,)).fetchone()
                raise IdempotencyItemAlreadyExistsError(old_data_record=self._record(row))

    def _update_record(self, data_record: DataRecord) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE idempotency SET data = ?, expiry = ?, status = ? WHERE id = ?",
                (
                    data_record.response_data,
                    data_record.expiry_timestamp,
                    data_record.status,
                    data_record.idempotency_key,
                ),
            )

    def _delete_record(self, data_record: DataRecord) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM idempotency WHERE id = ?", (data_record.idempotency_key,))
