"""`python -m chalicelib`: the operators' views, exit codes and stage, on the embedded hub."""

from __future__ import annotations

import pytest

from chalicelib.cli import main
from devtools import payloads
from devtools.signing import formstack_headers, stripe_headers
from tests.conftest import SECRETS

FORM = "application/x-www-form-urlencoded"


def _sign_up(client, drain, email: str, uid: str) -> None:
    body = payloads.formstack_form(uid, email, box="Classic")
    client.http.post(
        "/webhooks/formstack", body=body, headers=formstack_headers(body, SECRETS["FORMSTACK_HMAC_KEY"], FORM)
    )
    drain()


def _dead_invoice(client, drain) -> None:
    body = payloads.stripe_invoice_paid("evt_c1", "in_c1", "cy@example.com", "cus_c1", "price_unknown")
    client.http.post("/webhooks/stripe", body=body, headers=stripe_headers(body, SECRETS["STRIPE_WEBHOOK_SECRET"]))
    drain()


def test_sheet_is_a_table_and_a_filter_that_matches_nothing_exits_1(client, drain, capsys):
    _sign_up(client, drain, "ann@example.com", "cli-1")
    _sign_up(client, drain, "bob@example.com", "cli-2")
    assert main(["sheet"]) == 0
    header, rule, *rows, count = capsys.readouterr().out.splitlines()
    assert header.split()[:3] == ["Email", "Name", "Status"] and set(rule) == {"-", " "}
    assert [r.split()[0] for r in rows] == ["ann@example.com", "bob@example.com"] and count == "2 customers"

    assert main(["sheet", "BOB@"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "1 customer matching 'BOB@'"
    assert main(["sheet", "nobody"]) == 1
    assert capsys.readouterr().out == "0 customers matching 'nobody'\n"


def test_dead_letters_queues_replay_and_discard_say_how_many_and_exit_by_outcome(client, drain, capsys):
    assert main(["dead-letters"]) == 0
    assert capsys.readouterr().out == "0 dead letters\n"
    _dead_invoice(client, drain)
    assert main(["dead-letters"]) == 0
    out = capsys.readouterr().out
    assert "payments/invoice_paid" in out and "price_unknown" in out and out.endswith("\n1 dead letter\n")

    assert main(["queues"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[2].split() == ["signups", "0"] and out.endswith("\n0 messages waiting\n")

    assert main(["replay", "no-such-letter"]) == 1
    assert "Replayed 0 dead letters." in capsys.readouterr().out
    assert main(["discard", "no-such-letter", "--reason", "typo"]) == 1
    assert "No dead letter no-such-letter" in capsys.readouterr().err
    assert main(["replay", "all"]) == 0
    assert "Replayed 1 dead letter." in capsys.readouterr().out
    assert main(["queues"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["Queue", "Waiting", "Oldest"]
    assert out.splitlines()[3].split() == ["payments", "1", "0", "s"] and out.endswith("\n1 message waiting\n")


def test_orders_newest_first_with_customer_and_product(client, drain, capsys):
    assert main(["orders"]) == 0
    assert capsys.readouterr().out == "0 orders\n"
    _sign_up(client, drain, "dee@example.com", "cli-3")
    for n in (1, 2):
        body = payloads.stripe_invoice_paid(f"evt_o{n}", f"in_o{n}", "dee@example.com", "cus_o", "price_super_monthly")
        client.http.post("/webhooks/stripe", body=body, headers=stripe_headers(body, SECRETS["STRIPE_WEBHOOK_SECRET"]))
        drain()
    assert main(["orders"]) == 0
    header, _, newest, older, count = capsys.readouterr().out.splitlines()
    assert header.split()[:4] == ["Created", "(UTC)", "Invoice", "Customer"]
    assert newest.split()[2:] == ["in_o2", "Ann", "Lee", "BOX-SUPER", "sale"] and "in_o1" in older
    assert count == "2 orders"
    assert main(["orders", "--limit", "1"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "1 order (the newest 1)"


def test_sync_counts_in_words(client, hub, drain, capsys):
    from chalicelib.domain.customer import Customer

    hub.sheet.save(Customer(email="typed@example.com", consent=True))
    assert main(["sync"]) == 0
    assert capsys.readouterr().out == "Queued 1 marketing email.\n"
    drain()
    assert main(["sync"]) == 0
    assert capsys.readouterr().out == "Queued 0 marketing emails.\n"


def test_usage_and_settings_errors_exit_2(hub_env, monkeypatch, capsys):
    with pytest.raises(SystemExit) as usage:
        main(["no-such-command"])
    assert usage.value.code == 2
    monkeypatch.setenv("MAIL_BACKEND", "carrier-pigeon")
    assert main(["queues"]) == 2
    assert "MAIL_BACKEND must be" in capsys.readouterr().err


def test_the_stage_is_dev_unless_told_so_the_dev_key_needs_no_setting(hub_env, monkeypatch, capsys):
    monkeypatch.delenv("HUB_SECRET_KEY")
    monkeypatch.delenv("HUB_STAGE", raising=False)
    assert main(["sync"]) == 0
    assert main(["--stage", "prod", "sync"]) == 2
    assert "HUB_SECRET_KEY is not set" in capsys.readouterr().err
    monkeypatch.setenv("HUB_STAGE", "prod")
    assert main(["sync"]) == 2
    assert main(["--stage", "dev", "sync"]) == 0


def test_story_follows_one_event_through_its_dead_letter_and_replay(client, drain, capsys):
    assert main(["story", "evt_nothing"]) == 1
    assert capsys.readouterr().out == "0 events in the history match 'evt_nothing'\n"
    _dead_invoice(client, drain)
    assert main(["dead-letters"]) == 0
    letter_id = capsys.readouterr().out.splitlines()[2].split()[0]
    assert main(["replay", letter_id]) == 0
    capsys.readouterr()

    assert main(["story", "evt_c1"]) == 0  # found by search: the hub's id is stripe:evt_c1
    head, *steps = capsys.readouterr().out.splitlines()
    assert head == "stripe:evt_c1  invoice_paid from stripe, replayed  (c***@example.com, in_c1)"
    assert [line.split()[1] for line in steps] == ["received", "dead", "replayed"]
    assert "price_unknown" in steps[1] and "cy@" not in "".join(steps)

    _sign_up(client, drain, "cy@example.com", "cli-4")  # a second event of the same customer
    assert main(["story", "cy@example.com"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].split()[:2] == ["Event", "Type"] and listing[-1].endswith("match 'cy@example.com': give one id")
    assert {row.split()[0] for row in listing[2:-1]} >= {"stripe:evt_c1", "formstack:cli-4"}
