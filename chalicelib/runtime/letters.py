"""The dead-letter id, shared by both runtimes.

Operators type it (`python -m chalicelib replay <id>`, Slack's `retry <id>`), so it is short; it
is derived from the failed message's id, so parking the same message twice (a crash
between parking and deleting it, or every copy SQS delivers) gives one letter, and an id
means the same thing whichever runtime printed it.
"""

from __future__ import annotations

import hashlib
import uuid


def letter_id(message_id: str) -> str:
    """The first 12 hex digits of sha256(message id); a random id when the message has none."""
    seed = message_id or uuid.uuid4().hex
    return hashlib.sha256(seed.encode()).hexdigest()[:12]
