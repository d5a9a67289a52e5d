"""The real mailers' wire details: `smtplib` against an aiosmtpd server (STARTTLS, implicit
TLS, AUTH, certificates, slow answers), boto3 SES v2 against moto (identities) and against
a local HTTP endpoint that throttles. What every mailer promises (delivery as built, the
handover, refusals, deferrals, a service down) is the contract in tests/contracts."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from chalicelib.adapters.mail_ses import SesMailer
from chalicelib.adapters.mail_smtp import SmtpMailer
from chalicelib.errors import ConfigurationError, PermanentError, TransientError
from chalicelib.ports import Email
from chalicelib.settings import Settings
from tests.fakes.http import HttpFake
from tests.fakes.smtp import SmtpFake, smtp_fake  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[2]


def make_email(to: str = "ann@example.com") -> Email:
    """An email to carry: what arrives, and how, is the Mailer contract's (tests/contracts)."""
    return Email(
        to=to,
        subject="Your Super box awaits",
        text="Hello Ann,\nUpgrade to the Super box.\n",
        html="<p>Hello Ann,</p><p>Upgrade.</p>",
        headers={"List-Unsubscribe": "<https://hub.chocohub.example/unsubscribe/t>"},
        message_id="<upsell.ann@chocohub.example>",
    )


@pytest.fixture
def sleeps() -> list[float]:
    """The retry waits the adapters asked for (they do not really sleep in tests)."""
    return []


# --- SMTP ----------------------------------------------------------------------------------


def smtp_settings(url: str, timeout: float = 5.0) -> Settings:
    return Settings(
        smtp_url=url, mail_backend="smtp", mail_from="chocohub <hello@chocohub.example>", http_timeout=timeout
    )


