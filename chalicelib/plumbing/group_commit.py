"""Group commit on the embedded database: the webhooks that arrive while one commits share
the next commit, and its one fsync.

With `synchronous=FULL` every commit waits for the disk (a few ms here), and SQLite has one
writer at a time: eight webhooks at once queued for eight fsyncs in a row, and the last
one's answer waited for all of them. Here each caller hands its work to one committer
thread and waits; the committer runs everything handed to it meanwhile in one transaction,
each piece in a savepoint of its own (its error undoes only its own writes and reaches only
its caller), commits once, and answers them all. A failed COMMIT reaches every caller of
the group: none of them was made durable, so none is acknowledged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from chalicelib.plumbing.sqlite import Database

T = TypeVar("T")


@dataclass
class _Job:
    work: Callable[[], Any]
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


class GroupCommitter:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._pending: list[_Job] = []
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None

    def run(self, work: Callable[[], T]) -> T:
        """`work()` inside the next shared transaction; its result once that is committed."""
        job = _Job(work)
        with self._ready:
            self._pending.append(job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._commit_groups, name="sqlite-committer", daemon=True)
                self._thread.start()
            self._ready.notify()
        job.done.wait()
        if job.error is not None:
            raise job.error
        return cast(T, job.result)

    def _commit_groups(self) -> None:
        while True:
            with self._ready:
                while not self._pending:
                    self._ready.wait()
                jobs, self._pending = self._pending, []
            self._commit(jobs)

    def _commit(self, jobs: list[_Job]) -> None:
        try:
            with self.db.transaction():
                for job in jobs:
                    try:
                        with self.db.transaction():  # a savepoint
                            job.result = job.work()
                    except Exception as exc:  # that caller's failure, not the group's
                        job.error = exc
        except BaseException as exc:  # the COMMIT failed: nothing of the group is durable
            for job in jobs:
                job.error = job.error or exc
        finally:
            for job in jobs:
                job.done.set()
