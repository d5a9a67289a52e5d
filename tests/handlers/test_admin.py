"""`/admin` and its JSON API through `chalice.test.Client`: who may (bearer token,
session cookie, CSRF), and what it shows and does (history, dead letters, replay once)."""

from __future__ import annotations

import json
import re

import pytest

from devtools import payloads
from devtools.signing import stripe_headers
from tests.conftest import SECRETS

TOKEN = "admin-test-token-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
LOCAL = {"Host": "127.0.0.1:8000"}


@pytest.fixture
def admin_env(hub_env, monkeypatch):
    monkeypatch.setenv("HUB_ADMIN_TOKEN", TOKEN)


def _body(response) -> dict:
    return json.loads(response.body)


def _dead_invoice(client, drain) -> None:
    """An invoice for a price no box has: a dead letter at once (permanent error)."""
    body = payloads.stripe_invoice_paid("evt_a1", "in_a1", "Rae.Lee@example.com", "cus_a1", "price_new_box")
    client.http.post("/webhooks/stripe", body=body, headers=stripe_headers(body, SECRETS["STRIPE_WEBHOOK_SECRET"]))
    drain()


def _login(client, host: dict[str, str] = LOCAL) -> tuple[str, str]:
    """Log in through the form; returns the Cookie header and the page's CSRF token."""
    answer = client.http.post(
        "/admin", body=f"token={TOKEN}", headers={"Content-Type": "application/x-www-form-urlencoded", **host}
    )
    assert answer.status_code == 303, answer.body
    cookie = answer.headers["Set-Cookie"].split(";", 1)[0]
    page = client.http.get("/admin", headers={"Cookie": cookie, **host})
    assert page.status_code == 200
    csrf = re.search(r'name="csrf-token" content="([0-9a-f]+)"', page.body.decode()).group(1)
    return cookie, csrf


@pytest.mark.parametrize("path", ["/admin/api/summary", "/admin/api/events", "/admin/api/dead-letters"])
def test_without_a_configured_token_the_api_is_off(hub_env, refuses, path):
    refuses(lambda c: c.http.get(path, headers=BEARER), 503, "HUB_ADMIN_TOKEN is not set")


def test_without_a_configured_token_the_dashboard_is_off(hub_env, client):
    page = client.http.get("/admin")
    assert page.status_code == 503 and b"HUB_ADMIN_TOKEN is not set" in page.body


REQUESTS = [
    ("GET", "/admin/api/summary"),
    ("GET", "/admin/api/events?q=x"),
    ("GET", "/admin/api/dead-letters"),
    ("POST", "/admin/api/dead-letters/0123456789ab/replay"),
]


@pytest.mark.parametrize(("method", "path"), REQUESTS, ids=["summary", "events", "dead-letters", "replay"])
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": "Basic " + TOKEN}],
    ids=["none", "wrong", "no-scheme", "basic"],
)
def test_a_missing_or_wrong_token_is_401(admin_env, refuses, headers, method, path):
    refuses(lambda c: c.http.request(method, path, headers=headers, body=b""), 401, "Authorization: Bearer")


def test_the_right_bearer_token_reads_and_acts_without_csrf(admin_env, client, hub, drain):
    _dead_invoice(client, drain)
    summary = client.http.get("/admin/api/summary", headers=BEARER)
    assert summary.status_code == 200
    data = _body(summary)
    assert data["dead_letters"] == 1 and data["backends"]["sheet"]["ok"]
    assert data["counts_per_day"][-1]["received"] == 1 and data["counts_per_day"][-1]["dead letter"] == 1
    [letter] = _body(client.http.get("/admin/api/dead-letters", headers=BEARER))["dead_letters"]
    assert letter["event_id"] == "stripe:evt_a1" and "price_new_box" in letter["reason"]

    first = client.http.post(f"/admin/api/dead-letters/{letter['id']}/replay", headers=BEARER)
    again = client.http.post(f"/admin/api/dead-letters/{letter['id']}/replay", headers=BEARER)
    assert (first.status_code, again.status_code) == (200, 404)
    assert hub.queue.depth() == {"payments": 1}  # queued once, however often pressed


def test_the_history_tells_one_events_story_and_search_finds_it(admin_env, client, drain):
    _dead_invoice(client, drain)
    for q in ("rae.lee@EXAMPLE.com", "in_a1", "evt_a1", "stripe:evt_a1", "cus_a1"):
        found = _body(client.http.get(f"/admin/api/events?q={q}", headers=BEARER))["events"]
        assert [e["id"] for e in found] == ["stripe:evt_a1"], q
    [event] = _body(client.http.get("/admin/api/events", headers=BEARER))["events"]
    assert (event["provider"], event["type"], event["who"], event["status"]) == (
        "stripe",
        "invoice_paid",
        "r***@example.com",
        "dead letter",
    )
    story = _body(client.http.get("/admin/api/events/stripe:evt_a1", headers=BEARER))
    assert [s["step"] for s in story["steps"]] == ["received", "dead letter"]
    assert story["dead_letters"][0]["id"] == story["steps"][-1]["letter_id"]
    assert "Rae.Lee" not in json.dumps(story) and "rae.lee" not in json.dumps(story)
    assert client.http.get("/admin/api/events/evt_none", headers=BEARER).status_code == 404
    encoded = client.http.get("/admin/api/events/stripe%3Aevt_a1", headers=BEARER)  # as chalice local passes it
    assert _body(encoded)["event"]["id"] == "stripe:evt_a1"


