"""A Slack Web API on a loopback port: `/api/<method>` as `slack_sdk.WebClient` calls it,
and `/response/<id>` for slash commands' `response_url` answers.

Point `SLACK_API_URL` at `fake.api_url` (with its trailing slash) and `SLACK_BOT_TOKEN`
at `fake.token`. Bodies may be form-encoded or JSON, as Slack accepts both; the token is
read from `Authorization: Bearer` (or a `token` field). Faults come from the `HttpFake`
base (a 429 carries `Retry-After`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.fakes.faults import Faults
from tests.fakes.http import HttpFake


class SlackFake(HttpFake):
    """`channels`: None accepts any channel; else a mapping name or id -> whether the bot is in it
    (not in it: `not_in_channel`; missing: `channel_not_found`)."""

    def __init__(self, token: str = "xoxb-chocohub-test", channels: dict[str, bool] | None = None) -> None:
        super().__init__()
        self.token = token
        self.channels = channels
        self.expired: set[str] = set()  # response ids that answer 404 expired_url
        self.team = "chocohub"
        self.bot_user = "chocobot"
        self._lock = threading.Lock()
        self._messages: list[dict[str, Any]] = []
        self._responses: list[dict[str, Any]] = []
        self._calls: list[str] = []
        self._ts = 0

    @property
    def api_url(self) -> str:
        """The `SLACK_API_URL` (trailing slash included: slack_sdk needs it)."""
        return f"{self.url}/api/"

    def response_url(self, response_id: str = "1") -> str:
        """A `response_url` as a slash command would carry it."""
        return f"{self.url}/response/{response_id}"

    def reset(self) -> None:
        """Forget what it received, its faults, channels and expired URLs: one fake serves
        a whole test module, each test starting from a quiet Slack."""
        self.faults = Faults()
        self.channels = None
        self.expired.clear()
        with self._lock:
            self._messages.clear()
            self._responses.clear()
            self._calls.clear()
            self.requests.clear()

    # --- inspection --------------------------------------------------------------------

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Posted messages: channel, text, thread_ts ("" when none), ts."""
        with self._lock:
            return [dict(m) for m in self._messages]

    @property
    def responses(self) -> list[dict[str, Any]]:
        """Bodies posted to response URLs, each with its `id`."""
        with self._lock:
            return [dict(r) for r in self._responses]

    @property
    def calls(self) -> list[str]:
        """Web API methods called (after faults), in order, including refused ones."""
        with self._lock:
            return list(self._calls)

    # --- protocol ----------------------------------------------------------------------

    def handle_request(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes]:
        with self._lock:
            self.requests.append((method, path))
        parts = urlsplit(path)
        if parts.path.startswith("/api/"):
            return self._api(parts.path[len("/api/") :], parts.query, headers, body)
        if parts.path.startswith("/response/") and method == "POST":
            return self._response(parts.path[len("/response/") :], headers, body)
        return 404, {"Content-Type": "text/plain"}, b"not found"

    @staticmethod
    def _params(query: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        params: dict[str, Any] = dict(parse_qsl(query))
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        if body and "json" in content_type:
            params.update(json.loads(body))
        elif body:
            params.update(parse_qsl(body.decode("utf-8")))
        return params

    def _api(self, api_method: str, query: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes]:
        with self._lock:
            self._calls.append(api_method)
        try:
            params = self._params(query, headers, body)
        except (ValueError, UnicodeDecodeError):
            return self.json_response(200, {"ok": False, "error": "invalid_json"})
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else params.get("token", "")
        if not token:
            return self.json_response(200, {"ok": False, "error": "not_authed"})
        if token != self.token:
            return self.json_response(200, {"ok": False, "error": "invalid_auth"})
        if api_method == "auth.test":
            return self.json_response(
                200,
                {
                    "ok": True,
                    "url": f"https://{self.team}.slack.com/",
                    "team": self.team,
                    "user": self.bot_user,
                    "team_id": "T0CHOCO",
                    "user_id": "U0CHOCOBOT",
                    "bot_id": "B0CHOCOBOT",
                },
            )
        if api_method == "chat.postMessage":
            return self._post_message(params)
        return self.json_response(200, {"ok": False, "error": "unknown_method"})

    def _post_message(self, params: dict[str, Any]) -> tuple[int, dict, bytes]:
        channel = str(params.get("channel") or "")
        if not channel:
            return self.json_response(200, {"ok": False, "error": "channel_not_found"})
        if self.channels is not None:
            if channel not in self.channels:
                return self.json_response(200, {"ok": False, "error": "channel_not_found"})
            if not self.channels[channel]:
                return self.json_response(200, {"ok": False, "error": "not_in_channel"})
        if not params.get("text") and not params.get("blocks"):
            return self.json_response(200, {"ok": False, "error": "no_text"})
        with self._lock:
            self._ts += 1
            ts = f"{1_700_000_000 + self._ts}.{self._ts:06d}"
            message = {
                "channel": channel,
                "text": str(params.get("text") or ""),
                "thread_ts": str(params.get("thread_ts") or ""),
                "ts": ts,
            }
            self._messages.append(message)
        return self.json_response(
            200, {"ok": True, "channel": channel, "ts": ts, "message": {"text": message["text"], "ts": ts}}
        )

    def _response(self, response_id: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes]:
        if response_id in self.expired:
            return 404, {"Content-Type": "text/html"}, b"expired_url"
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            return 400, {"Content-Type": "text/html"}, b"invalid_payload"
        if not isinstance(payload, dict) or not (payload.get("text") or payload.get("blocks")):
            return 400, {"Content-Type": "text/html"}, b"no_text"
        with self._lock:
            self._responses.append({"id": response_id, **payload})
        return 200, {"Content-Type": "text/html"}, b"ok"


@pytest.fixture
def slack_fake() -> Iterator[SlackFake]:
    """A started Slack Web API fake accepting any channel; token `slack_fake.token`."""
    fake = SlackFake()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
