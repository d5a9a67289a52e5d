"""A consumer in Lambda that sees its time run short stops taking records: the rest go
back to the queue untouched, reported as failures, and the batch never times out half-done."""

from __future__ import annotations

from chalice.app import SQSEvent

from chalicelib.runtime import consumer
from tests.unit.port_fakes import World
from tests.unit.test_consumer import paid, record


class Clock:
    """A Lambda context whose remaining time drops by `per_record` at each processed record."""

    def __init__(self, seconds: float, stock, per_record: float) -> None:
        self.seconds, self.stock, self.per_record = seconds, stock, per_record

    def get_remaining_time_in_millis(self) -> int:
        # Time passes as orders are made: the clock reads the sink's own progress.
        return int((self.seconds - self.per_record * len(self.stock.orders)) * 1000)


def test_records_not_started_in_time_are_handed_back_untouched():
    w = World()
    context = Clock(seconds=200, stock=w.stock, per_record=60)
    records = [record(paid(f"in_{i}"), f"m{i}") for i in range(5)]
    result = consumer.consume(SQSEvent({"Records": records}, context=context), w.ports, reserve_seconds=75)

    # 200 s left: two records fit (2 × 75 s), then 80 s left: one more; then 20 s: none.
    assert [o.ref for o in w.stock.orders] == ["in_0", "in_1", "in_2"]
    assert result == {"batchItemFailures": [{"itemIdentifier": "m3"}, {"itemIdentifier": "m4"}]}
    # Back in the queue within a second, and not dead-lettered.
    assert [(r, d) for _, r, d in w.queue.retries] == [("receipt-m3", 1.0), ("receipt-m4", 1.0)]
    assert w.dead_letters.letters == {}


def test_without_a_deadline_every_record_is_taken():
    w = World()
    records = [record(paid(f"in_{i}"), f"m{i}") for i in range(3)]
    result = consumer.consume(SQSEvent({"Records": records}, context=None), w.ports, reserve_seconds=75)
    assert result == {"batchItemFailures": []}
    assert len(w.stock.orders) == 3
