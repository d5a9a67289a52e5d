"""The `EventHistory` port: one contract, run against the in-memory fake, the SQLite
history and the DynamoDB history (moto, the real boto3 calls)."""

from __future__ import annotations

import time

import pytest

from chalicelib.domain import events as ev
from chalicelib.domain.history import Step, entry
from tests.adapters.test_aws_runtime import TABLE, aws  # noqa: F401  (the moto fixture)
from tests.unit.port_fakes import FakeHistory

NOW = time.time()


@pytest.fixture(params=["fake", "sqlite", "dynamodb"])
def history(request, tmp_path):
    if request.param == "fake":
        return FakeHistory()
    if request.param == "sqlite":
        from chalicelib.adapters.history_sqlite import SqliteHistory
        from chalicelib.plumbing.sqlite import Database

        return SqliteHistory(Database(tmp_path / "hub.sqlite3"))
    request.getfixturevalue("aws")
    from chalicelib.adapters.history_dynamodb import DynamoHistory

    return DynamoHistory(TABLE)


def paid(n: int, email: str = "Ann.Lee@Example.com") -> ev.InvoicePaid:
    return ev.InvoicePaid(event_id=f"evt_{n}", invoice_id=f"in_{n}", email=email, stripe_customer="cus_ann")


def test_an_event_is_received_once_and_its_steps_tell_its_story(history):
    assert history.received(entry(paid(1), NOW - 5))
    assert not history.received(entry(paid(1), NOW - 4))
    history.add_step("evt_1", Step(NOW - 3, "retry", "delivery 1 failed: Odoo down"))
    history.add_step("evt_1", Step(NOW - 2, "stock", "order 7 confirmed"))
    history.add_step("evt_1", Step(NOW - 1, "done", "invoice_paid handled"))
    note = ev.Notification(event_id="notify:evt_1", text="paid")
    assert history.received(entry(note, NOW - 1, parent="evt_1"))
    history.add_step("notify:evt_1", Step(NOW, "slack", "posted to #orders"))

    story = history.story("evt_1")
    e = story.event
    assert (e.provider, e.kind, e.status, e.who, e.ref) == (
        "stripe",
        "invoice_paid",
        "done",
        "a***@example.com",
        "in_1",
    )
    assert [s.step for s in e.steps] == ["received", "retry", "stock", "done"]
    [child] = story.children
    assert (child.event_id, child.parent, [s.step for s in child.steps]) == (
        "notify:evt_1",
        "evt_1",
        ["received", "slack"],
    )
    assert history.story("evt_unknown") is None


def test_a_step_that_outruns_the_door_keeps_its_status_and_comes_after_received(history):
    history.add_step("evt_2", Step(NOW - 1, "dead letter", "invoice_paid: unknown price", letter_id="abc"))
    assert history.received(entry(paid(2), NOW - 2))
    e = history.story("evt_2").event
    assert (e.kind, e.status) == ("invoice_paid", "dead letter")
    assert [(s.step, s.letter_id) for s in e.steps] == [("received", ""), ("dead letter", "abc")]


def test_search_by_email_invoice_or_event_id_newest_first(history):
    for n in range(1, 4):
        history.received(entry(paid(n), NOW - 10 + n))
    history.received(entry(paid(9, email="bob@example.com"), NOW))

    assert [r.event_id for r in history.search("  ann.lee@example.COM ")] == ["evt_3", "evt_2", "evt_1"]
    assert [r.event_id for r in history.search("in_2")] == ["evt_2"]
    assert [r.event_id for r in history.search("evt_9")] == ["evt_9"]
    assert [r.event_id for r in history.search("cus_ann", limit=2)] == ["evt_9", "evt_3"]
    assert [r.event_id for r in history.search("", limit=2)] == ["evt_9", "evt_3"]
    assert history.search("nobody@example.com") == []
    assert all(r.steps == () for r in history.search(""))


def test_counts_per_day(history):
    history.received(entry(paid(1), NOW))
    history.received(entry(paid(2), NOW))
    history.add_step("evt_2", Step(NOW, "dead letter", "bad price"))
    today = time.strftime("%Y-%m-%d", time.gmtime(NOW))
    assert history.counts_per_day(7) == {today: {"received": 2, "dead letter": 1}}


def test_the_history_keeps_no_plain_email(history, tmp_path):
    history.received(entry(paid(1, email="secret.person@example.com"), NOW))
    history.add_step("evt_1", Step(NOW, "sheet", "row added"))
    assert "secret.person" not in repr(history.story("evt_1"))
    if hasattr(history, "db"):
        assert b"secret.person" not in (tmp_path / "hub.sqlite3").read_bytes()


def test_a_status_the_hub_never_writes_reads_as_queued(tmp_path):
    from chalicelib.adapters.history_sqlite import SqliteHistory
    from chalicelib.plumbing.sqlite import Database

    history = SqliteHistory(Database(tmp_path / "hub.sqlite3"))
    history.received(entry(paid(1), NOW))
    with history.db.transaction() as conn:
        conn.execute("UPDATE history_events SET status = 'archived by hand'")
    assert history.story("evt_1").event.status == "queued"
