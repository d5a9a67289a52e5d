"""The `Mailer` contract: SMTP (`smtplib` against an aiosmtpd server), SES (boto3 on
moto), the embedded outbox, the history's recording wrapper, and the unit tests' fake.

What the flows rely on: the email arrives as built (recipient, subject, Message-ID, both
parts, the `List-Unsubscribe` headers of DESIGN.md whole on one line); the point of no
return runs inside the caller's `Handover` (nothing taken when it is entered, the message
taken when it is left without an error, so a kill inside it never mails twice); a
deferral is a `TransientError` once the mailer's own retries are spent, a refusal a
`PermanentError` at once; a service that does not answer fails both `send` and `ping`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest

from chalicelib.errors import ConfigurationError, PermanentError, TransientError
from chalicelib.ports import Email, Mailer
from chalicelib.settings import Settings
from devtools.hubproc import free_port  # a port nobody listens on once it returns
from tests.fakes.smtp import SmtpFake

SENDER = "chocohub <hello@chocohub.example>"
# Longer than 78 characters: a default SMTP policy would fold it and RFC 2047-encode it.
UNSUBSCRIBE = "https://hub.chocohub.example/unsubscribe/eyJlbWFpbCI6ImFubkBleGFtcGxlLmNvbSJ9." + "x" * 60
ONE_CLICK = "List-Unsubscribe=One-Click"
EMAIL = Email(
    to="ann@example.com",
    subject="Your Super box awaits — 10% off",
    text=f"Hello Zoë,\nUpgrade to the Super box.\nUnsubscribe: {UNSUBSCRIBE}\n",
    html=f'<p>Hello Zoë,</p><p>Upgrade.</p><p><a href="{UNSUBSCRIBE}">Unsubscribe</a></p>\n',
    headers={"List-Unsubscribe": f"<{UNSUBSCRIBE}>", "List-Unsubscribe-Post": ONE_CLICK},
    message_id="<upsell.ann@chocohub.example>",
)


@dataclass(frozen=True)
class Delivered:
    """One message as its service took it. `sender` and `raw` are None for the port fake,
    which keeps the `Email` itself, not the MIME message a mailer builds from it."""

    recipients: list[str]
    to: str
    subject: str
    message_id: str
    headers: dict[str, str]
    text: str
    html: str
    sender: str | None = None
    raw: bytes | None = None


def _from_mime(raw: bytes, recipients: list[str]) -> Delivered:
    msg: Any = message_from_bytes(raw, policy=policy.default)
    return Delivered(
        recipients=list(recipients),
        to=str(msg["To"]),
        subject=str(msg["Subject"]),
        message_id=str(msg["Message-ID"]),
        headers={name: str(msg[name]) for name in EMAIL.headers if msg[name] is not None},
        text=msg.get_body(("plain",)).get_content().replace("\r\n", "\n"),  # the wire's line ends
        html=msg.get_body(("html",)).get_content().replace("\r\n", "\n"),
        sender=str(msg["From"]),
        raw=raw,
    )


def _from_email(email: Email) -> Delivered:
    return Delivered([email.to], email.to, email.subject, email.message_id, dict(email.headers), email.text, email.html)


@dataclass
class MailRig:
    """A mailer, what its service has taken, and the faults its service can play.

    `retries`: how often the mailer retries a deferral itself before raising (the port
    fake stands for a mailer whose retries are spent). `hands_over`: whether it can tell
    when its service takes a message (SES's one request cannot: it never enters the
    handover). `defer(n)`: the service says "later" to the next n attempts;
    `refuse(address)`: it refuses mail to this address for good; `down()`: a mailer of
    the same kind whose service does not answer.
    """

    mailer: Mailer
    delivered: Callable[[], list[Delivered]]
    down: Callable[[], Mailer]
    sleeps: list[float]
    retries: int = 0
    hands_over: bool = True
    defer: Callable[[int], None] | None = None
    refuse: Callable[[str], None] | None = None


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[SmtpFake]:
    """One STARTTLS + AUTH server for the module (`reset` between tests)."""
    fake = SmtpFake()
    fake.start()
    yield fake
    fake.stop()


def smtp(tmp_path: Path, request: pytest.FixtureRequest) -> MailRig:
    from chalicelib.adapters.mail_smtp import SmtpMailer

    server: SmtpFake = request.getfixturevalue("smtp_server")
    server.reset()
    request.getfixturevalue("monkeypatch").setenv("SSL_CERT_FILE", str(server.ca_path))
    sleeps: list[float] = []

    def settings(url: str) -> Settings:
        return Settings(smtp_url=url, mail_backend="smtp", mail_from=SENDER, http_timeout=5.0)

    def delivered() -> list[Delivered]:
        return [_from_mime(raw, rcpts) for (_, rcpts), raw in zip(server.envelopes, server.raw_messages, strict=True)]

    return MailRig(
        SmtpMailer(settings(server.url), sleep=sleeps.append),
        delivered,
        down=lambda: SmtpMailer(settings(f"smtp://127.0.0.1:{free_port()}"), sleep=sleeps.append),
        sleeps=sleeps,
        retries=3,
        defer=lambda n: server.faults.script(*["503"] * n),  # 451 to the DATA terminator
        refuse=server.refused.add,  # 550 to RCPT TO
    )


def ses(tmp_path: Path, request: pytest.FixtureRequest) -> MailRig:
    import boto3
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    from chalicelib.adapters.mail_ses import SesMailer

    request.getfixturevalue("moto")
    monkeypatch = request.getfixturevalue("monkeypatch")
    backend = ses_backends[DEFAULT_ACCOUNT_ID]["eu-west-1"]  # SES v2 keeps its mail in v1's backend
    boto3.client("sesv2").create_email_identity(EmailIdentity="hello@chocohub.example")
    settings = Settings(mail_backend="ses", mail_from=SENDER, http_timeout=5.0)
    sleeps: list[float] = []

    def down() -> Mailer:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # moto lets it through
        return SesMailer(settings, sleep=sleeps.append)

    def refuse(address: str) -> None:
        # moto refuses no recipient; it refuses an unverified sender (MessageRejected), as SES's sandbox does.
        boto3.client("sesv2").delete_email_identity(EmailIdentity="hello@chocohub.example")

    return MailRig(
        SesMailer(settings, sleep=sleeps.append),
        # moto lists a recipient once per place it names it (Destination, then the To header).
        lambda: [_from_mime(m.raw_data.encode(), sorted(set(m.destinations))) for m in backend.sent_messages],
        down,
        sleeps,
        retries=3,
        hands_over=False,
        refuse=refuse,
    )


def outbox(tmp_path: Path, request: pytest.FixtureRequest) -> MailRig:
    from chalicelib.adapters.mail_outbox import MailOutbox

    folder = tmp_path / "outbox" / "mail"

    def delivered() -> list[Delivered]:
        raws = [path.read_bytes() for path in sorted(folder.glob("*.eml"))]
        return [_from_mime(raw, [str(message_from_bytes(raw)["To"])]) for raw in raws]

    def down() -> Mailer:
        (tmp_path / "full").write_text("a file where the outbox's folder should be")
        return MailOutbox(tmp_path / "full" / "mail", SENDER)

    return MailRig(MailOutbox(folder, SENDER), delivered, down, [])


def fake(tmp_path: Path, request: pytest.FixtureRequest) -> MailRig:
    from tests.unit.port_fakes import FakeMailer

    mailer = FakeMailer()

    def down() -> Mailer:
        broken = FakeMailer()
        broken.fail_next("send")
        broken.fail_next("ping")
        return broken

    return MailRig(
        mailer,
        lambda: [_from_email(email) for email in mailer.sent],
        down,
        [],
        defer=lambda n: mailer.fail_next("send", times=n),
        refuse=lambda address: mailer.fail_next("send", PermanentError(f"550 <{address}>: User unknown")),
    )


def recording(tmp_path: Path, request: pytest.FixtureRequest) -> MailRig:
    """The history's wrapper around every mailer (here the fake): it passes all through."""
    from chalicelib.runtime.recording import Batch, Recorder, RecordingMailer
    from tests.unit.port_fakes import FakeHistory

    inner = fake(tmp_path, request)
    batch = Batch(Recorder(FakeHistory()), [])
    inner.mailer = RecordingMailer(inner.mailer, batch)
    down = inner.down
    inner.down = lambda: RecordingMailer(down(), batch)
    return inner


