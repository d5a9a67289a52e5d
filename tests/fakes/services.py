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


SES_REGION = "eu-west-1"
SES_SENDER = "hello@shop.example"


class FakeServices:
    """`odoo_protocol` picks Odoo's API; `mail` picks SMTP (aiosmtpd) or SES v2 (a moto
    server in this process, reached through AWS_ENDPOINT_URL)."""

    def __init__(self, odoo_protocol: str = "xmlrpc", mail: str = "smtp") -> None:
        self.sheets = SheetsFake()
        self.odoo = OdooFake()
        self.smtp = SmtpFake()
        self.slack = SlackFake()
        self.odoo_protocol = odoo_protocol
        self.mail = mail
        self._moto: Any = None
        self._account: dict[str, Any] = {}

    @property
    def all(self) -> tuple:
        return (self.sheets, self.odoo, self.smtp, self.slack)

    def start(self) -> FakeServices:
        for fake in self.all:
            fake.start()
        self._account = self.sheets.service_account()
        self.sheets.create_spreadsheet(SHEET_ID, worksheets={"Sheet1": []}, shared_with=[self._account["client_email"]])
        if self.mail == "ses":
            import boto3
            from moto.server import ThreadedMotoServer

            self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            self._moto.start()
            boto3.client("sesv2", **self._aws_client_args()).create_email_identity(EmailIdentity=SES_SENDER)
        return self

    def stop(self) -> None:
        for fake in self.all:
            fake.stop()
        if self._moto is not None:
            self._moto.stop()

    def _aws_env(self) -> dict[str, str]:
        host, port = self._moto.get_host_and_port()
        return {
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_DEFAULT_REGION": SES_REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }

    def _aws_client_args(self) -> dict[str, str]:
        env = self._aws_env()
        return {
            "endpoint_url": env["AWS_ENDPOINT_URL"],
            "region_name": SES_REGION,
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }

    def env(self) -> dict[str, str]:
        """The hub's settings for every real adapter, pointed at the fakes."""
        assert self.smtp.ca_path is not None
        return {
            "GOOGLE_SHEET_ID": SHEET_ID,
            "GOOGLE_SHEET_WORKSHEET": WORKSHEET,
            "GOOGLE_SERVICE_ACCOUNT": json.dumps(self._account),
            "GOOGLE_SHEETS_API_URL": self.sheets.url,
            # The fake enforces no quota unless told to (`enforce_quota`): nor does the hub, then.
            "GOOGLE_SHEETS_QUOTA": "100000",
            **self.odoo.env(self.odoo_protocol),
            "MAIL_FROM": f"chocohub <{SES_SENDER}>",
            "SLACK_BOT_TOKEN": self.slack.token,
            "SLACK_API_URL": self.slack.api_url,
            **(
                self._aws_env() | {"MAIL_BACKEND": "ses"}
                if self.mail == "ses"
                else {
                    "SMTP_URL": self.smtp.url,
                    # The SMTP fake's certificate is self-signed: trust its CA the standard way.
                    "SSL_CERT_FILE": str(self.smtp.ca_path),
                }
            ),
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

    def customer_emails(self) -> list[str]:
        """The Email column of the hub's worksheet (cheaper than `customers`)."""
        if WORKSHEET not in self.sheets.worksheet_titles(SHEET_ID):
            return []
        return self.sheets.column(SHEET_ID, WORKSHEET, "Email")

    def emails(self) -> list[EmailMessage]:
        if self.mail == "ses":
            from email import message_from_string, policy

            from moto.core import DEFAULT_ACCOUNT_ID
            from moto.ses.models import ses_backends

            sent = ses_backends[DEFAULT_ACCOUNT_ID][SES_REGION].sent_messages
            return [message_from_string(m.raw_data, policy=policy.default) for m in sent]
        return self.smtp.messages

    def slack_texts(self) -> list[str]:
        return [m["text"] for m in self.slack.messages]
