"""POST /slack/events and /slack/commands: slack_sdk's signature check, answers within 3 s."""

from __future__ import annotations

import json
import time

import pytest

from devtools import payloads
from devtools.signing import slack_headers
from tests.conftest import SECRETS

SECRET = SECRETS["SLACK_SIGNING_SECRET"]
FORM = "application/x-www-form-urlencoded"


def post_event(client, body: bytes, secret: str = SECRET, timestamp=None):
    return client.http.post(
        "/slack/events", body=body, headers=slack_headers(body, secret, "application/json", timestamp)
    )


def command(client, text: str, secret: str = SECRET, timestamp=None):
    body = payloads.slack_command(text)
    return client.http.post("/slack/commands", body=body, headers=slack_headers(body, secret, FORM, timestamp))


def test_url_verification_is_answered(client):
    response = post_event(client, payloads.slack_url_verification("chal-123"))
    assert response.status_code == 200
    assert json.loads(response.body) == {"challenge": "chal-123"}


def test_mention_is_answered_in_its_channel(client, hub, drain):
    response = post_event(client, payloads.slack_mention("Ev001", "help", channel="C42"))
    assert response.status_code == 200
    drain()
    [reply] = hub.notifier.messages()
    assert reply["channel"] == "C42"
    assert reply["thread_ts"] == "1.000100"
    assert "find <email>" in reply["text"]


def test_mention_retried_by_slack_is_answered_once(client, hub, drain):
    body = payloads.slack_mention("Ev002", "stats")
    assert post_event(client, body).status_code == 200
    assert json.loads(post_event(client, body).body)["duplicate"] is True
    drain()
    assert len(hub.notifier.messages()) == 1


def test_help_command_answers_inline(client):
    response = command(client, "help")
    assert response.status_code == 200
    assert "find <email>" in json.loads(response.body)["text"]


def test_find_and_stats_read_the_sheet(client, hub):
    from chalicelib.domain.customer import Customer

    hub.sheet.save(Customer(email="ann@example.com", name="Ann Lee", status="active", consent=True))
    found = json.loads(command(client, "find <mailto:Ann@Example.com|Ann@Example.com>").body)["text"]
    assert "Ann Lee" in found and "active" in found
    assert "No customer" in json.loads(command(client, "find nobody@example.com").body)["text"]
    stats = json.loads(command(client, "stats").body)["text"]
    assert "1 customer*" in stats and "active: 1" in stats


def test_retry_lists_and_replays_dead_letters(client, hub, drain):
    hub.dead_letters.park(
        "slack",
        {"kind": "notification", "event_id": "n1", "text": "replayed note", "channel": ""},
        "boom",
        "notification",
        message_id="m1",
    )
    listing = json.loads(command(client, "retry").body)["text"]
    assert "*1 dead letter*" in listing and "boom" in listing
    assert json.loads(command(client, "retry all").body)["text"] == "Working on it…"
    drain()
    # The letter went back through today's flow, once, and the operator was told so.
    assert hub.dead_letters.list() == []
    messages = hub.notifier.messages()
    assert [m["text"] for m in messages if m["method"] != "response_url"] == ["replayed note"]
    [answer] = [m["text"] for m in messages if m["method"] == "response_url"]
    assert answer.startswith("Replayed 1 dead letter")


def garbled_timestamp(client):
    body = payloads.slack_mention("Ev003", "help")
    headers = slack_headers(body, SECRET, "application/json")
    headers["X-Slack-Request-Timestamp"] = "soon"
    return client.http.post("/slack/events", body=body, headers=headers)


def json_command(client):
    body = b'{"command": "/chocobox"}'
    return client.http.post("/slack/commands", body=body, headers=slack_headers(body, SECRET, "application/json"))


MENTION = payloads.slack_mention("Ev003", "help")
UNCONFIGURED = {"SLACK_SIGNING_SECRET": None}


@pytest.mark.parametrize(
    ("send", "status", "message", "env"),
    [
        pytest.param(
            lambda c: post_event(c, MENTION, secret="wrong"), 401, "Slack signature", None, id="event-bad-signature"
        ),
        pytest.param(
            lambda c: post_event(c, MENTION, timestamp=int(time.time()) - 600),
            401,
            "older than 5 minutes",
            None,
            id="event-stale",
        ),
        pytest.param(garbled_timestamp, 401, "X-Slack-Request-Timestamp", None, id="event-garbled-timestamp"),
        pytest.param(
            lambda c: command(c, "help", secret="wrong"), 401, "Slack signature", None, id="command-bad-signature"
        ),
        pytest.param(lambda c: post_event(c, b"[1, 2"), 400, "JSON", None, id="event-malformed"),
        pytest.param(json_command, 415, "application/json", None, id="command-as-json"),
        pytest.param(
            lambda c: post_event(c, payloads.slack_url_verification("x")),
            503,
            "SLACK_SIGNING_SECRET",
            UNCONFIGURED,
            id="events-not-configured",
        ),
        pytest.param(
            lambda c: command(c, "help"), 503, "SLACK_SIGNING_SECRET", UNCONFIGURED, id="commands-not-configured"
        ),
    ],
)
def test_refused_with_a_clear_error_and_nothing_changed(refuses, send, status, message, env):
    refuses(send, status, message, env)


def test_slow_answer_goes_to_response_url(client, hub, drain, monkeypatch):
    real_all = hub.sheet.all

    def slow_all():
        time.sleep(0.3)
        return real_all()

    monkeypatch.setattr(hub.intake, "command_deadline", 0.05)
    monkeypatch.setattr(hub.sheet, "all", slow_all)
    response = command(client, "stats")
    assert json.loads(response.body)["text"] == "Working on it…"
    drain()
    [answer] = hub.notifier.messages()
    assert answer["method"] == "response_url"
    assert answer["response_url"].startswith("https://hooks.slack.com/commands/")
    assert "0 customers" in answer["text"]


def test_a_command_that_acts_runs_once_through_the_queue(client, hub, drain):
    hub.dead_letters.park(
        "payments",
        {"kind": "notification", "event_id": "n1", "text": "x", "channel": ""},
        "boom",
        "notification",
        message_id="m1",
    )
    answer = json.loads(command(client, "retry all").body)["text"]
    assert answer == "Working on it…"
    drain()
    responses = [m for m in hub.notifier.messages() if m["method"] == "response_url"]
    assert [r["text"] for r in responses] == ["Replayed 1 dead letter."]
