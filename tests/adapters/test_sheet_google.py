"""The Google Sheets adapter, through real gspread and google-auth, against the Sheets fake
over a socket: JWT auth at the fake's token endpoint, Sheets v4 calls, injected faults."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.adapters import sheet_google
from chalicelib.adapters.sheet_google import GOOGLE_API_URL, GoogleSheet
from chalicelib.adapters.sheet_layout import HEADERS
from chalicelib.domain.customer import Customer, UnknownStatus
from chalicelib.errors import ConfigurationError, PermanentError, TransientError
from chalicelib.settings import Settings
from tests.fakes import sheets as sheets_fakes
from tests.fakes.sheets import GridRange, SheetsFake, parse_range

sheets_fake = sheets_fakes.sheets_fake  # the shared fixture

ANN = Customer(
    email="ann@example.com",
    name="Ann Lee",
    address="1 Rue X, 01234 Lyon",
    box="BOX-SUPER",
    status="active",
    consent=True,
    stripe_customer="cus_ann",
    signed_up="2025-01-02",
    last_order="in_1",
)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Retries wait for nothing; the waits they asked for are recorded."""
    waited: list[float] = []
    monkeypatch.setattr(sheet_google, "_sleep", waited.append)
    return waited


@pytest.fixture
def account(sheets_fake: SheetsFake) -> dict[str, Any]:
    return sheets_fake.service_account()


def make_sheet(fake: SheetsFake, spreadsheet_id: str, account: dict[str, Any], **settings: Any) -> GoogleSheet:
    values = {
        "google_sheet_id": spreadsheet_id,
        "google_service_account": json.dumps(account),
        "google_sheets_api_url": fake.url,
        "http_timeout": 2.0,
        "google_sheets_quota": 1e6,  # no quota waits, unless a test is about them
        **settings,
    }
    return GoogleSheet(Settings(**values))


@pytest.fixture
def book(sheets_fake: SheetsFake, account: dict[str, Any]) -> Iterator[tuple[SheetsFake, str, GoogleSheet]]:
    """A spreadsheet with no `Customers` worksheet yet, and the adapter on it."""
    sid = sheets_fake.create_spreadsheet(title="Chocobox customers")
    yield sheets_fake, sid, make_sheet(sheets_fake, sid, account)


def data_rows(fake: SheetsFake, sid: str, title: str = "Customers") -> list[list[str]]:
    return fake.rows(sid, title)[1:]


# --- layout ---------------------------------------------------------------------------------


def test_worksheet_created_with_the_hubs_headers_when_missing(book, sleeps) -> None:
    fake, sid, sheet = book
    assert fake.worksheet_titles(sid) == ["Sheet1"]

    assert sheet.save(ANN) is True

    assert fake.worksheet_titles(sid) == ["Sheet1", "Customers"]
    rows = fake.rows(sid, "Customers")
    assert rows[0] == list(HEADERS)
    assert rows[1] == [
        "ann@example.com",
        "Ann Lee",
        "1 Rue X, 01234 Lyon",
        "BOX-SUPER",
        "active",
        "yes",
        "cus_ann",
        "2025-01-02",
        "in_1",
    ]
    assert sheet.get("ann@example.com") == ANN


def test_headers_found_case_insensitively_and_staff_columns_left_alone(sheets_fake, account, sleeps) -> None:
    sid = sheets_fake.create_spreadsheet(
        worksheets={
            "Customers": [
                ["Notes", " EMAIL ", "status", "NAME", "Phone"],
                ["VIP", "Ann@Example.com", "past_due", "Ann", "0612345678"],
                ["", "bob@example.com", "registered", "Bob", "0700000000"],
            ]
        }
    )
    sheet = make_sheet(sheets_fake, sid, account)

    assert sheet.get("ann@example.com") == Customer(email="ann@example.com", name="Ann", status="past_due")
    assert sheet.save(ANN) is False

    rows = sheets_fake.rows(sid, "Customers")
    # staff headers kept where they were; the hub's missing ones appended after them
    assert rows[0] == ["Notes", " EMAIL ", "status", "NAME", "Phone", "Address", "Box", "Marketing consent",
                       "Stripe customer", "Signed up", "Last order", "Ends on"]  # fmt: skip
    assert rows[1][:5] == ["VIP", "ann@example.com", "active", "Ann Lee", "0612345678"]
    assert rows[1][5:] == ["1 Rue X, 01234 Lyon", "BOX-SUPER", "yes", "cus_ann", "2025-01-02", "in_1"]
    assert rows[2] == ["", "bob@example.com", "registered", "Bob", "0700000000"]  # row order and others untouched


