"""What each event causes. Talks only to ports; imports no SDK and does no I/O itself.

Each handler is idempotent on a deterministic key (email for customers, the Stripe
invoice id for orders, (email, campaign) for mail), because a queue delivers at least
once and a replay runs the same code again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace

from chalicelib import commands, marketing
from chalicelib.domain import events as ev
from chalicelib.domain.customer import (
    Customer,
    CustomerChange,
    Status,
    UnknownStatus,
    email_digest,
    normalise_email,
    valid_email,
)
from chalicelib.domain.precedence import (
    FORM,
    STRIPE,
    SUBSCRIPTION_STATUSES,
    UNSUBSCRIBE,
    Decision,
    Origin,
    Stamp,
    decide,
    ends_on_day,
    stripe_stamp,
)
from chalicelib.errors import PermanentError, TransientError
from chalicelib.ports import Ports
from chalicelib.queues import MAIL, SIGNUPS, SLACK
from chalicelib.slack_markup import escape


def handle(event: ev.Event, ports: Ports) -> None:
    """Carry one event along the chain."""
    [failure] = handle_batch([event], ports)
    if failure is not None:
        raise failure


def handle_batch(events: Sequence[ev.Event], ports: Ports) -> list[Exception | None]:
    """Carry a batch of events (one SQS batch); returns each one's failure, or None.

    The customer events of the batch share one unit of work on the sheet (`_save_customers`):
    its rows are read once and written once, which is what keeps a burst of sign-ups
    within Google's 60 reads and 60 writes a minute. What each event does next (an
    order, a Slack message, a marketing email) then runs per event, so that one event's
    failure is its own and never fails or repeats its batch mates.

    Those follow-ups wait on slow services (Odoo, the mail server), so the customers'
    run side by side (`ports.run_all`): each customer's in batch order, one after the
    other (two deliveries of one invoice must not both create its order); the other
    events' follow-ups in batch order, after one another.
    """
    failures: list[Exception | None] = [None] * len(events)
    steps: dict[int, CustomerStep] = {}
    for i, event in enumerate(events):
        planner = _CUSTOMER_STEPS.get(type(event))
        if planner is None:
            continue
        try:
            step = planner(event, ports)
        except Exception as exc:  # the consumer tells transient from permanent
            failures[i] = exc
            continue
        if step is not None:
            steps[i] = step
    saved = _save_customers(ports, steps, failures)

    def follow_up(i: int) -> None:
        event = events[i]
        if i in steps:
            before, decision = saved[i]
            if decision is None:
                return
            if decision.customer.consent and _owes_newcomer_mail(ports, before, decision.customer, steps[i].change):
                queue_marketing(ports, decision.customer)
            then = steps[i].then
            if then is not None:
                then(before, decision)
        elif type(event) not in _CUSTOMER_STEPS:  # (a customer event may plan nothing)
            _handle_one(event, ports)

    def in_order(indices: list[int]) -> Callable[[], None]:
        def run() -> None:
            for i in indices:
                try:
                    follow_up(i)
                except Exception as exc:
                    failures[i] = exc

        return run

    groups: dict[str, list[int]] = {}
    for i in range(len(events)):
        if failures[i] is None:
            decision = saved[i][1] if i in saved else None
            # keyed by the row as saved: an event found by its Stripe id joins its customer
            groups.setdefault(f"customer:{decision.customer.email}" if decision else "other", []).append(i)
    ports.run_all([in_order(indices) for indices in groups.values()])
    return failures


def _handle_one(event: ev.Event, ports: Ports) -> None:
    handler = _HANDLERS.get(type(event))
    if handler is None:
        raise PermanentError(f"no flow handles {event.kind!r}")
    handler(event, ports)


# --- customers -------------------------------------------------------------------


# What follows a saved step: given the row before and the decision (`decision.customer`
# is the row as saved, `decision.status_applied` says whether the step's status counted).
Then = Callable[[Customer | None, Decision], None]


@dataclass(frozen=True)
class CustomerStep:
    """What a customer event does to its row, and what follows once the row is saved.

    `origin` is where the change comes from and when it happened: with the customer's
    clock it decides which columns the change may write (`precedence.decide`).
    `existing_only` leaves a customer without a row alone (an unsubscribe creates no
    row; its clock still records it).
    """

    change: CustomerChange
    origin: Origin
    then: Then | None = None
    existing_only: bool = False


def _save_customers(
    ports: Ports, steps: dict[int, CustomerStep], failures: list[Exception | None]
) -> dict[int, tuple[Customer | None, Decision | None]]:
    """Apply the steps' changes to the sheet in one unit of work, in batch order, by the
    column owners and the order of Stripe's facts; returns, per step, its customer before
    and the decision (None when an `existing_only` step found no row).

    The read-change-write holds each customer's lock: a concurrent batch touching the
    same email would otherwise undo these changes, or append a second row. A busy lock
    (another Lambda holds it) fails only the steps of that customer; a sheet failure
    fails every step of the batch, which is retried whole (nothing was written). The
    clocks are written after the rows: a failure in between makes the retry apply the
    same facts again, which changes nothing.
    """
    saved: dict[int, tuple[Customer | None, Decision | None]] = {}
    if not steps:
        return saved
    with ExitStack() as held:
        ready: set[str] = set()
        for email in sorted({step.change.email for step in steps.values()}):
            try:
                held.enter_context(ports.locks.hold(f"customer:{email}"))
                ready.add(email)
            except Exception as exc:
                for i, step in steps.items():
                    if step.change.email == email:
                        failures[i] = exc
        mine = {i: step for i, step in steps.items() if step.change.email in ready}
        if not mine:
            return saved
        try:
            loaded = {email: ports.clocks.get(email) for email in sorted(ready)}
            clocks = dict(loaded)
            ids = {s.change.stripe_customer for s in mine.values() if s.origin.source == STRIPE}
            with ports.sheet.edit(sorted(ready), sorted(i for i in ids if i)) as rows:
                for i, step in mine.items():
                    email, change = step.change.email, step.change
                    try:
                        before = rows.get(email)
                        moved = (
                            rows.by_stripe_customer(change.stripe_customer or "")
                            if step.origin.source == STRIPE
                            else None
                        )
                    except UnknownStatus as exc:  # staff's cell: this customer's event alone fails
                        failures[i] = exc
                        continue
                    if before is None and moved is not None:
                        # Stripe changed the customer's email (customer.updated may come later,
                        # or came before this late event): the same row, never a second one.
                        if moved.email not in ready:
                            held.enter_context(ports.locks.hold(f"customer:{moved.email}"))
                            ready.add(moved.email)
                            loaded[moved.email] = clocks[moved.email] = ports.clocks.get(moved.email)
                        email, before, change = moved.email, moved, replace(change, email=moved.email)
                    decision = decide(before, change, step.origin, clocks[email], ports.today())
                    clocks[email] = decision.clock
                    if step.existing_only and before is None:
                        saved[i] = (None, None)
                        continue
                    if decision.customer != before:
                        rows.put(decision.customer)
                    saved[i] = (before, decision)
            for email, clock in clocks.items():
                if clock != loaded[email]:
                    ports.clocks.put(email, clock)
        except Exception as exc:
            saved.clear()
            for i in mine:
                failures[i] = exc
    return saved


def _owes_newcomer_mail(ports: Ports, before: Customer | None, after: Customer, change: CustomerChange) -> bool:
    """Whether a consenting row just saved must queue its newcomer email.

    Always when the consent is new. Also when this change grants a consent the row already
    holds but no email was ever tried: a crash between the save and the queueing, or a
    sheet write the server applied while the hub timed out, leaves the consent set and
    nothing queued, and the redelivery must still queue it. Queued twice is harmless:
    the mail flow's claim sends it once.
    """
    if not (before and before.consent):
        return True
    return bool(change.consent) and ports.mail_log.status(after.email, ev.NEWCOMER) is None


def queue_marketing(ports: Ports, customer: Customer) -> None:
    """Queue the newcomer email of a consenting customer (the mail flow sends it once)."""
    due = ev.MarketingDue(event_id=f"mail:{email_digest(customer.email)}:{ev.NEWCOMER}", email=customer.email)
    ports.queue.send(MAIL, ev.to_message(due), dedupe_id=due.event_id)


def _notify(ports: Ports, event: ev.Event, text: str) -> None:
    """Queue a notification for the configured channel. Its text is plain: the values in
    it (names, emails, ids) are escaped here, so none can ping or link in Slack."""
    note = ev.Notification(event_id=f"notify:{event.event_id}", text=escape(text))
    ports.queue.send(SLACK, ev.to_message(note), dedupe_id=note.event_id)


def signed_up(event: ev.SignedUp, ports: Ports) -> CustomerStep:
    box = ports.catalog.box_for_form_value(event.box_value)
    change = CustomerChange(
        email=valid_email(event.email),
        name=event.name or None,
        address=event.address or None,
        box=box.sku if box else None,
        consent=event.consent,
    )
    return CustomerStep(change, Origin(FORM, Stamp(event.created, event_id=event.event_id)))


def unsubscribe_now(email: str, ports: Ports, created: int) -> None:
    """An unsubscribe request (at `created`, epoch seconds): recorded at once, so no
    marketing email leaves after it is answered; the sheet follows through the queue
    (`unsubscribed`).

    Queued directly, not through the door: a second unsubscribe (after a new opt-in)
    within the door's key lifetime must reach the sheet too.
    """
    ports.mail_log.suppress(email)
    event = ev.Unsubscribed(event_id=f"unsubscribe:{email_digest(email)}", email=email, created=created)
    ports.queue.send(SIGNUPS, ev.to_message(event), dedupe_id=event.event_id)


def unsubscribed(event: ev.Unsubscribed, ports: Ports) -> CustomerStep:
    ports.mail_log.suppress(event.email)
    # Its clock is kept even without a row: an old sign-up replayed later grants nothing.
    origin = Origin(UNSUBSCRIBE, Stamp(event.created, event_id=event.event_id))
    return CustomerStep(CustomerChange(email=normalise_email(event.email)), origin, existing_only=True)


def _stripe_origin(event: ev.Event, created: int, status: Status | None, from_subscription: bool = False) -> Origin:
    return Origin(STRIPE, stripe_stamp(created, event.event_id, status, from_subscription))


def _stripe_email(ports: Ports, email: str, stripe_customer: str) -> str:
    """The event's email, else the email of the row with its Stripe customer id (a read of
    the sheet). A row whose email Stripe changed since is found by its Stripe id in the
    batch's unit of work (`_save_customers`), at no extra read."""
    if email:
        return valid_email(email)
    found = ports.sheet.find_by_stripe_customer(stripe_customer) if stripe_customer else None
    if found is None:
        # The checkout event that names this customer may simply not have arrived yet.
        raise TransientError(f"no customer with Stripe id {stripe_customer or '(none)'} yet")
    return found.email


