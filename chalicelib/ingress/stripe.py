"""Stripe webhooks: `stripe.Webhook.construct_event` on the raw body, then normalised.

Every API shape is read: invoice line prices at `pricing.price_details.price`
(2025-03-31 and later), `price.id` (earlier) or `plan.id` (older versions, and
Stripe-compatible emulators); the subscription at `parent.subscription_details.subscription`
or `subscription`; a subscription's period end on the subscription (before 2025-03-31) or
on its items. Each event keeps its `created`: the flows order Stripe's facts by it.
"""

from __future__ import annotations

import math
import time
from typing import Any

from chalicelib.domain import events as ev
from chalicelib.domain.validation import MAX_ADDRESS, MAX_ID, MAX_NAME, MAX_SHORT
from chalicelib.ingress.common import Rejection, email, format_address, parse_json_object, text

HANDLED = (
    "checkout.session.completed",
    "invoice.paid",
    "invoice.payment_succeeded",
    "invoice.payment_failed",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.updated",
    "charge.refunded",
)
# Stripe's own default: a signature older, or newer, than 5 minutes is refused.
TOLERANCE = 300
MAX_PRICES = 100


def verify(raw: bytes, signature: str, secret: str, now: float | None = None) -> dict[str, Any]:
    """The verified event as a plain dict: 401 for a missing, wrong, stale or future-dated
    signature, 400 for a signed body that is not a JSON object with an id and a type.

    The signature is checked by stripe-python before the body is parsed (by the hub's
    bounded parser: the library's `construct_event` would parse without a depth bound and
    build `StripeObject`s the hub does not need).
    """
    import stripe  # lazily: 100+ ms of import, paid only by the Stripe route

    if not signature:
        raise Rejection(401, "missing Stripe-Signature header")
    try:
        payload = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejection(400, "Stripe: body is not UTF-8 text") from exc
    try:
        stripe.WebhookSignature.verify_header(payload, signature, secret, tolerance=TOLERANCE)
    except stripe.SignatureVerificationError as exc:
        raise Rejection(401, f"Stripe signature refused: {exc.user_message or exc}") from exc
    # stripe-python refuses only the past side of the window.
    if _timestamp(signature) > (time.time() if now is None else now) + TOLERANCE:
        raise Rejection(401, "Stripe signature refused: its timestamp is in the future (check the sender's clock)")
    data = parse_json_object(raw, "Stripe")
    if not (text(data.get("id"), "Stripe: id", MAX_ID) and text(data.get("type"), "Stripe: type", MAX_ID)):
        raise Rejection(400, "Stripe: an event needs an id and a type")
    if not isinstance(_node(data, "data").get("object"), dict):
        raise Rejection(400, "Stripe: event has no data.object")
    return data


def _timestamp(signature: str) -> int:
    """The `t=` of a header the library has verified (so it is there and an integer): the
    first one, as the library reads it."""
    stamps = [value for key, _, value in (item.partition("=") for item in signature.split(",")) if key == "t"]
    return int(stamps[0]) if stamps else 0


def _node(obj: dict[str, Any], *path: str) -> dict[str, Any]:
    """The object at `path` ({} when absent or null); 400 when something else is there."""
    for depth, key in enumerate(path, 1):
        value = obj.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise Rejection(400, f"Stripe: {'.'.join(path[:depth])} must be an object")
        obj = value
    return obj


def _text(obj: dict[str, Any], *path: str, max_length: int = MAX_ID) -> str:
    """The text at `path` ('' when absent or null); 400 for another type or a bad value."""
    return text(_node(obj, *path[:-1]).get(path[-1]), f"Stripe: {'.'.join(path)}", max_length)


def _address(obj: dict[str, Any], *path: str) -> str:
    addr = _node(obj, *path)
    parts = {k: _text(addr, k, max_length=MAX_NAME) for k in ("line1", "line2", "postal_code", "city", "state")}
    city = " ".join(p for p in (parts["postal_code"], parts["city"]) if p)
    line = format_address([parts["line1"], parts["line2"], city, parts["state"], _text(addr, "country")])
    return text(line, f"Stripe: {'.'.join(path)}", MAX_ADDRESS)


def _amount(obj: dict[str, Any], key: str) -> int:
    value = obj.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Rejection(400, f"Stripe: {key} must be a whole number")
    if value != int(value) or not 0 <= value < 10**15:
        raise Rejection(400, f"Stripe: {key} must be a whole number of the currency's smallest unit")
    return int(value)


def _time(obj: dict[str, Any], key: str) -> int:
    """A Unix timestamp (0 when absent or null); 400 for anything else."""
    return _amount(obj, key)


def subscription_ends_at(sub: dict[str, Any]) -> int:
    """The day a subscription stops, 0 when it runs on: `cancel_at`, else the current
    period's end when `cancel_at_period_end` (on the subscription before API 2025-03-31,
    on its items since); for one that ended, when it ended."""
    if sub.get("status") in ("canceled", "incomplete_expired"):
        return _time(sub, "ended_at") or _time(sub, "canceled_at")
    if _time(sub, "cancel_at"):
        return _time(sub, "cancel_at")
    if not sub.get("cancel_at_period_end"):
        return 0
    items = _node(sub, "items").get("data") or []
    if not isinstance(items, list) or len(items) > MAX_PRICES:
        raise Rejection(400, f"Stripe: items.data must be a list of at most {MAX_PRICES} items")
    ends = [_time(sub, "current_period_end")]
    for item in items:
        if not isinstance(item, dict):
            raise Rejection(400, "Stripe: each of items.data must be an object")
        ends.append(_time(item, "current_period_end"))
    return max(ends)


