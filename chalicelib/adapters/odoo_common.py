"""What the two Odoo adapters share: the hub's Odoo logic, written once.

`OdooStock` implements the `StockSystem` port over one abstract remote call,
`call(model, method, args, kwargs)`, in XML-RPC's `execute_kw` shape. `OdooXmlRpc` and
`OdooJson2` only carry that call over their protocol and map its failures onto the hub's
error kinds, so the search-before-create logic, the caches and the retry rules below
exist once.

Retries (why reads and writes differ): Odoo has no unique constraint on
`client_order_ref`, and each call is its own transaction. A read, or `action_confirm`
(which this module makes safe to repeat), is retried in place with `service_retry`. A
`create` is sent once: when its answer is lost (a reset or a timeout after sending) the
record may well exist, so the adapter raises `TransientError` and the queue runs the
flow again, which searches by reference (or email) before creating anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar
from urllib.parse import urlsplit

from chalicelib.domain.customer import Customer, normalise_email
from chalicelib.errors import ConfigurationError, HubError, PermanentError, TransientError
from chalicelib.logs import logger
from chalicelib.ports import OrderSummary, StockOrder
from chalicelib.retry import service_retry
from chalicelib.settings import Settings

# The old name, still imported by odoo_json2 and odoo_xmlrpc: one function, chalicelib.retry's.

# `done` is the locked state of Odoo 16 and earlier; from Odoo 17 a locked order stays `sale`.
CONFIRMED_STATES = frozenset({"sale", "done"})
# Partner ids a container remembers (a few hundred KiB at most).
PARTNER_CACHE_SIZE = 10_000


def escape_like(value: str) -> str:
    """`value` as a literal (I)LIKE pattern: Odoo's `=ilike` passes `_` and `%` to SQL as
    wildcards, so `a_b@x.com` would otherwise also match `axb@x.com`."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def record_id(value: Any) -> int | None:
    """An id out of Odoo's shapes for one: `7`, `[7]`, `[7, "name"]` (a many2one), or
    `False` (Odoo's "empty", which is also a `bool`, hence an `int`, in Python)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, (list, tuple)) and value:
        return record_id(value[0])
    return None


def odoo_message(text: Any, limit: int = 400) -> str:
    """Odoo's error text, shortened for a dead letter's reason: a server error carries a
    whole traceback, whose last line says what happened."""
    lines = [line.strip() for line in str(text or "").splitlines() if line.strip()]
    if not lines:
        return "(no message)"
    message = lines[-1] if lines[0].startswith("Traceback") else " ".join(lines)
    return message if len(message) <= limit else message[: limit - 1] + "…"


class OdooStock:
    """The `StockSystem` port on Odoo, over `call()`; subclasses supply the protocol.

    Constructing one checks the settings and opens nothing: the first call connects.
    `sleep` replaces the pause between in-place retries (tests pass a no-op).
    """

    protocol: ClassVar[str] = "?"
    # (variable, Settings attribute) that must be set when ODOO_URL is.
    required_settings: ClassVar[tuple[tuple[str, str], ...]] = ()

    def __init__(self, settings: Settings, sleep: Callable[[float], None] | None = None) -> None:
        url = settings.odoo_url.rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigurationError(
                f"ODOO_URL must be Odoo's http(s) base URL, such as https://shop.odoo.com, not {url!r}"
            )
        missing = [name for name, attr in self.required_settings if not getattr(settings, attr)]
        if missing:
            raise ConfigurationError(
                f"ODOO_URL is set, so {' and '.join(missing)} must be set too ({self.protocol}); "
                "unset ODOO_URL to use the embedded stock ledger instead"
            )
        self.url = url
        self.db = settings.odoo_db
        self.user = settings.odoo_user
        self._api_key = settings.odoo_api_key  # never logged, never in a message
        self.timeout = settings.http_timeout
        self._products: dict[str, int] = {}
        # email -> partner id, per container: a returning customer's order then costs 4
        # calls (find, create, re-check, confirm). Odoo archives partners rather than
        # deleting them, and an archived partner still takes orders.
        self._partners: dict[str, int] = {}
        self._call_with_retries = service_retry("odoo", base=settings.retry_base, sleep=sleep)(self.call)

    # --- the protocol ----------------------------------------------------------------

    def call(self, model: str, method: str, args: list[Any], kwargs: dict[str, Any] | None = None) -> Any:
        """One request: `model.method(*args, **kwargs)` in Odoo, as `execute_kw` takes it
        (a record method's first argument is its list of ids).

        Raises `TransientError` (worth retrying), `PermanentError` (Odoo refused the data)
        or `ConfigurationError` (URL, database, key or access rights).
        """
        raise NotImplementedError

    def describe(self) -> str:
        """Where this adapter points, for `ping` (may ask the server its version)."""
        return f"Odoo ({self.protocol}) at {self.url}"

    def _read(self, model: str, method: str, args: list[Any], kwargs: dict[str, Any] | None = None) -> Any:
        """A call that is safe to repeat, retried in place on `TransientError`."""
        return self._call_with_retries(model, method, args, kwargs or {})

    def _create(self, model: str, vals: dict[str, Any], what: str) -> int:
        """Create one record, sending the request once (see the module's docstring)."""
        try:
            created = self.call(model, "create", [[vals]])
        except TransientError as exc:
            raise TransientError(
                f"creating {what} in Odoo may or may not have happened ({exc}); the retry searches before creating",
                retry_after=exc.retry_after,
            ) from exc
        new_id = record_id(created)
        if new_id is None:
            raise TransientError(f"Odoo answered {model}.create with {created!r} instead of an id")
        return new_id

    # --- the port --------------------------------------------------------------------

    def find_order(self, ref: str) -> StockOrder | None:
        """The sale order whose `client_order_ref` is `ref`: a confirmed one if any, else
        the oldest (the same choice `create_order` makes when two exist)."""
        rows = self._read(
            "sale.order", "search_read", [[["client_order_ref", "=", ref]]], {"fields": ["state"], "order": "id"}
        )
        return _pick(rows)

    def ensure_partner(self, customer: Customer) -> int:
        """The partner whose email is the customer's (case-insensitively), else a new one
        with name, email and the one-line address as `street`."""
        email = normalise_email(customer.email)
        known = self._partners.get(email)
        if known is not None:
            return known
        rows = self._read(
            "res.partner",
            "search_read",
            [[["email", "=ilike", escape_like(email)]]],
            {"fields": ["id"], "order": "id", "limit": 1},
        )
        if rows:
            return self._remember_partner(email, int(rows[0]["id"]))
        vals: dict[str, Any] = {"name": customer.name or email, "email": email}
        if customer.address:
            vals["street"] = customer.address
        partner_id = self._create("res.partner", vals, "the partner")
        logger.info("odoo partner created", extra={"partner_id": partner_id})
        return self._remember_partner(email, partner_id)

    def _remember_partner(self, email: str, partner_id: int) -> int:
        if len(self._partners) >= PARTNER_CACHE_SIZE:
            self._partners.pop(next(iter(self._partners)))  # the oldest first
        self._partners[email] = partner_id
        return partner_id

    def product_id(self, sku: str) -> int:
        """The id of the product whose internal reference (`default_code`) is `sku`;
        cached, since a box's product does not change (an unknown sku is not cached, so a
        product added in Odoo later is found by a replay)."""
        if sku not in self._products:
            rows = self._read(
                "product.product", "search_read", [[["default_code", "=", sku]]], {"fields": ["id"], "limit": 1}
            )
            if not rows:
                raise PermanentError(
                    f"no product with internal reference {sku!r} in Odoo: set it as the Internal Reference "
                    "of the box's product in Odoo (or fix the catalog's sku), then replay the dead letter"
                )
            self._products[sku] = int(rows[0]["id"])
        return self._products[sku]

    def create_order(self, partner_id: int, sku: str, ref: str) -> StockOrder:
        """A draft order of one `sku` for the partner, with `client_order_ref` = `ref`.

        Two deliveries of one event running at once may both have searched, found nothing
        and created an order. So the orders of `ref` are read again: when an older one
        exists, it is the one returned, and ours (a draft) is deleted, so that only one
        order per ref is ever confirmed.
        """
        product = self.product_id(sku)
        vals = {
            "partner_id": partner_id,
            "client_order_ref": ref,
            # Command.create as plain lists: XML-RPC and JSON both carry them as arrays.
            "order_line": [[0, 0, {"product_id": product, "product_uom_qty": 1}]],
        }
        order_id = self._create("sale.order", vals, f"the sale order for {ref}")
        logger.info("odoo sale order created", extra={"order_id": order_id, "ref": ref})
        try:
            kept = self.find_order(ref)
        except TransientError:
            return StockOrder(order_id, confirmed=False)  # a race is rare; the order exists
        if kept is None or kept.id == order_id:
            return StockOrder(order_id, confirmed=False)
        try:
            self.call("sale.order", "unlink", [[order_id]])
            logger.warning("odoo duplicate order removed", extra={"order_id": order_id, "kept": kept.id, "ref": ref})
        except HubError as exc:  # left as a draft: a draft ships nothing
            logger.warning(
                "odoo duplicate draft order left in place",
                extra={"order_id": order_id, "kept": kept.id, "ref": ref, "reason": str(exc)},
            )
        return kept

    def confirm_order(self, order_id: int) -> None:
        """`action_confirm`, made safe to repeat: Odoo refuses to confirm an order twice,
        so when it refuses, the order's state decides (already confirmed, by an earlier
        attempt whose answer was lost or by a person, is success)."""
        try:
            self._read("sale.order", "action_confirm", [[order_id]])
            return
        except ConfigurationError:
            raise
        except PermanentError as exc:
            refusal = exc
        rows = self._read("sale.order", "search_read", [[["id", "=", order_id]]], {"fields": ["state"]})
        state = rows[0]["state"] if rows else None
        if state in CONFIRMED_STATES:
            return
        raise PermanentError(
            f"Odoo refused to confirm sale order {order_id} (state {state or 'deleted'}): {refusal}"
        ) from refusal

    def recent_orders(self, limit: int) -> list[OrderSummary]:
        """Two reads: the orders, then their lines' products (a sale order has no product of its own)."""
        orders = self._read(
            "sale.order",
            "search_read",
            [[["client_order_ref", "!=", False]]],
            {"fields": ["client_order_ref", "partner_id", "state", "date_order"], "order": "id desc", "limit": limit},
        )
        lines = self._read(
            "sale.order.line",
            "search_read",
            [[["order_id", "in", [int(o["id"]) for o in orders]]]],
            {"fields": ["order_id", "product_id"]},
        )
        products = {record_id(line["order_id"]): _name(line["product_id"]) for line in lines}
        return [
            OrderSummary(
                ref=str(o["client_order_ref"]),
                customer=_name(o["partner_id"]),
                product=products.get(int(o["id"]), ""),
                state=str(o["state"]),
                created=str(o.get("date_order") or ""),
            )
            for o in orders
        ]

    def ping(self) -> str:
        """One attempt, no retries: the health page must answer quickly."""
        count = self.call("sale.order", "search_count", [[]])
        return f"{self.describe()}, {count} sale orders"


def _name(many2one: Any) -> str:
    """The display name of a many2one value (`[id, name]`, or False when empty)."""
    return str(many2one[1]) if isinstance(many2one, (list, tuple)) and len(many2one) > 1 else ""


def _pick(rows: Iterable[dict[str, Any]]) -> StockOrder | None:
    orders = sorted((int(row["id"]), row.get("state")) for row in rows)
    for order_id, state in orders:
        if state in CONFIRMED_STATES:
            return StockOrder(order_id, confirmed=True)
    return StockOrder(orders[0][0], confirmed=False) if orders else None


def http_status_error(status: int, detail: str, what: str, retry_after: float | None, not_found: str) -> HubError:
    """The hub's error for an HTTP error status from Odoo (or a proxy in front of it)."""
    if 300 <= status < 400:
        return ConfigurationError(
            f"Odoo answered {what} with a redirect ({status}: {detail}): set ODOO_URL to the address it "
            "redirects to (often https://)"
        )
    if status == 401:
        return ConfigurationError(
            f"Odoo refused ODOO_API_KEY ({status}: {detail}): check that the key exists, belongs to "
            "the integration's user and has not expired (Preferences → Account Security)"
        )
    if status == 403:
        return ConfigurationError(
            f"Odoo denied {what} ({status}: {detail}): give the user of ODOO_API_KEY access to Sales and Contacts"
        )
    if status == 404:
        return ConfigurationError(f"{not_found} (404: {detail})")
    if status in (408, 425, 429) or status >= 500:
        return TransientError(f"Odoo answered {status} to {what}: {detail}", retry_after=retry_after)
    return PermanentError(f"Odoo refused {what} ({status}): {detail}")
