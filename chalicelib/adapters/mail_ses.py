"""The `Mailer` port over Amazon SES (API v2, `SendEmail` with raw MIME content).

Raw content carries the whole MIME message built by `to_mime`, so the
`List-Unsubscribe` and `List-Unsubscribe-Post` headers reach the inbox as written
(Simple content would let SES compose the headers itself). The region and credentials
come from the environment, as everywhere in AWS (`AWS_REGION` in Lambda); the client is
created on first use, never at import, so cold starts that send no mail do not pay it.
"""

from __future__ import annotations

from collections.abc import Callable
from email.utils import parseaddr
from typing import Any

from chalicelib.adapters.mime import to_mime
from chalicelib.errors import ConfigurationError
from chalicelib.plumbing.aws import AwsClients, AwsErrors
from chalicelib.ports import Email, Handover
from chalicelib.retry import service_retry
from chalicelib.settings import Settings

# What an operator must fix in AWS or in the settings: retrying cannot help.
CONFIGURATION = {
    "MailFromDomainNotVerifiedException": "the MAIL FROM domain of {sender} is not verified in SES",
    "AccountSuspendedException": "the SES account is suspended from sending: see the SES console",
    "SendingPausedException": "sending is paused for this SES account or configuration set",
    "NotFoundException": "an SES resource the request names does not exist",
    "AccessDeniedException": "the AWS credentials may not send with SES (ses:SendEmail)",
    "AccessDenied": "the AWS credentials may not send with SES (ses:SendEmail)",
    "UnrecognizedClientException": "the AWS credentials are not valid",
    "InvalidClientTokenId": "the AWS credentials are not valid",
    "SignatureDoesNotMatch": "the AWS secret key is wrong",
    "ExpiredTokenException": "the AWS session credentials have expired",
}


class SesMailer:
    """Send each `Email` with SES v2 `SendEmail`, raw MIME content."""

    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] | None = None) -> None:
        """Remember the sender; no boto3 import, no client, no network until the first send.

        `sleep` replaces the retry waits' `time.sleep` (tests).
        """
        self.sender = settings.mail_from
        self.sender_address = parseaddr(settings.mail_from)[1]
        if "@" not in self.sender_address:
            raise ConfigurationError(f"MAIL_FROM has no email address: {settings.mail_from!r}")
        # One retry policy, ours (service_retry then the queue), not two stacked.
        self._clients = AwsClients(settings.http_timeout, attempts=1)
        self._send = service_retry("ses", base=settings.retry_base, sleep=sleep)(self._send_once)

    @property
    def _client(self) -> Any:
        """The sesv2 client once made (None before the first call)."""
        return self._clients.peek("sesv2")

    def _ses(self) -> Any:
        """The sesv2 client, created on first use, once."""
        with self._errors():
            return self._clients.get("sesv2")

    def _errors(self) -> AwsErrors:
        hints = {code: what.format(sender=self.sender_address) for code, what in CONFIGURATION.items()}
        return AwsErrors("SES", hints)

    def send(self, email: Email, handover: Handover | None = None) -> None:
        """Send one email, retrying throttling and server errors a few times before raising them.

        No `handover`: one `SendEmail` call connects, sends and waits for SES, and its
        parts cannot be told apart, so a crash in it sends the email again (at least once).
        """
        self._send(email)

    def _send_once(self, email: Email) -> None:
        raw = to_mime(email, self.sender).as_bytes()
        with self._errors():
            self._ses().send_email(
                FromEmailAddress=self.sender_address,
                Destination={"ToAddresses": [email.to]},
                Content={"Raw": {"Data": raw}},
            )

    def ping(self) -> str:
        """Check that the sender (its address, or else its domain) is a verified SES identity."""
        client = self._ses()
        domain = self.sender_address.rsplit("@", 1)[-1]
        for identity in (self.sender_address, domain):
            with self._errors():
                try:
                    found = client.get_email_identity(EmailIdentity=identity)
                except client.exceptions.NotFoundException:
                    continue
            status = found.get("VerificationStatus") or "?"
            # Either field says "verified" (moto fills only VerificationStatus).
            if not (found.get("VerifiedForSendingStatus") or status == "SUCCESS"):
                raise ConfigurationError(f"SES identity {identity} is not verified for sending (status {status})")
            return f"SES {client.meta.region_name}, sender {self.sender_address} verified as {identity}"
        raise ConfigurationError(
            f"MAIL_FROM {self.sender_address}: neither the address nor {domain} is an SES identity "
            f"in {client.meta.region_name}: verify one in SES"
        )
