"""The ports: the small interfaces flows talk to, and `Ports`, the bundle a flow receives.

Adapters implement them at the edge.

Every method is idempotent where its docstring says so: the queue delivers at least
once, so a flow may run twice for one event and must not double any effect.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Literal, Protocol

from chalicelib.domain.catalog import Catalog
from chalicelib.domain.customer import Customer, UnknownStatus, normalise_email
from chalicelib.domain.history import Entry, EventRecord, Step, Story
from chalicelib.domain.precedence import Clock


class CustomerRows:
    """The rows one batch of events touches, loaded at once by `CustomerSheet.edit`.

    Flows read and `put` customers here, in memory; the sheet writes what changed when
    the batch's `with` block ends. So a batch of ten sign-ups costs the sheet one read
    and one append, not ten of each (Google allows 60 of each a minute).
    """

    def __init__(self, loaded: Iterable[Customer], unreadable: Mapping[str, str] | None = None) -> None:
        """`unreadable`: the email and Stripe customer id of each loaded row whose Status the
        hub cannot read: `get` and `by_stripe_customer` raise `UnknownStatus` for it, so
        that only its customer's events fail and the row is never written back."""
        self._loaded: dict[str, Customer] = {}
        self._unreadable = {normalise_email(e): s for e, s in (unreadable or {}).items()}
        for customer in loaded:
            self._loaded.setdefault(normalise_email(customer.email), customer)
        self._current: dict[str, Customer] = dict(self._loaded)
        self._put: list[str] = []

    def get(self, email: str) -> Customer | None:
        """The customer as this batch sees it (with its changes so far), or None."""
        if normalise_email(email) in self._unreadable:
            raise UnknownStatus()
        return self._current.get(normalise_email(email))

    def by_stripe_customer(self, stripe_customer: str) -> Customer | None:
        """The first loaded or put customer with this Stripe customer id, or None."""
        if not stripe_customer:
            return None
        if stripe_customer in self._unreadable.values():
            raise UnknownStatus()
        return next((c for c in self._current.values() if c.stripe_customer == stripe_customer), None)

    def put(self, customer: Customer) -> None:
        """Record the customer's new state (its email as the sheet reads it back: trimmed,
        lower-cased); written when the batch ends, unless it is the state loaded."""
        email = normalise_email(customer.email)
        self._current[email] = replace(customer, email=email)
        if email not in self._put:
            self._put.append(email)

    def existed(self, email: str) -> bool:
        """Whether the customer had a row when the batch was loaded."""
        return normalise_email(email) in self._loaded or normalise_email(email) in self._unreadable

    def changed(self) -> list[Customer]:
        """The customers whose row must be written (added or updated), in order of change."""
        return [self._current[e] for e in self._put if self._current[e] != self._loaded.get(e)]


class CustomerSheet(Protocol):
    """The shop's customer base: one row per email (compared trimmed, case-insensitively)."""

    def get(self, email: str) -> Customer | None:
        """The customer with this email, or None."""

    def find_by_stripe_customer(self, stripe_customer: str) -> Customer | None:
        """The customer with this Stripe customer id, or None."""

    def save(self, customer: Customer) -> bool:
        """Write the hub's columns of the customer's row, adding the row when missing.

        Returns True when a row was added. Staff-added columns are left alone.
        """

    def edit(
        self, emails: Collection[str], stripe_customers: Collection[str] = ()
    ) -> AbstractContextManager[CustomerRows]:
        """A unit of work over the rows of these emails and Stripe customer ids: loaded on
        entering (in as few reads as the sheet allows), changed in memory by the caller,
        and written on a clean exit (new rows appended at once, changed rows updated at
        once). Nothing is written when the block raises. The caller holds the customers'
        locks around it.
        """

    def change_email(self, old_email: str, new_email: str) -> bool:
        """Write `new_email` into the Email cell of the row of `old_email` (Stripe's
        `customer.updated`): the row, its other cells and staff columns stay. False when
        no row has `old_email`. The caller checks first that no row has `new_email`.
        """

    def all(self) -> list[Customer]:
        """Every customer row, in sheet order."""

    def ping(self) -> str:
        """Raise when the sheet does not answer; else a short description of it."""


class CustomerClocks(Protocol):
    """The newest facts applied to each customer (`precedence.Clock`), by email.

    Kept in the runtime's store, not in the sheet: staff edit the sheet, and the order of
    Stripe's facts must survive that. Read and written under the customer's lock.
    """

    def get(self, email: str) -> Clock:
        """The customer's clock; an empty `Clock` when nothing was applied yet."""

    def put(self, email: str, clock: Clock) -> None:
        """Store the customer's clock (overwriting: the caller holds the customer's lock)."""


