"""A service down for an hour costs time, not messages: the embedded queue and the
consumer's redelivery policy, driven through a day on a fake clock."""

from __future__ import annotations

import json

from chalice import Chalice

from chalicelib import queues
from chalicelib.domain import events as ev
from chalicelib.plumbing.sqlite import Database
from chalicelib.redelivery import MAX_DELAY, RedeliveryPolicy
from chalicelib.runtime import consumer
from chalicelib.runtime.embedded.dead_letters import SqliteDeadLetters
from chalicelib.runtime.embedded.dispatcher import Dispatcher
from chalicelib.runtime.embedded.queue import SqliteQueue
from tests.unit.port_fakes import World

START = 1_750_000_000.0
HOUR = 3600.0


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


class Outage(SqliteQueue):
    """The embedded queue with its dead letters at hand, for the assertions."""

    def __init__(self, db: Database, clock: Clock) -> None:
        super().__init__(db, clock=clock)
        self.letters = SqliteDeadLetters(db, self)


def setup(tmp_path, give_up_after: float = 24 * HOUR) -> tuple[World, Outage, Dispatcher, Clock]:
    clock = Clock()
    world = World()
    queue = Outage(Database(tmp_path / "hub.sqlite3"), clock=clock)
    policy = RedeliveryPolicy(give_up_after=give_up_after, clock=clock)
    app = Chalice(app_name="outage")

    @app.on_sqs_message(queue=queues.PAYMENTS, batch_size=10)
    def on_payment(event):
        ports = world.ports
        # retries and dead letters go to the real embedded queue
        ports.queue, ports.dead_letters = queue, queue.letters
        return consumer.consume(event, ports, policy)

    paid = ev.InvoicePaid(
        event_id="stripe:evt_1",
        invoice_id="in_1",
        email="ann@example.com",
        stripe_customer="cus_1",
        price_ids=("price_super_monthly",),
    )
    queue.send(queues.PAYMENTS, json.loads(json.dumps(ev.to_message(paid))), dedupe_id=paid.event_id)
    return world, queue, Dispatcher(app, queue), clock


def live_until(queue: SqliteQueue, dispatcher: Dispatcher, clock: Clock, until: float) -> int:
    """Deliver whatever is due, jumping the clock to the next visible message; returns deliveries."""
    deliveries = 0
    while clock.now < until:
        deliveries += dispatcher.deliver_once()
        nxt = queue.next_visible_at([queues.PAYMENTS])
        if nxt is None:
            break
        clock.now = max(clock.now, min(nxt, until))
    return deliveries


def test_an_hour_long_outage_loses_nothing_and_needs_no_replay(tmp_path):
    world, queue, dispatcher, clock = setup(tmp_path)
    world.stock.fail_next("find_order", times=10_000)

    tries = live_until(queue, dispatcher, clock, START + HOUR)

    assert queue.letters.list() == []  # no dead letter
    assert queue.depth() == {queues.PAYMENTS: 1}  # still waiting for its next try
    assert 8 < tries < 30  # backoff, not a flurry: up to 15 minutes between tries
    world.stock.heal()
    live_until(queue, dispatcher, clock, START + HOUR + MAX_DELAY + 1)
    assert [(o.ref, o.state) for o in world.stock.orders] == [("in_1", "sale")]
    assert queues.PAYMENTS not in queue.depth() and queue.letters.list() == []


def test_a_message_failing_for_the_whole_give_up_period_becomes_one_dead_letter(tmp_path):
    world, queue, dispatcher, clock = setup(tmp_path, give_up_after=24 * HOUR)
    world.stock.fail_next("find_order", times=10_000)

    live_until(queue, dispatcher, clock, START + 23 * HOUR)
    assert queue.letters.list() == []

    live_until(queue, dispatcher, clock, START + 25 * HOUR)
    [letter] = queue.letters.list()
    assert letter.reason.startswith("gave up after failing for 24")
    assert queue.depth() == {}
    assert world.stock.orders == []
