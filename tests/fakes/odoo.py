"""An Odoo server in memory that speaks both of Odoo's external APIs over HTTP:

- XML-RPC: `/xmlrpc/2/common` (`version`, `authenticate`, `login`) and `/xmlrpc/2/object`
  (`execute_kw`), with Odoo's fault codes (1 server error with a traceback, 2 UserError /
  ValidationError / MissingError, 3 AccessDenied, 4 AccessError);
- JSON-2: `POST /json/2/<model>/<method>` with named arguments, `Authorization: bearer
  <key>` and `X-Odoo-Database`, errors as 4xx/5xx JSON bodies in Odoo's shape
  (`name`, `message`, `arguments`, `context`, `debug`).

One database holds `res.partner`, `product.product` (found by `default_code`),
`sale.order` (state `draft` → `sale` by `action_confirm`, no unique `client_order_ref`,
like Odoo) and `sale.order.line`. Methods: `search`, `search_read`, `search_count`,
`read`, `create`, `write`, `unlink`, `action_confirm` (and `res.users.context_get`);
domains in prefix notation with `=`, `!=`, `in`, `not in`, `like`, `ilike`, `=like`,
`=ilike`; archived records hidden unless the domain names `active`; Odoo's default
orders (`sale.order`: newest first). Empty values read as `False`, many2one fields as
`[id, name]`.

Faults: `fake.faults` (tests/fakes/faults.py) applies to every request; `fail_call(...)`
targets one model/method, and `kill_after_create()` lets a create commit and then resets
the connection before the answer: the lost-answer case an adapter must survive.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import socket
import threading
import time
import xmlrpc.client
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.http import FakeHandler, HttpFake

DB = "chocohub"
LOGIN = "hub@chocohub.example"
API_KEY = "0123456789abcdef0123456789abcdef01234567"
UID = 2
SERVER_VERSION = "19.0"
DEFAULT_PRODUCTS = {"BOX-CLASSIC": "Classic box", "BOX-SUPER": "Super box"}

# field -> kind ("char", "bool", "float", "selection", ("m2o", model), ("o2m", model, inverse))
MODELS: dict[str, dict[str, Any]] = {
    "res.partner": {"name": "char", "email": "char", "street": "char", "active": "bool"},
    "product.product": {"name": "char", "default_code": "char", "active": "bool", "sale_ok": "bool"},
    "sale.order": {
        "name": "char",
        "partner_id": ("m2o", "res.partner"),
        "client_order_ref": "char",
        "state": "selection",
        "order_line": ("o2m", "sale.order.line", "order_id"),
        "date_order": "char",
    },
    "sale.order.line": {
        "order_id": ("m2o", "sale.order"),
        "product_id": ("m2o", "product.product"),
        "product_uom_qty": "float",
        "name": "char",
    },
    "res.users": {"name": "char", "login": "char", "active": "bool"},
}
DESCRIPTIONS = {
    "res.partner": "Contact",
    "product.product": "Product Variant",
    "sale.order": "Sales Order",
    "sale.order.line": "Sales Order Line",
    "res.users": "User",
}
DEFAULT_ORDER = {"res.partner": "name, id desc", "sale.order": "id desc", "product.product": "default_code, id"}
REQUIRED = {"res.partner": ("name",), "sale.order": ("partner_id",), "sale.order.line": ("order_id", "product_id")}
MODEL_METHODS = {"search", "search_read", "search_count", "read", "create", "write", "unlink"}
RECORD_METHODS = {"read", "write", "unlink", "action_confirm"}
EXTRA_METHODS = {"sale.order": {"action_confirm"}, "res.users": {"context_get"}}


# --- Odoo's exceptions, as both protocols encode them ---------------------------------


class OdooException(Exception):
    name = "odoo.exceptions.UserError"
    fault_code = 2
    http_status = 422

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def traceback(self) -> str:
        return (
            "Traceback (most recent call last):\n"
            '  File "/opt/odoo/odoo/service/model.py", line 156, in retrying\n'
            "    result = func()\n"
            f"{self.name}: {self.message}\n"
        )

    def fault(self) -> xmlrpc.client.Fault:
        # Odoo sends the message for the codes clients act on, the traceback for the rest.
        return xmlrpc.client.Fault(self.fault_code, self.traceback() if self.fault_code == 1 else self.message)

    def json2(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "message": self.message,
            "arguments": [self.message],
            "context": {},
            "debug": self.traceback(),
        }


class UserError(OdooException):
    pass


class ValidationError(UserError):
    name = "odoo.exceptions.ValidationError"


class MissingError(UserError):
    name = "odoo.exceptions.MissingError"
    http_status = 404


class AccessDenied(OdooException):
    name = "odoo.exceptions.AccessDenied"
    fault_code = 3
    http_status = 403


class AccessError(OdooException):
    name = "odoo.exceptions.AccessError"
    fault_code = 4
    http_status = 403


class ServerError(OdooException):
    """Any other exception: fault code 1 with the traceback, HTTP 500."""

    fault_code = 1
    http_status = 500

    def __init__(self, message: str, name: str = "builtins.ValueError") -> None:
        super().__init__(message)
        self.name = name


class HttpError(OdooException):
    """A werkzeug HTTP exception (JSON-2 only: 401, 404, ...)."""

    def __init__(self, status: int, message: str, name: str) -> None:
        super().__init__(message)
        self.http_status = status
        self.name = f"werkzeug.exceptions.{name}"

    def json2(self) -> dict[str, Any]:
        body = super().json2()
        body["arguments"] = [self.message, self.http_status]
        return body


class _Inject(Exception):
    """Raised inside request handling: the handler answers with this fault instead."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class _OdooHandler(FakeHandler):
    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle's algorithm and the
        # client's delayed ACK add some 40 ms to every answer on a kept-alive connection.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        try:
            super()._serve()
        except _Inject as inject:
            self._apply_fault(inject.kind)


