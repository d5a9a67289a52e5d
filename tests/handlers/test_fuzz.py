"""Bounded fuzzing of every route, with fixed seeds (issue 8).

A few thousand requests through the real routes: random bytes, random JSON and forms,
deep nesting, valid payloads with one field mutated, multipart bodies, under valid and
invalid signatures. Whatever arrives: no 5xx, every error is `{"error"}` JSON, and a
request that is not validly signed changes nothing anywhere.
"""

from __future__ import annotations

import json
import random
import re
import string
import time
from collections.abc import Callable
from urllib.parse import urlencode

import pytest

from chalicelib.unsubscribe import make_token
from devtools import payloads
from devtools.signing import formstack_headers, slack_headers, stripe_headers
from tests.conftest import SECRETS

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
REQUESTS_PER_PHASE = 1500

KEYS = [
    "id", "type", "data", "object", "event", "event_id", "team_id", "channel", "text", "user", "challenge",
    "email", "customer_email", "customer_details", "shipping_details", "collected_information", "address",
    "name", "lines", "pricing", "price_details", "price", "amount_refunded", "currency", "metadata", "consent",
    "promotions", "FormID", "UniqueID", "Email", "Name", "Address", "Box", "Newsletter", "HandshakeKey",
    "command", "user_id", "response_url", "trigger_id", "List-Unsubscribe",
]  # fmt: skip
TYPES = [
    "checkout.session.completed", "invoice.paid", "invoice.payment_failed", "customer.subscription.deleted",
    "charge.refunded", "event_callback", "url_verification", "app_mention",
]  # fmt: skip
TEXTS = [
    "", " ", "a@b.co", "ann@example.com", "x" * 300, "<!channel>", "\x00", "\ufffd", "p\u0430ypal@example.com",
    "a@" + "." * 3000 + "@", "retry all", "find ann@example.com", "stats", "One-Click", "price_super_monthly",
    "Super", "\u202eevil", "1e400", "null", "[]", "{}", "%00", "&amp;", "=\n=", "Jane Doe <jane@corp.example>",
]  # fmt: skip


def scalar(rng: random.Random):
    pick = rng.randrange(8)
    if pick == 0:
        return rng.choice([None, True, False])
    if pick == 1:
        return rng.choice([0, -1, 2**63, 10**400, 3.5, float("1e308")])
    if pick == 2:
        return "".join(rng.choice(string.printable) for _ in range(rng.randrange(40)))
    if pick == 3:
        return "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(rng.randrange(20)))
    return rng.choice(TEXTS + TYPES)


def value(rng: random.Random, depth: int = 0):
    if depth > 4 or rng.random() < 0.4:
        return scalar(rng)
    if rng.random() < 0.6:
        return {rng.choice(KEYS): value(rng, depth + 1) for _ in range(rng.randrange(6))}
    return [value(rng, depth + 1) for _ in range(rng.randrange(4))]


def mutate(rng: random.Random, doc):
    """`doc` with one randomly chosen leaf or branch replaced by a random value."""
    if isinstance(doc, dict) and doc and rng.random() < 0.8:
        key = rng.choice(list(doc))
        return {**doc, key: mutate(rng, doc[key])}
    if isinstance(doc, list) and doc and rng.random() < 0.8:
        i = rng.randrange(len(doc))
        return [*doc[:i], mutate(rng, doc[i]), *doc[i + 1 :]]
    return value(rng)


def dumps(doc) -> bytes:
    return json.dumps(doc, allow_nan=True).encode()


def valid_jsons() -> list[dict]:
    return [
        json.loads(b)
        for b in (
            payloads.stripe_checkout_completed("evt_f", "ann@example.com", "cus_f"),
            payloads.stripe_invoice_paid("evt_g", "in_g", "ann@example.com", "cus_f", "price_super_monthly"),
            payloads.stripe_charge_refunded("evt_h", "ann@example.com", "cus_f"),
            payloads.formstack_json("u_f", "bob@example.com"),
            payloads.slack_mention("EvF", "find ann@example.com"),
            payloads.slack_url_verification("chal"),
        )
    ]


def body(rng: random.Random) -> tuple[bytes, str]:
    """A random body and the Content-Type it claims."""
    pick = rng.randrange(9)
    if pick == 0:
        return rng.randbytes(rng.randrange(300)), rng.choice([JSON, FORM, "text/plain", ""])
    if pick == 1:
        depth = rng.choice([50, 999, 1001, 5000, 20000])
        opener, closer = rng.choice([(b"[", b"]"), (b'{"a":', b"}")])
        return opener * depth + b"1" + closer * depth, JSON
    if pick == 2:
        return urlencode({rng.choice(KEYS): str(scalar(rng)) for _ in range(rng.randrange(8))}).encode(), FORM
    if pick == 3:
        command = dict(p.split("=", 1) for p in payloads.slack_command("stats").decode().split("&"))
        command[rng.choice(list(command))] = str(scalar(rng))
        return urlencode(command).encode(), FORM
    if pick == 4:
        from urllib3 import encode_multipart_formdata

        fields = {rng.choice(["List-Unsubscribe", "x"]): str(scalar(rng)) for _ in range(rng.randrange(3))}
        data, content_type = encode_multipart_formdata(fields, boundary=rng.choice([None, "b", "--"]))
        return data, content_type
    if pick == 5:
        return dumps(value(rng)), JSON
    return dumps(mutate(rng, rng.choice(valid_jsons()))), JSON


