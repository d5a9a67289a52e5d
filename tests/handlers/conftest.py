"""Handler tests: the routes and consumers of app.py through `chalice.test.Client`."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable

import pytest

from tests.conftest import ROOT


@pytest.fixture
def client(hub_env):
    from chalice.test import Client

    import app as app_module

    with Client(app_module.app, project_dir=str(ROOT), stage_name="dev") as c:
        yield c


@pytest.fixture
def hub(client):
    from chalicelib.bootstrap import get_hub

    return get_hub()


@pytest.fixture
def drain(hub):
    """Run the embedded runtime until every queue is empty (what chalice local does in the background)."""
    import app as app_module

    def run() -> None:
        hub.dispatcher(app_module.app).drain(timeout=20, include_delayed=True)

    return run


@pytest.fixture
def sinks(hub):
    """Everything the chain can change, for "left every sink untouched" assertions."""

    def snapshot() -> dict:
        outbox = hub.state_dir / "outbox" / "mail"
        return {
            "customers": hub.sheet.all(),
            "orders": hub.stock.orders(),
            "emails": sorted(p.name for p in outbox.glob("*.eml")) if outbox.exists() else [],
            "slack": hub.notifier.messages(),
            "queued": hub.queue.depth(),
            "dead": hub.dead_letters.list(),
        }

    return snapshot


@pytest.fixture
def capture_logs():
    """The hub's log lines, as its own formatter writes them (scrubbed JSON)."""
    from chalicelib.logs import logger

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    hub_logger = logging.getLogger(logger.name)
    hub_logger.addHandler(handler)
    yield lambda: stream.getvalue().splitlines()
    hub_logger.removeHandler(handler)


def error_of(response) -> str:
    """The `{"error"}` of an answer (every refusal of every route has this shape)."""
    assert response.headers["Content-Type"] == "application/json", response.body
    body = json.loads(response.body)
    assert set(body) == {"error"}, body
    return body["error"]


@pytest.fixture
def refuses(client, sinks, monkeypatch):
    """`refuses(send, status, message, env)`: the request `send(client)` makes is refused
    with `status` and an `{"error"}` naming `message`, and no sink changed (nothing queued,
    stored, sent or dead-lettered). `env` first sets (or, for None, unsets) settings."""
    from chalicelib.bootstrap import reset_hub

    def check(send: Callable, status: int, message: str, env: dict[str, str | None] | None = None):
        if env:
            for name, value in env.items():
                if value is None:
                    monkeypatch.delenv(name)
                else:
                    monkeypatch.setenv(name, value)
            reset_hub()
        before = sinks()
        response = send(client)
        assert response.status_code == status, response.body
        assert message in error_of(response)
        assert sinks() == before
        return response

    return check
