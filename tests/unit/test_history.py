"""The event history's rules (what it keeps of an event, how a search finds it) and the
recording of each step by the consumer, against the in-memory fakes."""

from __future__ import annotations

import pytest

from chalicelib.domain import events as ev
from chalicelib.domain.history import MAX_DETAIL, entry, event_status, mask_email, redact, search_keys
from chalicelib.errors import TransientError
from chalicelib.runtime import consumer
from chalicelib.runtime.recording import Recorder
from tests.unit.port_fakes import FakeHistory, World
from tests.unit.test_consumer import POLICY, batch, paid, record


def test_an_email_is_kept_masked_for_the_eye_and_digested_for_the_search():
    assert mask_email(" Ann.Lee@Example.COM ") == "a***@example.com"
    assert mask_email("not an email") == ""
    e = entry(ev.SignedUp(event_id="formstack:42", email="Ann.Lee@example.com"), 1.0)
    assert (e.record.provider, e.record.who) == ("formstack", "a***@example.com")
    assert search_keys("ann.lee@EXAMPLE.com ")[0] in e.keys
    assert "ref:42" in e.keys  # Formstack's own UniqueID finds it too
    assert "ann.lee" not in repr(e)


def test_free_texts_are_redacted_and_bounded():
    assert (
        redact("not an email address: 'Bob.Smith@mail.example.org'") == "not an email address: 'B***@mail.example.org'"
    )
    assert len(redact("x" * 1000)) == MAX_DETAIL


def test_the_consumer_records_each_step_retries_with_reasons_and_dead_letters():
    w, history = World(), FakeHistory()
    recorder = Recorder(history, clock=lambda: 1_700_000_000.0)
    for message in (paid("in_1"), paid("in_bad", price="price_nope")):
        history.received(entry(ev.from_message(message), 1_700_000_000.0))
    w.stock.fail_next("find_order", error=TransientError("Odoo is down for ann@example.com"))

    for r in (record(paid("in_1"), "m1"), record(paid("in_1"), "m1", 2), record(paid("in_bad", "price_nope"), "m2")):
        consumer.consume(batch(r), w.ports, POLICY, recorder=recorder)

    story = history.story("stripe:evt_in_1")
    steps = [(s.step, s.detail) for s in story.event.steps]
    names = [s for s, _ in steps]
    assert names[:3] == ["received", "sheet", "retry"] and names[-1] == "done"
    assert sorted(names[3:-1]) == ["queued", "stock", "stock"]
    assert "Odoo is down for a***@example.com" in steps[2][1] and "ann@" not in repr(story)
    assert story.event.status == "done"
    [note] = story.children
    assert (note.kind, note.parent) == ("notification", "stripe:evt_in_1")
    bad = history.story("stripe:evt_in_bad").event
    assert bad.status == "dead letter" and bad.steps[-1].letter_id and "price_nope" in bad.steps[-1].detail


def test_a_history_that_cannot_be_written_never_stops_an_event():
    w, history = World(), FakeHistory()
    history.fail_next("add_step", error=OSError("disk full"), times=20)
    result = consumer.consume(batch(record(paid("in_1"), "m1")), w.ports, POLICY, recorder=Recorder(history))
    assert result == {"batchItemFailures": []}
    assert [o.ref for o in w.stock.orders] == ["in_1"]


@pytest.mark.parametrize(
    ("stored", "status"),
    [("done", "done"), ("dead letter", "dead letter"), ("retrying", "retrying"), ("", "queued"), ("Done", "queued")],
)
def test_a_stored_status_is_read_back_and_an_unknown_one_claims_nothing(stored, status):
    assert event_status(stored) == status
