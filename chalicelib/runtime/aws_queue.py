"""The `Queue` and `DeadLetters` ports on SQS (and a little DynamoDB), for the AWS runtime.

Queues are standard SQS queues, one per consumer, named by the deployment's prefix and
the logical names of `chalicelib.flows` (`signups`, `payments`, `mail`, `slack`), each
with a dead-letter queue `<name>-dlq` (see `chalicelib.runtime.aws.create_resources`).

SQS has no "get message by id", so the dead letters are read by receiving them: each
listing receives every message of the dead-letter queues (hidden briefly so that
successive receives make progress) and makes them visible again at once. What became
of each letter (parked, replaying, replayed, discarded and why) is kept in the hub's
DynamoDB table under `deadletter#<id>`, where conditional writes make replay and
discard happen once, which SQS alone cannot promise.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

from chalicelib.errors import ConfigurationError
from chalicelib.logs import logger
from chalicelib.ports import DeadLetter
from chalicelib.runtime.aws import DLQ_SUFFIX, QUEUES, AwsClients, aws_error, error_code, physical_name
from chalicelib.runtime.letters import letter_id

# A message may stay hidden 12 hours at most, counted from its receive, and a Lambda
# runs 15 minutes at most after it: a delay up to the difference is always accepted.
MAX_VISIBILITY = 12 * 3600 - 15 * 60
# How long a listing hides the dead letters it has read (it shows them again when done;
# this only matters if the process dies mid-listing).
LIST_VISIBILITY = 30
# A listing reads at most this many dead letters (10 per ReceiveMessage call).
MAX_LETTERS = 1000
# The record of a letter outlives the letter (SQS keeps it 14 days at most).
LETTER_RECORD_SECONDS = 15 * 24 * 3600
# What an operator discarded, and why, is kept this long.
DISCARD_RECORD_SECONDS = 90 * 24 * 3600
# A replay that claimed a letter and never finished (a crash) may be taken over after this.
REPLAY_STALE_SECONDS = 300

PARKED, REPLAYING, REPLAYED, DISCARDED = "parked", "replaying", "replayed", "discarded"

# Characters SQS accepts in a message attribute value (XML 1.0's); others are replaced.
_NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _attribute(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": _NOT_XML.sub("?", value)[:4000]}


@dataclass(frozen=True)
class _Held:
    """A dead letter as one receive of its DLQ saw it: the letter, and how to let go of it."""

    letter: DeadLetter
    dlq_url: str
    receipt: str


class SqsQueue:
    """The `Queue` and `DeadLetters` ports on SQS queues and the hub's DynamoDB table.

    Standard queues deliver at least once and do not deduplicate: `dedupe_id` is kept
    as a message attribute (for logs and operators), and the downstream steps are
    idempotent on their own keys, which is what makes a duplicate harmless here.
    No client is created before the first call.
    """

    def __init__(
        self,
        prefix: str,
        table_name: str,
        *,
        queues: tuple[str, ...] = QUEUES,
        timeout: float = 10.0,
        clients: AwsClients | None = None,
    ) -> None:
        if not table_name:
            raise ConfigurationError("HUB_TABLE is not set: SQS dead letters need the hub's DynamoDB table")
        self.prefix = prefix
        self.table_name = table_name
        self.queues = tuple(queues)
        self._clients = clients or AwsClients(timeout)
        self._urls: dict[str, str] = {}

    # --- plumbing -------------------------------------------------------------------

    @property
    def _sqs(self) -> Any:
        return self._clients.get("sqs")

    @property
    def _ddb(self) -> Any:
        return self._clients.get("dynamodb")

    def logical(self, queue: str) -> str:
        """The logical name of a queue given either way: the consumer passes the physical
        name it reads from the record's `eventSourceARN`, flows pass the logical one."""
        if self.prefix and queue.startswith(self.prefix) and queue[len(self.prefix) :] in self.queues:
            return queue[len(self.prefix) :]
        return queue

    def _url(self, name: str) -> str:
        """The URL of a physical queue name, looked up once per process."""
        url = self._urls.get(name)
        if url is None:
            try:
                url = self._sqs.get_queue_url(QueueName=name)["QueueUrl"]
            except Exception as exc:
                raise aws_error(exc, f"SQS queue {name}") from exc
            self._urls[name] = url
        return url

    def _queue_url(self, queue: str) -> str:
        return self._url(physical_name(self.prefix, self.logical(queue)))

    def _dlq_url(self, queue: str) -> str:
        return self._url(physical_name(self.prefix, self.logical(queue)) + DLQ_SUFFIX)

    # --- Queue port -----------------------------------------------------------------

    def send(self, queue: str, body: dict[str, Any], dedupe_id: str) -> None:
        """Queue `body`; returns once SQS has stored it. Raises `TransientError` (so the
        door answers 503 and the sender retries) or `ConfigurationError`."""
        url = self._queue_url(queue)
        attributes = {"dedupe_id": _attribute(dedupe_id)} if dedupe_id else {}
        try:
            self._sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body), MessageAttributes=attributes)
        except Exception as exc:
            raise aws_error(exc, f"queue {self.logical(queue)}") from exc

    def delete(self, queue: str, receipt: str) -> None:
        """Delete a processed delivery (what Lambda does for a batch that succeeds)."""
        try:
            self._sqs.delete_message(QueueUrl=self._queue_url(queue), ReceiptHandle=receipt)
        except Exception as exc:
            raise aws_error(exc, f"queue {self.logical(queue)}") from exc

    def retry_later(self, queue: str, receipt: str, delay: float) -> None:
        """Hide a failed delivery for `delay` seconds (capped below SQS's 12 hours).

        Best effort: if SQS refuses (a stale receipt, the 12-hour total exceeded, a
        throttle), the message still comes back after the queue's visibility timeout,
        so the failure is logged rather than failing the whole batch.
        """
        seconds = int(min(max(delay, 0.0), MAX_VISIBILITY))
        try:
            self._sqs.change_message_visibility(
                QueueUrl=self._queue_url(queue), ReceiptHandle=receipt, VisibilityTimeout=seconds
            )
        except Exception as exc:
            logger.warning(
                "could not delay a retry",
                extra={"queue": self.logical(queue), "reason": str(aws_error(exc, "ChangeMessageVisibility"))},
            )

    def dead_letter(self, queue: str, body: dict[str, Any], reason: str, step: str, message_id: str = "") -> None:
        """Send the message to `<queue>-dlq` with its reason, step, queue and message id.

        Idempotent on `message_id` through a `deadletter#<id>` record written after the
        send: a delivery dead-lettered again (its deletion was lost) is not parked
        twice. If the process dies between the send and the record, a second copy may
        be parked; `list` shows it once and `replay`/`discard` remove every copy.
        """
        source = self.logical(queue)
        lid = letter_id(message_id) if message_id else ""
        if lid and self._record(lid) is not None:
            return
        attributes = {"queue": _attribute(source), "reason": _attribute(reason or "(no reason)")}
        if step:
            attributes["step"] = _attribute(step)
        if message_id:
            attributes["message_id"] = _attribute(message_id)
        try:
            self._sqs.send_message(
                QueueUrl=self._dlq_url(source), MessageBody=json.dumps(body), MessageAttributes=attributes
            )
        except Exception as exc:
            raise aws_error(exc, f"dead-letter queue of {source}") from exc
        if lid:
            self._put_state(lid, PARKED, {"queue": source}, allowed=(), expires_in=LETTER_RECORD_SECONDS)

    def depth(self) -> dict[str, int]:
        """Messages waiting (visible) in each queue and each dead-letter queue."""
        out: dict[str, int] = {}
        for queue in self.queues:
            for name, url in ((queue, self._queue_url(queue)), (queue + DLQ_SUFFIX, self._dlq_url(queue))):
                try:
                    attrs = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
                except Exception as exc:
                    raise aws_error(exc, f"SQS queue {name}") from exc
                out[name] = int(attrs["Attributes"]["ApproximateNumberOfMessages"])
        return out

    # --- DeadLetters port -----------------------------------------------------------

    def list(self) -> list[DeadLetter]:
        """The dead letters waiting, oldest first, one per letter id.

        SQS limits: a listing receives up to 10 messages per call and at most
        `MAX_LETTERS` in all; standard queues may briefly return fewer than they hold
        (so an empty short poll is confirmed with a 1-second long poll); letters are
        hidden for a moment while listed, so a concurrent listing may miss them; each
        listing adds one to their receive count (harmless: DLQs have no redrive).
        """
        held = self._receive_all()
        self._release(held)
        letters: dict[str, DeadLetter] = {}
        for h in held:
            known = letters.get(h.letter.id)
            if known is None or h.letter.failed_at < known.failed_at:
                letters[h.letter.id] = h.letter
        states = self._states(list(letters))
        waiting = [d for d in letters.values() if states.get(d.id) in (None, PARKED, REPLAYING)]
        return sorted(waiting, key=lambda d: (d.failed_at, d.id))

    def replay(self, letter_id: str) -> bool:
        """Send the letter back to its queue, then delete it from the DLQ.

        Once only: a `deadletter#<id>` record goes from parked to replaying under a
        DynamoDB condition before anything is sent, so a second (or concurrent) replay
        gets False and queues nothing. A replay that died after its claim can be
        retaken after `REPLAY_STALE_SECONDS`; one that died after sending but before
        deleting leaves a copy that the next replay or discard only deletes.
        """
        mine = self._take(letter_id)
        if not mine:
            return False
        letter = mine[0].letter
        if not self._put_state(
            letter_id,
            REPLAYING,
            {"queue": letter.queue},
            allowed=(PARKED,),
            stale=REPLAYING,
            expires_in=LETTER_RECORD_SECONDS,
        ):
            self._settle(letter_id, mine)
            return False
        try:
            self.send(letter.queue, letter.body, dedupe_id=f"replay:{letter_id}")
        except Exception:
            # Nothing was queued: give the letter back, so the operator may try again.
            self._put_state(letter_id, PARKED, {}, allowed=(REPLAYING,), expires_in=LETTER_RECORD_SECONDS)
            self._release(mine)
            raise
        self._put_state(letter_id, REPLAYED, {}, allowed=(REPLAYING,), expires_in=LETTER_RECORD_SECONDS)
        self._delete(mine)
        logger.info("dead letter replayed", extra={"letter_id": letter_id, "queue": letter.queue})
        return True

    def discard(self, letter_id: str, reason: str) -> bool:
        """Record the operator's reason in DynamoDB, then delete the letter from its DLQ.

        Kept `DISCARD_RECORD_SECONDS` under `deadletter#<id>`: the reason, the queue,
        the failure's reason and step, and the event's id and kind (not its payload).
        """
        mine = self._take(letter_id)
        if not mine:
            return False
        letter = mine[0].letter
        fields = {
            "note": reason or "(no reason given)",
            "queue": letter.queue,
            "reason": letter.reason,
            "step": letter.step,
            "event_id": str(letter.body.get("event_id", "")),
            "kind": str(letter.body.get("kind", "")),
        }
        if not self._put_state(letter_id, DISCARDED, fields, allowed=(PARKED,), expires_in=DISCARD_RECORD_SECONDS):
            self._settle(letter_id, mine)
            return False
        self._delete(mine)
        logger.info("dead letter discarded", extra={"letter_id": letter_id, "queue": letter.queue})
        return True

    # --- dead-letter queues -----------------------------------------------------------

    def _take(self, wanted: str) -> list[_Held]:
        """Every copy of one letter, held (hidden); every other letter is let go at once."""
        held = self._receive_all()
        self._release([h for h in held if h.letter.id != wanted])
        return [h for h in held if h.letter.id == wanted]

    def _settle(self, lid: str, mine: list[_Held]) -> None:
        """After a lost claim: copies of a letter already replayed or discarded are left
        over from a crash and deleted; otherwise someone else holds it: let go."""
        if (self._record(lid) or {}).get("state") in (REPLAYED, DISCARDED):
            self._delete(mine)
        else:
            self._release(mine)

    def _receive_all(self) -> list[_Held]:
        held: list[_Held] = []
        for queue in self.queues:
            url = self._dlq_url(queue)
            long_polled = False
            while len(held) < MAX_LETTERS:
                messages = self._receive(url, wait=1 if long_polled else 0)
                if not messages:
                    if long_polled or not self._visible(url):
                        break
                    long_polled = True  # short polls sample servers: confirm with a long one
                    continue
                held.extend(_Held(self._letter(queue, m), url, m["ReceiptHandle"]) for m in messages)
        return held

    def _receive(self, url: str, wait: int) -> list[dict[str, Any]]:
        try:
            return self._sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=LIST_VISIBILITY,
                WaitTimeSeconds=wait,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["SentTimestamp"],
            ).get("Messages", [])
        except Exception as exc:
            raise aws_error(exc, "reading a dead-letter queue") from exc

    def _visible(self, url: str) -> int:
        try:
            attrs = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        except Exception as exc:
            raise aws_error(exc, "reading a dead-letter queue") from exc
        return int(attrs["Attributes"]["ApproximateNumberOfMessages"])

    @staticmethod
    def _letter(queue: str, message: dict[str, Any]) -> DeadLetter:
        attrs = {k: v.get("StringValue", "") for k, v in message.get("MessageAttributes", {}).items()}
        try:
            body = json.loads(message["Body"])
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = {"unreadable": message["Body"]}
        # A letter without a reason was moved here by SQS's redrive policy itself.
        reason = attrs.get("reason") or "moved by SQS after too many receives (the consumer never finished)"
        sent = int(message.get("Attributes", {}).get("SentTimestamp", "0")) / 1000
        return DeadLetter(
            id=letter_id(attrs.get("message_id") or message["MessageId"]),
            queue=attrs.get("queue") or queue,
            body=body,
            reason=reason,
            step=attrs.get("step", ""),
            failed_at=sent,
        )

    def _release(self, held: list[_Held]) -> None:
        """Make letters visible again now (best effort: they reappear on their own later)."""
        by_url: dict[str, list[str]] = {}
        for h in held:
            by_url.setdefault(h.dlq_url, []).append(h.receipt)
        for url, receipts in by_url.items():
            for start in range(0, len(receipts), 10):
                entries = [
                    {"Id": str(i), "ReceiptHandle": r, "VisibilityTimeout": 0}
                    for i, r in enumerate(receipts[start : start + 10])
                ]
                try:
                    self._sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
                except Exception as exc:
                    logger.warning("could not show dead letters again", extra={"reason": error_code(exc) or str(exc)})

    def _delete(self, held: list[_Held]) -> None:
        for h in held:
            try:
                self._sqs.delete_message(QueueUrl=h.dlq_url, ReceiptHandle=h.receipt)
            except Exception as exc:
                raise aws_error(exc, "deleting a dead letter") from exc

    # --- letter records (DynamoDB) ----------------------------------------------------

    @staticmethod
    def _key(lid: str) -> dict[str, dict[str, str]]:
        return {"id": {"S": f"deadletter#{lid}"}}

    def _record(self, lid: str) -> dict[str, str] | None:
        try:
            item = self._ddb.get_item(TableName=self.table_name, Key=self._key(lid), ConsistentRead=True).get("Item")
        except Exception as exc:
            raise aws_error(exc, f"table {self.table_name}") from exc
        return {k: next(iter(v.values())) for k, v in item.items()} if item else None

    def _states(self, lids: list[str]) -> dict[str, str]:
        """The recorded state of each letter id (absent: never recorded)."""
        states: dict[str, str] = {}
        for start in range(0, len(lids), 100):
            request: dict[str, Any] = {
                self.table_name: {
                    "Keys": [self._key(lid) for lid in lids[start : start + 100]],
                    "ConsistentRead": True,
                    "ProjectionExpression": "#k, #s",
                    "ExpressionAttributeNames": {"#k": "id", "#s": "state"},
                }
            }
            while request:
                try:
                    answer = self._ddb.batch_get_item(RequestItems=request)
                except Exception as exc:
                    raise aws_error(exc, f"table {self.table_name}") from exc
                for item in answer.get("Responses", {}).get(self.table_name, []):
                    states[item["id"]["S"].removeprefix("deadletter#")] = item.get("state", {}).get("S", "")
                request = answer.get("UnprocessedKeys") or {}
        return states

    def _put_state(
        self,
        lid: str,
        state: str,
        fields: dict[str, str],
        *,
        allowed: tuple[str, ...],
        stale: str = "",
        expires_in: int,
    ) -> bool:
        """Move a letter's record to `state` if it is new, in one of the `allowed` states,
        or in `stale` for longer than `REPLAY_STALE_SECONDS`. False when refused."""
        now = int(time.time())
        names = {"#k": "id", "#s": "state", "#at": "at"}
        values: dict[str, Any] = {":state": {"S": state}, ":now": {"N": str(now)}}
        sets = ["#s = :state", "#at = :now"]
        for i, (name, value) in enumerate(fields.items()):
            names[f"#f{i}"] = name
            values[f":f{i}"] = {"S": value}
            sets.append(f"#f{i} = :f{i}")
        names["#exp"] = "expiration"
        values[":exp"] = {"N": str(now + expires_in)}
        sets.append("#exp = :exp")
        conditions = ["attribute_not_exists(#k)"]
        for i, prior in enumerate(allowed):
            values[f":a{i}"] = {"S": prior}
            conditions.append(f"#s = :a{i}")
        if stale:
            values[":stale"] = {"S": stale}
            values[":stale_at"] = {"N": str(now - REPLAY_STALE_SECONDS)}
            conditions.append("(#s = :stale AND #at < :stale_at)")
        try:
            self._ddb.update_item(
                TableName=self.table_name,
                Key=self._key(lid),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression=" OR ".join(conditions),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise aws_error(exc, f"table {self.table_name}") from exc
        return True