IMPLEMENTATIONS: dict[str, Callable[[Path, pytest.FixtureRequest], MailRig]] = {
    "smtp": smtp,
    "ses": ses,
    "outbox": outbox,
    "fake": fake,
    "recording": recording,
}
# The services whose faults a test can play (the outbox has no server to defer or refuse;
# moto's SES never defers).
DEFERS = ("smtp", "fake", "recording")
REFUSES = ("smtp", "ses", "fake", "recording")


@pytest.fixture(params=list(IMPLEMENTATIONS))
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> MailRig:
    return IMPLEMENTATIONS[request.param](tmp_path, request)


class Handovers:
    """A `Handover` that notes, for each attempt that entered it, how many messages the
    service had taken on entry and on exit, and whether it was left without an error."""

    def __init__(self, rig: MailRig) -> None:
        self.rig = rig
        self.spans: list[tuple[int, int, bool]] = []

    @contextmanager
    def __call__(self) -> Iterator[None]:
        before = len(self.rig.delivered())
        try:
            yield
        except BaseException:
            self.spans.append((before, len(self.rig.delivered()), False))
            raise
        self.spans.append((before, len(self.rig.delivered()), True))

    def assert_taken_back_empty(self) -> None:
        """Each attempt that entered left with an error, the service having taken nothing."""
        assert all(span == (0, 0, False) for span in self.spans), self.spans


