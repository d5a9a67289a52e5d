"""HTTP entry points: a request in, one call into the hub (`Hub.intake`), a `Response` out.

Each handler maps what the hub answered or raised to a status code and a body (DESIGN.md
§2 lists the codes): errors are JSON a person can act on, or a small HTML page for the
unsubscribe links people click.
"""

from __future__ import annotations

import hmac
import html
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalice.app import Response

from chalicelib import public_url
from chalicelib.errors import ConfigurationError
from chalicelib.ingress.common import Rejection, header
from chalicelib.ingress.one_click import CONTENT_TYPES as UNSUBSCRIBE_TYPES
from chalicelib.ingress.one_click import ONE_CLICK, NotOneClick
from chalicelib.logs import logger
from chalicelib.runtime.door import DoorBusy, DoorClosed

# The hub and its intake are built, and their modules imported, by the first request.
if TYPE_CHECKING:
    from chalicelib.bootstrap import Hub
    from chalicelib.runtime.intake import Answer, Intake

__all__ = ["UNSUBSCRIBE_TYPES", "formstack", "health", "slack_commands", "slack_events", "stripe", "unsubscribe"]

HubFactory = Callable[[], "Hub"]


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


def _answer(request: Any, hub_factory: HubFactory, call: Callable[[Intake], Answer]) -> Response:
    """200 with the hub's answer; refusals, missing settings and a queue that cannot take
    the delivery become their answers (400/401/413/415, 503, 503); never a traceback."""
    try:
        return _json(200, call(hub_factory().intake))
    except Rejection as exc:
        logger.info("refused", extra={"status": exc.status, "reason": exc.message, "path": request.path})
        return _error(exc.status, exc.message)
    except ConfigurationError as exc:
        logger.error("not configured", extra={"reason": str(exc)})
        return _error(503, str(exc))
    except DoorBusy:
        return _error(503, "this delivery is being queued right now: retry in a few seconds")
    except DoorClosed as exc:
        logger.exception("could not queue", extra={"event_id": str(exc)})
        return _error(503, "the event could not be queued: retry later")


def formstack(request: Any, hub_factory: HubFactory) -> Response:
    return _answer(request, hub_factory, lambda hub: hub.formstack(request.raw_body, request.headers))


def stripe(request: Any, hub_factory: HubFactory) -> Response:
    return _answer(request, hub_factory, lambda hub: hub.stripe(request.raw_body, request.headers))


def slack_events(request: Any, hub_factory: HubFactory) -> Response:
    return _answer(request, hub_factory, lambda hub: hub.slack_event(request.raw_body, request.headers))


def slack_commands(request: Any, hub_factory: HubFactory) -> Response:
    return _answer(request, hub_factory, lambda hub: hub.slack_command(request.raw_body, request.headers))


def _invalid_link(exc: Rejection) -> Response:
    return _page(exc.status, "Link not valid", f"<p>{html.escape(exc.message)}.</p>")


def _unavailable(exc: ConfigurationError) -> Response:
    logger.error("not configured", extra={"reason": str(exc)})
    return _page(503, "Please try again later", "<p>This page is not available right now.</p>")


def _unsubscribed(email: str) -> Response:
    return _page(200, "Unsubscribed", f"<p>{html.escape(email)} will get no more marketing email from us.</p>")


def unsubscribe_page(request: Any, hub_factory: HubFactory, token: str) -> Response:
    """GET: a page with one button; a link scanner's GET must not unsubscribe anyone.
    Opened again once unsubscribed, the link says so instead of asking again."""
    try:
        intake = hub_factory().intake
        email = intake.unsubscribe_email(token)
        if intake.unsubscribed(email):
            return _unsubscribed(email)
    except Rejection as exc:
        return _invalid_link(exc)
    except ConfigurationError as exc:
        return _unavailable(exc)
    return _page(
        200,
        "Unsubscribe",
        f"<p>Stop marketing emails to <strong>{html.escape(email)}</strong>?</p>"
        "<form method='post'><input type='hidden' name='List-Unsubscribe' value='One-Click'>"
        "<button type='submit'>Unsubscribe</button></form>",
    )


def unsubscribe(request: Any, hub_factory: HubFactory, token: str) -> Response:
    """POST: RFC 8058 one-click (mail clients) or the page's button (people)."""
    try:
        email = hub_factory().intake.unsubscribe(token, request.raw_body, request.headers)
    except NotOneClick:
        return _page(400, "Not unsubscribed", f"<p>The request must carry <code>{ONE_CLICK}</code>.</p>")
    except Rejection as exc:
        return _invalid_link(exc)
    except ConfigurationError as exc:
        return _unavailable(exc)
    except Exception:
        logger.exception("could not record an unsubscribe")
        return _page(503, "Please try again", "<p>We could not record your request. Please try again.</p>")
    return _unsubscribed(email)


def health(request: Any, hub_factory: HubFactory) -> Response:
    """Liveness, and each port's adapter and whether it answers (probed at most once a
    minute). What each one said (database, counts, accounts) or why it failed is shown
    only to a caller with the admin bearer token."""
    try:
        hub = hub_factory()
    except ConfigurationError as exc:
        return _json(503, {"status": "misconfigured", "error": str(exc)})
    report = hub.health()
    ok = all(b.get("ok") for b in report.values())
    if not _is_admin(request, hub.settings.admin_token):
        report = {name: {"adapter": b["adapter"], "ok": b["ok"]} for name, b in report.items()}
    s = hub.settings
    url = public_url.from_request(getattr(request, "context", None), s.public_url, s.public_url_given)
    return _json(200, {"status": "ok" if ok else "degraded", "stage": s.stage, "public_url": url, "backends": report})


def _is_admin(request: Any, admin_token: str) -> bool:
    """A bearer token equal to HUB_ADMIN_TOKEN (compared in constant time); none is set: no one."""
    given = header(request.headers, "Authorization").removeprefix("Bearer ").strip()
    return bool(admin_token) and hmac.compare_digest(given.encode(), admin_token.encode())
