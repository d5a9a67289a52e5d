"""Slack: Events API and slash commands, both signed with the app's signing secret."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from chalicelib.domain import events as ev
from chalicelib.domain.validation import MAX_ID
from chalicelib.ingress.common import Rejection, parse_json_object, text

# A command line or a mention: Slack allows 40,000 characters; no command needs more than this.
MAX_TEXT = 4000
MAX_URL = 2000


def verify(raw: bytes, headers: dict[str, str], signing_secret: str) -> None:
    """`slack_sdk`'s check of `X-Slack-Signature` (5-minute window), in constant time."""
    from slack_sdk.signature import SignatureVerifier  # lazily: slack_sdk is a heavy import

    try:
        valid = SignatureVerifier(signing_secret).is_valid_request(raw, headers)
    except ValueError as exc:  # a timestamp that is not a number
        raise Rejection(401, f"Slack: bad X-Slack-Request-Timestamp ({exc})") from exc
    if not valid:
        raise Rejection(401, "Slack signature missing, wrong or older than 5 minutes")


def parse_event(raw: bytes) -> dict[str, Any]:
    return parse_json_object(raw, "Slack")


def challenge(payload: dict[str, Any]) -> str:
    """The `url_verification` challenge to echo back."""
    return text(payload.get("challenge"), "Slack: challenge", MAX_ID)


def other_team(team: str, expected: str) -> bool:
    """True for a request from another workspace than `SLACK_TEAM_ID` (when set)."""
    return bool(expected) and team != expected


def to_event(payload: dict[str, Any]) -> ev.SlackMention | None:
    """The mention an `event_callback` carries; None for anything the hub ignores."""
    if payload.get("type") != "event_callback":
        return None
    event = payload.get("event")
    if event is None:
        return None
    if not isinstance(event, dict):
        raise Rejection(400, "Slack: an event_callback's event must be an object")
    # The bot's own messages (and other bots') would make a loop.
    if event.get("type") != "app_mention" or event.get("bot_id"):
        return None
    event_id = text(payload.get("event_id"), "Slack: event_id", MAX_ID)
    channel = text(event.get("channel"), "Slack: event.channel", MAX_ID)
    if not event_id or not channel:
        raise Rejection(400, "Slack: event_callback without event_id or channel")
    return ev.SlackMention(
        event_id=f"slack:{event_id}",
        channel=channel,
        text=text(event.get("text"), "Slack: event.text", MAX_TEXT),
        thread_ts=text(event.get("thread_ts"), "Slack: event.thread_ts", MAX_ID)
        or text(event.get("ts"), "Slack: event.ts", MAX_ID),
        user=text(event.get("user"), "Slack: event.user", MAX_ID),
    )


_COMMAND_LIMITS = {"text": MAX_TEXT, "response_url": MAX_URL}


def parse_command(raw: bytes) -> dict[str, str]:
    """A slash command's form fields, each bounded and printable."""
    try:
        pairs = parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=100)
    except (UnicodeDecodeError, ValueError) as exc:  # the message may quote the body: not repeated
        raise Rejection(400, "Slack: command body is not URL-encoded UTF-8 form data") from exc
    if "command" not in pairs:
        raise Rejection(400, "Slack: a slash command needs a `command` field")
    return {k: text(v[-1], f"Slack: {k}", _COMMAND_LIMITS.get(k, MAX_ID)) for k, v in pairs.items()}
