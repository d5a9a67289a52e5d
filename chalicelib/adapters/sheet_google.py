"""The customer sheet on Google Sheets, through gspread 6.2.1 and a service account.

The sheet is the shop's own document: staff read it, type rows into it by hand, add and
reorder columns. So this adapter finds its columns by header (case-insensitively), adds
the hub's missing headers at the end of row 1, writes only the hub's cells of a row, and
never caches rows (the scheduled sync must see rows typed by hand). What it does cache,
once per Lambda container, is what costs a request and rarely changes: the client and
its token, the worksheet, and row 1; row 1 comes back with every lookup (one batched
read with the key column), so a reordered sheet is noticed at no extra cost.

Requests per call, once warm: `get` and `find_by_stripe_customer` 2 reads, `save` 2 reads
and 1 write (1 and 1 when it appends), `all` 1 read, `ping` 1 read (Google's quota: 60
reads and 60 writes a minute per service account). A consumer's batch goes through `edit`,
a unit of work: 1 read of the sheet, then 1 `append_rows` for all new customers and, for
changed rows, 1 batched update: ten new customers cost 1 read and 1 write, and so do ten
paid invoices of customers already there.

Sheets has no conditional write, and an update is addressed by row number: `save` reads
the row's Email cell (and row 1) again just before writing, so a sheet that staff sorted,
or rows they inserted, since the lookup make it look again instead of writing the
customer's cells over another customer's row. What is left is the gap between that read
and the write (one round trip). A batch's update shares the batch's own read instead when
that read is fresh (`FRESH_ROWS`, counted once the update's quota token is in hand), so
the gap stays as short, without a second read per batch.

Errors: 429, 5xx, timeouts and dropped connections are `TransientError` (429 carries
`Retry-After`), retried a few times by `service_retry("sheets")`; each retry redoes the whole
operation, reading the sheet again first, so a write whose answer was lost is not done
twice. 401/403/404 are `ConfigurationError`s saying what to fix. gspread's
`BackOffHTTPClient` is not used: in 6.2.1 it retries 429/5xx without end.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar, cast

from chalicelib.adapters.sheet_layout import EMAIL, HEADERS, STRIPE, from_cells, readable, rows_of, to_cells
from chalicelib.domain.customer import Customer, normalise_email
from chalicelib.errors import ConfigurationError, HubError, PermanentError, TransientError
from chalicelib.logs import logger
from chalicelib.plumbing.token_bucket import LocalBuckets, Rate, TokenBuckets
from chalicelib.ports import CustomerRows
from chalicelib.retry import parse_retry_after, service_retry

if TYPE_CHECKING:
    from gspread import Client, Worksheet
    from gspread.utils import ValueInputOption, ValueRenderOption

    from chalicelib.settings import Settings

T = TypeVar("T")

GOOGLE_API_URL = "https://sheets.googleapis.com"
# Least privilege: the hub only needs the spreadsheet it is given, not the whole Drive.
SCOPES = ("https://www.googleapis.com/auth/spreadsheets",)
NEW_WORKSHEET_ROWS = 1000
NEW_WORKSHEET_COLS = 26
# write values as they are: "01234" stays a string, "=1+1" stays text (gspread's enums are str)
RAW = cast("ValueInputOption", "RAW")
# The longest one request waits for its quota token in place (a Lambda must not idle long).
QUOTA_WAIT = 10.0
# How old (seconds) a batch's read of its rows may be, when its update is ready to go, for
# the update to trust the row numbers it found: no older than the checking read `save`
# makes would be (that read's own round trip and quota wait come before its write too).
FRESH_ROWS = 1.0
# read what staff see, always as strings (no serial dates, no floats)
FORMATTED = cast("ValueRenderOption", "FORMATTED_VALUE")


def _sleep(seconds: float) -> None:
    """The wait between retries; a module-level hook so tests can make retries instant."""
    time.sleep(seconds)


def column_letter(index: int) -> str:
    """1 -> A, 26 -> Z, 27 -> AA."""
    letters = ""
    while index > 0:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def parse_service_account(text: str) -> dict[str, Any]:
    """The service-account key as a dict, or a `ConfigurationError` saying what is wrong.

    Never quotes the text: it holds a private key.
    """
    if not text.strip():
        raise ConfigurationError(
            "GOOGLE_SERVICE_ACCOUNT is not set: GOOGLE_SHEET_ID needs a service-account key "
            "(its JSON, or a path to the JSON file)"
        )
    try:
        info = json.loads(text)
    except ValueError as exc:
        raise ConfigurationError(
            f"GOOGLE_SERVICE_ACCOUNT is not valid JSON (line {getattr(exc, 'lineno', '?')})"
        ) from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise ConfigurationError('GOOGLE_SERVICE_ACCOUNT must be a service-account key ("type": "service_account")')
    missing = [k for k in ("client_email", "private_key", "token_uri") if not info.get(k)]
    if missing:
        raise ConfigurationError(f"GOOGLE_SERVICE_ACCOUNT lacks {', '.join(missing)}: download a new JSON key")
    return info


def _sheets_transport(base_url: str, spend: Callable[[str], None]) -> Any:
    """A requests transport adapter for Google's Sheets URLs: each request first spends a
    token of its kind (`read` for GET, else `write`, as Google's quota counts them), then
    goes to `base_url` when that is not Google's (an emulator).

    gspread copies its URLs at import, so patching `gspread.urls` has no effect; the
    session's transport is the one place where every request can be counted and an
    emulator's address put in.
    """
    from requests.adapters import HTTPAdapter
    from requests.utils import get_environ_proxies

    class SheetsTransport(HTTPAdapter):
        def send(self, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]  # passes all through
            if request.url and request.url.startswith(GOOGLE_API_URL):
                spend("read" if request.method == "GET" else "write")
                if base_url != GOOGLE_API_URL:
                    request.url = base_url + request.url[len(GOOGLE_API_URL) :]
                    # proxies were chosen for Google's host; choose again for the emulator's (NO_PROXY)
                    kwargs["proxies"] = get_environ_proxies(request.url)
            return super().send(request, **kwargs)

    return SheetsTransport()


class GoogleSheet:
    """`CustomerSheet` on a Google Sheets worksheet, for one spreadsheet and worksheet title."""

    def __init__(self, settings: Settings, buckets: TokenBuckets | None = None) -> None:
        self._sheet_id = settings.google_sheet_id
        self._title = settings.google_sheet_worksheet or "Customers"
        self._api_url = (settings.google_sheets_api_url or GOOGLE_API_URL).rstrip("/")
        self._timeout = settings.http_timeout
        info = parse_service_account(settings.google_service_account)
        self._client_email: str = info["client_email"]
        # The quota is the service account's, shared by every consumer: so are the buckets.
        self._buckets = buckets or LocalBuckets()
        self._rate = Rate.per_window(settings.google_sheets_quota, settings.google_sheets_quota_window)
        self._client = self._make_client(info)  # no network: the token is fetched on first use
        self._lock = threading.RLock()
        self._paid = threading.local()  # a write token taken ahead by this thread (`_commit`)
        self._worksheet: Worksheet | None = None
        self._row1: list[str] | None = None  # row 1 as last read
        self._columns: dict[str, int] = {}  # lower-cased header -> 1-based column
        self._retry = service_retry("sheets", base=settings.retry_base, sleep=lambda seconds: _sleep(seconds))

    # --- the port ---------------------------------------------------------------------

    def get(self, email: str) -> Customer | None:
        """The customer whose Email cell matches (trimmed, case-insensitively), or None."""
        return self._call(self._get, normalise_email(email))

    def find_by_stripe_customer(self, stripe_customer: str) -> Customer | None:
        """The first customer whose `Stripe customer` cell is this id, or None."""
        stripe_customer = (stripe_customer or "").strip()
        if not stripe_customer:
            return None
        return self._call(self._find_by_stripe, stripe_customer)

    def save(self, customer: Customer) -> bool:
        """Write the hub's cells of the customer's row (appending the row when missing).

        Returns True when a row was added. Staff columns are never written.
        """
        appended: list[bool] = []  # shared by the attempts of this call
        return self._call(self._save, customer, appended)

    @contextmanager
    def edit(self, emails: Collection[str], stripe_customers: Collection[str] = ()) -> Iterator[CustomerRows]:
        """The rows of a batch: one read of the sheet; on a clean exit, one `append_rows`
        for the new customers and, for changed rows, one read that checks they did not
        move and one batched update. So ten new customers cost one read and one write.
        """
        keys = sorted({normalise_email(e) for e in emails if e and e.strip()})
        ids = sorted({i.strip() for i in stripe_customers if i and i.strip()})
        rows, where = self._call(self._load, keys, ids)
        loaded_at = time.monotonic()
        yield rows
        changed = rows.changed()
        if changed:
            tries: list[bool] = []  # shared by the attempts of this commit
            self._call(self._commit, changed, where, tries, loaded_at)

    def change_email(self, old_email: str, new_email: str) -> bool:
        """Write `new_email` into the Email cell of `old_email`'s row; False when none has it."""
        return self._call(self._change_email, normalise_email(old_email), normalise_email(new_email))

    def all(self) -> list[Customer]:
        """Every customer row in sheet order, rows typed by hand included (one read).

        Rows without an email are skipped; a repeated email keeps its first row, the one
        `get` and `save` use.
        """
        return self._call(self._all)

    def ping(self) -> str:
        """One metadata read, not retried (health must answer quickly): the sheet's name."""
        meta = self._translated(self._client.http_client.fetch_sheet_metadata)(self._sheet_id)
        titles = [s["properties"]["title"] for s in meta.get("sheets", [])]
        where = f"worksheet {self._title!r}" if self._title in titles else f"worksheet {self._title!r} not yet created"
        return f"Google Sheets {meta['properties']['title']!r}, {where}, as {self._client_email}"

    # --- one attempt of each operation (retried whole by `_call`) ---------------------

    def _get(self, email: str) -> Customer | None:
        ws = self._open()
        row = self._find_row(self._key_column(ws, EMAIL, write=False), lambda v: normalise_email(v) == email)
        if row is None:
            return None
        customer = self._read_row(ws, row)
        if customer.email != email:  # rows moved between the two reads (staff sorted the sheet)
            raise TransientError("the sheet's rows moved while reading; reading again")
        return customer

    def _find_by_stripe(self, stripe_customer: str) -> Customer | None:
        ws = self._open()
        row = self._find_row(self._key_column(ws, STRIPE, write=False), lambda v: v.strip() == stripe_customer)
        if row is None:
            return None
        customer = self._read_row(ws, row)
        if customer.stripe_customer != stripe_customer:
            raise TransientError("the sheet's rows moved while reading; reading again")
        return customer

    def _save(self, customer: Customer, appended: list[bool]) -> bool:
        """One attempt. `appended` tells whether an earlier attempt sent the append: if its
        answer was lost but the row is there, this attempt updates it and still says "added"."""
        from gspread.utils import InsertDataOption

        ws = self._open()
        email = normalise_email(customer.email)
        row = self._find_row(self._key_column(ws, EMAIL, write=True), lambda v: normalise_email(v) == email)
        cells = to_cells(customer)
        cells[EMAIL] = email
        by_column = {self._columns[h.lower()]: value for h, value in cells.items()}
        if row is None:
            line = [""] * max(by_column)
            for col, value in by_column.items():
                line[col - 1] = value
            # INSERT_ROWS: a new row is inserted after the table, so nothing below is overwritten
            appended.append(True)
            ws.append_rows(
                [line], value_input_option=RAW, insert_data_option=InsertDataOption.insert_rows, table_range="A1"
            )
            logger.info("sheet row added", extra={"service": "sheets"})
            return True
        self._check_row_holds(ws, row, email)
        ws.batch_update(
            [{"range": rng, "values": [values]} for rng, values in self._row_ranges(row, by_column)],
            value_input_option=RAW,
        )
        logger.info("sheet row updated", extra={"service": "sheets", "row": row})
        return bool(appended)

    def _load(self, keys: list[str], ids: list[str]) -> tuple[CustomerRows, dict[str, int]]:
        """One attempt of `edit`'s load: the rows, and the row number of each email.

        One read of the whole sheet (row 1, the key columns and the rows themselves): under
        Google's quota a request costs far more than its bytes, and a shop's customer base
        is a few thousand rows.
        """
        ws = self._open()
        values = [[str(v) for v in line] for line in ws.get(value_render_option=FORMATTED)]
        row1 = values[0] if values else []
        if row1 != self._row1:
            logger.info("sheet headers changed", extra={"sink": "sheets"})
            self._set_row1(row1)
            self._ensure_headers(ws)  # the batch will write: hub headers gone missing are put back
        wanted_emails, wanted_ids = set(keys), set(ids)
        email_col = self._columns.get(EMAIL.lower())
        stripe_col = self._columns.get(STRIPE.lower())
        wanted: list[dict[str, str]] = []
        where: dict[str, int] = {}
        seen: set[str] = set()
        # Only the batch's rows become customers: the others are a few string looks each
        # (the whole sheet comes back with every batch, thousands of rows).
        for row, line in enumerate(values[1:], start=2):
            email = normalise_email(line[email_col - 1]) if email_col and email_col <= len(line) else ""
            if not email or email in seen:  # no email, or a repeated one: not the hub's row
                continue
            seen.add(email)
            stripe = line[stripe_col - 1].strip() if stripe_col and stripe_col <= len(line) else ""
            if email in wanted_emails or (stripe and stripe in wanted_ids):
                where[email] = row
                wanted.append(self._cells(line))
        return rows_of(wanted), where

    def _commit(self, changed: list[Customer], where: dict[str, int], tries: list[bool], located_at: float) -> None:
        """One attempt of `edit`'s write. A retry locates the rows again first: the sheet
        may have moved, and an append whose answer was lost left rows to update, not add.

        `located_at` is when the row numbers in `where` were read. The update's write token
        is taken first; if the rows were read within `FRESH_ROWS` of that moment, the update
        goes at once, else a read checks that they did not move (see the module's docstring).
        """
        from gspread.utils import InsertDataOption

        ws = self._open()
        emails = [normalise_email(c.email) for c in changed]
        if tries:
            where = self._first_rows(self._key_column(ws, EMAIL, write=True), emails)
            located_at = time.monotonic()
        tries.append(True)
        updates = {where[e]: e for e in emails if e in where}
        lines: list[list[str]] = []
        ranges: list[dict[str, Any]] = []
        for email, customer in zip(emails, changed, strict=True):
            cells = to_cells(customer)
            cells[EMAIL] = email
            by_column = {self._columns[h.lower()]: value for h, value in cells.items()}
            if email in where:
                ranges += [{"range": r, "values": [v]} for r, v in self._row_ranges(where[email], by_column)]
            else:
                line = [""] * max(by_column)
                for col, value in by_column.items():
                    line[col - 1] = value
                lines.append(line)
        if updates:
            self._spend("write")  # waited for now, so that the rows' age below includes the wait
            self._paid.write = True
            try:
                if time.monotonic() - located_at > FRESH_ROWS:
                    self._check_rows_hold(ws, updates)
                ws.batch_update(ranges, value_input_option=RAW)
            finally:
                self._paid.write = False  # never carried over to another request
        if lines:
            # INSERT_ROWS: new rows are inserted after the table, so nothing below is overwritten
            ws.append_rows(
                lines, value_input_option=RAW, insert_data_option=InsertDataOption.insert_rows, table_range="A1"
            )
        logger.info("sheet rows written", extra={"service": "sheets", "added": len(lines), "updated": len(updates)})

    @staticmethod
    def _first_rows(
        column: list[str], keys: Collection[str], normalise: Callable[[str], str] = normalise_email
    ) -> dict[str, int]:
        """The first data row (2 and below) of each key found in the column."""
        wanted = set(keys)
        rows: dict[str, int] = {}
        for row, value in enumerate(column[1:], start=2):
            key = normalise(value) if value else ""
            if key in wanted and key not in rows:
                rows[key] = row
        return rows

    def _change_email(self, old_email: str, new_email: str) -> bool:
        ws = self._open()
        column = self._key_column(ws, EMAIL, write=True)
        row = self._find_row(column, lambda v: normalise_email(v) == old_email)
        if row is None:
            # A retry whose first attempt wrote the cell but lost the answer finds the new one.
            return self._find_row(column, lambda v: normalise_email(v) == new_email) is not None
        self._check_row_holds(ws, row, old_email)
        letter = column_letter(self._columns[EMAIL.lower()])
        ws.batch_update([{"range": f"{letter}{row}", "values": [[new_email]]}], value_input_option=RAW)
        logger.info("sheet row's email changed", extra={"sink": "sheets", "row": row})
        return True

    def _all(self) -> list[Customer]:
        ws = self._open()
        values = [list(map(str, line)) for line in ws.get(value_render_option=FORMATTED)]
        if values and values[0] != self._row1:
            self._set_row1(values[0])
        customers: list[Customer] = []
        seen: set[str] = set()
        for customer in readable(self._cells(line) for line in values[1:]):
            if customer.email and customer.email not in seen:
                seen.add(customer.email)
                customers.append(customer)
        return customers

    # --- the worksheet and its headers ------------------------------------------------

    def _open(self) -> Worksheet:
        """The worksheet, opened once per container (created with the hub's headers when
        missing), with row 1 read and the hub's missing headers added."""
        with self._lock:
            if self._worksheet is not None:
                return self._worksheet
            from gspread.exceptions import APIError, WorksheetNotFound

            spreadsheet = self._client.open_by_key(self._sheet_id)
            try:
                ws = spreadsheet.worksheet(self._title)
                first = ws.get("1:1", value_render_option=FORMATTED)
                self._set_row1(first[0] if first else [])
            except WorksheetNotFound:
                try:
                    ws = spreadsheet.add_worksheet(self._title, rows=NEW_WORKSHEET_ROWS, cols=NEW_WORKSHEET_COLS)
                    logger.info("worksheet created", extra={"service": "sheets", "worksheet": self._title})
                    self._set_row1([])
                except APIError as exc:  # another container created it first
                    if exc.response.status_code != 400 or "already exists" not in str(exc):
                        raise
                    ws = spreadsheet.worksheet(self._title)
                    row1 = ws.get("1:1", value_render_option=FORMATTED)
                    self._set_row1(row1[0] if row1 else [])
            self._ensure_headers(ws)
            self._worksheet = ws
            return ws

    def _set_row1(self, row1: Sequence[Any]) -> None:
        self._row1 = [str(v) for v in row1]
        columns: dict[str, int] = {}
        for index, header in enumerate(self._row1, start=1):
            key = header.strip().lower()
            if key and key not in columns:  # a repeated header: the leftmost one is the hub's
                columns[key] = index
        self._columns = columns

    def _missing_headers(self) -> list[str]:
        return [h for h in HEADERS if h.lower() not in self._columns]

    def _ensure_headers(self, ws: Worksheet) -> None:
        """Add the hub's missing headers after the last header of row 1 (staff's are kept)."""
        missing = self._missing_headers()
        if not missing:
            return
        assert self._row1 is not None
        first = len(self._row1) + 1
        last = first + len(missing) - 1
        self._ensure_columns(ws, last)
        ws.batch_update(
            [{"range": f"{column_letter(first)}1:{column_letter(last)}1", "values": [missing]}],
            value_input_option=RAW,
        )
        logger.info("sheet headers added", extra={"service": "sheets", "headers": missing})
        self._set_row1([*self._row1, *missing])

    def _ensure_columns(self, ws: Worksheet, needed: int) -> None:
        """Grow the grid to `needed` columns. Reads the grid size fresh (staff may have
        changed it) and grows it with appendDimension, never with an absolute resize: a
        resize from a stale size could cut off staff columns."""
        meta = ws.client.fetch_sheet_metadata(ws.spreadsheet_id)
        props = next((s["properties"] for s in meta["sheets"] if s["properties"]["sheetId"] == ws.id), None)
        if props is None:
            self._worksheet = None
            raise TransientError(f"worksheet {self._title!r} vanished; opening it again")
        have = int(props["gridProperties"]["columnCount"])
        if needed > have:
            ws.client.batch_update(
                ws.spreadsheet_id,
                {
                    "requests": [
                        {"appendDimension": {"sheetId": ws.id, "dimension": "COLUMNS", "length": needed - have}}
                    ]
                },
            )

    def _key_column(self, ws: Worksheet, header: str, write: bool) -> list[str]:
        """Fresh cells of one hub column (index 0 is row 1): see `_key_columns`."""
        return self._key_columns(ws, (header,), write)[header]

    def _key_columns(self, ws: Worksheet, headers: Sequence[str], write: bool) -> dict[str, list[str]]:
        """Fresh cells of some hub columns (index 0 is row 1), read in one request with
        row 1, so that a sheet whose columns staff moved is noticed and the map refreshed.

        `write`: the caller will write, so hub headers gone missing are put back.
        """
        for _ in range(3):
            if any(h.lower() not in self._columns for h in headers):  # gone last time: look again
                first = ws.get("1:1", value_render_option=FORMATTED)
                self._set_row1(first[0] if first else [])
                if write:
                    self._ensure_headers(ws)
            present = {h: self._columns[h.lower()] for h in headers if h.lower() in self._columns}
            out: dict[str, list[str]] = {h: [] for h in headers}
            if not present:
                return out
            letters = [column_letter(col) for col in present.values()]
            head, *columns = ws.batch_get(["1:1", *(f"{x}:{x}" for x in letters)], value_render_option=FORMATTED)
            row1 = [str(v) for v in (head[0] if head else [])]
            if row1 != self._row1:
                logger.info("sheet headers changed", extra={"service": "sheets"})
                self._set_row1(row1)
                if write:
                    self._ensure_headers(ws)
                if any(self._columns.get(h.lower()) != col for h, col in present.items()):
                    continue  # a key column moved: read it again where it is now
            for header, column in zip(present, columns, strict=True):
                out[header] = [str(line[0]) if line else "" for line in column]
            return out
        raise TransientError("the sheet's headers keep changing; trying again later")

    def _check_row_holds(self, ws: Worksheet, row: int, email: str) -> None:
        """See `_check_rows_hold`."""
        self._check_rows_hold(ws, {row: email})

    def _check_rows_hold(self, ws: Worksheet, rows: dict[int, str]) -> None:
        """Just before writing by row number: row 1 and each row's Email cell, read again in
        one request, must be as the lookup saw them. Staff sorting the sheet, inserting or
        deleting rows, or moving columns in between would otherwise send a customer's
        cells to another row or column; the retry finds the rows again instead."""
        letter = column_letter(self._columns[EMAIL.lower()])
        head, *cells = ws.batch_get(["1:1", *(f"{letter}{row}" for row in rows)], value_render_option=FORMATTED)
        if [str(v) for v in (head[0] if head else [])] != self._row1:
            raise TransientError("the sheet's headers changed under us while saving; looking again")
        for (row, email), cell in zip(rows.items(), cells, strict=True):
            value = str(cell[0][0]) if cell and cell[0] else ""
            if normalise_email(value) != email:
                # no email in the message: it ends up in logs and dead letters
                raise TransientError(f"the sheet moved under us: row {row} no longer holds its customer; looking again")

    @staticmethod
    def _find_row(column: list[str], match: Callable[[str], bool]) -> int | None:
        """The first data row (2 and below) whose cell matches."""
        for row, value in enumerate(column[1:], start=2):
            if value and match(value):
                return row
        return None

    def _read_row(self, ws: Worksheet, row: int) -> Customer:
        values = ws.get(f"{row}:{row}", value_render_option=FORMATTED)
        return self._customer([str(v) for v in (values[0] if values else [])])

    def _customer(self, line: list[str]) -> Customer:
        return from_cells(self._cells(line))

    def _cells(self, line: list[str]) -> dict[str, str]:
        """The hub's cells of a row, by header ("" where the row is short)."""
        cells = {}
        for header in HEADERS:
            col = self._columns.get(header.lower())
            cells[header] = line[col - 1] if col and col <= len(line) else ""
        return cells

    @staticmethod
    def _row_ranges(row: int, by_column: dict[int, str]) -> list[tuple[str, list[str]]]:
        """The hub's cells of a row as A1 ranges, adjacent columns merged; staff columns
        between them are not part of any range, so they are never written."""
        ranges: list[tuple[str, list[str]]] = []
        start = prev = 0
        values: list[str] = []
        for col in sorted(by_column):
            if values and col == prev + 1:
                values.append(by_column[col])
            else:
                if values:
                    ranges.append((f"{column_letter(start)}{row}:{column_letter(prev)}{row}", values))
                start, values = col, [by_column[col]]
            prev = col
        if values:
            ranges.append((f"{column_letter(start)}{row}:{column_letter(prev)}{row}", values))
        return ranges

    # --- client, retries and errors ----------------------------------------------------

    def _make_client(self, info: dict[str, Any]) -> Client:
        import gspread
        from gspread.http_client import HTTPClient

        try:
            # HTTPClient, not BackOffHTTPClient: ours are the bounded retries of service_retry
            client = gspread.service_account_from_dict(info, scopes=list(SCOPES), http_client=HTTPClient)
        except ValueError:  # a malformed private key; never quote it
            raise ConfigurationError(
                f"GOOGLE_SERVICE_ACCOUNT: the private key of {info.get('client_email')} cannot be read; "
                "download a new JSON key"
            ) from None
        client.set_timeout(self._timeout)
        client.http_client.session.mount(GOOGLE_API_URL, _sheets_transport(self._api_url, self._spend))
        return client

    def _spend(self, kind: str) -> None:
        """Take a token of the account's `read` or `write` quota, waiting for it if need be
        (at most `QUOTA_WAIT`; longer, the message goes back to its queue). A write token
        this thread took ahead (`_commit`) pays for its next write."""
        if kind == "write" and getattr(self._paid, "write", False):
            self._paid.write = False
            return
        wait = self._buckets.take(f"sheets:{self._client_email}:{kind}", self._rate, QUOTA_WAIT)
        if wait > 0:
            _sleep(wait)

    def _call(self, attempt: Callable[..., T], *args: Any) -> T:
        """Run one operation with bounded retries of its transient failures."""
        return self._retry(self._translated(attempt))(*args)

    def _translated(self, fn: Callable[..., T]) -> Callable[..., T]:
        def run(*args: Any) -> T:
            try:
                return fn(*args)
            except HubError:
                raise
            except Exception as exc:
                mapped = self._map_error(exc)
                if mapped is None:
                    raise
                raise mapped from exc

        return run

    def _map_error(self, exc: Exception) -> HubError | None:
        """gspread, google-auth and requests errors as the hub's error kinds."""
        import requests
        from google.auth import exceptions as auth_errors
        from gspread.exceptions import APIError, SpreadsheetNotFound

        if isinstance(exc, SpreadsheetNotFound | PermissionError) and isinstance(exc.__cause__, APIError):
            exc = exc.__cause__  # open_by_key re-raises 404/403 without Google's message
        if isinstance(exc, APIError):
            status = exc.response.status_code
            message = str(exc.error.get("message", ""))[:300]
            if status == 429 or status >= 500:
                return TransientError(
                    f"Google Sheets answered {status}: {message}",
                    retry_after=parse_retry_after(exc.response.headers.get("Retry-After")),
                )
            if status == 401:
                return ConfigurationError(
                    f"Google Sheets refused the credentials of {self._client_email} (401: {message}); "
                    "check GOOGLE_SERVICE_ACCOUNT (key deleted or disabled?)"
                )
            if status == 403:
                return ConfigurationError(
                    f"no access to spreadsheet {self._sheet_id}: share the sheet with {self._client_email} "
                    f"as Editor, and enable the Google Sheets API in its project (Google said: {message})"
                )
            if status == 404:
                return ConfigurationError(f"no spreadsheet {self._sheet_id}: check GOOGLE_SHEET_ID ({message})")
            if status == 400 and "Unable to parse range" in message:
                # the worksheet was renamed or deleted: open (or create) it again
                with self._lock:
                    self._worksheet = None
                return TransientError(f"worksheet {self._title!r} is gone ({message}); opening it again")
            return PermanentError(f"Google Sheets refused the request ({status}: {message})")
        if isinstance(exc, auth_errors.RefreshError):
            reason = str(exc.args[0]) if exc.args else type(exc).__name__
            if getattr(exc, "retryable", False):
                return TransientError(f"Google's token endpoint failed: {reason}")
            return ConfigurationError(
                f"Google refused the service account {self._client_email} ({reason}); "
                "check GOOGLE_SERVICE_ACCOUNT (key deleted, disabled or from another project?)"
            )
        if isinstance(exc, auth_errors.TransportError):
            return TransientError(f"cannot reach Google's token endpoint: {type(exc).__name__}")
        if isinstance(
            exc,
            requests.ConnectionError
            | requests.Timeout
            | requests.exceptions.ChunkedEncodingError
            | requests.exceptions.ContentDecodingError,
        ):
            return TransientError(f"Google Sheets did not answer: {type(exc).__name__}")
        if isinstance(exc, requests.RequestException):
            return ConfigurationError(
                f"cannot call Google Sheets at {self._api_url} ({type(exc).__name__}); check GOOGLE_SHEETS_API_URL"
            )
        return None
