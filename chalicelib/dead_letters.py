"""Dead-letter operations: the letter id both runtimes give a parked message, and the
operators' actions, shared by the CLI, Slack's `retry` and the admin API.

The letter id is typed by operators (`python -m chalicelib replay <id>`, Slack's
`retry <id>`), so it is short; it derives from the failed message's id, so parking the
same message twice (a crash between parking and deleting it, or every copy SQS
delivers) gives one letter, and an id means the same thing whichever runtime printed it.

Replay goes through today's code: the letter's message is put back on its queue and
the current flows handle it. Each letter is replayed at most once (the port's replay is
atomic), so two operators pressing "retry" together do not double anything.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field

from chalicelib.domain.words import plural
from chalicelib.errors import PermanentError
from chalicelib.ports import DeadLetter, DeadLetters

# Operators' commands and their answers: a dead-lettered one is never run again. Its
# Slack response_url has expired (30 minutes), and a replayed `retry all` would replay
# itself with every other letter, fail, and be dead-lettered again, for ever.
NEVER_REPLAYED = frozenset({"slow_command", "slack_mention"})


def replayable(letter: DeadLetter) -> bool:
    """False for a command (or its answer): replaying it would run it again."""
    return letter.body.get("kind") not in NEVER_REPLAYED


def letter_id(message_id: str) -> str:
    """The first 12 hex digits of sha256(message id); a random id when the message has none."""
    seed = message_id or uuid.uuid4().hex
    return hashlib.sha256(seed.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class ReplayReport:
    replayed: list[str]
    missing: list[str]
    refused: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"Replayed {plural(len(self.replayed), 'dead letter')}."
        if self.refused:
            refused = plural(len(self.refused), "is a command", "are commands")
            text += f" {refused}, never replayed (discard them): {', '.join(self.refused)}."
        return text + (f" {len(self.missing)} not found: {', '.join(self.missing)}." if self.missing else "")


def replay(letters: DeadLetters, ids: list[str]) -> ReplayReport:
    """Replay the letters named by `ids`, or every waiting letter for `["all"]`; commands
    are never replayed (`NEVER_REPLAYED`), so `all` leaves them out and naming one refuses it."""
    waiting = letters.list()
    commands = {d.id for d in waiting if not replayable(d)}
    if [i.lower() for i in ids] == ["all"]:
        wanted, refused = [d.id for d in waiting if d.id not in commands], []
    else:
        wanted, refused = [i for i in ids if i not in commands], [i for i in ids if i in commands]
    done = [i for i in wanted if letters.replay(i)]
    return ReplayReport(replayed=done, missing=[i for i in wanted if i not in done], refused=refused)


def discard(letters: DeadLetters, letter_id: str, reason: str) -> bool:
    """Drop a letter for good; a reason is required, so the log says why."""
    if not reason.strip():
        raise PermanentError("say why the letter is discarded (--reason)")
    return letters.discard(letter_id, reason.strip())


def describe(letter: DeadLetter) -> str:
    """One line per letter: id, where it failed, and why."""
    kind = letter.body.get("kind", "?")
    event_id = letter.body.get("event_id", "")
    return f"{letter.id}  {letter.queue}/{letter.step}  [{kind} {event_id}]  {letter.reason}"
