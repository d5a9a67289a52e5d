"""Every real service the hub talks to, faked at its protocol and started together:
Google Sheets v4 (+ OAuth token), Odoo (XML-RPC and JSON-2), SMTP (STARTTLS + AUTH) and
the Slack Web API. `env()` points the hub's real adapters at them; the views read what
each service holds, as the shop would see it."""

from __future__ import annotations

import json
from email.message import EmailMessage
from typing import Any

from tests.fakes.odoo import OdooFake
from tests.fakes.sheets import SheetsFake
from tests.fakes.slack import SlackFake
from tests.fakes.smtp import SmtpFake

SHEET_ID = "chocohub-customers-sheet"
WORKSHEET = "Customers"


class FakeServices:
    def __init__(self, odoo_protocol: str = "xmlrpc") -> None:
        self.sheets = SheetsFake()
        self.odoo = OdooFake()
        self.smtp = SmtpFake()
        self.slack = SlackFake()
        self.odoo_protocol = odoo_protocol
        self._account: dict[str, Any] = {}

    @property
    def all(self) -> tuple:
        return (self.sheets, self.odoo, self.smtp, self.slack)

    def start(self) -> FakeServices:
        for fake in self.all:
            fake.start()
        self._account = self.sheets.service_account()
        self.sheets.create_spreadsheet(SHEET_ID, worksheets={"Sheet1": []}, shared_with=[self._account["client_email"]])
        return self

    def stop(self) -> None:
        for fake in self.all:
            fake.stop()

    def env(self) -> dict[str, str]:
        """The hub's settings for every real adapter, pointed at the fakes."""
        assert self.smtp.ca_path is not None
        return {
            "GOOGLE_SHEET_ID": SHEET_ID,
            "GOOGLE_SHEET_WORKSHEET": WORKSHEET,
            "GOOGLE_SERVICE_ACCOUNT": json.dumps(self._account),
            "GOOGLE_SHEETS_API_URL": self.sheets.url,
            **self.odoo.env(self.odoo_protocol),
            "SMTP_URL": self.smtp.url,
            "MAIL_FROM": "chocohub <hello@shop.example>",
            # The SMTP fake's certificate is self-signed: trust its CA the standard way.
            "SSL_CERT_FILE": str(self.smtp.ca_path),
            "SLACK_BOT_TOKEN": self.slack.token,
            "SLACK_API_URL": self.slack.api_url,
        }

    def set_fault_rate(self, rate: float, timeout_delay: float = 1.0, retry_after: str = "1", seed: int = 0) -> None:
        """Every service fails `rate` of its requests (429, 5xx, timeouts, resets)."""
        for n, fake in enumerate(self.all):
            fake.faults.timeout_delay = timeout_delay
            fake.faults.retry_after = retry_after
            fake.faults.set_rate(rate, seed=seed + n)

    def injected(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for fake in self.all:
            for kind, count in fake.faults.injected.items():
                total[kind] = total.get(kind, 0) + count
        return total

    # --- what each service holds -------------------------------------------------------

    def customers(self) -> list[dict[str, str]]:
        """Sheet rows by header (the worksheet the hub created)."""
        if WORKSHEET not in self.sheets.worksheet_titles(SHEET_ID):
            return []
        header, *rows = self.sheets.rows(SHEET_ID, WORKSHEET) or [[]]
        return [{h: (row[i] if i < len(row) else "") for i, h in enumerate(header)} for row in rows]

    def orders(self) -> list[dict[str, Any]]:
        return self.odoo.orders()

    def emails(self) -> list[EmailMessage]:
        return self.smtp.messages

    def slack_texts(self) -> list[str]:
        return [m["text"] for m in self.slack.messages]
