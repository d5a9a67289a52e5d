"""One view of the chain's sinks, whichever adapters the hub runs with: the embedded
defaults (read from its state folder) or the real services' fakes."""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from email.message import EmailMessage

from devtools.state import State
from tests.fakes.services import FakeServices


@dataclass(frozen=True)
class Order:
    ref: str
    state: str
    email: str
    sku: str


class EmbeddedSinks:
    def __init__(self, state: State) -> None:
        self.state = state

    def customers(self) -> list[dict[str, str]]:
        return self.state.customers()

    def orders(self) -> list[Order]:
        return [Order(o["client_order_ref"], o["state"], o["email"], o["default_code"]) for o in self.state.orders()]

    def emails(self) -> list[EmailMessage]:
        return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in self.state.emails()]

    def slack_texts(self) -> list[str]:
        return [m["text"] for m in self.state.slack()]


class RealSinks:
    def __init__(self, services: FakeServices) -> None:
        self.services = services

    def customers(self) -> list[dict[str, str]]:
        return self.services.customers()

    def orders(self) -> list[Order]:
        return [
            Order(o["client_order_ref"], o["state"], o["email"], o["lines"][0]["product"] if o["lines"] else "")
            for o in self.services.orders()
        ]

    def emails(self) -> list[EmailMessage]:
        return self.services.emails()

    def slack_texts(self) -> list[str]:
        return self.services.slack_texts()


def customer(sinks: EmbeddedSinks | RealSinks, address: str) -> dict[str, str] | None:
    return next((c for c in sinks.customers() if c.get("Email", "").strip().lower() == address), None)
