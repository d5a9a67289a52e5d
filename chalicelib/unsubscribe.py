"""Unsubscribe tokens: the email, signed with HMAC-SHA256 under `HUB_SECRET_KEY`.

A token is `<base64url(email)>.<base64url(first 16 bytes of the MAC)>`: stateless, so a
link in a years-old email still works, and unforgeable without the key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from chalicelib.errors import PermanentError


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, email: str) -> bytes:
    return hmac.new(secret.encode(), b"unsubscribe:" + email.encode(), hashlib.sha256).digest()[:16]


def make_token(secret: str, email: str) -> str:
    """The token that unsubscribes `email` (already normalised)."""
    return f"{_b64(email.encode())}.{_b64(_mac(secret, email))}"


def read_token(secret: str, token: str) -> str:
    """The email a token names; `PermanentError` when it is malformed or not ours."""
    try:
        email_part, mac_part = token.split(".", 1)
        email = _unb64(email_part).decode("utf-8")
        given = _unb64(mac_part)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PermanentError("this unsubscribe link is damaged") from exc
    if not hmac.compare_digest(given, _mac(secret, email)):
        raise PermanentError("this unsubscribe link is not valid")
    return email
