"""The embedded Slack: every message appended as one JSON line to
`HUB_STATE_DIR/outbox/slack.jsonl` (`tail -f` it to watch the channel).

Its service is the disk: a file that cannot be written (full, read-only, a file where
its folder should be) fails `post`, `respond` and `ping` with a `TransientError`, as a
Slack that does not answer would.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from chalicelib.domain.words import plural
from chalicelib.errors import TransientError


class SlackOutbox:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def _append(self, record: dict[str, str]) -> None:
        line = json.dumps({"ts": time.time(), **record}) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock, open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise self._unwritable(exc) from exc

    def post(self, channel: str, text: str, thread_ts: str = "") -> None:
        self._append({"method": "chat.postMessage", "channel": channel, "text": text, "thread_ts": thread_ts})

    def respond(self, response_url: str, text: str) -> None:
        self._append({"method": "response_url", "response_url": response_url, "text": text})

    def messages(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def ping(self) -> str:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not os.access(self.path.parent, os.W_OK):
                raise PermissionError("not writable")
            count = len(self.messages())
        except OSError as exc:
            raise self._unwritable(exc) from exc
        return f"Slack outbox {self.path}, {plural(count, 'message')}"

    def _unwritable(self, exc: OSError) -> TransientError:
        reason = exc.strerror or str(exc)
        return TransientError(f"Slack outbox {self.path} cannot be written: {type(exc).__name__}: {reason}")
