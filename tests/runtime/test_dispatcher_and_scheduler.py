"""The dispatcher feeds Chalice's own registered functions as Lambda would; the
scheduler fires `rate(...)` schedules."""

from __future__ import annotations

import json
import threading
import time

import pytest
from chalice import Chalice, Cron, Rate

from chalicelib.plumbing.sqlite import Database
from chalicelib.runtime.embedded.dead_letters import SqliteDeadLetters
from chalicelib.runtime.embedded.dispatcher import Dispatcher, consumers_of
from chalicelib.runtime.embedded.queue import SqliteQueue
from chalicelib.runtime.embedded.scheduler import fire_due, rate_seconds, schedules_of


@pytest.fixture
def queue(tmp_path) -> SqliteQueue:
    return SqliteQueue(Database(tmp_path / "hub.sqlite3"), visibility_timeout=30)


@pytest.fixture
def letters(queue):
    return SqliteDeadLetters(queue.db, queue)


def make_app(seen: list, fail_on: set[int] = frozenset(), crash: bool = False) -> Chalice:
    app = Chalice(app_name="t")

    @app.on_sqs_message(queue="work", batch_size=3)
    def worker(event):
        if crash:
            raise RuntimeError("consumer bug")
        failures = []
        for record in event:
            n = json.loads(record.body)["n"]
            seen.append((n, record.to_dict()["attributes"]["ApproximateReceiveCount"]))
            if n in fail_on:
                failures.append({"itemIdentifier": record.to_dict()["messageId"]})
        return {"batchItemFailures": failures}

    @app.schedule(Rate(5, unit=Rate.MINUTES))
    def every_five(event):
        seen.append(("tick", event.to_dict()["detail-type"]))

    @app.schedule(Cron(0, 9, "*", "*", "?", "*"))
    def nine_am(event):
        seen.append("cron")

    return app


def test_consumers_are_read_from_chalices_registry():
    [consumer] = consumers_of(make_app([]))
    assert (consumer.queue, consumer.batch_size, consumer.name) == ("work", 3, "worker")


def test_partial_batch_failure_keeps_only_the_failed_message(queue):
    seen: list = []
    for n in range(3):
        queue.send("work", {"n": n}, dedupe_id=str(n))
    Dispatcher(make_app(seen, fail_on={1}), queue).deliver_once()
    assert [n for n, _ in seen] == [0, 1, 2]
    assert queue.depth() == {"work": 1}
    queue.release_all()
    Dispatcher(make_app(seen), queue).deliver_once()
    assert seen[-1] == (1, "2")
    assert queue.depth() == {}


def test_a_crashing_consumer_fails_its_whole_batch(queue):
    for n in range(2):
        queue.send("work", {"n": n}, dedupe_id=str(n))
    Dispatcher(make_app([], crash=True), queue).deliver_once()
    assert queue.depth() == {"work": 2}


def test_drain_delivers_until_empty(queue):
    seen: list = []
    for n in range(7):
        queue.send("work", {"n": n}, dedupe_id=str(n))
    Dispatcher(make_app(seen), queue).drain(timeout=5)
    assert sorted(n for n, _ in seen) == list(range(7))


def test_rate_schedules_fire_and_cron_ones_are_skipped():
    seen: list = []
    [schedule] = schedules_of(make_app(seen), first_delay=0)
    assert schedule.every == 300
    fire_due([schedule], now=schedule.next_at)
    fire_due([schedule], now=schedule.next_at - 1)
    assert seen == [("tick", "Scheduled Event")]


def test_rate_expressions():
    assert rate_seconds("rate(1 minute)") == 60
    assert rate_seconds("rate(2 hours)") == 7200
    assert rate_seconds("cron(0 9 * * ? *)") is None


def test_a_message_that_keeps_crashing_the_consumer_is_redriven(queue, letters):
    queue.send("work", {"n": 1}, dedupe_id="1")
    dispatcher = Dispatcher(make_app([], crash=True), queue, redrive_after=3)
    for _ in range(3 + 1):
        queue.release_all()
        dispatcher.deliver_once()
    assert queue.depth() == {}
    [letter] = letters.list()
    assert "crashed" in letter.reason and letter.step == "worker"


def gathering_app(batches: list[list[int]], hold: threading.Event) -> Chalice:
    """A consumer of batch 5 with a 1 s batching window, whose first batch waits for `hold`."""
    app = Chalice(app_name="t")

    @app.on_sqs_message(queue="work", batch_size=5, maximum_batching_window_in_seconds=1)
    def worker(event):
        batches.append([json.loads(record.body)["n"] for record in event])
        if len(batches) == 1:
            assert hold.wait(10)
        return {"batchItemFailures": []}

    return app


def test_a_lone_message_on_a_quiet_queue_is_not_held_for_the_window(queue):
    batches: list[list[int]] = []
    hold = threading.Event()
    hold.set()
    app = gathering_app(batches, hold)
    [consumer] = consumers_of(app)
    assert consumer.window == 1.0
    queue.send("work", {"n": 0}, dedupe_id="0")

    started = time.monotonic()
    assert Dispatcher(app, queue).deliver_batch(consumer, gather=True) == 1
    assert time.monotonic() - started < 0.5
    assert batches == [[0]]


def test_a_busy_queue_gathers_a_fuller_batch_within_the_window(queue):
    """While one batch is in progress, the next thread's short batch waits for more
    messages (up to the window) instead of leaving with what happened to be visible."""
    batches: list[list[int]] = []
    hold = threading.Event()
    app = gathering_app(batches, hold)
    [consumer] = consumers_of(app)
    dispatcher = Dispatcher(app, queue)
    queue.send("work", {"n": 0}, dedupe_id="0")
    first = threading.Thread(target=dispatcher.deliver_batch, args=(consumer, True))
    first.start()
    while not batches:  # the first batch is in progress, held
        time.sleep(0.01)
    queue.send("work", {"n": 1}, dedupe_id="1")

    def trickle() -> None:
        for n in (2, 3):
            time.sleep(0.1)
            queue.send("work", {"n": n}, dedupe_id=str(n))

    sender = threading.Thread(target=trickle)
    sender.start()
    started = time.monotonic()
    assert dispatcher.deliver_batch(consumer, gather=True) == 3  # 1, then 2 and 3 as they came
    waited = time.monotonic() - started
    hold.set()
    first.join(5)
    sender.join(5)

    assert batches == [[0], [1, 2, 3]]
    assert 0.9 <= waited < 3  # short of 5 messages: the whole window, and no longer


def test_a_message_queued_by_the_server_wakes_the_dispatcher_process_at_once(queue, tmp_path):
    import os
    import threading

    from chalicelib.runtime.embedded.worker import DispatcherProcess, listen

    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    server = DispatcherProcess(queue, str(tmp_path), tmp_path)
    server._wake_fd = write_end  # the pipe `start` would make for its child
    queue.listeners.append(server.notify)
    dispatcher_side = SqliteQueue(queue.db)  # the child's own queue object
    gone = threading.Event()
    listener = threading.Thread(target=listen, args=(read_end, dispatcher_side, gone))
    listener.start()
    queue.send("work", {"n": 1}, dedupe_id="1")
    assert dispatcher_side.wakeup("work").wait(5)
    for _ in range(50_000):  # faster than it reads: the pipe fills, and a request never blocks on it
        server.notify("work")
    assert not gone.is_set()
    os.close(write_end)  # the server is gone, however it went
    listener.join(5)
    assert gone.is_set()