def checkout_completed(event: ev.CheckoutCompleted, ports: Ports) -> CustomerStep:
    box = None
    if event.price_ids:
        box = ports.catalog.box_for_prices(list(event.price_ids))

    def then(before: Customer | None, decision: Decision) -> None:
        customer = decision.customer
        _notify(ports, event, f":tada: New subscriber: {customer.name or customer.email}")

    change = CustomerChange(
        email=_stripe_email(ports, event.email, event.stripe_customer),
        name=event.name or None,
        address=event.address or None,
        box=box.sku if box else None,
        status="active",
        consent=event.consent,
        stripe_customer=event.stripe_customer or None,
        ends_on="",  # a new subscription runs on
    )
    return CustomerStep(change, _stripe_origin(event, event.created, "active"), then)


def invoice_paid(event: ev.InvoicePaid, ports: Ports) -> CustomerStep:
    """A paid invoice ships its box whatever its age; only the newest fact sets the status."""
    box = ports.catalog.box_for_prices(list(event.price_ids))

    def then(before: Customer | None, decision: Decision) -> None:
        customer = decision.customer

        def tell() -> None:
            text = f":package: {box.name} paid by {customer.email} ({event.invoice_id}): order confirmed"
            _notify(ports, event, text)

        place_order(ports, customer, box.sku, event.invoice_id, before_confirming=tell)

    change = CustomerChange(
        email=_stripe_email(ports, event.email, event.stripe_customer),
        name=event.name or None,
        address=event.address or None,
        box=box.sku,
        status="active",
        stripe_customer=event.stripe_customer or None,
        last_order=f"{ports.today()} {event.invoice_id}",
    )
    return CustomerStep(change, _stripe_origin(event, event.created, "active"), then)


def place_order(
    ports: Ports, customer: Customer, sku: str, ref: str, before_confirming: Callable[[], None] | None = None
) -> None:
    """One confirmed order per `ref`: searched first, so a retry never makes a second one,
    and a crash between create and confirm is finished on the retry.

    `before_confirming` runs only while the order is not confirmed yet: Stripe sends both
    `invoice.paid` and `invoice.payment_succeeded`, and Slack is told once, by whichever
    confirms (a notice queued after confirming would be lost if queueing it failed).
    """
    order = ports.stock.find_order(ref)
    if order is None:
        partner = ports.stock.ensure_partner(customer)
        order = ports.stock.create_order(partner, sku, ref)
    if not order.confirmed:
        if before_confirming:
            before_confirming()
        ports.stock.confirm_order(order.id)


def _status_change(
    ports: Ports,
    event: ev.Event,
    email: str,
    stripe_customer: str,
    origin: Origin,
    change: CustomerChange,
    text: Callable[[Customer | None, Customer], str | None],
) -> CustomerStep:
    """The customer's row takes the change's status (if it is the newest fact), then Slack
    is told `text(before, after)` unless it is None. A status older than the newest fact
    says nothing new: no alert."""

    def then(before: Customer | None, decision: Decision) -> None:
        message = text(before, decision.customer) if decision.status_applied else None
        if message:
            _notify(ports, event, message)

    email = _stripe_email(ports, email, stripe_customer)
    change = replace(change, email=email, stripe_customer=stripe_customer or None)
    return CustomerStep(change, origin, then)


def payment_failed(event: ev.PaymentFailed, ports: Ports) -> CustomerStep:
    def text(before: Customer | None, after: Customer) -> str:
        return f":warning: Payment failed for {after.email} ({event.invoice_id}): now past due"

    origin = _stripe_origin(event, event.created, "past_due")
    change = CustomerChange(email="", status="past_due")
    return _status_change(ports, event, event.email, event.stripe_customer, origin, change, text)


def subscription_cancelled(event: ev.SubscriptionCancelled, ports: Ports) -> CustomerStep:
    def text(before: Customer | None, after: Customer) -> str:
        return f":wave: Subscription {event.subscription} of {after.email} cancelled"

    origin = _stripe_origin(event, event.created, "cancelled", from_subscription=True)
    change = CustomerChange(email="", status="cancelled", ends_on=ends_on_day(event.ended_at, False))
    return _status_change(ports, event, event.email, event.stripe_customer, origin, change, text)


def subscription_updated(event: ev.SubscriptionUpdated, ports: Ports) -> CustomerStep | None:
    """Follow the subscription's own status, and show when it ends (`Ends on`)."""
    status = SUBSCRIPTION_STATUSES.get(event.status)
    if status is None:  # incomplete, paused: nothing the sheet shows
        return None

    def text(before: Customer | None, after: Customer) -> str | None:
        if before is not None and (before.status, before.ends_on) == (after.status, after.ends_on):
            return None
        ends = f", ends on {after.ends_on}" if after.ends_on else ""
        return f":arrows_counterclockwise: Subscription of {after.email} is {after.status}{ends}"

    origin = _stripe_origin(event, event.created, status, from_subscription=True)
    change = CustomerChange(email="", status=status, ends_on=ends_on_day(event.ends_at, event.cancel_at_period_end))
    return _status_change(ports, event, "", event.stripe_customer, origin, change, text)


