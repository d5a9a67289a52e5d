"""Unsubscribe tokens: stateless, unforgeable without the key, opaque, and refused when damaged."""

from __future__ import annotations

import base64
import hashlib
import hmac

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
    assert all(c.isalnum() or c in "-_" for c in token)


def test_a_token_does_not_show_its_email():
    """Request logs record the link's path: the address must not be readable in it."""
    token = make_token(KEY, "ann@example.com")
    assert b"ann" not in base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert "YW5u" not in token  # base64 of "ann"


def legacy_token(key: str, email: str) -> str:
    """A token as the hub minted them before they were sealed (still in inboxes)."""
    mac = hmac.new(key.encode(), b"unsubscribe:" + email.encode(), hashlib.sha256).digest()[:16]
    b64 = [base64.urlsafe_b64encode(p).rstrip(b"=").decode() for p in (email.encode(), mac)]
    return ".".join(b64)


def test_a_token_minted_before_sealing_still_works():
    assert read_token(KEY, legacy_token(KEY, "ann@example.com")) == "ann@example.com"
    with pytest.raises(PermanentError, match="not valid"):
        read_token(KEY, legacy_token("another-key", "ann@example.com"))


def test_a_tampered_token_is_refused():
    token = make_token(KEY, "ann@example.com")
    flipped = ("A" if token[5] != "A" else "B").join((token[:5], token[6:]))
    with pytest.raises(PermanentError, match="not valid"):
        read_token(KEY, flipped)


def test_tokens_differ_by_email_and_by_key():
    assert make_token(KEY, "ann@example.com") != make_token(KEY, "bob@example.com")
    assert make_token(KEY, "ann@example.com") != make_token("other", "ann@example.com")


def test_a_token_signed_with_another_key_is_refused():
    with pytest.raises(PermanentError, match="not valid"):
        read_token(KEY, make_token("another-key", "ann@example.com"))


def test_a_token_for_another_email_cannot_be_forged_by_swapping_the_email_part():
    ann = legacy_token(KEY, "ann@example.com")
    bob = legacy_token(KEY, "bob@example.com")
    forged = bob.split(".")[0] + "." + ann.split(".")[1]
    with pytest.raises(PermanentError, match="not valid"):
        read_token(KEY, forged)


def test_a_tampered_legacy_mac_is_refused():
    token = legacy_token(KEY, "ann@example.com")
    email_part, mac = token.split(".")
    flipped = ("A" if mac[0] != "A" else "B") + mac[1:]
    with pytest.raises(PermanentError, match="not valid"):
        read_token(KEY, f"{email_part}.{flipped}")


@pytest.mark.parametrize("token", ["", "no-dot-at-all", "%%%.%%%", "/w==.abc", "gA.AAAA", "%%%", "A" * 700])
def test_a_damaged_token_is_a_permanent_error(token):
    with pytest.raises(PermanentError):
        read_token(KEY, token)
