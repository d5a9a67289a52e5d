"""The door: a verified delivery is queued once, and acknowledged only once queued.

Powertools' idempotency utility keys each delivery on the provider's event id. Its
record goes INPROGRESS before the events are queued and COMPLETED after, so:
- a duplicate of a completed delivery is acknowledged and not queued again;
- a duplicate arriving while the first is being queued is told to retry (503);
- a crash between the two leaves an INPROGRESS record whose short in-progress expiry
  lets the sender's retry queue the delivery. If the first attempt had queued before it
  died, the embedded queue's dedupe id absorbs the double; on standard SQS the
  idempotent steps do (customer by email, order by invoice id, mail by campaign).
The same code runs in both runtimes; only the persistence layer differs. On the embedded
SQLite file all three writes (key, history line, message) are also one transaction, shared
with the webhooks that arrive meanwhile (`commit`, a `GroupCommitter`): no window between
them, and one fsync for a group of webhooks instead of four for each.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from chalicelib.queues import queue_for

# The web layer imports this module for `DoorBusy` and `DoorClosed` when `app` is imported:
# the events, ports and recorder the door works with are imported once it is built.
if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from chalicelib.domain import events as ev
    from chalicelib.ports import Queue
    from chalicelib.runtime.recording import Recorder

# Stripe retries for 3 days: a key must outlive that.
KEY_LIFETIME_SECONDS = 7 * 24 * 3600
# How long an unfinished delivery keeps its key before a retry may take it over.
IN_PROGRESS_SECONDS = 10


Answer = dict[str, Any]


class DoorBusy(Exception):
    """The same delivery is being queued right now; the sender should retry."""


class DoorClosed(Exception):
    """The queue (or the door's key store) could not take the delivery; the sender should
    retry. Chained to the underlying error, which the caller logs."""


class _Budget:
    """Stands in for a Lambda context: Powertools derives the in-progress expiry from it.
    (A plain class: `dataclasses` would add to the cold start of `import app`.)"""

    def __init__(self, millis: int) -> None:
        self.millis = millis

    def get_remaining_time_in_millis(self) -> int:
        return self.millis


def _mark_duplicate(response: Any, idempotent_data: DataRecord) -> Any:
    return {**response, "duplicate": True}


class Door:
    def __init__(
        self,
        queue: Queue,
        persistence_store: Any,
        recorder: Recorder | None = None,
        commit: Callable[[Callable[[], Answer]], Answer] = lambda work: work(),
    ) -> None:
        from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

        from chalicelib.runtime.recording import Recorder

        self.queue = queue
        self.recorder = recorder or Recorder(None)
        self.commit = commit
        config = IdempotencyConfig(
            event_key_jmespath="key",
            expires_after_seconds=KEY_LIFETIME_SECONDS,
            response_hook=_mark_duplicate,
        )
        config.register_lambda_context(cast("LambdaContext", _Budget(IN_PROGRESS_SECONDS * 1000)))
        self._enqueue_once = idempotent_function(
            self._enqueue,
            data_keyword_argument="delivery",
            persistence_store=persistence_store,
            config=config,
            key_prefix="door",
        )

    def _enqueue(self, delivery: dict[str, Any]) -> dict[str, Any]:
        from chalicelib.domain import events as ev

        for body in delivery["messages"]:
            # Recorded before it is queued, so the consumer's steps never come first.
            self.recorder.received(ev.from_message(body["message"]))
            self.queue.send(body["queue"], body["message"], dedupe_id=body["message"]["event_id"])
        return {"queued": len(delivery["messages"])}

    def accept(self, key: str, events: list[ev.Event]) -> bool:
        """Queue `events` once for delivery `key`. True when queued now, False for a duplicate.

        Raises `DoorBusy` while the same key is in flight, and `DoorClosed` when the
        queue or the key store cannot take the events (the key is then released, so a
        retry is welcome).
        """
        from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

        from chalicelib.domain import events as ev

        delivery = {
            "key": key,
            "messages": [{"queue": queue_for(e), "message": ev.to_message(e)} for e in events],
        }
        try:
            result = self.commit(lambda: self._enqueue_once(delivery=delivery))
        except IdempotencyAlreadyInProgressError as exc:
            raise DoorBusy(key) from exc
        except Exception as exc:
            raise DoorClosed(key) from exc
        fresh = not result.get("duplicate", False)
        if not fresh:
            self.recorder.step(key, "duplicate", "the provider delivered it again: acknowledged, not queued again")
        return fresh
