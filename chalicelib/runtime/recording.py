"""Writing the event history from the door and the consumer, as best effort.

`Recorder` is what the runtime holds: each write is caught and logged, because a
history that cannot be written (a full disk, DynamoDB throttling) must never refuse a
webhook or fail a delivery.

`Recorder.for_batch` wraps the ports one SQS batch's flows receive, so that each
effect on a sink (a sheet row, an Odoo order, an email, a Slack post, a follow-up
event queued) becomes a step of the event that caused it. The flows run a batch
together (one unit of work on the sheet), so an effect is traced back to its event by
what ties them: the customer's email or Stripe id for a row, the invoice id for an
order, the recipient for an email, the text, thread or response URL for Slack. The
flows themselves know nothing of the history.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from chalicelib.domain import events as ev
from chalicelib.domain.customer import Customer, normalise_email
from chalicelib.domain.history import Step, entry, redact
from chalicelib.logs import logger
from chalicelib.ports import (
    CustomerRows,
    CustomerSheet,
    Email,
    EventHistory,
    Handover,
    Mailer,
    Notifier,
    OrderSummary,
    Ports,
    Queue,
    StockOrder,
    StockSystem,
)


class Recorder:
    """The history as the runtime writes it: never raises."""

    def __init__(self, history: EventHistory | None, clock: Callable[[], float] = time.time) -> None:
        self.history = history
        self.clock = clock

    def received(self, event: ev.Event, parent: str = "") -> None:
        if self.history is None:
            return
        try:
            self.history.received(entry(event, self.clock(), parent))
        except Exception as exc:
            logger.warning("history not written", extra={"event_id": event.event_id, "reason": type(exc).__name__})

    def step(self, event_id: str, step: str, detail: str = "", letter_id: str = "") -> None:
        """Append a step to the event's story (nothing without an event id)."""
        if self.history is None or not event_id:
            return
        try:
            self.history.add_step(event_id, Step(self.clock(), step, redact(detail), letter_id))
        except Exception as exc:
            logger.warning("history not written", extra={"event_id": event_id, "reason": type(exc).__name__})

    def for_batch(self, ports: Ports, events: Iterable[ev.Event] = ()) -> Ports:
        """The ports of one batch's flows, each effect recorded as a step of its event
        (for a schedule's run, no event: only the events it queues are recorded)."""
        if self.history is None:
            return ports
        batch = Batch(self, list(events))
        return dataclasses.replace(
            ports,
            sheet=RecordingSheet(ports.sheet, batch),
            stock=RecordingStock(ports.stock, batch),
            mailer=RecordingMailer(ports.mailer, batch),
            notifier=RecordingNotifier(ports.notifier, batch),
            queue=RecordingQueue(ports.queue, batch),
        )


def _field(event: ev.Event, name: str) -> str:
    return str(getattr(event, name, "") or "")


class Batch:
    """The events of one batch, and how to find the ones an effect belongs to."""

    def __init__(self, recorder: Recorder, events: list[ev.Event]) -> None:
        self.recorder = recorder
        self.events = events

    def where(self, test: Callable[[ev.Event], bool]) -> list[str]:
        return [e.event_id for e in self.events if test(e)]

    def by_email(self, email: str, kinds: Collection[str] = ()) -> list[str]:
        wanted = normalise_email(email)
        return self.where(lambda e: normalise_email(_field(e, "email")) == wanted and (not kinds or e.kind in kinds))

    def by_customer(self, customer: Customer) -> list[str]:
        return self.by_email(customer.email) or (
            self.where(lambda e: _field(e, "stripe_customer") == customer.stripe_customer)
            if customer.stripe_customer
            else []
        )

    def by_ref(self, ref: str) -> list[str]:
        return self.where(lambda e: _field(e, "invoice_id") == ref)

    def note(self, ids: Iterable[str], step: str, detail: str) -> None:
        for event_id in ids:
            self.recorder.step(event_id, step, detail)

    def parent_of(self, follow_up: ev.Event) -> str:
        """The event of this batch that caused `follow_up` ('' when none did)."""
        if follow_up.event_id.startswith("notify:"):
            cause = follow_up.event_id.removeprefix("notify:")
            return cause if any(e.event_id == cause for e in self.events) else ""
        if isinstance(follow_up, ev.MarketingDue):
            found = self.by_email(follow_up.email)
            return next((i for i in found if i != follow_up.event_id), "")
        return ""


