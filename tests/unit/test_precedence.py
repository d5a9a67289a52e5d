"""The column owners and the order of facts, as one table: event kind × current state ×
event age → the status after, and the columns the event wrote (every other column keeps
the row's value). Written out by hand, so a change of rule shows here.
"""

from __future__ import annotations

import dataclasses

import pytest

from chalicelib.domain.customer import Customer, CustomerChange
from chalicelib.domain.precedence import (
    FORM,
    STRIPE,
    UNSUBSCRIBE,
    Clock,
    Origin,
    Stamp,
    decide,
    ends_on_day,
    stripe_stamp,
)

EMAIL = "ann@example.com"
TODAY = "2025-06-01"
APPLIED = 200  # when the row's newest facts happened
AGES = {"newer": 300, "older": 100}

# (source, status the event stands for, from the subscription itself, what it knows)
KINDS: dict[str, tuple[str, str | None, bool, CustomerChange]] = {
    "form": (FORM, None, False, CustomerChange(EMAIL, name="F", address="F st", box="BOX-SUPER", consent=True)),
    "checkout": (
        STRIPE,
        "active",
        False,
        CustomerChange(
            EMAIL, name="S", address="S st", status="active", consent=True, stripe_customer="cus_new", ends_on=""
        ),
    ),
    "paid": (
        STRIPE,
        "active",
        False,
        CustomerChange(
            EMAIL,
            name="S",
            address="S st",
            box="BOX-SUPER",
            status="active",
            stripe_customer="cus_new",
            last_order="2025-06-01 in_9",
        ),
    ),
    "failed": (STRIPE, "past_due", False, CustomerChange(EMAIL, status="past_due", stripe_customer="cus_new")),
    "sub_updated": (
        STRIPE,
        "active",
        True,
        CustomerChange(EMAIL, status="active", stripe_customer="cus_new", ends_on="2025-07-01"),
    ),
    "sub_deleted": (
        STRIPE,
        "cancelled",
        True,
        CustomerChange(EMAIL, status="cancelled", stripe_customer="cus_new", ends_on="2025-06-15"),
    ),
    "cust_updated": (
        STRIPE,
        None,
        False,
        CustomerChange(EMAIL, name="S", address="S st", stripe_customer="cus_new", new_email="new@example.com"),
    ),
    "unsubscribe": (UNSUBSCRIBE, None, False, CustomerChange(EMAIL)),
}

ROW = Customer(EMAIL, name="R", address="R st", box="BOX-CLASSIC", signed_up="2025-01-01")
PAYING = dataclasses.replace(ROW, status="active", consent=True, stripe_customer="cus_row", last_order="x in_0")
STATES: dict[str, tuple[Customer | None, Clock]] = {
    "none": (None, Clock()),
    "registered": (ROW, Clock()),
    "active": (PAYING, Clock(Stamp(APPLIED), Stamp(APPLIED), Stamp(APPLIED), email=Stamp(APPLIED))),
    # cancelled, and unsubscribed at the same time
    "cancelled": (
        dataclasses.replace(PAYING, status="cancelled", consent=False, ends_on="2025-05-20"),
        Clock(Stamp(APPLIED), Stamp(APPLIED), Stamp(APPLIED), unsubscribed=APPLIED, email=Stamp(APPLIED)),
    ),
}

ID = "stripe_customer"
NEW = ("name", "address")
# (kind, state, age) → (status after, columns written). Without a clock, age does not matter.
TABLE: dict[tuple[str, str, str], tuple[str, set[str]]] = {}
for age in AGES:
    TABLE |= {
        ("form", "none", age): ("registered", {*NEW, "box", "consent"}),
        ("checkout", "none", age): ("active", {"status", *NEW, ID, "consent"}),
        ("paid", "none", age): ("active", {"status", "box", *NEW, ID, "last_order"}),
        ("failed", "none", age): ("past_due", {"status", ID}),
        ("sub_updated", "none", age): ("active", {"status", "ends_on", ID}),
        ("sub_deleted", "none", age): ("cancelled", {"status", "ends_on", ID}),
        ("cust_updated", "none", age): ("registered", {*NEW, "email", ID}),
        ("unsubscribe", "none", age): ("registered", set()),
        # a public form fills nothing that is there, but may change a registered box
        ("form", "registered", age): ("registered", {"box", "consent"}),
        ("checkout", "registered", age): ("active", {"status", *NEW, ID, "consent"}),
        ("paid", "registered", age): ("active", {"status", "box", *NEW, ID, "last_order"}),
        ("failed", "registered", age): ("past_due", {"status", ID}),
        ("sub_updated", "registered", age): ("active", {"status", "ends_on", ID}),
        ("sub_deleted", "registered", age): ("cancelled", {"status", "ends_on", ID}),
        ("cust_updated", "registered", age): ("registered", {*NEW, "email", ID}),
        ("unsubscribe", "registered", age): ("registered", set()),
    }
