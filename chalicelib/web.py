"""HTTP entry points: a request in, a call into the hub, a `Response` out.

Each handler verifies before it parses, queues before it answers 200, and answers
errors as JSON a person can act on (DESIGN.md §2 lists the codes).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import hmac
import html
import json
import time
from typing import Any

from chalice import Response

from chalicelib import commands, public_url
from chalicelib.bootstrap import Hub
from chalicelib.domain import events as ev
from chalicelib.domain.customer import email_digest
from chalicelib.errors import ConfigurationError, PermanentError
from chalicelib.flows import queue_for
from chalicelib.ingress import formstack as formstack_in
from chalicelib.ingress import one_click as one_click_in
from chalicelib.ingress import slack as slack_in
from chalicelib.ingress import stripe as stripe_in
from chalicelib.ingress.common import Rejection, check_size, header, media_type
from chalicelib.logs import logger
from chalicelib.runtime.door import DoorBusy
from chalicelib.unsubscribe import read_token

# Slack gives a slash command 3 s; what is not answered by then goes to response_url.
COMMAND_DEADLINE = 2.5
_command_pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="command")

ONE_CLICK = "List-Unsubscribe=One-Click"


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(body=json.dumps(body), status_code=status, headers={"Content-Type": "application/json"})


def _error(status: int, message: str) -> Response:
    return _json(status, {"error": message})


def _page(status: int, title: str, body_html: str) -> Response:
    doc = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width'><title>{html.escape(title)}</title></head>"
        f"<body style='font-family:sans-serif;max-width:32rem;margin:3rem auto'><h1>{html.escape(title)}</h1>"
        f"{body_html}</body></html>"
    )
    return Response(body=doc, status_code=status, headers={"Content-Type": "text/html; charset=utf-8"})


def _guarded(handler):
    """Turn refusals and missing settings into their answers; never leak a traceback."""

    def run(request: Any, hub_factory: Any, *args: Any) -> Response:
        try:
            return handler(request, hub_factory(), *args)
        except Rejection as exc:
            logger.info("refused", extra={"status": exc.status, "reason": exc.message, "path": request.path})
            return _error(exc.status, exc.message)
        except ConfigurationError as exc:
            logger.error("not configured", extra={"reason": str(exc)})
            return _error(503, str(exc))
        except DoorBusy:
            return _error(503, "this delivery is being queued right now: retry in a few seconds")

    run.__name__ = handler.__name__
    run.__doc__ = handler.__doc__
    return run


def _accept(hub: Hub, key: str, events: list[ev.Event]) -> Response:
    """Queue the events once; 200 only when they are durably queued (or were before)."""
    try:
        fresh = hub.door.accept(key, events)
    except DoorBusy:
        raise
    except Exception:
        logger.exception("could not queue", extra={"event_id": key})
        return _error(503, "the event could not be queued: retry later")
    logger.info("accepted", extra={"event_id": key, "duplicate": not fresh})
    return _json(200, {"ok": True, "duplicate": not fresh})


def _body(request: Any, allowed: list[str]) -> bytes:
    raw = request.raw_body or b""
    check_size(raw)
    kind = media_type(request.headers)
    if kind not in allowed:
        raise Rejection(415, f"content type {kind or '(none)'} is not accepted: use {' or '.join(allowed)}")
    return raw


@_guarded
def formstack(request: Any, hub: Hub) -> Response:
    s = hub.settings
    if not (s.formstack_hmac_key or s.formstack_handshake_key):
        raise ConfigurationError("set FORMSTACK_HMAC_KEY or FORMSTACK_HANDSHAKE_KEY to accept Formstack webhooks")
    raw = _body(request, formstack_in.CONTENT_TYPES)
    fields = formstack_in.authenticate(
        raw, media_type(request.headers), request.headers, s.formstack_hmac_key, s.formstack_handshake_key
    )
    event = formstack_in.to_event(fields, s.formstack_fields)
    return _accept(hub, event.event_id, [event])


@_guarded
def stripe(request: Any, hub: Hub) -> Response:
    secret = hub.settings.stripe_webhook_secret
    if not secret:
        raise ConfigurationError("STRIPE_WEBHOOK_SECRET is not set: Stripe webhooks cannot be verified")
    raw = _body(request, ["application/json"])
    data = stripe_in.verify(raw, header(request.headers, "Stripe-Signature"), secret)
    event = stripe_in.to_event(data)
    if event is None:
        logger.info("ignored", extra={"event_id": data["id"], "type": data["type"]})
        return _json(200, {"ok": True, "ignored": data["type"]})
    return _accept(hub, event.event_id, [event])


def _slack_body(request: Any, hub: Hub, content_type: str) -> bytes:
    """The raw body of a request Slack signed (both Slack routes check it the same way)."""
    secret = hub.settings.slack_signing_secret
    if not secret:
        raise ConfigurationError("SLACK_SIGNING_SECRET is not set: Slack requests cannot be verified")
    raw = _body(request, [content_type])
    slack_in.verify(raw, request.headers, secret)
    return raw


@_guarded
def slack_events(request: Any, hub: Hub) -> Response:
    raw = _slack_body(request, hub, "application/json")
    payload = slack_in.parse_event(raw)
    if payload.get("type") == "url_verification":
        return _json(200, {"challenge": slack_in.challenge(payload)})
    if slack_in.other_team(str(payload.get("team_id") or ""), hub.settings.slack_team_id):
        logger.warning("slack event from another workspace ignored", extra={"path": request.path})
        return _json(200, {"ok": True, "ignored": True})
    event = slack_in.to_event(payload)
    if event is None:
        return _json(200, {"ok": True, "ignored": True})
    return _accept(hub, event.event_id, [event])


@_guarded
def slack_commands(request: Any, hub: Hub) -> Response:
    raw = _slack_body(request, hub, "application/x-www-form-urlencoded")
    fields = slack_in.parse_command(raw)
    text, user = fields.get("text", ""), fields.get("user_id", "")
    if slack_in.other_team(fields.get("team_id", ""), hub.settings.slack_team_id):
        return _json(200, {"response_type": "ephemeral", "text": "This workspace may not use this hub."})
    refused = commands.refusal(text, user, hub.settings.slack_operators)
    if refused:
        return _json(200, {"response_type": "ephemeral", "text": refused})
    if not commands.changes_state(text):
        future = _command_pool.submit(commands.answer, text, hub.ports, user=user)
        try:
            return _json(200, {"response_type": "ephemeral", "text": future.result(timeout=COMMAND_DEADLINE)})
        except concurrent.futures.TimeoutError:
            pass
    # Too slow for Slack's 3 s, or one that acts (it must run once, not again after a
    # timeout): answer now, and send the real answer to response_url.
    key = f"slack-command:{fields.get('trigger_id') or hashlib.sha256(raw).hexdigest()}"
    slow = ev.SlowCommand(event_id=key, text=text, response_url=fields.get("response_url", ""), user=user)
    if slow.response_url:
        hub.door.accept(key, [slow])
    return _json(200, {"response_type": "ephemeral", "text": "Working on it…"})


def _unsubscribe_email(hub: Hub, token: str) -> str:
    try:
        return read_token(hub.settings.require_secret_key(), token)
    except PermanentError as exc:
        raise Rejection(400, str(exc)) from exc


def _unavailable(exc: ConfigurationError) -> Response:
    logger.error("not configured", extra={"reason": str(exc)})
    return _page(503, "Please try again later", "<p>This page is not available right now.</p>")


def unsubscribe_page(request: Any, hub_factory: Any, token: str) -> Response:
    """GET: a page with one button; a link scanner's GET must not unsubscribe anyone."""
    try:
        email = _unsubscribe_email(hub_factory(), token)
    except Rejection as exc:
        return _page(exc.status, "Link not valid", f"<p>{html.escape(exc.message)}.</p>")
    except ConfigurationError as exc:
        return _unavailable(exc)
    return _page(
        200,
        "Unsubscribe",
        f"<p>Stop marketing emails to <strong>{html.escape(email)}</strong>?</p>"
        "<form method='post'><input type='hidden' name='List-Unsubscribe' value='One-Click'>"
        "<button type='submit'>Unsubscribe</button></form>",
    )


