"""Post signed provider requests to a running hub (demo, end-to-end tests, chaos)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass

from devtools import signing


@dataclass
class Answer:
    status: int
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class HubClient:
    base_url: str
    stripe_secret: str
    slack_secret: str
    formstack_key: str
    timeout: float = 15.0

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> Answer:
        request = urllib.request.Request(self.base_url + path, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return Answer(response.status, response.read())
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, exc.read())

    def get(self, path: str) -> Answer:
        try:
            with urllib.request.urlopen(self.base_url + path, timeout=self.timeout) as response:
                return Answer(response.status, response.read())
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, exc.read())

    def formstack(self, body: bytes, content_type: str = "application/x-www-form-urlencoded") -> Answer:
        return self.post("/webhooks/formstack", body, signing.formstack_headers(body, self.formstack_key, content_type))

    def stripe(self, body: bytes) -> Answer:
        return self.post("/webhooks/stripe", body, signing.stripe_headers(body, self.stripe_secret))

    def slack_command(self, body: bytes) -> Answer:
        headers = signing.slack_headers(body, self.slack_secret, "application/x-www-form-urlencoded")
        return self.post("/slack/commands", body, headers)

    def slack_event(self, body: bytes) -> Answer:
        return self.post("/slack/events", body, signing.slack_headers(body, self.slack_secret, "application/json"))
