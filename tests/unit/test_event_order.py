"""Stripe delivers at least once and in any order: every permutation of a subscription's
life, each with one duplicate, must end where the life delivered in order ends.

The events are Stripe's own payload shapes (devtools.payloads) through the Stripe ingress
and the flows, against the fakes of the ports. A delivery that cannot apply yet (a
subscription event before the checkout naming its customer) raises `TransientError` and
is delivered again after the others, as the queue would.
"""

from __future__ import annotations

import itertools
import json

import pytest

from chalicelib import flows, queues
from chalicelib.domain import events as ev
from chalicelib.errors import TransientError
from chalicelib.ingress import stripe
from devtools import payloads
from tests.unit.port_fakes import TODAY, World

ANN = "ann@example.com"
CUS = "cus_ann"
T0 = 1750000000
PERIOD_END = 1752000000


def parsed(raw: bytes) -> ev.Event:
    event = stripe.to_event(json.loads(raw))
    assert event is not None
    return event


# checkout, paid, failed, updated (card fixed, then set to cancel at period end), deleted
LIFE = {
    "checkout": parsed(payloads.stripe_checkout_completed("evt_c", ANN, CUS, created=T0 + 10)),
    "paid": parsed(payloads.stripe_invoice_paid("evt_p", "in_1", ANN, CUS, "price_super_monthly", created=T0 + 20)),
    "failed": parsed(payloads.stripe_payment_failed("evt_f", "in_2", ANN, CUS, created=T0 + 30)),
    "updated": parsed(
        payloads.stripe_subscription_updated("evt_u", CUS, "active", True, period_end=PERIOD_END, created=T0 + 40)
    ),
    "deleted": parsed(payloads.stripe_subscription_deleted("evt_d", CUS, created=T0 + 50)),
}
NAMES = list(LIFE)
PERMUTATIONS = list(itertools.permutations(NAMES))


def deliver(world: World, names: list[str], batch: bool = False) -> None:
    """Each delivery in turn, or all in one SQS batch; those that must wait are delivered
    again after the rest (in a batch of their own)."""
    pending = [LIFE[n] for n in names]
    for _ in range(len(pending) + 1):
        if batch:
            failures = flows.handle_batch([ev.from_message(ev.to_message(e)) for e in pending], world.ports)
            for failure in failures:
                if failure is not None and not isinstance(failure, TransientError):
                    raise failure
            pending = [e for e, failure in zip(pending, failures, strict=True) if failure is not None]
            continue
        waiting = []
        for event in pending:
            try:
                world.handle(event)
            except TransientError:
                waiting.append(event)
        pending = waiting
    assert pending == [], "deliveries still waiting after every other one was delivered"


def end_state(world: World) -> dict:
    # The marketing email as the customer gets it: a retry may queue it again, the mail
    # flow's claim sends it once.
    world.drain(queues.MAIL)
    return {
        "rows": world.sheet.rows,
        "orders": [(o.ref, o.sku, o.state, world.stock.partner(o.partner_id)) for o in world.stock.orders],
        "marketing": [m.to for m in world.mailer.sent],
        "letters": world.dead_letters.list(),
    }


@pytest.fixture(scope="module")
def in_order() -> dict:
    world = World()
    deliver(world, NAMES)
    return end_state(world)


def test_the_life_in_order_ends_cancelled_with_one_shipped_box(in_order):
    [row] = in_order["rows"]
    assert (row.email, row.status, row.stripe_customer, row.box, row.consent) == (
        ANN,
        "cancelled",
        CUS,
        "BOX-SUPER",
        True,
    )
    assert row.ends_on == "2025-06-15"  # the day it ended (T0 + 50)
    assert row.last_order == f"{TODAY} in_1"
    assert [(ref, sku, state) for ref, sku, state, _ in in_order["orders"]] == [("in_1", "BOX-SUPER", "sale")]
    assert len(in_order["marketing"]) == 1


def test_permutations_are_all_of_them():
    assert len(PERMUTATIONS) == 120 == len(set(PERMUTATIONS))


@pytest.mark.parametrize("batch", [False, True], ids=["one-by-one", "one-batch"])
@pytest.mark.parametrize("index", range(len(PERMUTATIONS)))
def test_every_order_with_a_duplicate_ends_as_in_order(index, batch, in_order):
    order = list(PERMUTATIONS[index])
    # One event delivered twice: each of the five in turn, the copy at each place in turn.
    duplicate = order[index % 5]
    order.insert(index % 6, duplicate)
    world = World()
    deliver(world, order, batch)
    assert end_state(world) == in_order, order


def test_a_late_paid_invoice_ships_its_box_but_leaves_the_cancellation():
    world = World()
    deliver(world, ["checkout", "failed", "deleted", "paid"])
    row = world.sheet.row(ANN)
    assert row.status == "cancelled"
    assert [o.ref for o in world.stock.orders if o.state == "sale"] == ["in_1"]
    assert row.last_order == f"{TODAY} in_1"


def test_cancel_at_period_end_shows_as_the_day_it_ends():
    world = World()
    deliver(world, ["checkout", "paid", "failed", "updated"])
    row = world.sheet.row(ANN)
    assert (row.status, row.ends_on) == ("active", "2025-07-08")  # the card was fixed; ends at period end
