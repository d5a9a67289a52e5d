"""The SQLite persistence layer behaves as Powertools' DynamoDB one does."""

from __future__ import annotations

import threading
import time

import pytest
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyItemAlreadyExistsError
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from chalicelib.domain.events import SignedUp
from chalicelib.plumbing.group_commit import GroupCommitter
from chalicelib.plumbing.sqlite import Database
from chalicelib.runtime.door import Door, DoorBusy, DoorClosed
from chalicelib.runtime.embedded.idempotency import SqlitePersistenceLayer
from chalicelib.runtime.embedded.queue import SqliteQueue


@pytest.fixture
def db(tmp_path) -> Database:
    return Database(tmp_path / "hub.sqlite3")


def record(key: str, status: str = "INPROGRESS", expiry_in: float = 3600, in_progress_in_ms: float | None = 10_000):
    now = time.time()
    return DataRecord(
        idempotency_key=key,
        status=status,
        expiry_timestamp=int(now + expiry_in),
        in_progress_expiry_timestamp=None if in_progress_in_ms is None else int(now * 1000 + in_progress_in_ms),
    )


def test_a_live_key_cannot_be_taken_twice(db):
    store = SqlitePersistenceLayer(db)
    store._put_record(record("k"))
    with pytest.raises(IdempotencyItemAlreadyExistsError) as caught:
        store._put_record(record("k"))
    assert caught.value.old_data_record.status == "INPROGRESS"


def test_an_expired_key_or_a_stale_in_progress_one_can_be_taken(db):
    store = SqlitePersistenceLayer(db)
    store._put_record(record("expired", status="COMPLETED", expiry_in=-5))
    store._put_record(record("expired"))
    store._put_record(record("crashed", in_progress_in_ms=-1000))
    store._put_record(record("crashed"))
    assert store._get_record("crashed").status == "INPROGRESS"


def test_completed_key_keeps_its_response(db):
    store = SqlitePersistenceLayer(db)
    store._put_record(record("k"))
    done = record("k", status="COMPLETED")
    done.response_data = '{"queued": 1}'
    store._update_record(done)
    got = store._get_record("k")
    assert (got.status, got.response_data) == ("COMPLETED", '{"queued": 1}')


def test_the_door_queues_once_and_reports_duplicates(db):
    queue = SqliteQueue(db)
    door = Door(queue, SqlitePersistenceLayer(db))
    event = SignedUp(event_id="formstack:1", email="a@example.com")
    assert door.accept("formstack:1", [event]) is True
    assert door.accept("formstack:1", [event]) is False
    assert queue.depth() == {"signups": 1}


def test_a_failed_enqueue_releases_the_key_so_the_retry_queues(db):
    queue = SqliteQueue(db)
    door = Door(queue, SqlitePersistenceLayer(db))
    event = SignedUp(event_id="formstack:2", email="a@example.com")
    real_send = queue.send

    def broken_send(*args, **kwargs):
        raise OSError("disk full")

    queue.send = broken_send
    with pytest.raises(DoorClosed) as closed:
        door.accept("formstack:2", [event])
    assert isinstance(closed.value.__cause__, OSError)
    queue.send = real_send
    assert door.accept("formstack:2", [event]) is True
    assert queue.depth() == {"signups": 1}


def test_a_delivery_in_flight_makes_its_duplicate_wait(db):
    store = SqlitePersistenceLayer(db)
    door = Door(SqliteQueue(db), store)
    event = SignedUp(event_id="formstack:3", email="a@example.com")
    door.accept("formstack:3", [event])
    row = db.query("SELECT id FROM idempotency")[0]
    # What a process killed mid-delivery leaves behind: the key taken, nothing completed.
    with db.transaction() as conn:
        conn.execute(
            "UPDATE idempotency SET status = 'INPROGRESS', in_progress_expiry = ? WHERE id = ?",
            (int(time.time() * 1000) + 60_000, row["id"]),
        )
    with pytest.raises(DoorBusy):
        door.accept("formstack:3", [event])
    with db.transaction() as conn:  # the in-progress expiry passes: the retry takes over
        conn.execute("UPDATE idempotency SET in_progress_expiry = ? WHERE id = ?", (0, row["id"]))
    assert door.accept("formstack:3", [event]) is True


