"""The dashboard in a real browser: Debian's chromium driven by Playwright, against the
real `chalice local` after `make demo` played its scenario.

An operator logs in with the token, sees the demo's events, opens the invoice whose
price the catalog did not know (a dead letter), replays it after the shop added the
price and restarted the hub, and sees it go through. The screenshot of that page is
the README's (`make screenshot` writes it to docs/dashboard.png; a plain test run keeps
it in its temp folder, so `make test` leaves the work tree clean).

Chromium is not optional: `make test` (and CI) install it with apt when missing, so a
missing browser fails this test instead of skipping it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from chalicelib.domain.catalog import BUILT_IN
from devtools import payloads
from tests.conftest import ROOT
from tests.e2e.conftest import client_for, wait_for

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TOKEN = "browser-test-admin-token"


def _catalog(path: Path, extra_price: str = "") -> None:
    catalog = json.loads(json.dumps(BUILT_IN))
    if extra_price:
        catalog["boxes"][1]["stripe_prices"].append(extra_price)
    path.write_text(json.dumps(catalog))


def test_an_operator_logs_in_opens_an_event_and_replays_its_dead_letter(start_hub, hub_env_for_process, tmp_path):
    assert CHROMIUM.exists(), "chromium is missing: `make test` installs it (apt-get install -y chromium)"
    from playwright.sync_api import expect, sync_playwright

    catalog = tmp_path / "catalog.json"
    _catalog(catalog)
    env = {"HUB_ADMIN_TOKEN": TOKEN, "HUB_CATALOG": str(catalog)}
    hub = start_hub(env)
    demo = subprocess.run(
        [sys.executable, "-m", "devtools.demo"],
        cwd=ROOT,
        env={**hub_env_for_process, **env, "HUB_URL": hub.url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    client = client_for(hub)
    body = payloads.stripe_invoice_paid("evt_browser", "in_browser", "dee@example.com", "cus_dee", "price_autumn")
    assert client.stripe(body).status == 200
    # Parked, and its delivery deleted (else the restarted hub would deliver it again).
    wait_for(lambda: _admin(hub.url, "dead-letters")["dead_letters"], what="the dead letter")
    state = Path(hub_env_for_process["HUB_STATE_DIR"]) / "hub.sqlite3"
    wait_for(lambda: not _waiting(state, "evt_browser"), what="the parked delivery to be deleted")

    # The shop adds the new price to its catalog and restarts the hub; then replays.
    hub.stop()
    _catalog(catalog, extra_price="price_autumn")
    hub = start_hub(env)

    shot = Path(os.environ.get("SCREENSHOT") or tmp_path / "dashboard.png")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("dialog", lambda dialog: dialog.accept())
            page.goto(f"{hub.url}/admin")
            page.fill("#token", "not the token")
            page.click("button[type=submit]")
            expect(page.get_by_role("alert")).to_contain_text("not the admin token")
            page.fill("#token", TOKEN)
            page.click("button[type=submit]")

            timeline = page.locator("#timeline")
            expect(timeline).to_contain_text("signed_up")
            expect(timeline).to_contain_text("checkout_completed")
            expect(timeline).to_contain_text("formstack")
            expect(page.locator("#dead-letters")).to_contain_text("price_autumn")

            page.fill("#timeline input[name=q]", "in_browser")
            page.click("#timeline button[type=submit]")
            page.click("#timeline a:text-is('stripe:evt_browser')")
            expect(page.locator("#event-status")).to_have_text("dead letter")
            page.locator("#event button[data-action=replay]").click()
            expect(page.locator("#flash")).to_contain_text("Replayed")
            expect(page.locator("#event button[data-action=replay]")).to_be_disabled()

            def settled() -> bool:
                page.reload()
                return page.locator("#event-status").inner_text() == "done"

            wait_for(settled, timeout=30, what="the replayed event to be done")
            expect(page.locator("#event")).to_contain_text("order")
            expect(page.locator("#dead-letters")).to_contain_text("None: every event went through")
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def _waiting(db: Path, text: str) -> int:
    """Messages still in the embedded queue whose body mentions `text`."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
        return conn.execute("SELECT COUNT(*) FROM messages WHERE body LIKE ?", (f"%{text}%",)).fetchone()[0]


def _admin(url: str, path: str) -> dict:
    import urllib.request

    request = urllib.request.Request(f"{url}/admin/api/{path}", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)
