"""`make run`: the hub under `chalice local`, restarted when a source file changes, and only then.

Chalice's own autoreloader restarts on a change to *any* file under the project: the
hub's SQLite state, its WAL, `.pytest_cache`, a `.pyc` written by `make demo`. Idle, it
restarted every few seconds and cut requests in flight. Here `chalice local` runs with
`--no-autoreload`, and this supervisor watches only what the server runs: `app.py`,
`chalicelib/` and `.chalice/config.json`.

It also refuses at once, saying why, when the port is taken or another hub already
dispatches from the same state folder, instead of starting a server that cannot serve.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from chalicelib.runtime.embedded.lockfile import lock_path, try_lock

ROOT = Path(__file__).resolve().parent.parent
POLL = 1.0
Snapshot = dict[Path, tuple[int, int]]


def sources(root: Path = ROOT) -> Snapshot:
    """(mtime, size) of every file the server runs: a change to any of them restarts it."""
    files = [root / "app.py", root / ".chalice" / "config.json"]
    files += [p for p in (root / "chalicelib").rglob("*") if "__pycache__" not in p.parts]
    snapshot: Snapshot = {}
    for path in files:
        try:
            stat = path.stat()
        except OSError:  # removed between the listing and the stat: its absence is the change
            continue
        if path.is_file():
            snapshot[path] = (stat.st_mtime_ns, stat.st_size)
    return snapshot


def changed(before: Snapshot, after: Snapshot) -> list[Path]:
    """Files added, removed or modified between two snapshots."""
    return sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))


def why_not(host: str, port: int, state_dir: str) -> str | None:
    """What prevents a hub from starting here, in words; None when nothing does."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as chalice's HTTPServer binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                return f"cannot listen on {host}:{port}: {exc.strerror}"
            return (
                f"port {port} on {host} is taken (another `make run`?): stop that one,"
                f" or serve this one elsewhere: PORT={port + 1} make run"
            )
    held = try_lock(state_dir)
    if held is None:
        return (
            f"another hub already runs from {state_dir} (it holds {lock_path(state_dir)}): stop it,"
            " or give this one its own folder: HUB_STATE_DIR=... make run"
        )
    held.close()
    return None


def _say(message: str) -> None:
    print(f"make run: {message}", file=sys.stderr, flush=True)


def _stop(child: subprocess.Popen) -> None:
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def serve(host: str, port: int, stage: str) -> int:
    state_dir = os.environ.get("HUB_STATE_DIR", "").strip() or ".hub"
    reason = why_not(host, port, state_dir)
    if reason:
        _say(reason)
        return 1
    command = [str(Path(sys.executable).parent / "chalice"), "local", "--no-autoreload"]
    command += ["--stage", stage, "--host", host, "--port", str(port)]
    # SIGTERM (a test, `kill`) ends the server too; Ctrl-C reaches it with the whole group.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    child = subprocess.Popen(command, cwd=ROOT)
    try:
        snapshot = sources()
        while child.poll() is None:
            time.sleep(POLL)
            now = sources()
            edits = changed(snapshot, now)
            if edits and child.poll() is None:
                _say(f"{edits[0].relative_to(ROOT)} changed: restarting the hub")
                _stop(child)
                child = subprocess.Popen(command, cwd=ROOT)
            snapshot = now
        return child.returncode
    except KeyboardInterrupt:
        return 0
    finally:
        _stop(child)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--stage", default="dev")
    args = parser.parse_args(argv)
    return serve(args.host, args.port, args.stage)


if __name__ == "__main__":
    sys.exit(main())