def invoice_price_ids(invoice: dict[str, Any]) -> tuple[str, ...]:
    lines = _node(invoice, "lines").get("data") or []
    if not isinstance(lines, list) or len(lines) > MAX_PRICES:
        raise Rejection(400, f"Stripe: lines.data must be a list of at most {MAX_PRICES} lines")
    prices = []
    for line in lines:
        if not isinstance(line, dict):
            raise Rejection(400, "Stripe: each of lines.data must be an object")
        price = (
            _text(line, "pricing", "price_details", "price") or _text(line, "price", "id") or _text(line, "plan", "id")
        )
        if price:
            prices.append(price)
    return tuple(prices)


def to_event(event: dict[str, Any]) -> ev.Event | None:
    """The hub's event for a Stripe event, or None for a type the hub does not handle.

    Every field is read by type, and bounded: a signed body whose fields have the wrong
    type or length is a 400 naming the field, never a crash.
    """
    kind = event["type"]
    obj = event["data"]["object"]
    event_id = f"stripe:{event['id']}"
    created = _time(event, "created")
    if kind == "checkout.session.completed":
        shipping = _node(obj, "collected_information", "shipping_details") or _node(obj, "shipping_details")
        found = _node(obj, "customer_details").get("email") or obj.get("customer_email")
        if not found:
            raise Rejection(400, "Stripe: checkout session has no customer email")
        promotions = _text(obj, "consent", "promotions", max_length=MAX_SHORT)
        price = _text(obj, "metadata", "price")
        return ev.CheckoutCompleted(
            event_id=event_id,
            email=email(found, "Stripe: customer_details.email"),
            name=_text(shipping, "name", max_length=MAX_NAME)
            or _text(obj, "customer_details", "name", max_length=MAX_NAME),
            address=_address(shipping, "address") or _address(obj, "customer_details", "address"),
            stripe_customer=_text(obj, "customer"),
            consent={"opt_in": True, "opt_out": False}.get(promotions),
            price_ids=(price,) if price else (),
            created=created,
        )
    if kind in ("invoice.paid", "invoice.payment_succeeded"):
        invoice_id = _text(obj, "id")
        if not invoice_id:
            raise Rejection(400, "Stripe: invoice has no id")
        shipping = _node(obj, "customer_shipping")
        return ev.InvoicePaid(
            event_id=event_id,
            invoice_id=invoice_id,
            email=email(obj.get("customer_email"), "Stripe: customer_email", required=False),
            name=_text(obj, "customer_name", max_length=MAX_NAME) or _text(shipping, "name", max_length=MAX_NAME),
            address=_address(shipping, "address") or _address(obj, "customer_address"),
            stripe_customer=_text(obj, "customer"),
            price_ids=invoice_price_ids(obj),
            subscription=_text(obj, "parent", "subscription_details", "subscription") or _text(obj, "subscription"),
            created=created,
        )
    if kind == "invoice.payment_failed":
        return ev.PaymentFailed(
            event_id=event_id,
            invoice_id=_text(obj, "id"),
            email=email(obj.get("customer_email"), "Stripe: customer_email", required=False),
            stripe_customer=_text(obj, "customer"),
            created=created,
        )
    if kind == "customer.subscription.deleted":
        return ev.SubscriptionCancelled(
            event_id=event_id,
            subscription=_text(obj, "id"),
            stripe_customer=_text(obj, "customer"),
            created=created,
            ended_at=_time(obj, "ended_at") or _time(obj, "canceled_at") or created,
        )
    if kind == "customer.subscription.updated":
        customer, status = _text(obj, "customer"), _text(obj, "status", max_length=MAX_SHORT)
        if not customer or not status:
            raise Rejection(400, "Stripe: subscription has no customer or status")
        return ev.SubscriptionUpdated(
            event_id=event_id,
            subscription=_text(obj, "id"),
            stripe_customer=customer,
            status=status,
            cancel_at_period_end=obj.get("cancel_at_period_end") is True,
            ends_at=subscription_ends_at(obj),
            created=created,
        )
    if kind == "customer.updated":
        customer = _text(obj, "id")
        if not customer:
            raise Rejection(400, "Stripe: customer has no id")
        shipping = _node(obj, "shipping")
        return ev.CustomerUpdated(
            event_id=event_id,
            stripe_customer=customer,
            email=email(obj.get("email"), "Stripe: email", required=False),
            name=_text(shipping, "name", max_length=MAX_NAME) or _text(obj, "name", max_length=MAX_NAME),
            address=_address(shipping, "address") or _address(obj, "address"),
            created=created,
        )
    if kind == "charge.refunded":
        found = _node(obj, "billing_details").get("email") or obj.get("receipt_email")
        return ev.ChargeRefunded(
            event_id=event_id,
            charge_id=_text(obj, "id"),
            email=email(found, "Stripe: billing_details.email", required=False),
            stripe_customer=_text(obj, "customer"),
            amount_refunded=_amount(obj, "amount_refunded"),
            currency=_text(obj, "currency", max_length=MAX_SHORT),
        )
    return None