def _like(pattern: str, value: str, insensitive: bool) -> bool:
    """SQL (I)LIKE, with PostgreSQL's backslash escape."""
    return _like_regex(pattern, insensitive).fullmatch(value) is not None


@functools.lru_cache(maxsize=4096)
def _like_regex(pattern: str, insensitive: bool) -> re.Pattern[str]:
    """The pattern as a compiled regex, once per pattern: a search matches it against every
    record, and a bench's fake holds thousands."""
    regex, chars = [], iter(pattern)
    for ch in chars:
        if ch == "\\":
            regex.append(re.escape(next(chars, "\\")))
        elif ch == "%":
            regex.append(".*")
        elif ch == "_":
            regex.append(".")
        else:
            regex.append(re.escape(ch))
    return re.compile("".join(regex), re.DOTALL | (re.IGNORECASE if insensitive else 0))


class OdooFake(HttpFake):
    """Start with `start()`; `env(protocol)` gives the hub's settings to reach it.

    Inspect with `orders()`, `partners()`, `products()`, and `calls` (every remote call as
    `(protocol, model or service, method)`, with `count(method, model)`).
    """

    def __init__(
        self, products: dict[str, str] | None = None, db: str = DB, login: str = LOGIN, api_key: str = API_KEY
    ) -> None:
        super().__init__()
        self.db, self.login, self.api_key, self.uid = db, login, api_key, UID
        self.require_database_header = True  # as on a server hosting several databases
        self.denied_models: set[str] = set()  # the user has no access rights on these
        # Seconds an idle keep-alive connection stays open (None: forever), as a real
        # server's keep-alive timeout; set it before start().
        self.keepalive_timeout: float | None = None
        self.calls: list[tuple[str, str, str]] = []
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._tables: dict[str, dict[int, dict[str, Any]]] = {model: {} for model in MODELS}
        self._targeted: list[dict[str, Any]] = []
        self._tables["res.users"][self.uid] = {"name": "chocohub integration", "login": login, "active": True}
        for code, name in (DEFAULT_PRODUCTS if products is None else products).items():
            self.add_product(code, name)

    # --- test helpers ---------------------------------------------------------------

    def env(self, protocol: str = "xmlrpc", **extra: str) -> dict[str, str]:
        """The environment variables that point the hub at this fake."""
        return {
            "ODOO_URL": self.url,
            "ODOO_DB": self.db,
            "ODOO_USER": self.login,
            "ODOO_API_KEY": self.api_key,
            "ODOO_PROTOCOL": protocol,
            **extra,
        }

    def add_product(self, code: str, name: str | None = None, active: bool = True) -> int:
        with self._lock:
            return self._insert("product.product", {"default_code": code, "name": name or code, "active": active})

    def add_partner(self, name: str, email: str, street: str = "") -> int:
        with self._lock:
            return self._insert("res.partner", {"name": name, "email": email, "street": street or False})

    def add_order(self, partner_id: int, sku: str, ref: str, state: str = "draft") -> int:
        """An order made outside the hub (by a person, or an earlier run)."""
        with self._lock:
            product = next(i for i, p in self._tables["product.product"].items() if p["default_code"] == sku)
            order_id = self._insert("sale.order", {"partner_id": partner_id, "client_order_ref": ref, "state": state})
            self._insert("sale.order.line", {"order_id": order_id, "product_id": product, "product_uom_qty": 1.0})
            return order_id

    def fail_call(self, model: str | None, method: str, kind: str = "500", times: int = 1, after: bool = False) -> None:
        """The next `times` calls of `method` (on `model`, or any model if None) fail with
        `kind` (a Faults kind). With `after=True` the call is carried out first, then the
        connection is reset before the answer."""
        with self._lock:
            self._targeted.append({"model": model, "method": method, "kind": kind, "times": times, "after": after})

    def kill_after_create(self, model: str = "sale.order", times: int = 1) -> None:
        """The next create on `model` commits, then the connection is reset unanswered."""
        self.fail_call(model, "create", kind="reset", times=times, after=True)

    def count(self, method: str, model: str | None = None) -> int:
        with self._lock:
            return sum(1 for _, m, meth in self.calls if meth == method and (model is None or m == model))

    def confirmed_refs(self) -> list[str]:
        """The `client_order_ref` of every confirmed order (cheap: the bench polls it)."""
        with self._lock:
            return [
                str(o.get("client_order_ref") or "")
                for o in self._tables["sale.order"].values()
                if o.get("state") in ("sale", "done")
            ]

    def orders(self) -> list[dict[str, Any]]:
        """Every sale order, oldest first, with its partner's email and lines."""
        with self._lock:
            out = []
            for order_id, order in sorted(self._tables["sale.order"].items()):
                partner = self._tables["res.partner"].get(order["partner_id"], {})
                lines = [
                    {
                        "product": self._tables["product.product"][line["product_id"]]["default_code"],
                        "product_uom_qty": line["product_uom_qty"],
                    }
                    for line in self._tables["sale.order.line"].values()
                    if line["order_id"] == order_id
                ]
                out.append(
                    {
                        "id": order_id,
                        "name": order["name"],
                        "client_order_ref": order.get("client_order_ref") or False,
                        "state": order["state"],
                        "partner_id": order["partner_id"],
                        "email": partner.get("email") or False,
                        "lines": lines,
                    }
                )
            return out

    def partners(self) -> list[dict[str, Any]]:
        """Every partner (archived too), oldest first, as Odoo reads them (empty = False)."""
        with self._lock:
            return self._m_read("res.partner", sorted(self._tables["res.partner"]))

    def products(self) -> list[dict[str, Any]]:
        with self._lock:
            return self._m_read("product.product", sorted(self._tables["product.product"]))

    # --- HTTP -----------------------------------------------------------------------

    def start(self) -> str:
        # As HttpFake.start, with a handler that can fail a request after handling it.
        from http.server import ThreadingHTTPServer

        handler = type("Handler", (_OdooHandler,), {"fake": self, "timeout": self.keepalive_timeout})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        # A short poll interval: stop() waits for it, once per test.
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self.url

    def handle_request(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes]:
        self.requests.append((method, path))
        if path.startswith("/xmlrpc/2/") and method == "POST":
            return self._xmlrpc(path.rsplit("/", 1)[-1], body)
        if path.startswith("/json/2/") and method == "POST":
            return self._json2(path[len("/json/2/") :], {k.lower(): v for k, v in headers.items()}, body)
        return 404, {"Content-Type": "text/html"}, b"<h1>Not Found</h1>"

    def _targeted_fault(self, model: str, method: str) -> dict[str, Any] | None:
        with self._lock:
            for rule in self._targeted:
                if rule["method"] == method and rule["model"] in (None, model):
                    rule["times"] -= 1
                    if rule["times"] <= 0:
                        self._targeted.remove(rule)
                    return rule
        return None

    def _run(self, protocol: str, model: str, method: str, fn: Any) -> Any:
        """Record the call, apply a targeted fault, run it."""
        with self._lock:
            self.calls.append((protocol, model, method))
        rule = self._targeted_fault(model, method)
        if rule and not rule["after"]:
            raise _Inject(rule["kind"])
        result = fn()
        if rule:
            raise _Inject("reset")
        return result

    # XML-RPC

    def _xmlrpc(self, service: str, body: bytes) -> tuple[int, dict, bytes]:
        headers = {"Content-Type": "text/xml"}
        try:
            params, name = xmlrpc.client.loads(body)
        except Exception:
            return 400, headers, b"bad XML-RPC request"
        try:
            if service == "common":
                result = self._run("xmlrpc", "common", name, lambda: self._common(name, params))
            elif service == "object" and name == "execute_kw":
                db, uid, key, model, meth, args, *rest = params
                kwargs = rest[0] if rest else {}
                result = self._run("xmlrpc", model, meth, lambda: self._object(db, uid, key, model, meth, args, kwargs))
            else:
                raise ServerError(f"Method not available {name}", "builtins.NameError")
            payload = xmlrpc.client.dumps((result,), methodresponse=True, allow_none=False)
        except OdooException as exc:
            payload = xmlrpc.client.dumps(exc.fault(), methodresponse=True)
        except (TypeError, ValueError) as exc:  # wrong arguments, or a None Odoo cannot marshal
            fault = ServerError(str(exc), f"builtins.{type(exc).__name__}").fault()
            payload = xmlrpc.client.dumps(fault, methodresponse=True)
        return 200, headers, payload.encode()

    def _check_db(self, db: str) -> None:
        if db != self.db:
            raise ServerError(
                f'connection to server failed: FATAL:  database "{db}" does not exist', "psycopg2.OperationalError"
            )

    def _common(self, name: str, params: tuple) -> Any:
        if name == "version":
            return {
                "server_version": SERVER_VERSION,
                "server_version_info": [19, 0, 0, "final", 0, ""],
                "server_serie": SERVER_VERSION,
                "protocol_version": 1,
            }
        if name in ("authenticate", "login"):
            db, login, password = params[:3]
            self._check_db(db)
            return self.uid if (login, password) == (self.login, self.api_key) else False
        raise ServerError(f"Method not available {name}", "builtins.NameError")

    def _object(self, db: str, uid: int, key: str, model: str, method: str, args: list, kwargs: dict) -> Any:
        self._check_db(db)
        if (uid, key) != (self.uid, self.api_key):
            raise AccessDenied("Access Denied")
        if model not in MODELS:
            raise UserError(f"Object {model} doesn't exist")
        return self._execute(model, method, list(args), dict(kwargs))

    # JSON-2

    def _json2(self, route: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes]:
        model, _, method = route.partition("/")
        try:
            scheme, _, key = headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or key.strip() != self.api_key:
                raise HttpError(401, "Invalid apikey", "Unauthorized")
            database = headers.get("x-odoo-database")
            if (database or self.require_database_header) and database != self.db:
                raise HttpError(404, f"database {database!r} not found", "NotFound")
            try:
                params = json.loads(body) if body else {}
            except ValueError as exc:
                raise HttpError(400, f"could not parse the body as json: {exc}", "BadRequest") from exc
            if not isinstance(params, dict):
                raise HttpError(400, "the body must be a JSON object", "BadRequest")
            if model not in MODELS:
                raise HttpError(404, f"the model {model!r} does not exist", "NotFound")
            if method not in MODEL_METHODS | EXTRA_METHODS.get(model, set()):
                raise HttpError(404, f"The method {method!r} does not exist on the model {model!r}", "NotFound")
            params.pop("context", None)
            args = [params.pop("ids", [])] if method in RECORD_METHODS else []
            result = self._run("json2", model, method, lambda: self._execute(model, method, args, params))
            return self.json_response(200, result)
        except TypeError as exc:
            return self.json_response(422, HttpError(422, str(exc), "UnprocessableEntity").json2())
        except OdooException as exc:
            return self.json_response(exc.http_status, exc.json2())

    # --- the ORM --------------------------------------------------------------------

    def _execute(self, model: str, method: str, args: list, kwargs: dict) -> Any:
        if model in self.denied_models:
            raise AccessError(
                f"You are not allowed to access '{DESCRIPTIONS[model]}' ({model}) records.\n\n"
                "This operation is allowed for the following groups:\n\t- Sales/User: Own Documents Only"
            )
        if method not in MODEL_METHODS | EXTRA_METHODS.get(model, set()):
            raise ServerError(f"The method '{method}' does not exist on the model '{model}'", "builtins.AttributeError")
        fn = getattr(self, f"_m_{method}")
        with self._lock:
            return fn(model, *args, **kwargs)

    def _m_search(self, model: str, domain: list, offset: int = 0, limit: int | None = None, order: str | None = None):
        active_test = "active" in MODELS[model] and not any(
            isinstance(t, (list, tuple)) and t[0] == "active" for t in domain
        )
        ids = [
            i
            for i, rec in self._tables[model].items()
            if (not active_test or rec.get("active", True)) and self._match(model, i, rec, domain)
        ]
        for spec in reversed((order or DEFAULT_ORDER.get(model, "id")).split(",")):
            field, _, direction = spec.strip().partition(" ")
            ids.sort(
                key=lambda i, f=field: i if f == "id" else (self._tables[model][i].get(f) or ""),
                reverse=direction.strip().lower() == "desc",
            )
        ids = ids[offset:]
        return ids[:limit] if limit else ids

    def _m_search_read(self, model: str, domain: list | None = None, fields: list | None = None, **kw: Any):
        return self._m_read(model, self._m_search(model, domain or [], **kw), fields)

    def _m_search_count(self, model: str, domain: list | None = None, limit: int | None = None):
        return len(self._m_search(model, domain or [], limit=limit))

    def _m_read(self, model: str, ids: list, fields: list | None = None):
        missing = [i for i in ids if i not in self._tables[model]]
        if missing:
            raise MissingError(
                f"Record does not exist or has been deleted.\n(Record: {model}({missing[0]},), User: {self.uid})"
            )
        wanted = fields or list(MODELS[model])
        unknown = [f for f in wanted if f != "id" and f not in MODELS[model]]
        if unknown:
            raise ServerError(f"Invalid field {unknown[0]!r} on model {model!r}")
        return [{"id": i, **{f: self._value(model, i, f) for f in wanted if f != "id"}} for i in ids]

    def _m_create(self, model: str, vals_list: dict | list):
        many = isinstance(vals_list, list)
        ids = [self._create_one(model, dict(vals)) for vals in (vals_list if many else [vals_list])]
        return ids if many else ids[0]

    def _m_write(self, model: str, ids: list, vals: dict):
        self._m_read(model, ids, ["id"])
        for i in ids:
            self._tables[model][i].update(self._clean(model, vals))
        return True

    def _m_unlink(self, model: str, ids: list):
        self._m_read(model, ids, ["id"])
        if model == "sale.order" and any(self._tables[model][i]["state"] not in ("draft", "cancel") for i in ids):
            raise UserError("You can not delete a sent quotation or a confirmed sales order. You must first cancel it.")
        for i in ids:
            del self._tables[model][i]
            if model == "sale.order":
                for line_id in [k for k, v in self._tables["sale.order.line"].items() if v["order_id"] == i]:
                    del self._tables["sale.order.line"][line_id]
        return True

    def _m_action_confirm(self, model: str, ids: list):
        self._m_read(model, ids, ["id"])
        if any(self._tables[model][i]["state"] not in ("draft", "sent") for i in ids):
            raise UserError("Some orders are not in a state requiring confirmation.")
        for i in ids:
            self._tables[model][i]["state"] = "sale"
        return True

    def _m_context_get(self, model: str):
        return {"lang": "en_US", "tz": "Europe/Brussels"}

    # helpers

    def _insert(self, model: str, vals: dict[str, Any]) -> int:
        new_id = next(self._ids)
        defaults: dict[str, Any] = {"active": True} if "active" in MODELS[model] else {}
        if model == "product.product":
            defaults["sale_ok"] = True
        if model == "sale.order":
            defaults.update({"state": "draft", "name": f"S{new_id:05d}"})
        self._tables[model][new_id] = {**defaults, **vals}
        return new_id

    def _clean(self, model: str, vals: dict[str, Any]) -> dict[str, Any]:
        unknown = [f for f in vals if f not in MODELS[model]]
        if unknown:
            raise ServerError(f"Invalid field {unknown[0]!r} on model {model!r}")
        out = {}
        for field, value in vals.items():
            kind = MODELS[model][field]
            if isinstance(kind, tuple) and kind[0] == "m2o" and value and value not in self._tables[kind[1]]:
                raise ValidationError(
                    "The operation cannot be completed: a record it refers to does not exist.\n"
                    f"Model: {DESCRIPTIONS[model]} ({model}), Field: {field}, Value: {value}"
                )
            if not (isinstance(kind, tuple) and kind[0] == "o2m"):
                out[field] = value
        return out

    def _create_one(self, model: str, vals: dict[str, Any]) -> int:
        commands = vals.pop("order_line", []) if model == "sale.order" else []
        clean = self._clean(model, vals)
        missing = [f for f in REQUIRED.get(model, ()) if not clean.get(f) and f != "order_id"]
        if missing:
            raise ValidationError(
                "The operation cannot be completed: Create/update: a mandatory field is not set.\n"
                f"Model: {DESCRIPTIONS[model]} ({model}), Field: {missing[0]}"
            )
        # Check the lines first: Odoo creates the order and its lines in one transaction.
        lines = []
        for command in commands or []:
            if not (isinstance(command, (list, tuple)) and len(command) == 3 and command[0] == 0):
                raise ServerError(f"unsupported x2many command {command!r}")
            line = self._clean("sale.order.line", dict(command[2]))
            if not line.get("product_id"):
                raise ValidationError("Missing required fields on accountable sale order line.")
            lines.append(line)
        if model == "sale.order":  # Odoo's default: now, as a UTC datetime string
            clean.setdefault("date_order", time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()))
        new_id = self._insert(model, clean)
        for line in lines:
            product = self._tables["product.product"][line["product_id"]]
            self._insert(
                "sale.order.line",
                {"product_uom_qty": 1.0, "name": product["name"], **line, "order_id": new_id},
            )
        return new_id

    def _value(self, model: str, rec_id: int, field: str) -> Any:
        kind = MODELS[model][field]
        if isinstance(kind, tuple) and kind[0] == "o2m":
            return [i for i, r in self._tables[kind[1]].items() if r.get(kind[2]) == rec_id]
        value = self._tables[model][rec_id].get(field)
        if isinstance(kind, tuple) and kind[0] == "m2o":
            target = self._tables[kind[1]].get(value) if value else None
            return [value, self._display_name(kind[1], target)] if target else False
        if kind == "float" and value is not None:
            return float(value)
        if kind == "bool":
            return bool(value)
        return value if value not in (None, "") else False

    @staticmethod
    def _display_name(model: str, record: dict[str, Any]) -> str:
        """A many2one's name, as Odoo shows it: a product's has its internal reference in
        brackets first (`[BOX-SUPER] Super box`)."""
        name = str(record.get("name") or "")
        code = record.get("default_code") if model == "product.product" else None
        return f"[{code}] {name}" if code else name

    def _match(self, model: str, rec_id: int, rec: dict[str, Any], domain: list) -> bool:
        stack: list[bool] = []
        for term in reversed(domain):
            if term == "!":
                stack.append(not stack.pop())
            elif term in ("&", "|"):
                a, b = stack.pop(), stack.pop()
                stack.append((a and b) if term == "&" else (a or b))
            else:
                stack.append(self._leaf(model, rec_id, rec, term))
        return all(stack)

    def _leaf(self, model: str, rec_id: int, rec: dict[str, Any], term: Any) -> bool:
        if not (isinstance(term, (list, tuple)) and len(term) == 3):
            raise ServerError(f"Invalid leaf {term!r}")
        field, op, value = term
        if field != "id" and field not in MODELS[model]:
            raise ServerError(f"Invalid field {model}.{field} in leaf {term!r}")
        actual = rec_id if field == "id" else rec.get(field)
        if actual in (None, ""):
            actual = False
        if op == "=":
            return actual == value if value is not False else actual is False
        if op == "!=":
            return actual != value
        if op in ("in", "not in"):
            return (actual in value) == (op == "in")
        if op in ("like", "ilike", "=like", "=ilike"):
            if actual is False:
                return False
            pattern = str(value) if op.startswith("=") else f"%{value}%"
            return _like(pattern, str(actual), insensitive=op.endswith("ilike"))
        raise ServerError(f"Invalid domain operator {op!r}")


@pytest.fixture
def odoo_fake() -> Iterator[OdooFake]:
    """A started Odoo fake (both protocols), stopped after the test."""
    fake = OdooFake()
    fake.start()
    yield fake
    fake.stop()
