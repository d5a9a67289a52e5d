"""The shared queue consumer: partial batch failures, retries and dead letters.

Batches are Chalice `SQSEvent`s built from Lambda-shaped dicts, as SQS delivers them.
"""

from __future__ import annotations

import json

import pytest
from chalice.app import SQSEvent

from chalicelib import queues
from chalicelib.dead_letters import letter_id
from chalicelib.domain import events as ev
from chalicelib.errors import TransientError
from chalicelib.redelivery import MAX_DELAY, RedeliveryPolicy, first_received_at, most_deliveries
from chalicelib.runtime import consumer
from tests.unit.port_fakes import World

ANN = "ann@example.com"


NOW = 1_750_000_000.0
HOUR = 3600.0


def record(
    body: str | dict, message_id: str, receives: int = 1, queue: str = queues.PAYMENTS, failing_for: float = 0.0
) -> dict:
    """An SQS record first received `failing_for` seconds before `NOW`."""
    first = int((NOW - failing_for) * 1000)
    return {
        "messageId": message_id,
        "receiptHandle": f"receipt-{message_id}",
        "body": body if isinstance(body, str) else json.dumps(body),
        "attributes": {
            "ApproximateReceiveCount": str(receives),
            "SentTimestamp": str(first - 500),
            "ApproximateFirstReceiveTimestamp": str(first),
        },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:eu-west-3:123456789012:{queue}",
        "awsRegion": "eu-west-3",
    }


def batch(*records: dict) -> SQSEvent:
    return SQSEvent({"Records": list(records)}, context=None)


def paid(invoice_id: str, price: str = "price_super_monthly") -> dict:
    """An invoice.paid message body, as JSON gives it back (tuples become lists)."""
    message = ev.to_message(
        ev.InvoicePaid(
            event_id=f"stripe:evt_{invoice_id}",
            invoice_id=invoice_id,
            email=ANN,
            name="Ann",
            stripe_customer="cus_ann",
            price_ids=(price,),
        )
    )
    return json.loads(json.dumps(message))


POLICY = RedeliveryPolicy(clock=lambda: NOW)


def consume(w: World, sqs_event: SQSEvent, policy: RedeliveryPolicy = POLICY) -> dict:
    return consumer.consume(sqs_event, w.ports, policy)


@pytest.fixture
def w() -> World:
    return World()


def test_a_good_batch_reports_no_failures(w):
    result = consume(w, batch(record(paid("in_1"), "m1"), record(paid("in_2"), "m2")))
    assert result == {"batchItemFailures": []}
    assert [o.ref for o in w.stock.orders] == ["in_1", "in_2"]
    assert w.dead_letters.letters == {}
    assert w.queue.retries == []


def test_only_the_failed_records_are_reported(w):
    w.stock.fail_next("find_order", skip=1)  # the second record meets a stock outage
    result = consume(
        w,
        batch(
            record(paid("in_ok"), "m-ok"),
            record(paid("in_down"), "m-down", receives=2),
            record(paid("in_bad", price="price_nope"), "m-bad"),
            record(paid("in_ok2"), "m-ok2"),
        ),
    )

    assert result == {"batchItemFailures": [{"itemIdentifier": "m-down"}]}
    assert [o.ref for o in w.stock.orders] == ["in_ok", "in_ok2"]
    # the transient one is hidden for a while, by its own receipt, on its own queue
    [(queue, receipt, delay)] = w.queue.retries
    assert (queue, receipt) == (queues.PAYMENTS, "receipt-m-down")
    assert 2.0 <= delay <= 4.0  # equal jitter: between half of 2 ** receives and all of it
    # the permanent one is parked at once, with the reason and the failing step
    [letter] = w.dead_letters.list()
    assert letter.id == letter_id("m-bad")
    assert letter.queue == queues.PAYMENTS
    assert letter.body == paid("in_bad", price="price_nope")
    assert "price_nope" in letter.reason
    assert letter.step == "invoice_paid"


