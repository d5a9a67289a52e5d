"""Token buckets that several consumers share: spend a quota instead of hitting it.

Google Sheets allows 60 read and 60 write requests a minute per service account, and
every consumer (threads of the embedded runtime, concurrent Lambdas in AWS) spends the
same account's quota. So the bucket lives where they all see it: a row of the embedded
SQLite database, or an item of the hub's DynamoDB table (`bucket#<name>`), updated under
a condition. (Deriving it from `MaximumConcurrency` alone would not do: two Lambdas each
doing a few requests a second still overrun a shared minute.)

A take reserves a token, possibly in the future: the caller is told how long to wait
before its request, so waiters are served in order without polling. A wait longer than
the caller accepts reserves nothing and raises `TransientError` with that wait as its
`retry_after`, so the message goes back to its queue instead of holding a Lambda.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib.errors import TransientError

# Of the quota, the share a bucket hands out steadily; the rest is its burst. Any 60 s
# window then sees at most `burst + 60 s * rate` = the quota, whatever the timing.
STEADY_SHARE = 0.9


@dataclass(frozen=True)
class Rate:
    """Tokens added per second, and the most a bucket holds (its burst)."""

    per_second: float
    capacity: float

    @classmethod
    def per_window(cls, quota: float, window: float = 60.0) -> Rate:
        """The rate that never spends more than `quota` requests in any `window` seconds."""
        return cls(per_second=quota * STEADY_SHARE / window, capacity=max(1.0, quota * (1 - STEADY_SHARE)))


def reserve(tokens: float, updated_at: float, now: float, rate: Rate) -> tuple[float, float]:
    """The bucket's tokens after one more is taken at `now`, and the wait before using it
    (0 when one was there; tokens below zero are reservations of the future)."""
    refilled = min(rate.capacity, tokens + max(0.0, now - updated_at) * rate.per_second)
    left = refilled - 1
    return left, (0.0 if left >= -1e-9 else -left / rate.per_second)  # (float dust is no wait)


class TokenBuckets(Protocol):
    def take(self, name: str, rate: Rate, max_wait: float) -> float:
        """Reserve a token of bucket `name`; returns the seconds to wait before using it.

        Raises `TransientError` (with `retry_after`) when the wait would exceed `max_wait`.
        """


def too_long(name: str, wait: float) -> TransientError:
    return TransientError(f"quota {name} is spent for the next {wait:.0f} s; trying later", retry_after=wait)


class LocalBuckets:
    """Buckets in this process only (tests, and a sheet used outside any runtime)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._state: dict[str, tuple[float, float]] = {}

    def take(self, name: str, rate: Rate, max_wait: float) -> float:
        with self._lock:
            now = self._clock()
            tokens, updated_at = self._state.get(name, (rate.capacity, now))
            left, wait = reserve(tokens, updated_at, now, rate)
            if wait > max_wait:
                raise too_long(name, wait)
            self._state[name] = (left, now)
            return wait


class SqliteBuckets:
    """Buckets in the embedded database: shared by every thread (and process) on it."""

    SCHEMA = "CREATE TABLE IF NOT EXISTS token_buckets (name TEXT PRIMARY KEY, tokens REAL, updated_at REAL)"

    def __init__(self, db: Any, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self._clock = clock
        db.script(self.SCHEMA)

    def take(self, name: str, rate: Rate, max_wait: float) -> float:
        with self.db.transaction() as conn:
            now = self._clock()
            row = conn.execute("SELECT tokens, updated_at FROM token_buckets WHERE name = ?", (name,)).fetchone()
            tokens, updated_at = (row[0], row[1]) if row else (rate.capacity, now)
            left, wait = reserve(tokens, updated_at, now, rate)
            if wait > max_wait:
                raise too_long(name, wait)
            conn.execute(
                "INSERT INTO token_buckets (name, tokens, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET tokens = excluded.tokens, updated_at = excluded.updated_at",
                (name, left, now),
            )
            return wait


class DynamoBuckets:
    """Buckets on the hub's DynamoDB table, shared by every Lambda: `bucket#<name>` holds
    the tokens and when they were counted; an update applies only if nobody updated the
    item since it was read (optimistic locking), else it reads and tries again."""

    ATTEMPTS = 8

    def __init__(self, table_name: str, clients: Any, clock: Callable[[], float] = time.time) -> None:
        self.table_name = table_name
        self._clients = clients
        self._clock = clock

    def take(self, name: str, rate: Rate, max_wait: float) -> float:
        from chalicelib.plumbing.aws import aws_error, error_code

        ddb = self._clients.get("dynamodb")
        key = {"id": {"S": f"bucket#{name}"}}
        for _ in range(self.ATTEMPTS):
            try:
                item = ddb.get_item(TableName=self.table_name, Key=key, ConsistentRead=True).get("Item")
                now = self._clock()
                seen = item["updated_at"]["N"] if item else None
                tokens = float(item["tokens"]["N"]) if item else rate.capacity
                left, wait = reserve(tokens, float(seen) if seen else now, now, rate)
                if wait > max_wait:
                    raise too_long(name, wait)
                condition = "updated_at = :seen" if seen else "attribute_not_exists(id)"
                values = {":seen": {"N": seen}} if seen else {}
                ddb.put_item(
                    TableName=self.table_name,
                    Item={
                        **key,
                        "tokens": {"N": repr(left)},
                        "updated_at": {"N": repr(now)},
                        "expiration": {"N": str(int(now + 86400))},
                    },
                    ConditionExpression=condition,
                    **({"ExpressionAttributeValues": values} if values else {}),
                )
                return wait
            except TransientError:
                raise
            except Exception as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise aws_error(exc, f"quota bucket {name}") from exc
        raise TransientError(f"quota bucket {name} is busy; trying later", retry_after=1.0)
