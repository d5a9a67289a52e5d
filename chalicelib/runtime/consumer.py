"""The queue consumer both runtimes share: one SQS batch in, partial failures out.

For each record: rebuild the event, run its flow. Each adapter already retried its own
transient errors (`chalicelib.retry`); what still fails is handed back to the queue
with a longer visibility delay (honouring a server's `Retry-After`), as the
`RedeliveryPolicy` says; once it has kept failing for `HUB_GIVE_UP_AFTER` (24 h), or
at once for a permanent error, the message goes to the dead letters with its reason
and failing step. Only the failed records are reported, so one bad message never
replays its batch mates.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib import flows
from chalicelib.dead_letters import letter_id
from chalicelib.domain import events as ev
from chalicelib.domain.validation import redact
from chalicelib.errors import PermanentError
from chalicelib.logs import logger
from chalicelib.ports import DeadLetters, Ports, Queue
from chalicelib.redelivery import RedeliveryPolicy, describe, first_received_at
from chalicelib.runtime.recording import Recorder

_ADAPTERS = str(Path(__file__).resolve().parent.parent / "adapters")
# A record left untouched because time ran short comes back after this delay.
UNTOUCHED_DELAY = 1.0


def queue_name(record: dict[str, Any]) -> str:
    """The queue a record came from: the last part of its `eventSourceARN`."""
    return str(record.get("eventSourceARN", "")).rsplit(":", 1)[-1]


def failing_step(exc: BaseException, event_kind: str) -> str:
    """Where it broke: the event's flow and the deepest adapter method on the stack."""
    adapter_frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(_ADAPTERS)]
    if adapter_frames:
        frame = adapter_frames[-1]
        return f"{event_kind} → {Path(frame.filename).stem}.{frame.name}"
    return event_kind


def remaining_seconds(sqs_event: Any) -> float | None:
    """Seconds left before Lambda stops this invocation (None outside Lambda)."""
    context = getattr(sqs_event, "context", None)
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return remaining() / 1000 if callable(remaining) else None


def consume(
    sqs_event: Any,
    ports: Ports,
    policy: RedeliveryPolicy | None = None,
    reserve_seconds: float = 0.0,
    recorder: Recorder | None = None,
) -> dict[str, list[dict[str, str]]]:
    """Process one SQS batch (a Chalice `SQSEvent`); returns Lambda's partial batch response.

    Failed deliveries go back through `ports.queue.retry_later`, or to `ports.dead_letters`;
    `policy` says how long to wait before a failed record's next delivery, and when to
    give up.
    `reserve_seconds` is one record's worst case: the batch is carried in chunks that
    finish in the invocation's time left even if every record is that slow, and the
    records no chunk can take are handed back untouched and reported as failures, so
    a batch never times out half-done (see `_in_time`).
    `recorder` writes what each step did, each retry and dead letter to the event history.
    """
    policy = policy or RedeliveryPolicy()
    recorder = recorder or Recorder(None)
    records: list[_Record] = []
    for record in sqs_event:
        raw = record.to_dict()
        item = _Record(record, raw, raw.get("messageId", ""), queue_name(raw))
        try:
            body = _parse(record.body)
            item.kind = str(body.get("kind", item.kind))
            item.event = ev.from_message(body)
        except Exception as exc:  # unreadable: permanent, parked at once
            item.failure = exc
        records.append(item)
    readable = [r for r in records if r.event is not None]
    # One call per chunk (the whole batch, unless time is short): the flows share one
    # read and one write of the sheet.
    for chunk in _in_time(readable, sqs_event, reserve_seconds):
        events = [r.event for r in chunk if r.event is not None]
        for item, failure in zip(chunk, flows.handle_batch(events, recorder.for_batch(ports, events)), strict=True):
            item.failure = failure
    failures = []
    for item in records:
        if item.untouched:
            ports.queue.retry_later(item.source, item.record.receipt_handle, UNTOUCHED_DELAY)
            failures.append({"itemIdentifier": item.message_id})
        elif item.failure is None:
            recorder.step(item.event_id, "done", f"{item.kind} handled")
            logger.info("processed", extra={"event_id": item.event_id, "queue": item.source, "kind": item.kind})
        elif _settle_failure(item, ports, policy, recorder):
            failures.append({"itemIdentifier": item.message_id})
    return {"batchItemFailures": failures}


