"""The `Queue` and `DeadLetters` contracts: embedded (SQLite), AWS (SQS + DynamoDB on
moto), and the unit tests' fakes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from chalicelib.dead_letters import letter_id
from chalicelib.ports import DeadLetters, Queue

QUEUE = "payments"


@dataclass
class Pair:
    """A queue and its dead letters, and how the test sees what waits in a queue.

    `receive` delivers what waits in a queue with a new receipt each time, as a consumer
    gets it once the previous delivery's visibility ran out. `stale_delete_keeps`: a
    delete with a stale receipt leaves the message (None: it may or may not, as SQS).
    """

    queue: Queue
    letters: DeadLetters
    waiting: Callable[[str], list[dict[str, Any]]]
    receive: Callable[[str], list[tuple[dict[str, Any], str]]]
    stale_delete_keeps: bool | None


def embedded(tmp_path: Any, request: pytest.FixtureRequest) -> Pair:
    import json

    from chalicelib.plumbing.sqlite import Database
    from chalicelib.runtime.embedded.dead_letters import SqliteDeadLetters
    from chalicelib.runtime.embedded.queue import SqliteQueue

    queue = SqliteQueue(Database(tmp_path / "hub.sqlite3"), visibility_timeout=0)  # received again at once

    def waiting(name: str) -> list[dict[str, Any]]:
        rows = queue.db.query("SELECT body FROM messages WHERE queue = ? ORDER BY sent_at", (name,))
        return [json.loads(r["body"]) for r in rows]

    def receive(name: str) -> list[tuple[dict[str, Any], str]]:
        return [(json.loads(r.body), r.receipt) for r in queue.receive(name, 10)]

    return Pair(queue, SqliteDeadLetters(queue.db, queue), waiting, receive, stale_delete_keeps=True)


def aws(tmp_path: Any, request: pytest.FixtureRequest) -> Pair:
    import json

    from chalicelib.plumbing.aws import AwsClients, HubTable
    from chalicelib.runtime.aws.dead_letters import SqsDeadLetters
    from chalicelib.runtime.aws.queue import SqsQueue

    resources = request.getfixturevalue("moto_aws")
    queue = SqsQueue(resources.prefix)

    def receive(name: str) -> list[tuple[dict[str, Any], str]]:
        sqs = queue.addresses.sqs
        got = sqs.receive_message(
            QueueUrl=queue.addresses.queue_url(name), MaxNumberOfMessages=10, VisibilityTimeout=0
        ).get("Messages", [])
        return [(json.loads(m["Body"]), m["ReceiptHandle"]) for m in got]

    def waiting(name: str) -> list[dict[str, Any]]:
        return [body for body, _ in receive(name)]

    letters = SqsDeadLetters(queue, HubTable(resources.table, AwsClients(), "the dead letters"))
    return Pair(queue, letters, waiting, receive, stale_delete_keeps=None)  # SQS: "might not be deleted"


def fake(tmp_path: Any, request: pytest.FixtureRequest) -> Pair:
    from tests.unit.port_fakes import FakeDeadLetters, FakeQueue

    queue = FakeQueue()
    return Pair(queue, FakeDeadLetters(queue), queue.waiting, queue.receive, stale_delete_keeps=True)


@pytest.fixture(params=[embedded, aws, fake], ids=["embedded", "aws", "fake"])
def pair(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Pair]:
    yield request.param(tmp_path, request)


BODY = {"kind": "invoice_paid", "event_id": "stripe:evt_1", "nested": {"n": [1, 2]}, "text": "é ✓"}


def test_a_sent_body_waits_in_its_queue_as_sent(pair):
    pair.queue.send(QUEUE, BODY, dedupe_id="stripe:evt_1")
    assert pair.waiting(QUEUE) == [BODY]
    assert pair.queue.depth().get(QUEUE) == 1
    assert pair.waiting("mail") == []


def test_retry_later_of_a_stale_receipt_is_harmless(pair):
    pair.queue.send(QUEUE, BODY, dedupe_id="d1")
    pair.queue.retry_later(QUEUE, "no-such-receipt", 5)  # best effort: a batch never fails on it
    assert pair.waiting(QUEUE) == [BODY]


def test_a_delivery_deleted_with_its_receipt_is_gone(pair):
    pair.queue.send(QUEUE, BODY, dedupe_id="d1")
    [(body, receipt)] = pair.receive(QUEUE)
    assert body == BODY
    pair.queue.delete(QUEUE, receipt)
    pair.queue.delete(QUEUE, receipt)  # a retried delete: harmless
    assert pair.waiting(QUEUE) == []


def test_a_stale_receipt_never_raises_nor_takes_the_message_from_its_new_receiver(pair):
    """The first consumer's visibility ran out; a second received the message with a new
    receipt; the first, done at last, deletes with its old receipt."""
    pair.queue.send(QUEUE, BODY, dedupe_id="d1")
    [(_, old)] = pair.receive(QUEUE)
    [(body, new)] = pair.receive(QUEUE)
    assert body == BODY and new != old

    pair.queue.delete(QUEUE, old)  # never raises
    if pair.stale_delete_keeps:
        assert pair.waiting(QUEUE) == [BODY]  # the new receiver still has it
    pair.queue.delete(QUEUE, new)  # the new receiver, done: gone (and never raises either)
    assert pair.waiting(QUEUE) == []


def test_a_receipt_the_queue_never_gave_deletes_nothing_and_never_raises(pair):
    pair.queue.send(QUEUE, BODY, dedupe_id="d1")
    pair.queue.delete(QUEUE, "no-such-receipt")  # SQS: ReceiptHandleIsInvalid, logged
    assert pair.waiting(QUEUE) == [BODY]


def test_a_parked_message_is_one_letter_under_its_hashed_id(pair):
    pair.letters.park(QUEUE, BODY, "no box has price_x", "invoice_paid", message_id="m-1")
    pair.letters.park(QUEUE, BODY, "no box has price_x", "invoice_paid", message_id="m-1")  # redelivered
    [letter] = pair.letters.list()
    assert (letter.id, letter.queue, letter.body, letter.reason, letter.step) == (
        letter_id("m-1"),
        QUEUE,
        BODY,
        "no box has price_x",
        "invoice_paid",
    )


def test_letters_are_listed_oldest_first(pair):
    import time

    for n in range(3):
        pair.letters.park(QUEUE, {**BODY, "n": n}, "bad", "s", message_id=f"m-{n}")
        time.sleep(0.002)  # SQS's SentTimestamp has millisecond resolution
    assert [d.body["n"] for d in pair.letters.list()] == [0, 1, 2]


def test_a_replay_puts_the_message_back_once(pair):
    pair.letters.park(QUEUE, BODY, "bad", "s", message_id="m-1")
    [letter] = pair.letters.list()
    assert pair.letters.replay(letter.id) is True
    assert pair.letters.replay(letter.id) is False
    assert pair.letters.list() == []
    assert pair.waiting(QUEUE) == [BODY]


def test_a_discard_drops_the_letter_once(pair):
    pair.letters.park(QUEUE, BODY, "bad", "s", message_id="m-1")
    [letter] = pair.letters.list()
    assert pair.letters.discard(letter.id, "test order") is True
    assert pair.letters.discard(letter.id, "again") is False
    assert pair.letters.replay(letter.id) is False
    assert pair.letters.list() == []
    assert pair.waiting(QUEUE) == []


def test_unknown_letters_are_neither_replayed_nor_discarded(pair):
    assert pair.letters.replay("000000000000") is False
    assert pair.letters.discard("000000000000", "x") is False
