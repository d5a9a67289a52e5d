"""The `Notifier` contract: Slack (the real `slack_sdk` clients against the Slack Web API
fake), the embedded outbox, the history's recording wrapper, and the unit tests' fake.

What the flows rely on: a post arrives in its channel (and thread) with its text as
written; a slash command's answer goes to its `response_url`, nowhere else; Slack's
429 is a `TransientError` carrying its `Retry-After` once the notifier's own retries are
spent, an `ok: false` (a channel the bot cannot post in) and an expired `response_url`
are `PermanentError`s at once; a service that does not answer fails every call,
`ping` included.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pytest

from chalicelib.errors import ConfigurationError, PermanentError, TransientError
from chalicelib.ports import Notifier
from chalicelib.settings import Settings
from devtools.hubproc import free_port  # a port nobody listens on once it returns
from tests.fakes.slack import SlackFake

# Slack's control sequences and a non-ASCII name: escaping them is the flows' business, so
# every notifier carries them untouched.
TEXT = "Box paid: Zoë <zoe@example.com> & co, Super box"
THREAD = "1700000001.000100"
HOOK = "https://hooks.slack.com/commands/T0CHOCO/42/secret"


class Down(NamedTuple):
    """A notifier whose service does not answer, and a `response_url` it would answer."""

    notifier: Notifier
    response_url: str


@dataclass
class SlackRig:
    """A notifier, what its service received, and the faults its service can play.

    `retries`: how often the notifier retries a transient failure itself before raising
    (the port fake stands for one whose retries are spent). `throttle()`: the service
    answers 429 with `Retry-After: 1` until the notifier gives up; `reject(channel)`: it
    answers `ok: false` for this channel; `expire()`: the `response_url` answers 404.
    """

    notifier: Notifier
    posts: Callable[[], list[tuple[str, str, str]]]
    responses: Callable[[], list[tuple[str, str]]]
    response_url: str
    down: Callable[[], Down]
    sleeps: list[float]
    retries: int = 0
    throttle: Callable[[], None] | None = None
    reject: Callable[[str], None] | None = None
    expire: Callable[[], None] | None = None


@pytest.fixture(scope="module")
def slack_server() -> Iterator[SlackFake]:
    """One Slack Web API fake for the module (`reset` between tests)."""
    fake = SlackFake()
    fake.start()
    yield fake
    fake.stop()


def slack(tmp_path: Path, request: pytest.FixtureRequest) -> SlackRig:
    from slack_sdk.http_retry import builtin_handlers, handler

    from chalicelib.adapters.slack_web import SlackWeb

    server: SlackFake = request.getfixturevalue("slack_server")
    server.reset()
    sleeps: list[float] = []
    monkeypatch = request.getfixturevalue("monkeypatch")
    for module in (builtin_handlers, handler):  # slack_sdk's own retry waits, not slept either
        monkeypatch.setattr(module, "time", types.SimpleNamespace(sleep=lambda seconds: None))

    def settings(api_url: str) -> Settings:
        return Settings(slack_bot_token=server.token, slack_api_url=api_url, http_timeout=5.0)

    def responses() -> list[tuple[str, str]]:
        return [(server.response_url(r["id"]), r["text"]) for r in server.responses]

    def down() -> Down:
        where = f"http://127.0.0.1:{free_port()}"
        return Down(SlackWeb(settings(f"{where}/api/"), sleep=sleeps.append), f"{where}/response/1")

    def reject(channel: str) -> None:
        server.channels = {"#orders": True}  # any other channel: channel_not_found

    return SlackRig(
        SlackWeb(settings(server.api_url), sleep=sleeps.append),
        lambda: [(m["channel"], m["text"], m["thread_ts"]) for m in server.messages],
        responses,
        server.response_url("42"),
        down,
        sleeps,
        retries=3,
        throttle=lambda: server.faults.script(*["429"] * 8),  # slack_sdk retries each attempt once
        reject=reject,
        expire=lambda: server.expired.add("42"),
    )


def outbox(tmp_path: Path, request: pytest.FixtureRequest) -> SlackRig:
    from chalicelib.adapters.slack_outbox import SlackOutbox

    box = SlackOutbox(tmp_path / "outbox" / "slack.jsonl")

    def down() -> Down:
        (tmp_path / "full").write_text("a file where the outbox's folder should be")
        return Down(SlackOutbox(tmp_path / "full" / "slack.jsonl"), HOOK)

    return SlackRig(
        box,
        lambda: [(m["channel"], m["text"], m["thread_ts"]) for m in box.messages() if m["method"] != "response_url"],
        lambda: [(m["response_url"], m["text"]) for m in box.messages() if m["method"] == "response_url"],
        HOOK,
        down,
        [],
    )


def fake(tmp_path: Path, request: pytest.FixtureRequest) -> SlackRig:
    from tests.unit.port_fakes import FakeNotifier

    notifier = FakeNotifier()

    def down() -> Down:
        broken = FakeNotifier()
        for method in ("post", "respond", "ping"):
            broken.fail_next(method)
        return Down(broken, HOOK)

    def throttle() -> None:
        for method in ("post", "respond"):
            notifier.fail_next(method, TransientError("Slack: ratelimited, try later", retry_after=1.0))

    return SlackRig(
        notifier,
        lambda: list(notifier.posts),
        lambda: list(notifier.responses),
        HOOK,
        down,
        [],
        throttle=throttle,
        reject=lambda channel: notifier.fail_next("post", PermanentError(f"Slack: channel_not_found for {channel}")),
        expire=lambda: notifier.fail_next("respond", PermanentError("Slack response_url: 404 expired_url")),
    )


def recording(tmp_path: Path, request: pytest.FixtureRequest) -> SlackRig:
    """The history's wrapper around every notifier (here the fake): it passes all through."""
    from chalicelib.runtime.recording import Batch, Recorder, RecordingNotifier
    from tests.unit.port_fakes import FakeHistory

    inner = fake(tmp_path, request)
    batch = Batch(Recorder(FakeHistory()), [])
    inner.notifier = RecordingNotifier(inner.notifier, batch)
    down = inner.down
    inner.down = lambda: Down(RecordingNotifier(down().notifier, batch), HOOK)
    return inner