def unsigned(rng: random.Random, raw: bytes, content_type: str) -> dict[str, str]:
    """Headers whose signature is missing, wrong, stale or for another body."""
    now = int(time.time())
    pick = rng.randrange(5)
    headers = {"Content-Type": content_type} if content_type else {}
    if pick == 0:
        return headers
    if pick == 1:
        headers.update(stripe_headers(raw, "whsec_wrong"))
    elif pick == 2:
        headers.update(stripe_headers(raw, SECRETS["STRIPE_WEBHOOK_SECRET"], now - 3600))
    elif pick == 3:
        headers.update(slack_headers(raw + b" ", SECRETS["SLACK_SIGNING_SECRET"], content_type, now))
    else:
        headers.update(formstack_headers(raw, "wrong-key", content_type))
        headers["X-Slack-Request-Timestamp"] = rng.choice(["", "x", str(now + 10**9), "1e9"])
        headers["Stripe-Signature"] = rng.choice(["", "t=,v1=", f"t={now},v1=00", "garbage", "t=1e99,v1=" + "0" * 64])
    if content_type:
        headers["Content-Type"] = content_type
    return headers


def signed(route: str, raw: bytes, content_type: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    if route == "/webhooks/stripe":
        headers = stripe_headers(raw, SECRETS["STRIPE_WEBHOOK_SECRET"])
    elif route.startswith("/slack/"):
        headers = slack_headers(raw, SECRETS["SLACK_SIGNING_SECRET"], content_type)
    elif route == "/webhooks/formstack":
        headers = formstack_headers(raw, SECRETS["FORMSTACK_HMAC_KEY"], content_type)
    if content_type:
        headers["Content-Type"] = content_type
    else:
        headers.pop("Content-Type", None)
    return headers


# The webhooks get most of the traffic: they are where hostile bodies arrive.
WEIGHTS = {"/webhooks/formstack": 6, "/webhooks/stripe": 6, "/slack/events": 5, "/slack/commands": 5}
PARAMS = ["x", "..", "a.b", "%00", "." * 300, "e30.e30", "1", "-1", "%2F..%2F", "é"]


def routes() -> list[tuple[str, list[str]]]:
    """Every route the app registers (so a route added later is fuzzed too), by weight."""
    import app as app_module

    table = [(path, sorted(methods)) for path, methods in app_module.app.routes.items()]
    return [entry for entry in table for _ in range(WEIGHTS.get(entry[0], 1))]


def fuzz(client, rng: random.Random, sign: Callable[[random.Random, str, bytes, str], dict[str, str]]) -> list:
    """Send `REQUESTS_PER_PHASE` random requests to every route; return the odd answers:
    a 5xx (but `/health`'s 503 when a backend is down, and `/admin`'s without HUB_ADMIN_TOKEN),
    or an error not shaped `{"error"}`."""
    params = [*PARAMS, make_token("not-the-hub-key", "ann@example.com")]
    table = routes()
    odd = []
    for _ in range(REQUESTS_PER_PHASE):
        raw, content_type = body(rng)
        template, methods = rng.choice(table)
        path = re.sub(r"{\w+}", lambda _: rng.choice(params), template)
        method = rng.choice(methods) if rng.random() < 0.9 else rng.choice(["GET", "POST", "PUT", "DELETE"])
        headers = sign(rng, path, raw, content_type)
        if rng.random() < 0.2:
            headers["Authorization"] = rng.choice(["Bearer ", "Bearer x", "Basic YTpi", "Bearer " + "a" * 5000])
        response = client.http.request(method, path, headers=headers, body=raw if method != "GET" else b"")
        kind = response.headers.get("Content-Type", "")
        shaped = kind.startswith("text/html") or (
            kind == "application/json" and (response.status_code < 400 or set(json.loads(response.body)) >= {"error"})
        )
        documented_503 = response.status_code == 503 and (
            path == "/health"  # a backend is down
            or (path.startswith("/admin") and b"HUB_ADMIN_TOKEN is not set" in response.body)  # dashboard off
        )
        if (response.status_code >= 500 and not documented_503) or not shaped:
            odd.append((method, path, headers, raw[:200], response.status_code, response.body[:300]))
    return odd


@pytest.mark.parametrize("seed", [8])
def test_unsigned_requests_change_nothing_and_crash_nothing(client, sinks, hub, seed):
    before = sinks()
    odd = fuzz(client, random.Random(seed), lambda rng, path, raw, ct: unsigned(rng, raw, ct))
    assert odd == []
    assert sinks() == before
    assert not hub.mail_log.is_suppressed("ann@example.com")


@pytest.mark.parametrize("seed", [88])
def test_signed_garbage_is_never_a_5xx(client, seed):
    odd = fuzz(client, random.Random(seed), lambda rng, path, raw, ct: signed(path, raw, ct))
    assert odd == []
