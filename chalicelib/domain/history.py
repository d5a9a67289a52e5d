"""What the event history keeps of an event, and how an operator's search finds it.

Pure rules, no I/O: the history adapters (SQLite, DynamoDB) store what these functions
return. The history holds no more personal data than an operator needs to recognise an
event and find it again:
- an email is kept only as a *masked* form to show (`a***@example.com`) and a *digest*
  to search by (sha256 of the normalised address, as in `email_digest`): searching by
  an email works, but the history cannot be read back into a mailing list;
- names, addresses, Slack texts and email bodies are never kept;
- every free text (a failure's reason) is redacted: emails in it are masked.
What the flows actually did is in the sinks (sheet, Odoo, outboxes); the dead letters
keep the whole message, because a replay needs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, get_args

from chalicelib.domain import events as ev
from chalicelib.domain import validation
from chalicelib.domain.customer import email_digest, normalise_email

# How long an event's story is kept (DynamoDB TTL; the embedded store prunes itself).
DEFAULT_DAYS = 30
# Free texts are cut here: a reason is for a person, not a stack dump.
MAX_DETAIL = 300

# Where each kind of event comes from.
_PROVIDERS = {
    ev.SignedUp.kind: "formstack",
    ev.CheckoutCompleted.kind: "stripe",
    ev.InvoicePaid.kind: "stripe",
    ev.PaymentFailed.kind: "stripe",
    ev.SubscriptionCancelled.kind: "stripe",
    ev.ChargeRefunded.kind: "stripe",
    ev.SlackMention.kind: "slack",
    ev.SlowCommand.kind: "slack",
    ev.Unsubscribed.kind: "unsubscribe",
    ev.MarketingDue.kind: "hub",
    ev.Notification.kind: "hub",
}

# Where an event stands, as the timeline shows it.
EventStatus = Literal["queued", "done", "retrying", "dead letter", "replayed", "discarded"]
EVENT_STATUSES: tuple[EventStatus, ...] = get_args(EventStatus)

# The status an event has after a step of each kind (steps of other kinds keep it).
STATUS_AFTER: dict[str, EventStatus] = {
    "received": "queued",
    "done": "done",
    "retry": "retrying",
    "dead letter": "dead letter",
    "replayed": "replayed",
    "discarded": "discarded",
}

_REF_FIELDS = ("invoice_id", "charge_id", "subscription", "stripe_customer")


def event_status(stored: str) -> EventStatus:
    """A status read back from a history store. Only the hub writes them (`STATUS_AFTER`);
    a value it never writes (a hand edit, a newer hub's word) reads as `queued`, the one
    that claims nothing was done, rather than failing the whole timeline."""
    for status in EVENT_STATUSES:
        if stored == status:
            return status
    return "queued"


def mask_email(email: str) -> str:
    """`Ann.Lee@Example.com` → `a***@example.com`: enough to recognise, not to mail."""
    email = normalise_email(email)
    return validation.mask_email(email) if "@" in email else ""


def redact(text: str) -> str:
    """A free text fit for the history: emails masked, cut to `MAX_DETAIL` characters."""
    clean = validation.redact(text or "")
    return clean if len(clean) <= MAX_DETAIL else clean[: MAX_DETAIL - 1] + "…"


@dataclass(frozen=True)
class Step:
    """One thing that happened to an event: `step` is a short name (`received`, `sheet`,
    `stock`, `mail`, `slack`, `queued`, `retry`, `done`, `dead letter`, `replayed`,
    `discarded`, `duplicate`), `detail` says what, without personal data."""

    at: float
    step: str
    detail: str = ""
    letter_id: str = ""


@dataclass(frozen=True)
class EventRecord:
    """An event as the timeline shows it. `steps` is filled by `story` only."""

    event_id: str
    provider: str
    kind: str
    received_at: float
    status: EventStatus
    who: str = ""
    ref: str = ""
    parent: str = ""
    steps: tuple[Step, ...] = ()


@dataclass(frozen=True)
class Story:
    """One event's story: the event with its steps, and the events it caused (a
    notification, a marketing email), each with their own steps."""

    event: EventRecord
    children: tuple[EventRecord, ...] = field(default=())


@dataclass(frozen=True)
class Entry:
    """What the door (or a flow queueing a follow-up) records when an event is received."""

    record: EventRecord
    keys: tuple[str, ...]


def _email_of(event: ev.Event) -> str:
    return str(getattr(event, "email", "") or "")


def _refs_of(event: ev.Event) -> list[str]:
    """The provider's object ids an operator may paste: invoice, charge, subscription, customer."""
    return [str(value) for name in _REF_FIELDS if (value := getattr(event, name, ""))]


def email_key(email: str) -> str:
    return f"email:{email_digest(email)}"


def ref_key(ref: str) -> str:
    return f"ref:{ref.strip()}"


def entry(event: ev.Event, at: float, parent: str = "") -> Entry:
    """The history entry of an event received now; `parent` is the event that caused it."""
    email = _email_of(event)
    refs = _refs_of(event)
    # The provider's own event id (`evt_…` of `stripe:evt_…`) finds the event too.
    provider_id = event.event_id.partition(":")[2]
    keys = ([email_key(email)] if email else []) + [ref_key(r) for r in (*refs, provider_id) if r]
    record = EventRecord(
        event_id=event.event_id,
        provider=_PROVIDERS.get(event.kind, "hub"),
        kind=event.kind,
        received_at=at,
        status=STATUS_AFTER["received"],
        who=mask_email(email) if email else "",
        ref=refs[0] if refs else "",
        parent=parent,
    )
    return Entry(record=record, keys=tuple(dict.fromkeys(keys)))


def search_keys(query: str) -> tuple[str, ...]:
    """The keys an operator's search stands for: an email's digest, or a provider id.

    An event id is looked up directly as well (see the adapters' `search`).
    """
    q = query.strip()
    if not q:
        return ()
    if "@" in q:
        return (email_key(q),)
    return (ref_key(q),)


def day_of(at: float) -> str:
    """The UTC day of a timestamp, as the counts per day name it."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d")
