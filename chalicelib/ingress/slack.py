"""Slack: Events API and slash commands, both signed with the app's signing secret."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from chalicelib.domain import events as ev
from chalicelib.ingress.common import Rejection, parse_json_object


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


def to_event(payload: dict[str, Any]) -> ev.SlackMention | None:
    """The mention an `event_callback` carries; None for anything the hub ignores."""
    if payload.get("type") != "event_callback":
        return None
    event = payload.get("event") or {}
    # The bot's own messages (and other bots') would make a loop.
    if event.get("type") != "app_mention" or event.get("bot_id"):
        return None
    if not payload.get("event_id") or not event.get("channel"):
        raise Rejection(400, "Slack: event_callback without event_id or channel")
    return ev.SlackMention(
        event_id=f"slack:{payload['event_id']}",
        channel=event["channel"],
        text=event.get("text") or "",
        thread_ts=event.get("thread_ts") or event.get("ts") or "",
    )


def parse_command(raw: bytes) -> dict[str, str]:
    """A slash command's form fields."""
    try:
        fields = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8"), keep_blank_values=True).items()}
    except (UnicodeDecodeError, ValueError) as exc:
        raise Rejection(400, f"Slack: command body is not form data ({exc})") from exc
    if "command" not in fields:
        raise Rejection(400, "Slack: a slash command needs a `command` field")
    return fields
