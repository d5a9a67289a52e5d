"""Events as queue messages: every kind survives JSON, and bad messages are permanent."""

from __future__ import annotations

import json

import pytest

from chalicelib import flows, queues
from chalicelib.domain import events as ev
from chalicelib.errors import PermanentError

ONE_OF_EACH = [
    ev.SignedUp("formstack:1", email="ann@example.com", name="Ann", address="Lyon", box_value="Super", consent=True),
    ev.CheckoutCompleted("stripe:evt_1", email="ann@example.com", consent=None, price_ids=("price_a", "price_b")),
    ev.InvoicePaid("stripe:evt_2", invoice_id="in_1", email="", stripe_customer="cus_1", price_ids=("price_a",)),
    ev.PaymentFailed("stripe:evt_3", invoice_id="in_2", stripe_customer="cus_1"),
    ev.SubscriptionCancelled("stripe:evt_4", subscription="sub_1", stripe_customer="cus_1", created=1700000000),
    ev.SubscriptionUpdated(
        "stripe:evt_6", subscription="sub_1", stripe_customer="cus_1", status="active", cancel_at_period_end=True
    ),
    ev.CustomerUpdated("stripe:evt_7", stripe_customer="cus_1", email="new@example.com", created=1700000001),
    ev.ChargeRefunded("stripe:evt_5", charge_id="ch_1", amount_refunded=1250, currency="eur"),
    ev.SlackMention("slack:Ev1", channel="C1", text="<@U1> stats", thread_ts="1.2"),
    ev.Unsubscribed("unsub:ann", email="ann@example.com"),
    ev.MarketingDue("mail:ann@example.com:newcomer", email="ann@example.com"),
    ev.Notification("notify:x", text="hello", channel="#ops"),
    ev.SlowCommand("cmd:1", text="find ann@example.com", response_url="https://hooks.example/r", user="U1"),
]


def test_every_kind_is_in_the_sample():
    assert {type(e) for e in ONE_OF_EACH} == set(ev._KINDS.values())
    assert len({e.kind for e in ONE_OF_EACH}) == len(ONE_OF_EACH)


@pytest.mark.parametrize("event", ONE_OF_EACH, ids=lambda e: e.kind)
def test_an_event_survives_its_trip_through_json(event):
    body = json.loads(json.dumps(ev.to_message(event)))
    assert body["kind"] == event.kind
    assert ev.from_message(body) == event


@pytest.mark.parametrize("event", ONE_OF_EACH, ids=lambda e: e.kind)
def test_every_kind_has_a_flow_and_a_queue(event):
    assert type(event) in flows._HANDLERS or type(event) in flows._CUSTOMER_STEPS
    assert queues.queue_for(event) in (queues.SIGNUPS, queues.PAYMENTS, queues.MAIL, queues.SLACK)


def test_queues_by_kind():
    by_kind = {e.kind: queues.queue_for(e) for e in ONE_OF_EACH}
    assert by_kind == {
        "signed_up": "signups",
        "unsubscribed": "signups",
        "checkout_completed": "payments",
        "invoice_paid": "payments",
        "payment_failed": "payments",
        "subscription_cancelled": "payments",
        "subscription_updated": "payments",
        "customer_updated": "payments",
        "charge_refunded": "payments",
        "marketing_due": "mail",
        "notification": "slack",
        "slack_mention": "slack",
        "slow_command": "slack",
    }


def test_from_message_does_not_change_its_argument():
    body = ev.to_message(ONE_OF_EACH[1])
    before = json.dumps(body, sort_keys=True)
    ev.from_message(body)
    assert json.dumps(body, sort_keys=True) == before


@pytest.mark.parametrize("body", [{}, {"kind": "nope", "event_id": "x"}, {"kind": None}, {"kind": 3}])
def test_an_unknown_kind_is_permanent(body):
    with pytest.raises(PermanentError, match="unknown event kind"):
        ev.from_message(body)


def test_an_unknown_field_is_permanent_and_named():
    body = {**ev.to_message(ONE_OF_EACH[0]), "colour": "red"}
    with pytest.raises(PermanentError, match="colour"):
        ev.from_message(body)


def test_a_missing_field_is_permanent_and_named():
    with pytest.raises(PermanentError, match="invoice_id"):
        ev.from_message({"kind": "invoice_paid", "event_id": "stripe:evt", "email": "a@b.c"})


def test_the_kind_is_not_a_field_of_the_dataclass():
    # `kind` is a ClassVar: it stays out of __init__, so a message's kind cannot be overridden.
    with pytest.raises(TypeError):
        ev.SignedUp(event_id="x", email="a@b.c", kind="other")  # type: ignore[call-arg]
