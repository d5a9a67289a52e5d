"""Sign request bodies the way each provider does (the secrets are the hub's settings)."""

from __future__ import annotations

import hashlib
import hmac
import time


def formstack_headers(body: bytes, hmac_key: str, content_type: str) -> dict[str, str]:
    """`X-FS-Signature: sha256=<hex HMAC-SHA256 of the raw body>`."""
    return {
        "Content-Type": content_type,
        "X-FS-Signature": "sha256=" + hmac.new(hmac_key.encode(), body, hashlib.sha256).hexdigest(),
    }


def stripe_headers(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """`Stripe-Signature: t=<ts>,v1=<hex HMAC-SHA256 of "<ts>.<body>">`, as Stripe signs."""
    ts = int(time.time()) if timestamp is None else timestamp
    signed = f"{ts}.".encode() + body
    v1 = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "Stripe-Signature": f"t={ts},v1={v1}"}


def slack_headers(body: bytes, secret: str, content_type: str, timestamp: int | None = None) -> dict[str, str]:
    """`X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:<ts>:<body>">` and its timestamp."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + ts.encode() + b":" + body
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest(),
    }
