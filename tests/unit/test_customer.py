"""The customer: email identity and form consent (the column rules: test_precedence)."""

from __future__ import annotations

import pytest

from chalicelib.domain.customer import consent_from_form, normalise_email, valid_email
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
