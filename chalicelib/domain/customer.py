"""The customer as the sheet holds it, and the rules that change it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from chalicelib.domain import validation

STATUSES = ("registered", "active", "past_due", "cancelled")


def normalise_email(raw: str) -> str:
    """The form every comparison uses: trimmed and lower-cased."""
    return (raw or "").strip().lower()


def email_digest(email: str) -> str:
    """A short stable stand-in for an email in ids and logs, which must carry no PII."""
    return hashlib.sha256(normalise_email(email).encode()).hexdigest()[:16]


def valid_email(raw: str) -> str:
    """Return the normalised email, or raise `PermanentError` saying why it is not one
    (without quoting it: the reason is logged and kept with a dead letter)."""
    return validation.valid_email(raw)


def consent_from_form(value: str | None) -> bool:
    """Formstack consent: yes when the field is present and not empty, `no`, `false` or `0`."""
    if value is None:
        return False
    return value.strip().lower() not in ("", "no", "false", "0")


@dataclass(frozen=True)
class Customer:
    """One row of the customer sheet (the hub's columns only)."""

    email: str
    name: str = ""
    address: str = ""
    box: str = ""
    status: str = "registered"
    consent: bool = False
    stripe_customer: str = ""
    signed_up: str = ""
    last_order: str = ""


@dataclass(frozen=True)
class CustomerChange:
    """What an event knows about a customer; `None` leaves a field as it is."""

    email: str
    name: str | None = None
    address: str | None = None
    box: str | None = None
    status: str | None = None
    consent: bool | None = None
    stripe_customer: str | None = None
    last_order: str | None = None


# A status only moves forward along these edges; anything else keeps the current one.
# `registered` never overwrites a paying customer: a second sign-up form is not a downgrade.
_ALLOWED = {
    "registered": {"active", "past_due", "cancelled"},
    "active": {"past_due", "cancelled"},
    "past_due": {"active", "cancelled"},
    "cancelled": {"active"},
}


def next_status(current: str, wanted: str | None) -> str:
    """The status after an event that wants `wanted`."""
    if wanted is None or wanted == current:
        return current
    if current not in _ALLOWED:  # staff typed something else by hand: the event wins
        return wanted
    return wanted if wanted in _ALLOWED[current] else current


def apply_change(current: Customer | None, change: CustomerChange, today: str) -> Customer:
    """The customer after `change`; a new customer starts `registered`, signed up `today`."""
    base = current or Customer(email=change.email, signed_up=today, status="registered")
    return replace(
        base,
        name=change.name or base.name,
        address=change.address or base.address,
        box=change.box or base.box,
        status=next_status(base.status, change.status),
        consent=base.consent if change.consent is None else change.consent,
        stripe_customer=change.stripe_customer or base.stripe_customer,
        last_order=change.last_order or base.last_order,
    )
