"""`chalice local` dispatches from a child process: never an orphan, and it waits its turn."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from chalicelib.runtime.embedded.lockfile import try_lock
from devtools import payloads
from tests.e2e.conftest import client_for, wait_for

pytestmark = pytest.mark.e2e


def children(pid: int) -> list[int]:
    """Live processes whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def listen_backlog(port: int) -> int:
    """The listening socket's backlog (`ss` shows it as Send-Q)."""
    out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
    return int(out.split()[2])


def test_a_server_killed_alone_leaves_no_dispatcher_holding_the_lock(start_hub, hub_env_for_process):
    hub = start_hub()
    assert hub.proc is not None
    # Eight senders at once: socketserver's backlog of 5 dropped SYNs, retried a second later.
    assert listen_backlog(hub.port) >= 64
    (dispatcher,) = wait_for(lambda: children(hub.proc.pid), what="the dispatcher process")
    os.kill(hub.proc.pid, signal.SIGKILL)  # the server only, not its group
    hub.proc.wait(timeout=30)
    wait_for(lambda: not alive(dispatcher), what="the orphaned dispatcher to end")
    held = try_lock(hub_env_for_process["HUB_STATE_DIR"])
    assert held is not None, "the lock outlived its dispatcher"
    held.close()


def test_a_hub_whose_state_is_locked_serves_and_dispatches_once_the_lock_is_free(start_hub, state, hub_env_for_process):
    state_dir = Path(hub_env_for_process["HUB_STATE_DIR"])
    state_dir.mkdir(parents=True, exist_ok=True)
    lock = open(state_dir / "runtime.lock", "w")  # noqa: SIM115 - a predecessor finishing its batches
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    client = client_for(start_hub())
    assert client.formstack(payloads.formstack_form("9001", "wes@example.com")).status == 200
    time.sleep(1.0)  # time enough to dispatch, were it not waiting
    assert state.customers() == [] and state.queued() == 1
    lock.close()
    wait_for(lambda: len(state.customers()) == 1, what="the sign-up once the lock was free")