def test_staff_reordering_columns_after_the_cache_is_warm(sheets_fake, account, sleeps) -> None:
    sid = sheets_fake.create_spreadsheet(worksheets={"Customers": [list(HEADERS)]})
    sheet = make_sheet(sheets_fake, sid, account)
    sheet.save(ANN)
    # staff move Email to the end, put their own column first and sort nothing else
    old = [row + [""] * (len(HEADERS) - len(row)) for row in sheets_fake.rows(sid, "Customers")]  # as wide as row 1
    moved = [["Notes", *h[1:], h[0]] for h in old]
    moved[1][0] = "call her"
    sheets_fake.replace_rows(sid, "Customers", moved)

    assert sheet.save(Customer(email="ANN@example.com", name="Ann Updated", status="active")) is False

    rows = sheets_fake.rows(sid, "Customers")
    assert len(rows) == 2
    assert rows[0][0] == "Notes" and rows[0][-1] == "Email"
    assert rows[1][0] == "call her"  # the staff cell where Email used to be
    assert rows[1][1] == "Ann Updated" and rows[1][-1] == "ann@example.com"
    assert sheet.get("ann@example.com").name == "Ann Updated"


def test_headers_beyond_the_grid_grow_it_without_cutting_staff_columns(sheets_fake, account, sleeps) -> None:
    staff = [f"Staff {i}" for i in range(1, 27)]  # A..Z all taken, the grid is 26 wide
    sid = sheets_fake.create_spreadsheet(worksheets={"Customers": [staff, ["x"] * 26]}, cols=26)
    sheet = make_sheet(sheets_fake, sid, account)

    assert sheet.save(ANN) is True

    rows = sheets_fake.rows(sid, "Customers")
    assert rows[0] == staff + list(HEADERS)
    assert rows[1] == ["x"] * 26
    assert rows[2][26:] == ["ann@example.com", "Ann Lee", "1 Rue X, 01234 Lyon", "BOX-SUPER", "active", "yes",
                            "cus_ann", "2025-01-02", "in_1"]  # fmt: skip
    assert sheets_fake.grid_size(sid, "Customers")[1] == 26 + len(HEADERS)


# --- one row per email ------------------------------------------------------------------------


def between_lookup_and_write(fake: SheetsFake, monkeypatch: pytest.MonkeyPatch, staff: Any) -> list[str]:
    """Run `staff()` once, just before the fake serves the request that follows the next
    save's row lookup (its first values:batchGet): what staff do in the browser in that gap.
    Returns the paths served, to see the adapter looked again."""
    real = fake.handle_request
    state = {"looked_up": False, "done": False}
    paths: list[str] = []

    def serve(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes]:
        if state["looked_up"] and not state["done"]:
            state["done"] = True
            staff()
        if "values:batchGet" in path:
            state["looked_up"] = True
        paths.append(path.split("?")[0].rsplit("/", 1)[-1])
        return real(method, path, headers, body)

    monkeypatch.setattr(fake, "handle_request", serve)
    return paths


