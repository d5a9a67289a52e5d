"""`make demo`: play a real scenario against the hub that `make run` started, then show
what happened in each sink.

Two sign-ups (one consenting), a Stripe checkout and its first `invoice.paid`, and a
Slack command, each signed exactly as its provider signs it. Exits 1 when the hub
refused a step or a sink never got its result, so a passing demo means the chain works.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from pathlib import Path

from devtools import payloads
from devtools.client import HubClient
from devtools.state import State


def _wait(check, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def main() -> int:
    base = os.environ.get("HUB_URL", "http://127.0.0.1:8000")
    client = HubClient(
        base,
        stripe_secret=os.environ["STRIPE_WEBHOOK_SECRET"],
        slack_secret=os.environ["SLACK_SIGNING_SECRET"],
        formstack_key=os.environ["FORMSTACK_HMAC_KEY"],
    )
    state = State(Path(os.environ.get("HUB_STATE_DIR", ".hub")))
    try:
        client.get("/health")
    except OSError:
        print(f"No hub answers at {base}: start it with `make run` in another terminal.", file=sys.stderr)
        return 1

    run = time.strftime("%H%M%S") + secrets.token_hex(2)  # unique even for two demos in one second
    ann, bob = f"ann.{run}@example.com", f"bob.{run}@example.com"
    emails_before = len(state.emails())
    steps = [
        (
            "Formstack: Ann signs up (Classic box, newsletter yes)",
            lambda: client.formstack(payloads.formstack_form(f"demo-{run}-1", ann, box="Classic")),
        ),
        (
            "Formstack: Bob signs up (JSON, Super box, newsletter no)",
            lambda: client.formstack(payloads.formstack_json(f"demo-{run}-2", bob, consent=False), "application/json"),
        ),
        (
            "Stripe: Ann completes checkout",
            lambda: client.stripe(payloads.stripe_checkout_completed(f"evt_demo_{run}_c", ann, f"cus_{run}")),
        ),
        (
            "Stripe: Ann's first invoice is paid (Super box)",
            lambda: client.stripe(
                payloads.stripe_invoice_paid(
                    f"evt_demo_{run}_i", f"in_demo_{run}", ann, f"cus_{run}", "price_super_monthly"
                )
            ),
        ),
        (
            "Stripe: the same invoice.paid delivered again",
            lambda: client.stripe(
                payloads.stripe_invoice_paid(
                    f"evt_demo_{run}_i", f"in_demo_{run}", ann, f"cus_{run}", "price_super_monthly"
                )
            ),
        ),
    ]
    print(f"Playing the demo against {base}\n")
    failures = []
    for title, send in steps:
        answer = send()
        print(f"  {answer.status}  {title}  {answer.body.decode()[:80]}")
        if answer.status != 200:
            failures.append(f"{title}: HTTP {answer.status}")

    if not _wait(lambda: any(o["client_order_ref"] == f"in_demo_{run}" for o in state.orders())):
        failures.append(f"no stock order for in_demo_{run}")
    if not _wait(lambda: len(state.emails()) > emails_before):
        failures.append(f"no marketing email to {ann}")
    answer = client.slack_command(payloads.slack_command(f"find {ann}"))
    print(f"  {answer.status}  Slack: /chocobox find {ann}\n")
    if answer.status != 200:
        failures.append(f"Slack command: HTTP {answer.status}")
    print("    " + answer.json().get("text", answer.body.decode()).replace("\n", "\n    "))

    print("\nCustomer sheet (embedded):")
    for row in state.customers():
        if run in row["Email"]:
            print(f"  {row['Email']:<28} {row['Status']:<10} box={row['Box']:<12} consent={row['Marketing consent']}")
    print("\nStock (embedded Odoo ledger):")
    for order in state.orders():
        if run in order["client_order_ref"]:
            print(
                f"  order {order['client_order_ref']} for {order['email']}: {order['default_code']}, {order['state']}"
            )
    print("\nMarketing emails (outbox):")
    for path in state.emails()[emails_before:]:
        head = path.read_text(errors="replace").split("\n\n", 1)[0]
        to = next((line for line in head.splitlines() if line.startswith("To:")), "")
        print(f"  {path.name}  {to}")
    print("\nSlack (outbox):")
    for message in state.slack()[-3:]:
        print(f"  {message.get('channel') or 'response_url'}: {message['text'].splitlines()[0]}")
    print(f"\nEverything lives under {state.dir}/ (hub.sqlite3, outbox/).")
    if failures:
        print("\nThe demo FAILED: " + "; ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
