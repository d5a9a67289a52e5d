"""The scheduled sync sends rows typed into the sheet by hand down the chain."""

from __future__ import annotations


def type_row_by_hand(hub, email: str, consent: str) -> None:
    assert hub.sheet.all() is not None  # the embedded sheet exists once the hub built it
    with hub.db.transaction() as conn:
        conn.execute(
            'INSERT INTO sheet ("Email", "Name", "Marketing consent") VALUES (?, ?, ?)',
            (email, "Typed By Hand", consent),
        )


def test_scheduled_sync_mails_consenting_rows_added_by_hand_once(client, hub, drain):
    type_row_by_hand(hub, "  Hand@Example.com", "Yes")
    type_row_by_hand(hub, "nope@example.com", "no")
    event = client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=["arn:aws:events:local:0:rule/sync"]
    )
    client.lambda_.invoke("sync_sheet", event)
    drain()
    client.lambda_.invoke("sync_sheet", event)
    drain()
    mails = list((hub.state_dir / "outbox" / "mail").glob("*.eml"))
    assert len(mails) == 1
    assert "To: hand@example.com" in mails[0].read_text()
    assert hub.mail_log.status("hand@example.com", "newcomer") == "sent"


def test_a_status_staff_typed_that_the_hub_does_not_know_fails_only_its_customer(client, hub, drain):
    """The row stays as typed (never overwritten by a guess); its event waits as a dead
    letter saying what to fix; the other customers of the same batch carry on."""
    from chalicelib.queues import PAYMENTS
    from devtools import payloads
    from devtools.signing import stripe_headers
    from tests.conftest import SECRETS

    type_row_by_hand(hub, "vip@example.com", "yes")
    with hub.db.transaction() as conn:
        conn.execute('UPDATE sheet SET "Status" = ? WHERE "Email" = ?', ("VIP", "vip@example.com"))
    for n, email in enumerate(("vip@example.com", "ann@example.com")):
        body = payloads.stripe_invoice_paid(f"evt_{n}", f"in_{n}", email, f"cus_{n}", "price_super_monthly")
        headers = stripe_headers(body, SECRETS["STRIPE_WEBHOOK_SECRET"])
        assert client.http.post("/webhooks/stripe", body=body, headers=headers).status_code == 200
    drain()

    [letter] = hub.dead_letters.list()
    assert letter.queue == PAYMENTS and letter.body["email"] == "vip@example.com"
    assert "Status cell" in letter.reason and "VIP" not in letter.reason
    [row] = hub.db.query('SELECT "Status", "Last order" FROM sheet WHERE "Email" = ?', ("vip@example.com",))
    assert (row["Status"], row["Last order"]) == ("VIP", "")
    assert hub.sheet.get("ann@example.com").status == "active"
    assert [o["client_order_ref"] for o in hub.stock.orders()] == ["in_1"]
    assert [c.email for c in hub.sheet.all()] == ["ann@example.com"]  # stats and the sync leave it out
