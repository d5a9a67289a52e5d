"""The embedded dispatcher's process: `python -m chalicelib.dispatch WAKE_FD LOCK_FD`.

Started by `chalice local` (`runtime/embedded/worker.py`, which says why and how), never
by hand. An entry point like `app.py`: it imports the project's `app.py` for Chalice's
registry of queue consumers and schedules, wires the hub, and runs the embedded runtime
until its parent is gone.
"""

from __future__ import annotations

import importlib
import signal
import sys
import threading
from typing import Any

from chalicelib.bootstrap import get_hub
from chalicelib.logs import logger
from chalicelib.runtime.embedded import runner
from chalicelib.runtime.embedded.worker import GRACE, hold, listen


def main(argv: list[str]) -> int:
    wake_fd, lock_fd = int(argv[0]), int(argv[1])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent's exit ends this one
    stop = threading.Event()
    runner.IN_WORKER = True  # set before `app.py` asks whether to start a dispatcher
    app: Any = importlib.import_module("app").app
    hub = get_hub()
    threading.Thread(target=listen, args=(wake_fd, hub.embedded_queue, stop), daemon=True).start()
    lock = hold(lock_fd, str(hub.state_dir), stop)
    if lock is None:
        return 0
    embedded = runner.EmbeddedRunner(app, hub.embedded_queue, str(hub.state_dir), hub.settings.consumer_threads)
    embedded.start(lock)
    stop.wait()
    logger.info("dispatcher stopping: its server is gone")
    embedded.stop(GRACE)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
