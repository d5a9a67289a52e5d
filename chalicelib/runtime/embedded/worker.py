"""The embedded runtime's own process: `chalice local` serves, a child of it dispatches.

Why a process and not threads: the consumers (JSON, gspread, XML-RPC, logging) held the
GIL for two thirds of the time anything did while eight senders posted webhooks, and
every blocking call of a request thread then waited its turn behind them (ack p99 over a
second). In a process of their own they use the other core and the server answers alone.

Both ends live here:
- `DispatcherProcess` (in `chalice local`): takes the state folder's `runtime.lock` at
  once when it is free (so `make run` refuses a second hub on the same folder at once) and
  hands it to the child, starts the child (`python -m chalicelib.dispatch`, the entry
  point that imports the same `app.py`), wakes it through a pipe whenever a message is
  queued, and starts a new one if it dies.
- `hold` and `listen` (the child's side): it holds the lock (or waits for it: a hub
  restarted while its predecessor's dispatcher finishes its batches takes over when it is
  done), releases the deliveries a killed dispatcher left in flight, and runs the
  consumers and the schedules. It ends when the pipe closes, that is when its parent is
  gone, however it went (a `kill -9` of the server alone included): never an orphan
  holding the lock. Ctrl-C reaches the whole process group; the child leaves that to its
  parent's exit.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING

from chalicelib.logs import logger
from chalicelib.runtime.embedded.lockfile import lock_path, try_lock

if TYPE_CHECKING:
    from chalicelib.runtime.embedded.queue import SqliteQueue

# How long a stopping dispatcher lets its consumers finish the batch in hand.
GRACE = 5.0
# Pause before a dispatcher that died is started again (doubling up to a minute).
RESPAWN_PAUSE = 1.0


class DispatcherProcess:
    """The parent's handle on the dispatching child."""

    def __init__(self, queue: SqliteQueue, state_dir: str, project_dir: Path) -> None:
        self.queue = queue
        self.state_dir = state_dir
        self.project_dir = project_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self._wake_fd = -1
        self._lock = threading.Lock()

    def start(self) -> None:
        self._spawn()
        self.queue.listeners.append(self.notify)
        threading.Thread(target=self._watch, name="chocohub-dispatcher-watch", daemon=True).start()

    def _spawn(self) -> None:
        held = try_lock(self.state_dir)
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        fds = [read_end] if held is None else [read_end, held.fileno()]
        command = [sys.executable, "-m", "chalicelib.dispatch", str(read_end), str(held.fileno() if held else -1)]
        # The server's own folder, so that a relative HUB_STATE_DIR names the same state;
        # the project's on the path (chalice local may serve a project from elsewhere).
        path = os.pathsep.join(p for p in (str(self.project_dir), os.environ.get("PYTHONPATH", "")) if p)
        try:
            proc = subprocess.Popen(command, pass_fds=fds, env={**os.environ, "PYTHONPATH": path})
        finally:
            os.close(read_end)
            if held is not None:
                held.close()  # the child's copy keeps the lock
        with self._lock:
            if self._wake_fd >= 0:
                os.close(self._wake_fd)
            self._wake_fd, self.proc = write_end, proc
        logger.info("dispatcher process started", extra={"pid": proc.pid, "lock_free": held is not None})

    def notify(self, queue: str) -> None:
        """Wake the child's consumers of `queue`. Never blocks a request: with the pipe
        full the child has wake-ups pending anyway, and a dead child is restarted."""
        with self._lock, contextlib.suppress(OSError):  # BlockingIOError, BrokenPipeError
            os.write(self._wake_fd, queue.encode() + b"\n")  # under the lock: `_spawn` may close it

    def _watch(self) -> None:
        """Start another child when one dies (it only ends by itself once its parent is gone)."""
        pause = RESPAWN_PAUSE
        while True:
            proc, started = self.proc, time.monotonic()
            assert proc is not None
            code = proc.wait()
            logger.error("dispatcher process exited: starting another", extra={"pid": proc.pid, "code": code})
            pause = RESPAWN_PAUSE if time.monotonic() - started > 60 else min(pause * 2, 60.0)
            time.sleep(pause)
            self._spawn()


def hold(lock_fd: int, state_dir: str, stop: threading.Event) -> IO[str] | None:
    """The lock: the parent's (already held), else waited for until free or told to stop."""
    if lock_fd >= 0:
        return os.fdopen(lock_fd, "w")
    path = lock_path(state_dir)
    handle = open(path, "w")  # noqa: SIM115 - held for the process's life
    said = False
    while not stop.is_set():
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if not said:
                logger.warning("another dispatcher holds the state folder: waiting for it", extra={"lock": str(path)})
                said = True
            stop.wait(0.2)
    handle.close()
    return None


def listen(wake_fd: int, queue: SqliteQueue, stop: threading.Event) -> None:
    """Wake-ups from the parent, until the pipe closes (the parent is gone)."""
    with os.fdopen(wake_fd, "rb", buffering=0) as pipe:
        pending = b""
        while chunk := pipe.read(4096):
            *names, pending = (pending + chunk).split(b"\n")
            for name in names:
                queue.wakeup(name.decode()).set()
    stop.set()
