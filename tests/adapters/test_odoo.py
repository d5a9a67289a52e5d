"""The Odoo adapters (XML-RPC and JSON-2) against the Odoo fake, over real sockets.

Most tests run once per protocol: the logic is shared, the wire and its errors are not.
Retry pauses are recorded instead of slept, so the file runs in a few seconds.
"""

from __future__ import annotations

import re
import socket
import time
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from chalicelib import flows
from chalicelib.adapters.odoo_common import OdooStock, escape_like, record_id
from chalicelib.adapters.odoo_json2 import OdooJson2, named_arguments
from chalicelib.adapters.odoo_xmlrpc import OdooXmlRpc
from chalicelib.bootstrap import Hub
from chalicelib.domain.customer import Customer
from chalicelib.errors import ConfigurationError, PermanentError, TransientError
from chalicelib.ports import StockOrder
from chalicelib.settings import Settings
from tests.fakes.http import HttpFake
from tests.fakes.odoo import API_KEY, OdooFake

ANN = Customer(email="ann@example.com", name="Ann Lee", address="1 Rue X, 69001 Lyon")


@pytest.fixture
def fake() -> Iterator[OdooFake]:
    odoo = OdooFake()
    odoo.start()
    yield odoo
    odoo.stop()


@pytest.fixture(params=["xmlrpc", "json2"])
def protocol(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def sleeps() -> list[float]:
    """The pauses the adapter's in-place retries asked for."""
    return []


def make(fake: OdooFake, protocol: str, sleeps: list[float] | None = None, **env: str) -> OdooStock:
    settings = Settings.from_env(fake.env(protocol, **env))
    cls = OdooJson2 if protocol == "json2" else OdooXmlRpc
    return cls(settings, sleep=(sleeps if sleeps is not None else []).append)


@pytest.fixture
def stock(fake: OdooFake, protocol: str, sleeps: list[float]) -> OdooStock:
    return make(fake, protocol, sleeps)


def place(stock: OdooStock, ref: str, sku: str = "BOX-SUPER", customer: Customer = ANN) -> None:
    """The flow's own search-then-create, with only the stock port."""
    flows.place_order(SimpleNamespace(stock=stock), customer, sku, ref)


# --- partners ----------------------------------------------------------------------


def test_a_new_partner_is_written_with_name_email_and_street(stock: OdooStock, fake: OdooFake) -> None:
    first = stock.ensure_partner(Customer(email=" Ann@Example.com ", name=ANN.name, address=ANN.address))

    assert fake.partners() == [
        {"id": first, "name": "Ann Lee", "email": "ann@example.com", "street": "1 Rue X, 69001 Lyon", "active": True}
    ]


def test_existing_partner_is_found_whatever_the_case_of_its_email(stock: OdooStock, fake: OdooFake) -> None:
    existing = fake.add_partner("Zoe's account", "Ann@Example.COM")
    fake.add_partner("Ann, again", "ann@example.com")  # a later duplicate (Odoo sorts it first by name)

    assert stock.ensure_partner(ANN) == existing  # always the oldest
    assert fake.count("create", "res.partner") == 0


def test_like_wildcards_in_an_email_are_literal(stock: OdooStock, fake: OdooFake) -> None:
    other = fake.add_partner("Someone else", "axb@example.com")

    created = stock.ensure_partner(Customer(email="a_b@example.com"))

    assert created != other
    assert [p["email"] for p in fake.partners()] == ["axb@example.com", "a_b@example.com"]
    assert fake.partners()[1]["name"] == "a_b@example.com"  # no name: the email stands in
    assert fake.partners()[1]["street"] is False  # no address: nothing sent


# --- orders ------------------------------------------------------------------------


def test_an_order_is_a_sale_order_of_one_product_line(stock: OdooStock, fake: OdooFake) -> None:
    partner = stock.ensure_partner(ANN)

    order = stock.create_order(partner, "BOX-SUPER", "in_1")
    stock.confirm_order(order.id)

    [row] = fake.orders()
    assert (row["id"], row["client_order_ref"], row["partner_id"]) == (order.id, "in_1", partner)
    assert row["lines"] == [{"product": "BOX-SUPER", "product_uom_qty": 1.0}]
    assert row["state"] == "sale"


def test_recent_orders_are_the_hubs_only(stock: OdooStock, fake: OdooFake) -> None:
    partner = stock.ensure_partner(ANN)
    stock.create_order(partner, "BOX-SUPER", "in_2")
    fake.add_order(partner, "BOX-CLASSIC", "")  # typed in Odoo by hand: not the hub's

    [order] = stock.recent_orders(10)
    assert (order.ref, order.product) == ("in_2", "[BOX-SUPER] Super box")  # Odoo's name of a product


def test_find_order_prefers_a_confirmed_order_then_the_oldest(stock: OdooStock, fake: OdooFake) -> None:
    partner = fake.add_partner("Ann", "ann@example.com")
    oldest = fake.add_order(partner, "BOX-SUPER", "in_dup")
    fake.add_order(partner, "BOX-SUPER", "in_dup")
    assert stock.find_order("in_dup") == StockOrder(oldest, confirmed=False)

    confirmed = fake.add_order(partner, "BOX-SUPER", "in_dup", state="sale")
    assert stock.find_order("in_dup") == StockOrder(confirmed, confirmed=True)


def test_an_unknown_product_says_what_to_fix_and_is_not_cached(stock: OdooStock, fake: OdooFake) -> None:
    partner = stock.ensure_partner(ANN)

    with pytest.raises(PermanentError, match="no product with internal reference 'BOX-NOPE' in Odoo") as caught:
        stock.create_order(partner, "BOX-NOPE", "in_2")

    assert not isinstance(caught.value, ConfigurationError)
    # Not cached: once the product exists in Odoo, a replay succeeds.
    fake.add_product("BOX-NOPE", "New box")
    assert stock.create_order(partner, "BOX-NOPE", "in_2").confirmed is False


def test_odoo_refusing_the_data_is_a_permanent_error(stock: OdooStock, fake: OdooFake) -> None:
    with pytest.raises(PermanentError, match=r"Odoo refused sale\.order\.create: .*does not exist") as caught:
        stock.create_order(9999, "BOX-SUPER", "in_3")  # no such partner

    assert not isinstance(caught.value, ConfigurationError)
    assert fake.orders() == []


def test_uid_and_products_are_looked_up_once(stock: OdooStock, fake: OdooFake, protocol: str) -> None:
    partner = stock.ensure_partner(ANN)
    for ref in ("in_a", "in_b", "in_c"):
        stock.create_order(partner, "BOX-SUPER", ref)

    assert fake.count("search_read", "product.product") == 1
    assert fake.count("authenticate") == (1 if protocol == "xmlrpc" else 0)  # JSON-2 has no login
    assert fake.count("create", "sale.order") == 3


def test_a_returning_customers_order_costs_four_calls(stock: OdooStock, fake: OdooFake, protocol: str) -> None:
    place(stock, "in_may")  # last month: login, partner, product looked up
    before = len(fake.calls)

    place(stock, "in_june")

    # find the order, create it, read it again (a concurrent twin?), confirm it
    assert [meth for _, _, meth in fake.calls[before:]] == ["search_read", "create", "search_read", "action_confirm"]
    assert {o["client_order_ref"]: o["state"] for o in fake.orders()} == {"in_may": "sale", "in_june": "sale"}


# --- failures and retries ----------------------------------------------------------


def test_odoo_500_then_success_makes_exactly_one_order(stock: OdooStock, fake: OdooFake, sleeps: list[float]) -> None:
    fake.faults.script("500", "500")  # the first two requests of the flow fail

    place(stock, "in_500")

    [order] = fake.orders()
    assert order["state"] == "sale"
    assert len(sleeps) == 2  # retried in place, with a pause each time
    assert fake.faults.injected["500"] == 2


def test_a_failed_create_is_not_resent_in_place_and_the_flow_retry_makes_one_order(
    stock: OdooStock, fake: OdooFake
) -> None:
    fake.fail_call("sale.order", "create", "500")

    with pytest.raises(TransientError, match="may or may not have happened"):
        place(stock, "in_create500")
    assert fake.orders() == []
    assert fake.count("create", "sale.order") == 1

    place(stock, "in_create500")  # what the queue's retry does

    [order] = fake.orders()
    assert order["state"] == "sale"


def test_a_lost_create_answer_then_the_flow_retry_leaves_exactly_one_order(stock: OdooStock, fake: OdooFake) -> None:
    """The order is committed, the answer is lost (connection reset): the adapter must not
    send the create again (the stdlib XML-RPC transport would), and the flow's retry finds
    the order by its ref and confirms it."""
    fake.kill_after_create("sale.order")

    with pytest.raises(TransientError, match="may or may not have happened"):
        place(stock, "in_lost")
    assert [o["state"] for o in fake.orders()] == ["draft"]
    assert fake.count("create", "sale.order") == 1

    place(stock, "in_lost")

    [order] = fake.orders()
    assert (order["client_order_ref"], order["state"]) == ("in_lost", "sale")
    assert fake.count("create", "sale.order") == 1


def test_a_lost_partner_create_answer_does_not_make_a_second_partner(stock: OdooStock, fake: OdooFake) -> None:
    fake.kill_after_create("res.partner")

    with pytest.raises(TransientError):
        place(stock, "in_partner")
    place(stock, "in_partner")

    assert len(fake.partners()) == 1
    assert [o["state"] for o in fake.orders()] == ["sale"]


def test_a_lost_confirm_answer_is_retried_and_recognised(stock: OdooStock, fake: OdooFake) -> None:
    partner = stock.ensure_partner(ANN)
    order = stock.create_order(partner, "BOX-SUPER", "in_confirm")
    fake.fail_call("sale.order", "action_confirm", after=True)  # confirmed, then the answer is lost

    stock.confirm_order(order.id)  # the retry is refused by Odoo (already confirmed): that is success

    assert fake.orders()[0]["state"] == "sale"
    assert fake.count("action_confirm") == 2


def test_confirming_a_cancelled_order_is_a_permanent_error(stock: OdooStock, fake: OdooFake) -> None:
    order = fake.add_order(fake.add_partner("Ann", "ann@example.com"), "BOX-SUPER", "in_cancel", state="cancel")

    with pytest.raises(PermanentError, match=f"refused to confirm sale order {order} \\(state cancel\\)"):
        place(stock, "in_cancel")


def test_a_timeout_is_retried_in_place(fake: OdooFake, protocol: str, sleeps: list[float]) -> None:
    stock = make(fake, protocol, sleeps, HUB_HTTP_TIMEOUT="0.2")
    fake.faults.timeout_delay = 0.5
    fake.faults.script("timeout")

    started = time.monotonic()
    assert stock.find_order("in_t") is None

    assert time.monotonic() - started < 2
    assert len(sleeps) == 1


def test_429_waits_as_long_as_odoo_asks(stock: OdooStock, fake: OdooFake, sleeps: list[float]) -> None:
    fake.faults.script("429")  # answered with Retry-After: 1

    assert stock.find_order("in_429") is None
    assert sleeps == [1.0]


def test_odoo_down_is_transient_after_bounded_retries(protocol: str, sleeps: list[float]) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = Settings(odoo_url=url, odoo_db="db", odoo_user="u", odoo_api_key="k", http_timeout=1)
    stock = (OdooJson2 if protocol == "json2" else OdooXmlRpc)(settings, sleep=sleeps.append)

    with pytest.raises(TransientError, match="Odoo did not answer"):
        stock.find_order("in_down")
    assert len(sleeps) == 3  # four attempts


def test_an_idle_connection_closed_by_odoo_is_replaced_before_a_create(
    fake: OdooFake, protocol: str, sleeps: list[float]
) -> None:
    fake.stop()
    fake.keepalive_timeout = 0.2  # Odoo (or its proxy) closes idle keep-alive connections
    fake.start()
    stock = make(fake, protocol, sleeps)
    partner = stock.ensure_partner(ANN)
    stock.product_id("BOX-SUPER")  # cached: the create is the first request after the pause
    time.sleep(0.4)

    stock.create_order(partner, "BOX-SUPER", "in_idle")  # no TransientError from the stale socket

    assert len(fake.orders()) == 1
    assert sleeps == []


# --- configuration and access ------------------------------------------------------


def test_wrong_api_key_is_a_configuration_error(fake: OdooFake, protocol: str, sleeps: list[float]) -> None:
    stock = make(fake, protocol, sleeps, ODOO_API_KEY="not-the-key")
    expected = (
        "Odoo refused ODOO_USER/ODOO_API_KEY for database 'chocohub'"
        if protocol == "xmlrpc"
        else "Odoo refused ODOO_API_KEY"
    )

    with pytest.raises(ConfigurationError, match=expected) as caught:
        stock.find_order("in_key")

    assert "not-the-key" not in str(caught.value)
    assert sleeps == []  # not retried


def test_a_key_revoked_after_login_is_a_configuration_error(stock: OdooStock, fake: OdooFake, protocol: str) -> None:
    assert stock.find_order("in_x") is None
    fake.api_key = "rotated"

    with pytest.raises(ConfigurationError, match="ODOO_API_KEY"):
        stock.find_order("in_x")

    fake.api_key = API_KEY  # fixed in Odoo: the next call logs in again
    assert stock.find_order("in_x") is None
    assert fake.count("authenticate") == (2 if protocol == "xmlrpc" else 0)


def test_wrong_login_is_a_configuration_error(fake: OdooFake) -> None:
    stock = make(fake, "xmlrpc", ODOO_USER="nobody@example.com")

    with pytest.raises(ConfigurationError, match=re.escape("'nobody@example.com'")):
        stock.ensure_partner(ANN)


def test_wrong_database_is_a_configuration_error(fake: OdooFake, protocol: str) -> None:
    stock = make(fake, protocol, ODOO_DB="nope")

    with pytest.raises(ConfigurationError, match="ODOO_DB"):
        stock.find_order("in_db")


def test_missing_access_rights_are_a_configuration_error(stock: OdooStock, fake: OdooFake) -> None:
    fake.denied_models.add("sale.order")

    with pytest.raises(ConfigurationError, match=r"sale\.order\.search_read.*access to Sales"):
        stock.find_order("in_acl")


class Redirector(HttpFake):
    """A web server that sends every request to its https:// address."""

    def handle_request(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes]:
        return 301, {"Location": f"https://odoo.example.com{path}"}, b""


def test_a_redirect_is_a_configuration_error(protocol: str) -> None:
    server = Redirector()
    server.start()
    try:
        settings = Settings(odoo_url=server.url, odoo_db="d", odoo_user="u", odoo_api_key="k")
        stock = (OdooJson2 if protocol == "json2" else OdooXmlRpc)(settings)

        with pytest.raises(ConfigurationError, match="set ODOO_URL to the address it redirects to"):
            stock.find_order("in_redirect")
    finally:
        server.stop()


def test_json2_without_database_header_where_odoo_needs_none(fake: OdooFake) -> None:
    fake.require_database_header = False
    stock = make(fake, "json2", ODOO_DB="")

    assert stock.find_order("in_nodb") is None


def test_settings_are_checked_at_construction_without_network() -> None:
    with pytest.raises(ConfigurationError, match="ODOO_DB and ODOO_USER must be set"):
        OdooXmlRpc(Settings(odoo_url="http://odoo.invalid", odoo_api_key="k"))
    with pytest.raises(ConfigurationError, match="ODOO_API_KEY must be set"):
        OdooJson2(Settings(odoo_url="http://odoo.invalid"))
    with pytest.raises(ConfigurationError, match="ODOO_URL must be"):
        OdooJson2(Settings(odoo_url="odoo.example.com", odoo_api_key="k"))
    # Nothing connects before the first call.
    OdooXmlRpc(Settings(odoo_url="http://odoo.invalid", odoo_db="d", odoo_user="u", odoo_api_key="k"))


def test_bootstrap_picks_the_protocol(fake: OdooFake, tmp_path: Path) -> None:
    # outside the dev stage the hub refuses to start without its secret key
    hub = {"HUB_SECRET_KEY": "test-secret", "HUB_STATE_DIR": str(tmp_path)}
    assert isinstance(Hub(Settings.from_env(fake.env("xmlrpc", **hub))).stock, OdooXmlRpc)
    assert isinstance(Hub(Settings.from_env(fake.env("json2", **hub))).stock, OdooJson2)


# --- ping --------------------------------------------------------------------------


def test_ping_describes_odoo(stock: OdooStock, fake: OdooFake, protocol: str) -> None:
    place(stock, "in_ping")

    detail = stock.ping()

    assert detail.endswith("1 sale orders")
    assert fake.url in detail
    if protocol == "xmlrpc":
        assert "Odoo 19.0 (XML-RPC)" in detail


def test_ping_does_not_retry(stock: OdooStock, fake: OdooFake, sleeps: list[float]) -> None:
    fake.faults.script("503")

    with pytest.raises(TransientError):
        stock.ping()
    assert sleeps == []


# --- the small pieces --------------------------------------------------------------


def test_helpers() -> None:
    assert escape_like("a_b%c\\d@x.com") == "a\\_b\\%c\\\\d@x.com"
    assert [record_id(v) for v in (7, [7], [7, "Ann"], False, None, [])] == [7, 7, 7, None, None, None]
    assert named_arguments("search_read", [[["a", "=", 1]]], {"fields": ["id"]}) == {
        "domain": [["a", "=", 1]],
        "fields": ["id"],
    }
    assert named_arguments("action_confirm", [[4]], {}) == {"ids": [4]}
    assert named_arguments("create", [[{"name": "x"}]], {}) == {"vals_list": [{"name": "x"}]}


# --- the fake speaks Odoo (what other tests rely on) -------------------------------


def test_fake_xmlrpc_faults_are_odoos(fake: OdooFake) -> None:
    common = xmlrpc.client.ServerProxy(f"{fake.url}/xmlrpc/2/common")
    models = xmlrpc.client.ServerProxy(f"{fake.url}/xmlrpc/2/object")
    assert common.version()["server_version"] == "19.0"
    assert common.authenticate(fake.db, fake.login, "wrong", {}) is False
    uid = common.authenticate(fake.db, fake.login, fake.api_key, {})

    with pytest.raises(xmlrpc.client.Fault) as denied:
        models.execute_kw(fake.db, uid, "wrong", "res.partner", "search", [[]])
    assert denied.value.faultCode == 3

    partner = models.execute_kw(fake.db, uid, fake.api_key, "res.partner", "create", [{"name": "Ann"}])
    line = {"product_id": 999, "product_uom_qty": 1}
    with pytest.raises(xmlrpc.client.Fault) as refused:
        models.execute_kw(
            fake.db, uid, fake.api_key, "sale.order", "create", [{"partner_id": partner, "order_line": [(0, 0, line)]}]
        )
    assert refused.value.faultCode == 2
    with pytest.raises(xmlrpc.client.Fault) as crashed:
        models.execute_kw(fake.db, uid, fake.api_key, "res.partner", "search", [[["nope", "=", 1]]])
    assert crashed.value.faultCode == 1 and crashed.value.faultString.startswith("Traceback")


def test_fake_json2_errors_are_odoos(fake: OdooFake) -> None:
    url = f"{fake.url}/json/2/res.partner/search_read"
    headers = {"X-Odoo-Database": fake.db}

    bad_key = requests.post(url, json={}, headers={**headers, "Authorization": "bearer nope"}, timeout=5)
    assert bad_key.status_code == 401
    assert bad_key.json()["name"] == "werkzeug.exceptions.Unauthorized"

    headers["Authorization"] = f"bearer {fake.api_key}"
    ok = requests.post(url, json={"domain": [], "fields": ["name"]}, headers=headers, timeout=5)
    assert ok.status_code == 200 and ok.json() == []
    refused = requests.post(
        f"{fake.url}/json/2/sale.order/action_confirm", json={"ids": [424242]}, headers=headers, timeout=5
    )
    assert refused.status_code == 404 and refused.json()["name"] == "odoo.exceptions.MissingError"
    wrong_arg = requests.post(url, json={"domain": [], "colour": "red"}, headers=headers, timeout=5)
    assert wrong_arg.status_code == 422
