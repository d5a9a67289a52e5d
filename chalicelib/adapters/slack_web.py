"""The `Notifier` port over Slack's Web API (`slack_sdk`), selected by `SLACK_BOT_TOKEN`.

`chat.postMessage` carries notifications and replies to mentions; a slash command's
late answer goes to its `response_url` (an ephemeral message, seen only by the
operator who asked); `auth.test` is the health check. `SLACK_API_URL` points the client
at another Web API (a local fake in tests).

A `response_url` comes inside the slash command's body, so the hub posts only to Slack's
own `https://hooks.slack.com`, or to `SLACK_API_URL`'s scheme, host and port (where a
test fake or a Slack-compatible server answers both): a forged or mangled URL must not
turn the hub into a client of whatever address it names.
"""

from __future__ import annotations

from collections.abc import Callable
from http.client import HTTPException
from typing import Any
from urllib.parse import urlsplit

from chalicelib.errors import ConfigurationError, ErrorMapper, PermanentError, TransientError
from chalicelib.retry import parse_retry_after, service_retry
from chalicelib.settings import Settings

# The token is wrong, revoked or lacks a scope: an operator must fix SLACK_BOT_TOKEN.
AUTH_ERRORS = {
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "no_permission",
    "missing_scope",
    "not_allowed_token_type",
    "ekm_access_denied",
}
CHANNEL_ERRORS = {"channel_not_found", "not_in_channel", "is_archived"}
SERVER_ERRORS = {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}
# The WebClient's own 429 retry waits at most this long; a longer Retry-After goes back
# to service_retry/the queue, whose delays honour it without holding a Lambda for minutes.
MAX_RATE_LIMIT_WAIT = 8.0
# Where Slack's own response_urls point (https://hooks.slack.com/commands/...).
SLACK_HOOKS_ORIGIN = ("https", "hooks.slack.com", 443)
DEFAULT_PORTS = {"https": 443, "http": 80}


def _origin(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) of a URL, the default port filled in; None when unparsable."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a port that is not a number, or an unbalanced [IPv6]
        return None
    scheme = parts.scheme.lower()
    return scheme, parts.hostname or "", port or DEFAULT_PORTS.get(scheme)


def _retry_after(headers: Any) -> float | None:
    """Retry-After from slack_sdk's header mappings, whose names keep the server's case
    and whose values may be lists."""
    for name, value in dict(headers or {}).items():
        if name.lower() == "retry-after":
            if isinstance(value, list | tuple):
                value = value[0] if value else None
            return parse_retry_after(value)
    return None


def _rate_limit_handler() -> Any:
    """slack_sdk's `RateLimitErrorRetryHandler`, skipping waits longer than `MAX_RATE_LIMIT_WAIT`."""
    from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

    class BoundedRateLimitErrorRetryHandler(RateLimitErrorRetryHandler):
        def _can_retry(self, *, state: Any, request: Any, response: Any = None, error: Any = None) -> bool:
            if not super()._can_retry(state=state, request=request, response=response, error=error):
                return False
            wait = _retry_after(response.headers)
            return wait is None or wait <= MAX_RATE_LIMIT_WAIT

    return BoundedRateLimitErrorRetryHandler(max_retry_count=1)


