"""The operators' commands (`/chocobox ...` and @-mentions), against fake ports."""

from __future__ import annotations

import pytest

from chalicelib import commands, flows
from chalicelib.domain.customer import Customer
from tests.unit.fakes import World


@pytest.fixture
def w() -> World:
    world = World()
    world.sheet.type_row(
        Customer(
            email="ann@example.com",
            name="Ann Lee",
            box="BOX-SUPER",
            status="active",
            consent=True,
            stripe_customer="cus_ann",
            signed_up="2025-01-02",
            last_order="2025-06-01 in_1",
        )
    )
    world.sheet.type_row(Customer(email="bob@example.com", status="registered", consent=False))
    world.sheet.type_row(Customer(email="cy@example.com", status="past_due", consent=True))
    return world


def answer(w: World, text: str) -> str:
    return commands.answer(text, w.ports)


@pytest.mark.parametrize("text", ["", "   ", "help", "HELP", "dance", "find", "<@U0BOT>"])
def test_help_for_anything_not_a_command(w, text):
    assert answer(w, text) == commands.HELP


def test_help_lists_every_command():
    for verb in ("help", "stats", "find", "retry"):
        assert f"`{verb}" in commands.HELP


def test_stats_counts_customers_consents_mail_and_dead_letters(w):
    w.mail_log.mark("ann@example.com", "newcomer", "sent")
    w.mail_log.mark("cy@example.com", "newcomer", "sending")
    w.queue.dead_letter(flows.PAYMENTS, {"kind": "invoice_paid"}, "no box", "invoice_paid", message_id="m1")

    text = answer(w, "stats")

    assert "*3 customers*" in text
    assert "active: 1" in text
    assert "past_due: 1" in text
    assert "registered: 1" in text
    assert "Marketing consent: 2" in text
    assert "Marketing emails sent: 1" in text
    assert "Dead letters: 1" in text


def test_stats_of_an_empty_sheet(w):
    empty = World()
    assert "*0 customers* (none)" in commands.answer("stats", empty.ports)


def test_a_mention_is_stripped_of_the_bots_name(w):
    assert "*3 customers*" in answer(w, "<@U0BOT> stats")
    assert "Ann Lee" in answer(w, "<@U0BOT>   find ann@example.com")


@pytest.mark.parametrize(
    "raw",
    ["ann@example.com", " ANN@Example.com", "<mailto:ann@example.com|ann@example.com>", "<mailto:Ann@Example.com>"],
)
def test_find_reads_the_address_as_slack_sends_it(w, raw):
    text = answer(w, f"find {raw}")
    assert "*Ann Lee* <ann@example.com>" in text
    assert "Status: active" in text
    assert "Box: BOX-SUPER" in text
    assert "Consent: yes" in text
    assert "Stripe: cus_ann" in text
    assert "Last order: 2025-06-01 in_1" in text


def test_find_shows_dashes_for_empty_cells(w):
    text = answer(w, "find bob@example.com")
    assert "*bob@example.com*" in text
    assert "Box: -" in text
    assert "Consent: no" in text
    assert "Last order: -" in text


def test_find_of_an_unknown_email(w):
    assert answer(w, "find nobody@example.com") == "No customer with email nobody@example.com."


def test_retry_without_dead_letters(w):
    assert answer(w, "retry") == "No dead letters."


def test_retry_lists_the_dead_letters_with_where_and_why(w):
    w.queue.dead_letter(
        flows.PAYMENTS,
        {"kind": "invoice_paid", "event_id": "stripe:evt_1"},
        "no box has price_x",
        "invoice_paid",
        message_id="m1",
    )
    text = answer(w, "retry")
    assert text.startswith("*1 dead letters*")
    assert "m1" in text
    assert "payments/invoice_paid" in text
    assert "no box has price_x" in text


def test_retry_lists_at_most_twenty(w):
    for i in range(23):
        w.queue.dead_letter(flows.MAIL, {"kind": "marketing_due"}, "bounced", "marketing_due", message_id=f"m{i}")
    text = answer(w, "retry")
    assert text.startswith("*23 dead letters*")
    assert text.count("\n•") == 20
    assert text.endswith("…and 3 more")


def test_retry_one_letter_puts_it_back_on_its_queue(w):
    body = {"kind": "notification", "event_id": "notify:1", "text": "hi", "channel": ""}
    w.queue.dead_letter(flows.SLACK, body, "slack down", "notification", message_id="m1")
    w.queue.dead_letter(flows.SLACK, {**body, "event_id": "notify:2"}, "slack down", "notification", message_id="m2")

    text = answer(w, "retry m1 nope")

    assert text.startswith("Replayed 1 dead letters.")
    assert "1 not found" in text
    assert "nope" in text
    assert [d.id for d in w.queue.list()] == ["m2"]
    assert w.queue.waiting(flows.SLACK) == [body]
    w.drain(flows.SLACK)
    assert w.notifier.posts == [("#orders", "hi", "")]


def test_retry_all_replays_every_letter_once(w):
    for i in range(3):
        w.queue.dead_letter(flows.MAIL, {"kind": "marketing_due", "n": i}, "r", "s", message_id=f"m{i}")
    assert answer(w, "retry ALL").startswith("Replayed 3 dead letters.")
    assert w.queue.list() == []
    assert answer(w, "retry all") == "Replayed 0 dead letters."
    assert len(w.queue.waiting(flows.MAIL)) == 3
