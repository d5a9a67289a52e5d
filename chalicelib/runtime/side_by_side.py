"""Running a batch's independent follow-ups side by side (`Ports.run_all`).

A batch of ten paid invoices places ten orders in Odoo, each a few calls of a round trip
each; a batch of ten marketing emails talks to the mail server ten times. One after the
other, a batch takes ten times one order's time, in Lambda (billed by the millisecond)
as in the embedded runtime. The flows group what must stay in order (a customer's
follow-ups); the groups run here on a pool of threads kept for the process's life, so
their connections (SQLite, Odoo's keep-alive) are made once, not per batch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

# Threads of the pool: a whole batch's follow-ups at once in Lambda (one batch per
# container); in the embedded runtime the queues' consumer threads share it, and a burst
# keeps several batches of orders and emails waiting on it (they mostly wait for answers).
WORKERS = 96


class SideBySide:
    """`Ports.run_all` on a thread pool made on first use (importing starts no thread)."""

    def __init__(self, workers: int = WORKERS, initializer: Callable[[], object] | None = None) -> None:
        """`initializer` runs once in each thread of the pool, as it starts."""
        self.workers = workers
        self.initializer = initializer
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def __call__(self, tasks: Sequence[Callable[[], None]]) -> None:
        if len(tasks) <= 1:
            for task in tasks:
                task()
            return
        futures = [self._executor().submit(task) for task in tasks]
        for future in futures:
            future.result()  # each task catches its own failures; a BaseException surfaces here

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    self.workers, thread_name_prefix="chocohub-follow-up", initializer=self.initializer
                )
            return self._pool