def test_an_email_arrives_as_built_with_its_unsubscribe_headers(rig):
    rig.mailer.send(EMAIL)

    [got] = rig.delivered()
    assert got.recipients == [EMAIL.to]
    assert (got.to, got.subject, got.message_id) == (EMAIL.to, EMAIL.subject, EMAIL.message_id)
    assert got.headers == {"List-Unsubscribe": f"<{UNSUBSCRIBE}>", "List-Unsubscribe-Post": ONE_CLICK}
    assert got.text.rstrip("\n") == EMAIL.text.rstrip("\n")
    assert got.html.rstrip("\n") == EMAIL.html.rstrip("\n")
    if got.raw is not None:  # the MIME message a mailer built: the headers whole, as mail clients read them
        assert got.sender == SENDER
        lines = got.raw.split(b"\r\n\r\n", 1)[0].replace(b"\r\n", b"\n").split(b"\n")
        assert f"List-Unsubscribe: <{UNSUBSCRIBE}>".encode() in lines
        assert f"List-Unsubscribe-Post: {ONE_CLICK}".encode() in lines
    assert rig.sleeps == []


def test_the_point_of_no_return_runs_inside_the_handover(rig):
    handovers = Handovers(rig)
    rig.mailer.send(EMAIL, handovers)

    assert len(rig.delivered()) == 1
    # Entered with nothing taken (a kill before it loses the email, which is retried),
    # left without an error once taken (a kill after it must not mail twice).
    assert handovers.spans == ([(0, 1, True)] if rig.hands_over else [])


@pytest.mark.parametrize("rig", DEFERS, indirect=True)
def test_a_deferral_past_the_mailers_own_retries_is_transient(rig):
    rig.defer(rig.retries + 1)
    handovers = Handovers(rig)

    with pytest.raises(TransientError):
        rig.mailer.send(EMAIL, handovers)
    assert rig.delivered() == []
    handovers.assert_taken_back_empty()  # a deferral never leaves the handover as taken
    assert len(rig.sleeps) == rig.retries  # bounded: then the queue's own backoff takes over

    rig.mailer.send(EMAIL)  # the service is back: the retry delivers it once
    assert len(rig.delivered()) == 1


@pytest.mark.parametrize("rig", REFUSES, indirect=True)
def test_a_refusal_is_permanent_and_never_retried(rig):
    rig.refuse("gone@example.com")
    handovers = Handovers(rig)

    with pytest.raises(PermanentError) as caught:
        rig.mailer.send(replace(EMAIL, to="gone@example.com"), handovers)
    assert not isinstance(caught.value, ConfigurationError)  # the address, not the settings
    assert rig.delivered() == []
    handovers.assert_taken_back_empty()
    assert rig.sleeps == []


def test_ping_describes_a_service_that_answers_and_sends_nothing(rig):
    assert rig.mailer.ping()
    assert rig.delivered() == []


def test_a_service_that_does_not_answer_fails_send_and_ping_as_transient(rig):
    mailer = rig.down()
    handovers = Handovers(rig)

    with pytest.raises(TransientError):
        mailer.send(EMAIL, handovers)
    assert handovers.spans == []
    assert len(rig.sleeps) == rig.retries
    with pytest.raises(TransientError):
        mailer.ping()