@dataclass
class _Record:
    """One record of the batch, as far as the consumer got with it."""

    record: Any
    raw: dict[str, Any]
    message_id: str
    source: str
    kind: str = "unreadable"
    event: ev.Event | None = None
    failure: Exception | None = None
    untouched: bool = False

    @property
    def event_id(self) -> str:
        return self.event.event_id if self.event else ""


def _in_time(items: list[_Record], sqs_event: Any, reserve_seconds: float) -> Iterator[list[_Record]]:
    """The records in chunks, each as large as the time left allows if every record of it
    took `reserve_seconds`; the records no chunk can take are marked `untouched`."""
    rest = list(items)
    while rest:
        left = remaining_seconds(sqs_event)
        fit = len(rest) if not reserve_seconds or left is None else int(left // reserve_seconds)
        if fit <= 0:
            logger.warning("out of time: handing back the rest of the batch", extra={"records": len(rest)})
            for item in rest:
                item.untouched = True
            return
        chunk, rest = rest[:fit], rest[fit:]
        yield chunk


def _settle_failure(item: _Record, ports: Ports, policy: RedeliveryPolicy, recorder: Recorder) -> bool:
    """Park a failed record, or hide it for its next delivery; True when it will be retried."""
    exc = item.failure
    assert exc is not None
    if isinstance(exc, PermanentError):
        _dead_letter(ports.dead_letters, item, str(exc), failing_step(exc, item.kind), recorder)
        return False
    # Transient, or a bug: both deserve a retry, then a dead letter.
    reason = f"{type(exc).__name__}: {exc}"
    receives = int(item.raw.get("attributes", {}).get("ApproximateReceiveCount", "1"))
    first = first_received_at(item.raw, policy.clock())
    if policy.gives_up(first):
        failing = describe(policy.failing_for(first))
        reason = f"gave up after failing for {failing} ({receives} deliveries): {reason}"
        _dead_letter(ports.dead_letters, item, reason, failing_step(exc, item.kind), recorder)
        return False
    delay = policy.delay(receives, getattr(exc, "retry_after", None))
    logger.warning(
        "will retry", extra={"message_id": item.message_id, "reason": reason, "kind": item.kind, "delay": delay}
    )
    ports.queue.retry_later(item.source, item.record.receipt_handle, delay)
    recorder.step(item.event_id, "retry", f"delivery {receives} failed: {reason}; next try in {delay:.0f} s")
    return True


class BatchItemsFailed(Exception):
    """Some records of a batch failed; they go back to the queue, the others are done."""


def settle_partial_batch(sqs_event: Any, response: dict[str, list[dict[str, str]]], queue: Queue) -> None:
    """Make a partial batch failure safe in Lambda without `ReportBatchItemFailures`.

    Chalice never sets `FunctionResponseTypes: [ReportBatchItemFailures]` on its SQS
    event source mappings, and without it Lambda ignores a returned failure list and
    deletes the whole batch: the failed messages would be lost. So the successful
    records are deleted here, and the batch is failed by raising: Lambda then deletes
    nothing, and only the failed records come back (after their retry delay).
    """
    failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    if not failed:
        return
    for record in sqs_event:
        raw = record.to_dict()
        if raw.get("messageId") not in failed:
            queue.delete(queue_name(raw), record.receipt_handle)
    raise BatchItemsFailed(f"{len(failed)} of the batch's records failed and will be retried")


def _parse(raw: str) -> dict[str, Any]:
    """The message's JSON object; anything else is bad data, dead-lettered at once."""
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise PermanentError(f"message body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise PermanentError("message body is not a JSON object")
    return body


# A reason is read by operators in Slack and the CLI: a few lines, not a provider's essay.
MAX_REASON = 1000


def _dead_letter(letters: DeadLetters, item: _Record, reason: str, step: str, recorder: Recorder) -> None:
    """Keep the message (it must stay replayable) with a reason free of email addresses:
    a provider's error may quote the recipient, and reasons are shown in Slack and logs."""
    source, message_id, raw_body = item.source, item.message_id, item.record.body
    reason = redact(reason[:MAX_REASON])
    try:
        body = json.loads(raw_body)
    except ValueError:
        body = {"unreadable": raw_body}
    if not isinstance(body, dict):
        body = {"unreadable": raw_body}
    letters.park(source, body, reason, step, message_id=message_id)
    letter = letter_id(message_id) if message_id else ""
    recorder.step(str(body.get("event_id", "")), "dead letter", f"{step}: {reason}", letter)
    logger.error("dead-lettered", extra={"queue": source, "message_id": message_id, "reason": reason, "step": step})
