"""Stripe webhooks: `stripe.Webhook.construct_event` on the raw body, then normalised.

Both API shapes are read: invoice line prices at `pricing.price_details.price`
(2025-03-31 and later) or `price.id` (earlier), and the subscription at
`parent.subscription_details.subscription` or `subscription`.
"""

from __future__ import annotations

from typing import Any

from chalicelib.domain import events as ev
from chalicelib.ingress.common import Rejection, format_address

HANDLED = (
    "checkout.session.completed",
    "invoice.paid",
    "invoice.payment_failed",
    "customer.subscription.deleted",
    "charge.refunded",
)


def verify(raw: bytes, signature: str, secret: str) -> dict[str, Any]:
    """The verified event as a plain dict; 401 for a bad or stale signature, 400 for bad JSON."""
    import stripe  # lazily: 100+ ms of import, paid only by the Stripe route

    if not signature:
        raise Rejection(401, "missing Stripe-Signature header")
    try:
        event = stripe.Webhook.construct_event(raw, signature, secret, tolerance=300)
    except stripe.SignatureVerificationError as exc:
        raise Rejection(401, f"Stripe signature refused: {exc.user_message or exc}") from exc
    except ValueError as exc:
        raise Rejection(400, f"Stripe: body is not valid JSON ({exc})") from exc
    data = event.to_dict()
    if not isinstance(data.get("id"), str) or not isinstance(data.get("type"), str):
        raise Rejection(400, "Stripe: an event needs an id and a type")
    if not isinstance((data.get("data") or {}).get("object"), dict):
        raise Rejection(400, "Stripe: event has no data.object")
    return data


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _address(addr: Any) -> str:
    if not isinstance(addr, dict):
        return ""
    city = " ".join(p for p in (addr.get("postal_code"), addr.get("city")) if p)
    return format_address([addr.get("line1"), addr.get("line2"), city, addr.get("state"), addr.get("country")])


def invoice_price_ids(invoice: dict[str, Any]) -> tuple[str, ...]:
    prices = []
    for line in _get(invoice, "lines", "data") or []:
        price = _get(line, "pricing", "price_details", "price") or _get(line, "price", "id")
        if isinstance(price, str):
            prices.append(price)
    return tuple(prices)


def to_event(event: dict[str, Any]) -> ev.Event | None:
    """The hub's event for a Stripe event, or None for a type the hub does not handle."""
    kind = event["type"]
    obj = event["data"]["object"]
    event_id = f"stripe:{event['id']}"
    if kind == "checkout.session.completed":
        shipping = _get(obj, "collected_information", "shipping_details") or obj.get("shipping_details") or {}
        promotions = _get(obj, "consent", "promotions")
        email = _get(obj, "customer_details", "email") or obj.get("customer_email") or ""
        if not email:
            raise Rejection(400, "Stripe: checkout session has no customer email")
        return ev.CheckoutCompleted(
            event_id=event_id,
            email=email,
            name=shipping.get("name") or _get(obj, "customer_details", "name") or "",
            address=_address(shipping.get("address")) or _address(_get(obj, "customer_details", "address")),
            stripe_customer=obj.get("customer") or "",
            consent={"opt_in": True, "opt_out": False}.get(promotions or ""),
            price_ids=tuple(p for p in [_get(obj, "metadata", "price")] if isinstance(p, str)),
        )
    if kind == "invoice.paid":
        if not obj.get("id"):
            raise Rejection(400, "Stripe: invoice has no id")
        shipping = obj.get("customer_shipping") or {}
        return ev.InvoicePaid(
            event_id=event_id,
            invoice_id=obj["id"],
            email=obj.get("customer_email") or "",
            name=obj.get("customer_name") or shipping.get("name") or "",
            address=_address(shipping.get("address")) or _address(obj.get("customer_address")),
            stripe_customer=obj.get("customer") or "",
            price_ids=invoice_price_ids(obj),
            subscription=_get(obj, "parent", "subscription_details", "subscription") or obj.get("subscription") or "",
        )
    if kind == "invoice.payment_failed":
        return ev.PaymentFailed(
            event_id=event_id,
            invoice_id=obj.get("id") or "",
            email=obj.get("customer_email") or "",
            stripe_customer=obj.get("customer") or "",
        )
    if kind == "customer.subscription.deleted":
        return ev.SubscriptionCancelled(
            event_id=event_id, subscription=obj.get("id") or "", stripe_customer=obj.get("customer") or ""
        )
    if kind == "charge.refunded":
        return ev.ChargeRefunded(
            event_id=event_id,
            charge_id=obj.get("id") or "",
            email=_get(obj, "billing_details", "email") or obj.get("receipt_email") or "",
            stripe_customer=obj.get("customer") or "",
            amount_refunded=int(obj.get("amount_refunded") or 0),
            currency=obj.get("currency") or "",
        )
    return None
