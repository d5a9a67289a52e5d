"""The `Mailer` port over SMTP (`SMTP_URL`), with the standard library's `smtplib`.

`smtp://user:pass@host:port` upgrades with STARTTLS when the server offers it, then logs
in when a user is given; `smtps://` speaks TLS from the first byte (port 465).
Certificates are always verified against the system's trust store (`SSL_CERT_FILE`
selects another one, as OpenSSL does everywhere): there is no switch to turn this off.

One connection per email: the queue hands a consumer one email at a time, and servers
close idle connections anyway, so a pooled one would mostly be a dead one.
"""

from __future__ import annotations

import select
import smtplib
import ssl
from collections.abc import Callable
from contextlib import nullcontext
from email.utils import parseaddr
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from chalicelib.adapters.mime import to_mime
from chalicelib.errors import ConfigurationError, ErrorMapper, PermanentError, TransientError
from chalicelib.ports import Email, Handover
from chalicelib.retry import service_retry
from chalicelib.settings import Settings

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

DEFAULT_PORTS = {"smtp": 587, "smtps": 465}  # submission ports: Lambda blocks outbound 25
# A local relay (same host or sidecar) may take a password without TLS; only these spellings count.
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def _parse_url(url: str) -> tuple[str, str, int, str, str]:
    """(scheme, host, port, user, password) of `SMTP_URL`, user and password URL-decoded."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigurationError(f"SMTP_URL is not a valid URL ({exc}): use smtp://user:pass@host:port") from exc
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ConfigurationError(f"SMTP_URL must start with smtp:// or smtps://, not {scheme or '(nothing)'}://")
    if not parts.hostname:
        raise ConfigurationError("SMTP_URL has no host: use smtp://user:pass@host:port")
    return (
        scheme,
        parts.hostname,
        port or DEFAULT_PORTS[scheme],
        unquote(parts.username or ""),
        unquote(parts.password or ""),
    )


class SmtpMailer:
    """Send each `Email` as one MIME message through the SMTP server of `SMTP_URL`."""

    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] | None = None) -> None:
        """Parse and check `SMTP_URL` now (a typo fails at start-up); connect on first send.

        `sleep` replaces the retry waits' `time.sleep` (tests).
        """
        self.scheme, self.host, self.port, self.user, self._password = _parse_url(settings.smtp_url)
        self.sender = settings.mail_from
        self.envelope_from = parseaddr(settings.mail_from)[1]
        if "@" not in self.envelope_from:
            raise ConfigurationError(f"MAIL_FROM has no email address: {settings.mail_from!r}")
        self.timeout = settings.http_timeout
        self._send = service_retry("smtp", base=settings.retry_base, sleep=sleep)(self._send_once)

    @property
    def _where(self) -> str:
        return f"{self.host}:{self.port}"

    def send(self, email: Email, handover: Handover | None = None) -> None:
        """Send one email, retrying transient failures a few times before raising them.

        `handover` spans the DATA terminator and the server's quick answer to it: before
        the terminator a dropped connection loses the message, after it the server has
        it all (see `_Smtp`).
        """
        self._send(email, handover or nullcontext)

    def ping(self) -> str:
        """Connect, secure and log in, then NOOP: the whole path a send takes, minus the mail."""
        with _SmtpErrors(self):
            conn, tls = self._connect()
            try:
                conn.noop()
            finally:
                self._close(conn)
        who = f", user {self.user}" if self.user else ""
        return f"SMTP {self._where} ({tls}{who})"

    # --- internals --------------------------------------------------------------------

    def _send_once(self, email: Email, handover: Handover) -> None:
        message = to_mime(email, self.sender)
        with _SmtpErrors(self):
            conn, _ = self._connect()
            try:
                conn.handover = handover
                # send_message flattens with the message's own policy (unfolded headers).
                conn.send_message(message, from_addr=self.envelope_from, to_addrs=[email.to])
            finally:
                self._close(conn)

    def _connect(self) -> tuple[_Smtp, str]:
        """An open, secured and authenticated connection, and how it is secured."""
        context = ssl.create_default_context()  # verifies the certificate and the host name
        conn: _Smtp
        if self.scheme == "smtps":
            conn = _SmtpSsl(self.host, self.port, timeout=self.timeout, context=context)
            tls = "implicit TLS"
        else:
            conn = _Smtp(self.host, self.port, timeout=self.timeout)
            tls = "no TLS"
        try:
            conn.ehlo()
            if self.scheme == "smtp" and conn.has_extn("starttls"):
                conn.starttls(context=context)
                conn.ehlo()  # the server's capabilities may change once encrypted (AUTH)
                tls = "STARTTLS"
            if self.user:
                if tls == "no TLS" and self.host not in LOOPBACK:
                    # A stripped STARTTLS must not make us hand the password to an eavesdropper.
                    raise ConfigurationError(
                        f"SMTP server {self._where} does not offer STARTTLS: refusing to send the password "
                        "in clear. Use smtps:// or a server that offers STARTTLS."
                    )
                conn.login(self.user, self._password)
        except BaseException:
            self._close(conn)
            raise
        return conn, tls

    @staticmethod
    def _close(conn: smtplib.SMTP) -> None:
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            conn.close()  # the message (if any) is already accepted or refused: nothing to report


class _Smtp(smtplib.SMTP):
    """`smtplib.SMTP` whose `data` runs the terminator and a quick answer in `handover()`.

    The standard library writes the message and its terminator at once; split here, a
    crash while the body is on its way is known to have sent nothing. A server that has
    not answered within `QUICK_ANSWER` seconds is more likely stuck than taking it (and
    a crash while waiting for it must not lose the email): the handover is taken back,
    and the answer still awaited, a 250 counted as sent by the caller as usual.
    """

    QUICK_ANSWER = 0.1
    handover: Handover = nullcontext

    def data(self, msg: ReadableBuffer | str) -> tuple[int, bytes]:
        self.putcmd("data")
        code, repl = self.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, repl)
        raw = smtplib._fix_eols(msg).encode("ascii") if isinstance(msg, str) else bytes(msg)  # type: ignore[attr-defined]
        body: bytes = smtplib._quote_periods(raw)  # type: ignore[attr-defined]
        self.send(body if body.endswith(b"\r\n") else body + b"\r\n")
        try:
            with self.handover():
                self.send(b".\r\n")
                if self.sock is not None and not select.select([self.sock], [], [], self.QUICK_ANSWER)[0]:
                    raise _NoQuickAnswer
                return self._data_answer()  # refused: raised inside, so the handover is taken back
        except _NoQuickAnswer:
            return self._data_answer()

    def _data_answer(self) -> tuple[int, bytes]:
        code, repl = self.getreply()
        if code != 250:
            raise smtplib.SMTPDataError(code, repl)
        return code, repl


class _NoQuickAnswer(Exception):
    """The server is still silent after the terminator (see `_Smtp`)."""


class _SmtpSsl(_Smtp, smtplib.SMTP_SSL):
    pass


class _SmtpErrors(ErrorMapper):
    """Maps smtplib/socket/ssl errors to the hub's error kinds."""

    def __init__(self, mailer: SmtpMailer) -> None:
        self.mailer = mailer

    def _map(self, exc: BaseException) -> Exception | None:
        where = self.mailer._where
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            if 400 <= exc.smtp_code < 500:  # 454: temporary authentication failure
                return TransientError(f"SMTP server {where} could not check the login now ({exc.smtp_code})")
            return ConfigurationError(
                f"SMTP server refused the login for user {self.mailer.user}: check SMTP_URL "
                f"({where} answered {exc.smtp_code} {_text(exc.smtp_error)})"
            )
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return ConfigurationError(
                f"SMTP server {where} does not support {exc}: check SMTP_URL (user, smtp:// or smtps://, port)"
            )
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            codes = [code for code, _ in exc.recipients.values()]
            detail = "; ".join(f"{code} {_text(text)}" for code, text in exc.recipients.values())
            if codes and all(400 <= code < 500 for code in codes):
                return TransientError(f"SMTP server {where} deferred the recipient: {detail}")
            return PermanentError(f"SMTP server {where} refused the recipient: {detail}")
        if isinstance(exc, smtplib.SMTPSenderRefused):
            if 400 <= exc.smtp_code < 500:
                return TransientError(f"SMTP server {where} deferred the sender: {exc.smtp_code}")
            return ConfigurationError(
                f"SMTP server {where} refused the sender {exc.sender}: check MAIL_FROM "
                f"({exc.smtp_code} {_text(exc.smtp_error)})"
            )
        if isinstance(exc, smtplib.SMTPResponseException):  # DATA, HELO, connect replies
            if 400 <= exc.smtp_code < 500:
                return TransientError(f"SMTP server {where} said try later: {exc.smtp_code} {_text(exc.smtp_error)}")
            return PermanentError(f"SMTP server {where} refused the message: {exc.smtp_code} {_text(exc.smtp_error)}")
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            return TransientError(f"SMTP server {where} closed the connection: {exc}")
        if isinstance(exc, ssl.SSLCertVerificationError):
            return ConfigurationError(
                f"SMTP server {where}: its TLS certificate could not be verified ({exc.verify_message}): "
                "check the host name in SMTP_URL"
            )
        if isinstance(exc, ssl.SSLError) and "WRONG_VERSION_NUMBER" in str(exc):
            return ConfigurationError(
                f"SMTP server {where} does not speak TLS on connect: use smtp:// for STARTTLS ports (587), "
                "smtps:// for implicit TLS (465)"
            )
        if isinstance(exc, TimeoutError):
            return TransientError(f"SMTP server {where} did not answer within {self.mailer.timeout:g} s")
        if isinstance(exc, OSError | smtplib.SMTPException):  # refused, reset, DNS, TLS EOF
            return TransientError(f"SMTP server {where} unreachable: {type(exc).__name__}: {exc}")
        return None


def _text(value: bytes | str) -> str:
    """A server's reply text, short and printable."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return text.strip()[:200]
