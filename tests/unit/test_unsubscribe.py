"""Unsubscribe tokens: stateless, unforgeable without the key, and refused when damaged."""

from __future__ import annotations

import pytest

from chalicelib.errors import PermanentError
from chalicelib.unsubscribe import make_token, read_token

KEY = "k3y-for-unit-tests"


@pytest.mark.parametrize("email", ["ann@example.com", "a.b+box@sub.example.org", "zoë@exemple.fr"])
def test_a_token_names_its_email(email):
    assert read_token(KEY, make_token(KEY, email)) == email


def test_a_token_is_url_safe_and_deterministic():
    token = make_token(KEY, "ann@example.com")
    assert token == make_token(KEY, "ann@example.com")
    assert "=" not in token
    assert all(c.isalnum() or c in "-_." for c in token)
    assert token.count(".") == 1


def test_tokens_differ_by_email_and_by_key():
    assert make_token(KEY, "ann@example.com") != make_token(KEY, "bob@example.com")
    assert make_token(KEY, "ann@example.com") != make_token("other", "ann@example.com")


def test_a_token_signed_with_another_key_is_refused():
    with pytest.raises(PermanentError, match="not valid"):
        read_token(KEY, make_token("another-key", "ann@example.com"))


def test_a_token_for_another_email_cannot_be_forged_by_swapping_the_email_part():
    ann = make_token(KEY, "ann@example.com")
    bob = make_token(KEY, "bob@example.com")
    forged = bob.split(".")[0] + "." + ann.split(".")[1]
    with pytest.raises(PermanentError, match="not valid"):
        read_token(KEY, forged)


def test_a_tampered_mac_is_refused():
    token = make_token(KEY, "ann@example.com")
    email_part, mac = token.split(".")
    flipped = ("A" if mac[0] != "A" else "B") + mac[1:]
    with pytest.raises(PermanentError, match="not valid"):
        read_token(KEY, f"{email_part}.{flipped}")


@pytest.mark.parametrize("token", ["", "no-dot-at-all", "%%%.%%%", "/w==.abc", "gA.AAAA"])
def test_a_damaged_token_is_a_permanent_error(token):
    with pytest.raises(PermanentError):
        read_token(KEY, token)
