"""The embedded runtime, run in its own process (`worker`, a child of `chalice local`):
a few consumer threads per queue, as Lambda runs a few instances of one function per
queue (so a slow Odoo holds up payments, never sign-ups, and orders go to Odoo several
at a time), and one thread that fires the schedules. The Sheets quota is shared through its token bucket, and
each customer's row through its lock, so more threads never overrun either.

The consumer threads' SQLite connections commit with `synchronous=NORMAL`: what they
write (receives, deletes, the embedded sinks) may be lost by a power cut, never by a
crash, and WAL loses only a suffix of commits, so a lost delete comes with everything
after it and means one more delivery, which every step is idempotent to. The door's
writes keep `FULL` (an acknowledged event survives a power cut), one fsync per webhook,
and queue on the database's writer lock rather than on SQLite's sleeping busy handler.

Only one process may dispatch from a state folder: it holds an exclusive lock on
`runtime.lock`. Holding it also proves that no other dispatcher is alive, so the
deliveries left in flight by a killed process are released at start.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import IO, TYPE_CHECKING, Any

from chalicelib.logs import logger
from chalicelib.runtime.embedded.lockfile import lock_path, try_lock

# `app` imports this module for `under_chalice_local`; in Lambda the dispatcher, the
# scheduler and the SQLite queue are never needed: the runner imports them when built.
if TYPE_CHECKING:
    from chalicelib.runtime.embedded.dispatcher import Consumer
    from chalicelib.runtime.embedded.queue import SqliteQueue

IDLE_WAIT = 0.5
SCHEDULE_TICK = 1.0
# Consumer threads per queue (HUB_CONSUMER_THREADS): Odoo answers one call at a time per
# connection, so orders are placed several at a time; four keep a laptop's SQLite and CPU
# comfortable.
CONSUMER_THREADS = 4
# `chalice local` listens with socketserver's backlog of 5: a sixth connection arriving
# before its accept loop gets the GIL back had its SYN dropped, and the sender retried a
# second later (TCP's first retransmission timeout): the 1 s acknowledgements at p99.
LISTEN_BACKLOG = 128
# Set in the dispatcher's own process, which imports `app.py` too but must not start another.
IN_WORKER = False


def under_chalice_local() -> bool:
    """True in the process that serves `chalice local` (the worker, with autoreload)."""
    if IN_WORKER:
        return False
    if os.environ.get("AWS_CHALICE_CLI_MODE") != "true" or os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return False
    import click  # present wherever the chalice CLI runs

    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        return ctx.info_name == "local"
    return len(sys.argv) > 1 and sys.argv[1] == "local"


def widen_listen_backlog() -> None:
    """Before `chalice local` makes its server (it imports the app first)."""
    from chalice.local import ThreadedHTTPServer

    ThreadedHTTPServer.request_queue_size = LISTEN_BACKLOG


class EmbeddedRunner:
    def __init__(self, app: Any, queue: SqliteQueue, state_dir: str, threads: int = CONSUMER_THREADS) -> None:
        self.threads = threads
        from chalicelib.runtime.embedded.dispatcher import Dispatcher

        self.dispatcher = Dispatcher(app, queue)
        self.queue = queue
        self.app = app
        self.state_dir = state_dir
        self.lock_path = lock_path(state_dir)
        self._stop = threading.Event()
        self._lock_file: IO[str] | None = None
        self._threads: list[threading.Thread] = []
        self._queues: set[str] = set()

    def start(self, lock_file: IO[str] | None = None) -> bool:
        """Start the threads, holding `lock_file` (locked by the caller) or else taking the
        lock now; False when another process already dispatches."""
        lock_file = lock_file or try_lock(self.state_dir)  # held for the process's life
        if lock_file is None:
            logger.warning("another process dispatches from this state folder", extra={"lock": str(self.lock_path)})
            return False
        self._lock_file = lock_file
        released = self.queue.release_all()
        from chalicelib.runtime.embedded.dispatcher import consumers_of

        consumers = consumers_of(self.app)
        self._queues = {c.queue for c in consumers}
        for consumer in consumers:
            for n in range(self.threads):
                name = f"chocohub-{consumer.queue}-{n}"
                self._threads.append(threading.Thread(target=self._consume, args=(consumer,), name=name, daemon=True))
        self._threads.append(threading.Thread(target=self._schedule, name="chocohub-schedules", daemon=True))
        for thread in self._threads:
            thread.start()
        logger.info("embedded runtime started", extra={"released_in_flight": released, "consumers": len(consumers)})
        return True

    def stop(self, grace: float = 0.0) -> None:
        """Stop taking batches; wait up to `grace` seconds for the ones in hand."""
        self._stop.set()
        for thread_queue in self._queues:
            self.queue.wakeup(thread_queue).set()
        deadline = time.monotonic() + grace
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _consume(self, consumer: Consumer) -> None:
        """Deliver the queue's batches as they come; wake at once when a message is sent."""
        self.queue.db.connection().execute("PRAGMA synchronous=NORMAL")  # see the module's docstring
        wakeup = self.queue.wakeup(consumer.queue)
        while not self._stop.is_set():
            wakeup.clear()
            try:
                if self.dispatcher.deliver_batch(consumer, gather=True):
                    continue
            except Exception:  # the loop must outlive any one failure (a locked database, a bug)
                logger.exception("embedded consumer loop failed", extra={"queue": consumer.queue})
            wakeup.wait(IDLE_WAIT)  # also the longest a message whose delay ended waits

    def _schedule(self) -> None:
        from chalicelib.runtime.embedded.scheduler import fire_due, schedules_of

        schedules = schedules_of(self.app)
        while not self._stop.wait(SCHEDULE_TICK):
            try:
                fire_due(schedules, time.time())
            except Exception:
                logger.exception("embedded scheduler failed")
