"""`SlackWeb`'s wire details with the real `slack_sdk` clients against the Slack Web API
fake (retries, timeouts, the token, response_url's hosts, the ephemeral answer). What
every notifier promises is the contract in tests/contracts."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import types
from pathlib import Path

import pytest

from chalicelib.adapters.slack_web import SlackWeb
from chalicelib.errors import ConfigurationError, PermanentError, TransientError
from chalicelib.settings import Settings
from tests.fakes.slack import SlackFake, slack_fake  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(20)


def settings_for(fake: SlackFake, token: str | None = None, timeout: float = 5.0) -> Settings:
    return Settings(slack_bot_token=token or fake.token, slack_api_url=fake.api_url, http_timeout=timeout)


@pytest.fixture
def sleeps() -> list[float]:
    """The waits of our own retries (service_retry)."""
    return []


@pytest.fixture(autouse=True)
def sdk_sleeps(monkeypatch) -> list[float]:
    """The waits of slack_sdk's own retry handlers (rate limit, connection), recorded instead of slept."""
    from slack_sdk.http_retry import builtin_handlers, handler

    recorded: list[float] = []
    for module in (builtin_handlers, handler):
        monkeypatch.setattr(module, "time", types.SimpleNamespace(sleep=recorded.append))
    return recorded


def test_api_url_without_trailing_slash_still_reaches_the_api(slack_fake):  # noqa: F811
    settings = Settings(slack_bot_token=slack_fake.token, slack_api_url=f"{slack_fake.url}/api", http_timeout=5)
    SlackWeb(settings).post("#orders", "hello")
    assert len(slack_fake.messages) == 1


def test_rate_limited_then_success_posts_exactly_once(slack_fake, sleeps, sdk_sleeps):  # noqa: F811
    slack_fake.faults.script("429")
    SlackWeb(settings_for(slack_fake), sleep=sleeps.append).post("#orders", "hello")

    assert slack_fake.faults.injected["429"] == 1
    assert [m["text"] for m in slack_fake.messages] == ["hello"]
    assert len(sdk_sleeps) == 1 and 1.0 <= sdk_sleeps[0] < 2.0  # slack_sdk honoured Retry-After: 1
    assert sleeps == []


def test_rate_limited_beyond_the_sdk_retry_goes_to_our_bounded_retry(slack_fake, sleeps, sdk_sleeps):  # noqa: F811
    # The Notifier contract (tests/contracts) holds the outcome; here, who waits: slack_sdk
    # once per attempt, then our own retries.
    slack_fake.faults.script(*["429"] * 8)
    with pytest.raises(TransientError):
        SlackWeb(settings_for(slack_fake), sleep=sleeps.append).post("#orders", "hello")
    assert len(sdk_sleeps) == 4 and len(sleeps) == 3


@pytest.mark.parametrize("fault", ["500", "503", "reset"])
def test_server_error_then_success(slack_fake, sleeps, sdk_sleeps, fault):  # noqa: F811
    slack_fake.faults.script(fault)
    SlackWeb(settings_for(slack_fake), sleep=sleeps.append).post("#orders", "hello")
    assert len(slack_fake.messages) == 1
    # slack_sdk retries a reset connection itself; a 5xx is ours to retry.
    assert (len(sdk_sleeps), len(sleeps)) == ((1, 0) if fault == "reset" else (0, 1))


def test_slow_api_is_a_transient_error(slack_fake, sleeps):  # noqa: F811
    slack_fake.faults.timeout_delay = 1.0
    slack_fake.faults.script("timeout", "timeout", "timeout", "timeout")
    with pytest.raises(TransientError):
        SlackWeb(settings_for(slack_fake, timeout=0.2), sleep=sleeps.append).post("#orders", "hello")
    assert len(sleeps) == 3


def test_invalid_token_is_a_configuration_error_without_retries(slack_fake, sleeps):  # noqa: F811
    with pytest.raises(ConfigurationError, match=r"invalid_auth.*SLACK_BOT_TOKEN") as caught:
        SlackWeb(settings_for(slack_fake, token="xoxb-wrong"), sleep=sleeps.append).post("#orders", "hello")
    assert "xoxb-wrong" not in str(caught.value)
    assert slack_fake.calls == ["chat.postMessage"]
    assert sleeps == []


def test_channel_the_bot_is_not_in_says_to_invite_it(sleeps):
    fake = SlackFake(channels={"#orders": True, "#ops": False})
    fake.start()
    try:
        slack = SlackWeb(settings_for(fake), sleep=sleeps.append)
        with pytest.raises(PermanentError, match=r"not_in_channel.*invite the bot to #ops") as caught:
            slack.post("#ops", "hello")
        assert not isinstance(caught.value, ConfigurationError)
        with pytest.raises(PermanentError, match=r"channel_not_found.*SLACK_CHANNEL"):
            slack.post("#nowhere", "hello")
        slack.post("#orders", "hello")
        assert [m["channel"] for m in fake.messages] == ["#orders"]
        assert sleeps == []
    finally:
        fake.stop()