@dataclass(frozen=True)
class StockOrder:
    """A sale order in the stock system, as far as the hub cares."""

    id: int
    confirmed: bool


@dataclass(frozen=True)
class OrderSummary:
    """A sale order the hub placed, as an operator reads it (`python -m chalicelib orders`)."""

    ref: str  # client_order_ref: the Stripe invoice id
    customer: str  # the partner's name or email
    product: str  # as the stock system names it, its sku in it (Odoo: "[BOX-SUPER] Super box")
    state: str  # Odoo's: draft, sale, done, cancel
    created: str  # UTC, as the stock system gives it


class StockSystem(Protocol):
    """Odoo (or the embedded stock ledger): partners and confirmed sale orders."""

    def find_order(self, ref: str) -> StockOrder | None:
        """The sale order whose `client_order_ref` is `ref` (the Stripe invoice id): a
        confirmed one if any, else the oldest; None when `ref` has none."""

    def ensure_partner(self, customer: Customer) -> int:
        """The partner id of the customer, found by email (trimmed, case-insensitively) or
        created (name, or the email when it has none; email; address)."""

    def create_order(self, partner_id: int, sku: str, ref: str) -> StockOrder:
        """A draft sale order of one `sku` for the partner, with `client_order_ref` = `ref`.

        When `ref` has an order already (a concurrent delivery created it after this one
        searched), that order is returned and no second one is left. Raises
        `PermanentError` when no product has `default_code == sku`.
        """

    def confirm_order(self, order_id: int) -> None:
        """Confirm the order so stock gets its delivery. Harmless when it is confirmed
        already; `PermanentError` when the order does not exist or cannot be confirmed."""

    def recent_orders(self, limit: int) -> list[OrderSummary]:
        """The newest sale orders that carry a `client_order_ref` (the hub's), newest first."""

    def ping(self) -> str:
        """Raise when the stock system does not answer; else a short description."""


@dataclass(frozen=True)
class Email:
    """A message ready to send: the mailer only transports it."""

    to: str
    subject: str
    text: str
    html: str
    headers: dict[str, str]
    message_id: str


# Entered by a mailer just before the server may take the message (SMTP: the DATA
# terminator), left once it answered: taken when left without an error. A mailer that
# cannot tell when its server takes a message (SES: one request) never enters it.
Handover = Callable[[], AbstractContextManager[None]]


class Mailer(Protocol):
    def send(self, email: Email, handover: Handover | None = None) -> None:
        """Send one email; raise `TransientError` to retry, `PermanentError` when rejected.

        Each attempt runs its point of no return inside `handover()`: the caller records
        there that the message may be gone, so a crash within it never sends it again.
        """

    def ping(self) -> str: ...


class Notifier(Protocol):
    """Slack, or the embedded Slack outbox."""

    def post(self, channel: str, text: str, thread_ts: str = "") -> None:
        """Post a message in a channel (and thread)."""

    def respond(self, response_url: str, text: str) -> None:
        """Answer a slash command later, through its `response_url`."""

    def ping(self) -> str: ...


class Queue(Protocol):
    """Where the door puts events, and where consumers hand work to each other."""

    def send(self, queue: str, body: dict[str, Any], dedupe_id: str) -> None:
        """Durably queue `body`; return only once it is stored. Raises on failure."""

    def retry_later(self, queue: str, receipt: str, delay: float) -> None:
        """Hide a failed delivery for `delay` seconds before it is delivered again."""

    def delete(self, queue: str, receipt: str) -> None:
        """Remove a processed delivery. Idempotent, and never raises for a stale receipt.

        A receipt is stale once its delivery's visibility ran out and the message was
        received again (with a new receipt), or was deleted. SQS documents that a delete
        with an old receipt succeeds "but the message might not be deleted", and rejects
        an expired one; so the contract every queue honours is only this: a stale
        receipt never raises, and the current receipt's delete always removes the
        message. Whether a stale delete removes it is the implementation's: the embedded
        queue and the fake never do (the new receiver's work stays at least once); SQS
        may. Either way nothing is lost: a delete only follows work that succeeded, and
        every step is idempotent, so the new receiver repeats it at most.
        """

    def depth(self) -> dict[str, int]:
        """Messages waiting in each queue (by name), for health and operators."""

    def oldest_ages(self) -> dict[str, float]:
        """Seconds the oldest waiting message of each queue has waited (absent: empty or unknown)."""