def test_a_paid_box_story_shows_each_step_and_what_it_caused(admin_env, client, drain):
    body = payloads.stripe_invoice_paid("evt_ok", "in_ok", "sam@example.com", "cus_ok", "price_super_monthly")
    client.http.post("/webhooks/stripe", body=body, headers=stripe_headers(body, SECRETS["STRIPE_WEBHOOK_SECRET"]))
    drain()
    story = _body(client.http.get("/admin/api/events/stripe:evt_ok", headers=BEARER))
    steps = [s["step"] for s in story["steps"]]
    assert steps[0] == "received" and steps[-1] == "done" and story["event"]["status"] == "done"
    assert {"sheet", "stock", "queued"} <= set(steps)
    [note] = story["children"]
    assert note["event"]["type"] == "notification" and [s["step"] for s in note["steps"]][-2:] == ["slack", "done"]


def test_login_sets_a_strict_httponly_cookie_secure_outside_loopback(admin_env, client):
    wrong = client.http.post(
        "/admin", body="token=nope", headers={"Content-Type": "application/x-www-form-urlencoded", **LOCAL}
    )
    assert wrong.status_code == 401 and "Set-Cookie" not in wrong.headers
    for host, secure in ((LOCAL, False), ({"Host": "abc.execute-api.eu-west-1.amazonaws.com"}, True)):
        answer = client.http.post(
            "/admin", body=f"token={TOKEN}", headers={"Content-Type": "application/x-www-form-urlencoded", **host}
        )
        flags = answer.headers["Set-Cookie"]
        assert "HttpOnly" in flags and "SameSite=Strict" in flags
        assert ("Secure" in flags) is secure
    assert client.http.get("/admin", headers=LOCAL).status_code == 401  # the login form


def test_a_cookie_session_needs_the_csrf_token_on_every_button(admin_env, client, hub, drain):
    _dead_invoice(client, drain)
    cookie, csrf = _login(client)
    [letter] = hub.dead_letters.list()
    reads = client.http.get("/admin/api/dead-letters", headers={"Cookie": cookie})
    assert reads.status_code == 200
    for headers in ({}, {"X-CSRF-Token": "0" * 32}, {"X-CSRF-Token": ""}):
        for action in ("replay", "discard"):
            refused = client.http.post(
                f"/admin/api/dead-letters/{letter.id}/{action}",
                body=json.dumps({"reason": "x"}),
                headers={"Cookie": cookie, "Content-Type": "application/json", **headers},
            )
            assert refused.status_code == 403 and "CSRF" in _body(refused)["error"]
    assert hub.dead_letters.list() == [letter]
    done = client.http.post(
        f"/admin/api/dead-letters/{letter.id}/discard",
        body=json.dumps({"reason": "test order"}),
        headers={"Cookie": cookie, "X-CSRF-Token": csrf, "Content-Type": "application/json"},
    )
    assert done.status_code == 200 and hub.dead_letters.list() == []
    logout = client.http.post(
        "/admin", body="action=logout", headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
    )
    assert logout.status_code == 403  # no CSRF token: not even a logout
    forged = cookie.split("=", 1)[0] + "=9999999999.deadbeef"
    assert client.http.get("/admin/api/summary", headers={"Cookie": forged}).status_code == 401


LETTER = "/admin/api/dead-letters/0123456789ab"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        pytest.param("GET", "/admin/api/events?limit=abc", None, 400, "limit must be", id="limit-text"),
        pytest.param("GET", "/admin/api/events?limit=0", None, 400, "limit must be", id="limit-0"),
        pytest.param("GET", "/admin/api/events?q=" + "x" * 300, None, 400, "q is longer", id="long-query"),
        pytest.param("GET", "/admin/api/events/" + "x" * 300, None, 400, "not an event id", id="long-event-id"),
        pytest.param(
            "POST", "/admin/api/dead-letters/not-a-letter/replay", None, 400, "not a dead-letter id", id="bad-letter-id"
        ),
        pytest.param("POST", LETTER + "/discard", "{}", 400, '"reason"', id="discard-no-reason"),
        pytest.param("POST", LETTER + "/discard", "not json", 400, "not valid JSON", id="discard-not-json"),
        pytest.param("POST", LETTER + "/discard", '["reason"]', 400, "JSON object", id="discard-list"),
        pytest.param(
            "POST", "/admin/api/dead-letters/replay", '{"reason": 3}', 400, '"reason"', id="bulk-reason-number"
        ),
        pytest.param(
            "POST", LETTER + "/discard", json.dumps({"reason": "gone"}), 404, "no dead letter", id="discard-not-waiting"
        ),
    ],
)
def test_bad_input_is_refused_with_an_error(admin_env, refuses, method, path, body, status, message):
    headers = {**BEARER, "Content-Type": "application/json"}
    refuses(lambda c: c.http.request(method, path, body=body or b"", headers=headers), status, message)


def test_bulk_replay_by_reason(admin_env, client, hub, drain):
    for n in (1, 2):
        body = payloads.stripe_invoice_paid(f"evt_b{n}", f"in_b{n}", "ann@example.com", "cus_b", "price_new_box")
        client.http.post("/webhooks/stripe", body=body, headers=stripe_headers(body, SECRETS["STRIPE_WEBHOOK_SECRET"]))
    drain()
    letters = _body(client.http.get("/admin/api/dead-letters", headers=BEARER))["dead_letters"]
    assert len(letters) == 2 and letters[0]["reason"] == letters[1]["reason"]
    answer = client.http.post(
        "/admin/api/dead-letters/replay",
        body=json.dumps({"reason": letters[0]["reason"]}),
        headers={**BEARER, "Content-Type": "application/json"},
    )
    assert sorted(_body(answer)["replayed"]) == sorted(d["id"] for d in letters)
    assert hub.dead_letters.list() == []
