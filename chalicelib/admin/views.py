"""What the dashboard and its JSON API show and do, as JSON-able dicts.

The page, the API and the CLI's `story` all read these functions, so they tell the
same story. Nothing here knows HTTP: `chalicelib.admin.web` turns the results into
responses. Dead letters are shown without their message body: it holds the
customer's personal data, which an operator needs to replay, not to read.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from chalicelib import dead_letters as dead_letters_ops
from chalicelib.bootstrap import Hub
from chalicelib.domain.history import EventRecord, Step, redact
from chalicelib.ports import DeadLetter

COUNT_DAYS = 14


def iso(at: float) -> str:
    """A timestamp as UTC ISO 8601, to the second."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_view(r: EventRecord) -> dict[str, Any]:
    return {
        "id": r.event_id,
        "provider": r.provider,
        "type": r.kind,
        "received_at": iso(r.received_at),
        "status": r.status,
        "who": r.who,
        "ref": r.ref,
        "parent": r.parent,
    }


def step_view(s: Step) -> dict[str, Any]:
    return {"at": iso(s.at), "step": s.step, "detail": s.detail, "letter_id": s.letter_id}


def letter_view(d: DeadLetter) -> dict[str, Any]:
    return {
        "id": d.id,
        "queue": d.queue,
        "event_id": str(d.body.get("event_id", "")),
        "type": str(d.body.get("kind", "")),
        "reason": redact(d.reason),
        "step": d.step,
        "failed_at": iso(d.failed_at),
        "replayable": dead_letters_ops.replayable(d),
    }


def queues(hub: Hub) -> dict[str, dict[str, Any]]:
    """Each queue's depth, and how long its oldest message has waited (seconds)."""
    depth = hub.queue.depth()
    ages = hub.queue.oldest_ages()
    return {
        name: {"depth": depth.get(name, 0), "oldest_age_seconds": ages.get(name)}
        for name in sorted(set(depth) | set(ages))
    }


def summary(hub: Hub, letters: list[DeadLetter] | None = None) -> dict[str, Any]:
    """Backends' health, queues, dead letters by reason, and events and failures per day
    (`letters`: the dead letters, when the caller has read them already)."""
    backends = hub.health()
    letters = hub.dead_letters.list() if letters is None else letters
    counts = hub.history.counts_per_day(COUNT_DAYS)
    return {
        "stage": hub.settings.stage,
        "status": "ok" if all(b.get("ok") for b in backends.values()) else "degraded",
        "backends": backends,
        "queues": queues(hub),
        "dead_letters": len(letters),
        "dead_letter_reasons": dict(Counter(redact(d.reason) for d in letters).most_common()),
        "counts_per_day": [{"day": day, **n} for day, n in counts.items()],
        "at": iso(time.time()),
    }


def events(hub: Hub, query: str, limit: int) -> dict[str, Any]:
    """The timeline, newest first: every event, or those an email, invoice or event id finds."""
    return {"query": query, "events": [event_view(r) for r in hub.history.search(query, limit)]}


def event_story(hub: Hub, event_id: str, letters: list[DeadLetter] | None = None) -> dict[str, Any] | None:
    """One event's story: the event, its steps, the events it caused, and its dead letters
    still waiting (with their ids, to replay or discard). None for an unknown event."""
    story = hub.history.story(event_id)
    if story is None:
        return None
    ids = {event_id, *(c.event_id for c in story.children)}
    letters = hub.dead_letters.list() if letters is None else letters
    waiting = [letter_view(d) for d in letters if str(d.body.get("event_id", "")) in ids]
    return {
        "event": event_view(story.event),
        "steps": [step_view(s) for s in story.event.steps],
        "children": [{"event": event_view(c), "steps": [step_view(s) for s in c.steps]} for c in story.children],
        "dead_letters": waiting,
    }


def dead_letters(hub: Hub) -> dict[str, Any]:
    return {"dead_letters": [letter_view(d) for d in hub.dead_letters.list()]}


def _waiting(hub: Hub, letter_id: str) -> DeadLetter | None:
    return next((d for d in hub.dead_letters.list() if d.id == letter_id), None)


def _replay(hub: Hub, letter: DeadLetter) -> bool:
    if not dead_letters_ops.replayable(letter) or not hub.dead_letters.replay(letter.id):
        return False
    event_id = str(letter.body.get("event_id", ""))
    hub.recorder.step(event_id, "replayed", f"put back on {letter.queue} by an operator", letter.id)
    return True


def replay(hub: Hub, letter_id: str) -> str:
    """Put one letter back on its queue: `replayed`, `missing` (not waiting, any more),
    or `refused` (a Slack command: replaying would run it again).

    Once only: the port's replay is atomic, so a second press, or two operators at
    once, queue nothing more.
    """
    letter = _waiting(hub, letter_id)
    if letter is None:
        return "missing"
    if not dead_letters_ops.replayable(letter):
        return "refused"
    return "replayed" if _replay(hub, letter) else "missing"


def discard(hub: Hub, letter_id: str, reason: str) -> bool:
    """Drop one letter for good, with the operator's reason; False when it is not waiting."""
    letter = _waiting(hub, letter_id)
    if letter is None or not dead_letters_ops.discard(hub.dead_letters, letter_id, reason):
        return False
    hub.recorder.step(str(letter.body.get("event_id", "")), "discarded", reason, letter_id)
    return True


def replay_by_reason(hub: Hub, reason: str) -> dict[str, Any]:
    """Replay every waiting letter whose (shown) reason is `reason`."""
    same = [d for d in hub.dead_letters.list() if redact(d.reason) == reason]
    wanted = [d for d in same if dead_letters_ops.replayable(d)]
    done = [d.id for d in wanted if _replay(hub, d)]
    return {
        "replayed": done,
        "missing": [d.id for d in wanted if d.id not in done],
        "refused": [d.id for d in same if not dead_letters_ops.replayable(d)],
    }
