"""The embedded queue keeps SQS's promises: at-least-once, visibility, receive counts,
dead letters, and nothing lost or doubled across a restart."""

from __future__ import annotations

import time

import pytest

from chalicelib.dead_letters import letter_id
from chalicelib.plumbing.sqlite import Database
from chalicelib.runtime.embedded.dead_letters import SqliteDeadLetters
from chalicelib.runtime.embedded.queue import SqliteQueue


@pytest.fixture
def queue(tmp_path) -> SqliteQueue:
    return SqliteQueue(Database(tmp_path / "hub.sqlite3"), visibility_timeout=0.3)


@pytest.fixture
def letters(queue):
    return SqliteDeadLetters(queue.db, queue)


def test_a_received_message_is_hidden_until_its_visibility_timeout(queue):
    queue.send("q", {"n": 1}, dedupe_id="a")
    [first] = queue.receive("q", 10)
    assert first.receive_count == 1
    assert queue.receive("q", 10) == []
    time.sleep(0.35)
    [again] = queue.receive("q", 10)
    assert again.id == first.id and again.receive_count == 2 and again.receipt != first.receipt


def test_delete_with_a_stale_receipt_deletes_nothing(queue):
    queue.send("q", {"n": 1}, dedupe_id="a")
    [first] = queue.receive("q", 10)
    time.sleep(0.35)
    [second] = queue.receive("q", 10)
    queue.delete("q", first.receipt)
    assert queue.depth() == {"q": 1}
    queue.delete("q", second.receipt)
    assert queue.depth() == {}


def test_dedupe_id_holds_while_the_message_waits(queue):
    queue.send("q", {"n": 1}, dedupe_id="same")
    queue.send("q", {"n": 2}, dedupe_id="same")
    queue.send("other", {"n": 3}, dedupe_id="same")
    assert queue.depth() == {"q": 1, "other": 1}
    [message] = queue.receive("q", 10)
    queue.delete("q", message.receipt)
    queue.send("q", {"n": 4}, dedupe_id="same")
    assert queue.depth() == {"q": 1, "other": 1}


def test_retry_later_hides_the_message_for_the_delay(queue):
    queue.send("q", {}, dedupe_id="a")
    [message] = queue.receive("q", 10)
    queue.retry_later("q", message.receipt, 60)
    time.sleep(0.35)
    assert queue.receive("q", 10) == []


def test_batches_respect_their_size_and_order(queue):
    for n in range(5):
        queue.send("q", {"n": n}, dedupe_id=str(n))
    batch = queue.receive("q", 3)
    assert [m.body for m in batch] == ['{"n": 0}', '{"n": 1}', '{"n": 2}']


def test_release_all_frees_the_deliveries_of_a_dead_process(tmp_path):
    path = tmp_path / "hub.sqlite3"
    SqliteQueue(Database(path)).send("q", {}, dedupe_id="a")
    assert len(SqliteQueue(Database(path)).receive("q", 10)) == 1  # then the process "dies"
    restarted = SqliteQueue(Database(path))
    assert restarted.receive("q", 10) == []
    assert restarted.release_all() == 1
    [message] = restarted.receive("q", 10)
    assert message.receive_count == 2


def test_dead_letters_are_parked_once_listed_replayed_once_and_discarded(queue, letters):
    letters.park("q", {"kind": "x"}, "bad data", "x → step", message_id="m1")
    letters.park("q", {"kind": "x"}, "bad data", "x → step", message_id="m1")
    [letter] = letters.list()
    assert (letter.reason, letter.step, letter.body) == ("bad data", "x → step", {"kind": "x"})
    assert letter.id == letter_id("m1")  # the id the AWS runtime gives the same message
    assert letters.replay(letter.id) is True
    assert letters.replay(letter.id) is False
    assert queue.depth() == {"q": 1}
    letters.park("q", {"kind": "y"}, "worse", "y", message_id="m2")
    [other] = letters.list()
    assert letters.discard(other.id, "not ours") is True
    assert letters.discard(other.id, "twice") is False
    assert letters.list() == []


def test_redrive_moves_a_delivery_to_the_dead_letters_atomically(queue, letters):
    queue.send("q", {"kind": "z"}, dedupe_id="a")
    [message] = queue.receive("q", 10)
    queue.redrive("q", message.receipt, "gave up", "z")
    assert queue.depth() == {}
    [letter] = letters.list()
    assert letter.reason == "gave up"


def test_a_failed_commit_leaves_no_transaction_open(tmp_path):
    import sqlite3

    db = Database(tmp_path / "hub.sqlite3")
    db.script(
        "CREATE TABLE parent (id INTEGER PRIMARY KEY);"
        "CREATE TABLE child (p INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);"
    )
    db.connection().execute("PRAGMA foreign_keys = ON")
    with pytest.raises(sqlite3.IntegrityError), db.transaction() as conn:
        conn.execute("INSERT INTO child (p) VALUES (42)")  # fails only at COMMIT
    assert not db.connection().in_transaction
    with db.transaction() as conn:
        conn.execute("INSERT INTO parent (id) VALUES (1)")
    assert db.query("SELECT COUNT(*) AS n FROM parent")[0]["n"] == 1
