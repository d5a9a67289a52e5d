"""The whole chain through the real `chalice local` process, with signed webhooks."""

from __future__ import annotations

import fcntl
import re
import time
import urllib.request

import pytest

from devtools import payloads
from tests.e2e.conftest import client_for, wait_for
from tests.e2e.sinks import EmbeddedSinks, Order, RealSinks, customer
from tests.fakes.services import FakeServices

pytestmark = pytest.mark.e2e


@pytest.fixture(params=["embedded", "real: xmlrpc + smtp", "real: json2 + ses"])
def backend(request, state):
    """The chain runs on the embedded defaults, then on every real adapter pointed at its
    service's protocol fake (both Odoo protocols, both mailers). Same scenario, same outcome."""
    if request.param == "embedded":
        yield {}, EmbeddedSinks(state)
        return
    odoo, mail = request.param.removeprefix("real: ").split(" + ")
    services = FakeServices(odoo_protocol=odoo, mail=mail).start()
    try:
        yield services.env(), RealSinks(services)
    finally:
        services.stop()


def test_signups_payment_and_slack_reach_every_sink(start_hub, state, backend):
    env, sinks = backend
    hub = start_hub(env)
    client = client_for(hub)

    assert client.formstack(payloads.formstack_form("5001", "ann@example.com", box="Classic")).status == 200
    bob = payloads.formstack_json("5002", "bob@example.com", consent=False)
    assert client.formstack(bob, "application/json").status == 200
    assert client.stripe(payloads.stripe_checkout_completed("evt_e2e_c", "ann@example.com", "cus_ann")).status == 200
    invoice = payloads.stripe_invoice_paid("evt_e2e_i", "in_e2e", "ann@example.com", "cus_ann", "price_super_monthly")
    assert client.stripe(invoice).status == 200
    assert client.stripe(invoice).json()["duplicate"] is True

    wait_for(lambda: any(o.state == "sale" for o in sinks.orders()), what="the confirmed order")
    assert sinks.orders() == [Order("in_e2e", "sale", "ann@example.com", "BOX-SUPER")]
    ann = wait_for(lambda: (c := customer(sinks, "ann@example.com")) and c["Status"] == "active" and c, what="Ann")
    assert ann["Stripe customer"] == "cus_ann" and ann["Box"] == "BOX-SUPER"
    assert wait_for(lambda: customer(sinks, "bob@example.com"), what="Bob")["Marketing consent"] == "no"

    [message] = wait_for(sinks.emails, what="the marketing email")
    assert message["To"] == "ann@example.com"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe_url = re.fullmatch(r"<(.+)>", message["List-Unsubscribe"]).group(1)
    assert unsubscribe_url.startswith(hub.url + "/unsubscribe/")

    answer = client.slack_command(payloads.slack_command("find ann@example.com"))
    assert answer.status == 200 and "active" in answer.json()["text"]
    assert client.slack_event(payloads.slack_mention("EvE2E", "stats")).status == 200
    wait_for(lambda: any("customers" in t for t in sinks.slack_texts()), what="the mention's reply")
    assert any("in_e2e" in t for t in sinks.slack_texts())

    # One click, as a mail client does it (RFC 8058): consent becomes no.
    request = urllib.request.Request(
        unsubscribe_url,
        data=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    wait_for(lambda: customer(sinks, "ann@example.com")["Marketing consent"] == "no", what="consent no")

    # A new sign-up form from Ann, consenting again, must not mail her after she left.
    assert client.formstack(payloads.formstack_form("5003", "ann@example.com", box="Super")).status == 200
    wait_for(lambda: state.queued() == 0, what="the queues to drain")
    assert len(sinks.emails()) == 1
    assert len(sinks.customers()) == 2 and len(sinks.orders()) == 1


def test_bad_requests_get_their_4xx_and_touch_no_sink(start_hub, state):
    hub = start_hub()
    client = client_for(hub)
    form = payloads.formstack_form("6001", "eve@example.com")
    invoice = payloads.stripe_invoice_paid("evt_bad", "in_bad", "eve@example.com", "cus_eve", "price_super_monthly")
    stale = {"Content-Type": "application/json", "Stripe-Signature": f"t={int(time.time()) - 900},v1=00"}
    cases = [
        (
            "/webhooks/formstack",
            form,
            {"Content-Type": "application/x-www-form-urlencoded", "X-FS-Signature": "sha256=00"},
            401,
        ),
        ("/webhooks/formstack", form, {"Content-Type": "text/plain"}, 415),
        ("/webhooks/stripe", invoice, {"Content-Type": "application/json", "Stripe-Signature": "t=1,v1=00"}, 401),
        ("/webhooks/stripe", invoice, stale, 401),
        ("/webhooks/stripe", invoice, {"Content-Type": "text/plain"}, 415),
        (
            "/slack/events",
            b"{}",
            {"Content-Type": "application/json", "X-Slack-Request-Timestamp": "1", "X-Slack-Signature": "v0=00"},
            401,
        ),
    ]
    for path, body, headers, status in cases:
        answer = client.post(path, body, headers)
        assert answer.status == status, (path, headers, answer.body)
        assert answer.json().get("error") or answer.json().get("Message")
    assert client.formstack(b"{broken", "application/json").status == 400
    assert client.stripe(b"[not an event").status == 400
    time.sleep(1.0)  # give a wrongly queued event time to show up
    assert state.customers() == [] and state.orders() == [] and state.emails() == []
    assert state.queued() == 0 and state.slack() == []


def test_queued_events_survive_a_kill_and_restart(start_hub, state, hub_env_for_process):
    # Hold the runtime lock ourselves: the first process accepts and queues, but cannot dispatch.
    from pathlib import Path

    state_dir = Path(hub_env_for_process["HUB_STATE_DIR"])
    state_dir.mkdir(parents=True, exist_ok=True)
    lock = open(state_dir / "runtime.lock", "w")  # noqa: SIM115
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    first = start_hub()
    client = client_for(first)
    invoice = payloads.stripe_invoice_paid("evt_k", "in_k", "kim@example.com", "cus_kim", "price_classic_monthly")
    assert client.stripe(invoice).status == 200
    assert client.formstack(payloads.formstack_form("7001", "kim@example.com")).status == 200
    assert state.queued() == 2 and state.orders() == []
    first.kill()
    lock.close()

    second = start_hub()
    wait_for(lambda: len(state.orders()) == 1, what="the order after restart")
    wait_for(lambda: len(state.emails()) == 1, what="the email after restart")
    assert client_for(second).stripe(invoice).json()["duplicate"] is True
