"""The `CustomerSheet` contract: the embedded sheet (SQLite), Google Sheets (real gspread
against the Sheets v4 fake), the history's recording wrapper, and the unit tests' fake.

Each sheet starts with the hub's headers and a staff column, `Notes`, between them (as
a shop's sheet has), and is seen the way staff see it: `Book.type_row` is a row typed by
hand, `Book.rows` every row's non-empty cells by lower-cased header.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from chalicelib.adapters.sheet_layout import EMAIL, HEADERS, NAME
from chalicelib.domain.customer import Customer, normalise_email
from chalicelib.ports import CustomerSheet

NOTES = "Notes"  # a staff column: the hub never writes it
ANN = Customer(
    email="ann@example.com",
    name="Ann Lee",
    address="1 Rue X, 01234 Lyon",
    box="BOX-SUPER",
    status="active",
    consent=True,
    stripe_customer="cus_ann",
    signed_up="2025-01-02",
    last_order="2025-06-01 in_1",
)
BOB = Customer(email="bob@example.com", name="Bob", stripe_customer="cus_bob")


@dataclass
class Book:
    """A customer sheet, and what staff do and see in it."""

    sheet: CustomerSheet
    type_row: Callable[[dict[str, str]], None]  # a row typed below the others: cells by header
    cells: Callable[[], list[dict[str, str]]]  # every data row, as the sheet holds it: cells by header

    def rows(self) -> list[dict[str, str]]:
        """Every data row's non-empty cells by lower-cased header, in sheet order."""
        return [{h.strip().lower(): v.strip() for h, v in row.items() if v and v.strip()} for row in self.cells()]

    def emails(self) -> list[str]:
        return [normalise_email(row.get("email", "")) for row in self.rows()]


def sqlite(tmp_path: Any, request: pytest.FixtureRequest) -> Book:
    from chalicelib.adapters.sheet_sqlite import SqliteSheet
    from chalicelib.plumbing.sqlite import Database

    db = Database(tmp_path / "hub.sqlite3")
    sheet = SqliteSheet(db)
    db.script(f"ALTER TABLE sheet ADD COLUMN \"{NOTES}\" TEXT NOT NULL DEFAULT ''")  # staff add a column

    def type_row(cells: dict[str, str]) -> None:
        names = ", ".join(f'"{h.strip()}"' for h in cells)
        with db.transaction() as conn:
            conn.execute(f"INSERT INTO sheet ({names}) VALUES ({', '.join('?' * len(cells))})", tuple(cells.values()))

    def cells() -> list[dict[str, str]]:
        return [{k: v for k, v in dict(r).items() if k != "row"} for r in db.query("SELECT * FROM sheet ORDER BY row")]

    return Book(sheet, type_row, cells)


@pytest.fixture(scope="module")
def sheets_service() -> Iterator[tuple[Any, dict[str, Any]]]:
    """One Sheets fake and one service account for the module (a key costs an RSA key
    pair); each test gets a spreadsheet of its own."""
    from tests.fakes.sheets import SheetsFake

    fake = SheetsFake()
    fake.start()
    try:
        yield fake, fake.service_account()
    finally:
        fake.stop()


def google(tmp_path: Any, request: pytest.FixtureRequest) -> Book:
    import json

    from chalicelib.adapters.sheet_google import GoogleSheet
    from chalicelib.settings import Settings

    fake, account = request.getfixturevalue("sheets_service")
    head = [EMAIL, NAME, NOTES, *HEADERS[2:]]
    sid = fake.create_spreadsheet(worksheets={"Customers": [head]})
    settings = Settings(
        google_sheet_id=sid,
        google_service_account=json.dumps(account),
        google_sheets_api_url=fake.url,
        http_timeout=2.0,
        google_sheets_quota=1e6,
    )

    def cells() -> list[dict[str, str]]:
        header, *rows = fake.rows(sid, "Customers")
        return [dict(zip(header, row, strict=False)) for row in rows]

    return Book(GoogleSheet(settings), lambda cells: fake.add_row_by_hand(sid, "Customers", cells, typed=False), cells)


def recording(tmp_path: Any, request: pytest.FixtureRequest) -> Book:
    """The wrapper the consumer puts around the sheet when the history is kept."""
    from chalicelib.runtime.recording import Batch, Recorder, RecordingSheet
    from tests.unit.port_fakes import FakeHistory

    inner = sqlite(tmp_path, request)
    return Book(RecordingSheet(inner.sheet, Batch(Recorder(FakeHistory()), [])), inner.type_row, inner.cells)


def fake(tmp_path: Any, request: pytest.FixtureRequest) -> Book:
    from tests.unit.port_fakes import FakeSheet

    sheet = FakeSheet()
    return Book(sheet, sheet.type_cells, sheet.cells)


@pytest.fixture(params=[sqlite, google, recording, fake], ids=["sqlite", "google", "recording", "fake"])
def book(request: pytest.FixtureRequest, tmp_path: Any) -> Book:
    return request.param(tmp_path, request)


def row_of(customer: Customer, **staff: str) -> dict[str, str]:
    """The cells a row of `customer` shows, as `Book.rows` gives them."""
    from chalicelib.adapters.sheet_layout import to_cells

    cells = {**to_cells(customer), **staff}
    return {h.lower(): v for h, v in cells.items() if v}


# --- reading ---------------------------------------------------------------------------------


