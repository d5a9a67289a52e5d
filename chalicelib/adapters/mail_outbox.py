"""The embedded mailer: one `.eml` file per email sent, under `HUB_STATE_DIR/outbox/mail`.

Every send writes a new file (never overwrites), so a duplicate send would show as a
second file: the outbox is a witness, not a filter. Its service is the disk: a folder
that cannot be written (full, read-only, a file in its place) fails `send` and `ping`
with a `TransientError`, as a mail server that does not answer would.
"""

from __future__ import annotations

import os
import time
import uuid
from contextlib import nullcontext
from pathlib import Path

from chalicelib.adapters.mime import to_mime
from chalicelib.domain.words import plural
from chalicelib.errors import TransientError
from chalicelib.ports import Email, Handover


class MailOutbox:
    def __init__(self, folder: str | Path, sender: str) -> None:
        self.folder = Path(folder)
        self.sender = sender

    def send(self, email: Email, handover: Handover | None = None) -> None:
        data = to_mime(email, self.sender).as_bytes()
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.eml"
        tmp = self.folder / f".{name}.tmp"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise self._unwritable(exc) from exc
        with (handover or nullcontext)():
            os.replace(tmp, self.folder / name)  # atomic: a reader never sees half a message

    def ping(self) -> str:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._unwritable(exc) from exc
        if not os.access(self.folder, os.W_OK):
            raise self._unwritable(PermissionError("not writable"))
        count = len(list(self.folder.glob("*.eml")))
        return f"mail outbox {self.folder}, {plural(count, 'email')}"

    def _unwritable(self, exc: OSError) -> TransientError:
        return TransientError(
            f"mail outbox {self.folder} cannot be written: {type(exc).__name__}: {exc.strerror or exc}"
        )
