"""End-to-end fixtures: the real `chalice local` process on a free port."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from devtools.client import HubClient
from devtools.hubproc import HubProcess
from devtools.state import State
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