def traced(committer: GroupCommitter, db: Database) -> list[str]:
    """The statements the committer's connection runs from now on."""
    statements: list[str] = []
    committer.run(lambda: db.connection().set_trace_callback(statements.append))
    statements.clear()
    return statements


def test_a_grouped_door_commits_key_history_and_message_once_and_wakes_after(db):
    from chalicelib.adapters.history_sqlite import SqliteHistory
    from chalicelib.runtime.recording import Recorder

    queue, committer = SqliteQueue(db), GroupCommitter(db)
    door = Door(queue, SqlitePersistenceLayer(db), Recorder(SqliteHistory(db)), commit=committer.run)
    statements = traced(committer, db)
    woken: list[tuple[str, bool]] = []
    # A consumer in another process woken before the commit would find nothing there.
    queue.listeners.append(lambda name: woken.append((name, db.connection().in_transaction)))
    assert door.accept("formstack:4", [SignedUp(event_id="formstack:4", email="a@example.com")]) is True
    assert [s for s in statements if s in ("BEGIN IMMEDIATE", "COMMIT")] == ["BEGIN IMMEDIATE", "COMMIT"]
    assert woken == [("signups", False)]
    assert queue.depth() == {"signups": 1} and db.query("SELECT status FROM idempotency")[0][0] == "COMPLETED"


def test_a_grouped_door_that_cannot_queue_leaves_nothing_behind(db):
    queue = SqliteQueue(db)
    door = Door(queue, SqlitePersistenceLayer(db), commit=GroupCommitter(db).run)
    real_send = queue.send

    def half_send(queue_name, body, dedupe_id):
        real_send(queue_name, body, dedupe_id)
        raise OSError("disk full")

    queue.send = half_send
    with pytest.raises(DoorClosed):
        door.accept("formstack:5", [SignedUp(event_id="formstack:5", email="a@example.com")])
    assert queue.depth() == {} and db.query("SELECT * FROM idempotency") == []


def test_webhooks_arriving_during_a_commit_share_the_next_one_and_only_the_failing_one_fails(db):
    queue, committer = SqliteQueue(db), GroupCommitter(db)
    door = Door(queue, SqlitePersistenceLayer(db), commit=committer.run)
    statements = traced(committer, db)
    real_send = queue.send

    def send(queue_name, body, dedupe_id):
        real_send(queue_name, body, dedupe_id)
        if dedupe_id == "formstack:bad":
            raise OSError("this one cannot be queued")

    queue.send = send
    busy, release = threading.Event(), threading.Event()
    first = threading.Thread(target=committer.run, args=(lambda: busy.set() or release.wait(10),))
    first.start()
    assert busy.wait(10)  # the committer is inside a commit: the next webhooks pile up
    keys = ["formstack:a", "formstack:b", "formstack:bad", "formstack:c"]
    answers: dict[str, object] = {}

    def post(key: str) -> None:
        try:
            answers[key] = door.accept(key, [SignedUp(event_id=key, email="a@example.com")])
        except DoorClosed as exc:
            answers[key] = exc

    senders = [threading.Thread(target=post, args=(key,)) for key in keys]
    for sender in senders:
        sender.start()
    deadline = time.monotonic() + 10
    while len(committer._pending) < len(keys) and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    for thread in (first, *senders):
        thread.join(10)
    assert statements.count("COMMIT") == 2  # the first one's, then one for all four
    assert {k: a is True for k, a in answers.items()} == {k: k != "formstack:bad" for k in keys}
    assert queue.depth() == {"signups": 3}


def test_a_nested_transaction_that_fails_undoes_only_its_own_writes(db):
    insert = "INSERT INTO dead_letters (id, queue, body, reason, step, failed_at) VALUES (?, 'q', '{}', 'r', 's', 0)"
    with db.transaction() as conn:
        conn.execute(insert, ("a",))
        with pytest.raises(ValueError), db.transaction() as inner:
            inner.execute(insert, ("b",))
            raise ValueError("the inner step failed")
    assert [r["id"] for r in db.query("SELECT id FROM dead_letters")] == ["a"]
