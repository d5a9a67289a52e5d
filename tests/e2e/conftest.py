"""End-to-end fixtures: the real `chalice local` process on a free port."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from devtools.client import HubClient
from devtools.hubproc import HubProcess
from tests.conftest import SECRETS


def wait_for(check, timeout: float = 30.0, what: str = "condition"):
    """Poll `check()` until it returns a truthy value; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last saw {last!r}")


class State:
    """Read-only views of what the hub wrote under its state folder."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir

    def _db(self):
        import sqlite3

        conn = sqlite3.connect(f"file:{self.dir / 'hub.sqlite3'}?mode=ro", uri=True, timeout=10)
        conn.row_factory = sqlite3.Row
        return conn

    def _rows(self, sql: str) -> list[dict]:
        if not (self.dir / "hub.sqlite3").exists():
            return []
        with self._db() as conn:
            try:
                return [dict(r) for r in conn.execute(sql)]
            except Exception as exc:  # a table the hub has not created yet
                if "no such table" in str(exc):
                    return []
                raise

    def customers(self) -> list[dict]:
        return self._rows("SELECT * FROM sheet ORDER BY row")

    def customer(self, email: str) -> dict | None:
        return next((c for c in self.customers() if c["Email"].strip().lower() == email), None)

    def orders(self) -> list[dict]:
        return self._rows(
            "SELECT o.client_order_ref, o.state, p.email, pr.default_code FROM stock_orders o"
            " JOIN stock_partners p ON p.id = o.partner_id JOIN stock_products pr ON pr.id = o.product_id"
        )

    def emails(self) -> list[Path]:
        folder = self.dir / "outbox" / "mail"
        return sorted(folder.glob("*.eml")) if folder.exists() else []

    def slack(self) -> list[dict]:
        import json

        path = self.dir / "outbox" / "slack.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def queued(self) -> int:
        return len(self._rows("SELECT id FROM messages"))

    def dead_letters(self) -> list[dict]:
        return self._rows("SELECT * FROM dead_letters WHERE state = 'dead'")


@pytest.fixture
def hub_env_for_process(hub_env, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["HUB_STATE_DIR"] = str(tmp_path / "state")
    return env


@pytest.fixture
def start_hub(hub_env_for_process, tmp_path):
    """Start (and at the end stop) `chalice local` processes sharing one state folder."""
    procs: list[HubProcess] = []

    def start(extra_env: dict[str, str] | None = None) -> HubProcess:
        env = dict(hub_env_for_process)
        env.update(extra_env or {})
        proc = HubProcess(env, tmp_path / f"chalice-{len(procs)}.log")
        env["HUB_PUBLIC_URL"] = proc.url
        proc.start()
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.kill()


@pytest.fixture
def state(hub_env_for_process) -> State:
    return State(Path(hub_env_for_process["HUB_STATE_DIR"]))


def client_for(proc: HubProcess) -> HubClient:
    return HubClient(
        proc.url,
        stripe_secret=SECRETS["STRIPE_WEBHOOK_SECRET"],
        slack_secret=SECRETS["SLACK_SIGNING_SECRET"],
        formstack_key=SECRETS["FORMSTACK_HMAC_KEY"],
    )
