"""`/admin` over HTTP: the dashboard page, its login, and the JSON API, each a request in
and a `Response` out. What they show and do is in `chalicelib.admin.views`; who may
is in `chalicelib.admin.auth`.

Every answer is marked `no-store`; errors are JSON `{"error": ...}` (HTML for the page)
that say what to do; bad input is a 400, never a 5xx. The page is server-rendered
(Jinja2) with one small script and one stylesheet, inlined from `chalicelib/admin/static`
under a per-response CSP nonce: no build step, no CDN, it works offline and ships with
`chalice deploy` inside `chalicelib/`.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

from chalice.app import Response

from chalicelib.admin import auth, views
from chalicelib.errors import ConfigurationError, HubError, PermanentError
from chalicelib.ingress.common import Rejection, check_size, media_type
from chalicelib.logs import logger

_HERE = Path(__file__).parent
MAX_QUERY = 200
MAX_LIMIT = 500
DEFAULT_LIMIT = 50
MAX_REASON = 500
_LETTER_ID = re.compile(r"^[0-9a-f]{12}$")
_EVENT_ID = re.compile(r"^[\x21-\x7e]{1,200}$")
_PAGE_LIMIT = 100


Headers = dict[str, str | list[str]]
Handler = Callable[..., Response]


def _headers(content_type: str, **extra: str) -> Headers:
    return {"Content-Type": content_type, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", **extra}


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(body=json.dumps(body), status_code=status, headers=_headers("application/json"))


def _error(status: int, message: str) -> Response:
    extra = {"WWW-Authenticate": 'Bearer realm="chocohub admin"'} if status == 401 else {}
    return Response(
        body=json.dumps({"error": message}), status_code=status, headers=_headers("application/json", **extra)
    )


# --- input ------------------------------------------------------------------------


def _param(request: Any, name: str) -> str:
    value = str((request.query_params or {}).get(name, ""))
    if len(value) > MAX_QUERY:
        raise Rejection(400, f"{name} is longer than {MAX_QUERY} characters")
    return value.strip()


def _limit(request: Any) -> int:
    raw = _param(request, "limit") or str(DEFAULT_LIMIT)
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise Rejection(400, f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(raw)


def _letter_id(value: str) -> str:
    if not _LETTER_ID.match(value or ""):
        raise Rejection(400, "not a dead-letter id (12 hex digits, as the dead-letter list shows them)")
    return value


def _event_id(value: str) -> str:
    # API Gateway decodes path parameters, `chalice local` does not: `stripe%3Aevt_1`.
    # No event id of the hub holds a `%`, so decoding twice changes nothing.
    value = unquote(value or "")
    if not _EVENT_ID.match(value):
        raise Rejection(400, "not an event id (1 to 200 printable characters, no spaces)")
    return value


def _json_body(request: Any) -> dict[str, Any]:
    """The request's JSON object; an empty body is an empty object."""
    raw = request.raw_body or b""
    check_size(raw)
    if not raw.strip():
        return {}
    if media_type(request.headers or {}) not in ("", "application/json"):
        raise Rejection(415, "send application/json")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Rejection(400, "the body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise Rejection(400, "the body must be a JSON object")
    return data


def _text(data: dict[str, Any], name: str, what: str) -> str:
    value = data.get(name, "")
    if not isinstance(value, str) or not value.strip():
        raise Rejection(400, f'say {what}: {{"{name}": "..."}}')
    if len(value) > MAX_REASON:
        raise Rejection(400, f"{name} is longer than {MAX_REASON} characters")
    return value.strip()


# --- the JSON API -------------------------------------------------------------------


def _api(write: bool = False) -> Callable[[Handler], Handler]:
    """Authenticate, then run the handler; refusals and backend trouble become JSON."""

    def wrap(handler: Handler) -> Handler:
        def run(request: Any, hub_factory: Any, *args: str) -> Response:
            try:
                hub = hub_factory()
            except ConfigurationError as exc:
                return _error(503, str(exc))
            who = auth.check(request, hub.settings.admin_token, write=write)
            if isinstance(who, auth.Denied):
                return _error(who.status, who.message)
            try:
                return handler(request, hub, *args)
            except Rejection as exc:
                return _error(exc.status, exc.message)
            except PermanentError as exc:
                return _error(400, str(exc))
            except HubError as exc:
                logger.error("admin: backend trouble", extra={"reason": type(exc).__name__})
                return _error(503, f"the hub's store did not answer: {exc}")

        run.__name__ = handler.__name__
        run.__doc__ = handler.__doc__
        return run

    return wrap


@_api()
def summary(request: Any, hub: Any) -> Response:
    return _json(200, views.summary(hub))


@_api()
def events(request: Any, hub: Any) -> Response:
    return _json(200, views.events(hub, _param(request, "q"), _limit(request)))


@_api()
def event(request: Any, hub: Any, event_id: str) -> Response:
    wanted = _event_id(event_id)
    story = views.event_story(hub, wanted)
    if story is None:
        return _error(404, f"no event {wanted} in the history (kept {hub.settings.history_days} days)")
    return _json(200, story)


@_api()
def dead_letters(request: Any, hub: Any) -> Response:
    return _json(200, views.dead_letters(hub))


def _gone(letter_id: str) -> Response:
    return _error(404, f"no dead letter {letter_id} is waiting: it was replayed or discarded already, or never was")


@_api(write=True)
def replay(request: Any, hub: Any, letter_id: str) -> Response:
    outcome = views.replay(hub, _letter_id(letter_id))
    if outcome == "refused":
        return _error(
            409, f"dead letter {letter_id} is a Slack command: never replayed (it would run again); discard it"
        )
    if outcome != "replayed":
        return _gone(letter_id)
    return _json(200, {"ok": True, "replayed": letter_id})


@_api(write=True)
def discard(request: Any, hub: Any, letter_id: str) -> Response:
    reason = _text(_json_body(request), "reason", "why the letter is discarded")
    if not views.discard(hub, _letter_id(letter_id), reason):
        return _gone(letter_id)
    return _json(200, {"ok": True, "discarded": letter_id})


@_api(write=True)
def replay_by_reason(request: Any, hub: Any) -> Response:
    reason = _text(_json_body(request), "reason", "which reason's letters to replay")
    return _json(200, {"ok": True, **views.replay_by_reason(hub, reason)})


# --- the page -----------------------------------------------------------------------


@lru_cache(maxsize=1)
def _env() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["age"] = _age
    return env


@lru_cache(maxsize=4)
def _static(name: str) -> str:
    return (_HERE / "static" / name).read_text(encoding="utf-8")


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    s = int(seconds)
    return f"{s} s" if s < 120 else f"{s // 60} min" if s < 7200 else f"{s // 3600} h"


def _html(status: int, template: str, **context: Any) -> Response:
    nonce = secrets.token_urlsafe(16)
    csp = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "connect-src 'self'; form-action 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'"
    )
    body = (
        _env()
        .get_template(template)
        .render(nonce=nonce, script=_static("admin.js"), style=_static("admin.css"), **context)
    )
    headers = _headers("text/html; charset=utf-8", **{"Content-Security-Policy": csp, "X-Frame-Options": "DENY"})
    return Response(body=body, status_code=status, headers=headers)