class Locks(Protocol):
    """Mutual exclusion between concurrent deliveries (sheet rows have no conditional write)."""

    def hold(self, key: str) -> AbstractContextManager[None]:
        """Hold `key` for the `with` block; raises `TransientError` when another holds it."""


# What the mail log knows of one (email, campaign), and what a claim to send it got.
MailStatus = Literal["sending", "handing", "sent", "failed"]
Claim = Literal["claimed", "sent", "busy"]


class MailLog(Protocol):
    """What was sent to whom: the idempotency of marketing email, and its unsubscribes."""

    def status(self, email: str, campaign: str) -> MailStatus | None:
        """`sending`, `handing`, `sent`, `failed` or None for never tried."""

    def claim(self, email: str, campaign: str, lease_seconds: float) -> Claim:
        """Take the right to send, atomically: `claimed`, or `sent` (it went out
        already), or `busy` (another delivery claimed it less than `lease_seconds` ago).

        A claim older than the lease is taken over: its holder died mid-send. Unless it
        was `handing` the message over: the server had all of it, so it counts as `sent`.
        """

    def mark(self, email: str, campaign: str, status: MailStatus) -> None: ...

    def suppress(self, email: str) -> None:
        """Record an unsubscribe: no marketing email to this address from now on."""

    def is_suppressed(self, email: str) -> bool: ...

    def sent_count(self) -> int: ...


@dataclass(frozen=True)
class DeadLetter:
    """A message that failed for good: what it was, where, and why."""

    id: str
    queue: str
    body: dict[str, Any]
    reason: str
    step: str
    failed_at: float


class DeadLetters(Protocol):
    """The dead letters of every queue: parked by the consumer, read, replayed or
    discarded by operators."""

    def park(self, queue: str, body: dict[str, Any], reason: str, step: str, message_id: str = "") -> None:
        """Park a message that cannot succeed, with the reason and the failing step.

        Idempotent on `message_id`: a delivery parked twice (a crash before its
        deletion) is parked once, under the letter id `letter_id(message_id)`.
        """

    def list(self) -> list[DeadLetter]:
        """The dead letters still waiting, oldest first."""

    def replay(self, letter_id: str) -> bool:
        """Put the message back on its queue (through today's code); False if it is gone.

        Atomic: a letter replayed twice, even concurrently, is queued once.
        """

    def discard(self, letter_id: str, reason: str) -> bool:
        """Drop the letter for good, keeping the reason; False if it is gone."""


class EventHistory(Protocol):
    """What became of each event, for operators (the dashboard, the CLI).

    Written by the door (received) and the consumer (each step); kept
    `HUB_HISTORY_DAYS` days. Holds no personal data beyond a masked email and an email
    digest (see `chalicelib.domain.history`). Writers treat it as best effort: a
    history that cannot be written never stops an event.
    """

    def received(self, entry: Entry) -> bool:
        """Record an event's arrival; False (and nothing changed) when it is known already."""

    def add_step(self, event_id: str, step: Step) -> None:
        """Append a step to the event's story and move its status (`STATUS_AFTER`)."""

    def search(self, query: str = "", limit: int = 50) -> list[EventRecord]:
        """Newest first, without steps: every event, or those whose event id, email
        (by digest) or provider id (invoice, charge, subscription, customer) is `query`."""

    def story(self, event_id: str) -> Story | None:
        """The event with its steps, and the events it caused; None when unknown."""

    def counts_per_day(self, days: int) -> dict[str, dict[str, int]]:
        """`{"YYYY-MM-DD": {"received": n, "dead letter": m}}` for the last `days` UTC days."""


def one_by_one(tasks: Sequence[Callable[[], None]]) -> None:
    """`Ports.run_all` where nothing overlaps (the unit tests' ports)."""
    for task in tasks:
        task()


@dataclass
class Ports:
    """Everything a flow may touch: the ports and the settings flows read.

    Built by `bootstrap`; faked in unit tests.
    """

    sheet: CustomerSheet
    stock: StockSystem
    mailer: Mailer
    notifier: Notifier
    queue: Queue
    mail_log: MailLog
    dead_letters: DeadLetters
    locks: Locks
    clocks: CustomerClocks
    catalog: Catalog
    public_url: str
    secret_key: str
    mail_domain: str
    channel: str
    today: Callable[[], str] = lambda: date.today().isoformat()
    # How a batch runs its independent follow-ups (each catches its own failure): one by one
    # here; side by side in the runtimes, whose calls to Odoo and the mail server then overlap.
    run_all: Callable[[Sequence[Callable[[], None]]], None] = one_by_one
    operators: frozenset[str] = frozenset()  # SLACK_OPERATORS: who may run commands beyond `help`
