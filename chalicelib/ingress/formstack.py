"""Formstack webhooks: `X-FS-Signature` and/or `HandshakeKey`, URL-encoded or JSON bodies.

Formstack posts fields under their labels. A field with subfields (name, address)
arrives as `key = value` lines when URL-encoded, and as an object in JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from typing import Any
from urllib.parse import parse_qs

from chalicelib.domain.customer import consent_from_form
from chalicelib.domain.events import SignedUp
from chalicelib.domain.validation import MAX_ADDRESS, MAX_EMAIL, MAX_ID, MAX_NAME, MAX_SHORT
from chalicelib.ingress.common import Rejection, email, format_address, header, parse_json_object, text

CONTENT_TYPES = ["application/x-www-form-urlencoded", "application/json"]
# A form has tens of fields; a body with thousands is not a form submission.
MAX_FIELDS = 500
MAX_SUBFIELDS = 20

_SUBFIELD_LINE = re.compile(r"^\s*([A-Za-z_][\w-]*)\s=\s?(.*)$")


def authenticate(
    raw: bytes, media_type: str, headers: dict[str, str], hmac_key: str, handshake_key: str
) -> dict[str, Any]:
    """The submission's fields, from a body proven to come from the form.

    The HMAC is checked on the raw bytes before anything is parsed. With only a handshake
    key, the body must be parsed to find it: the parser is bounded (1 MiB, field count,
    nesting), and a body it cannot read is refused as unauthenticated (401), not 400.
    """
    verify(raw, headers, hmac_key)
    try:
        fields = parse(raw, media_type)
    except Rejection as exc:
        if hmac_key:
            raise
        raise Rejection(401, "Formstack: no HandshakeKey could be read from this body") from exc
    check_handshake(fields, handshake_key)
    return fields


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


def check_handshake(fields: dict[str, Any], handshake_key: str) -> None:
    """The `HandshakeKey` field equals FORMSTACK_HANDSHAKE_KEY (constant time), when set."""
    if not handshake_key:
        return
    given = fields.get("HandshakeKey")
    given = given if isinstance(given, str) else ""
    if not hmac.compare_digest(given.strip().encode(), handshake_key.encode()):
        raise Rejection(401, "HandshakeKey does not match FORMSTACK_HANDSHAKE_KEY")


def parse(raw: bytes, media_type: str) -> dict[str, Any]:
    """The submission's fields by label; subfields as dicts in both encodings."""
    if media_type == "application/json":
        fields = parse_json_object(raw, "Formstack")
        if len(fields) > MAX_FIELDS:
            raise Rejection(400, f"Formstack: more than {MAX_FIELDS} fields")
        return fields
    try:
        body = raw.decode("utf-8")
        pairs = parse_qs(body, keep_blank_values=True, strict_parsing=bool(body), max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:  # the message may quote the body: not repeated
        raise Rejection(400, "Formstack: body is not URL-encoded UTF-8 form data") from exc
    return {key: _subfields(values[-1]) for key, values in pairs.items()}


def _subfields(value: str) -> str | dict[str, str]:
    lines = [line for line in value.splitlines() if line.strip()]
    if len(lines) > MAX_SUBFIELDS:
        return value
    matches = [_SUBFIELD_LINE.match(line) for line in lines]
    if lines and all(matches):
        return {m.group(1): m.group(2).strip() for m in matches if m}
    return value


def _field(fields: dict[str, Any], label: str, max_length: int, *, address: bool = False) -> str:
    """A field's text: subfields joined (an address's parts with commas), numbers as
    written; anything nested deeper, or too long, is a 400 naming the label."""
    value = fields.get(label)
    where = f"Formstack: {label}"
    if isinstance(value, dict | list):
        parts = list(value.values()) if isinstance(value, dict) else value
        if len(parts) > MAX_SUBFIELDS or not all(isinstance(p, str | int | float | None) for p in parts):
            raise Rejection(400, f"{where} must be text or up to {MAX_SUBFIELDS} subfields of text")
        words = [text(str(p), where, max_length) for p in parts if p not in (None, "")]
        if isinstance(value, list):
            return text(", ".join(words), where, max_length)
        return text(format_address(words) if address else " ".join(words), where, max_length)
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    return text(value, where, max_length)


def to_event(fields: dict[str, Any], labels: dict[str, str]) -> SignedUp:
    """The sign-up a submission stands for; 400 when it lacks what the hub needs, or when
    a field is not what it should be (checked here, so nothing invalid is queued)."""
    unique_id = _field(fields, "UniqueID", MAX_ID)
    if not unique_id or not _field(fields, "FormID", MAX_ID):
        raise Rejection(400, "Formstack: FormID and UniqueID are required")
    given = _field(fields, labels["email"], MAX_EMAIL)
    if not given:
        raise Rejection(400, f"Formstack: no {labels['email']!r} field; map your form's labels with FORMSTACK_FIELDS")
    consent_label = labels["consent"]
    return SignedUp(
        event_id=f"formstack:{unique_id}",
        email=email(given, f"Formstack: {labels['email']}"),
        name=_field(fields, labels["name"], MAX_NAME),
        address=_field(fields, labels["address"], MAX_ADDRESS, address=True),
        box_value=_field(fields, labels["box"], MAX_SHORT),
        consent=consent_from_form(_field(fields, consent_label, MAX_SHORT) if consent_label in fields else None),
        created=int(time.time()),
    )
