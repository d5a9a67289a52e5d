"""Formstack webhooks: `X-FS-Signature` and/or `HandshakeKey`, URL-encoded or JSON bodies.

Formstack posts fields under their labels. A field with subfields (name, address)
arrives as `key = value` lines when URL-encoded, and as an object in JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any
from urllib.parse import parse_qs

from chalicelib.domain.customer import consent_from_form
from chalicelib.domain.events import SignedUp
from chalicelib.ingress.common import Rejection, format_address, header, parse_json_object

CONTENT_TYPES = ["application/x-www-form-urlencoded", "application/json"]

_SUBFIELD_LINE = re.compile(r"^\s*([A-Za-z_][\w-]*)\s=\s?(.*)$")


def verify(raw: bytes, headers: dict[str, str], hmac_key: str) -> None:
    """Check `X-FS-Signature: sha256=<hex>` over the raw body, in constant time."""
    if not hmac_key:
        return
    given = header(headers, "X-FS-Signature").strip()
    if not given:
        raise Rejection(401, "missing X-FS-Signature header (FORMSTACK_HMAC_KEY is set)")
    expected = "sha256=" + hmac.new(hmac_key.encode(), raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given.lower().encode(), expected.encode()):
        raise Rejection(401, "X-FS-Signature does not match the body")


def parse(raw: bytes, media_type: str) -> dict[str, Any]:
    """The submission's fields by label; subfields as dicts in both encodings."""
    if media_type == "application/json":
        return parse_json_object(raw, "Formstack")
    try:
        text = raw.decode("utf-8")
        pairs = parse_qs(text, keep_blank_values=True, strict_parsing=bool(text))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Rejection(400, f"Formstack: body is not URL-encoded form data ({exc})") from exc
    return {key: _subfields(values[-1]) for key, values in pairs.items()}


def _subfields(value: str) -> str | dict[str, str]:
    lines = [line for line in value.splitlines() if line.strip()]
    matches = [_SUBFIELD_LINE.match(line) for line in lines]
    if lines and all(matches):
        return {m.group(1): m.group(2).strip() for m in matches if m}
    return value


def _text(value: Any, *, address: bool = False) -> str:
    if isinstance(value, dict):
        parts = [str(v) for v in value.values() if v not in (None, "")]
        return format_address(parts) if address else " ".join(p.strip() for p in parts)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value if v not in (None, ""))
    return "" if value is None else str(value).strip()


def to_event(fields: dict[str, Any], labels: dict[str, str], handshake_key: str) -> SignedUp:
    """The sign-up a submission stands for; 400 when it lacks what the hub needs."""
    if handshake_key:
        given = _text(fields.get("HandshakeKey"))
        if not hmac.compare_digest(given.encode(), handshake_key.encode()):
            raise Rejection(401, "HandshakeKey does not match FORMSTACK_HANDSHAKE_KEY")
    unique_id = _text(fields.get("UniqueID"))
    if not unique_id or not _text(fields.get("FormID")):
        raise Rejection(400, "Formstack: FormID and UniqueID are required")
    email = _text(fields.get(labels["email"]))
    if not email:
        raise Rejection(400, f"Formstack: no {labels['email']!r} field; map your form's labels with FORMSTACK_FIELDS")
    consent_label = labels["consent"]
    return SignedUp(
        event_id=f"formstack:{unique_id}",
        email=email,
        name=_text(fields.get(labels["name"])),
        address=_text(fields.get(labels["address"]), address=True),
        box_value=_text(fields.get(labels["box"])),
        consent=consent_from_form(_text(fields[consent_label]) if consent_label in fields else None),
    )