def test_a_permanent_error_is_not_retried(w):
    result = consume(w, batch(record(paid("in_1", price="price_nope"), "m1", receives=1)))
    assert result == {"batchItemFailures": []}
    assert w.queue.retries == []
    assert len(w.dead_letters.list()) == 1


def test_a_server_retry_after_hint_sets_the_delay(w):
    w.stock.fail_next("find_order", error=TransientError("Odoo says slow down", retry_after=42.0))
    result = consume(w, batch(record(paid("in_1"), "m1")))
    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert w.queue.retries == [(queues.PAYMENTS, "receipt-m1", 42.0)]


def test_an_unexpected_exception_is_retried_like_a_transient_one(w):
    w.stock.fail_next("find_order", error=RuntimeError("bug in an adapter"))
    result = consume(w, batch(record(paid("in_1"), "m1")))
    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert w.dead_letters.list() == []


def test_a_message_failing_for_less_than_a_day_is_retried_whatever_its_receive_count(w):
    w.stock.fail_next("find_order")
    result = consume(w, batch(record(paid("in_1"), "m1", receives=150, failing_for=23.9 * HOUR)))
    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert w.dead_letters.list() == []
    [(_, _, delay)] = w.queue.retries
    assert MAX_DELAY / 2 <= delay <= MAX_DELAY  # capped at 15 minutes


def test_a_message_failing_for_a_day_goes_to_the_dead_letters(w):
    w.stock.fail_next("find_order")
    last = consume(w, batch(record(paid("in_1"), "m1", receives=3, failing_for=24 * HOUR)))

    assert last == {"batchItemFailures": []}  # reported as done: it is parked, not lost
    assert w.queue.retries == []
    [letter] = w.dead_letters.list()
    assert letter.reason.startswith("gave up after failing for 24 h (3 deliveries)")
    assert "TransientError" in letter.reason
    assert letter.step == "invoice_paid"
    assert letter.body == paid("in_1")


def test_give_up_after_is_a_setting_of_the_policy(w):
    w.stock.fail_next("find_order", times=2)
    hourly = RedeliveryPolicy(give_up_after=HOUR, clock=lambda: NOW)
    assert consume(w, batch(record(paid("in_1"), "m1", failing_for=HOUR - 1)), hourly)["batchItemFailures"]
    assert consume(w, batch(record(paid("in_1"), "m1", failing_for=HOUR)), hourly) == {"batchItemFailures": []}
    assert len(w.dead_letters.list()) == 1


def test_first_delivery_comes_from_sqs_attributes():
    assert (
        first_received_at({"attributes": {"ApproximateFirstReceiveTimestamp": "1500", "SentTimestamp": "1"}}, 9) == 1.5
    )
    assert first_received_at({"attributes": {"SentTimestamp": "2000"}}, 9) == 2.0
    assert first_received_at({}, 9.0) == 9.0


def test_sqs_redrive_stays_above_what_the_policy_can_deliver_in_the_longest_give_up():
    from chalicelib.redelivery import MAX_GIVE_UP_AFTER, MAX_RECEIVE_COUNT

    assert most_deliveries(MAX_GIVE_UP_AFTER) <= MAX_RECEIVE_COUNT
    # Simulate the shortest delays the policy can draw: the bound holds.
    low = RedeliveryPolicy()
    elapsed, n = 0.0, 0
    while elapsed < 24 * HOUR:
        n += 1
        elapsed += min(MAX_DELAY, 2.0**n) / 2
    assert n <= most_deliveries(low.give_up_after)


def test_a_dead_letter_can_be_replayed_through_todays_flows(w):
    w.catalog = type(w.catalog).from_dict({"boxes": [{"sku": "BOX-SUPER"}], "upsell": "BOX-SUPER"})
    consume(w, batch(record(paid("in_1", price="price_new"), "m1")))
    [letter] = w.dead_letters.list()

    # The operator adds the price to the catalog, then replays.
    w.catalog = type(w.catalog).from_dict(
        {"boxes": [{"sku": "BOX-SUPER", "stripe_prices": ["price_new"]}], "upsell": "BOX-SUPER"}
    )
    assert w.dead_letters.replay(letter.id)
    w.drain(queues.PAYMENTS)
    assert [(o.ref, o.state) for o in w.stock.orders] == [("in_1", "sale")]


