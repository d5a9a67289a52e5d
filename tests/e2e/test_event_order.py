"""A few orders of a subscription's life, signed and posted over HTTP to the real
`chalice local`, each with a duplicate: every customer ends as the life in order ends
(the 120 permutations run against the flows in tests/unit/test_event_order.py)."""

from __future__ import annotations

import time

import pytest

from devtools import payloads
from tests.e2e.conftest import client_for, wait_for

pytestmark = pytest.mark.e2e

T0 = 1750000000
# (name of the customer, the order of delivery; the first name is delivered twice, the copy last)
ORDERS = [
    ("inorder", ["checkout", "paid", "failed", "updated", "deleted"]),
    ("reversed", ["deleted", "updated", "failed", "paid", "checkout"]),  # waits for its checkout
    ("latepaid", ["paid", "checkout", "deleted", "failed", "updated"]),  # the box still ships
]


def life(who: str) -> dict[str, bytes]:
    email, cus = f"{who}@example.com", f"cus_{who}"
    return {
        "checkout": payloads.stripe_checkout_completed(f"evt_{who}_c", email, cus, created=T0 + 10),
        "paid": payloads.stripe_invoice_paid(
            f"evt_{who}_p", f"in_{who}", email, cus, "price_super_monthly", created=T0 + 20, plan_only=True
        ),
        "failed": payloads.stripe_payment_failed(f"evt_{who}_f", f"in_{who}_2", email, cus, created=T0 + 30),
        "updated": payloads.stripe_subscription_updated(f"evt_{who}_u", cus, "active", True, created=T0 + 40),
        "deleted": payloads.stripe_subscription_deleted(f"evt_{who}_d", cus, created=T0 + 50),
    }


def test_a_few_orders_over_http_end_as_in_order(start_hub, state):
    client = client_for(start_hub())
    started = time.monotonic()
    for who, order in ORDERS:
        bodies = life(who)
        for name in [*order, order[0]]:
            assert client.stripe(bodies[name]).status == 200

    def settled():
        rows = {who: state.customer(f"{who}@example.com") for who, _ in ORDERS}
        done = all(r and r["Status"] == "cancelled" and r["Last order"] for r in rows.values())
        return done and state.queued() == 0 and rows

    rows = wait_for(settled, timeout=30, what="every customer cancelled, every box shipped")
    for who, row in rows.items():
        assert (row["Stripe customer"], row["Box"], row["Ends on"], row["Marketing consent"]) == (
            f"cus_{who}",
            "BOX-SUPER",
            "2025-06-15",
            "yes",
        ), who
        assert row["Last order"].endswith(f"in_{who}")
    assert sorted((o["client_order_ref"], o["state"], o["default_code"]) for o in state.orders()) == sorted(
        (f"in_{who}", "sale", "BOX-SUPER") for who, _ in ORDERS
    )
    assert len(state.customers()) == len(ORDERS)
    assert state.dead_letters() == []
    assert time.monotonic() - started < 20