@pytest.fixture
def trusted(smtp_fake, monkeypatch) -> SmtpFake:  # noqa: F811
    """The STARTTLS fake, its CA trusted the standard way (OpenSSL's SSL_CERT_FILE)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(smtp_fake.ca_path))
    return smtp_fake


@pytest.mark.timeout(20)
def test_smtp_starttls_and_auth_log_in_once_and_send_from_the_mail_from_address(trusted, sleeps):
    # What arrives is the Mailer contract's (tests/contracts); here, the SMTP session.
    SmtpMailer(smtp_settings(trusted.url), sleep=sleeps.append).send(make_email())

    assert trusted.logins == [trusted.user]
    assert trusted.envelopes == [("hello@chocohub.example", ["ann@example.com"])]
    [msg] = trusted.messages
    assert msg.get_content_type() == "multipart/alternative"
    assert sleeps == []


@pytest.mark.timeout(20)
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # aiosmtpd: implicit TLS is TLS
def test_smtps_implicit_tls_delivers(monkeypatch, sleeps):
    fake = SmtpFake(tls="implicit")
    fake.start()
    try:
        assert fake.url.startswith("smtps://")
        monkeypatch.setenv("SSL_CERT_FILE", str(fake.ca_path))
        mailer = SmtpMailer(smtp_settings(fake.url), sleep=sleeps.append)
        mailer.send(make_email())
        assert len(fake.messages) == 1
        assert fake.logins == [fake.user]
        assert mailer.ping() == f"SMTP 127.0.0.1:{fake.port} (implicit TLS, user {fake.user})"
    finally:
        fake.stop()


@pytest.mark.timeout(10)
def test_smtp_wrong_password_is_a_configuration_error_at_once(trusted, sleeps):
    url = trusted.url.replace("s3cret%20p%40ss", "wrong-password")
    assert url != trusted.url
    with pytest.raises(ConfigurationError) as caught:
        SmtpMailer(smtp_settings(url), sleep=sleeps.append).send(make_email())

    message = str(caught.value)
    assert message.startswith("SMTP server refused the login for user mailer@shop: check SMTP_URL")
    assert "wrong-password" not in message
    assert sleeps == []  # not retried: a wrong password stays wrong
    assert trusted.messages == []
    assert trusted.failed_logins and set(trusted.failed_logins) == {"mailer@shop"}


@pytest.mark.timeout(20)
@pytest.mark.parametrize("fault", ["503", "reset"])  # the fake answers a "429" as a 503: 451
def test_smtp_transient_failure_then_success_sends_exactly_one(trusted, sleeps, fault):
    trusted.faults.script(fault)
    SmtpMailer(smtp_settings(trusted.url), sleep=sleeps.append).send(make_email())

    assert trusted.faults.injected[fault] == 1
    assert len(trusted.messages) == 1
    assert len(sleeps) == 1


@pytest.mark.timeout(20)
def test_smtp_server_holding_the_message_past_the_timeout_is_retried(trusted, sleeps):
    trusted.faults.timeout_delay = 1.0
    trusted.faults.script("timeout")
    SmtpMailer(smtp_settings(trusted.url, timeout=0.3), sleep=sleeps.append).send(make_email())

    assert len(trusted.messages) == 1
    assert len(sleeps) == 1


@pytest.mark.timeout(20)
def test_smtp_takes_the_handover_back_when_the_server_is_slow_to_answer_the_terminator(trusted, sleeps):
    # Inside the handover the server has the whole body but has taken nothing yet; a
    # server silent for longer than a quick answer takes leaves it with an error (the
    # handover taken back); the retry's acceptance leaves it without one. (A refusal
    # inside it is the Mailer contract's, in tests/contracts.)
    trusted.faults.timeout_delay = 3.0  # well past the timeout below, which a loaded machine still meets
    trusted.faults.script("timeout")
    seen: list[tuple[int, str]] = []

    @contextmanager
    def handover() -> Iterator[None]:
        before = len(trusted.messages)
        try:
            yield
        except Exception:  # smtplib's own error: the adapter maps it afterwards
            seen.append((before, "refused"))
            raise
        seen.append((before, f"taken: {len(trusted.messages)}"))

    SmtpMailer(smtp_settings(trusted.url, timeout=1.5), sleep=sleeps.append).send(make_email(), handover)
    assert seen == [(0, "refused"), (0, "taken: 1")]


@pytest.mark.timeout(20)
def test_smtp_recipient_deferred_with_a_4xx_is_transient_before_any_handover(trusted, sleeps):
    trusted.deferred.add("busy@example.com")
    entered: list[str] = []

    @contextmanager
    def handover() -> Iterator[None]:
        entered.append("entered")
        yield

    with pytest.raises(TransientError, match="deferred the recipient: 450"):
        SmtpMailer(smtp_settings(trusted.url), sleep=sleeps.append).send(make_email(to="busy@example.com"), handover)
    assert entered == []  # RCPT TO comes before DATA: nothing could have been taken
    assert len(sleeps) == 3
    assert trusted.messages == []


@pytest.mark.timeout(20)
def test_smtp_content_refused_with_a_5xx_after_the_terminator_is_permanent_and_taken_back(trusted, sleeps):
    trusted.faults.script("554")
    left: list[str] = []

    @contextmanager
    def handover() -> Iterator[None]:
        try:
            yield
        except Exception:
            left.append("taken back")
            raise
        left.append("taken")

    with pytest.raises(PermanentError, match="554") as caught:
        SmtpMailer(smtp_settings(trusted.url), sleep=sleeps.append).send(make_email(), handover)
    assert not isinstance(caught.value, ConfigurationError)
    assert left == ["taken back"]
    assert sleeps == []
    assert trusted.messages == []


@pytest.mark.timeout(10)
def test_smtp_certificate_is_verified_by_default(smtp_fake, monkeypatch, tmp_path, sleeps):  # noqa: F811
    # A trust store without the fake's CA: the server's certificate must be refused.
    from tests.fakes.smtp import make_certificates

    other_ca, _, _ = make_certificates(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(other_ca))
    with pytest.raises(ConfigurationError, match="certificate could not be verified"):
        SmtpMailer(smtp_settings(smtp_fake.url), sleep=sleeps.append).send(make_email())
    assert smtp_fake.logins == []  # the password never left
    assert smtp_fake.messages == []


@pytest.mark.timeout(10)
def test_smtp_plain_loopback_relay_without_tls_or_auth(sleeps):
    fake = SmtpFake(tls="none", auth=False)
    fake.start()
    try:
        mailer = SmtpMailer(smtp_settings(fake.url), sleep=sleeps.append)
        mailer.send(make_email())
        assert len(fake.messages) == 1
        assert mailer.ping() == f"SMTP 127.0.0.1:{fake.port} (no TLS)"
    finally:
        fake.stop()


@pytest.mark.timeout(10)
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # the very case under test
def test_smtp_password_is_never_sent_in_clear_to_a_remote_server(sleeps):
    # 127.0.0.2 stands for a remote server here (Linux routes all of 127/8 to loopback).
    fake = SmtpFake(tls="none", host="127.0.0.2")
    try:
        fake.start()
    except OSError:
        pytest.skip("127.0.0.2 is not a local address on this system")
    try:
        with pytest.raises(ConfigurationError, match="does not offer STARTTLS: refusing to send the password"):
            SmtpMailer(smtp_settings(fake.url), sleep=sleeps.append).send(make_email())
        assert fake.logins == fake.failed_logins == []
        assert fake.messages == []
    finally:
        fake.stop()


@pytest.mark.timeout(10)
def test_smtp_ping_logs_in_over_starttls(trusted):
    mailer = SmtpMailer(smtp_settings(trusted.url))
    assert mailer.ping() == f"SMTP 127.0.0.1:{trusted.port} (STARTTLS, user mailer@shop)"
    assert trusted.logins == ["mailer@shop"]
    assert trusted.messages == []


@pytest.mark.timeout(10)
def test_smtp_ping_with_a_wrong_password_raises_configuration_error(trusted):
    mailer = SmtpMailer(smtp_settings(trusted.url.replace("s3cret", "nope")))
    with pytest.raises(ConfigurationError, match="refused the login"):
        mailer.ping()


@pytest.mark.parametrize(
    "url",
    ["http://user:pw@host:25", "smtp://", "smtp://host:notaport", "mail.example.com"],
)
def test_smtp_url_is_checked_at_construction(url):
    with pytest.raises(ConfigurationError, match="SMTP_URL"):
        SmtpMailer(smtp_settings(url))


def test_smtp_url_defaults_and_decoding():
    mailer = SmtpMailer(smtp_settings("smtp://us%40er:p%3Ass@mail.example.com"))
    assert (mailer.host, mailer.port, mailer.user, mailer._password) == ("mail.example.com", 587, "us@er", "p:ss")
    assert SmtpMailer(smtp_settings("smtps://mail.example.com")).port == 465


# --- SES -----------------------------------------------------------------------------------

SES_SENDER = "hello@chocohub.example"


def ses_settings(timeout: float = 5.0) -> Settings:
    return Settings(mail_backend="ses", mail_from=f"chocohub <{SES_SENDER}>", http_timeout=timeout)


@pytest.fixture
def ses(moto) -> object:
    """moto's SES backend (v2 stores its mail in the v1 backend)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return ses_backends[DEFAULT_ACCOUNT_ID]["eu-west-1"]


