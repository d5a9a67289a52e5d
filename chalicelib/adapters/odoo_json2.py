"""Odoo over JSON-2 (Odoo 19 and later): `POST {ODOO_URL}/json/2/<model>/<method>`.

The body is a JSON object of named arguments (a record method's ids go in `ids`), the
API key is a bearer token and `X-Odoo-Database` names the database. A success is HTTP
200 with the method's return value as the body; an error is a 4xx/5xx whose JSON body
names Odoo's exception (`{"name": "odoo.exceptions.UserError", "message": ...}`). The
logic is in `odoo_common`; `requests` is imported on first use.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from chalicelib.adapters.odoo_common import OdooStock, http_status_error, odoo_message
from chalicelib.errors import ConfigurationError, PermanentError, TransientError
from chalicelib.retry import parse_retry_after
from chalicelib.settings import Settings

# JSON-2 takes named arguments only: the names of the positional arguments that
# `odoo_common` passes in XML-RPC's `execute_kw` shape. Any other method is a record
# method whose only positional argument is its ids.
POSITIONAL_NAMES: dict[str, tuple[str, ...]] = {
    "search": ("domain",),
    "search_read": ("domain", "fields"),
    "search_count": ("domain",),
    "create": ("vals_list",),
    "read": ("ids", "fields"),
    "write": ("ids", "vals"),
}

# Odoo exceptions that mean "this data is refused" (HTTP 422, or 404 for MissingError);
# any other 4xx is a refusal too (see `http_status_error`).
REFUSALS = ("UserError", "ValidationError", "MissingError", "RedirectWarning")


def named_arguments(method: str, args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The JSON-2 body of `method(*args, **kwargs)`."""
    names = POSITIONAL_NAMES.get(method, ("ids",))
    if len(args) > len(names):
        raise TypeError(f"JSON-2 takes named arguments: name the positional arguments of {method}")
    body = dict(zip(names[: len(args)], args, strict=True))
    body.update(kwargs)
    return body


class OdooJson2(OdooStock):
    """`StockSystem` on Odoo's JSON-2 API (`ODOO_PROTOCOL=json2`)."""

    protocol = "JSON-2"
    # The key identifies the user; ODOO_DB is needed only where one server hosts several.
    required_settings = (("ODOO_API_KEY", "odoo_api_key"),)

    def __init__(self, settings: Settings, sleep: Callable[[float], None] | None = None) -> None:
        super().__init__(settings, sleep)
        self._local = threading.local()  # one requests.Session per thread

    def _session(self) -> Any:
        session = getattr(self._local, "session", None)
        if session is None:
            import requests

            session = requests.Session()
            session.headers["Authorization"] = f"bearer {self._api_key}"
            session.headers["User-Agent"] = "chocohub"
            if self.db:
                session.headers["X-Odoo-Database"] = self.db
            self._local.session = session
        return session

    def call(self, model: str, method: str, args: list[Any], kwargs: dict[str, Any] | None = None) -> Any:
        import requests

        what = f"{model}.{method}"
        body = named_arguments(method, args, kwargs or {})
        try:
            # requests' default adapter makes no retries: a request is sent at most once.
            # No redirects: requests would turn a redirected POST into a GET without its body.
            response = self._session().post(
                f"{self.url}/json/2/{model}/{method}", json=body, timeout=self.timeout, allow_redirects=False
            )
        except (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema) as exc:
            raise ConfigurationError(f"ODOO_URL is not a usable URL: {exc}") from exc
        except requests.RequestException as exc:  # refused, reset, timed out, TLS, DNS
            raise TransientError(f"Odoo did not answer {what}: {type(exc).__name__}: {exc}") from exc
        if response.status_code == 200:
            try:
                return response.json()
            except ValueError as exc:
                raise TransientError(
                    f"Odoo's answer to {what} was not JSON: is ODOO_URL the base URL of Odoo?"
                ) from exc
        raise self._error(response, what)

    def _error(self, response: Any, what: str) -> Exception:
        status = response.status_code
        try:
            error = response.json()
        except ValueError:
            error = None
        if not isinstance(error, dict):  # a proxy's page, or a bare JSON string
            error = {"message": error if isinstance(error, str) else response.reason}
        kind = str(error.get("name") or "").rsplit(".", 1)[-1]
        message = odoo_message(error.get("message") or response.reason)
        if kind in ("AccessError", "AccessDenied") and status != 401:
            return ConfigurationError(
                f"Odoo denied {what}: {message} (give the user of ODOO_API_KEY access to Sales and Contacts in Odoo)"
            )
        if kind in REFUSALS:
            return PermanentError(f"Odoo refused {what}: {message}")
        not_found = (
            f"Odoo at {self.url} has no JSON-2 endpoint for {what}: JSON-2 needs Odoo 19 or later "
            f"(else set ODOO_PROTOCOL=xmlrpc); check ODOO_URL, ODOO_DB ({self.db or 'unset'}) "
            "and that Sales is installed"
        )
        hint = parse_retry_after(response.headers.get("Retry-After"))
        return http_status_error(status, message, what, hint, not_found)