def _page_hub(hub_factory: Any) -> Any:
    """The hub, or the page saying why the dashboard is off (not configured, no token)."""
    try:
        hub = hub_factory()
    except ConfigurationError as exc:
        return _html(503, "message.html.j2", title="The hub is not configured", message=str(exc))
    if not hub.settings.admin_token:
        return _html(503, "message.html.j2", title="The dashboard is off", message=auth.NOT_CONFIGURED + ".")
    return hub


def page(request: Any, hub_factory: Any) -> Response:
    """GET /admin: the login form, or the dashboard (`?q=` searches, `?event=` opens one)."""
    hub = _page_hub(hub_factory)
    if isinstance(hub, Response):
        return hub
    token = hub.settings.admin_token
    session = auth.session_of(request)
    if not auth.valid_session(token, session):
        return _html(401, "login.html.j2", error="")
    try:
        query, event_id = _param(request, "q"), _param(request, "event")
        letters = hub.dead_letters.list()  # read once: on SQS a listing receives every letter
        story = views.event_story(hub, _event_id(event_id), letters) if event_id else None
        context = {
            "summary": views.summary(hub, letters),
            "timeline": views.events(hub, query, _PAGE_LIMIT)["events"],
            "letters": [views.letter_view(d) for d in letters],
            "query": query,
            "event_id": event_id,
            "story": story,
        }
    except Rejection as exc:
        return _html(exc.status, "message.html.j2", title="Not understood", message=exc.message)
    except HubError as exc:
        return _html(503, "message.html.j2", title="The hub's store did not answer", message=str(exc))
    return _html(200, "dashboard.html.j2", csrf=auth.csrf_token(token, session), **context)


def login(request: Any, hub_factory: Any) -> Response:
    """POST /admin: log in with the token (a session cookie), or log out."""
    hub = _page_hub(hub_factory)
    if isinstance(hub, Response):
        return hub
    token = hub.settings.admin_token
    raw = request.raw_body or b""
    if len(raw) > 4096:
        return _html(413, "login.html.j2", error="That form is too large.")
    form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
    back = {"Location": "admin"}
    if form.get("action") == "logout":
        session = auth.session_of(request)
        if not auth.same(form.get("csrf", ""), auth.csrf_token(token, session)):
            return _html(403, "message.html.j2", title="Not logged out", message=auth.BAD_CSRF)
        return Response(body="", status_code=303, headers={**back, "Set-Cookie": auth.cookie(request, "", 0)})
    if not auth.same(form.get("token", "").strip(), token):
        logger.info("admin: wrong token at login")
        return _html(401, "login.html.j2", error="That is not the admin token.")
    session = auth.new_session(token)
    return Response(body="", status_code=303, headers={**back, "Set-Cookie": auth.cookie(request, session)})
