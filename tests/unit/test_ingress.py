"""Ingress: the pure parsing and normalising of Formstack, Stripe and Slack payloads.

The Stripe payloads are written here, shaped after Stripe's published object fixtures
(checkout.session, invoice in both API shapes, subscription, charge), trimmed to what
matters plus a few of the fields Stripe sends as null or empty.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import pytest

from chalicelib.domain import events as ev
from chalicelib.ingress import common, formstack, slack, stripe
from chalicelib.ingress.common import Rejection
from chalicelib.settings import DEFAULT_FORMSTACK_FIELDS

LABELS = dict(DEFAULT_FORMSTACK_FIELDS)

# --- common -----------------------------------------------------------------------


def test_media_type_ignores_case_and_parameters():
    assert common.media_type({"content-type": "Application/JSON; charset=utf-8"}) == "application/json"
    assert common.media_type({}) == ""


def test_header_is_found_case_insensitively():
    assert common.header({"x-fs-signature": "sha256=ab"}, "X-FS-Signature") == "sha256=ab"
    assert common.header({}, "X-FS-Signature") == ""


def test_check_size_refuses_over_one_mib():
    common.check_size(b"x" * common.MAX_BODY)
    with pytest.raises(Rejection) as exc:
        common.check_size(b"x" * (common.MAX_BODY + 1))
    assert exc.value.status == 413


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe", b"[1, 2]", b'"text"'])
def test_parse_json_object_refuses_what_is_not_an_object(raw):
    with pytest.raises(Rejection) as exc:
        common.parse_json_object(raw, "Thing")
    assert exc.value.status == 400
    assert "Thing" in exc.value.message


def test_format_address_leaves_out_empty_parts():
    assert common.format_address(["1 Rue X", "", None, "  ", "69001 Lyon "]) == "1 Rue X, 69001 Lyon"


# --- Formstack --------------------------------------------------------------------


def form(**fields: str) -> bytes:
    base = {"FormID": "5551234", "UniqueID": "987654321"}
    return urlencode({**base, **fields}).encode()


def test_formstack_url_encoded_subfields_are_read():
    raw = form(
        Name="first = Ann\nlast = Lee",
        Email=" Ann@Example.com ",
        Address="address = 1 Rue X\naddress2 = \ncity = Lyon\nzip = 69001",
        Box="Super",
        Newsletter="Yes",
    )
    fields = formstack.parse(raw, "application/x-www-form-urlencoded")
    assert fields["Name"] == {"first": "Ann", "last": "Lee"}
    assert fields["Address"] == {"address": "1 Rue X", "address2": "", "city": "Lyon", "zip": "69001"}

    before = int(time.time())
    event = formstack.to_event(fields, LABELS)
    assert before <= event.created <= time.time()  # when accepted: a form has no time of its own
    assert dataclasses.replace(event, created=0) == ev.SignedUp(
        event_id="formstack:987654321",
        email="ann@example.com",
        name="Ann Lee",
        address="1 Rue X, Lyon, 69001",
        box_value="Super",
        consent=True,
    )


def test_formstack_json_subfields_are_read():
    body = {
        "FormID": "5551234",
        "UniqueID": "42",
        "Name": {"first": "Ann", "last": "Lee"},
        "Email": "ann@example.com",
        "Address": {"address": "1 Rue X", "address2": "", "city": "Lyon", "zip": "69001", "country": "France"},
        "Box": "Classic",
        "Newsletter": ["Yes"],
    }
    fields = formstack.parse(json.dumps(body).encode(), "application/json")
    event = formstack.to_event(fields, LABELS)
    assert event.name == "Ann Lee"
    assert event.address == "1 Rue X, Lyon, 69001, France"
    assert event.box_value == "Classic"
    assert event.consent is True
    assert event.event_id == "formstack:42"


@pytest.mark.parametrize(
    ("newsletter", "consent"), [(None, False), ("", False), ("no", False), ("0", False), ("Yes", True)]
)
def test_formstack_consent(newsletter, consent):
    extra = {} if newsletter is None else {"Newsletter": newsletter}
    fields = formstack.parse(form(Email="ann@example.com", **extra), "application/x-www-form-urlencoded")
    assert formstack.to_event(fields, LABELS).consent is consent


def test_formstack_plain_values_are_not_mistaken_for_subfields():
    fields = formstack.parse(
        form(Email="ann@example.com", Name="Ann Lee", Box="2+2=4"), "application/x-www-form-urlencoded"
    )
    assert fields["Name"] == "Ann Lee"
    assert fields["Box"] == "2+2=4"


def test_formstack_custom_labels():
    labels = {**LABELS, "email": "E-mail address", "consent": "Send me offers"}
    raw = urlencode({"FormID": "1", "UniqueID": "2", "E-mail address": "ann@example.com", "Send me offers": "on"})
    event = formstack.to_event(formstack.parse(raw.encode(), "application/x-www-form-urlencoded"), labels)
    assert (event.email, event.consent) == ("ann@example.com", True)


def test_formstack_without_email_names_the_label_and_the_setting():
    fields = formstack.parse(form(Name="Ann"), "application/x-www-form-urlencoded")
    with pytest.raises(Rejection) as exc:
        formstack.to_event(fields, LABELS)
    assert exc.value.status == 400
    assert "'Email'" in exc.value.message
    assert "FORMSTACK_FIELDS" in exc.value.message


@pytest.mark.parametrize("missing", ["FormID", "UniqueID"])
def test_formstack_needs_form_and_unique_ids(missing):
    fields = formstack.parse(form(Email="ann@example.com"), "application/x-www-form-urlencoded")
    del fields[missing]
    with pytest.raises(Rejection) as exc:
        formstack.to_event(fields, LABELS)
    assert exc.value.status == 400


def test_formstack_handshake_key():
    fields = formstack.parse(form(Email="ann@example.com", HandshakeKey="s3cret"), "application/x-www-form-urlencoded")
    formstack.check_handshake(fields, "s3cret")
    assert formstack.to_event(fields, LABELS).email == "ann@example.com"
    with pytest.raises(Rejection) as exc:
        formstack.check_handshake(fields, "other")
    assert exc.value.status == 401
    del fields["HandshakeKey"]
    with pytest.raises(Rejection):
        formstack.check_handshake(fields, "s3cret")


@pytest.mark.parametrize("raw", [b"\xff\xfe=1", b"no-equals-sign", b"a=1&&b"])
def test_formstack_body_that_is_not_form_data_is_400(raw):
    with pytest.raises(Rejection) as exc:
        formstack.parse(raw, "application/x-www-form-urlencoded")
    assert exc.value.status == 400


def test_formstack_empty_body_is_refused_for_its_missing_ids():
    fields = formstack.parse(b"", "application/x-www-form-urlencoded")
    with pytest.raises(Rejection) as exc:
        formstack.to_event(fields, LABELS)
    assert exc.value.status == 400


def test_formstack_hmac_signature():
    raw = form(Email="ann@example.com")
    good = "sha256=" + hmac.new(b"k", raw, hashlib.sha256).hexdigest()
    formstack.verify(raw, {"X-FS-Signature": good}, "k")
    formstack.verify(raw, {"x-fs-signature": good.upper().replace("SHA256=", "sha256=")}, "k")
    formstack.verify(raw, {}, "")  # no key set: nothing to check
    for headers in ({}, {"X-FS-Signature": "sha256=00"}, {"X-FS-Signature": good[:-1] + "0"}):
        with pytest.raises(Rejection) as exc:
            formstack.verify(raw, headers, "k")
        assert exc.value.status == 401
    with pytest.raises(Rejection):
        formstack.verify(raw + b"&x=1", {"X-FS-Signature": good}, "k")


# --- Stripe -----------------------------------------------------------------------

ADDRESS = {"line1": "1 Rue X", "line2": None, "postal_code": "69001", "city": "Lyon", "state": None, "country": "FR"}
NULL_ADDRESS = dict.fromkeys(("city", "country", "line1", "line2", "postal_code", "state"))


def stripe_event(kind: str, obj: dict, event_id: str = "evt_1", created: int | None = None) -> dict:
    event = {
        "id": event_id,
        "object": "event",
        "type": kind,
        "api_version": "2025-03-31.basil",
        "data": {"object": obj},
    }
    if created is not None:
        event["created"] = created
    return event


def checkout_session(**over) -> dict:
    session = {
        "id": "cs_test_1",
        "object": "checkout.session",
        "mode": "subscription",
        "customer": "cus_ann",
        "customer_email": None,
        "customer_details": {"email": "ann@example.com", "name": "Ann Billing", "address": NULL_ADDRESS},
        "collected_information": {"shipping_details": {"name": "Ann Lee", "address": ADDRESS}},
        "consent": {"promotions": "opt_in", "terms_of_service": None},
        "metadata": {"price": "price_super_monthly"},
        "subscription": "sub_ann",
        "payment_status": "paid",
    }
    session.update(over)
    return session


def invoice_line_new(price: str) -> dict:
    # API 2025-03-31 and later: the price is under pricing.price_details.
    return {
        "id": "il_1",
        "object": "line_item",
        "amount": 2900,
        "pricing": {"type": "price_details", "price_details": {"price": price, "product": "prod_1"}},
        "parent": {"type": "subscription_item_details", "subscription_item_details": {"subscription": "sub_ann"}},
    }


def invoice_line_old(price: str) -> dict:
    # Before 2025-03-31: a full price object on the line.
    return {"id": "il_1", "object": "line_item", "amount": 2900, "price": {"id": price, "object": "price"}}


def invoice_obj(lines: list[dict], **over) -> dict:
    invoice = {
        "id": "in_1",
        "object": "invoice",
        "customer": "cus_ann",
        "customer_email": "ann@example.com",
        "customer_name": "Ann Lee",
        "customer_address": NULL_ADDRESS,
        "customer_shipping": {"name": "Ann Lee", "address": ADDRESS},
        "lines": {"object": "list", "data": lines, "has_more": False},
        "status": "paid",
    }
    invoice.update(over)
    return invoice


def test_checkout_session_completed():
    event = stripe.to_event(stripe_event("checkout.session.completed", checkout_session()))
    assert event == ev.CheckoutCompleted(
        event_id="stripe:evt_1",
        email="ann@example.com",
        name="Ann Lee",
        address="1 Rue X, 69001 Lyon, FR",
        stripe_customer="cus_ann",
        consent=True,
        price_ids=("price_super_monthly",),
    )


@pytest.mark.parametrize(("promotions", "consent"), [("opt_in", True), ("opt_out", False), (None, None)])
def test_checkout_consent(promotions, consent):
    session = checkout_session(consent={"promotions": promotions, "terms_of_service": None})
    assert stripe.to_event(stripe_event("checkout.session.completed", session)).consent is consent


def test_checkout_without_consent_collection():
    session = checkout_session(consent=None)
    assert stripe.to_event(stripe_event("checkout.session.completed", session)).consent is None


def test_checkout_falls_back_to_older_and_billing_fields():
    session = checkout_session(
        collected_information=None,
        shipping_details=None,
        customer_details={"email": None, "name": "Ann Billing", "address": ADDRESS},
        customer_email="ann@example.com",
        metadata={},
        customer=None,
    )
    event = stripe.to_event(stripe_event("checkout.session.completed", session))
    assert (event.email, event.name, event.address) == ("ann@example.com", "Ann Billing", "1 Rue X, 69001 Lyon, FR")
    assert event.price_ids == ()
    assert event.stripe_customer == ""


def test_checkout_with_pre_2025_shipping_details():
    session = checkout_session(collected_information=None, shipping_details={"name": "Ann Ship", "address": ADDRESS})
    event = stripe.to_event(stripe_event("checkout.session.completed", session))
    assert event.name == "Ann Ship"


def test_checkout_without_any_email_is_400():
    session = checkout_session(customer_details={"email": None, "name": None, "address": None}, customer_email=None)
    with pytest.raises(Rejection) as exc:
        stripe.to_event(stripe_event("checkout.session.completed", session))
    assert exc.value.status == 400


@pytest.mark.parametrize("line", [invoice_line_new, invoice_line_old], ids=["2025-03-31+", "before"])
def test_invoice_price_ids_in_both_api_shapes(line):
    invoice = invoice_obj([line("price_super_monthly"), line("price_gift_wrap")])
    assert stripe.invoice_price_ids(invoice) == ("price_super_monthly", "price_gift_wrap")


def test_invoice_price_ids_of_odd_lines():
    lines = [
        {"id": "il_0", "pricing": {"type": "price_details", "unit_amount_decimal": None}},  # no price_details
        {"id": "il_1", "price": None},
        invoice_line_new("price_a"),
    ]
    assert stripe.invoice_price_ids(invoice_obj(lines)) == ("price_a",)
    assert stripe.invoice_price_ids({"id": "in_1"}) == ()
    assert stripe.invoice_price_ids({"id": "in_1", "lines": None}) == ()


def test_invoice_paid_new_api():
    invoice = invoice_obj(
        [invoice_line_new("price_super_monthly")],
        parent={"type": "subscription_details", "subscription_details": {"subscription": "sub_ann", "metadata": {}}},
    )
    event = stripe.to_event(stripe_event("invoice.paid", invoice, "evt_9"))
    assert event == ev.InvoicePaid(
        event_id="stripe:evt_9",
        invoice_id="in_1",
        email="ann@example.com",
        name="Ann Lee",
        address="1 Rue X, 69001 Lyon, FR",
        stripe_customer="cus_ann",
        price_ids=("price_super_monthly",),
        subscription="sub_ann",
    )


def test_invoice_paid_old_api():
    invoice = invoice_obj([invoice_line_old("price_classic_monthly")], subscription="sub_old")
    event = stripe.to_event(stripe_event("invoice.paid", invoice))
    assert event.price_ids == ("price_classic_monthly",)
    assert event.subscription == "sub_old"


def test_invoice_paid_with_nulls_where_stripe_sends_them():
    invoice = invoice_obj(
        [invoice_line_new("price_a")],
        customer_email=None,
        customer_name=None,
        customer_shipping=None,
        customer_address={**ADDRESS, "line1": "9 Bill St"},
        subscription=None,
        parent=None,
    )
    event = stripe.to_event(stripe_event("invoice.paid", invoice))
    assert (event.email, event.name, event.subscription) == ("", "", "")
    assert event.address == "9 Bill St, 69001 Lyon, FR"


def test_invoice_paid_without_an_id_is_400():
    with pytest.raises(Rejection) as exc:
        stripe.to_event(stripe_event("invoice.paid", invoice_obj([], id=None)))
    assert exc.value.status == 400


def test_invoice_payment_failed():
    invoice = invoice_obj([invoice_line_new("price_a")], id="in_2", customer_email=None, status="open")
    assert stripe.to_event(stripe_event("invoice.payment_failed", invoice, "evt_pf")) == ev.PaymentFailed(
        event_id="stripe:evt_pf", invoice_id="in_2", email="", stripe_customer="cus_ann"
    )


def test_customer_subscription_deleted():
    subscription = {
        "id": "sub_ann",
        "object": "subscription",
        "customer": "cus_ann",
        "status": "canceled",
        "items": {"object": "list", "data": [{"id": "si_1", "price": {"id": "price_a"}}]},
        "cancellation_details": {"comment": None, "feedback": None, "reason": "cancellation_requested"},
    }
    assert stripe.to_event(stripe_event("customer.subscription.deleted", subscription, "evt_sd")) == (
        ev.SubscriptionCancelled(event_id="stripe:evt_sd", subscription="sub_ann", stripe_customer="cus_ann")
    )


def test_charge_refunded():
    charge = {
        "id": "ch_1",
        "object": "charge",
        "amount": 2900,
        "amount_refunded": 2900,
        "currency": "eur",
        "customer": "cus_ann",
        "billing_details": {"address": NULL_ADDRESS, "email": None, "name": "Ann Lee", "phone": None},
        "receipt_email": "ann@example.com",
        "refunded": True,
    }
    assert stripe.to_event(stripe_event("charge.refunded", charge, "evt_rf")) == ev.ChargeRefunded(
        event_id="stripe:evt_rf",
        charge_id="ch_1",
        email="ann@example.com",
        stripe_customer="cus_ann",
        amount_refunded=2900,
        currency="eur",
    )


def test_charge_refunded_prefers_the_billing_email():
    charge = {"id": "ch_1", "billing_details": {"email": "bill@example.com"}, "receipt_email": "r@example.com"}
    event = stripe.to_event(stripe_event("charge.refunded", charge))
    assert (event.email, event.amount_refunded, event.currency, event.stripe_customer) == (
        "bill@example.com",
        0,
        "",
        "",
    )


@pytest.mark.parametrize("kind", ["customer.created", "invoice.created", "payment_intent.succeeded"])
def test_unhandled_stripe_types_are_ignored(kind):
    assert stripe.to_event(stripe_event(kind, {"id": "x"})) is None


def test_every_handled_type_makes_an_event():
    objects = {
        "checkout.session.completed": checkout_session(),
        "invoice.paid": invoice_obj([invoice_line_new("price_a")]),
        "invoice.payment_succeeded": invoice_obj([invoice_line_new("price_a")]),
        "invoice.payment_failed": invoice_obj([]),
        "customer.subscription.updated": {"id": "sub_1", "customer": "cus_1", "status": "active"},
        "customer.subscription.deleted": {"id": "sub_1", "customer": "cus_1"},
        "customer.updated": {"id": "cus_1", "email": "ann@example.com"},
        "charge.refunded": {"id": "ch_1"},
    }
    assert set(objects) == set(stripe.HANDLED)
    for kind, obj in objects.items():
        assert stripe.to_event(stripe_event(kind, obj)) is not None, kind


def test_stripe_events_survive_the_queue():
    event = stripe.to_event(stripe_event("invoice.paid", invoice_obj([invoice_line_new("price_a")])))
    assert ev.from_message(json.loads(json.dumps(ev.to_message(event)))) == event


# --- Slack ------------------------------------------------------------------------


def mention(**event_over) -> dict:
    event = {"type": "app_mention", "user": "U1", "text": "<@U0BOT> stats", "ts": "1717.0001", "channel": "C1"}
    event.update(event_over)
    return {"type": "event_callback", "team_id": "T1", "event_id": "Ev01", "event_time": 1717, "event": event}


def test_slack_mention_answers_in_its_thread():
    assert slack.to_event(mention()) == ev.SlackMention(
        event_id="slack:Ev01", channel="C1", text="<@U0BOT> stats", thread_ts="1717.0001", user="U1"
    )
    assert slack.to_event(mention(thread_ts="1700.0")).thread_ts == "1700.0"


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "url_verification", "challenge": "abc"},
        {"type": "event_callback", "event_id": "Ev1", "event": {"type": "message", "channel": "C1", "text": "hi"}},
        {"type": "event_callback", "event_id": "Ev1"},
    ],
)
def test_slack_payloads_the_hub_ignores(payload):
    assert slack.to_event(payload) is None


def test_slack_ignores_bots_to_avoid_loops():
    assert slack.to_event(mention(bot_id="B1")) is None


@pytest.mark.parametrize("broken", [{"event_id": ""}, {"event": {"type": "app_mention", "text": "hi"}}])
def test_slack_mention_without_event_id_or_channel_is_400(broken):
    payload = {**mention(), **broken}
    with pytest.raises(Rejection) as exc:
        slack.to_event(payload)
    assert exc.value.status == 400


def test_slack_mention_without_text():
    assert slack.to_event(mention(text=None)).text == ""


def test_slack_event_body_must_be_an_object():
    assert slack.parse_event(b'{"type": "url_verification"}') == {"type": "url_verification"}
    with pytest.raises(Rejection):
        slack.parse_event(b"[]")


def test_slack_command_fields():
    raw = urlencode(
        {
            "command": "/chocobox",
            "text": "find ann@example.com",
            "response_url": "https://hooks.slack.com/commands/T1/1/x",
            "user_id": "U1",
        }
    ).encode()
    fields = slack.parse_command(raw)
    assert fields["command"] == "/chocobox"
    assert fields["text"] == "find ann@example.com"
    assert fields["response_url"].startswith("https://hooks.slack.com/")


@pytest.mark.parametrize("raw", [b"text=stats", b"", b"\xff=1"])
def test_slack_command_without_command_or_not_form_data_is_400(raw):
    with pytest.raises(Rejection) as exc:
        slack.parse_command(raw)
    assert exc.value.status == 400


# --- Stripe: as it really sends (issue 9) ----------------------------------------------


def invoice_line_plan(price: str) -> dict:
    # Older API versions and Stripe-compatible emulators: only a plan on the line.
    return {"id": "il_1", "object": "line_item", "amount": 2900, "plan": {"id": price, "object": "plan"}}


def test_invoice_price_falls_back_to_the_plan():
    assert stripe.invoice_price_ids(invoice_obj([invoice_line_plan("price_classic_monthly")])) == (
        "price_classic_monthly",
    )
    both = {**invoice_line_old("price_new"), "plan": {"id": "price_old"}}
    assert stripe.invoice_price_ids(invoice_obj([both])) == ("price_new",)  # price before plan


@pytest.mark.parametrize("kind", ["invoice.paid", "invoice.payment_succeeded"])
def test_payment_succeeded_is_a_paid_invoice_like_invoice_paid(kind):
    event = stripe.to_event(stripe_event(kind, invoice_obj([invoice_line_new("price_a")]), created=1750000000))
    assert isinstance(event, ev.InvoicePaid)
    assert (event.invoice_id, event.stripe_customer, event.created) == ("in_1", "cus_ann", 1750000000)


def test_every_stripe_event_keeps_its_created():
    for kind, obj in [
        ("checkout.session.completed", checkout_session()),
        ("invoice.payment_failed", invoice_obj([])),
        ("customer.subscription.deleted", {"id": "sub_1", "customer": "cus_1", "ended_at": 1750000500}),
        ("customer.subscription.updated", {"id": "sub_1", "customer": "cus_1", "status": "past_due"}),
        ("customer.updated", {"id": "cus_1", "email": "a@example.com"}),
    ]:
        assert stripe.to_event(stripe_event(kind, obj, created=1750000001)).created == 1750000001, kind
    assert stripe.to_event(stripe_event("invoice.payment_failed", invoice_obj([]))).created == 0  # absent


def test_subscription_deleted_says_when_it_ended():
    sub = {"id": "sub_1", "customer": "cus_1", "status": "canceled", "ended_at": 1750000500, "canceled_at": 1750000400}
    assert stripe.to_event(stripe_event("customer.subscription.deleted", sub)).ended_at == 1750000500
    del sub["ended_at"]
    assert stripe.to_event(stripe_event("customer.subscription.deleted", sub)).ended_at == 1750000400


@pytest.mark.parametrize(
    ("sub", "ends_at"),
    [
        ({"cancel_at_period_end": False, "cancel_at": None, "current_period_end": 1752000000}, 0),
        # before API 2025-03-31, the period's end is on the subscription
        ({"cancel_at_period_end": True, "cancel_at": None, "current_period_end": 1752000000}, 1752000000),
        # since, on its items
        ({"cancel_at_period_end": True, "items": {"data": [{"current_period_end": 1752000000}]}}, 1752000000),
        # Stripe also sets cancel_at: it wins, and so does a cancellation at a chosen date
        ({"cancel_at_period_end": True, "cancel_at": 1752000001, "current_period_end": 1752000000}, 1752000001),
        ({"cancel_at_period_end": False, "cancel_at": 1753000000}, 1753000000),
        ({"cancel_at_period_end": True}, 0),  # no date given at all
        ({"status": "canceled", "cancel_at": 1753000000, "ended_at": 1751000000}, 1751000000),  # it ended
    ],
)
def test_subscription_updated_reads_its_status_and_end(sub, ends_at):
    obj = {"id": "sub_1", "object": "subscription", "customer": "cus_1", "status": "active", **sub}
    status = obj["status"]
    event = stripe.to_event(stripe_event("customer.subscription.updated", obj, created=1750000002))
    assert event == ev.SubscriptionUpdated(
        event_id="stripe:evt_1",
        subscription="sub_1",
        stripe_customer="cus_1",
        status=status,
        cancel_at_period_end=bool(sub.get("cancel_at_period_end")),
        ends_at=ends_at,
        created=1750000002,
    )


def test_subscription_updated_without_customer_or_status_is_malformed():
    with pytest.raises(Rejection) as err:
        stripe.to_event(stripe_event("customer.subscription.updated", {"id": "sub_1", "status": "active"}))
    assert err.value.status == 400


def test_customer_updated_carries_the_new_email_and_shipping_first():
    obj = {
        "id": "cus_1",
        "object": "customer",
        "email": "new@example.com",
        "name": "Ann Billing",
        "address": NULL_ADDRESS,
        "shipping": {"name": "Ann Lee", "address": ADDRESS},
    }
    event = stripe.to_event(stripe_event("customer.updated", obj, created=1750000003))
    assert (event.stripe_customer, event.email, event.name, event.created) == (
        "cus_1",
        "new@example.com",
        "Ann Lee",
        1750000003,
    )
    assert event.address == stripe.to_event(stripe_event("checkout.session.completed", checkout_session())).address


def test_stripe_future_check_reads_the_timestamp_the_library_verified():
    """A second `t=` in the header must not slip a future-dated signature past the check."""
    import time

    body = b'{"id": "evt_1", "type": "invoice.paid", "data": {"object": {}}}'
    ahead = int(time.time()) + 3600
    v1 = hmac.new(b"whsec_k", f"{ahead}.".encode() + body, hashlib.sha256).hexdigest()
    for header in (f"t={ahead},v1={v1}", f"t={ahead},v1={v1},t=1"):
        with pytest.raises(Rejection, match="future") as exc:
            stripe.verify(body, header, "whsec_k")
        assert exc.value.status == 401
