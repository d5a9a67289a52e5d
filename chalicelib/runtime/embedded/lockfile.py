"""The dispatcher's lock: one process at a time delivers from a state folder.

Shared by the runner (which holds it for its life) and `make run`'s supervisor (which
only peeks, to refuse a second hub on the same state at once, saying why).
"""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import IO

LOCK_NAME = "runtime.lock"


def lock_path(state_dir: str | Path) -> Path:
    return Path(state_dir) / LOCK_NAME


def try_lock(state_dir: str | Path) -> IO[str] | None:
    """The open, exclusively locked lock file; None when another process holds it.

    The lock lasts as long as the returned file stays open (and dies with the process,
    so a killed dispatcher never leaves a stale lock behind)."""
    path = lock_path(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "w")  # noqa: SIM115 - the caller keeps it open as long as it holds the lock
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle
