"""What each event causes. Talks only to ports; imports no SDK and does no I/O itself.

Each handler is idempotent on a deterministic key (email for customers, the Stripe
invoice id for orders, (email, campaign) for mail), because a queue delivers at least
once and a replay runs the same code again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from chalicelib import commands, marketing
from chalicelib.domain import events as ev
from chalicelib.domain.catalog import Catalog
from chalicelib.domain.customer import Customer, CustomerChange, apply_change, email_digest, valid_email
from chalicelib.errors import PermanentError, TransientError
from chalicelib.ports import (
    CustomerSheet,
    DeadLetters,
    Locks,
    Mailer,
    MailLog,
    Notifier,
    Queue,
    StockSystem,
)

# Queue names: one per consumer (one Lambda each in AWS).
SIGNUPS = "signups"
PAYMENTS = "payments"
MAIL = "mail"
SLACK = "slack"


@dataclass
class Ports:
    """Everything a flow may touch. Built by `bootstrap`; faked in unit tests."""

    sheet: CustomerSheet
    stock: StockSystem
    mailer: Mailer
    notifier: Notifier
    queue: Queue
    mail_log: MailLog
    dead_letters: DeadLetters
    locks: Locks
    catalog: Catalog
    public_url: str
    secret_key: str
    mail_domain: str
    channel: str
    today: Callable[[], str] = lambda: date.today().isoformat()


def queue_for(event: ev.Event) -> str:
    """The consumer an event from the door goes to."""
    if isinstance(event, (ev.SignedUp, ev.Unsubscribed)):
        return SIGNUPS
    if isinstance(event, ev.MarketingDue):
        return MAIL
    if isinstance(event, (ev.SlackMention, ev.Notification, ev.SlowCommand)):
        return SLACK
    return PAYMENTS


def handle(event: ev.Event, ports: Ports) -> None:
    """Carry one event along the chain."""
    handler = _HANDLERS.get(type(event))
    if handler is None:
        raise PermanentError(f"no flow handles {event.kind!r}")
    handler(event, ports)


# --- customers -------------------------------------------------------------------


def _save_customer(ports: Ports, change: CustomerChange) -> Customer:
    """Apply `change` to the sheet; queue the marketing email a new consent may owe.

    The row's read-change-write holds the customer's lock: a concurrent delivery for the
    same email would otherwise undo this change, or append a second row.
    """
    with ports.locks.hold(f"customer:{change.email}"):
        before = ports.sheet.get(change.email)
        after = apply_change(before, change, ports.today())
        if after != before:
            ports.sheet.save(after)
    if after.consent and not (before and before.consent):
        queue_marketing(ports, after)
    return after


def queue_marketing(ports: Ports, customer: Customer) -> None:
    """Queue the newcomer email of a consenting customer (the mail flow sends it once)."""
    due = ev.MarketingDue(event_id=f"mail:{email_digest(customer.email)}:{ev.NEWCOMER}", email=customer.email)
    ports.queue.send(MAIL, ev.to_message(due), dedupe_id=due.event_id)


def _notify(ports: Ports, event: ev.Event, text: str) -> None:
    note = ev.Notification(event_id=f"notify:{event.event_id}", text=text)
    ports.queue.send(SLACK, ev.to_message(note), dedupe_id=note.event_id)


def signed_up(event: ev.SignedUp, ports: Ports) -> None:
    box = ports.catalog.box_for_form_value(event.box_value)
    _save_customer(
        ports,
        CustomerChange(
            email=valid_email(event.email),
            name=event.name or None,
            address=event.address or None,
            box=box.sku if box else None,
            consent=event.consent,
        ),
    )


def unsubscribed(event: ev.Unsubscribed, ports: Ports) -> None:
    ports.mail_log.suppress(event.email)
    if ports.sheet.get(event.email) is not None:
        _save_customer(ports, CustomerChange(email=event.email, consent=False))


def checkout_completed(event: ev.CheckoutCompleted, ports: Ports) -> None:
    box = None
    if event.price_ids:
        box = ports.catalog.box_for_prices(list(event.price_ids))
    customer = _save_customer(
        ports,
        CustomerChange(
            email=valid_email(event.email),
            name=event.name or None,
            address=event.address or None,
            box=box.sku if box else None,
            status="active",
            consent=event.consent,
            stripe_customer=event.stripe_customer or None,
        ),
    )
    _notify(ports, event, f":tada: New subscriber: {customer.name or customer.email}")


def _known_email(ports: Ports, email: str, stripe_customer: str) -> str:
    """The customer's email from the event, else from the sheet by Stripe customer id."""
    if email:
        return valid_email(email)
    found = ports.sheet.find_by_stripe_customer(stripe_customer) if stripe_customer else None
    if found is None:
        # The checkout event that names this customer may simply not have arrived yet.
        raise TransientError(f"no customer with Stripe id {stripe_customer or '(none)'} yet")
    return found.email


