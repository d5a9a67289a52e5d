"""Which source owns which column, and in which order facts count. Pure: no I/O.

Stripe delivers at least once and in any order, and a Formstack form is public: anyone
may post any email. So the sheet is not "the last delivery wins":

- **Stripe's verified data owns** name, address, status (with `Ends on`), box and the
  Stripe id. Each Stripe fact has a `Stamp` (its event's `created`, then a tie-break), and
  a column group takes a fact only if it is not older than the newest fact that group has
  already taken; an older fact may only fill an empty cell. The stamps applied are kept
  per customer in a `Clock`, in the runtime's store (never in the sheet, which staff edit).
- **A form fills empty cells** and sets the box of a customer still `registered`; it never
  overwrites a name or an address, and never changes a status.
- **Consent** is granted by a form or a checkout's `opt_in`, and withdrawn only by an
  unsubscribe; a grant older than the last unsubscribe (a replayed old sign-up) is ignored.
- **Last order** follows the newest paid invoice; the order itself is placed whatever
  the invoice's age (a late paid invoice still ships its box).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from chalicelib.domain.customer import Customer, CustomerChange, Status

FORM = "form"
STRIPE = "stripe"
UNSUBSCRIBE = "unsubscribe"
SOURCES = (FORM, STRIPE, UNSUBSCRIBE)

# At the same second, which fact wins: the subscription's own status over a status the hub
# infers from a checkout or an invoice, and an ended subscription over everything (it is
# final in Stripe: a cancelled subscription never comes back).
RANK_INFERRED = 0
RANK_SUBSCRIPTION = 1
RANK_ENDED = 2

# Stripe's subscription statuses, as the sheet shows them. Absent: no change
# (`incomplete` waits for its first payment; `paused` has no invoice to speak of).
SUBSCRIPTION_STATUSES: dict[str, Status] = {
    "active": "active",
    "trialing": "active",
    "past_due": "past_due",
    "unpaid": "unpaid",
    "canceled": "cancelled",
    "incomplete_expired": "cancelled",
}


@dataclass(frozen=True, order=True)
class Stamp:
    """Where a fact sits in time: `created` (Unix seconds), then `rank`, then the event id.

    The event id only makes the order total, so that the outcome never depends on the
    order of delivery, even for two facts of the same second and rank.
    """

    created: int
    rank: int = RANK_INFERRED
    event_id: str = ""

    def to_list(self) -> list[Any]:
        return [self.created, self.rank, self.event_id]

    @classmethod
    def from_list(cls, value: Any) -> Stamp | None:
        if not isinstance(value, list) or len(value) != 3:
            return None
        return cls(int(value[0]), int(value[1]), str(value[2]))


def stripe_stamp(created: int, event_id: str, status: Status | None, from_subscription: bool) -> Stamp:
    """The stamp of a Stripe fact; see the ranks above."""
    if status == "cancelled":
        rank = RANK_ENDED
    elif from_subscription:
        rank = RANK_SUBSCRIPTION
    else:
        rank = RANK_INFERRED
    return Stamp(created, rank, event_id)


@dataclass(frozen=True)
class Clock:
    """The newest facts applied to one customer, per column group; kept by the runtime.

    `status`: Status, Ends on, Box. `identity`: Name, Address. `order`: Last order.
    `unsubscribed`: the newest unsubscribe (Unix seconds, 0 for never). `email`: Email,
    which only `customer.updated` changes (an invoice's email is a copy, not a change).
    """

    status: Stamp | None = None
    identity: Stamp | None = None
    order: Stamp | None = None
    unsubscribed: int = 0
    email: Stamp | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, for the stores."""
        return {
            "status": self.status.to_list() if self.status else None,
            "identity": self.identity.to_list() if self.identity else None,
            "order": self.order.to_list() if self.order else None,
            "unsubscribed": self.unsubscribed,
            "email": self.email.to_list() if self.email else None,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Clock:
        """The clock a store kept; anything unreadable is an empty clock (nothing applied)."""
        if not isinstance(data, dict):
            return cls()
        return cls(
            status=Stamp.from_list(data.get("status")),
            identity=Stamp.from_list(data.get("identity")),
            order=Stamp.from_list(data.get("order")),
            unsubscribed=int(data.get("unsubscribed") or 0),
            email=Stamp.from_list(data.get("email")),
        )


@dataclass(frozen=True)
class Origin:
    """Where a change comes from and when it happened (`stamp.created`, Unix seconds)."""

    source: str
    stamp: Stamp


@dataclass(frozen=True)
class Decision:
    """The customer after a change, the clock after it, the columns whose value it
    changed, and whether its status was taken (it is the newest status fact so far)."""

    customer: Customer
    clock: Clock
    written: frozenset[str] = field(default_factory=frozenset)
    status_applied: bool = False


def _newer(stamp: Stamp, applied: Stamp | None) -> bool:
    """Not older than what the group has taken (the same fact again counts: a retry)."""
    return applied is None or stamp >= applied


def may_grant_consent(created: int, clock: Clock) -> bool:
    """A grant counts unless it is older than (or as old as) the last unsubscribe."""
    return clock.unsubscribed == 0 or created > clock.unsubscribed


def decide(current: Customer | None, change: CustomerChange, origin: Origin, clock: Clock, today: str) -> Decision:
    """The customer after `change` from `origin`, given the facts already applied (`clock`).

    A new customer starts `registered`, signed up `today`.
    """
    if origin.source not in SOURCES:
        raise ValueError(f"unknown source {origin.source!r}")
    base = current or Customer(email=change.email, signed_up=today)
    values: dict[str, Any] = {}

    def take(name: str, value: Any) -> None:
        if value is not None and value != "":
            values[name] = value

    def fill(name: str, value: Any) -> None:
        if not getattr(base, name):
            take(name, value)

    created = origin.stamp.created
    if origin.source == UNSUBSCRIBE:
        values["consent"] = False
        clock = replace(clock, unsubscribed=max(clock.unsubscribed, created))
    elif change.consent and may_grant_consent(created, clock):
        take("consent", True)

    if origin.source == FORM:
        fill("name", change.name)
        fill("address", change.address)
        (take if base.status == "registered" else fill)("box", change.box)
    elif origin.source == STRIPE:
        clock = _apply_stripe(change, origin.stamp, clock, values, take, fill)

    written = frozenset(name for name, value in values.items() if getattr(base, name) != value)
    status_applied = origin.source == STRIPE and clock.status == origin.stamp
    return Decision(replace(base, **values), clock, written, status_applied)


def _apply_stripe(
    change: CustomerChange,
    stamp: Stamp,
    clock: Clock,
    values: dict[str, Any],
    take: Callable[[str, Any], None],
    fill: Callable[[str, Any], None],
) -> Clock:
    """Stripe's columns, group by group: taken when the fact is the newest, else filled."""
    says_status = change.status is not None or change.ends_on is not None
    status_newer = says_status and _newer(stamp, clock.status)
    if status_newer:
        take("status", change.status)
        if change.ends_on is not None:  # "" clears it: a running subscription ends on no day
            values["ends_on"] = change.ends_on
        take("box", change.box)
        clock = replace(clock, status=stamp)
    else:
        fill("box", change.box)

    says_identity = bool(change.name or change.address)
    identity_newer = says_identity and _newer(stamp, clock.identity)
    if identity_newer:
        take("name", change.name)
        take("address", change.address)
        clock = replace(clock, identity=stamp)
    else:
        fill("name", change.name)
        fill("address", change.address)
    email_newer = bool(change.new_email) and _newer(stamp, clock.email)
    if email_newer:
        take("email", change.new_email)
        clock = replace(clock, email=stamp)

    (take if status_newer or identity_newer or email_newer else fill)("stripe_customer", change.stripe_customer)

    if change.last_order and _newer(stamp, clock.order):
        take("last_order", change.last_order)
        clock = replace(clock, order=stamp)
    return clock


def stripe_day(timestamp: int) -> str:
    """A Stripe timestamp as the ISO day (UTC) the sheet shows."""
    return datetime.fromtimestamp(timestamp, UTC).date().isoformat()


def ends_on_day(ends_at: int, at_period_end: bool) -> str:
    """The sheet's `Ends on`: the day (UTC) a subscription stops or stopped; "end of period"
    when it cancels at period end but the payload gave no date; "" while it runs on."""
    if ends_at:
        return stripe_day(ends_at)
    return "end of period" if at_period_end else ""