def test_rows_inserted_between_lookup_and_write_do_not_take_the_write(book, sleeps, monkeypatch) -> None:
    """Staff insert a row above Ann's after the adapter found her on row 2: her cells must
    not land on the new row 2, they go to row 3 where she now is."""
    fake, sid, sheet = book
    sheet.save(ANN)
    sheet.save(Customer(email="bob@example.com", name="Bob"))

    def insert_zoe_above_ann() -> None:
        header, *rows = fake.rows(sid, "Customers")
        fake.replace_rows(sid, "Customers", [header, ["zoe@example.com", "Zoe"], *rows])

    paths = between_lookup_and_write(fake, monkeypatch, insert_zoe_above_ann)

    assert sheet.save(Customer(email="ann@example.com", name="Ann Moved", status="cancelled")) is False

    rows = data_rows(fake, sid)
    assert rows[0] == ["zoe@example.com", "Zoe"]  # the inserted row is untouched
    assert rows[1][:2] == ["ann@example.com", "Ann Moved"] and rows[1][4] == "cancelled"
    assert rows[2][:2] == ["bob@example.com", "Bob"]
    assert len(sleeps) == 1  # one retry, which found Ann again
    assert paths.count("values:batchUpdate") == 1  # nothing was written before it looked again


def test_columns_moved_between_lookup_and_write_do_not_take_the_write(book, sleeps, monkeypatch) -> None:
    fake, sid, sheet = book
    sheet.save(ANN)

    def put_a_staff_column_first() -> None:
        header, *rows = fake.rows(sid, "Customers")
        fake.replace_rows(sid, "Customers", [["Notes", *header], *(["call her", *row] for row in rows)])

    between_lookup_and_write(fake, monkeypatch, put_a_staff_column_first)

    assert sheet.save(Customer(email="ann@example.com", name="Ann Moved")) is False

    header, ann = fake.rows(sid, "Customers")
    assert header == ["Notes", *HEADERS]
    assert ann[:3] == ["call her", "ann@example.com", "Ann Moved"]  # the staff cell kept
    assert len(sleeps) == 1


def test_a_change_email_whose_answer_was_lost_is_done_on_the_retry(book, sleeps) -> None:
    fake, sid, sheet = book
    sheet.save(ANN)
    fake.fail_after_applying("values:batchUpdate", 503)

    assert sheet.change_email("ann@example.com", "ann.new@example.com") is True

    assert len(sleeps) == 1  # the retry found the cell already changed, and wrote nothing
    assert [r[0] for r in data_rows(fake, sid)] == ["ann.new@example.com"]
    assert sheet.change_email("ann@example.com", "ann.new@example.com") is True  # so does a redelivery


def test_all_sees_rows_added_by_hand_after_the_cache_is_warm(book, sleeps) -> None:
    fake, sid, sheet = book
    sheet.save(ANN)
    assert [c.email for c in sheet.all()] == ["ann@example.com"]

    fake.add_row_by_hand(sid, "Customers", {"Email": "Carla@Example.com", "Name": "Carla", "Marketing consent": "y"})
    fake.add_row_by_hand(sid, "Customers", {"Name": "no email yet"})
    fake.add_row_by_hand(sid, "Customers", {"Email": "ann@example.com", "Name": "a duplicate typed by hand"})

    everyone = sheet.all()
    assert [c.email for c in everyone] == ["ann@example.com", "carla@example.com"]
    assert everyone[0] == ANN
    assert everyone[1] == Customer(email="carla@example.com", name="Carla", consent=True)
    assert sheet.get("carla@example.com") == everyone[1]


def test_a_status_staff_typed_is_read_and_an_unknown_one_never_written_over(book, sleeps) -> None:
    fake, sid, sheet = book
    sheet.save(ANN)
    typed = {"dan@example.com": "Past due", "eve@example.com": "VIP", "fay@example.com": "Canceled"}
    for email, status in typed.items():
        fake.add_row_by_hand(sid, "Customers", {"Email": email, "Status": status, "Stripe customer": f"cus_{email[0]}"})

    # Reading the whole sheet (stats, the sync) leaves the unreadable row out.
    assert [(c.email, c.status) for c in sheet.all()] == [
        ("ann@example.com", "active"),
        ("dan@example.com", "past_due"),
        ("fay@example.com", "cancelled"),
    ]
    # Reading the row itself says what to fix.
    with pytest.raises(UnknownStatus, match="correct the cell"):
        sheet.get("eve@example.com")
    with pytest.raises(UnknownStatus):
        sheet.find_by_stripe_customer("cus_e")
    # A batch fails only the unreadable customer: by email or by Stripe id.
    with sheet.edit(["eve@example.com", "dan@example.com"], ["cus_e"]) as rows:
        with pytest.raises(UnknownStatus):
            rows.get("eve@example.com")
        with pytest.raises(UnknownStatus):
            rows.by_stripe_customer("cus_e")
        assert rows.existed("eve@example.com")
        rows.put(Customer(email="dan@example.com", status="active"))
    statuses = {r[0]: r[HEADERS.index("Status")] for r in data_rows(fake, sid)}
    assert statuses == {**typed, "ann@example.com": "active", "dan@example.com": "active"}