def customer_updated(event: ev.CustomerUpdated, ports: Ports) -> None:
    """Stripe's new email, name or address: the same row, found by Stripe customer id.

    Not batched: an email change moves a row, which the batch's unit of work (keyed on
    emails) does not do; Stripe sends few of these.
    """
    found = ports.sheet.find_by_stripe_customer(event.stripe_customer) if event.stripe_customer else None
    if found is None:  # not in the sheet: a Stripe customer who never subscribed
        return
    new_email = valid_email(event.email) if event.email else None
    change = CustomerChange(
        email=found.email,
        name=event.name or None,
        address=event.address or None,
        stripe_customer=event.stripe_customer,
        new_email=new_email if new_email != found.email else None,
    )
    origin = _stripe_origin(event, event.created, None)
    with ports.locks.hold(f"customer:{found.email}"):
        before = ports.sheet.get(found.email)
        if before is None:
            raise TransientError("the customer's row moved while reading; reading again")
        clock = ports.clocks.get(before.email)
        decision = decide(before, change, origin, clock, ports.today())
        after = decision.customer
        if after.email != before.email:
            if ports.sheet.get(after.email) is not None:
                raise PermanentError(
                    "Stripe changed a customer's email to one that has its own row in the sheet:"
                    " merge the two rows by hand, then replay this event"
                )
            ports.sheet.change_email(before.email, after.email)
        if after != before:
            ports.sheet.save(after)
        if decision.clock != clock or after.email != before.email:
            ports.clocks.put(after.email, decision.clock)


def charge_refunded(event: ev.ChargeRefunded, ports: Ports) -> None:
    # A refund returns one payment; it does not end the subscription, so the status stays.
    who = event.email or event.stripe_customer or "an unknown customer"
    amount = f"{format_amount(event.amount_refunded, event.currency)} {event.currency.upper()}".strip()
    _notify(ports, event, f":money_with_wings: Refund of {amount} to {who} ({event.charge_id})")


# Stripe amounts are in the currency's smallest unit; these have no minor unit.
_ZERO_DECIMAL = {
    "bif",
    "clp",
    "djf",
    "gnf",
    "jpy",
    "kmf",
    "krw",
    "mga",
    "pyg",
    "rwf",
    "ugx",
    "vnd",
    "vuv",
    "xaf",
    "xof",
    "xpf",
}


def format_amount(amount: int, currency: str) -> str:
    """A Stripe amount in the currency's own units (cents for EUR, yen for JPY)."""
    return str(amount) if currency.lower() in _ZERO_DECIMAL else f"{amount / 100:.2f}"


# --- mail ------------------------------------------------------------------------


# How long a claim to send an email holds off other deliveries of it.
MAIL_LEASE_SECONDS = 60.0


