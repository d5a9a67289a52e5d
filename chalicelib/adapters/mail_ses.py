"""The `Mailer` port over Amazon SES (API v2, `SendEmail` with raw MIME content).

Raw content carries the whole MIME message built by `to_mime`, so the
`List-Unsubscribe` and `List-Unsubscribe-Post` headers reach the inbox as written
(Simple content would let SES compose the headers itself). The region and credentials
come from the environment, as everywhere in AWS (`AWS_REGION` in Lambda); the client is
created on first use, never at import, so cold starts that send no mail do not pay it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from email.utils import parseaddr
from typing import Any

from chalicelib.adapters.error_mapping import ErrorMapper
from chalicelib.adapters.mime import to_mime
from chalicelib.errors import ConfigurationError, PermanentError, TransientError
from chalicelib.ports import Email
from chalicelib.retry import parse_retry_after, sink_retry
from chalicelib.settings import Settings

THROTTLED = {"TooManyRequestsException", "ThrottlingException", "Throttling", "LimitExceededException"}
SERVER_SIDE = {"InternalFailure", "InternalServerError", "ServiceUnavailable", "ServiceUnavailableException"}
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
        self.timeout = settings.http_timeout
        self._client: Any = None
        self._lock = threading.Lock()
        self._send = sink_retry("ses", sleep=sleep)(self._send_once)

    def _ses(self) -> Any:
        """The sesv2 client, created once (boto3's default session is not thread-safe)."""
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config
                from botocore.exceptions import NoRegionError

                config = Config(
                    connect_timeout=self.timeout,
                    read_timeout=self.timeout,
                    # One retry policy, ours (sink_retry then the queue), not two stacked.
                    retries={"mode": "standard", "total_max_attempts": 1},
                )
                try:
                    self._client = boto3.client("sesv2", config=config)
                except NoRegionError as exc:
                    raise ConfigurationError(
                        "SES needs an AWS region: set AWS_DEFAULT_REGION (Lambda sets it itself)"
                    ) from exc
            return self._client

    def send(self, email: Email) -> None:
        """Send one email, retrying throttling and server errors a few times before raising them."""
        self._send(email)

    def _send_once(self, email: Email) -> None:
        raw = to_mime(email, self.sender).as_bytes()
        with _SesErrors(self):
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
            with _SesErrors(self):
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


class _SesErrors(ErrorMapper):
    """Maps botocore errors to the hub's error kinds."""

    def __init__(self, mailer: SesMailer) -> None:
        self.mailer = mailer

    def _map(self, exc: BaseException) -> Exception | None:
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectionError,
            HTTPClientError,
            NoCredentialsError,
            NoRegionError,
            ParamValidationError,
            PartialCredentialsError,
        )

        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            message = str(error.get("Message", ""))[:200]
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            if code in THROTTLED or code in SERVER_SIDE or status == 429 or status >= 500:
                retry_after = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("retry-after")
                return TransientError(f"SES {code or status}: {message}", retry_after=parse_retry_after(retry_after))
            if code in CONFIGURATION:
                what = CONFIGURATION[code].format(sender=self.mailer.sender_address)
                return ConfigurationError(f"SES {code}: {what} ({message})")
            return PermanentError(f"SES {code or status} refused the email: {message}")
        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            return ConfigurationError(f"SES: no usable AWS credentials ({exc})")
        if isinstance(exc, NoRegionError):
            return ConfigurationError("SES needs an AWS region: set AWS_DEFAULT_REGION (Lambda sets it itself)")
        if isinstance(exc, ParamValidationError):  # this email's data, not the service
            return PermanentError(f"SES refused the request's parameters: {exc}")
        if isinstance(exc, ConnectionError | HTTPClientError):  # endpoint down, timeouts, resets
            return TransientError(f"SES unreachable: {type(exc).__name__}: {exc}")
        if isinstance(exc, BotoCoreError):  # e.g. credentials not fetched from the container: retry
            return TransientError(f"SES client error: {type(exc).__name__}: {exc}")
        return None