def test_postcodes_and_phones_stay_strings(book, sleeps) -> None:
    fake, sid, sheet = book
    zero = Customer(email="zoe@example.com", name="007", address="01234", stripe_customer="0042", last_order="1e3")
    sheet.save(zero)

    # stored as text, not numbers: written RAW
    assert fake.raw_cell(sid, "Customers", "C2") == "01234"
    assert fake.raw_cell(sid, "Customers", "B2") == "007"
    assert sheet.get("zoe@example.com") == zero
    assert sheet.all() == [zero]
    assert sheet.find_by_stripe_customer("0042") == zero

    # what staff type into the browser does become a number: the fake is as strict as Google
    fake.add_row_by_hand(sid, "Customers", {"Email": "tom@example.com", "Address": "01234"})
    assert fake.raw_cell(sid, "Customers", "C3") == 1234
    assert sheet.get("tom@example.com").address == "1234"


# --- faults ---------------------------------------------------------------------------------


def test_429_then_success_writes_exactly_one_row(book, sleeps) -> None:
    fake, sid, sheet = book
    sheet.save(ANN)  # warm: worksheet, headers and token cached
    fake.faults.script("429")

    assert sheet.save(Customer(email="bob@example.com", name="Bob")) is True

    assert fake.faults.injected["429"] == 1
    assert sleeps == [1.0]  # the fake's Retry-After
    assert [r[0] for r in data_rows(fake, sid)] == ["ann@example.com", "bob@example.com"]


def test_an_append_whose_answer_is_lost_is_not_repeated(book, sleeps) -> None:
    """Google added the row but the answer failed: the retry reads first and finds it."""
    fake, sid, sheet = book
    sheet.save(ANN)
    fake.fail_after_applying(":append", 503)

    assert sheet.save(Customer(email="bob@example.com", name="Bob")) is True

    assert len(sleeps) == 1
    assert [r[0] for r in data_rows(fake, sid)] == ["ann@example.com", "bob@example.com"]


@pytest.mark.parametrize("fault", ["500", "503", "reset"])
def test_one_failure_then_success(book, sleeps, fault: str) -> None:
    fake, sid, sheet = book
    sheet.save(ANN)
    fake.faults.script(fault)

    assert sheet.save(Customer(email="bob@example.com")) is True

    assert fake.faults.injected[fault] == 1
    assert len(sleeps) == 1
    assert [r[0] for r in data_rows(fake, sid)] == ["ann@example.com", "bob@example.com"]


def test_a_timeout_is_transient_and_retried(sheets_fake, account, sleeps) -> None:
    sid = sheets_fake.create_spreadsheet()
    sheet = make_sheet(sheets_fake, sid, account, http_timeout=0.3)
    sheet.save(ANN)
    sheets_fake.faults.timeout_delay = 0.6
    sheets_fake.faults.script("timeout")

    assert sheet.get("ann@example.com") == ANN
    assert sheets_fake.faults.injected["timeout"] == 1