TABLE |= {
    # a paying customer: the newest Stripe fact takes its columns, a form none
    ("form", "active", "newer"): ("active", set()),
    ("checkout", "active", "newer"): ("active", {*NEW, ID}),
    ("paid", "active", "newer"): ("active", {"box", *NEW, ID, "last_order"}),
    ("failed", "active", "newer"): ("past_due", {"status", ID}),
    ("sub_updated", "active", "newer"): ("active", {"ends_on", ID}),
    ("sub_deleted", "active", "newer"): ("cancelled", {"status", "ends_on", ID}),
    ("cust_updated", "active", "newer"): ("active", {*NEW, "email", ID}),
    ("unsubscribe", "active", "newer"): ("active", {"consent"}),
    # ... and an older Stripe fact only fills empty cells: here there are none
    ("form", "active", "older"): ("active", set()),
    ("checkout", "active", "older"): ("active", set()),
    ("paid", "active", "older"): ("active", set()),  # (its box still ships: see the flows)
    ("failed", "active", "older"): ("active", set()),
    ("sub_updated", "active", "older"): ("active", set()),
    ("sub_deleted", "active", "older"): ("active", set()),
    ("cust_updated", "active", "older"): ("active", set()),
    ("unsubscribe", "active", "older"): ("active", {"consent"}),  # withdrawing is never late
    # cancelled and unsubscribed: a newer consent counts, a replayed older one does not
    ("form", "cancelled", "newer"): ("cancelled", {"consent"}),
    ("checkout", "cancelled", "newer"): ("active", {"status", "ends_on", *NEW, ID, "consent"}),
    ("paid", "cancelled", "newer"): ("active", {"status", "box", *NEW, ID, "last_order"}),
    ("failed", "cancelled", "newer"): ("past_due", {"status", ID}),
    ("sub_updated", "cancelled", "newer"): ("active", {"status", "ends_on", ID}),
    ("sub_deleted", "cancelled", "newer"): ("cancelled", {"ends_on", ID}),
    ("cust_updated", "cancelled", "newer"): ("cancelled", {*NEW, "email", ID}),
    ("unsubscribe", "cancelled", "newer"): ("cancelled", set()),
    ("form", "cancelled", "older"): ("cancelled", set()),
    ("checkout", "cancelled", "older"): ("cancelled", set()),
    ("paid", "cancelled", "older"): ("cancelled", set()),
    ("failed", "cancelled", "older"): ("cancelled", set()),
    ("sub_updated", "cancelled", "older"): ("cancelled", set()),
    ("sub_deleted", "cancelled", "older"): ("cancelled", set()),
    ("cust_updated", "cancelled", "older"): ("cancelled", set()),
    ("unsubscribe", "cancelled", "older"): ("cancelled", set()),
}


def test_the_table_covers_every_kind_state_and_age():
    assert set(TABLE) == {(k, s, a) for k in KINDS for s in STATES for a in AGES}


def run(kind: str, state: str, age: str):
    source, status, from_subscription, change = KINDS[kind]
    current, clock = STATES[state]
    created = AGES[age]
    stamp = stripe_stamp(created, f"evt_{kind}", status, from_subscription) if source == STRIPE else Stamp(created)
    return current, clock, change, decide(current, change, Origin(source, stamp), clock, TODAY)


