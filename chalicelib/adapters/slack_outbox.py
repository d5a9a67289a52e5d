"""The embedded Slack: every message appended as one JSON line to
`HUB_STATE_DIR/outbox/slack.jsonl` (`tail -f` it to watch the channel)."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from chalicelib.domain.words import plural


class SlackOutbox:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def _append(self, record: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"ts": time.time(), **record}) + "\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def post(self, channel: str, text: str, thread_ts: str = "") -> None:
        self._append({"method": "chat.postMessage", "channel": channel, "text": text, "thread_ts": thread_ts})

    def respond(self, response_url: str, text: str) -> None:
        self._append({"method": "response_url", "response_url": response_url, "text": text})

    def messages(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def ping(self) -> str:
        return f"Slack outbox {self.path}, {plural(len(self.messages()), 'message')}"