def test_persistent_503_gives_up_with_transient_error_after_bounded_attempts(book, sleeps) -> None:
    fake, sid, sheet = book
    sheet.save(ANN)
    fake.faults.script(*["503"] * 10)

    with pytest.raises(TransientError, match="503"):
        sheet.save(Customer(email="bob@example.com"))

    assert fake.faults.injected["503"] == 4
    assert len(sleeps) == 3
    fake.faults.clear()
    assert [r[0] for r in data_rows(fake, sid)] == ["ann@example.com"]


def test_a_long_retry_after_is_left_to_the_queue(book, sleeps, monkeypatch) -> None:
    """A 429 asking for more than service_retry's longest wait stops at once, carrying the hint."""
    fake, _sid, sheet = book
    sheet.save(ANN)
    from tests.fakes import http

    real = http.FakeHandler.send_header

    def long_retry_after(self, name: str, value: str) -> None:
        real(self, name, "60" if name == "Retry-After" else value)

    monkeypatch.setattr(http.FakeHandler, "send_header", long_retry_after)
    fake.faults.script("429", "429")

    with pytest.raises(TransientError) as caught:
        sheet.get("ann@example.com")

    assert caught.value.retry_after == 60.0
    assert fake.faults.injected["429"] == 1 and sleeps == []


# --- configuration errors -------------------------------------------------------------------


def test_a_sheet_not_shared_is_a_configuration_error_naming_the_account(sheets_fake, account, sleeps) -> None:
    sid = sheets_fake.create_spreadsheet(shared_with=["someone-else@example.iam.gserviceaccount.com"])
    sheet = make_sheet(sheets_fake, sid, account)

    with pytest.raises(ConfigurationError) as caught:
        sheet.save(ANN)

    message = str(caught.value)
    assert f"share the sheet with {account['client_email']}" in message
    assert sid in message
    assert sleeps == []  # not retried
    with pytest.raises(ConfigurationError, match="share the sheet"):
        sheet.ping()

    sheets_fake.share(sid, account["client_email"])
    assert sheet.save(ANN) is True  # once shared, it works without a restart


def test_an_unknown_spreadsheet_is_a_configuration_error(sheets_fake, account, sleeps) -> None:
    sheet = make_sheet(sheets_fake, "no-such-sheet", account)

    with pytest.raises(ConfigurationError, match="no spreadsheet no-such-sheet: check GOOGLE_SHEET_ID"):
        sheet.get("ann@example.com")


def test_a_refused_token_is_a_configuration_error(book, sleeps) -> None:
    fake, _sid, sheet = book
    sheet.save(ANN)
    fake.accept_tokens = False  # every bearer token now answers 401 (google-auth refreshes, in vain)

    with pytest.raises(ConfigurationError, match="401"):
        sheet.get("ann@example.com")
    assert sleeps == []


def test_a_key_google_does_not_know_is_a_configuration_error(sheets_fake, sleeps) -> None:
    sid = sheets_fake.create_spreadsheet()
    stranger = sheets_fake.service_account(register=False)
    sheet = make_sheet(sheets_fake, sid, stranger)

    with pytest.raises(ConfigurationError, match="Invalid JWT Signature") as caught:
        sheet.get("ann@example.com")
    assert stranger["client_email"] in str(caught.value)
    assert "PRIVATE KEY" not in str(caught.value)