def marketing_due(event: ev.MarketingDue, ports: Ports) -> CustomerStep:
    """Send the campaign's one email, unless it was sent, consent is gone, or they left.

    The row is read with the batch's other rows (one sheet read for ten emails) and left
    as it is; a customer without a row gets nothing.
    """

    def send(_before: Customer | None, decision: Decision) -> None:
        customer = decision.customer
        if not customer.consent or ports.mail_log.is_suppressed(event.email):
            return
        # A row typed by hand never passed the door: "a@x.com,b@y.com" would mail both.
        valid_email(customer.email)
        email = marketing.compose(
            customer, event.campaign, ports.catalog, ports.public_url, ports.secret_key, ports.mail_domain
        )
        # Claimed before sending, so two deliveries at once send one email; marked after.
        claim = ports.mail_log.claim(event.email, event.campaign, MAIL_LEASE_SECONDS)
        if claim == "sent":
            return
        if claim == "busy":
            raise TransientError("another delivery is sending this email right now", retry_after=MAIL_LEASE_SECONDS)
        try:
            ports.mailer.send(email, handover=lambda: _handing_over(ports, event.email, event.campaign))
        except Exception:
            ports.mail_log.mark(event.email, event.campaign, "failed")
            raise
        ports.mail_log.mark(event.email, event.campaign, "sent")

    # An empty change decides nothing, whatever its origin: the row is only read.
    reading = Origin(FORM, Stamp(0, event_id=event.event_id))
    return CustomerStep(CustomerChange(email=normalise_email(event.email)), reading, send, existing_only=True)


@contextmanager
def _handing_over(ports: Ports, email: str, campaign: str) -> Iterator[None]:
    """The mailer's point of no return (the last bytes of the message, until the server's
    quick answer): recorded as `handing` first. A crash from here on (a kill between the
    server's 250 and the `sent` mark) leaves `handing`, which the next delivery counts as
    sent once the lease is over: the server had the whole message, so sending it again
    would mail the customer twice, and only a refusal that coincides with the crash goes
    unsent. A refusal, a slow answer, or an answer lost while alive takes the handover
    back: the claim stays `sending`, and a crash or a retry sends it again (at least once).
    """
    ports.mail_log.mark(email, campaign, "handing")
    try:
        yield
    except Exception:
        ports.mail_log.mark(email, campaign, "sending")
        raise


def sync_sheet(ports: Ports) -> int:
    """Queue the marketing email of every consenting row that was never sent one.

    This is how rows typed into the sheet by hand join the chain. Returns how many
    emails were queued.
    """
    queued = 0
    for customer in ports.sheet.all():
        if not customer.consent or ports.mail_log.is_suppressed(customer.email):
            continue
        if not _mailable(customer.email):
            continue  # typed by hand and not one address: fixing the cell is staff's job
        if ports.mail_log.status(customer.email, ev.NEWCOMER) is None:
            queue_marketing(ports, customer)
            queued += 1
    return queued


def _mailable(email: str) -> bool:
    try:
        valid_email(email)
    except PermanentError:
        return False
    return True


# --- slack -----------------------------------------------------------------------


def notification(event: ev.Notification, ports: Ports) -> None:
    ports.notifier.post(event.channel or ports.channel, event.text)


def slack_mention(event: ev.SlackMention, ports: Ports) -> None:
    """Answer in the mention's channel, which everyone there sees (see `commands.answer`)."""
    reply = commands.answer(event.text, ports, user=event.user, posted_in=event.channel)
    ports.notifier.post(event.channel, reply, thread_ts=event.thread_ts)


def slow_command(event: ev.SlowCommand, ports: Ports) -> None:
    """Answer through the command's response_url: ephemeral, seen by the asker only."""
    ports.notifier.respond(event.response_url, commands.answer(event.text, ports, user=event.user))


# Customer events: planned per event, saved to the sheet together, then followed up.
_CUSTOMER_STEPS: dict[type, Callable[..., CustomerStep | None]] = {
    ev.SignedUp: signed_up,
    ev.Unsubscribed: unsubscribed,
    ev.CheckoutCompleted: checkout_completed,
    ev.InvoicePaid: invoice_paid,
    ev.PaymentFailed: payment_failed,
    ev.SubscriptionCancelled: subscription_cancelled,
    ev.SubscriptionUpdated: subscription_updated,
    ev.MarketingDue: marketing_due,
}

_HANDLERS: dict[type, Callable[..., None]] = {
    ev.CustomerUpdated: customer_updated,
    ev.ChargeRefunded: charge_refunded,
    ev.Notification: notification,
    ev.SlackMention: slack_mention,
    ev.SlowCommand: slow_command,
}