def invoice_paid(event: ev.InvoicePaid, ports: Ports) -> None:
    box = ports.catalog.box_for_prices(list(event.price_ids))
    email = _known_email(ports, event.email, event.stripe_customer)
    customer = _save_customer(
        ports,
        CustomerChange(
            email=email,
            name=event.name or None,
            address=event.address or None,
            box=box.sku,
            status="active",
            stripe_customer=event.stripe_customer or None,
            last_order=f"{ports.today()} {event.invoice_id}",
        ),
    )
    place_order(ports, customer, box.sku, event.invoice_id)
    _notify(ports, event, f":package: {box.name} paid by {customer.email} ({event.invoice_id}): order confirmed")


def place_order(ports: Ports, customer: Customer, sku: str, ref: str) -> None:
    """One confirmed order per `ref`: searched first, so a retry never makes a second one,
    and a crash between create and confirm is finished on the retry."""
    order = ports.stock.find_order(ref)
    if order is None:
        partner = ports.stock.ensure_partner(customer)
        order = ports.stock.create_order(partner, sku, ref)
    if not order.confirmed:
        ports.stock.confirm_order(order.id)


def _status_change(ports: Ports, event: ev.Event, email: str, stripe_customer: str, status: str) -> Customer:
    email = _known_email(ports, email, stripe_customer)
    return _save_customer(ports, CustomerChange(email=email, status=status))


def payment_failed(event: ev.PaymentFailed, ports: Ports) -> None:
    customer = _status_change(ports, event, event.email, event.stripe_customer, "past_due")
    _notify(ports, event, f":warning: Payment failed for {customer.email} ({event.invoice_id}): now past due")


def subscription_cancelled(event: ev.SubscriptionCancelled, ports: Ports) -> None:
    customer = _status_change(ports, event, event.email, event.stripe_customer, "cancelled")
    _notify(ports, event, f":wave: Subscription {event.subscription} of {customer.email} cancelled")


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


def marketing_due(event: ev.MarketingDue, ports: Ports) -> None:
    """Send the campaign's one email, unless it was sent, consent is gone, or they left."""
    customer = ports.sheet.get(event.email)
    if customer is None or not customer.consent or ports.mail_log.is_suppressed(event.email):
        return
    email = marketing.compose(
        customer, event.campaign, ports.catalog, ports.public_url, ports.secret_key, ports.mail_domain
    )
    # Claimed before sending, so two deliveries at once send one email; marked after.
    # A crash in between leaves a claim that expires, and the retry sends again with the
    # same Message-ID (at least once beats never, and the window is one SMTP exchange).
    claim = ports.mail_log.claim(event.email, event.campaign, MAIL_LEASE_SECONDS)
    if claim == "sent":
        return
    if claim == "busy":
        raise TransientError("another delivery is sending this email right now", retry_after=MAIL_LEASE_SECONDS)
    try:
        ports.mailer.send(email)
    except Exception:
        ports.mail_log.mark(event.email, event.campaign, "failed")
        raise
    ports.mail_log.mark(event.email, event.campaign, "sent")


def sync_sheet(ports: Ports) -> int:
    """Queue the marketing email of every consenting row that was never sent one.

    This is how rows typed into the sheet by hand join the chain. Returns how many
    emails were queued.
    """
    queued = 0
    for customer in ports.sheet.all():
        if not customer.consent or ports.mail_log.is_suppressed(customer.email):
            continue
        if ports.mail_log.status(customer.email, ev.NEWCOMER) is None:
            queue_marketing(ports, customer)
            queued += 1
    return queued


# --- slack -----------------------------------------------------------------------


def notification(event: ev.Notification, ports: Ports) -> None:
    ports.notifier.post(event.channel or ports.channel, event.text)


def slack_mention(event: ev.SlackMention, ports: Ports) -> None:
    ports.notifier.post(event.channel, commands.answer(event.text, ports), thread_ts=event.thread_ts)


def slow_command(event: ev.SlowCommand, ports: Ports) -> None:
    ports.notifier.respond(event.response_url, commands.answer(event.text, ports))


_HANDLERS: dict[type, Callable[..., None]] = {
    ev.SignedUp: signed_up,
    ev.Unsubscribed: unsubscribed,
    ev.CheckoutCompleted: checkout_completed,
    ev.InvoicePaid: invoice_paid,
    ev.PaymentFailed: payment_failed,
    ev.SubscriptionCancelled: subscription_cancelled,
    ev.ChargeRefunded: charge_refunded,
    ev.MarketingDue: marketing_due,
    ev.Notification: notification,
    ev.SlackMention: slack_mention,
    ev.SlowCommand: slow_command,
}
