"""Nothing personal or secret in any log line (issue 8): the whole chain through the real
`chalice local` and every real adapter, including failures whose provider errors name
the customer, then every line the process wrote is searched."""

from __future__ import annotations

import base64
import json
import re
import urllib.request
from urllib.parse import quote

import pytest

from devtools import payloads
from tests.conftest import SECRETS
from tests.e2e.conftest import client_for, wait_for
from tests.fakes.services import FakeServices

pytestmark = pytest.mark.e2e

ANN, RITA, JANE = "annabelle.quixote@corp.example", "rita.zebulon@corp.example", "jane.doe@corp.example"
NAMES = ("Annabelle", "Quixote", "Rita", "Zebulon", "Jane Doe", "Rue des Fleurs")
ADMIN_TOKEN = "admin-token-for-the-log-test"
# An address whose local part is not masked (`a***@corp.example` is how the logs show one).
UNMASKED_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


def test_no_email_name_or_secret_in_any_log_line(start_hub, state):
    services = FakeServices().start()
    try:
        services.smtp.refused.add(RITA)  # its 550 names the recipient
        env = services.env() | {"HUB_ADMIN_TOKEN": ADMIN_TOKEN, "SLACK_CHANNEL": "C0001"}
        hub = start_hub(env)
        client = client_for(hub)
        run_the_chain(client, hub.url, services)
        log = hub.log_path.read_text(errors="replace")
    finally:
        services.stop()

    lines = log.splitlines()
    assert any('"message":"dead-lettered"' in line for line in lines)  # the failures were logged
    leaks = [line for line in lines if UNMASKED_EMAIL.search(line)]
    assert leaks == []
    for word in NAMES:
        assert word not in log, word
    for email in (ANN, RITA):  # nor readable in a path, as the unsubscribe link's token
        assert base64.urlsafe_b64encode(email.encode()).rstrip(b"=").decode()[:12] not in log
    secrets = [*SECRETS.values(), ADMIN_TOKEN, *(env[k] for k in ("SLACK_BOT_TOKEN", "ODOO_API_KEY", "SMTP_URL"))]
    secrets += [services.smtp.password, json.loads(env["GOOGLE_SERVICE_ACCOUNT"])["private_key"][40:80]]
    for secret in secrets:
        assert secret not in log and quote(secret) not in log


def run_the_chain(client, url: str, services: FakeServices) -> None:
    form = payloads.formstack_form("L1", ANN, first="Annabelle", last="Quixote", box="Super")
    assert client.formstack(form).status == 200
    assert client.formstack(payloads.formstack_form("L2", RITA, first="Rita", last="Zebulon")).status == 200
    bad = payloads.formstack_form("L3", "x").replace(b"Email=x", b"Email=" + quote(f"Jane Doe <{JANE}>").encode())
    assert client.formstack(bad).status == 400
    checkout = payloads.stripe_checkout_completed("evt_l1", ANN, "cus_l1").replace(b"Ann Lee", b"Annabelle Quixote")
    assert client.stripe(checkout).status == 200
    invoice = payloads.stripe_invoice_paid("evt_l2", "in_l2", ANN, "cus_l1", "price_super_monthly")
    assert client.stripe(invoice.replace(b"Ann Lee", b"Annabelle Quixote")).status == 200
    unknown = payloads.stripe_invoice_paid("evt_l3", "in_l3", ANN, "cus_l1", "price_nobody_sells")
    assert client.stripe(unknown).status == 200

    wait_for(lambda: len(services.orders()) == 1 and len(services.emails()) == 1, what="the order and the email")
    wait_for(lambda: len(state_dead_letters(client)) >= 2, what="the two dead letters", timeout=60)
    assert "Annabelle" in client.slack_command(payloads.slack_command(f"find {ANN}")).json()["text"]
    assert client.slack_event(payloads.slack_mention("EvL1", f"find {ANN}")).status == 200
    wait_for(lambda: any("Annabelle" in t for t in services.slack_texts()), what="the mention's answer")

    [message] = services.emails()
    unsubscribe = re.fullmatch(r"<(.+)>", message["List-Unsubscribe"]).group(1)
    request = urllib.request.Request(
        unsubscribe, data=b"List-Unsubscribe=One-Click", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    health = urllib.request.Request(url + "/health", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(health, timeout=10) as response:
        assert response.status == 200


def state_dead_letters(client) -> list[str]:
    """The dead letters as `/chocobox retry` lists them (one line each)."""
    text = client.slack_command(payloads.slack_command("retry")).json()["text"]
    return [line for line in text.splitlines() if line.startswith("•")]
