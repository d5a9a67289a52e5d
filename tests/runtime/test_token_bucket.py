"""Quota buckets shared by consumers: never more than the quota in any minute, waits
served in order, a wait too long handed back to the queue."""

from __future__ import annotations

import threading

import pytest

from chalicelib.errors import TransientError
from chalicelib.plumbing.sqlite import Database
from chalicelib.plumbing.token_bucket import LocalBuckets, Rate, SqliteBuckets, reserve

QUOTA = Rate.per_window(60)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def spend_for(buckets, clock: Clock, seconds: float) -> list[float]:
    """Take tokens as fast as allowed for `seconds`; the times at which each was used."""
    used: list[float] = []
    start = clock.now
    while clock.now < start + seconds:
        wait = buckets.take("sheets:read", QUOTA, max_wait=3600)
        clock.now += wait
        used.append(clock.now)
    return used


def most_in_a_minute(times: list[float]) -> int:
    return max(sum(1 for t in times if start <= t < start + 60) for start in times)


def test_the_quota_holds_in_every_minute_whatever_the_burst():
    clock = Clock()
    times = spend_for(LocalBuckets(clock), clock, 600)
    assert most_in_a_minute(times) <= 60
    assert len(times) >= 0.85 * 600  # and it is spent, not wasted


def test_a_burst_is_served_at_once_then_paced():
    wait_now = [reserve(6.0 - n, 0.0, 0.0, QUOTA)[1] for n in range(8)]
    assert wait_now[:6] == [0.0] * 6
    assert wait_now[6] == pytest.approx(1 / QUOTA.per_second)


def test_a_wait_too_long_reserves_nothing_and_says_when():
    clock = Clock()
    buckets = LocalBuckets(clock)
    for _ in range(6):
        buckets.take("b", QUOTA, max_wait=0)
    with pytest.raises(TransientError) as caught:
        buckets.take("b", QUOTA, max_wait=0.5)
    assert caught.value.retry_after == pytest.approx(1 / QUOTA.per_second)
    clock.now += 1 / QUOTA.per_second
    assert buckets.take("b", QUOTA, max_wait=0) == 0.0  # the refused take left the token there


def test_sqlite_buckets_are_shared_by_every_consumer_of_the_database(tmp_path):
    clock = Clock()
    db = Database(tmp_path / "hub.sqlite3")
    first, second = SqliteBuckets(db, clock), SqliteBuckets(Database(tmp_path / "hub.sqlite3"), clock)
    waits: list[float] = []

    def consumer(buckets: SqliteBuckets) -> None:
        for _ in range(10):
            waits.append(buckets.take("sheets:write", QUOTA, max_wait=60))

    threads = [threading.Thread(target=consumer, args=(b,)) for b in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 20 takes at one instant: the burst (6) at once, the others reserved one pacing step apart
    assert sorted(waits) == pytest.approx([0.0] * 6 + [n / QUOTA.per_second for n in range(1, 15)])


def test_dynamodb_buckets_are_shared_by_every_lambda(moto):
    from chalicelib.plumbing.aws import AwsClients, create_resources
    from chalicelib.plumbing.token_bucket import DynamoBuckets

    create_resources("t-", "t-table", queues=())
    clock = Clock()
    one, two = DynamoBuckets("t-table", AwsClients(), clock), DynamoBuckets("t-table", AwsClients(), clock)
    waits = [bucket.take("sheets:read", QUOTA, max_wait=60) for _ in range(4) for bucket in (one, two)]
    assert waits == pytest.approx([0.0] * 6 + [1 / QUOTA.per_second, 2 / QUOTA.per_second])
    with pytest.raises(TransientError):
        one.take("sheets:read", QUOTA, max_wait=0.1)
