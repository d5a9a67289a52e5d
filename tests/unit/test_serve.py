"""`make run`'s supervisor: what it watches, and why it refuses to start."""

from __future__ import annotations

import os
import socket

from chalicelib.runtime.embedded.lockfile import try_lock
from devtools.serve import changed, sources, why_not


def _touch(path, text="x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_only_the_servers_sources_count_as_changes(tmp_path):
    for name in ("app.py", ".chalice/config.json", "chalicelib/web.py", "chalicelib/__pycache__/web.pyc"):
        _touch(tmp_path / name)
    before = sources(tmp_path)

    for noise in (".hub/hub.sqlite3-wal", ".pytest_cache/v", "chalicelib/__pycache__/web.pyc", "devtools/x.pyc"):
        _touch(tmp_path / noise, "changed")
    assert changed(before, sources(tmp_path)) == []

    _touch(tmp_path / "chalicelib/web.py", "edited")
    _touch(tmp_path / "chalicelib/static/admin.js")
    assert changed(before, sources(tmp_path)) == [
        tmp_path / "chalicelib/static/admin.js",
        tmp_path / "chalicelib/web.py",
    ]
    os.remove(tmp_path / "app.py")
    assert tmp_path / "app.py" in changed(before, sources(tmp_path))


def test_a_taken_port_or_a_held_dispatcher_lock_is_refused_with_the_reason(tmp_path):
    assert why_not("127.0.0.1", 0, str(tmp_path / "state")) is None
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert "is taken" in (why_not("127.0.0.1", port, str(tmp_path / "state")) or "")
    held = try_lock(tmp_path / "state")
    assert held is not None
    try:
        reason = why_not("127.0.0.1", 0, str(tmp_path / "state")) or ""
        assert "another hub already runs" in reason and "HUB_STATE_DIR" in reason
    finally:
        held.close()
    assert why_not("127.0.0.1", 0, str(tmp_path / "state")) is None
