"""The `DeadLetters` port of the AWS runtime: the dead-letter queues (`<queue>-dlq`) and
their records in the hub's DynamoDB table.

SQS has no "get message by id", so the dead letters are read by receiving them: each
listing receives every message of the dead-letter queues (hidden briefly so that
successive receives make progress) and makes them visible again at once. What became
of each letter (parked, replaying, replayed, discarded and why) is kept in the hub's
DynamoDB table under `deadletter#<id>`, where conditional writes make replay and
discard happen once, which SQS alone cannot promise.
"""

from __future__ import annotations

import builtins
import json
import time
from dataclasses import dataclass
from typing import Any

from chalicelib.dead_letters import letter_id
from chalicelib.logs import logger
from chalicelib.plumbing.aws import AwsErrors, ConditionFailed, HubTable, error_code
from chalicelib.ports import DeadLetter
from chalicelib.runtime.aws.queue import SqsQueue, attribute

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


@dataclass(frozen=True)
class _Held:
    """A dead letter as one receive of its DLQ saw it: the letter, and how to let go of it."""

    letter: DeadLetter
    dlq_url: str
    receipt: str


class SqsDeadLetters:
    """The `DeadLetters` port on the SQS dead-letter queues and the hub's DynamoDB table.

    Replays go back through `queue` (the `SqsQueue` of the same deployment), whose
    addresses it shares. No client is created before the first call.
    """

    def __init__(self, queue: SqsQueue, table: HubTable) -> None:
        self.queue = queue
        self.addresses = queue.addresses
        self.table = table

    @property
    def _sqs(self) -> Any:
        return self.addresses.sqs

    @property
    def _ddb(self) -> Any:
        return self.table.client

    def park(self, queue: str, body: dict[str, Any], reason: str, step: str, message_id: str = "") -> None:
        """Send the message to `<queue>-dlq` with its reason, step, queue and message id.

        Idempotent on `message_id` through a `deadletter#<id>` record written after the
        send: a delivery dead-lettered again (its deletion was lost) is not parked
        twice. If the process dies between the send and the record, a second copy may
        be parked; `list` shows it once and `replay`/`discard` remove every copy.
        """
        source = self.addresses.logical(queue)
        lid = letter_id(message_id) if message_id else ""
        if lid and self._record(lid) is not None:
            return
        attributes = {"queue": attribute(source), "reason": attribute(reason or "(no reason)")}
        if step:
            attributes["step"] = attribute(step)
        if message_id:
            attributes["message_id"] = attribute(message_id)
        with AwsErrors(f"dead-letter queue of {source}"):
            self._sqs.send_message(
                QueueUrl=self.addresses.dlq_url(source), MessageBody=json.dumps(body), MessageAttributes=attributes
            )
        if lid:
            self._put_state(lid, PARKED, {"queue": source}, allowed=(), expires_in=LETTER_RECORD_SECONDS)

    def list(self) -> builtins.list[DeadLetter]:
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
            self.queue.send(letter.queue, letter.body, dedupe_id=f"replay:{letter_id}")
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

    def _take(self, wanted: str) -> builtins.list[_Held]:
        """Every copy of one letter, held (hidden); every other letter is let go at once."""
        held = self._receive_all()
        self._release([h for h in held if h.letter.id != wanted])
        return [h for h in held if h.letter.id == wanted]

    def _settle(self, lid: str, mine: builtins.list[_Held]) -> None:
        """After a lost claim: copies of a letter already replayed or discarded are left
        over from a crash and deleted; otherwise someone else holds it: let go."""
        if (self._record(lid) or {}).get("state") in (REPLAYED, DISCARDED):
            self._delete(mine)
        else:
            self._release(mine)

    def _receive_all(self) -> builtins.list[_Held]:
        held: builtins.list[_Held] = []
        for queue in self.addresses.queues:
            url = self.addresses.dlq_url(queue)
            long_polled = False
            while len(held) < MAX_LETTERS:
                messages = self._receive(url, wait=1 if long_polled else 0)
                if not messages:
                    if long_polled or not self.addresses.visible(url, "reading a dead-letter queue"):
                        break
                    long_polled = True  # short polls sample servers: confirm with a long one
                    continue
                held.extend(_Held(self._letter(queue, m), url, m["ReceiptHandle"]) for m in messages)
        return held

    def _receive(self, url: str, wait: int) -> builtins.list[dict[str, Any]]:
        with AwsErrors("reading a dead-letter queue"):
            messages: builtins.list[dict[str, Any]] = self._sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=LIST_VISIBILITY,
                WaitTimeSeconds=wait,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["SentTimestamp"],
            ).get("Messages", [])
        return messages

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

    def _release(self, held: builtins.list[_Held]) -> None:
        """Make letters visible again now (best effort: they reappear on their own later)."""
        by_url: dict[str, builtins.list[str]] = {}
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

    def _delete(self, held: builtins.list[_Held]) -> None:
        for h in held:
            with AwsErrors("deleting a dead letter"):
                self._sqs.delete_message(QueueUrl=h.dlq_url, ReceiptHandle=h.receipt)

    # --- letter records (DynamoDB) ----------------------------------------------------

    @staticmethod
    def _key(lid: str) -> dict[str, dict[str, str]]:
        return HubTable.key(f"deadletter#{lid}")

    def _record(self, lid: str) -> dict[str, str] | None:
        item = self.table.get(f"deadletter#{lid}", "dead letters")
        return {k: next(iter(v.values())) for k, v in item.items()} if item else None

    def _states(self, lids: builtins.list[str]) -> dict[str, str]:
        """The recorded state of each letter id (absent: never recorded)."""
        states: dict[str, str] = {}
        for start in range(0, len(lids), 100):
            request: dict[str, Any] = {
                self.table.name: {
                    "Keys": [self._key(lid) for lid in lids[start : start + 100]],
                    "ConsistentRead": True,
                    "ProjectionExpression": "#k, #s",
                    "ExpressionAttributeNames": {"#k": "id", "#s": "state"},
                }
            }
            while request:
                with self.table.errors("dead letters"):
                    answer = self._ddb.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self.table.name, []):
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
            with self.table.errors("dead letters"):
                self._ddb.update_item(
                    TableName=self.table.name,
                    Key=self._key(lid),
                    UpdateExpression="SET " + ", ".join(sets),
                    ConditionExpression=" OR ".join(conditions),
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                )
        except ConditionFailed:
            return False
        return True
