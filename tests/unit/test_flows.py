"""What each event causes, against in-memory fakes of every port.

Each test replays the situations a queue delivering at least once, out of order, with
crashes in between, will produce, and checks the lasting effects: sheet rows, stock
orders, emails, Slack messages.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from dataclasses import replace as dataclass_replace
from typing import ClassVar

import pytest

from chalicelib import flows, queues
from chalicelib.domain import events as ev
from chalicelib.domain.customer import Customer, email_digest
from chalicelib.errors import PermanentError, TransientError
from chalicelib.unsubscribe import make_token, read_token
from tests.unit.port_fakes import CHANNEL, MAIL_DOMAIN, OPERATOR, PUBLIC_URL, SECRET_KEY, TODAY, World

ANN = "ann@example.com"


def signup(
    email: str = ANN, consent: bool = True, box: str = "Classic", uid: str = "1", name: str = "Ann Lee"
) -> ev.SignedUp:
    return ev.SignedUp(
        event_id=f"formstack:{uid}",
        email=email,
        name=name,
        address="1 Rue X, 69001 Lyon",
        box_value=box,
        consent=consent,
    )


def checkout(
    email: str = ANN,
    customer: str = "cus_ann",
    consent: bool | None = True,
    price: str = "",
    evt: str = "cs1",
    at: int = 0,
) -> ev.CheckoutCompleted:
    return ev.CheckoutCompleted(
        event_id=f"stripe:evt_{evt}",
        email=email,
        name="Ann Lee",
        address="1 Rue X, 69001 Lyon, FR",
        stripe_customer=customer,
        consent=consent,
        price_ids=(price,) if price else (),
        created=at,
    )


def invoice(
    invoice_id: str = "in_1",
    email: str = ANN,
    customer: str = "cus_ann",
    price: str = "price_super_monthly",
    evt: str | None = None,
    at: int = 0,
) -> ev.InvoicePaid:
    return ev.InvoicePaid(
        event_id=f"stripe:evt_{evt or invoice_id}",
        invoice_id=invoice_id,
        email=email,
        name="Ann Lee",
        address="1 Rue X, 69001 Lyon, FR",
        stripe_customer=customer,
        price_ids=("price_shipping", price),
        subscription="sub_ann",
        created=at,
    )


def mail_sends(w: World) -> list:
    return [s for s in w.queue.sent if s.queue == queues.MAIL]


@pytest.fixture
def w() -> World:
    return World()


# --- sign-up ----------------------------------------------------------------------


def test_sign_up_adds_a_registered_row_and_queues_one_marketing_email(w):
    w.handle(signup(consent=True))

    assert w.sheet.rows == [
        Customer(
            email=ANN,
            name="Ann Lee",
            address="1 Rue X, 69001 Lyon",
            box="BOX-CLASSIC",
            status="registered",
            consent=True,
            signed_up=TODAY,
        )
    ]
    assert len(mail_sends(w)) == 1
    assert w.queue.events(queues.MAIL) == [
        ev.MarketingDue(event_id=f"mail:{email_digest(ANN)}:newcomer", email=ANN, campaign="newcomer")
    ]


def test_sign_up_without_consent_queues_no_email(w):
    w.handle(signup(consent=False))

    assert w.sheet.row(ANN).consent is False
    assert w.sheet.row(ANN).status == "registered"
    assert w.queue.sent == []


def test_a_second_sign_up_fills_empty_cells_and_sets_the_box_of_a_registered_customer(w):
    w.handle(signup(consent=True, name="Ann"))
    w.today = "2025-07-01"
    w.handle(signup(email="  ANN@Example.COM ", consent=True, name="Ann Lee-Martin", box="Super", uid="2"))

    assert len(w.sheet.rows) == 1
    row = w.sheet.row(ANN)
    assert row.email == ANN
    assert row.name == "Ann"  # a public form never overwrites a name
    assert row.box == "BOX-SUPER"
    assert row.signed_up == TODAY  # the first sign-up's day stays
    assert len(w.queue.waiting(queues.MAIL)) == 1  # consent was already given: one email waits (a copy is deduplicated)


def test_the_same_sign_up_delivered_twice_changes_nothing_the_second_time(w):
    w.handle(signup())
    saves = w.sheet.saves
    w.handle(signup())

    assert w.sheet.saves == saves
    assert len(w.queue.waiting(queues.MAIL)) == 1


def test_consent_given_on_a_later_sign_up_queues_the_email_then(w):
    w.handle(signup(consent=False))
    assert mail_sends(w) == []
    w.handle(signup(consent=True, uid="2"))

    assert w.sheet.row(ANN).consent is True
    assert len(mail_sends(w)) == 1


def test_a_super_box_sign_up_is_sent_the_welcome(w):
    w.handle(signup(box="Super"))
    w.drain(queues.MAIL)
    assert [m.subject for m in w.mailer.sent] == ["Welcome to the Super box"]


def test_a_sign_up_with_no_box_answer_is_sent_the_upsell(w):
    w.handle(signup(box=""))
    assert w.sheet.row(ANN).box == ""
    w.drain(queues.MAIL)
    assert [m.subject for m in w.mailer.sent] == ["Treat yourself to the Super box"]


def test_a_sign_up_without_a_valid_email_is_permanent_and_writes_nothing(w):
    with pytest.raises(PermanentError, match="not an email address"):
        w.handle(signup(email="ann at example"))
    assert w.sheet.rows == []
    assert w.queue.sent == []


def test_a_sign_up_naming_an_unknown_box_is_permanent(w):
    with pytest.raises(PermanentError, match="'Giant'"):
        w.handle(signup(box="Giant"))
    assert w.sheet.rows == []


def test_a_marketing_email_lost_to_a_queue_outage_is_queued_by_the_retry(w):
    # The row is saved, then the queue refuses the marketing message: the retry finds the
    # consent already in the row, and must still queue the email that was never tried.
    w.queue.fail_next("send")
    with pytest.raises(TransientError):
        w.handle(signup(consent=True))
    w.handle(signup(consent=True))
    assert len(mail_sends(w)) == 1

    w.drain(queues.MAIL)
    assert [m.to for m in w.mailer.sent] == [ANN]
    w.handle(signup(consent=True))  # sent once: a later copy of the sign-up queues nothing
    assert len(mail_sends(w)) == 1


def test_a_sign_up_without_consent_never_queues_for_a_consenting_row(w):
    w.handle(signup(consent=True))
    w.drain(queues.MAIL)
    w.handle(signup(consent=False))
    assert len(mail_sends(w)) == 1 and len(w.mailer.sent) == 1


# --- checkout ---------------------------------------------------------------------


def test_checkout_makes_the_customer_active_with_the_stripe_id(w):
    w.handle(signup(consent=False))
    w.handle(checkout(consent=True, price="price_super_monthly"))

    row = w.sheet.row(ANN)
    assert row.status == "active"
    assert row.stripe_customer == "cus_ann"
    assert row.box == "BOX-SUPER"
    assert row.consent is True
    assert row.address == "1 Rue X, 69001 Lyon, FR"
    assert len(mail_sends(w)) == 1  # consent arrived with the checkout
    notes = w.queue.events(queues.SLACK)
    assert len(notes) == 1
    assert "Ann Lee" in notes[0].text


def test_a_name_cannot_ping_or_link_in_slack(w):
    hostile = dataclasses.replace(checkout(), name="<!channel> <https://evil.example|Stripe: log in again> & co")
    w.handle(hostile)
    [note] = w.queue.events(queues.SLACK)
    assert "<" not in note.text and ">" not in note.text
    assert "&lt;!channel&gt; &lt;https://evil.example|Stripe: log in again&gt; &amp; co" in note.text


def test_checkout_without_a_consent_answer_keeps_the_consent(w):
    w.handle(signup(consent=True))
    w.handle(checkout(consent=None))
    assert w.sheet.row(ANN).consent is True


def test_checkout_before_any_sign_up_creates_an_active_row(w):
    w.handle(checkout(consent=False))
    row = w.sheet.row(ANN)
    assert (row.status, row.signed_up, row.stripe_customer) == ("active", TODAY, "cus_ann")


def test_a_sign_up_after_checkout_does_not_downgrade(w):
    w.handle(checkout(consent=True))
    w.handle(signup(consent=True, name="Ann L."))

    row = w.sheet.row(ANN)
    assert row.status == "active"
    assert row.stripe_customer == "cus_ann"
    assert row.name == "Ann Lee"  # Stripe's verified name stays


def test_checkout_of_a_past_due_customer_makes_them_active_again(w):
    w.sheet.type_row(Customer(email=ANN, status="past_due", stripe_customer="cus_ann"))
    w.handle(checkout())
    assert w.sheet.row(ANN).status == "active"


def test_checkout_with_an_unknown_price_is_permanent(w):
    with pytest.raises(PermanentError, match="price_mystery"):
        w.handle(checkout(price="price_mystery"))
    assert w.sheet.rows == []


# --- invoice paid: the order ------------------------------------------------------


def test_invoice_paid_creates_the_partner_and_one_confirmed_order(w):
    w.handle(signup(consent=False))
    w.handle(invoice("in_1"))

    assert len(w.stock.partners) == 1
    partner = w.stock.partners[0]
    assert (partner["email"], partner["name"], partner["address"]) == (ANN, "Ann Lee", "1 Rue X, 69001 Lyon, FR")
    [order] = w.stock.orders
    assert (order.ref, order.sku, order.state, order.partner_id) == ("in_1", "BOX-SUPER", "sale", partner["id"])

    row = w.sheet.row(ANN)
    assert row.last_order == f"{TODAY} in_1"
    assert row.status == "active"
    assert row.box == "BOX-SUPER"
    assert row.stripe_customer == "cus_ann"

    [note] = w.queue.events(queues.SLACK)
    assert "in_1" in note.text
    assert "Super box" in note.text
    w.drain(queues.SLACK)
    assert [(channel, "in_1" in text) for channel, text, _ in w.notifier.posts] == [(CHANNEL, True)]


def test_the_same_invoice_twice_makes_one_order(w):
    w.handle(invoice("in_1"))
    w.handle(invoice("in_1"))

    assert len(w.stock.orders_for("in_1")) == 1
    assert len(w.stock.partners) == 1
    assert w.stock.calls.count("create_order") == 1
    assert len(w.queue.waiting(queues.SLACK)) == 1  # the second notification is deduplicated


def test_the_same_invoice_in_two_stripe_events_makes_one_order(w):
    # Stripe may send invoice.paid under two event ids (e.g. a resend from the dashboard).
    w.handle(invoice("in_1", evt="a"))
    w.handle(invoice("in_1", evt="b"))
    assert len(w.stock.orders_for("in_1")) == 1


def test_each_month_is_its_own_order_for_the_same_partner(w):
    w.handle(invoice("in_1"))
    w.today = "2025-07-01"
    w.handle(invoice("in_2"))

    assert [o.ref for o in w.stock.orders] == ["in_1", "in_2"]
    assert {o.partner_id for o in w.stock.orders} == {1}
    assert all(o.state == "sale" for o in w.stock.orders)
    assert w.sheet.row(ANN).last_order == "2025-07-01 in_2"


def test_an_order_created_but_not_confirmed_is_confirmed_on_retry(w):
    w.stock.fail_next("confirm_order")
    with pytest.raises(TransientError):
        w.handle(invoice("in_1"))
    assert [o.state for o in w.stock.orders] == ["draft"]

    w.handle(invoice("in_1"))

    assert [(o.ref, o.state) for o in w.stock.orders] == [("in_1", "sale")]
    assert w.stock.calls.count("create_order") == 1


def test_a_lost_create_answer_then_a_retry_makes_one_order(w):
    w.stock.lose_next_create_answer()
    with pytest.raises(TransientError):
        w.handle(invoice("in_1"))
    assert len(w.stock.orders) == 1  # it was stored, though the flow never heard back

    w.handle(invoice("in_1"))

    assert [(o.ref, o.state) for o in w.stock.orders] == [("in_1", "sale")]


def test_a_stock_outage_before_the_order_leaves_nothing_half_done_on_retry(w):
    w.stock.fail_next("ensure_partner")
    with pytest.raises(TransientError):
        w.handle(invoice("in_1"))
    assert w.stock.orders == []
    w.handle(invoice("in_1"))
    assert [(o.ref, o.state) for o in w.stock.orders] == [("in_1", "sale")]
    assert len(w.stock.partners) == 1


def test_a_slack_queue_outage_after_the_order_does_not_double_it(w):
    w.queue.fail_next("send")
    with pytest.raises(TransientError):
        w.handle(invoice("in_1"))
    w.handle(invoice("in_1"))
    assert len(w.stock.orders) == 1
    assert len(w.queue.waiting(queues.SLACK)) == 1


def test_invoice_paid_before_any_sign_up_still_ends_with_customer_and_order(w):
    w.handle(invoice("in_1"))
    w.handle(signup(consent=True, box="Super", name="Ann"))
    w.handle(checkout(consent=True))

    row = w.sheet.row(ANN)
    assert row.status == "active"
    assert row.last_order == f"{TODAY} in_1"
    assert row.stripe_customer == "cus_ann"
    assert row.consent is True
    assert [(o.ref, o.state) for o in w.stock.orders] == [("in_1", "sale")]
    assert len(w.queue.waiting(queues.MAIL)) == 1


def test_invoice_paid_without_email_finds_the_customer_by_stripe_id(w):
    w.handle(checkout(consent=False))
    w.handle(invoice("in_1", email=""))

    assert w.stock.partner(w.stock.orders[0].partner_id)["email"] == ANN
    assert w.sheet.row(ANN).last_order == f"{TODAY} in_1"
    assert len(w.sheet.rows) == 1


def test_invoice_paid_without_email_and_an_unknown_stripe_customer_waits(w):
    with pytest.raises(TransientError, match="cus_ghost"):
        w.handle(invoice("in_1", email="", customer="cus_ghost"))
    assert w.sheet.rows == []
    assert w.stock.orders == []
    assert w.stock.partners == []


def test_invoice_paid_with_an_unknown_price_is_permanent_and_names_it(w):
    with pytest.raises(PermanentError, match="price_unknown_42"):
        w.handle(invoice("in_1", price="price_unknown_42"))
    assert w.stock.orders == []
    assert w.sheet.rows == []


def test_invoice_paid_for_a_product_missing_from_stock_is_permanent(w):
    w.stock.skus.discard("BOX-SUPER")
    with pytest.raises(PermanentError, match="BOX-SUPER"):
        w.handle(invoice("in_1"))
    assert w.stock.orders == []


# --- payment failed, cancelled, refunded --------------------------------------------


def test_payment_failed_makes_the_customer_past_due(w):
    w.handle(checkout())
    w.handle(ev.PaymentFailed("stripe:evt_pf", invoice_id="in_2", email=ANN, stripe_customer="cus_ann"))

    assert w.sheet.row(ANN).status == "past_due"
    notes = w.queue.events(queues.SLACK)
    assert any("in_2" in n.text and ANN in n.text for n in notes)


def test_payment_failed_without_email_is_found_by_stripe_id(w):
    w.handle(checkout())
    w.handle(ev.PaymentFailed("stripe:evt_pf", invoice_id="in_2", stripe_customer="cus_ann"))
    assert w.sheet.row(ANN).status == "past_due"


def test_a_paid_invoice_after_a_failed_payment_makes_the_customer_active_again(w):
    w.handle(checkout(at=100))
    w.handle(ev.PaymentFailed("stripe:evt_pf", invoice_id="in_2", email=ANN, created=200))
    w.handle(invoice("in_2", at=300))
    assert w.sheet.row(ANN).status == "active"


def test_subscription_deleted_cancels_the_customer_found_by_stripe_id(w):
    w.handle(checkout())
    w.handle(ev.SubscriptionCancelled("stripe:evt_sd", subscription="sub_ann", stripe_customer="cus_ann"))

    assert w.sheet.row(ANN).status == "cancelled"
    assert any("sub_ann" in n.text for n in w.queue.events(queues.SLACK))


def test_subscription_deleted_for_an_unknown_stripe_customer_waits(w):
    with pytest.raises(TransientError):
        w.handle(ev.SubscriptionCancelled("stripe:evt_sd", subscription="sub_x", stripe_customer="cus_ghost"))
    assert w.sheet.rows == []


def test_a_late_payment_failure_after_cancellation_keeps_the_customer_cancelled(w):
    w.handle(checkout(at=100))
    w.handle(ev.SubscriptionCancelled("stripe:evt_sd", subscription="sub_ann", stripe_customer="cus_ann", created=300))
    w.handle(ev.PaymentFailed("stripe:evt_pf", invoice_id="in_3", stripe_customer="cus_ann", created=200))
    assert w.sheet.row(ANN).status == "cancelled"
    assert not any("in_3" in n.text for n in w.queue.events(queues.SLACK))  # no "now past due" alert


def test_refund_notifies_and_leaves_the_status(w):
    w.handle(checkout())
    saves = w.sheet.saves
    w.handle(ev.ChargeRefunded("stripe:evt_rf", charge_id="ch_1", email=ANN, amount_refunded=1250, currency="eur"))

    assert w.sheet.row(ANN).status == "active"
    assert w.sheet.saves == saves
    texts = [n.text for n in w.queue.events(queues.SLACK)]
    assert any("12.50 EUR" in t and ANN in t and "ch_1" in t for t in texts)


def test_refund_of_an_unknown_customer_still_notifies(w):
    w.handle(ev.ChargeRefunded("stripe:evt_rf", charge_id="ch_9", amount_refunded=500, currency="usd"))
    [note] = w.queue.events(queues.SLACK)
    assert "5.00 USD" in note.text
    assert "ch_9" in note.text
    assert w.sheet.rows == []


# --- marketing email ----------------------------------------------------------------


def due(email: str = ANN, campaign: str = "newcomer") -> ev.MarketingDue:
    return ev.MarketingDue(event_id=f"mail:{email}:{campaign}", email=email, campaign=campaign)


def test_sign_up_to_sent_email_with_one_click_unsubscribe(w):
    w.handle(signup(consent=True))
    assert w.drain(queues.MAIL) == 1

    [mail] = w.mailer.sent
    assert mail.to == ANN
    token = make_token(SECRET_KEY, ANN)
    assert mail.headers["List-Unsubscribe"] == f"<{PUBLIC_URL}/unsubscribe/{token}>"
    assert mail.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert read_token(SECRET_KEY, token) == ANN
    assert f"{PUBLIC_URL}/unsubscribe/{token}" in mail.text
    assert f"{PUBLIC_URL}/unsubscribe/{token}" in mail.html
    assert mail.message_id.endswith(f"@{MAIL_DOMAIN}>")
    assert w.mail_log.statuses == {(ANN, "newcomer"): "sent"}


def test_marketing_is_sent_once_never_twice(w):
    w.handle(signup(consent=True))
    w.handle(due())
    w.handle(due())

    assert len(w.mailer.sent) == 1
    assert w.mail_log.sent_count() == 1


def test_marketing_is_never_sent_without_consent(w):
    w.handle(signup(consent=False))
    w.handle(due())
    assert w.mailer.sent == []
    assert w.mail_log.statuses == {}


def test_marketing_is_not_sent_to_someone_not_in_the_sheet(w):
    w.handle(due("ghost@example.com"))
    assert w.mailer.sent == []


def test_marketing_is_never_sent_after_an_unsubscribe(w):
    w.handle(signup(consent=True))
    w.handle(ev.Unsubscribed("unsub:1", email=ANN))
    w.drain(queues.MAIL)

    assert w.mailer.sent == []
    assert w.mail_log.suppressed == {ANN}
    assert w.sheet.row(ANN).consent is False


def test_a_suppressed_address_gets_nothing_even_after_consenting_again(w):
    w.handle(signup(consent=True))
    w.handle(ev.Unsubscribed("unsub:1", email=ANN))
    w.handle(signup(consent=True, uid="2"))

    assert w.sheet.row(ANN).consent is True
    w.drain(queues.MAIL)
    w.handle(due())
    assert w.mailer.sent == []


def test_unsubscribe_of_an_address_not_in_the_sheet_suppresses_it_without_a_row(w):
    w.handle(ev.Unsubscribed("unsub:1", email="bob@example.com"))
    assert w.mail_log.suppressed == {"bob@example.com"}
    assert w.sheet.rows == []


def test_a_mailer_outage_releases_the_claim_and_the_retry_sends_once(w):
    w.handle(signup(consent=True))
    w.mailer.fail_next("send")
    with pytest.raises(TransientError):
        w.handle(due())
    assert w.mail_log.status(ANN, "newcomer") == "failed"
    assert w.mailer.sent == []

    w.handle(due())
    w.handle(due())
    assert len(w.mailer.sent) == 1
    assert w.mail_log.status(ANN, "newcomer") == "sent"


class Killed(BaseException):
    """kill -9 as a test can play it: no `except Exception` of the flow sees it."""


def test_a_kill_after_the_server_took_the_message_never_sends_it_again(w):
    # The chaos run's duplicate: killed between the server's 250 and the "sent" mark.
    w.handle(signup(consent=True))
    w.mailer.fail_next("taken", Killed())
    with pytest.raises(Killed):
        w.handle(due())
    assert len(w.mailer.sent) == 1
    assert w.mail_log.status(ANN, "newcomer") == "handing"

    with pytest.raises(TransientError) as busy:  # the holder may still be waiting for the answer
        w.handle(due())
    assert busy.value.retry_after == flows.MAIL_LEASE_SECONDS
    w.mail_log.now += flows.MAIL_LEASE_SECONDS + 1
    w.handle(due())
    assert len(w.mailer.sent) == 1
    assert w.mail_log.status(ANN, "newcomer") == "sent"
    assert w.mail_log.sent_count() == 1


def test_a_kill_before_the_message_was_complete_sends_it_once_after_the_lease(w):
    w.handle(signup(consent=True))
    w.mailer.fail_next("send", Killed())
    with pytest.raises(Killed):
        w.handle(due())
    assert w.mailer.sent == []
    assert w.mail_log.status(ANN, "newcomer") == "sending"

    w.mail_log.now += flows.MAIL_LEASE_SECONDS + 1
    w.handle(due())
    w.handle(due())
    assert len(w.mailer.sent) == 1


def test_a_failed_sent_mark_after_the_server_took_it_sends_nothing_more(w):
    w.handle(signup(consent=True))
    w.mail_log.fail_next("mark", skip=1)  # "handing" is recorded, "sent" is not
    with pytest.raises(TransientError):
        w.handle(due())
    assert len(w.mailer.sent) == 1
    assert w.mail_log.status(ANN, "newcomer") == "handing"

    w.mail_log.now += flows.MAIL_LEASE_SECONDS + 1
    w.handle(due())
    assert len(w.mailer.sent) == 1


def test_an_answer_lost_while_alive_resends_with_the_same_message_id(w):
    # At least once beats never: the server may or may not have taken it, and nobody
    # died, so the handover is taken back and the retry sends it again, recognisable
    # as the same message by its Message-ID.
    w.handle(signup(consent=True))
    w.mailer.fail_next("taken")
    with pytest.raises(TransientError):
        w.handle(due())
    assert w.mail_log.status(ANN, "newcomer") == "failed"
    w.handle(due())
    w.handle(due())
    assert len(w.mailer.sent) == 2
    assert w.mailer.sent[0].message_id == w.mailer.sent[1].message_id
    assert w.mail_log.status(ANN, "newcomer") == "sent"


def test_two_deliveries_at_once_send_one_email(w):
    w.handle(signup(consent=True))
    assert w.mail_log.claim(ANN, "newcomer", flows.MAIL_LEASE_SECONDS) == "claimed"  # the other delivery
    with pytest.raises(TransientError):
        w.handle(due())
    assert w.mailer.sent == []


def test_a_failure_before_sending_sends_nothing_until_the_retry(w):
    w.handle(signup(consent=True))
    w.mail_log.fail_next("claim")
    with pytest.raises(TransientError):
        w.handle(due())
    assert w.mailer.sent == []
    w.handle(due())
    assert len(w.mailer.sent) == 1


def test_welcome_email_for_super_box_customers(w):
    w.handle(signup(consent=True, box="Super"))
    w.drain(queues.MAIL)
    [mail] = w.mailer.sent
    assert "Welcome" in mail.subject
    assert "Super box" in mail.subject


def test_a_customer_who_upgrades_to_the_super_box_gets_exactly_one_marketing_email(w):
    # DESIGN §1.4: a new email in the base with consent gets exactly one marketing email.
    # The upsell went out while they were on the Classic box; buying the Super box must
    # not make the next sheet sync owe them the welcome as well.
    w.handle(signup(consent=True, box="Classic"))
    w.drain(queues.MAIL)
    assert [m.subject for m in w.mailer.sent] == ["Treat yourself to the Super box"]

    w.handle(invoice("in_1", price="price_super_monthly"))
    flows.sync_sheet(w.ports)
    w.drain(queues.MAIL)

    assert len(w.mailer.sent_to(ANN)) == 1


def test_a_customer_on_the_super_box_by_the_time_the_mail_goes_out_gets_the_welcome_only(w):
    # Out of order: the sign-up (Classic) queues the upsell, the Super box is bought before
    # the mail consumer runs. Sending "Treat yourself to the Super box" to someone who just
    # bought it, then the welcome on the next sync, is two emails and one of them wrong.
    w.handle(signup(consent=True, box="Classic"))
    w.handle(invoice("in_1", price="price_super_monthly"))
    w.drain(queues.MAIL)
    flows.sync_sheet(w.ports)
    w.drain(queues.MAIL)

    subjects = [m.subject for m in w.mailer.sent_to(ANN)]
    assert subjects == ["Welcome to the Super box"]


# --- the sheet sync -------------------------------------------------------------------


def test_sync_sheet_queues_mail_only_for_consenting_rows_never_sent(w):
    typed = Customer(email="typed@example.com", name="Typed By Hand", consent=True)
    w.sheet.type_row(typed)
    w.sheet.type_row(Customer(email="no@example.com", consent=False))
    w.sheet.type_row(Customer(email="sent@example.com", consent=True))
    w.mail_log.mark("sent@example.com", "newcomer", "sent")
    w.sheet.type_row(Customer(email="gone@example.com", consent=True))
    w.mail_log.suppress("gone@example.com")
    w.sheet.type_row(Customer(email="super@example.com", box="BOX-SUPER", consent=True))
    w.mail_log.mark("super@example.com", "spring-sale", "sent")  # another campaign owes nothing here

    assert flows.sync_sheet(w.ports) == 2
    assert [(e.email, e.campaign) for e in w.queue.events(queues.MAIL)] == [
        ("typed@example.com", "newcomer"),
        ("super@example.com", "newcomer"),
    ]

    w.drain(queues.MAIL)
    assert sorted((m.to, m.subject) for m in w.mailer.sent) == [
        ("super@example.com", "Welcome to the Super box"),
        ("typed@example.com", "Treat yourself to the Super box"),
    ]
    assert flows.sync_sheet(w.ports) == 0


def test_a_row_typed_with_two_addresses_is_never_mailed(w):
    """Rows typed by hand never passed the door: `a@x,b@y` would put both in To:."""
    w.sheet.type_row(Customer(email="victim@example.com,attacker@evil.example", consent=True))
    assert flows.sync_sheet(w.ports) == 0
    with pytest.raises(PermanentError, match="not an email address") as exc:
        w.handle(ev.MarketingDue("mail:x:newcomer", email="victim@example.com,attacker@evil.example"))
    assert "victim" not in str(exc.value)
    assert w.mailer.sent == []


def test_sync_sheet_twice_before_the_mail_goes_out_sends_one_email(w):
    w.sheet.type_row(Customer(email="typed@example.com", consent=True))
    flows.sync_sheet(w.ports)
    flows.sync_sheet(w.ports)
    w.drain(queues.MAIL)
    assert len(w.mailer.sent) == 1


# --- slack ------------------------------------------------------------------------------


def test_a_notification_goes_to_the_default_channel_or_its_own(w):
    w.handle(ev.Notification("notify:1", text="hello"))
    w.handle(ev.Notification("notify:2", text="psst", channel="#ops"))
    assert w.notifier.posts == [(CHANNEL, "hello", ""), ("#ops", "psst", "")]


def test_a_mention_is_answered_in_its_thread(w):
    w.handle(signup(consent=True))
    w.handle(
        ev.SlackMention("slack:Ev1", channel=CHANNEL, text=f"<@U0BOT> find {ANN}", thread_ts="171.5", user=OPERATOR)
    )

    [(channel, text, thread)] = w.notifier.posts
    assert (channel, thread) == (CHANNEL, "171.5")
    assert ANN in text
    assert "registered" in text


def test_a_slow_command_answers_through_its_response_url(w):
    w.handle(signup(consent=True))
    w.handle(ev.SlowCommand("cmd:1", text="stats", response_url="https://hooks.slack.test/r/1", user=OPERATOR))

    [(url, text)] = w.notifier.responses
    assert url == "https://hooks.slack.test/r/1"
    assert "1 customer*" in text
    assert w.notifier.posts == []


def test_a_slack_outage_is_transient(w):
    w.notifier.fail_next("post")
    with pytest.raises(TransientError):
        w.handle(ev.Notification("notify:1", text="hello"))


@dataclass(frozen=True)
class Mystery(ev.Event):
    kind: ClassVar[str] = "mystery"


def test_an_event_with_no_flow_is_permanent(w):
    with pytest.raises(PermanentError, match="mystery"):
        flows.handle(Mystery(event_id="x"), w.ports)


def test_refund_amounts_respect_zero_decimal_currencies():
    assert flows.format_amount(2900, "eur") == "29.00"
    assert flows.format_amount(500, "JPY") == "500"


# --- sources of truth and Stripe as it really sends (issue 9) -------------------------


def test_a_public_form_never_rewrites_a_paying_customer(w):
    w.handle(checkout(at=100))
    w.handle(invoice("in_1", at=110))
    before = w.sheet.row(ANN)
    attack = ev.SignedUp(
        event_id="formstack:evil",
        email="  ANN@example.com",
        name="Mallory",
        address="1 Evil Road",
        box_value="Classic",
        consent=False,
        created=200,
    )
    w.handle(attack)
    assert w.sheet.row(ANN) == before
    w.handle(invoice("in_2", at=300))  # the next order's partner is Stripe's customer
    assert {p["name"] for p in w.stock.partners} == {"Ann Lee"}


def test_a_replayed_old_sign_up_never_grants_consent_after_an_unsubscribe(w):
    w.handle(dataclass_replace(signup(consent=True), created=100))
    w.handle(ev.Unsubscribed("unsubscribe:ann", email=ANN, created=200))
    assert w.sheet.row(ANN).consent is False
    w.handle(dataclass_replace(signup(consent=True), created=100))  # the same sign-up, replayed
    w.handle(checkout(consent=True, at=150))  # a late checkout's opt-in is older too
    assert w.sheet.row(ANN).consent is False
    w.handle(dataclass_replace(signup(consent=True, uid="2"), created=300))  # a new sign-up
    assert w.sheet.row(ANN).consent is True


def test_an_unsubscribe_before_any_row_still_counts(w):
    w.handle(ev.Unsubscribed("unsubscribe:ann", email=ANN, created=200))
    assert w.sheet.rows == []
    w.handle(dataclass_replace(signup(consent=True), created=100))
    assert w.sheet.row(ANN).consent is False
    assert mail_sends(w) == []


def test_payment_succeeded_and_paid_make_one_order_and_one_notice(w):
    w.handle(checkout(at=100))
    w.handle(invoice("in_1", evt="paid_1", at=110))
    w.handle(invoice("in_1", evt="succeeded_1", at=110))
    assert [(o.ref, o.state) for o in w.stock.orders] == [("in_1", "sale")]
    assert sum("in_1" in n.text for n in w.queue.events(queues.SLACK)) == 1


def test_a_failed_payment_records_the_stripe_id_so_the_cancellation_finds_the_row(w):
    w.handle(ev.PaymentFailed("stripe:evt_pf", invoice_id="in_2", email=ANN, stripe_customer="cus_ann", created=100))
    assert w.sheet.row(ANN).stripe_customer == "cus_ann"
    w.handle(ev.SubscriptionCancelled("stripe:evt_sd", subscription="sub_ann", stripe_customer="cus_ann", created=200))
    assert w.sheet.row(ANN).status == "cancelled"


def updated(status: str, at: int, ends_at: int = 0, evt: str = "su") -> ev.SubscriptionUpdated:
    return ev.SubscriptionUpdated(
        f"stripe:evt_{evt}{at}",
        subscription="sub_ann",
        stripe_customer="cus_ann",
        status=status,
        cancel_at_period_end=bool(ends_at),
        ends_at=ends_at,
        created=at,
    )


def test_subscription_updated_follows_the_subscription_and_shows_when_it_ends(w):
    w.handle(checkout(at=100))
    w.handle(ev.PaymentFailed("stripe:evt_pf", invoice_id="in_2", stripe_customer="cus_ann", created=200))
    w.handle(updated("active", 300))  # the card was fixed
    assert (w.sheet.row(ANN).status, w.sheet.row(ANN).ends_on) == ("active", "")
    w.handle(updated("active", 400, ends_at=1751328000))
    assert (w.sheet.row(ANN).status, w.sheet.row(ANN).ends_on) == ("active", "2025-07-01")
    w.handle(updated("active", 500))  # changed their mind
    assert w.sheet.row(ANN).ends_on == ""
    w.handle(updated("unpaid", 600))
    assert w.sheet.row(ANN).status == "unpaid"
    saves = w.sheet.saves
    w.handle(updated("incomplete", 700))  # nothing the sheet shows
    assert w.sheet.saves == saves
    texts = [n.text for n in w.queue.events(queues.SLACK)]
    assert any("is active, ends on 2025-07-01" in t for t in texts)
    assert any("is unpaid" in t for t in texts)


def test_subscription_updated_before_its_customer_waits(w):
    with pytest.raises(TransientError):
        w.handle(updated("active", 300))


def customer_updated(email: str, at: int, customer: str = "cus_ann") -> ev.CustomerUpdated:
    return ev.CustomerUpdated(
        f"stripe:evt_cu{at}", stripe_customer=customer, email=email, name="Ann Lee", address="2 Rue Y", created=at
    )


def test_an_email_change_keeps_one_row_found_by_stripe_id(w):
    w.handle(dataclass_replace(signup(consent=True), created=50))
    w.handle(checkout(at=100))
    w.handle(customer_updated("Ann.New@Example.com", 200))
    [row] = w.sheet.rows
    assert (row.email, row.address, row.stripe_customer, row.consent) == (
        "ann.new@example.com",
        "2 Rue Y",
        "cus_ann",
        True,
    )
    # a late invoice still carrying the old email lands on the same row and ships
    w.handle(invoice("in_1", email=ANN, at=150))
    assert [r.email for r in w.sheet.rows] == ["ann.new@example.com"]
    assert w.sheet.row("ann.new@example.com").last_order.endswith("in_1")
    # and the row's facts moved with it: a late failure stays late
    w.handle(ev.PaymentFailed("stripe:evt_pf", invoice_id="in_0", email=ANN, stripe_customer="cus_ann", created=120))
    assert w.sheet.row("ann.new@example.com").status == "active"
    assert len(w.queue.waiting(queues.MAIL)) == 1


def test_an_email_change_onto_another_row_is_left_to_staff(w):
    w.handle(checkout(at=100))
    w.handle(signup(email="bob@example.com", uid="b"))
    with pytest.raises(PermanentError, match="merge the two rows"):
        w.handle(customer_updated("bob@example.com", 200))
    assert {r.email for r in w.sheet.rows} == {ANN, "bob@example.com"}


def test_customer_updated_for_someone_not_in_the_sheet_is_ignored(w):
    w.handle(customer_updated("zed@example.com", 200, customer="cus_zed"))
    assert w.sheet.rows == []


def test_an_email_changed_in_stripe_before_its_customer_updated_lands_on_the_same_row(w):
    w.handle(checkout(at=100))
    w.handle(invoice("in_2", email="ann.new@example.com", at=200))  # Stripe's new email, not yet told
    [row] = w.sheet.rows
    assert (row.email, row.last_order) == (ANN, f"{TODAY} in_2")
    w.handle(customer_updated("ann.new@example.com", 150))
    assert [r.email for r in w.sheet.rows] == ["ann.new@example.com"]


def test_a_paid_invoice_with_its_email_costs_no_sheet_lookup_by_stripe_id(w):
    w.handle(checkout(at=100))
    w.sheet.calls.clear()
    w.handle(invoice("in_1", at=200))
    assert "find_by_stripe_customer" not in w.sheet.calls and w.sheet.calls.count("edit") == 1
