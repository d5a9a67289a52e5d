"""Unsubscribe tokens: the email, sealed under `HUB_SECRET_KEY`.

A token is `base64url(AES-SIV(email))` (RFC 5297, `cryptography`'s AESSIV, 512-bit key
derived from HUB_SECRET_KEY): stateless, so a link in a years-old email still works;
unforgeable without the key; deterministic, so one customer always gets the same link;
and opaque, so the address does not show in the request logs that record the link's path.

Tokens minted before that (`<base64url(email)>.<base64url(first 16 bytes of an
HMAC-SHA256)>`, the address readable in the URL) are still honoured: they are in inboxes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import TYPE_CHECKING

from chalicelib.errors import PermanentError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESSIV

_CONTEXT = [b"chocohub unsubscribe"]
_MAX_TOKEN = 600  # an address is at most 254 characters; its sealed form about 360


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sealer(secret: str) -> AESSIV:
    from cryptography.hazmat.primitives.ciphers.aead import AESSIV  # lazily: ~70 ms of import

    key = hmac.new(secret.encode(), b"chocohub unsubscribe token key", hashlib.sha512).digest()
    return AESSIV(key)


def make_token(secret: str, email: str) -> str:
    """The token that unsubscribes `email` (already normalised)."""
    return _b64(_sealer(secret).encrypt(email.encode(), _CONTEXT))


def read_token(secret: str, token: str) -> str:
    """The email a token names; `PermanentError` when it is malformed or not ours."""
    if len(token) > _MAX_TOKEN:
        raise PermanentError("this unsubscribe link is damaged")
    if "." in token:
        return _read_legacy_token(secret, token)
    from cryptography.exceptions import InvalidTag

    try:
        sealed = _unb64(token)
    except (ValueError, binascii.Error) as exc:
        raise PermanentError("this unsubscribe link is damaged") from exc
    try:
        return _sealer(secret).decrypt(sealed, _CONTEXT).decode("utf-8")
    except (InvalidTag, ValueError, UnicodeDecodeError) as exc:
        raise PermanentError("this unsubscribe link is not valid") from exc


def _legacy_mac(secret: str, email: str) -> bytes:
    return hmac.new(secret.encode(), b"unsubscribe:" + email.encode(), hashlib.sha256).digest()[:16]


def _read_legacy_token(secret: str, token: str) -> str:
    try:
        email_part, mac_part = token.split(".", 1)
        email = _unb64(email_part).decode("utf-8")
        given = _unb64(mac_part)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PermanentError("this unsubscribe link is damaged") from exc
    if not hmac.compare_digest(given, _legacy_mac(secret, email)):
        raise PermanentError("this unsubscribe link is not valid")
    return email