@pytest.mark.parametrize(("kind", "state", "age"), sorted(TABLE))
def test_owners_and_order(kind, state, age):
    current, _, change, decision = run(kind, state, age)
    status, written = TABLE[(kind, state, age)]
    after = decision.customer
    assert (after.status, set(decision.written)) == (status, written)

    before = current or Customer(EMAIL, signed_up=TODAY)
    wanted = {"email": change.new_email, "consent": kind != "unsubscribe"}
    for name in (f.name for f in dataclasses.fields(Customer)):
        value = getattr(after, name)
        if name in written:  # the event's value
            assert value == wanted.get(name, getattr(change, name, None)), name
        else:  # the row's
            assert value == getattr(before, name), name
    assert after.signed_up == before.signed_up


@pytest.mark.parametrize(("kind", "state"), [(k, s) for k in KINDS for s in STATES])
def test_the_clock_moves_only_forward_and_only_for_what_the_event_says(kind, state):
    _, clock, change, newer = run(kind, state, "newer")
    _, _, _, older = run(kind, state, "older")
    source, status, *_ = KINDS[kind]
    if source == STRIPE:
        assert newer.status_applied == (status is not None)
        assert (newer.clock.status != clock.status) == (status is not None)
        assert (newer.clock.identity != clock.identity) == bool(change.name)
        assert (newer.clock.email != clock.email) == bool(change.new_email)
        assert (newer.clock.order != clock.order) == bool(change.last_order)
    else:
        assert not newer.status_applied
        assert (newer.clock.status, newer.clock.identity, newer.clock.order, newer.clock.email) == (
            clock.status,
            clock.identity,
            clock.order,
            clock.email,
        )
    if clock.status is not None:  # an older fact never moves a clock back
        assert older.clock == clock or source == UNSUBSCRIBE
        assert not older.status_applied
    if source == UNSUBSCRIBE:
        assert newer.clock.unsubscribed == max(clock.unsubscribed, AGES["newer"])


def test_a_retried_fact_applies_again_and_changes_nothing():
    _, _, change, first = run("failed", "active", "newer")
    source, status, sub, _ = KINDS["failed"]
    again = decide(
        first.customer,
        change,
        Origin(source, stripe_stamp(AGES["newer"], "evt_failed", status, sub)),
        first.clock,
        TODAY,
    )
    assert again.status_applied
    assert (again.customer, again.clock, again.written) == (first.customer, first.clock, frozenset())


@pytest.mark.parametrize(
    ("first", "second", "winner"),
    [
        # at the same second: an ended subscription over anything, the subscription's own
        # status over a status inferred from an invoice; then the event id decides
        (("failed", "past_due", False), ("sub_deleted", "cancelled", True), "cancelled"),
        (("paid", "active", False), ("sub_deleted", "cancelled", True), "cancelled"),
        (("failed", "past_due", False), ("sub_updated", "active", True), "active"),
        (("paid", "active", False), ("sub_updated", "past_due", True), "past_due"),
        (("failed", "past_due", False), ("paid", "active", False), "active"),  # "evt_paid" > "evt_failed"
    ],
)
def test_facts_of_the_same_second_give_the_same_end_whatever_the_order(first, second, winner):
    ends = []
    for order in ((first, second), (second, first)):
        customer, clock = PAYING, Clock()
        for kind, status, sub in order:
            change = CustomerChange(EMAIL, status=status)
            origin = Origin(STRIPE, stripe_stamp(500, f"evt_{kind}", status, sub))
            decision = decide(customer, change, origin, clock, TODAY)
            customer, clock = decision.customer, decision.clock
        ends.append(customer.status)
    assert ends == [winner, winner]


def test_a_clock_survives_its_store_form():
    clock = Clock(Stamp(1, 2, "evt_a"), None, Stamp(3, 0, "evt_b"), unsubscribed=4, email=Stamp(5, 0, "evt_c"))
    assert Clock.from_dict(clock.to_dict()) == clock
    assert Clock.from_dict(None) == Clock()
    assert Clock.from_dict({"status": "garbage"}) == Clock()


def test_ends_on():
    assert ends_on_day(1751328000, True) == "2025-07-01"
    assert ends_on_day(1751328000, False) == "2025-07-01"  # a cancellation at a chosen date
    assert ends_on_day(0, True) == "end of period"
    assert ends_on_day(0, False) == ""


def test_an_unknown_source_is_a_bug():
    with pytest.raises(ValueError):
        decide(None, CustomerChange(EMAIL), Origin("sheet", Stamp(1)), Clock(), TODAY)
