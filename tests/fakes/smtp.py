"""An SMTP server (aiosmtpd) on a free loopback port: STARTTLS or implicit TLS with a
throwaway CA, AUTH LOGIN/PLAIN with a known user, and injected faults per message (the
shared kinds answer 451 or drop the connection; "554" refuses the content for good).

The real `smtplib` (through `SmtpMailer`) reaches it over a real socket. Its certificate
is signed by a CA generated per fake; point `SSL_CERT_FILE` at `fake.ca_path` so that
`ssl.create_default_context()` trusts it, exactly as production verifies a real server.
"""

from __future__ import annotations

import asyncio
import datetime
import email
import ipaddress
import shutil
import socket
import ssl
import tempfile
import threading
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.faults import Faults

TRY_AGAIN = "451 4.3.0 try again"


def _free_port(host: str) -> int:
    """aiosmtpd's `Controller(port=0)` fails its self-test, so a port is picked first."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1/localhost signed by it: (ca, cert, key).

    A separate CA (rather than one self-signed leaf) keeps OpenSSL's strict chain checks
    happy, so clients verify it the way they verify a real server.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "chocohub test SMTP CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_path, cert_path, key_path


class _Handler:
    """aiosmtpd hooks: refuse listed recipients, apply faults, keep what was accepted."""

    def __init__(self, fake: SmtpFake) -> None:
        self.fake = fake

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list) -> str:
        if address.lower() in self.fake.deferred:
            return f"450 4.2.1 <{address}>: Recipient address rejected: mailbox busy, try again later"
        if address.lower() in self.fake.refused:
            # As Postfix says it: the reply names the recipient (so a dead letter's reason would).
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown in virtual mailbox table"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.fake.latency:  # the server's own time to take a message (benchmarks)
            await asyncio.sleep(self.fake.latency)
        kind = self.fake.faults.next()
        if kind in ("reset", "timeout"):
            if kind == "timeout":
                await asyncio.sleep(self.fake.faults.timeout_delay)
            server.transport.abort()  # the client sees the connection drop with no reply
            return TRY_AGAIN  # written to a closed transport: never reaches the client
        if kind == "554":  # the content refused for good (a filter), after the whole body
            return "554 5.6.0 Message content rejected"
        if kind:
            return TRY_AGAIN  # 429/500/503: a mail server's way of saying "later"
        raw = bytes(envelope.original_content or b"")
        parsed = email.message_from_bytes(raw, policy=policy.default)
        with self.fake._lock:
            self.fake._received.append((envelope.mail_from, list(envelope.rcpt_tos), raw, parsed))
        return "250 2.0.0 OK queued"


class SmtpFake:
    """`start()` returns the `smtp://` (or `smtps://`) URL with the fake's credentials.

    tls: "starttls" (the default: STARTTLS offered, AUTH only after it), "implicit" (TLS
    from the first byte, like port 465) or "none". auth: require AUTH before MAIL.
    host: the loopback address to listen on (its certificate is valid for 127.0.0.1 and localhost).
    """

    def __init__(
        self,
        tls: str = "starttls",
        auth: bool = True,
        user: str = "mailer@shop",
        password: str = "s3cret p@ss",
        host: str = "127.0.0.1",
    ) -> None:
        if tls not in ("starttls", "implicit", "none"):
            raise ValueError(f"tls must be starttls, implicit or none, not {tls!r}")
        self.tls = tls
        self.auth = auth
        self.host = host
        self.user = user
        self.password = password
        self.faults = Faults()
        self.latency = 0.0  # seconds added before a message is taken
        self.refused: set[str] = set()  # recipients answered with 550
        self.deferred: set[str] = set()  # recipients answered with 450
        self.logins: list[str] = []  # users that logged in successfully, in order
        self.failed_logins: list[str] = []
        self._lock = threading.Lock()
        self._received: list[tuple[str, list[str], bytes, EmailMessage]] = []
        self._folder: Path | None = None
        self._controller: Any = None
        self.port = 0
        self.ca_path: Path | None = None

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.user
            and auth_data.password.decode() == self.password
        )
        login = auth_data.login.decode(errors="replace") if isinstance(auth_data, LoginPassword) else "?"
        with self._lock:
            (self.logins if ok else self.failed_logins).append(login)
        # handled=False lets aiosmtpd answer 535 itself; True would leave the client waiting.
        return AuthResult(success=ok, handled=False)

    def start(self) -> str:
        import logging

        from aiosmtpd.controller import Controller

        # aiosmtpd logs a deprecation of its own Session.login_data on every AUTH.
        logging.getLogger("mail.log").setLevel(logging.ERROR)

        self._folder = Path(tempfile.mkdtemp(prefix="smtp-fake-"))
        self.ca_path, cert_path, key_path = make_certificates(self._folder)
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_ctx.load_cert_chain(cert_path, key_path)
        kwargs: dict[str, Any] = {
            "server_hostname": "localhost",  # else aiosmtpd asks DNS for the machine's FQDN
            "auth_required": self.auth,
            "authenticator": self._authenticate,
        }
        if self.tls == "starttls":
            kwargs["tls_context"] = server_ctx
        elif self.tls == "implicit":
            kwargs["ssl_context"] = server_ctx
            # aiosmtpd only counts STARTTLS as TLS; here the whole connection is TLS already.
            kwargs["auth_require_tls"] = False
        else:
            kwargs["auth_require_tls"] = False  # a loopback relay with AUTH over plain text
        self.port = _free_port(self.host)
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port, **kwargs)
        self._controller.start()
        return self.url

    @property
    def url(self) -> str:
        """The `SMTP_URL` that reaches this fake with its credentials (URL-encoded)."""
        from urllib.parse import quote

        scheme = "smtps" if self.tls == "implicit" else "smtp"
        creds = f"{quote(self.user, safe='')}:{quote(self.password, safe='')}@" if self.auth else ""
        return f"{scheme}://{creds}{self.host}:{self.port}"

    def reset(self) -> None:
        """Forget what it received, its faults, refusals and logins: one fake serves a
        whole test module, each test starting from a quiet server."""
        self.faults = Faults()
        self.latency = 0.0
        self.refused.clear()
        self.deferred.clear()
        with self._lock:
            self._received.clear()
            self.logins.clear()
            self.failed_logins.clear()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    # --- inspection (copies: the server thread keeps appending) -----------------------

    @property
    def messages(self) -> list[EmailMessage]:
        """The accepted messages, parsed, in order of arrival."""
        with self._lock:
            return [parsed for _, _, _, parsed in self._received]

    @property
    def raw_messages(self) -> list[bytes]:
        """The accepted messages exactly as they came over the wire."""
        with self._lock:
            return [raw for _, _, raw, _ in self._received]

    @property
    def envelopes(self) -> list[tuple[str, list[str]]]:
        """(MAIL FROM, RCPT TO list) of each accepted message."""
        with self._lock:
            return [(sender, list(rcpts)) for sender, rcpts, _, _ in self._received]


@pytest.fixture
def smtp_fake() -> Iterator[SmtpFake]:
    """A started STARTTLS + AUTH SMTP fake; trust it with `SSL_CERT_FILE=smtp_fake.ca_path`."""
    fake = SmtpFake()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
