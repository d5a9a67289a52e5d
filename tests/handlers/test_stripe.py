"""POST /webhooks/stripe: signature on the raw body, 5-minute tolerance, once per event id."""

from __future__ import annotations

import json
import time

import pytest

from devtools import payloads
from devtools.signing import stripe_headers
from tests.conftest import SECRETS

SECRET = SECRETS["STRIPE_WEBHOOK_SECRET"]


def post(client, body: bytes, secret: str = SECRET, timestamp: int | None = None, content_type=None):
    headers = stripe_headers(body, secret, timestamp)
    if content_type:
        headers["Content-Type"] = content_type
    return client.http.post("/webhooks/stripe", body=body, headers=headers)


def test_checkout_then_invoice_paid_gives_customer_and_confirmed_order(client, hub, drain):
    assert post(client, payloads.stripe_checkout_completed("evt_c1", "ann@example.com", "cus_1")).status_code == 200
    invoice = payloads.stripe_invoice_paid("evt_i1", "in_1", "ann@example.com", "cus_1", "price_super_monthly")
    assert post(client, invoice).status_code == 200
    drain()
    customer = hub.sheet.get("ann@example.com")
    assert customer.status == "active"
    assert customer.stripe_customer == "cus_1"
    assert customer.box == "BOX-SUPER"
    assert customer.last_order.endswith("in_1")
    [order] = hub.stock.orders()
    assert (order["client_order_ref"], order["state"], order["default_code"]) == ("in_1", "sale", "BOX-SUPER")
    texts = [m["text"] for m in hub.notifier.messages()]
    assert any("in_1" in t for t in texts) and any("New subscriber" in t for t in texts)


def test_old_invoice_line_shape_is_read_too(client, hub, drain):
    body = payloads.stripe_invoice_paid(
        "evt_i2", "in_2", "old@example.com", "cus_2", "price_classic_monthly", new_shape=False
    )
    assert post(client, body).status_code == 200
    drain()
    [order] = hub.stock.orders()
    assert order["default_code"] == "BOX-CLASSIC"


def test_same_event_twice_makes_one_order(client, hub, drain):
    body = payloads.stripe_invoice_paid("evt_i3", "in_3", "d@example.com", "cus_3", "price_super_monthly")
    assert json.loads(post(client, body).body)["duplicate"] is False
    assert json.loads(post(client, body).body)["duplicate"] is True
    drain()
    assert len(hub.stock.orders()) == 1


def test_same_invoice_in_two_events_makes_one_order(client, hub, drain):
    for event_id in ("evt_a", "evt_b"):
        body = payloads.stripe_invoice_paid(event_id, "in_4", "e@example.com", "cus_4", "price_super_monthly")
        assert post(client, body).status_code == 200
    drain()
    assert len(hub.stock.orders()) == 1


def invoice(n: str) -> bytes:
    return payloads.stripe_invoice_paid(f"evt_{n}", f"in_{n}", f"{n}@example.com", f"cus_{n}", "price_super_monthly")


@pytest.mark.parametrize(
    ("send", "status", "message", "env"),
    [
        pytest.param(
            lambda c: post(c, invoice("s"), timestamp=int(time.time()) - 600),
            401,
            "signature refused",
            None,
            id="stale",
        ),
        pytest.param(
            lambda c: post(c, invoice("b"), secret="whsec_wrong"), 401, "signature refused", None, id="bad-signature"
        ),
        pytest.param(
            lambda c: c.http.post("/webhooks/stripe", body=b"{}", headers={"Content-Type": "application/json"}),
            401,
            "Stripe-Signature",
            None,
            id="no-signature",
        ),
        pytest.param(lambda c: post(c, b"{not json"), 400, "JSON", None, id="signed-not-json"),
        pytest.param(lambda c: post(c, b'{"id": "evt_x"}'), 400, "an id and a type", None, id="signed-no-type"),
        pytest.param(
            lambda c: post(c, invoice("t"), content_type="text/plain"), 415, "text/plain", None, id="text-plain"
        ),
        pytest.param(
            lambda c: post(c, b"{}"), 503, "STRIPE_WEBHOOK_SECRET", {"STRIPE_WEBHOOK_SECRET": None}, id="not-configured"
        ),
    ],
)
def test_refused_with_a_clear_error_and_nothing_changed(refuses, send, status, message, env):
    refuses(send, status, message, env)


def test_unhandled_type_is_acknowledged_and_ignored(client, sinks):
    before = sinks()
    body = json.dumps({"id": "evt_p", "type": "payment_intent.created", "data": {"object": {"id": "pi_1"}}}).encode()
    response = post(client, body)
    assert response.status_code == 200
    assert json.loads(response.body)["ignored"] == "payment_intent.created"
    assert sinks() == before


def test_unknown_price_is_dead_lettered_and_replayable_after_a_fix(client, hub, drain):
    body = payloads.stripe_invoice_paid("evt_u", "in_u", "u@example.com", "cus_u", "price_unknown")
    assert post(client, body).status_code == 200
    drain()
    [letter] = hub.dead_letters.list()
    assert "price_unknown" in letter.reason
    assert letter.step.startswith("invoice_paid")
    assert hub.stock.orders() == []


def test_failed_payment_cancel_and_refund(client, hub, drain):
    post(client, payloads.stripe_checkout_completed("evt_c9", "f@example.com", "cus_9"))
    drain()
    post(client, payloads.stripe_payment_failed("evt_f9", "in_9", "f@example.com", "cus_9"))
    drain()
    assert hub.sheet.get("f@example.com").status == "past_due"
    post(client, payloads.stripe_subscription_deleted("evt_d9", "cus_9"))
    drain()
    assert hub.sheet.get("f@example.com").status == "cancelled"
    post(client, payloads.stripe_charge_refunded("evt_r9", "f@example.com", "cus_9"))
    drain()
    assert hub.sheet.get("f@example.com").status == "cancelled"
    texts = " ".join(m["text"] for m in hub.notifier.messages())
    assert "Payment failed" in texts and "cancelled" in texts and "Refund of 29.00 EUR" in texts
