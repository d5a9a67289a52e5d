"""Delivers queued messages to the functions registered with `@app.on_sqs_message`.

The registrations are read from Chalice's own registry (`app.event_sources` and
`app.handler_map`), and each batch is handed over as Lambda would: an SQS event dict
and a context, so the very same decorated function runs here and in AWS. Its partial
batch response decides what is deleted; a crash of the function fails the whole batch.

Batches are gathered as Lambda's pollers gather them: one thread at a time receives from a
queue, and a short batch waits for more messages, up to the registration's
`maximum_batching_window_in_seconds`, while another batch of that queue is being
processed. Several threads each taking what happens to be visible would cut a burst into
batches of one or two, and every batch of the sheet's consumers costs a Sheets read. A
lone message on a quiet queue is not held back (Lambda would hold it for the window).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from chalicelib import names
from chalicelib.logs import logger
from chalicelib.redelivery import MAX_RECEIVE_COUNT
from chalicelib.runtime.embedded.queue import Received, SqliteQueue

REGION = "local"
ACCOUNT = "000000000000"
# How often a gathering thread looks for more messages while its batch is short.
GATHER_POLL = 0.05


@dataclass
class LocalContext:
    """The part of a Lambda context that handlers and Powertools read."""

    function_name: str
    timeout_seconds: float = 30.0

    def __post_init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + self.timeout_seconds
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def sqs_record(message: Received) -> dict[str, Any]:
    """One record as the SQS event source mapping shapes it."""
    return {
        "messageId": message.id,
        "receiptHandle": message.receipt,
        "body": message.body,
        "attributes": {
            "ApproximateReceiveCount": str(message.receive_count),
            "SentTimestamp": str(int(message.sent_at * 1000)),
            "ApproximateFirstReceiveTimestamp": str(int(message.first_received_at * 1000)),
        },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{message.queue}",
        "awsRegion": REGION,
    }


@dataclass(frozen=True)
class Consumer:
    queue: str
    batch_size: int
    handler: Any
    name: str
    window: float = 0.0  # maximum_batching_window_in_seconds


def consumers_of(app: Any) -> list[Consumer]:
    """The SQS consumers registered on a Chalice app, by logical queue (the embedded
    queue has one set of queues, whatever the stage's SQS names)."""
    from chalice.app import SQSEventConfig

    return [
        Consumer(
            names.logical(source.queue),
            source.batch_size,
            app.handler_map[source.name],
            source.name,
            float(source.maximum_batching_window_in_seconds or 0),
        )
        for source in app.event_sources
        if isinstance(source, SQSEventConfig) and source.queue
    ]


class Dispatcher:
    """`redrive_after` is SQS's `maxReceiveCount`: the consumer parks a failing message
    itself once the redelivery policy gives up; this backstop only catches messages
    that crash it before it can."""

    def __init__(self, app: Any, queue: SqliteQueue, redrive_after: int = MAX_RECEIVE_COUNT) -> None:
        self.app = app
        self.queue = queue
        self.redrive_after = redrive_after
        self._guard = threading.Lock()
        self._gathering: dict[str, threading.Lock] = {}  # one receiving thread per queue
        self._in_progress: Counter[str] = Counter()  # batches being processed, per queue

    def deliver_once(self) -> int:
        """One round over every consumer: at most one batch each. Returns messages delivered."""
        return sum(self.deliver_batch(consumer) for consumer in consumers_of(self.app))

    def deliver_batch(self, consumer: Consumer, gather: bool = False) -> int:
        """At most one batch of the consumer's queue. Returns messages delivered.

        `gather` (the runner's consumer threads): the batch is gathered as the module's
        docstring says; without it, what is visible now is delivered (tests, the CLI).
        """
        batch = self._gather(consumer) if gather else self.queue.receive(consumer.queue, consumer.batch_size)
        if batch:
            with self._guard:
                self._in_progress[consumer.queue] += 1
            try:
                self._deliver(consumer, batch)
            finally:
                with self._guard:
                    self._in_progress[consumer.queue] -= 1
        return len(batch)

    def _gather(self, consumer: Consumer) -> list[Received]:
        """A batch for one thread: received by one thread of the queue at a time, and, when
        short while another batch of the queue is in progress (the queue is busy), topped up
        for at most the consumer's batching window."""
        with self._guard:
            gathering = self._gathering.setdefault(consumer.queue, threading.Lock())
        with gathering:
            batch = self.queue.receive(consumer.queue, consumer.batch_size)
            if not batch or consumer.window <= 0:
                return batch
            deadline = time.monotonic() + consumer.window
            while len(batch) < consumer.batch_size:
                left = deadline - time.monotonic()
                with self._guard:
                    busy = self._in_progress[consumer.queue] > 0
                if left <= 0 or not busy:
                    break
                time.sleep(min(GATHER_POLL, left))
                batch += self.queue.receive(consumer.queue, consumer.batch_size - len(batch))
            return batch

    def _deliver(self, consumer: Consumer, batch: list[Received]) -> None:
        # SQS's redrive policy: a message whose deliveries keep crashing the consumer
        # (so it never settles it itself) is parked instead of retried for ever.
        for message in [m for m in batch if m.receive_count > self.redrive_after]:
            self.queue.redrive(
                consumer.queue, message.receipt, f"the consumer crashed on it {self.redrive_after} times", consumer.name
            )
        batch = [m for m in batch if m.receive_count <= self.redrive_after]
        if not batch:
            return
        event = {"Records": [sqs_record(m) for m in batch]}
        try:
            result = consumer.handler(event, LocalContext(consumer.name))
        except Exception:
            # As in Lambda: the whole batch becomes visible again after the timeout.
            logger.exception("consumer crashed", extra={"consumer": consumer.name, "messages": len(batch)})
            return
        failed = {f.get("itemIdentifier") for f in (result or {}).get("batchItemFailures", [])}
        self.queue.delete_many(consumer.queue, [m.receipt for m in batch if m.id not in failed])

    def drain(self, timeout: float = 30.0, include_delayed: bool = False) -> None:
        """Deliver until every queue is empty (tests and the CLI). With `include_delayed`,
        messages waiting out a retry delay are made visible instead of waited for."""
        deadline = time.monotonic() + timeout
        queues = [c.queue for c in consumers_of(self.app)]
        while time.monotonic() < deadline:
            if self.deliver_once():
                continue
            if include_delayed:
                if not self.queue.release_all() and self.queue.next_visible_at(queues) is None:
                    return
                continue
            if self.queue.next_visible_at(queues) is None:
                return
            time.sleep(0.05)
        raise TimeoutError(f"queues not drained within {timeout} s: {self.queue.depth()}")
