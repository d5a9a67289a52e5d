"""The customer rules: email identity, form consent, and the status machine."""

from __future__ import annotations

import pytest

from chalicelib.domain.customer import (
    STATUSES,
    Customer,
    CustomerChange,
    apply_change,
    consent_from_form,
    next_status,
    normalise_email,
    valid_email,
)
from chalicelib.errors import PermanentError

# Every (current, wanted) pair of known statuses, and what the status becomes.
# Written out by hand rather than read from the module, so a change of rule shows here.
TRANSITIONS = {
    ("registered", "active"): "active",
    ("registered", "past_due"): "past_due",
    ("registered", "cancelled"): "cancelled",
    ("active", "registered"): "active",  # a second sign-up form is not a downgrade
    ("active", "past_due"): "past_due",
    ("active", "cancelled"): "cancelled",
    ("past_due", "registered"): "past_due",
    ("past_due", "active"): "active",  # the retried payment went through
    ("past_due", "cancelled"): "cancelled",
    ("cancelled", "registered"): "cancelled",
    ("cancelled", "active"): "active",  # subscribed again
    ("cancelled", "past_due"): "cancelled",  # a late failure does not revive a cancelled one
}


def test_the_transition_table_covers_every_pair_of_statuses():
    pairs = {(a, b) for a in STATUSES for b in STATUSES if a != b}
    assert set(TRANSITIONS) == pairs


@pytest.mark.parametrize(("current", "wanted"), sorted(TRANSITIONS))
def test_next_status(current, wanted):
    assert next_status(current, wanted) == TRANSITIONS[(current, wanted)]


@pytest.mark.parametrize("status", STATUSES)
def test_same_status_and_no_wish_keep_the_status(status):
    assert next_status(status, status) == status
    assert next_status(status, None) == status


def test_a_status_typed_by_hand_gives_way_to_the_event():
    assert next_status("paused by phone", "active") == "active"
    assert next_status("", "past_due") == "past_due"
    assert next_status("paused by phone", None) == "paused by phone"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("Ann@Example.COM", "ann@example.com"), ("  ann@example.com \t", "ann@example.com"), ("", ""), (None, "")],
)
def test_normalise_email(raw, expected):
    assert normalise_email(raw) == expected


def test_valid_email_normalises():
    assert valid_email("  Ann.Lee+box@Example.org ") == "ann.lee+box@example.org"


@pytest.mark.parametrize(
    "raw", ["", "   ", "ann", "ann@", "@example.com", "ann@example", "a nn@example.com", "a@b@c.d"]
)
def test_valid_email_refuses_what_is_not_an_address(raw):
    with pytest.raises(PermanentError, match="not an email address"):
        valid_email(raw)


@pytest.mark.parametrize(
    ("value", "consent"),
    [
        (None, False),
        ("", False),
        ("  ", False),
        ("no", False),
        ("No", False),
        ("FALSE", False),
        ("0", False),
        ("yes", True),
        ("Yes please", True),
        ("1", True),
        ("on", True),
        ("Newsletter", True),
    ],
)
def test_consent_from_form(value, consent):
    assert consent_from_form(value) is consent


def test_a_new_customer_starts_registered_and_signed_up_today():
    customer = apply_change(None, CustomerChange(email="ann@example.com", name="Ann"), "2025-06-01")
    assert customer == Customer(email="ann@example.com", name="Ann", status="registered", signed_up="2025-06-01")


def test_a_new_customer_may_start_active():
    customer = apply_change(None, CustomerChange(email="ann@example.com", status="active"), "2025-06-01")
    assert customer.status == "active"
    assert customer.signed_up == "2025-06-01"


def test_a_change_keeps_what_it_does_not_know():
    before = Customer(
        email="ann@example.com",
        name="Ann Lee",
        address="1 Rue X, Lyon",
        box="BOX-SUPER",
        status="active",
        consent=True,
        stripe_customer="cus_1",
        signed_up="2025-01-01",
        last_order="2025-05-01 in_1",
    )
    # None and empty strings both mean "the event does not say".
    after = apply_change(before, CustomerChange(email="ann@example.com", name="", address=None), "2025-06-01")
    assert after == before


def test_a_change_overwrites_what_it_knows_but_never_the_sign_up_day():
    before = Customer(email="ann@example.com", name="Ann", consent=True, signed_up="2025-01-01")
    after = apply_change(
        before,
        CustomerChange(
            email="ann@example.com",
            name="Ann Lee",
            address="2 Rue Y",
            box="BOX-CLASSIC",
            status="active",
            consent=False,
            stripe_customer="cus_9",
            last_order="2025-06-01 in_9",
        ),
        "2025-06-01",
    )
    assert after == Customer(
        email="ann@example.com",
        name="Ann Lee",
        address="2 Rue Y",
        box="BOX-CLASSIC",
        status="active",
        consent=False,
        stripe_customer="cus_9",
        signed_up="2025-01-01",
        last_order="2025-06-01 in_9",
    )


def test_a_change_follows_the_status_rules():
    before = Customer(email="ann@example.com", status="active")
    assert apply_change(before, CustomerChange(email="ann@example.com", status="registered"), "d").status == "active"
