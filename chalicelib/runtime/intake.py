"""What each HTTP entry point asks of the hub: a verified request's body in, a result out.

`chalicelib.web` turns a request into one call here and the result into a response;
everything between (which secrets apply, verifying, parsing, normalising, queueing
through the door, answering slash commands within Slack's 3 seconds, unsubscribing)
is decided here. Refusals are `Rejection`s, missing settings `ConfigurationError`s, a
queue that cannot take the delivery `DoorBusy` or `DoorClosed`: web maps each to its
status code.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalicelib.errors import ConfigurationError, PermanentError
from chalicelib.ingress import formstack as formstack_in
from chalicelib.ingress import one_click as one_click_in
from chalicelib.ingress import slack as slack_in
from chalicelib.ingress import stripe as stripe_in
from chalicelib.ingress.common import Rejection, check_size, header, media_type
from chalicelib.logs import logger
from chalicelib.unsubscribe import read_token

if TYPE_CHECKING:
    from chalicelib.domain import events as ev
    from chalicelib.ports import Ports
    from chalicelib.runtime.door import Door
    from chalicelib.settings import Settings

# Slack gives a slash command 3 s; what is not answered by then goes to response_url.
COMMAND_DEADLINE = 2.5
WORKING = "Working on it…"
FORM = "application/x-www-form-urlencoded"
UNSUBSCRIBE_TYPES = one_click_in.CONTENT_TYPES

Answer = dict[str, Any]


def body(raw: bytes | None, headers: dict[str, str], allowed: list[str]) -> bytes:
    """The raw body, refused when too large (413) or of a type not `allowed` (415)."""
    data = raw or b""
    check_size(data)
    kind = media_type(headers)
    if kind not in allowed:
        raise Rejection(415, f"content type {kind or '(none)'} is not accepted: use {' or '.join(allowed)}")
    return data


class Intake:
    """The hub's side of every route. Built once per hub; `ports` on first need, so a
    webhook that is refused never wires an adapter."""

    def __init__(self, settings: Settings, door: Callable[[], Door], ports: Callable[[], Ports]) -> None:
        self.settings = settings
        self._door = door
        self._ports = ports
        self._commands = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="command")
        self.command_deadline = COMMAND_DEADLINE

    # --- webhooks ---------------------------------------------------------------------

    def _accept(self, key: str, events: list[ev.Event]) -> Answer:
        """Queue the events once; the answer only when they are durably queued (or were before)."""
        fresh = self._door().accept(key, events)
        logger.info("accepted", extra={"event_id": key, "duplicate": not fresh})
        return {"ok": True, "duplicate": not fresh}

    def formstack(self, raw: bytes | None, headers: dict[str, str]) -> Answer:
        s = self.settings
        if not (s.formstack_hmac_key or s.formstack_handshake_key):
            raise ConfigurationError("set FORMSTACK_HMAC_KEY or FORMSTACK_HANDSHAKE_KEY to accept Formstack webhooks")
        data = body(raw, headers, formstack_in.CONTENT_TYPES)
        fields = formstack_in.authenticate(
            data, media_type(headers), headers, s.formstack_hmac_key, s.formstack_handshake_key
        )
        event = formstack_in.to_event(fields, s.formstack_fields)
        return self._accept(event.event_id, [event])

    def stripe(self, raw: bytes | None, headers: dict[str, str]) -> Answer:
        secret = self.settings.stripe_webhook_secret
        if not secret:
            raise ConfigurationError("STRIPE_WEBHOOK_SECRET is not set: Stripe webhooks cannot be verified")
        raw = body(raw, headers, ["application/json"])
        data = stripe_in.verify(raw, header(headers, "Stripe-Signature"), secret)
        event = stripe_in.to_event(data)
        if event is None:
            logger.info("ignored", extra={"event_id": data["id"], "type": data["type"]})
            return {"ok": True, "ignored": data["type"]}
        return self._accept(event.event_id, [event])

    # --- Slack ------------------------------------------------------------------------

    def _slack_body(self, raw: bytes | None, headers: dict[str, str], content_type: str) -> bytes:
        """The raw body of a request Slack signed (both Slack routes check it the same way)."""
        secret = self.settings.slack_signing_secret
        if not secret:
            raise ConfigurationError("SLACK_SIGNING_SECRET is not set: Slack requests cannot be verified")
        data = body(raw, headers, [content_type])
        slack_in.verify(data, headers, secret)
        return data

    def slack_event(self, raw: bytes | None, headers: dict[str, str]) -> Answer:
        raw = self._slack_body(raw, headers, "application/json")
        payload = slack_in.parse_event(raw)
        if payload.get("type") == "url_verification":
            return {"challenge": slack_in.challenge(payload)}
        if slack_in.other_team(str(payload.get("team_id") or ""), self.settings.slack_team_id):
            logger.warning("slack event from another workspace ignored")
            return {"ok": True, "ignored": True}
        event = slack_in.to_event(payload)
        if event is None:
            return {"ok": True, "ignored": True}
        return self._accept(event.event_id, [event])

    def slack_command(self, raw: bytes | None, headers: dict[str, str]) -> Answer:
        """The slash command's ephemeral answer: in time if it only reads and is quick,
        else "working on it" now and the real answer through the queue to response_url."""
        # The commands (and the ports behind them) are imported by the first one, not by
        # every webhook's cold start.
        from chalicelib import commands
        from chalicelib.domain import events as ev

        raw = self._slack_body(raw, headers, FORM)
        fields = slack_in.parse_command(raw)
        text, user = fields.get("text", ""), fields.get("user_id", "")
        if slack_in.other_team(fields.get("team_id", ""), self.settings.slack_team_id):
            return {"response_type": "ephemeral", "text": "This workspace may not use this hub."}
        refused = commands.refusal(text, user, self.settings.slack_operators)
        if refused:
            return {"response_type": "ephemeral", "text": refused}
        if not commands.changes_state(text):
            future = self._commands.submit(commands.answer, text, self._ports(), user=user)
            try:
                return {"response_type": "ephemeral", "text": future.result(timeout=self.command_deadline)}
            except concurrent.futures.TimeoutError:
                pass
        # Too slow for Slack's 3 s, or one that acts (it must run once, not again after a
        # timeout): answer now, and send the real answer to response_url.
        key = f"slack-command:{fields.get('trigger_id') or hashlib.sha256(raw).hexdigest()}"
        slow = ev.SlowCommand(event_id=key, text=text, response_url=fields.get("response_url", ""), user=user)
        if slow.response_url:
            self._door().accept(key, [slow])
        return {"response_type": "ephemeral", "text": WORKING}

    # --- unsubscribe ------------------------------------------------------------------

    def unsubscribe_email(self, token: str) -> str:
        """The email a link's token names; `Rejection(400)` for a damaged or forged one."""
        try:
            return read_token(self.settings.require_secret_key(), token)
        except PermanentError as exc:
            raise Rejection(400, str(exc)) from exc

    def unsubscribed(self, email: str) -> bool:
        """True once the address has unsubscribed (its link's page then says so)."""
        return self._ports().mail_log.is_suppressed(email)

    def unsubscribe(self, token: str, raw: bytes | None, headers: dict[str, str]) -> str:
        """RFC 8058 one-click (mail clients) or the page's button (people): the email
        unsubscribed. Refused (`Rejection`, `NotOneClick`) before anything is recorded."""
        from chalicelib import flows

        email = self.unsubscribe_email(token)
        if not one_click_in.is_one_click(body(raw, headers, UNSUBSCRIBE_TYPES), headers):
            raise one_click_in.NotOneClick()
        flows.unsubscribe_now(email, self._ports(), created=int(time.time()))
        return email