IMPLEMENTATIONS: dict[str, Callable[[Path, pytest.FixtureRequest], SlackRig]] = {
    "slack": slack,
    "outbox": outbox,
    "fake": fake,
    "recording": recording,
}
# The services whose faults a test can play (the outbox has no server).
SERVED = ("slack", "fake", "recording")


@pytest.fixture(params=list(IMPLEMENTATIONS))
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> SlackRig:
    return IMPLEMENTATIONS[request.param](tmp_path, request)


def test_a_post_arrives_in_its_channel_and_thread_as_written(rig):
    rig.notifier.post("#orders", TEXT)
    rig.notifier.post("C0OPS", "on it", thread_ts=THREAD)

    assert rig.posts() == [("#orders", TEXT, ""), ("C0OPS", "on it", THREAD)]
    assert rig.responses() == []
    assert rig.sleeps == []


def test_an_answer_goes_to_its_response_url_only(rig):
    rig.notifier.respond(rig.response_url, "3 customers")

    assert rig.responses() == [(rig.response_url, "3 customers")]
    assert rig.posts() == []


@pytest.mark.parametrize("rig", SERVED, indirect=True)
@pytest.mark.parametrize("method", ["post", "respond"])
def test_rate_limited_past_the_notifiers_own_retries_is_transient_with_retry_after(rig, method):
    def call() -> None:
        if method == "post":
            rig.notifier.post("#orders", TEXT)
        else:
            rig.notifier.respond(rig.response_url, TEXT)

    rig.throttle()
    with pytest.raises(TransientError) as caught:
        call()
    assert caught.value.retry_after == 1.0  # Slack's Retry-After, for the queue's next delay
    assert rig.posts() == rig.responses() == []
    assert rig.sleeps == [1.0] * rig.retries  # each of its own retries waited what Slack asked

    call()  # the limit is over: the queue's retry delivers it once
    assert len(rig.posts() + rig.responses()) == 1


@pytest.mark.parametrize("rig", SERVED, indirect=True)
def test_a_channel_slack_refuses_is_permanent_and_never_retried(rig):
    rig.reject("#nowhere")

    with pytest.raises(PermanentError) as caught:
        rig.notifier.post("#nowhere", TEXT)
    assert not isinstance(caught.value, ConfigurationError)  # the channel, not the token
    assert "channel_not_found" in str(caught.value)
    assert rig.posts() == []
    assert rig.sleeps == []


@pytest.mark.parametrize("rig", SERVED, indirect=True)
def test_an_expired_response_url_is_permanent_and_never_retried(rig):
    rig.expire()

    with pytest.raises(PermanentError, match="expired_url"):
        rig.notifier.respond(rig.response_url, "too late")
    assert rig.responses() == []
    assert rig.sleeps == []


def test_ping_describes_a_service_that_answers_and_posts_nothing(rig):
    assert rig.notifier.ping()
    assert rig.posts() == rig.responses() == []


def test_a_service_that_does_not_answer_fails_every_call_as_transient(rig):
    notifier, response_url = rig.down()

    with pytest.raises(TransientError):
        notifier.post("#orders", TEXT)
    assert len(rig.sleeps) == rig.retries
    with pytest.raises(TransientError):
        notifier.respond(response_url, TEXT)
    assert len(rig.sleeps) == 2 * rig.retries
    with pytest.raises(TransientError):
        notifier.ping()
