"""POST /webhooks/formstack: verified before parsed, queued once, refused cleanly."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from devtools import payloads
from devtools.signing import formstack_headers
from tests.conftest import SECRETS

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
KEY = SECRETS["FORMSTACK_HMAC_KEY"]


def post(client, body: bytes, content_type: str = FORM, key: str = KEY, headers: dict | None = None):
    h = formstack_headers(body, key, content_type)
    h.update(headers or {})
    return client.http.post("/webhooks/formstack", body=body, headers=h)


def test_urlencoded_signup_reaches_the_sheet_and_mails_once(client, hub, drain):
    response = post(client, payloads.formstack_form("1001", " Ann@Example.com ", box="Classic"))
    assert response.status_code == 200
    assert json.loads(response.body) == {"ok": True, "duplicate": False}
    drain()
    [customer] = hub.sheet.all()
    assert customer.email == "ann@example.com"
    assert customer.name == "Ann Lee"
    assert customer.address == "12 Rue des Fleurs, Lyon, 69001"
    assert customer.box == "BOX-CLASSIC"
    assert customer.status == "registered"
    assert customer.consent is True
    assert len(list((hub.state_dir / "outbox" / "mail").glob("*.eml"))) == 1


def test_json_signup_with_subfield_objects(client, hub, drain):
    response = post(client, payloads.formstack_json("1002", "bob@example.com"), content_type="application/json")
    assert response.status_code == 200
    drain()
    customer = hub.sheet.get("bob@example.com")
    assert customer.name == "Bob Martin"
    assert customer.address == "3 Quai Nord, Nantes, 44000"
    assert customer.box == "BOX-SUPER"


def test_signup_without_consent_sends_no_email(client, hub, drain):
    assert post(client, payloads.formstack_form("1003", "no@example.com", consent=False)).status_code == 200
    drain()
    assert hub.sheet.get("no@example.com").consent is False
    assert not (hub.state_dir / "outbox" / "mail").exists()


def test_duplicate_delivery_is_acknowledged_and_not_queued_again(client, hub):
    body = payloads.formstack_form("1004", "dup@example.com")
    assert json.loads(post(client, body).body)["duplicate"] is False
    second = post(client, body)
    assert second.status_code == 200
    assert json.loads(second.body)["duplicate"] is True
    assert hub.queue.depth() == {"signups": 1}


def unsigned(body: bytes) -> Callable:
    return lambda client: client.http.post("/webhooks/formstack", body=body, headers={"Content-Type": FORM})


@pytest.mark.parametrize(
    ("send", "status", "message", "env"),
    [
        pytest.param(
            lambda c: post(c, payloads.formstack_form("1005", "x@example.com"), key="wrong-key"),
            401,
            "X-FS-Signature",
            None,
            id="bad-signature",
        ),
        pytest.param(
            unsigned(payloads.formstack_form("1006", "x@example.com")), 401, "X-FS-Signature", None, id="no-signature"
        ),
        pytest.param(
            lambda c: post(c, b"Email=x@example.com", content_type="text/plain"),
            415,
            "text/plain",
            None,
            id="text-plain",
        ),
        pytest.param(lambda c: post(c, b"{not json", content_type=JSON), 400, "JSON", None, id="malformed-json"),
        pytest.param(lambda c: post(c, b"FormID=1&Email=x%40example.com"), 400, "UniqueID", None, id="no-unique-id"),
        pytest.param(
            lambda c: post(c, b"FormID=1&UniqueID=9&Courriel=x%40example.com"),
            400,
            "FORMSTACK_FIELDS",
            None,
            id="no-email-field",
        ),
        pytest.param(
            lambda c: post(c, b"FormID=1&UniqueID=2&Email=x%40example.com&Notes=" + b"a" * (1024 * 1024)),
            413,
            "1 MiB",
            None,
            id="over-1-mib",
        ),
        pytest.param(
            lambda c: post(c, payloads.formstack_form("1007", "x@example.com")),
            503,
            "FORMSTACK_HMAC_KEY",
            {"FORMSTACK_HMAC_KEY": None},
            id="not-configured",
        ),
    ],
)
def test_refused_with_a_clear_error_and_nothing_changed(refuses, send, status, message, env):
    refuses(send, status, message, env)


def test_handshake_key_checked_when_set(client, monkeypatch, hub_env):
    from chalicelib.bootstrap import get_hub, reset_hub

    monkeypatch.delenv("FORMSTACK_HMAC_KEY")
    monkeypatch.setenv("FORMSTACK_HANDSHAKE_KEY", "shake-123")
    reset_hub()
    plain = {"Content-Type": FORM}
    wrong = payloads.formstack_form("1008", "h@example.com", handshake_key="nope")
    assert client.http.post("/webhooks/formstack", body=wrong, headers=plain).status_code == 401
    right = payloads.formstack_form("1009", "h@example.com", handshake_key="shake-123")
    assert client.http.post("/webhooks/formstack", body=right, headers=plain).status_code == 200
    assert get_hub().queue.depth() == {"signups": 1}


def test_unknown_box_is_dead_lettered_with_its_reason(client, hub, drain):
    assert post(client, payloads.formstack_form("1010", "odd@example.com", box="Mystery")).status_code == 200
    drain()
    [letter] = hub.dead_letters.list()
    assert "Mystery" in letter.reason and "HUB_CATALOG" in letter.reason
    assert letter.queue == "signups"
    assert hub.sheet.all() == []
