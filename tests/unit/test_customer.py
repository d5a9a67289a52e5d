"""The customer: email identity and form consent (the column rules: test_precedence)."""

from __future__ import annotations

import pytest

from chalicelib.domain.customer import (
    UnknownStatus,
    consent_from_form,
    normalise_email,
    status_from_cell,
    valid_email,
)
from chalicelib.errors import PermanentError


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


@pytest.mark.parametrize(
    ("cell", "status"),
    [
        ("", "registered"),
        ("  ", "registered"),
        ("active", "active"),
        (" Active ", "active"),
        ("PAST_DUE", "past_due"),
        ("past due", "past_due"),
        ("Past-Due", "past_due"),
        ("unpaid", "unpaid"),
        ("Canceled", "cancelled"),
        ("cancelled", "cancelled"),
    ],
)
def test_a_status_cell_as_staff_may_type_it(cell, status):
    assert status_from_cell(cell) == status


@pytest.mark.parametrize("cell", ["VIP", "paused", "actif", "active!", "registered; active", "ann@example.com"])
def test_an_unknown_status_cell_is_refused_without_quoting_it(cell):
    with pytest.raises(UnknownStatus) as refused:
        status_from_cell(cell)
    assert isinstance(refused.value, PermanentError)  # its event goes to the dead letters with this reason
    assert cell.lower() not in str(refused.value).lower()
    assert "registered, active, past_due, unpaid, cancelled" in str(refused.value)
