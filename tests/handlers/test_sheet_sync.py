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
