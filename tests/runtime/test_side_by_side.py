"""A batch's follow-ups side by side: they overlap, and each thread of the pool is set up once."""

from __future__ import annotations

import threading

from chalicelib.runtime.side_by_side import SideBySide


def test_tasks_overlap_and_all_finish_before_it_returns() -> None:
    meeting = threading.Barrier(3, timeout=5)  # one after the other, the first would wait for ever
    done: list[int] = []

    def task(n: int):
        def run() -> None:
            meeting.wait()
            done.append(n)

        return run

    SideBySide(workers=4)([task(n) for n in range(3)])

    assert sorted(done) == [0, 1, 2]


def test_each_pool_thread_runs_the_initializer_once_and_a_single_task_runs_in_place() -> None:
    started: list[str] = []
    runner = SideBySide(workers=2, initializer=lambda: started.append(threading.current_thread().name))
    where: list[str] = []

    runner([lambda: where.append(threading.current_thread().name)])
    assert where == [threading.current_thread().name] and started == []  # no pool for one task

    for _ in range(3):
        runner([lambda: where.append("a"), lambda: where.append("b")])
    assert len(started) <= 2 and all(name.startswith("chocohub-follow-up") for name in started)
    assert where.count("a") == 3 and where.count("b") == 3
