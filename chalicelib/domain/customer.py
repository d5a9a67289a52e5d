"""The customer as the sheet holds it, and what an event knows about one.

Which source may write which column, and in which order facts count, is
`chalicelib.domain.precedence`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from chalicelib.domain import validation

# `unpaid`: Stripe stopped retrying the invoices but kept the subscription (no box ships).
STATUSES = ("registered", "active", "past_due", "unpaid", "cancelled")


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
    ends_on: str = ""  # the day the subscription ends (cancels at period end) or ended


@dataclass(frozen=True)
class CustomerChange:
    """What an event knows about a customer; `None` (or "") leaves a field as it is.

    `email` finds the row; `new_email` is Stripe's new address for it (`customer.updated`).
    """

    email: str
    name: str | None = None
    address: str | None = None
    box: str | None = None
    status: str | None = None
    consent: bool | None = None
    stripe_customer: str | None = None
    last_order: str | None = None
    ends_on: str | None = None
    new_email: str | None = None
