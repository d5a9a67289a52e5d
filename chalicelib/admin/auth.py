"""Who may use `/admin`: the bearer of `HUB_ADMIN_TOKEN`, or a browser that showed it once.

No server-side session store (Lambda containers come and go): the session cookie is
`<expiry>.<HMAC(expiry)>`, keyed by a hash of the admin token, so changing the token
logs every browser out. The CSRF token is an HMAC of the session, sent back by the
page's JavaScript in `X-CSRF-Token` on every POST; a request with a bearer token
carries no ambient credential and needs none.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any

from chalicelib.ingress.common import header

COOKIE = "chocohub_admin"
SESSION_SECONDS = 12 * 3600
CSRF_HEADER = "X-CSRF-Token"
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]", "::1")

NOT_CONFIGURED = "HUB_ADMIN_TOKEN is not set: the dashboard and its API are off until it is"
UNAUTHORISED = "missing or wrong admin token: send Authorization: Bearer <HUB_ADMIN_TOKEN>, or log in at /admin"
BAD_CSRF = "missing or wrong CSRF token: reload the dashboard and try again"


@dataclass(frozen=True)
class Denied:
    """Why a request may not go on, as the HTTP status and message to answer."""

    status: int
    message: str


@dataclass(frozen=True)
class Admin:
    """An authenticated operator: `session` is set when they came with the cookie."""

    session: str = ""

    @property
    def by_cookie(self) -> bool:
        return bool(self.session)


def _key(token: str) -> bytes:
    return hashlib.sha256(f"chocohub-admin-session:{token}".encode()).digest()


def _sign(token: str, message: str) -> str:
    return hmac.new(_key(token), message.encode(), hashlib.sha256).hexdigest()


def same(given: str, expected: str) -> bool:
    """Constant-time equality of two strings (False when either is empty)."""
    return bool(given) and bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def new_session(token: str, now: float | None = None) -> str:
    expires = int((now or time.time()) + SESSION_SECONDS)
    return f"{expires}.{_sign(token, f'session:{expires}')}"


def valid_session(token: str, session: str, now: float | None = None) -> bool:
    expires, _, signature = session.partition(".")
    if not expires.isdigit() or int(expires) < (now or time.time()):
        return False
    return same(signature, _sign(token, f"session:{expires}"))


def csrf_token(token: str, session: str) -> str:
    return _sign(token, f"csrf:{session}")[:32]


def session_of(request: Any) -> str:
    raw = header(request.headers or {}, "Cookie")
    try:
        morsel = SimpleCookie(raw).get(COOKIE)
    except CookieError:
        return ""
    return morsel.value if morsel else ""


def bearer(request: Any) -> str | None:
    """The bearer token sent, '' for a malformed Authorization, None when there is none."""
    value = header(request.headers or {}, "Authorization").strip()
    if not value:
        return None
    scheme, _, given = value.partition(" ")
    return given.strip() if scheme.lower() == "bearer" else ""


def check(request: Any, token: str, *, write: bool) -> Admin | Denied:
    """The operator behind a request, or why not: 503 without a token configured, 401
    without a valid bearer token or session, 403 for a cookie POST without its CSRF token."""
    if not token:
        return Denied(503, NOT_CONFIGURED)
    given = bearer(request)
    if given is not None:
        return Admin() if same(given, token) else Denied(401, UNAUTHORISED)
    session = session_of(request)
    if not valid_session(token, session):
        return Denied(401, UNAUTHORISED)
    if write and not same(header(request.headers or {}, CSRF_HEADER), csrf_token(token, session)):
        return Denied(403, BAD_CSRF)
    return Admin(session=session)


def cookie(request: Any, session: str, max_age: int = SESSION_SECONDS) -> str:
    """The Set-Cookie value: HttpOnly, SameSite=Strict, and Secure unless the page was
    reached on a loopback address (`chalice local` serves plain HTTP)."""
    host = header(request.headers or {}, "Host").strip().lower()
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
    secure = "" if name in _LOOPBACK else "; Secure"
    return f"{COOKIE}={session}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
