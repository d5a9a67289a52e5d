"""Both stores of customer clocks keep what the flows put, by normalised email; the
embedded sheet takes a new email in place and gains the columns added since it was made."""

from __future__ import annotations

import sqlite3

import pytest

from chalicelib.adapters.clocks_sqlite import SqliteClocks
from chalicelib.adapters.sheet_sqlite import SqliteSheet
from chalicelib.domain.customer import Customer
from chalicelib.domain.precedence import Clock, Stamp
from chalicelib.plumbing.sqlite import Database
from tests.adapters.test_aws_runtime import TABLE, aws  # noqa: F401 - the moto fixture


@pytest.fixture(params=["sqlite", "dynamodb"])
def clocks(request, tmp_path):
    if request.param == "sqlite":
        return SqliteClocks(Database(tmp_path / "hub.sqlite3"))
    request.getfixturevalue("aws")
    from chalicelib.adapters.clocks_dynamodb import DynamoClocks

    return DynamoClocks(TABLE)


def test_a_clock_is_kept_per_customer(clocks):
    assert clocks.get("ann@example.com") == Clock()
    clock = Clock(Stamp(1750000000, 2, "stripe:evt_1"), Stamp(1750000001, 0, "stripe:evt_2"), None, 1749999999)
    clocks.put(" Ann@Example.com ", clock)
    assert clocks.get("ann@example.com") == clock
    later = Clock(Stamp(1750000100, 1, "stripe:evt_3"))
    clocks.put("ann@example.com", later)
    assert clocks.get("ANN@example.com") == later
    assert clocks.get("bob@example.com") == Clock()


def test_dynamodb_clocks_live_under_their_own_key_prefix(aws):  # noqa: F811 - the fixture
    import boto3

    from chalicelib.adapters.clocks_dynamodb import DynamoClocks

    DynamoClocks(TABLE).put("ann@example.com", Clock(unsubscribed=5))
    item = boto3.client("dynamodb").get_item(TableName=TABLE, Key={"id": {"S": "clock#ann@example.com"}})["Item"]
    assert "expiration" not in item  # a customer's order of facts never expires


def test_an_older_embedded_sheet_gains_the_new_columns(tmp_path):
    path = tmp_path / "hub.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE sheet (row INTEGER PRIMARY KEY AUTOINCREMENT, \"Email\" TEXT NOT NULL DEFAULT '')")
        conn.execute("INSERT INTO sheet (\"Email\") VALUES ('ann@example.com')")
    sheet = SqliteSheet(Database(path))
    assert sheet.get("ann@example.com") == Customer("ann@example.com")
    sheet.save(Customer("ann@example.com", status="active", ends_on="2025-07-01"))
    assert sheet.get("ann@example.com").ends_on == "2025-07-01"