@pytest.mark.parametrize(
    ("account_text", "message"),
    [
        ("", "GOOGLE_SERVICE_ACCOUNT is not set"),
        ("{not json", "not valid JSON"),
        ('{"type": "authorized_user"}', "must be a service-account key"),
        ('{"type": "service_account", "client_email": "a@b"}', "lacks private_key, token_uri"),
        (
            '{"type": "service_account", "client_email": "a@b", "token_uri": "x", "private_key": "nope"}',
            "private key of a@b cannot be read",
        ),
    ],
)
def test_a_bad_service_account_setting_is_refused_at_construction(account_text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        GoogleSheet(Settings(google_sheet_id="x", google_service_account=account_text))
    assert "nope" not in str(caught.value)


# --- economy and health -----------------------------------------------------------------------


def test_requests_per_call_once_warm(book, sleeps) -> None:
    fake, _sid, sheet = book
    sheet.save(ANN)  # warm
    tokens = fake.token_requests

    before = len(fake.api_requests())
    assert sheet.save(ANN) is False
    save_requests = fake.api_requests()[before:]
    # one batched read (row 1 + the Email column), the same check of row 1 + the row's Email
    # cell just before writing, one batched write of the hub's cells
    assert [m for m, _ in save_requests] == ["GET", "GET", "POST"]
    assert [p.rsplit("/", 1)[-1] for _, p in save_requests] == ["values:batchGet"] * 2 + ["values:batchUpdate"]

    before = len(fake.api_requests())
    assert sheet.save(Customer(email="bob@example.com")) is True
    # appending needs no row number, hence no check: one read, one append
    assert [m for m, _ in fake.api_requests()[before:]] == ["GET", "POST"]

    before = len(fake.api_requests())
    sheet.get("ann@example.com")
    assert len(fake.api_requests()) - before == 2

    before = len(fake.api_requests())
    sheet.all()
    assert len(fake.api_requests()) - before == 1
    assert fake.token_requests == tokens  # the access token is reused


def test_ping_reads_the_sheet_every_time(book, sleeps) -> None:
    fake, _sid, sheet = book
    assert "not yet created" in sheet.ping()
    sheet.save(ANN)
    answer = sheet.ping()
    assert "'Chocobox customers'" in answer and "worksheet 'Customers'" in answer and "not yet" not in answer

    fake.faults.script("503")
    with pytest.raises(TransientError):
        sheet.ping()
    assert sleeps == []  # health is not held up by retries


def test_the_default_api_url_is_not_rewritten(account, monkeypatch) -> None:
    import requests
    from requests.adapters import HTTPAdapter

    sheet = GoogleSheet(Settings(google_sheet_id="x", google_service_account=json.dumps(account)))
    session = sheet._client.http_client.session
    sent: list[str] = []
    monkeypatch.setattr(HTTPAdapter, "send", lambda self, request, **kw: sent.append(request.url))
    url = GOOGLE_API_URL + "/v4/spreadsheets/x"
    session.get_adapter(url).send(requests.Request("GET", url).prepare())
    assert sent == [url]


# --- the fake's range parsing -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("'Customers'!A1:Z", GridRange("Customers", 1, 1, None, 26)),
        ("'Customers'!A:A", GridRange("Customers", 1, 1, None, 1)),
        ("'Customers'!1:1", GridRange("Customers", 1, 1, 1, None)),
        ("'Chef''s sheet'!B2", GridRange("Chef's sheet", 2, 2, 2, 2)),
        ("'Customers'", GridRange("Customers", 1, 1, None, None)),
        ("Customers!C3:D", GridRange("Customers", 3, 3, None, 4)),
        ("Customers", GridRange("Customers", 1, 1, None, None)),
        ("A2:AA10", GridRange(None, 2, 1, 10, 27)),
    ],
)
def test_fake_parses_a1_ranges(text: str, expected: GridRange) -> None:
    assert parse_range(text) == expected


def test_a_worksheet_deleted_while_cached_is_created_again(book, sleeps) -> None:
    fake, sid, sheet = book
    sheet.save(ANN)
    fake.delete_worksheet(sid, "Customers")  # the cached worksheet is gone: "Unable to parse range"

    assert sheet.save(ANN) is True  # recreated, with its headers, and the row written again
    assert fake.rows(sid, "Customers") == [list(HEADERS), fake.rows(sid, "Customers")[1]]
    assert len(sleeps) == 1


def test_permanent_error_for_a_request_google_refuses(book, sleeps, monkeypatch) -> None:
    _fake, _sid, sheet = book
    sheet.save(ANN)
    monkeypatch.setattr(sheet_google, "RAW", "NOT_AN_OPTION")

    with pytest.raises(PermanentError, match="400"):
        sheet.save(ANN)
    assert sleeps == []


# --- a batch's unit of work (`edit`) -----------------------------------------------------------