def test_respond_posts_an_ephemeral_answer_to_the_response_url(slack_fake, sleeps):  # noqa: F811
    SlackWeb(settings_for(slack_fake), sleep=sleeps.append).respond(slack_fake.response_url("T1-42"), "3 customers")
    assert slack_fake.responses == [{"id": "T1-42", "text": "3 customers", "response_type": "ephemeral"}]
    assert slack_fake.messages == []


def test_respond_retries_a_server_error(slack_fake, sleeps):  # noqa: F811
    slack_fake.faults.script("503")
    SlackWeb(settings_for(slack_fake), sleep=sleeps.append).respond(slack_fake.response_url("7"), "done")
    assert [r["text"] for r in slack_fake.responses] == ["done"]
    assert len(sleeps) == 1


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("https://evil.example/commands/T1/42/secret", "https://evil.example:443"),
        ("http://hooks.slack.com/commands/T1/42/secret", "http://hooks.slack.com:80"),  # not https
        ("https://hooks.slack.com:8443/commands/T1/42/secret", "https://hooks.slack.com:8443"),
        ("https://hooks.slack.com.evil.example/commands/secret", "https://hooks.slack.com.evil.example:443"),
        ("https://hooks.slack.com@evil.example/commands/secret", "https://evil.example:443"),
        ("https://hooks.slack.com:https/commands/secret", "an unreadable address"),
        ("file:///etc/passwd", "file://(no host), not"),
        ("", "://(no host), not"),
    ],
)
def test_respond_refuses_a_response_url_off_slack_and_off_the_api_host(slack_fake, sleeps, url, named):  # noqa: F811
    with pytest.raises(PermanentError, match="response_url refused") as caught:
        SlackWeb(settings_for(slack_fake), sleep=sleeps.append).respond(url, "3 customers")

    assert named in str(caught.value)
    assert "secret" not in str(caught.value)  # the URL's path is a credential: never in a message
    assert slack_fake.responses == [] and sleeps == []


def test_respond_refuses_a_host_less_url_even_when_the_api_url_has_no_host(slack_fake, sleeps):  # noqa: F811
    settings = Settings(slack_bot_token=slack_fake.token, slack_api_url="/api/", http_timeout=5)

    with pytest.raises(PermanentError, match="response_url refused"):
        SlackWeb(settings, sleep=sleeps.append).respond("/response/1", "3 customers")


def test_respond_refuses_the_api_host_on_another_port(slack_fake, sleeps):  # noqa: F811
    other = slack_fake.response_url("1").replace(f":{slack_fake.url.rsplit(':', 1)[1]}/", ":9/")

    with pytest.raises(PermanentError, match=re.escape("to http://127.0.0.1:9, not")):
        SlackWeb(settings_for(slack_fake), sleep=sleeps.append).respond(other, "3 customers")


def test_respond_accepts_slacks_hooks_host(slack_fake, sleeps, monkeypatch):  # noqa: F811
    """hooks.slack.com is let through: seen at a local HTTPS proxy that refuses the tunnel,
    so nothing leaves this machine (a name lookup of any other host fails the test)."""
    tunnels: list[str] = []
    proxy = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = proxy.accept()
            except OSError:
                return
            with conn:
                tunnels.append(conn.recv(4096).decode("latin-1").split("\r\n", 1)[0])
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")

    threading.Thread(target=serve, daemon=True).start()
    real_getaddrinfo = socket.getaddrinfo

    def local_only(host, *args, **kwargs):
        if host not in ("127.0.0.1", "localhost"):
            raise AssertionError(f"the test tried to resolve {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", local_only)
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.getsockname()[1]}")
    try:
        with pytest.raises(TransientError):  # the proxy's refusal, not ours
            SlackWeb(settings_for(slack_fake), sleep=sleeps.append).respond(
                "https://hooks.slack.com/commands/T1/42/secret", "3 customers"
            )
    finally:
        proxy.close()

    assert tunnels and all(line.startswith("CONNECT hooks.slack.com:443 ") for line in tunnels)


def test_ping_names_the_team_and_bot(slack_fake):  # noqa: F811
    assert SlackWeb(settings_for(slack_fake)).ping() == f"Slack team chocohub as chocobot ({slack_fake.api_url})"
    assert slack_fake.calls == ["auth.test"]


def test_ping_with_a_wrong_token_is_a_configuration_error(slack_fake):  # noqa: F811
    with pytest.raises(ConfigurationError, match="invalid_auth"):
        SlackWeb(settings_for(slack_fake, token="xoxb-revoked")).ping()


def test_no_client_and_no_sdk_before_first_use():
    code = (
        "import sys; from chalicelib.adapters.slack_web import SlackWeb; from chalicelib.settings import Settings; "
        "s = SlackWeb(Settings(slack_bot_token='xoxb-x')); "
        "print(s._client, 'slack_sdk' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "None False"
