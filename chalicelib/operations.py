"""Operators' actions on dead letters, shared by the CLI, Slack's `retry` and the admin API.

Replay goes through today's code: the letter's message is put back on its queue and
the current flows handle it. Each letter is replayed at most once (the port's replay is
atomic), so two operators pressing "retry" together do not double anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.errors import PermanentError
from chalicelib.ports import DeadLetter, DeadLetters


@dataclass(frozen=True)
class ReplayReport:
    replayed: list[str]
    missing: list[str]

    def summary(self) -> str:
        text = f"Replayed {len(self.replayed)} dead letters."
        return text + (f" {len(self.missing)} not found: {', '.join(self.missing)}." if self.missing else "")


def replay(letters: DeadLetters, ids: list[str]) -> ReplayReport:
    """Replay the letters named by `ids`, or every waiting letter for `["all"]`."""
    wanted = [d.id for d in letters.list()] if [i.lower() for i in ids] == ["all"] else ids
    done = [i for i in wanted if letters.replay(i)]
    return ReplayReport(replayed=done, missing=[i for i in wanted if i not in done])


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
