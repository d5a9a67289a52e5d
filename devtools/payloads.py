"""Request bodies shaped as the providers send them (see each provider's docs, and the
Stripe object fixtures in ../shared/fixtures for the shapes)."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode


def formstack_form(
    unique_id: str,
    email: str,
    first: str = "Ann",
    last: str = "Lee",
    box: str = "Classic",
    consent: bool = True,
    handshake_key: str = "",
) -> bytes:
    """A URL-encoded submission with subfields as `key = value` lines."""
    fields = {
        "FormID": "5551234",
        "UniqueID": unique_id,
        "Name": f"first = {first}\nlast = {last}",
        "Email": email,
        "Address": "address = 12 Rue des Fleurs\ncity = Lyon\nzip = 69001",
        "Box": box,
        "Newsletter": "Yes please" if consent else "",
    }
    if handshake_key:
        fields["HandshakeKey"] = handshake_key
    return urlencode(fields).encode()


def formstack_json(unique_id: str, email: str, box: str = "Super", consent: bool = True) -> bytes:
    """A JSON submission with subfields as objects."""
    return json.dumps(
        {
            "FormID": "5551234",
            "UniqueID": unique_id,
            "Name": {"first": "Bob", "last": "Martin"},
            "Email": email,
            "Address": {"address": "3 Quai Nord", "city": "Nantes", "zip": "44000"},
            "Box": box,
            "Newsletter": "Yes" if consent else "No",
        }
    ).encode()


def _event(
    event_id: str, kind: str, obj: dict, api_version: str = "2025-03-31.basil", created: int | None = None
) -> bytes:
    """An event envelope; `created` (Unix seconds) defaults to now."""
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "api_version": api_version,
            "created": int(time.time()) if created is None else created,
            "livemode": False,
            "pending_webhooks": 1,
            "type": kind,
            "data": {"object": obj},
        }
    ).encode()


def stripe_checkout_completed(
    event_id: str, email: str, customer: str, consent: str | None = "opt_in", created: int | None = None
) -> bytes:
    return _event(
        event_id,
        "checkout.session.completed",
        {
            "id": f"cs_test_{event_id}",
            "object": "checkout.session",
            "mode": "subscription",
            "status": "complete",
            "payment_status": "paid",
            "customer": customer,
            "subscription": f"sub_{customer}",
            "customer_details": {
                "email": email,
                "name": "Ann Lee",
                "address": {"line1": "12 Rue des Fleurs", "city": "Lyon", "postal_code": "69001", "country": "FR"},
            },
            "collected_information": {
                "shipping_details": {
                    "name": "Ann Lee",
                    "address": {
                        "line1": "12 Rue des Fleurs",
                        "line2": None,
                        "city": "Lyon",
                        "postal_code": "69001",
                        "state": None,
                        "country": "FR",
                    },
                }
            },
            "consent": {"promotions": consent, "terms_of_service": None},
            "metadata": {},
        },
        created=created,
    )


def stripe_invoice_paid(
    event_id: str,
    invoice_id: str,
    email: str,
    customer: str,
    price: str,
    new_shape: bool = True,
    created: int | None = None,
    kind: str = "invoice.paid",
    plan_only: bool = False,
) -> bytes:
    """`invoice.paid` (or `kind="invoice.payment_succeeded"`, its twin); `new_shape` puts
    the price where API 2025-03-31+ does, `plan_only` names it only as the line's `plan`
    (older API versions, Stripe-compatible emulators)."""
    if plan_only:
        line = {"id": f"il_{invoice_id}", "object": "line_item", "quantity": 1, "plan": {"id": price, "object": "plan"}}
        extra = {"subscription": f"sub_{customer}"}
    elif new_shape:
        line = {
            "id": f"il_{invoice_id}",
            "object": "line_item",
            "quantity": 1,
            "pricing": {"type": "price_details", "price_details": {"price": price, "product": "prod_box"}},
            "parent": {"type": "subscription_item_details"},
        }
        extra = {
            "parent": {"type": "subscription_details", "subscription_details": {"subscription": f"sub_{customer}"}}
        }
    else:
        line = {"id": f"il_{invoice_id}", "object": "line_item", "quantity": 1, "price": {"id": price}}
        extra = {"subscription": f"sub_{customer}"}
    return _event(
        event_id,
        kind,
        {
            "id": invoice_id,
            "object": "invoice",
            "status": "paid",
            "billing_reason": "subscription_create",
            "customer": customer,
            "customer_email": email,
            "customer_name": "Ann Lee",
            "customer_address": {"line1": "12 Rue des Fleurs", "city": "Lyon", "postal_code": "69001", "country": "FR"},
            "amount_paid": 2900,
            "currency": "eur",
            "lines": {"object": "list", "data": [line]},
            **extra,
        },
        api_version="2025-03-31.basil" if new_shape and not plan_only else "2024-06-20",
        created=created,
    )


def stripe_payment_failed(
    event_id: str, invoice_id: str, email: str, customer: str, created: int | None = None
) -> bytes:
    return _event(
        event_id,
        "invoice.payment_failed",
        {"id": invoice_id, "object": "invoice", "customer": customer, "customer_email": email, "status": "open"},
        created=created,
    )


def stripe_subscription_deleted(event_id: str, customer: str, created: int | None = None) -> bytes:
    ended = int(time.time()) if created is None else created
    return _event(
        event_id,
        "customer.subscription.deleted",
        {
            "id": f"sub_{customer}",
            "object": "subscription",
            "customer": customer,
            "status": "canceled",
            "canceled_at": ended,
            "ended_at": ended,
        },
        created=created,
    )


def stripe_subscription_updated(
    event_id: str,
    customer: str,
    status: str = "active",
    cancel_at_period_end: bool = False,
    period_end: int = 1767225600,
    created: int | None = None,
) -> bytes:
    """`customer.subscription.updated` as API 2025-03-31+ sends it: the period on its items,
    and `cancel_at` set to the period's end when it cancels at period end."""
    return _event(
        event_id,
        "customer.subscription.updated",
        {
            "id": f"sub_{customer}",
            "object": "subscription",
            "customer": customer,
            "status": status,
            "cancel_at_period_end": cancel_at_period_end,
            "cancel_at": period_end if cancel_at_period_end else None,
            "canceled_at": None,
            "ended_at": None,
            "items": {
                "object": "list",
                "data": [{"id": f"si_{customer}", "object": "subscription_item", "current_period_end": period_end}],
            },
        },
        created=created,
    )


