"""The `StockSystem` contract: the embedded stock ledger (SQLite), Odoo over XML-RPC and
over JSON-2 (the real adapters against the Odoo fake), the history's recording wrapper,
and the unit tests' fake.

Every implementation knows the built-in catalog's boxes (`BOX-CLASSIC`, `BOX-SUPER`)
as products.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from chalicelib import flows
from chalicelib.domain.customer import Customer
from chalicelib.errors import PermanentError
from chalicelib.ports import StockOrder, StockSystem

ANN = Customer(email="ann@example.com", name="Ann Lee", address="1 Rue X, 69001 Lyon")
BOB = Customer(email="bob@example.com")  # no name: the email stands in


def ledger(request: pytest.FixtureRequest) -> StockSystem:
    from chalicelib.adapters.stock_ledger import StockLedger
    from chalicelib.domain.catalog import Catalog
    from chalicelib.plumbing.sqlite import Database

    return StockLedger(Database(request.getfixturevalue("tmp_path") / "hub.sqlite3"), Catalog.load(None))


def _odoo(request: pytest.FixtureRequest, protocol: str) -> StockSystem:
    from chalicelib.adapters.odoo_json2 import OdooJson2
    from chalicelib.adapters.odoo_xmlrpc import OdooXmlRpc
    from chalicelib.settings import Settings

    fake = request.getfixturevalue("odoo_fake")
    adapter = OdooJson2 if protocol == "json2" else OdooXmlRpc
    return adapter(Settings.from_env(fake.env(protocol)), sleep=lambda seconds: None)


def xmlrpc(request: pytest.FixtureRequest) -> StockSystem:
    return _odoo(request, "xmlrpc")


def json2(request: pytest.FixtureRequest) -> StockSystem:
    return _odoo(request, "json2")


def recording(request: pytest.FixtureRequest) -> StockSystem:
    """The wrapper the consumer puts around the stock when the history is kept."""
    from chalicelib.runtime.recording import Batch, Recorder, RecordingStock
    from tests.unit.port_fakes import FakeHistory

    return RecordingStock(ledger(request), Batch(Recorder(FakeHistory()), []))


def fake(request: pytest.FixtureRequest) -> StockSystem:
    from tests.unit.port_fakes import FakeStock

    return FakeStock()


@pytest.fixture
def odoo_fake() -> Iterator[Any]:
    """An Odoo fake per test (it starts in milliseconds; its records are the test's own)."""
    from tests.fakes.odoo import OdooFake

    odoo = OdooFake()
    odoo.start()
    yield odoo
    odoo.stop()


@pytest.fixture(params=[ledger, xmlrpc, json2, recording, fake], ids=["ledger", "xmlrpc", "json2", "recording", "fake"])
def stock(request: pytest.FixtureRequest) -> StockSystem:
    return request.param(request)


# --- partners ----------------------------------------------------------------------------


def test_a_partner_is_found_by_email_trimmed_and_case_insensitively(stock):
    ann = stock.ensure_partner(ANN)

    assert stock.ensure_partner(Customer(email=" ANN@Example.com ")) == ann
    assert stock.ensure_partner(BOB) not in (ann, None)
    assert stock.ensure_partner(BOB) == stock.ensure_partner(BOB)


def test_a_partner_is_named_after_the_customer_or_its_email(stock):
    stock.create_order(stock.ensure_partner(ANN), "BOX-SUPER", "in_ann")
    stock.create_order(stock.ensure_partner(BOB), "BOX-SUPER", "in_bob")

    assert [o.customer for o in stock.recent_orders(10)] == ["bob@example.com", "Ann Lee"]


# --- orders ------------------------------------------------------------------------------


def test_an_order_is_created_as_a_draft_found_by_its_ref_and_confirmed(stock):
    order = stock.create_order(stock.ensure_partner(ANN), "BOX-SUPER", "in_1")

    assert order.confirmed is False
    assert stock.find_order("in_1") == order
    assert stock.find_order("in_2") is None

    stock.confirm_order(order.id)
    assert stock.find_order("in_1") == StockOrder(order.id, confirmed=True)


def test_confirming_twice_is_harmless(stock):
    order = stock.create_order(stock.ensure_partner(ANN), "BOX-SUPER", "in_1")
    stock.confirm_order(order.id)

    stock.confirm_order(order.id)  # a retry whose first answer was lost

    assert stock.find_order("in_1") == StockOrder(order.id, confirmed=True)
    assert [(o.ref, o.state) for o in stock.recent_orders(10)] == [("in_1", "sale")]


def test_creating_an_order_for_a_ref_that_has_one_returns_that_one(stock):
    """Two deliveries of one invoice that both searched before either created."""
    partner = stock.ensure_partner(ANN)
    first = stock.create_order(partner, "BOX-SUPER", "in_race")

    assert stock.create_order(partner, "BOX-SUPER", "in_race") == first
    stock.confirm_order(first.id)
    assert stock.create_order(partner, "BOX-SUPER", "in_race") == StockOrder(first.id, confirmed=True)
    assert [o.ref for o in stock.recent_orders(10)] == ["in_race"]


def test_an_unknown_sku_is_a_permanent_error_and_makes_no_order(stock):
    with pytest.raises(PermanentError, match="BOX-NOPE"):
        stock.create_order(stock.ensure_partner(ANN), "BOX-NOPE", "in_1")

    assert stock.find_order("in_1") is None
    assert stock.recent_orders(10) == []


def test_confirming_an_order_that_does_not_exist_is_a_permanent_error(stock):
    with pytest.raises(PermanentError):
        stock.confirm_order(424242)


def test_recent_orders_are_the_newest_first_with_customer_product_and_state(stock):
    partner = stock.ensure_partner(ANN)
    stock.confirm_order(stock.create_order(partner, "BOX-CLASSIC", "in_1").id)
    stock.create_order(partner, "BOX-SUPER", "in_2")

    newest, older = stock.recent_orders(10)
    assert (newest.ref, newest.customer, newest.state) == ("in_2", "Ann Lee", "draft")
    assert (older.ref, older.customer, older.state) == ("in_1", "Ann Lee", "sale")
    assert "BOX-SUPER" in newest.product and "BOX-CLASSIC" in older.product  # as the stock system names it
    assert newest.created.startswith(time.strftime("%Y-%m-%d", time.gmtime()))  # UTC
    assert [o.ref for o in stock.recent_orders(1)] == ["in_2"]


def test_the_flows_order_placed_twice_is_one_confirmed_order(stock):
    """What `invoice.paid` and `invoice.payment_succeeded` of one invoice both do."""
    ports = SimpleNamespace(stock=stock)

    flows.place_order(ports, ANN, "BOX-SUPER", "in_10")
    flows.place_order(ports, ANN, "BOX-SUPER", "in_10")

    [order] = stock.recent_orders(10)
    assert (order.ref, order.state, order.customer) == ("in_10", "sale", "Ann Lee")


def test_ping_describes_the_stock_system(stock):
    assert stock.ping().strip()
