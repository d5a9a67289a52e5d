"""Dead letters: listed with their reasons, replayed through today's code, never twice."""

from __future__ import annotations

import json

from chalicelib.__main__ import main
from chalicelib.bootstrap import get_hub, reset_hub
from chalicelib.domain.catalog import BUILT_IN
from devtools import payloads
from devtools.signing import stripe_headers
from tests.conftest import SECRETS


def _dead_invoice(client, drain) -> None:
    body = payloads.stripe_invoice_paid("evt_r1", "in_r1", "rae@example.com", "cus_r1", "price_new_box")
    client.http.post("/webhooks/stripe", body=body, headers=stripe_headers(body, SECRETS["STRIPE_WEBHOOK_SECRET"]))
    drain()


def test_replay_after_fixing_the_catalog_places_the_order_once(client, hub, drain, tmp_path, monkeypatch, capsys):
    import app as app_module

    _dead_invoice(client, drain)
    assert main(["replay"]) == 0
    listing = capsys.readouterr().out
    assert "price_new_box" in listing and listing.endswith("\n1 dead letter\n")
    [letter] = hub.dead_letters.list()

    # The shop adds the new price to its catalog, then replays: today's code handles it.
    catalog = json.loads(json.dumps(BUILT_IN))
    catalog["boxes"][1]["stripe_prices"].append("price_new_box")
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))
    monkeypatch.setenv("HUB_CATALOG", str(tmp_path / "catalog.json"))
    reset_hub()
    assert main(["replay", letter.id]) == 0
    assert "Replayed 1 dead letter." in capsys.readouterr().out
    assert main(["replay", letter.id]) == 1
    assert "Replayed 0 dead letters.\nNo dead letter " in capsys.readouterr().out
    fresh = get_hub()
    fresh.dispatcher(app_module.app).drain(timeout=20, include_delayed=True)
    [order] = fresh.stock.orders()
    assert (order["client_order_ref"], order["state"]) == ("in_r1", "sale")
    assert fresh.dead_letters.list() == []


def test_discard_needs_a_reason_and_keeps_it(client, hub, drain, capsys):
    _dead_invoice(client, drain)
    [letter] = hub.dead_letters.list()
    assert main(["discard", letter.id, "--reason", " "]) == 2
    assert main(["discard", letter.id, "--reason", "test order, refunded"]) == 0
    assert hub.dead_letters.list() == []
    assert main(["discard", letter.id, "--reason", "again"]) == 1
    row = hub.db.query("SELECT state, note FROM dead_letters WHERE id = ?", (letter.id,))[0]
    assert (row["state"], row["note"]) == ("discarded", "test order, refunded")
