"""The queue consumer both runtimes share: one SQS batch in, partial failures out.

For each record: rebuild the event, run its flow. Each sink already retried its own
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
from pathlib import Path
from typing import Any

from chalicelib import flows
from chalicelib.domain import events as ev
from chalicelib.errors import PermanentError
from chalicelib.logs import logger
from chalicelib.redelivery import RedeliveryPolicy, describe, first_received_at

_ADAPTERS = str(Path(__file__).resolve().parent.parent / "adapters")


def queue_name(record: dict[str, Any]) -> str:
    """The queue a record came from: the last part of its `eventSourceARN`."""
    return record.get("eventSourceARN", "").rsplit(":", 1)[-1]


def failing_step(exc: BaseException, event_kind: str) -> str:
    """Where it broke: the event's flow and the deepest adapter method on the stack."""
    adapter_frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(_ADAPTERS)]
    if adapter_frames:
        frame = adapter_frames[-1]
        return f"{event_kind} → {Path(frame.filename).stem}.{frame.name}"
    return event_kind


def consume(
    sqs_event: Any, ports: flows.Ports, queue: Any, policy: RedeliveryPolicy | None = None
) -> dict[str, list[dict[str, str]]]:
    """Process one SQS batch (a Chalice `SQSEvent`); returns Lambda's partial batch response.

    `queue` is the runtime's queue, for `dead_letter` and `retry_later`; `policy` says
    how long to wait before a failed record's next delivery, and when to give up.
    """
    policy = policy or RedeliveryPolicy()
    failures = []
    for record in sqs_event:
        raw = record.to_dict()
        message_id = raw.get("messageId", "")
        source = queue_name(raw)
        receives = int(raw.get("attributes", {}).get("ApproximateReceiveCount", "1"))
        kind = "unreadable"
        try:
            body = _parse(record.body)
            kind = str(body.get("kind", kind))
            event = ev.from_message(body)
            flows.handle(event, ports)
            logger.info("processed", extra={"event_id": event.event_id, "queue": source, "kind": kind})
        except PermanentError as exc:
            _dead_letter(queue, source, message_id, record.body, str(exc), failing_step(exc, kind))
        except Exception as exc:  # transient, or a bug: both deserve a retry, then a dead letter
            reason = f"{type(exc).__name__}: {exc}"
            first = first_received_at(raw, policy.clock())
            if policy.gives_up(first):
                failing = describe(policy.failing_for(first))
                reason = f"gave up after failing for {failing} ({receives} deliveries): {reason}"
                _dead_letter(queue, source, message_id, record.body, reason, failing_step(exc, kind))
                continue
            delay = policy.delay(receives, getattr(exc, "retry_after", None))
            logger.warning(
                "will retry", extra={"message_id": message_id, "reason": reason, "kind": kind, "delay": delay}
            )
            queue.retry_later(source, record.receipt_handle, delay)
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}


class BatchItemsFailed(Exception):
    """Some records of a batch failed; they go back to the queue, the others are done."""


def settle_partial_batch(sqs_event: Any, response: dict[str, list[dict[str, str]]], queue: Any) -> None:
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


def _dead_letter(queue: Any, source: str, message_id: str, raw_body: str, reason: str, step: str) -> None:
    try:
        body = json.loads(raw_body)
    except ValueError:
        body = {"unreadable": raw_body}
    if not isinstance(body, dict):
        body = {"unreadable": raw_body}
    queue.dead_letter(source, body, reason, step, message_id=message_id)
    logger.error("dead-lettered", extra={"queue": source, "message_id": message_id, "reason": reason, "step": step})