class SlackWeb:
    """Slack through a bot token: post in channels and threads, answer slash commands."""

    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] | None = None) -> None:
        """Keep the settings; the client is built on first use (importing slack_sdk costs a cold start).

        `sleep` replaces the retry waits' `time.sleep` (tests).
        """
        if not settings.slack_bot_token:
            raise ConfigurationError("SLACK_BOT_TOKEN is not set (xoxb-...)")
        self.token = settings.slack_bot_token
        # slack_sdk drops the last path segment of a base URL without its trailing slash.
        url = settings.slack_api_url
        self.api_url = url if url.endswith("/") else url + "/"
        self.timeout = settings.http_timeout
        self._client: Any = None
        api_origin = _origin(self.api_url)
        # an API URL without a host (mis-set) must not make host-less response_urls acceptable
        self._response_origins = {SLACK_HOOKS_ORIGIN} | ({api_origin} if api_origin and api_origin[1] else set())
        self._post = service_retry("slack", base=settings.retry_base, sleep=sleep)(self._post_once)
        self._respond = service_retry("slack", base=settings.retry_base, sleep=sleep)(self._respond_once)

    @property
    def client(self) -> Any:
        """The `WebClient` (stateless between calls, so safe to share between threads)."""
        if self._client is None:
            from slack_sdk import WebClient

            client = WebClient(
                token=self.token,
                base_url=self.api_url,
                timeout=self.timeout,  # type: ignore[arg-type]  # typed int, used as urllib's float
            )
            client.retry_handlers.append(_rate_limit_handler())
            self._client = client
        return self._client

    def post(self, channel: str, text: str, thread_ts: str = "") -> None:
        """Post `text` in `channel` (in the thread of `thread_ts` when given)."""
        self._post(channel, text, thread_ts)

    def respond(self, response_url: str, text: str) -> None:
        """Answer a slash command through its `response_url`, visible to the asker only.

        Only to Slack's hooks or SLACK_API_URL's host (see the module's docstring): any
        other URL is a `PermanentError` naming its host (not the URL: it is a credential).
        """
        origin = _origin(response_url)
        if origin not in self._response_origins:
            where = "an unreadable address"
            if origin:
                scheme, host, port = origin
                where = f"{scheme}://{host or '(no host)'}" + (f":{port}" if port else "")
            raise PermanentError(
                f"Slack response_url refused: it points to {where}, not https://hooks.slack.com "
                "nor SLACK_API_URL's host; the slash command's answer was not sent"
            )
        self._respond(response_url, text)

    def ping(self) -> str:
        """`auth.test`: the token is valid, and which team and bot it is."""
        with _SlackErrors("auth.test"):
            answer = self.client.auth_test()
        return f"Slack team {answer.get('team')} as {answer.get('user')} ({self.api_url})"

    # --- internals --------------------------------------------------------------------

    def _post_once(self, channel: str, text: str, thread_ts: str) -> None:
        kwargs: dict[str, Any] = {"channel": channel, "text": text}
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        with _SlackErrors("chat.postMessage", channel):
            self.client.chat_postMessage(**kwargs)

    def _respond_once(self, response_url: str, text: str) -> None:
        from slack_sdk.http_retry import default_retry_handlers
        from slack_sdk.webhook import WebhookClient

        webhook = WebhookClient(
            response_url,
            timeout=self.timeout,  # type: ignore[arg-type]  # typed int, used as urllib's float
            retry_handlers=[*default_retry_handlers(), _rate_limit_handler()],
        )
        with _SlackErrors("response_url"):
            answer = webhook.send_dict({"text": text, "response_type": "ephemeral"})
        status = answer.status_code
        if status == 200:
            return
        body = (answer.body or "").strip()[:200]
        if status == 429 or status >= 500:
            raise TransientError(f"Slack response_url answered {status}", retry_after=_retry_after(answer.headers))
        if status == 404 or body in ("expired_url", "used_url"):
            raise PermanentError(
                f"Slack response_url no longer takes answers ({status} {body}): it allows 5 answers within 30 minutes"
            )
        raise PermanentError(f"Slack response_url refused the answer: {status} {body}")


class _SlackErrors(ErrorMapper):
    """Maps slack_sdk and network errors to the hub's error kinds."""

    def __init__(self, method: str, channel: str = "") -> None:
        self.method = method
        self.channel = channel

    def _map(self, exc: BaseException) -> Exception | None:
        from slack_sdk.errors import SlackApiError, SlackRequestError

        if isinstance(exc, SlackApiError):
            response = exc.response
            status = int(getattr(response, "status_code", 0) or 0)
            data = getattr(response, "data", None)
            error = data.get("error") if isinstance(data, dict) else None
            error = error if isinstance(error, str) else ""
            if status == 429 or status >= 500 or error in SERVER_ERRORS:
                return TransientError(
                    f"Slack {self.method}: {error or status}, try later",
                    retry_after=_retry_after(getattr(response, "headers", None)),
                )
            if error in AUTH_ERRORS:
                needed = data.get("needed") if isinstance(data, dict) else None
                scope = f" (needs scope {needed})" if needed else ""
                return ConfigurationError(
                    f"Slack refused the bot token: {error}{scope}: check SLACK_BOT_TOKEN and the app's scopes"
                )
            if error in CHANNEL_ERRORS:
                return PermanentError(
                    f"Slack {self.method}: {error} for channel {self.channel}: check SLACK_CHANNEL, "
                    f"and invite the bot to {self.channel} (/invite @bot in the channel)"
                )
            return PermanentError(f"Slack {self.method} failed: {error or status}")
        if isinstance(exc, SlackRequestError):  # e.g. a URL that is not http(s)
            if self.method == "response_url":
                return PermanentError(f"Slack response_url unusable: {exc}")
            return ConfigurationError(f"Slack {self.method}: {exc}: check SLACK_API_URL")
        if isinstance(exc, TimeoutError):
            return TransientError(f"Slack {self.method}: no answer in time")
        if isinstance(exc, OSError | HTTPException):  # URLError, refused, reset, closed early
            return TransientError(f"Slack {self.method} unreachable: {type(exc).__name__}: {exc}")
        return None
