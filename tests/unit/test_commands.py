"""The operators' commands (`/chocobox ...` and @-mentions), against fake ports."""

from __future__ import annotations

import dataclasses

import pytest

from chalicelib import commands, queues
from chalicelib.dead_letters import letter_id
from chalicelib.domain.customer import Customer
from tests.unit.port_fakes import OPERATOR, World


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
    return commands.answer(text, w.ports, user=OPERATOR)


@pytest.mark.parametrize("text", ["", "   ", "help", "HELP", "dance", "find", "<@U0BOT>"])
def test_help_for_anything_not_a_command(w, text):
    assert answer(w, text) == commands.HELP


def test_help_lists_every_command():
    for verb in ("help", "stats", "find", "retry"):
        assert f"`{verb}" in commands.HELP


def test_stats_counts_customers_consents_mail_and_dead_letters(w):
    w.mail_log.mark("ann@example.com", "newcomer", "sent")
    w.mail_log.mark("cy@example.com", "newcomer", "sending")
    w.dead_letters.park(queues.PAYMENTS, {"kind": "invoice_paid"}, "no box", "invoice_paid", message_id="m1")

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
    assert "*0 customers* (none)" in commands.answer("stats", empty.ports, user=OPERATOR)


def test_a_mention_is_stripped_of_the_bots_name(w):
    assert "*3 customers*" in answer(w, "<@U0BOT> stats")
    assert "Ann Lee" in answer(w, "<@U0BOT>   find ann@example.com")


@pytest.mark.parametrize(
    "raw",
    ["ann@example.com", " ANN@Example.com", "<mailto:ann@example.com|ann@example.com>", "<mailto:Ann@Example.com>"],
)
def test_find_reads_the_address_as_slack_sends_it(w, raw):
    text = answer(w, f"find {raw}")
    assert "*Ann Lee* (ann@example.com)" in text
    assert "Status: active" in text
    assert "Box: BOX-SUPER" in text
    assert "Consent: yes" in text
    assert "Stripe: cus_ann" in text
    assert "Last order: 2025-06-01 in_1" in text


def test_find_shows_when_a_subscription_ends(w):
    w.sheet.type_row(Customer(email="eve@example.com", status="active", ends_on="2025-07-01"))
    assert "Status: active (ends on 2025-07-01)" in answer(w, "find eve@example.com")


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
    w.dead_letters.park(
        queues.PAYMENTS,
        {"kind": "invoice_paid", "event_id": "stripe:evt_1"},
        "no box has price_x",
        "invoice_paid",
        message_id="m1",
    )
    text = answer(w, "retry")
    assert text.startswith("*1 dead letter*")
    assert letter_id("m1") in text
    assert "payments/invoice_paid" in text
    assert "no box has price_x" in text


def test_retry_lists_at_most_twenty(w):
    for i in range(23):
        w.dead_letters.park(queues.MAIL, {"kind": "marketing_due"}, "bounced", "marketing_due", message_id=f"m{i}")
    text = answer(w, "retry")
    assert text.startswith("*23 dead letters*")
    assert text.count("\n•") == 20
    assert text.endswith("…and 3 more")


def test_retry_one_letter_puts_it_back_on_its_queue(w):
    body = {"kind": "notification", "event_id": "notify:1", "text": "hi", "channel": ""}
    w.dead_letters.park(queues.SLACK, body, "slack down", "notification", message_id="m1")
    w.dead_letters.park(queues.SLACK, {**body, "event_id": "notify:2"}, "slack down", "notification", message_id="m2")

    text = answer(w, f"retry {letter_id('m1')} nope")

    assert text.startswith("Replayed 1 dead letter.")
    assert "1 not found" in text
    assert "nope" in text
    assert [d.id for d in w.dead_letters.list()] == [letter_id("m2")]
    assert w.queue.waiting(queues.SLACK) == [body]
    w.drain(queues.SLACK)
    assert w.notifier.posts == [("#orders", "hi", "")]


def test_retry_all_replays_every_letter_once(w):
    for i in range(3):
        w.dead_letters.park(queues.MAIL, {"kind": "marketing_due", "n": i}, "r", "s", message_id=f"m{i}")
    assert answer(w, "retry ALL").startswith("Replayed 3 dead letters.")
    assert w.dead_letters.list() == []
    assert answer(w, "retry all") == "Replayed 0 dead letters."
    assert len(w.queue.waiting(queues.MAIL)) == 3


# --- who may run what, and what Slack shows ------------------------------------------


@pytest.mark.parametrize("text", ["stats", "find ann@example.com", "retry", "retry all"])
def test_only_operators_run_commands_beyond_help(w, text):
    refused = commands.answer(text, w.ports, user="U0STRANGER")
    assert "Only the hub's operators" in refused and "U0STRANGER" in refused
    assert "Ann" not in refused
    assert commands.answer("help", w.ports, user="U0STRANGER") == commands.HELP


def test_without_operators_only_help_answers(w):
    ports = dataclasses.replace(w.ports, operators=frozenset())
    assert "SLACK_OPERATORS" in commands.answer("stats", ports, user=OPERATOR)
    assert commands.answer("help", ports, user=OPERATOR) == commands.HELP


def test_a_row_is_posted_only_in_the_configured_channel(w):
    elsewhere = commands.answer("find ann@example.com", w.ports, user=OPERATOR, posted_in="C0RANDOM")
    assert "Ann" not in elsewhere and "/chocobox find" in elsewhere
    assert "Ann Lee" in commands.answer("find ann@example.com", w.ports, user=OPERATOR, posted_in=w.ports.channel)


def test_values_are_escaped_for_slack(w):
    w.sheet.type_row(Customer(email="eve@example.com", name="<!channel> <https://evil.example|log in> & co"))
    text = answer(w, "find eve@example.com")
    assert "<!channel>" not in text and "<https://" not in text
    assert "&lt;!channel&gt; &lt;https://evil.example|log in&gt; &amp; co" in text
    assert "&lt;@U1&gt;" in answer(w, "retry <@U1>x")


def test_retry_all_never_replays_a_command(w):
    command = {"kind": "slow_command", "event_id": "c1", "text": "retry all", "response_url": "u", "user": OPERATOR}
    w.dead_letters.park(queues.SLACK, command, "expired_url", "slow_command", message_id="cmd")
    mention = {"kind": "slack_mention", "event_id": "s1", "channel": "C1", "text": "retry all"}
    w.dead_letters.park(queues.SLACK, mention, "channel_not_found", "slack_mention", message_id="men")
    w.dead_letters.park(queues.MAIL, {"kind": "marketing_due", "n": 1}, "r", "s", message_id="m1")

    assert answer(w, "retry all").startswith("Replayed 1 dead letter.")
    assert "never replayed" in answer(w, f"retry {letter_id('cmd')}")
    assert sorted(d.id for d in w.dead_letters.list()) == sorted([letter_id("cmd"), letter_id("men")])
    assert w.queue.waiting(queues.SLACK) == []