class RecordingSheet:
    def __init__(self, inner: CustomerSheet, batch: Batch) -> None:
        self.inner, self.batch = inner, batch

    def get(self, email: str) -> Customer | None:
        return self.inner.get(email)

    def find_by_stripe_customer(self, stripe_customer: str) -> Customer | None:
        return self.inner.find_by_stripe_customer(stripe_customer)

    def save(self, customer: Customer) -> bool:
        added = self.inner.save(customer)
        self._note(customer, added)
        return added

    @contextmanager
    def edit(self, emails: Collection[str], stripe_customers: Collection[str] = ()) -> Iterator[CustomerRows]:
        with self.inner.edit(emails, stripe_customers) as rows:
            yield rows
            changed = [(c, not rows.existed(c.email)) for c in rows.changed()]
        for customer, added in changed:  # written: the unit of work ended cleanly
            self._note(customer, added)

    def change_email(self, old_email: str, new_email: str) -> bool:
        changed = self.inner.change_email(old_email, new_email)
        if changed:
            self.batch.note(self.batch.by_email(new_email), "sheet", f"row's email changed to {new_email}")
        return changed

    def _note(self, customer: Customer, added: bool) -> None:
        what = "row added" if added else "row updated"
        self.batch.note(
            self.batch.by_customer(customer), "sheet", f"{what}: status {customer.status}, box {customer.box or '-'}"
        )

    def all(self) -> list[Customer]:
        return self.inner.all()

    def ping(self) -> str:
        return self.inner.ping()


class RecordingStock:
    def __init__(self, inner: StockSystem, batch: Batch) -> None:
        self.inner, self.batch = inner, batch
        self._refs: dict[int, str] = {}

    def find_order(self, ref: str) -> StockOrder | None:
        found = self.inner.find_order(ref)
        if found is not None:
            self._refs[found.id] = ref
            if found.confirmed:
                self.batch.note(self.batch.by_ref(ref), "stock", f"order {found.id} for {ref} was confirmed already")
        return found

    def ensure_partner(self, customer: Customer) -> int:
        return self.inner.ensure_partner(customer)

    def create_order(self, partner_id: int, sku: str, ref: str) -> StockOrder:
        order = self.inner.create_order(partner_id, sku, ref)
        self._refs[order.id] = ref
        self.batch.note(self.batch.by_ref(ref), "stock", f"order {order.id} created: {sku} for {ref}")
        return order

    def confirm_order(self, order_id: int) -> None:
        self.inner.confirm_order(order_id)
        ref = self._refs.get(order_id, "")
        self.batch.note(self.batch.by_ref(ref) if ref else [], "stock", f"order {order_id} confirmed")

    def recent_orders(self, limit: int) -> list[OrderSummary]:
        return self.inner.recent_orders(limit)

    def ping(self) -> str:
        return self.inner.ping()


class RecordingMailer:
    def __init__(self, inner: Mailer, batch: Batch) -> None:
        self.inner, self.batch = inner, batch

    def send(self, email: Email, handover: Handover | None = None) -> None:
        self.inner.send(email, handover)
        ids = self.batch.by_email(email.to, kinds=(ev.MarketingDue.kind,))
        self.batch.note(ids, "mail", f"email sent to {email.to}: {email.subject}")

    def ping(self) -> str:
        return self.inner.ping()


class RecordingNotifier:
    def __init__(self, inner: Notifier, batch: Batch) -> None:
        self.inner, self.batch = inner, batch

    def post(self, channel: str, text: str, thread_ts: str = "") -> None:
        self.inner.post(channel, text, thread_ts)
        ids = self.batch.where(
            lambda e: (
                (isinstance(e, ev.Notification) and e.text == text)
                or (isinstance(e, ev.SlackMention) and e.channel == channel and e.thread_ts == thread_ts)
            )
        )
        self.batch.note(ids, "slack", f"posted to {channel}")

    def respond(self, response_url: str, text: str) -> None:
        self.inner.respond(response_url, text)
        ids = self.batch.where(lambda e: isinstance(e, ev.SlowCommand) and e.response_url == response_url)
        self.batch.note(ids, "slack", "answered the slash command")

    def ping(self) -> str:
        return self.inner.ping()


class RecordingQueue:
    """A follow-up event queued by a flow becomes an event of its own, whose parent is
    the event that caused it, so one event's story shows what it caused."""

    def __init__(self, inner: Queue, batch: Batch) -> None:
        self.inner, self.batch = inner, batch

    def send(self, queue: str, body: dict[str, Any], dedupe_id: str) -> None:
        self.inner.send(queue, body, dedupe_id)
        try:
            follow_up = ev.from_message(body)
        except Exception:
            return
        parent = self.batch.parent_of(follow_up)
        self.batch.note([parent] if parent else [], "queued", f"{follow_up.kind} {follow_up.event_id} on {queue}")
        self.batch.recorder.received(follow_up, parent=parent)

    def retry_later(self, queue: str, receipt: str, delay: float) -> None:
        self.inner.retry_later(queue, receipt, delay)

    def delete(self, queue: str, receipt: str) -> None:
        self.inner.delete(queue, receipt)

    def depth(self) -> dict[str, int]:
        return self.inner.depth()

    def oldest_ages(self) -> dict[str, float]:
        return self.inner.oldest_ages()