def usage_of(fake: SheetsFake, action: Any) -> dict[str, int]:
    before = fake.usage()
    action()
    after = fake.usage()
    return {kind: after[kind] - before[kind] for kind in after}


def new_customers(n: int, start: int = 0) -> list[Customer]:
    return [Customer(email=f"c{i}@example.com", name=f"C {i}", signed_up="2025-06-01") for i in range(start, start + n)]


def put_all(sheet: GoogleSheet, customers: list[Customer], stripe_customers: tuple[str, ...] = ()) -> None:
    with sheet.edit([c.email for c in customers], stripe_customers) as rows:
        for customer in customers:
            rows.put(customer)


def test_ten_new_customers_cost_one_read_and_one_write(book, sleeps) -> None:
    fake, sid, sheet = book
    sheet.save(ANN)  # warm: worksheet opened, headers written
    batch = new_customers(10)

    assert usage_of(fake, lambda: put_all(sheet, batch)) == {"read": 1, "write": 1}

    assert [row[0] for row in data_rows(fake, sid)] == ["ann@example.com", *(c.email for c in batch)]
    assert sheet.get("c7@example.com") == batch[7]


def test_a_batch_of_updates_and_new_rows_costs_two_writes_and_no_checking_read(sheets_fake, account, sleeps) -> None:
    sid = sheets_fake.create_spreadsheet(
        worksheets={
            "Customers": [
                ["Notes", *HEADERS],
                ["VIP", "C1@example.com", "Old", "", "", "registered"],
                ["", "x@example.com", "X"],
                ["late", "c3@example.com", "Three"],
            ]
        }
    )
    sheet = make_sheet(sheets_fake, sid, account)
    sheet.all()  # warm
    batch = new_customers(4)  # c1 and c3 have rows, c0 and c2 are new

    with sheet.edit([c.email for c in batch]) as rows:
        assert rows.get("c1@example.com").name == "Old"
        assert rows.get("c0@example.com") is None
        before = sheets_fake.usage()
        for customer in batch:
            rows.put(customer)
    spent = {k: v - before[k] for k, v in sheets_fake.usage().items()}

    # the rows were read a moment ago: one batched update, one append, no checking read
    # (what is written where: the contract, tests/contracts/test_sheet_port.py)
    assert spent == {"read": 0, "write": 2}


def test_a_batch_that_changes_nothing_costs_no_write(book, sleeps) -> None:
    fake, _sid, sheet = book
    sheet.save(ANN)
    assert usage_of(fake, lambda: put_all(sheet, [ANN])) == {"read": 1, "write": 0}


def test_rows_found_by_stripe_customer_in_the_same_read(book, sleeps) -> None:
    fake, _sid, sheet = book
    sheet.save(ANN)
    spent = {}

    def load() -> None:
        with sheet.edit(["new@example.com"], ["cus_ann"]) as rows:
            assert rows.by_stripe_customer("cus_ann") == ANN
            assert rows.get("new@example.com") is None

    spent = usage_of(fake, load)
    assert spent == {"read": 1, "write": 0}  # the whole sheet, at once


def test_a_batch_append_whose_answer_is_lost_is_not_repeated(book, sleeps) -> None:
    fake, sid, sheet = book
    sheet.save(ANN)
    fake.fail_after_applying(":append", 503)

    put_all(sheet, new_customers(3))

    assert [r[0] for r in data_rows(fake, sid)] == [
        "ann@example.com",
        "c0@example.com",
        "c1@example.com",
        "c2@example.com",
    ]
    assert len(sleeps) == 1


def test_rows_inserted_between_load_and_commit_do_not_take_the_write(book, sleeps, monkeypatch) -> None:
    """A batch whose read of its rows is no longer fresh when its update is ready (a long
    wait for the write token) checks them first; a moved row makes it look again."""
    fake, sid, sheet = book
    sheet.save(ANN)
    monkeypatch.setattr(sheet_google, "FRESH_ROWS", -1.0)  # however quick, the read counts as old
    with sheet.edit(["ann@example.com"]) as rows:
        header, *others = fake.rows(sid, "Customers")
        fake.replace_rows(sid, "Customers", [header, ["zoe@example.com", "Zoe"], *others])  # staff insert a row
        rows.put(Customer(email="ann@example.com", name="Ann Moved"))

    data = data_rows(fake, sid)
    assert data[0] == ["zoe@example.com", "Zoe"]
    assert data[1][:2] == ["ann@example.com", "Ann Moved"]
    assert len(sleeps) == 1


