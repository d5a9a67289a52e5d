"""The hub's events: what ingress makes of a provider's payload, and what queues carry.

Each event is a frozen dataclass with a `kind`; `to_message` / `from_message` give the
JSON-able dict a queue message holds, so a dead letter can be read, and replayed through
today's flows, without the provider's SDK.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from chalicelib.errors import PermanentError


@dataclass(frozen=True)
class Event:
    kind: ClassVar[str] = ""
    event_id: str


@dataclass(frozen=True)
class SignedUp(Event):
    """A Formstack submission; `box_value` is the form's answer, mapped by the catalog later."""

    kind: ClassVar[str] = "signed_up"
    email: str
    name: str = ""
    address: str = ""
    box_value: str = ""
    consent: bool = False
    created: int = 0  # when the hub first accepted it (Unix seconds): a form has no time of its own


@dataclass(frozen=True)
class CheckoutCompleted(Event):
    kind: ClassVar[str] = "checkout_completed"
    email: str
    name: str = ""
    address: str = ""
    stripe_customer: str = ""
    consent: bool | None = None
    price_ids: tuple[str, ...] = ()
    created: int = 0  # Stripe's event `created` (Unix seconds): the order of Stripe's facts


@dataclass(frozen=True)
class InvoicePaid(Event):
    """`invoice.paid` or `invoice.payment_succeeded` (Stripe sends both): one order per invoice."""

    kind: ClassVar[str] = "invoice_paid"
    invoice_id: str
    email: str
    name: str = ""
    address: str = ""
    stripe_customer: str = ""
    price_ids: tuple[str, ...] = ()
    subscription: str = ""
    created: int = 0


@dataclass(frozen=True)
class PaymentFailed(Event):
    kind: ClassVar[str] = "payment_failed"
    invoice_id: str
    email: str = ""
    stripe_customer: str = ""
    created: int = 0


@dataclass(frozen=True)
class SubscriptionCancelled(Event):
    kind: ClassVar[str] = "subscription_cancelled"
    subscription: str
    stripe_customer: str = ""
    email: str = ""
    created: int = 0
    ended_at: int = 0  # when it ended (Unix seconds), for the sheet's `Ends on`


@dataclass(frozen=True)
class SubscriptionUpdated(Event):
    """`customer.subscription.updated`: the subscription's own status, and when it will end.

    `status` is Stripe's (`active`, `past_due`, `unpaid`, `canceled`, ...); `ends_at` is
    the day it stops (`cancel_at`, or the period's end when `cancel_at_period_end`), 0 if
    it runs on.
    """

    kind: ClassVar[str] = "subscription_updated"
    subscription: str
    stripe_customer: str
    status: str
    cancel_at_period_end: bool = False
    ends_at: int = 0
    created: int = 0


@dataclass(frozen=True)
class CustomerUpdated(Event):
    """`customer.updated`: Stripe's current email, name and address of a customer."""

    kind: ClassVar[str] = "customer_updated"
    stripe_customer: str
    email: str = ""
    name: str = ""
    address: str = ""
    created: int = 0


@dataclass(frozen=True)
class ChargeRefunded(Event):
    kind: ClassVar[str] = "charge_refunded"
    charge_id: str
    email: str = ""
    stripe_customer: str = ""
    amount_refunded: int = 0
    currency: str = ""


@dataclass(frozen=True)
class SlackMention(Event):
    """An @-mention of the bot: answered in its channel (and thread)."""

    kind: ClassVar[str] = "slack_mention"
    channel: str
    text: str
    thread_ts: str = ""
    user: str = ""  # who asked: commands beyond `help` are for SLACK_OPERATORS


@dataclass(frozen=True)
class Unsubscribed(Event):
    kind: ClassVar[str] = "unsubscribed"
    email: str
    created: int = 0  # when the unsubscribe was received (Unix seconds)


NEWCOMER = "newcomer"


@dataclass(frozen=True)
class MarketingDue(Event):
    """A customer in the base who may be owed the campaign's one email.

    `newcomer` is the email every consenting customer new to the base gets once: its
    content (upsell or welcome) is chosen when it is sent, from the box they have then.
    """

    kind: ClassVar[str] = "marketing_due"
    email: str
    campaign: str = NEWCOMER


@dataclass(frozen=True)
class Notification(Event):
    """A message for the shop's Slack channel."""

    kind: ClassVar[str] = "notification"
    text: str
    channel: str = ""


@dataclass(frozen=True)
class SlowCommand(Event):
    """A slash command whose answer goes to Slack's `response_url` (up to 30 minutes)."""

    kind: ClassVar[str] = "slow_command"
    text: str
    response_url: str
    user: str = ""


_KINDS: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        SignedUp,
        CheckoutCompleted,
        InvoicePaid,
        PaymentFailed,
        SubscriptionCancelled,
        SubscriptionUpdated,
        CustomerUpdated,
        ChargeRefunded,
        SlackMention,
        Unsubscribed,
        MarketingDue,
        Notification,
        SlowCommand,
    )
}


def to_message(event: Event) -> dict[str, Any]:
    """The JSON-able form a queue carries: `{"kind": ..., **fields}`."""
    body = dataclasses.asdict(event)
    body["kind"] = event.kind
    return body


def from_message(body: dict[str, Any]) -> Event:
    """Rebuild an event from its message; an unknown kind or field is permanent."""
    data = dict(body)
    kind = data.pop("kind", None)
    cls = _KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise PermanentError(f"unknown event kind {kind!r}")
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(names)
    if unknown:
        raise PermanentError(f"{kind}: unknown fields {sorted(unknown)}")
    for name in names:
        if name in data and isinstance(data[name], list):
            data[name] = tuple(data[name])
    try:
        return cls(**data)
    except TypeError as exc:
        raise PermanentError(f"{kind}: {exc}") from exc