def verify_sender(identity: str = SES_SENDER) -> None:
    import boto3

    boto3.client("sesv2").create_email_identity(EmailIdentity=identity)


def test_ses_makes_no_client_before_the_first_send(aws_env):
    mailer = SesMailer(ses_settings())
    assert mailer._client is None


def test_importing_the_mailers_loads_no_sdk():
    code = (
        "import sys; import chalicelib.adapters.mail_ses, chalicelib.adapters.mail_smtp; "
        "print(sorted(m for m in ('boto3', 'aiosmtpd', 'moto') if m in sys.modules))"
    )  # (botocore itself comes with Powertools' logger, which every module loads)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_ses_sender_verified_by_its_domain_is_enough(ses):
    verify_sender("chocohub.example")
    mailer = SesMailer(ses_settings())
    mailer.send(make_email())
    assert len(ses.sent_messages) == 1
    assert mailer.ping() == f"SES eu-west-1, sender {SES_SENDER} verified as chocohub.example"


def test_ses_ping_reports_the_verified_sender(ses):
    verify_sender()
    assert SesMailer(ses_settings()).ping() == f"SES eu-west-1, sender {SES_SENDER} verified as {SES_SENDER}"


def test_ses_ping_without_identity_is_a_configuration_error(ses):
    with pytest.raises(ConfigurationError, match=r"neither the address nor chocohub\.example"):
        SesMailer(ses_settings()).ping()


def test_ses_without_region_is_a_configuration_error(aws_env, monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with pytest.raises(ConfigurationError, match="AWS_DEFAULT_REGION"):
        SesMailer(ses_settings()).send(make_email())


class SesEndpoint(HttpFake):
    """Just enough of the SES v2 REST endpoint: SendEmail succeeds (after injected faults)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[bytes] = []

    def handle_request(self, method, path, headers, body):
        if method == "POST" and path == "/v2/email/outbound-emails":
            self.sent.append(body)
            return self.json_response(200, {"MessageId": f"m-{len(self.sent)}"})
        if path.startswith("/v2/email/"):
            return (
                400,
                {"Content-Type": "application/json", "x-amzn-ErrorType": "MessageRejected"},
                b'{"message": "Email address is not verified."}',
            )
        return self.json_response(404, {"message": "no such route"})


@pytest.fixture
def ses_endpoint(aws_env, monkeypatch) -> Iterator[SesEndpoint]:
    endpoint = SesEndpoint()
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint.start())
    yield endpoint
    endpoint.stop()


@pytest.mark.timeout(20)
def test_ses_throttling_and_server_errors_are_retried_then_succeed(ses_endpoint, sleeps):
    ses_endpoint.faults.script("429", "503", "reset")
    SesMailer(ses_settings(), sleep=sleeps.append).send(make_email())

    assert len(ses_endpoint.sent) == 1
    assert len(sleeps) == 3
    assert sleeps[0] == 1.0  # the 429's Retry-After


@pytest.mark.timeout(20)
def test_ses_persistent_throttling_ends_as_transient(ses_endpoint, sleeps):
    ses_endpoint.faults.script("429", "429", "429", "429")
    with pytest.raises(TransientError) as caught:
        SesMailer(ses_settings(), sleep=sleeps.append).send(make_email())
    assert caught.value.retry_after == 1.0
    assert len(sleeps) == 3
    assert ses_endpoint.sent == []


def test_ses_settings_are_plain_dataclass_copies():
    # The adapters take the Settings the composition root hands them, nothing else.
    settings = dataclasses.replace(ses_settings(), mail_from="nobody")
    with pytest.raises(ConfigurationError, match="MAIL_FROM"):
        SesMailer(settings)