def test_a_batch_of_ten_sign_ups_through_the_consumer_stays_within_the_target(book, sleeps) -> None:
    """The issue's target: at batch 10, at most 0.2 reads and 0.2 writes per new customer."""
    from chalice.app import SQSEvent

    from chalicelib.domain import events as ev
    from chalicelib.runtime.consumer import consume
    from tests.unit.port_fakes import build_ports

    fake, sid, sheet = book
    sheet.save(ANN)  # warm
    ports = build_ports(sheet=sheet)
    records = [
        {
            "messageId": f"m{i}",
            "receiptHandle": f"r{i}",
            "body": json.dumps(ev.to_message(ev.SignedUp(f"fs:{i}", email=f"c{i}@example.com", consent=True))),
            "attributes": {"ApproximateReceiveCount": "1"},
            "eventSourceARN": "arn:aws:sqs:eu-west-3:1:signups",
        }
        for i in range(10)
    ]

    spent = usage_of(fake, lambda: consume(SQSEvent({"Records": records}, None), ports))

    assert spent["read"] / 10 <= 0.2 and spent["write"] / 10 <= 0.2, spent
    assert len(data_rows(fake, sid)) == 11


def test_consumers_sharing_the_quota_spend_it_without_meeting_a_429(sheets_fake, account) -> None:
    """Three consumers, one service account, Google's 60 reads a minute (the minute shrunk
    to 0.6 s): the shared bucket paces them so that Google never refuses one."""
    import threading

    from chalicelib.plumbing.token_bucket import LocalBuckets

    sid = sheets_fake.create_spreadsheet(worksheets={"Customers": [list(HEADERS), ["ann@example.com", "Ann"]]})
    sheets_fake.enforce_quota(60, window=0.6)
    buckets = LocalBuckets()
    # 54, not 60: at a 0.6 s minute, a few ms between a token's reservation and the request's
    # arrival matter (at a real minute they do not)
    sheets = [
        make_sheet(sheets_fake, sid, account, google_sheets_quota=54, google_sheets_quota_window=0.6) for _ in range(3)
    ]
    for sheet in sheets:
        sheet._buckets = buckets  # as bootstrap shares them (SQLite, DynamoDB) between consumers

    def consumer(sheet: GoogleSheet) -> None:
        for _ in range(30):
            assert sheet.get("ann@example.com").name == "Ann"

    threads = [threading.Thread(target=consumer, args=(s,)) for s in sheets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sheets_fake.quota_refusals == 0
    assert sheets_fake.usage()["read"] >= 180


def test_a_batch_update_spends_one_write_token_taken_before_it_judges_its_rows_fresh(book, sleeps) -> None:
    """The update's token is taken ahead (so that a long wait for it makes the rows' read
    old, and checked), and that token pays for the update: never two for one request."""
    from chalicelib.plumbing.token_bucket import LocalBuckets, Rate

    fake, _sid, sheet = book
    sheet.save(ANN)
    taken: list[str] = []

    class Counting(LocalBuckets):
        def take(self, name: str, rate: Rate, max_wait: float) -> float:
            taken.append(name.rsplit(":", 1)[-1])
            return super().take(name, rate, max_wait)

    sheet._buckets = Counting()
    before = fake.usage()
    with sheet.edit(["ann@example.com"]) as rows:
        rows.put(Customer(email="ann@example.com", name="Ann B"))
    spent = {k: v - before[k] for k, v in fake.usage().items()}

    assert spent == {"read": 1, "write": 1}
    assert taken == ["read", "write"]
    assert sheet.get("ann@example.com").name == "Ann B"