UNSUBSCRIBE_TYPES = one_click_in.CONTENT_TYPES


def unsubscribe(request: Any, hub_factory: Any, token: str) -> Response:
    """POST: RFC 8058 one-click (mail clients) or the page's button (people)."""
    try:
        hub = hub_factory()
    except ConfigurationError as exc:
        return _unavailable(exc)
    try:
        email = _unsubscribe_email(hub, token)
        one_click = one_click_in.is_one_click(_body(request, UNSUBSCRIBE_TYPES), request.headers)
    except Rejection as exc:
        return _page(exc.status, "Link not valid", f"<p>{html.escape(exc.message)}.</p>")
    if not one_click:
        return _page(400, "Not unsubscribed", f"<p>The request must carry <code>{ONE_CLICK}</code>.</p>")
    # Recorded at once, so no marketing email leaves after this answer; the sheet follows.
    # Queued directly, not through the door: a second unsubscribe (after a new opt-in)
    # within the door's key lifetime must reach the sheet too.
    try:
        hub.mail_log.suppress(email)
        event = ev.Unsubscribed(event_id=f"unsubscribe:{email_digest(email)}", email=email, created=int(time.time()))
        hub.queue.send(queue_for(event), ev.to_message(event), dedupe_id=event.event_id)
    except Exception:
        logger.exception("could not queue the sheet update of an unsubscribe")
        return _page(503, "Please try again", "<p>We could not record your request. Please try again.</p>")
    return _page(200, "Unsubscribed", f"<p>{html.escape(email)} will get no more marketing email from us.</p>")


def health(request: Any, hub_factory: Any) -> Response:
    """Liveness, and each backend's adapter and whether it answers (probed at most once a
    minute). What each one said (database, counts, accounts) or why it failed is shown
    only to a caller with the admin bearer token."""
    try:
        hub = hub_factory()
    except ConfigurationError as exc:
        return _json(503, {"status": "misconfigured", "error": str(exc)})
    backends = hub.health()
    ok = all(b.get("ok") for b in backends.values())
    if not _is_admin(request, hub.settings.admin_token):
        backends = {name: {"adapter": b["adapter"], "ok": b["ok"]} for name, b in backends.items()}
    s = hub.settings
    url = public_url.from_request(getattr(request, "context", None), s.public_url, s.public_url_given)
    return _json(200, {"status": "ok" if ok else "degraded", "stage": s.stage, "public_url": url, "backends": backends})


def _is_admin(request: Any, admin_token: str) -> bool:
    """A bearer token equal to HUB_ADMIN_TOKEN (compared in constant time); none is set: no one."""
    given = header(request.headers, "Authorization").removeprefix("Bearer ").strip()
    return bool(admin_token) and hmac.compare_digest(given.encode(), admin_token.encode())