@pytest.mark.parametrize("body", ["{not json", "", "\x00\x01"])
def test_an_unreadable_body_goes_to_the_dead_letters_at_once(w, body):
    # It can never be read, whatever the retry: a permanent failure (DESIGN §4).
    result = consume(w, batch(record(body, "m-junk", receives=1), record(paid("in_1"), "m-ok")))

    assert result == {"batchItemFailures": []}
    assert w.queue.retries == []
    [letter] = w.dead_letters.list()
    assert letter.id == letter_id("m-junk")  # hashed, as both runtimes do
    assert letter.body == {"unreadable": body}
    assert letter.step == "unreadable"
    assert [o.ref for o in w.stock.orders] == ["in_1"]


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "null"])
def test_a_body_that_is_not_an_object_goes_to_the_dead_letters(w, body):
    result = consume(w, batch(record(body, "m1")))
    assert result == {"batchItemFailures": []}
    [letter] = w.dead_letters.list()
    assert letter.body == {"unreadable": body}


def test_an_unknown_kind_goes_to_the_dead_letters_with_its_kind(w):
    consume(w, batch(record({"kind": "teleport", "event_id": "x"}, "m1")))
    [letter] = w.dead_letters.list()
    assert "teleport" in letter.reason
    assert letter.step == "teleport"
    assert letter.body == {"kind": "teleport", "event_id": "x"}


def test_a_dead_letter_is_parked_once_when_delivered_twice(w):
    bad = record(paid("in_1", price="price_nope"), "m1")
    consume(w, batch(bad))
    consume(w, batch(bad))  # redelivered: the crash came before its deletion
    assert len(w.dead_letters.list()) == 1


def test_records_name_their_queue(w):
    w.notifier.fail_next("post")
    note = ev.to_message(ev.Notification("notify:1", text="hi"))
    consume(w, batch(record(note, "m1", queue=queues.SLACK)))
    assert w.queue.retries[0][0] == queues.SLACK


def test_queue_name_from_the_arn():
    assert consumer.queue_name({"eventSourceARN": "arn:aws:sqs:eu-west-3:1:chocohub-dev-mail"}) == "chocohub-dev-mail"
    assert consumer.queue_name({}) == ""


@pytest.mark.parametrize("receives", [1, 2, 5, 10, 30, 400])
def test_redelivery_delay_grows_with_jitter_and_a_cap(receives):
    cap = min(MAX_DELAY, 2.0**receives)
    delays = [POLICY.delay(receives) for _ in range(50)]
    assert all(cap / 2 <= d <= cap for d in delays)


@pytest.mark.parametrize(("hint", "delay"), [(0.2, 1.0), (30.0, 30.0), (5000.0, 900.0)])
def test_redelivery_delay_honours_a_server_hint_within_bounds(hint, delay):
    assert POLICY.delay(3, retry_after=hint) == delay


def test_failing_step_names_the_deepest_adapter_method(tmp_path):
    # A real embedded adapter raising: the step names the adapter module and method.
    from chalicelib.adapters.stock_ledger import StockLedger
    from chalicelib.domain.catalog import Catalog
    from chalicelib.plumbing.sqlite import Database

    w = World()
    w.stock = StockLedger(
        Database(tmp_path / "hub.sqlite3"), Catalog.from_dict({"boxes": [{"sku": "X"}], "upsell": "X"})
    )
    consume(w, batch(record(paid("in_1"), "m1")))
    [letter] = w.dead_letters.list()
    assert letter.step == "invoice_paid → stock_ledger.create_order"
    assert "BOX-SUPER" in letter.reason
