"""Odoo over XML-RPC (`/xmlrpc/2/common`, `/xmlrpc/2/object`): every Odoo up to 21.

The stdlib `xmlrpc.client` carries `execute_kw(db, uid, key, model, method, args,
kwargs)`; the logic is in `odoo_common`. Two things differ from a stock `ServerProxy`:
requests time out after `HUB_HTTP_TIMEOUT`, and a request is never sent twice by the
transport (the stdlib re-sends once after a connection reset, which repeats a `create`
whose answer was lost: a second order).
"""

from __future__ import annotations

import functools
import select
import threading
from collections.abc import Callable
from typing import Any

from chalicelib.adapters.odoo_common import OdooStock, http_status_error, odoo_message
from chalicelib.errors import ConfigurationError, HubError, PermanentError, TransientError
from chalicelib.retry import parse_retry_after
from chalicelib.settings import Settings

# Odoo's XML-RPC fault codes (odoo/service/wsgi_server.py, later addons/rpc).
FAULT_APPLICATION_ERROR = 1  # anything else; the fault string is the traceback
FAULT_USER_ERROR = 2  # UserError, ValidationError, MissingError, RedirectWarning
FAULT_ACCESS_DENIED = 3  # wrong login or key
FAULT_ACCESS_ERROR = 4  # the user lacks the access rights


def _dropped(sock: Any) -> bool:
    """Whether the server closed an idle keep-alive connection (it is readable: EOF)."""
    try:
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


@functools.cache
def _transport_class(https: bool) -> type:
    """A transport with a timeout that sends each request once.

    Built on first use, so that `xmlrpc.client` is imported only when Odoo is used.
    """
    import xmlrpc.client

    base = xmlrpc.client.SafeTransport if https else xmlrpc.client.Transport

    class OnceTransport(base):  # type: ignore[misc, valid-type]
        def __init__(self, timeout: float) -> None:
            super().__init__()
            self.timeout = timeout

        def make_connection(self, host: Any) -> Any:
            cached = self._connection[1]
            if cached is not None and cached.sock is not None and _dropped(cached.sock):
                self.close()  # reconnect now rather than fail the request on a stale socket
            conn = super().make_connection(host)
            conn.timeout = self.timeout
            return conn

        def request(self, host: Any, handler: str, request_body: bytes, verbose: bool = False) -> Any:
            # One attempt: whether to repeat a call is the adapter's decision, not the transport's.
            return self.single_request(host, handler, request_body, verbose)

    return OnceTransport


class OdooXmlRpc(OdooStock):
    """`StockSystem` on Odoo's XML-RPC API; the default `ODOO_PROTOCOL`."""

    protocol = "XML-RPC"
    required_settings = (("ODOO_DB", "odoo_db"), ("ODOO_USER", "odoo_user"), ("ODOO_API_KEY", "odoo_api_key"))

    def __init__(self, settings: Settings, sleep: Callable[[float], None] | None = None) -> None:
        super().__init__(settings, sleep)
        self._uid: int | None = None
        # A ServerProxy (and its keep-alive connection) is not thread-safe: one per thread.
        self._local = threading.local()

    def _proxy(self, service: str) -> Any:
        proxies: dict[str, Any] | None = getattr(self._local, "proxies", None)
        if proxies is None:
            proxies = self._local.proxies = {}
        if service not in proxies:
            import xmlrpc.client

            transport = _transport_class(self.url.startswith("https:"))(self.timeout)
            proxies[service] = xmlrpc.client.ServerProxy(
                f"{self.url}/xmlrpc/2/{service}", transport=transport, allow_none=True
            )
        return proxies[service]

    def _rpc(self, service: str, method: str, *params: Any, what: str) -> Any:
        """One XML-RPC request, its failures mapped onto the hub's error kinds."""
        import xmlrpc.client
        from http.client import HTTPException
        from xml.parsers.expat import ExpatError

        try:
            return getattr(self._proxy(service), method)(*params)
        except xmlrpc.client.Fault as exc:
            raise self._fault_error(exc, what) from exc
        except xmlrpc.client.ProtocolError as exc:
            headers = exc.headers
            hint = parse_retry_after(headers.get("Retry-After") if headers is not None else None)
            not_found = (
                f"{self.url} has no XML-RPC endpoint /xmlrpc/2/{service}: check ODOO_URL; "
                "Odoo 22 and later have no XML-RPC (set ODOO_PROTOCOL=json2)"
            )
            raise http_status_error(exc.errcode, exc.errmsg, what, hint, not_found) from exc
        except (ExpatError, xmlrpc.client.ResponseError) as exc:
            raise TransientError(
                f"Odoo's answer to {what} was not XML-RPC ({exc}): is ODOO_URL the base URL of Odoo?"
            ) from exc
        except (OSError, HTTPException) as exc:  # refused, reset, timed out, TLS, DNS
            raise TransientError(f"Odoo did not answer {what}: {type(exc).__name__}: {exc}") from exc

    def _fault_error(self, fault: Any, what: str) -> HubError:
        code, text = fault.faultCode, fault.faultString
        if code == FAULT_ACCESS_DENIED:
            self._uid = None  # the key may have been revoked since we logged in
            return ConfigurationError(self._refused())
        if code == FAULT_ACCESS_ERROR:
            return ConfigurationError(
                f"Odoo user {self.user!r} may not do {what}: {odoo_message(text)} "
                "(give the user access to Sales and Contacts in Odoo)"
            )
        if code == FAULT_USER_ERROR:
            return PermanentError(f"Odoo refused {what}: {odoo_message(text)}")
        if "database" in str(text) and "does not exist" in str(text):
            return ConfigurationError(f"Odoo has no database {self.db!r}: check ODOO_DB")
        # An unexpected server error (a concurrency failure, a crash): worth a bounded retry.
        return TransientError(f"Odoo server error in {what}: {odoo_message(text)}")

    def _refused(self) -> str:
        return (
            f"Odoo refused ODOO_USER/ODOO_API_KEY for database {self.db!r} (user {self.user!r}): check "
            "the login, and that the API key belongs to that user and has not expired"
        )

    def _login(self) -> int:
        uid = self._rpc("common", "authenticate", self.db, self.user, self._api_key, {}, what="authenticate")
        if not uid or isinstance(uid, bool):  # Odoo answers False for a wrong login or key
            raise ConfigurationError(self._refused())
        self._uid = int(uid)
        return self._uid

    def call(self, model: str, method: str, args: list[Any], kwargs: dict[str, Any] | None = None) -> Any:
        uid = self._uid if self._uid is not None else self._login()
        return self._rpc(
            "object",
            "execute_kw",
            self.db,
            uid,
            self._api_key,
            model,
            method,
            args,
            kwargs or {},
            what=f"{model}.{method}",
        )

    def describe(self) -> str:
        version = self._rpc("common", "version", what="version")
        server = version.get("server_version", "?") if isinstance(version, dict) else "?"
        return f"Odoo {server} (XML-RPC) at {self.url}, database {self.db}"