def stripe_customer_updated(event_id: str, customer: str, email: str, created: int | None = None) -> bytes:
    return _event(
        event_id,
        "customer.updated",
        {
            "id": customer,
            "object": "customer",
            "email": email,
            "name": "Ann Lee",
            "address": {"line1": "12 Rue des Fleurs", "city": "Lyon", "postal_code": "69001", "country": "FR"},
            "shipping": None,
        },
        created=created,
    )


def stripe_charge_refunded(event_id: str, email: str, customer: str, amount: int = 2900) -> bytes:
    return _event(
        event_id,
        "charge.refunded",
        {
            "id": f"ch_{event_id}",
            "object": "charge",
            "customer": customer,
            "amount_refunded": amount,
            "currency": "eur",
            "refunded": True,
            "billing_details": {"email": email},
        },
    )


def slack_command(text: str, trigger_id: str = "trig.1", response_url: str = "") -> bytes:
    return urlencode(
        {
            "token": "legacy-unused",
            "team_id": "T0001",
            "channel_id": "C0001",
            "user_id": "U0001",
            "user_name": "operator",
            "command": "/chocobox",
            "text": text,
            "response_url": response_url or "https://hooks.slack.com/commands/T0001/1/abc",
            "trigger_id": trigger_id,
        }
    ).encode()


def slack_mention(event_id: str, text: str, channel: str = "C0001") -> bytes:
    return json.dumps(
        {
            "token": "legacy-unused",
            "team_id": "T0001",
            "api_app_id": "A0001",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": {
                "type": "app_mention",
                "user": "U0001",
                "text": f"<@UBOT> {text}",
                "ts": "1.000100",
                "channel": channel,
            },
        }
    ).encode()


def slack_url_verification(challenge: str) -> bytes:
    return json.dumps({"token": "legacy-unused", "challenge": challenge, "type": "url_verification"}).encode()
