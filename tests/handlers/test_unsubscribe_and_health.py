"""GET/POST /unsubscribe/{token} and GET /health."""

from __future__ import annotations

import json

from chalicelib.domain.customer import Customer
from chalicelib.unsubscribe import make_token
from tests.conftest import SECRETS

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def token(email: str) -> str:
    return make_token(SECRETS["HUB_SECRET_KEY"], email)


def test_get_shows_a_page_and_changes_nothing(client, hub):
    hub.sheet.save(Customer(email="ann@example.com", consent=True))
    response = client.http.get(f"/unsubscribe/{token('ann@example.com')}")
    assert response.status_code == 200
    assert b"<form method='post'>" in response.body and b"ann@example.com" in response.body
    assert hub.sheet.get("ann@example.com").consent is True
    assert not hub.mail_log.is_suppressed("ann@example.com")


def test_one_click_post_unsubscribes(client, hub, drain):
    hub.sheet.save(Customer(email="ann@example.com", consent=True))
    response = client.http.post(
        f"/unsubscribe/{token('ann@example.com')}", body=b"List-Unsubscribe=One-Click", headers=FORM
    )
    assert response.status_code == 200
    assert hub.mail_log.is_suppressed("ann@example.com")
    drain()
    assert hub.sheet.get("ann@example.com").consent is False


def test_the_link_opened_after_unsubscribing_says_so_instead_of_asking_again(client, hub):
    link = f"/unsubscribe/{token('ann@example.com')}"
    assert b"Stop marketing emails" in client.http.get(link).body
    client.http.post(link, body=b"List-Unsubscribe=One-Click", headers=FORM)
    page = client.http.get(link)
    assert page.status_code == 200
    assert b"<h1>Unsubscribed</h1>" in page.body and b"ann@example.com will get no more" in page.body
    assert b"Stop marketing emails" not in page.body and b"<form" not in page.body


def test_forged_or_damaged_tokens_are_400(client, hub):
    forged = make_token("another-key", "ann@example.com")
    for bad in (forged, "garbage", token("ann@example.com")[:-3]):
        assert client.http.get(f"/unsubscribe/{bad}").status_code == 400
        response = client.http.post(f"/unsubscribe/{bad}", body=b"List-Unsubscribe=One-Click", headers=FORM)
        assert response.status_code == 400
    assert not hub.mail_log.is_suppressed("ann@example.com")


def test_post_without_the_one_click_body_is_400(client, hub):
    response = client.http.post(f"/unsubscribe/{token('ann@example.com')}", body=b"x=y", headers=FORM)
    assert response.status_code == 400
    assert not hub.mail_log.is_suppressed("ann@example.com")


def test_health_probes_once_a_minute_and_shows_details_to_the_admin_only(client, hub, monkeypatch):
    from chalicelib.bootstrap import reset_hub

    monkeypatch.setenv("HUB_ADMIN_TOKEN", "admin-t0ken")
    reset_hub()
    calls = []
    monkeypatch.setattr("chalicelib.adapters.sheet_sqlite.SqliteSheet.ping", lambda self: calls.append(1) or "pong")
    public = json.loads(client.http.get("/health").body)["backends"]["sheet"]
    assert public == {"adapter": "SqliteSheet", "ok": True}
    wrong = client.http.get("/health", headers={"Authorization": "Bearer nope"})
    assert json.loads(wrong.body)["backends"]["sheet"] == {"adapter": "SqliteSheet", "ok": True}
    admin = client.http.get("/health", headers={"Authorization": "Bearer admin-t0ken"})
    assert json.loads(admin.body)["backends"]["sheet"] == {"adapter": "SqliteSheet", "ok": True, "detail": "pong"}
    assert calls == [1]  # three requests, one probe


def test_without_a_secret_key_outside_dev_the_hub_refuses_to_run(hub_env, monkeypatch):
    from chalice.test import Client

    import app as app_module
    from chalicelib.bootstrap import reset_hub
    from tests.conftest import ROOT

    monkeypatch.delenv("HUB_SECRET_KEY")
    reset_hub()
    with Client(app_module.app, project_dir=str(ROOT), stage_name="prod") as prod:
        response = prod.http.get("/health")
        assert response.status_code == 503
        assert "HUB_SECRET_KEY" in json.loads(response.body)["error"]
        assert prod.http.get("/unsubscribe/abc.def").status_code == 503


def test_health_reports_each_backend(client):
    response = client.http.get("/health")
    assert response.status_code == 200
    report = json.loads(response.body)
    assert report["status"] == "ok"
    assert report["backends"]["sheet"]["adapter"] == "SqliteSheet"
    assert report["backends"]["stock"]["adapter"] == "StockLedger"
    assert report["backends"]["mailer"]["adapter"] == "MailOutbox"
    assert report["backends"]["notifier"]["adapter"] == "SlackOutbox"
    assert report["backends"]["queue"]["adapter"] == "SqliteQueue"
    assert all(b["ok"] for b in report["backends"].values())


def test_health_says_what_is_misconfigured(client, monkeypatch):
    from chalicelib.bootstrap import reset_hub

    monkeypatch.setenv("ODOO_PROTOCOL", "soap")
    reset_hub()
    response = client.http.get("/health")
    assert response.status_code == 503
    assert "ODOO_PROTOCOL" in json.loads(response.body)["error"]


def test_a_second_unsubscribe_after_a_new_opt_in_reaches_the_sheet(client, hub, drain):
    hub.sheet.save(Customer(email="ann@example.com", consent=True))
    url = f"/unsubscribe/{token('ann@example.com')}"
    assert client.http.post(url, body=b"List-Unsubscribe=One-Click", headers=FORM).status_code == 200
    drain()
    hub.sheet.save(Customer(email="ann@example.com", consent=True))  # she opts in again, by hand
    assert client.http.post(url, body=b"List-Unsubscribe=One-Click", headers=FORM).status_code == 200
    drain()
    assert hub.sheet.get("ann@example.com").consent is False
