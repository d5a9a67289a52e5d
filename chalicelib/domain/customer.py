"""The customer as the sheet holds it, and what an event knows about one.

Which source may write which column, and in which order facts count, is
`chalicelib.domain.precedence`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal, get_args

from chalicelib.domain import validation
from chalicelib.errors import PermanentError

# The sheet's Status column (DESIGN.md's sheet layout). `unpaid`: Stripe stopped retrying
# the invoices but kept the subscription (no box ships).
Status = Literal["registered", "active", "past_due", "unpaid", "cancelled"]
STATUSES: tuple[Status, ...] = get_args(Status)
# How staff may spell a status by hand: Stripe's US spelling, words instead of the underscore.
_SPELLINGS: dict[str, Status] = {"canceled": "cancelled", "past due": "past_due", "past-due": "past_due"}


class UnknownStatus(PermanentError):
    """A Status cell the hub cannot read. The row is left as it is (writing it back would
    overwrite what staff typed); the message never quotes the cell, which may hold anything."""

    def __init__(self) -> None:
        super().__init__(
            "the customer's Status cell holds a value the hub does not know (it knows "
            + ", ".join(STATUSES)
            + "): correct the cell in the sheet, then replay"
        )


def status_from_cell(text: str) -> Status:
    """The status a sheet cell means: case and spaces ignored, a blank cell is `registered`
    (a row typed by hand); anything else raises `UnknownStatus`."""
    word = " ".join(text.split()).lower()
    if not word:
        return "registered"
    for status in STATUSES:
        if word == status:
            return status
    if word in _SPELLINGS:
        return _SPELLINGS[word]
    raise UnknownStatus()


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
    status: Status = "registered"
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
    status: Status | None = None
    consent: bool | None = None
    stripe_customer: str | None = None
    last_order: str | None = None
    ends_on: str | None = None
    new_email: str | None = None
