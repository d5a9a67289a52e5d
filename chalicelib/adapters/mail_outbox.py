"""The embedded mailer: one `.eml` file per email sent, under `HUB_STATE_DIR/outbox/mail`.

Every send writes a new file (never overwrites), so a duplicate send would show as a
second file: the outbox is a witness, not a filter.
"""

from __future__ import annotations

import os
import time
import uuid
from contextlib import nullcontext
from pathlib import Path

from chalicelib.adapters.mime import to_mime
from chalicelib.domain.words import plural
from chalicelib.ports import Email, Handover


class MailOutbox:
    def __init__(self, folder: str | Path, sender: str) -> None:
        self.folder = Path(folder)
        self.sender = sender

    def send(self, email: Email, handover: Handover | None = None) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        data = to_mime(email, self.sender).as_bytes()
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.eml"
        tmp = self.folder / f".{name}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        with (handover or nullcontext)():
            os.replace(tmp, self.folder / name)  # atomic: a reader never sees half a message

    def ping(self) -> str:
        count = len(list(self.folder.glob("*.eml"))) if self.folder.exists() else 0
        return f"mail outbox {self.folder}, {plural(count, 'email')}"