def test_emails_are_compared_trimmed_and_case_insensitively(book):
    book.type_row({"Email": " Bob@Example.COM ", "Name": "Bob", "Marketing consent": "yes"})

    expected = Customer(email="bob@example.com", name="Bob", consent=True)
    assert book.sheet.get("bob@example.com") == expected
    assert book.sheet.get("  BOB@example.com") == expected
    assert book.sheet.get("nobody@example.com") is None
    assert book.sheet.save(replace(expected, name="Bob B")) is False  # the typed row, not a second one
    assert book.emails() == ["bob@example.com"]


def test_a_customer_is_found_by_stripe_id_and_never_by_an_empty_one(book):
    book.sheet.save(Customer(email="carla@example.com", name="Carla"))  # no Stripe id
    book.sheet.save(ANN)

    assert book.sheet.find_by_stripe_customer("cus_ann") == ANN
    assert book.sheet.find_by_stripe_customer("cus_nobody") is None
    assert book.sheet.find_by_stripe_customer("") is None


def test_all_lists_every_row_with_an_email_in_sheet_order(book):
    book.sheet.save(ANN)
    book.type_row({"Email": "Carla@Example.com", "Name": "Carla", "Marketing consent": "y"})
    book.type_row({"Name": "no email yet", NOTES: "call her"})
    book.sheet.save(BOB)

    assert book.sheet.all() == [ANN, Customer(email="carla@example.com", name="Carla", consent=True), BOB]


def test_ping_describes_the_sheet(book):
    assert book.sheet.ping().strip()


# --- save ------------------------------------------------------------------------------------


def test_save_adds_a_row_once_and_says_true_only_then(book):
    assert book.sheet.save(ANN) is True
    assert book.sheet.save(replace(ANN, email=" ANN@Example.COM ", name="Ann L.", status="cancelled")) is False
    assert book.sheet.save(BOB) is True

    assert book.emails() == ["ann@example.com", "bob@example.com"]
    assert book.rows()[0] == row_of(replace(ANN, name="Ann L.", status="cancelled"))
    assert book.sheet.get("ann@example.com") == replace(ANN, name="Ann L.", status="cancelled")


def test_save_writes_the_hubs_columns_and_leaves_staff_columns(book):
    book.type_row({"Email": "ann@example.com", "Name": "Ann", NOTES: "VIP, call before shipping"})
    book.type_row({"Email": "bob@example.com", NOTES: "gift"})

    assert book.sheet.save(ANN) is False

    assert book.rows() == [
        row_of(ANN, notes="VIP, call before shipping"),
        {"email": "bob@example.com", "notes": "gift"},
    ]


# --- edit: the batch's unit of work ------------------------------------------------------------


def test_edit_loads_the_rows_of_its_emails_and_stripe_ids(book):
    book.sheet.save(ANN)
    book.sheet.save(BOB)

    with book.sheet.edit([" ANN@example.com", "new@example.com"], ["cus_bob"]) as rows:
        assert rows.get("ann@example.com") == ANN
        assert rows.by_stripe_customer("cus_bob") == BOB
        assert rows.get("new@example.com") is None
        assert rows.existed("ann@example.com") and not rows.existed("new@example.com")


def test_edit_updates_changed_rows_in_place_and_appends_new_ones_in_order(book):
    book.type_row({"Email": "carla@example.com", "Name": "Carla", NOTES: "VIP"})
    book.type_row({"Email": "x@example.com", "Name": "X", NOTES: "not in the batch"})
    book.type_row({"Email": "dan@example.com", "Name": "Dan"})
    carla = Customer(email="carla@example.com", name="Carla C", status="active", consent=True)
    eve, fay = Customer(email="eve@example.com", name="Eve"), Customer(email="fay@example.com", name="Fay")

    with book.sheet.edit(["carla@example.com", "eve@example.com", "dan@example.com", "fay@example.com"]) as rows:
        rows.put(Customer(email="DAN@example.com ", name="Dan"))  # as it was: nothing to write
        rows.put(fay)
        rows.put(replace(carla, email=" Carla@Example.com"))
        rows.put(eve)

    assert book.rows() == [
        row_of(carla, notes="VIP"),
        {"email": "x@example.com", "name": "X", "notes": "not in the batch"},
        {"email": "dan@example.com", "name": "Dan"},
        row_of(fay),
        row_of(eve),
    ]
    assert [c.email for c in book.sheet.all()] == [
        "carla@example.com",
        "x@example.com",
        "dan@example.com",
        "fay@example.com",
        "eve@example.com",
    ]


def test_edit_writes_nothing_when_its_block_raises(book):
    book.sheet.save(ANN)

    with pytest.raises(RuntimeError), book.sheet.edit(["ann@example.com", "bob@example.com"]) as rows:
        rows.put(BOB)
        rows.put(replace(ANN, status="cancelled"))
        raise RuntimeError("a flow of the batch failed")

    assert book.rows() == [row_of(ANN)]


# --- change_email ------------------------------------------------------------------------------


def test_change_email_keeps_the_row_its_place_and_staff_cells(book):
    book.sheet.save(BOB)
    book.type_row({**row_of(ANN), NOTES: "VIP"})
    book.sheet.save(Customer(email="carla@example.com"))

    assert book.sheet.change_email(" ANN@example.com", "Ann.New@Example.com ") is True

    moved = replace(ANN, email="ann.new@example.com")
    assert book.emails() == ["bob@example.com", "ann.new@example.com", "carla@example.com"]
    assert book.rows()[1] == row_of(moved, notes="VIP")
    assert book.sheet.get("ann.new@example.com") == moved
    assert book.sheet.get("ann@example.com") is None
    assert book.sheet.find_by_stripe_customer("cus_ann") == moved
    assert book.sheet.change_email("nobody@example.com", "someone@example.com") is False
    assert len(book.rows()) == 3
