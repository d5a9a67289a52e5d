"""A protocol fake of the Google Sheets v4 REST API and of Google's OAuth token endpoint.

Real `gspread` (and `google-auth` underneath it) talks to it over a socket on 127.0.0.1:
the service-account JWT is signed with a throwaway RSA key, posted to `POST /token` (the
key's own `token_uri`), verified here against the registered public key, and exchanged
for a bearer token that every `/v4/...` request must carry (else 401).

What it speaks, as far as the hub's adapter and gspread use it:

- `GET  /v4/spreadsheets/{id}`                      metadata (sheets, grid sizes)
- `POST /v4/spreadsheets/{id}:batchUpdate`          addSheet, updateSheetProperties
                                                     (grid size), appendDimension
- `GET  /v4/spreadsheets/{id}/values/{range}`       read one range
- `PUT  /v4/spreadsheets/{id}/values/{range}`       write one range
- `POST /v4/spreadsheets/{id}/values/{range}:append`
- `GET  /v4/spreadsheets/{id}/values:batchGet`
- `POST /v4/spreadsheets/{id}/values:batchUpdate`
- `POST /v4/spreadsheets/{id}/values/{range}:clear`, `values:batchClear`

Like Google: values are a 2D grid of typed cells (string, number, bool) inside a grid of
`rowCount` x `columnCount`; reads are served trimmed of trailing empty cells and rows;
`USER_ENTERED` turns "01234" into the number 1234 (so an adapter that forgets `RAW` loses
the leading zero, as it would on Google); writes past the grid are refused with 400
("exceeds grid limits"), while `append` grows the grid; a range naming a missing sheet is
"Unable to parse range"; an unknown spreadsheet is 404 and one not shared with the caller's
service account is 403.

Simplification: `append` finds "the table" as the rows up to the last non-empty row of
the sheet (Google's table detection is fancier; for one contiguous table they agree).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from tests.fakes.http import HttpFake

Value = str | int | float | bool

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
DEFAULT_ROWS = 1000
DEFAULT_COLS = 26


class SheetsApiError(Exception):
    """An error answer of the API: HTTP status, Google's `status` string and message."""

    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message


# --- A1 notation ------------------------------------------------------------------------


def col_to_index(letters: str) -> int:
    """'A' -> 1, 'Z' -> 26, 'AA' -> 27."""
    n = 0
    for ch in letters.upper():
        n = n * 26 + (ord(ch) - 64)
    return n


def index_to_col(n: int) -> str:
    """1 -> 'A', 27 -> 'AA'."""
    letters = ""
    while n > 0:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def quote_title(title: str) -> str:
    """A sheet title as Google writes it in a range: quoted only when it has to be."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", title) and not re.fullmatch(r"[A-Za-z]{1,3}[0-9]+", title):
        return title
    return "'" + title.replace("'", "''") + "'"


_CELL = re.compile(r"^([A-Za-z]*)([0-9]*)$")
_A1 = re.compile(r"[A-Za-z]{0,3}[0-9]*(:[A-Za-z]{0,3}[0-9]*)?")


@dataclass(frozen=True)
class GridRange:
    """A parsed A1 range: 1-based, inclusive; `None` bounds are open (to the grid's end)."""

    title: str | None
    row1: int
    col1: int
    row2: int | None
    col2: int | None


def parse_range(text: str) -> GridRange:
    """Parse `'Sheet''s'!A1:B2`, `Sheet1!A:A`, `'Customers'!1:1`, `A2:C`, `'Customers'`."""
    title: str | None = None
    rest = text
    if text.startswith("'"):
        i, buf = 1, []
        while i < len(text):
            if text[i] == "'":
                if i + 1 < len(text) and text[i + 1] == "'":
                    buf.append("'")
                    i += 2
                    continue
                break
            buf.append(text[i])
            i += 1
        else:
            raise SheetsApiError(400, "INVALID_ARGUMENT", f"Unable to parse range: {text}")
        title = "".join(buf)
        rest = text[i + 1 :]
        if rest.startswith("!"):
            rest = rest[1:]
        elif rest:
            raise SheetsApiError(400, "INVALID_ARGUMENT", f"Unable to parse range: {text}")
    elif "!" in text:
        title, rest = text.split("!", 1)
    elif not _A1.fullmatch(text):
        title, rest = text, ""  # a bare (unquoted) sheet title, e.g. Customers
    if not rest:
        return GridRange(title, 1, 1, None, None)
    start, _, end = rest.partition(":")
    m1 = _CELL.match(start)
    m2 = _CELL.match(end) if end else m1
    if not m1 or not m2 or not start or (end == "" and ":" in rest):
        raise SheetsApiError(400, "INVALID_ARGUMENT", f"Unable to parse range: {text}")
    c1, r1 = m1.groups()
    c2, r2 = m2.groups()
    if not end and not (c1 and r1):  # a lone "A" or "5" would be a named range
        raise SheetsApiError(400, "INVALID_ARGUMENT", f"Unable to parse range: {text}")
    row1 = int(r1) if r1 else 1
    col1 = col_to_index(c1) if c1 else 1
    row2 = int(r2) if r2 else None
    col2 = col_to_index(c2) if c2 else None
    if (row2 is not None and row2 < row1) or (col2 is not None and col2 < col1):
        # Google normalises reversed ranges; the hub never sends them
        row1, row2 = (min(row1, row2), max(row1, row2)) if row2 is not None else (row1, row2)
        col1, col2 = (min(col1, col2), max(col1, col2)) if col2 is not None else (col1, col2)
    return GridRange(title, row1, col1, row2, col2)


# --- the model ----------------------------------------------------------------------------


@dataclass
class Sheet:
    sheet_id: int
    title: str
    index: int
    row_count: int = DEFAULT_ROWS
    col_count: int = DEFAULT_COLS
    cells: dict[tuple[int, int], Value] = field(default_factory=dict)  # (row, col), 1-based

    def properties(self) -> dict[str, Any]:
        return {
            "sheetId": self.sheet_id,
            "title": self.title,
            "index": self.index,
            "sheetType": "GRID",
            "gridProperties": {"rowCount": self.row_count, "columnCount": self.col_count},
        }

    def last_row(self) -> int:
        return max((r for (r, _c), v in self.cells.items() if v != ""), default=0)

    def last_col(self) -> int:
        return max((c for (_r, c), v in self.cells.items() if v != ""), default=0)

    def resize(self, rows: int | None, cols: int | None) -> None:
        """Shrinking a grid drops the cells outside it, as on Google."""
        if rows is not None:
            self.row_count = rows
        if cols is not None:
            self.col_count = cols
        self.cells = {(r, c): v for (r, c), v in self.cells.items() if r <= self.row_count and c <= self.col_count}

    def insert_rows(self, before: int, count: int) -> None:
        self.cells = {((r + count) if r >= before else r, c): v for (r, c), v in self.cells.items()}
        self.row_count += count


@dataclass
class Spreadsheet:
    spreadsheet_id: str
    title: str
    sheets: list[Sheet] = field(default_factory=list)
    shared_with: set[str] | None = None  # None: every registered service account may edit

    def sheet(self, title: str | None) -> Sheet:
        if title is None:
            return self.sheets[0]
        for sheet in self.sheets:
            if sheet.title == title:
                return sheet
        raise SheetsApiError(400, "INVALID_ARGUMENT", f"Unable to parse range: {quote_title(title)}")


def render(value: Value, option: str) -> Value:
    """A cell as Google serves it: FORMATTED_VALUE is always a string."""
    if option in ("UNFORMATTED_VALUE", "FORMULA"):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def parse_input(value: Any, option: str) -> Value:
    """A written value as Google stores it: USER_ENTERED parses like a person typing."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return value
    text = str(value)
    if option == "RAW":
        return text
    if text.startswith("'"):
        return text[1:]
    if _NUMBER.match(text.strip()):
        number = float(text.strip())
        return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number
    if text.upper() in ("TRUE", "FALSE"):
        return text.upper() == "TRUE"
    return text


# --- the fake -----------------------------------------------------------------------------


class SheetsFake(HttpFake):
    """Sheets v4 + OAuth token endpoint. Start with `start()`; build accounts and sheets with
    `service_account()` and `create_spreadsheet()`; read what it holds with `rows()`."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.RLock()
        self._spreadsheets: dict[str, Spreadsheet] = {}
        self._accounts: dict[str, Any] = {}  # client_email -> RSA public key
        self._tokens: dict[str, str] = {}  # access token -> client_email
        self._sheet_ids = itertools.count(1_000_001)
        self._lost_answers: list[tuple[str, int]] = []
        self.accept_tokens = True  # False: every bearer token is refused with 401
        self.token_requests = 0
        # Google's quota, per service account and kind (read: GET, write: the others), over a
        # sliding window; `enforce_quota` turns it on.
        self._quota: tuple[int, float] | None = None
        self._spent: dict[tuple[str, str], list[float]] = {}
        self.quota_refusals = 0
        self.unavailable = False  # True: every /v4 request is answered 503 (an outage)

    # --- setting up -------------------------------------------------------------------

    def service_account(self, client_email: str = "", register: bool = True) -> dict[str, Any]:
        """A throwaway service-account key (the JSON Google hands out), whose `token_uri`
        is this fake's token endpoint. Unregistered keys are refused there (invalid_grant)."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        email = client_email or f"hub-{secrets.token_hex(4)}@chocohub-test.iam.gserviceaccount.com"
        if register:
            with self._lock:
                self._accounts[email] = key.public_key()
        return {
            "type": "service_account",
            "project_id": "chocohub-test",
            "private_key_id": secrets.token_hex(20),
            "private_key": pem,
            "client_email": email,
            "client_id": str(secrets.randbelow(10**20)),
            "auth_uri": f"{self.url}/auth",
            "token_uri": f"{self.url}/token",
            "auth_provider_x509_cert_url": f"{self.url}/certs",
            "client_x509_cert_url": f"{self.url}/certs/{email}",
            "universe_domain": "googleapis.com",
        }

    def create_spreadsheet(
        self,
        spreadsheet_id: str = "",
        title: str = "Chocobox customers",
        worksheets: dict[str, Sequence[Sequence[Value]]] | None = None,
        shared_with: Sequence[str] | None = None,
        rows: int = DEFAULT_ROWS,
        cols: int = DEFAULT_COLS,
    ) -> str:
        """Create a spreadsheet; `worksheets` maps titles to their initial rows (default: one
        empty "Sheet1"). `shared_with` limits access to those service accounts."""
        sid = spreadsheet_id or secrets.token_urlsafe(30)
        book = Spreadsheet(sid, title, shared_with=None if shared_with is None else set(shared_with))
        for index, (name, values) in enumerate((worksheets or {"Sheet1": []}).items()):
            sheet = Sheet(next(self._sheet_ids), name, index, rows, max(cols, *(len(r) for r in values), 1))
            for r, row in enumerate(values, start=1):
                for c, value in enumerate(row, start=1):
                    if value != "":
                        sheet.cells[(r, c)] = value
            sheet.row_count = max(sheet.row_count, len(values))
            book.sheets.append(sheet)
        with self._lock:
            self._spreadsheets[sid] = book
        return sid

    def share(self, spreadsheet_id: str, client_email: str) -> None:
        with self._lock:
            book = self._spreadsheets[spreadsheet_id]
            if book.shared_with is not None:
                book.shared_with.add(client_email)

    def add_row_by_hand(
        self, spreadsheet_id: str, title: str, values: dict[str, Value] | Sequence[Value], typed: bool = True
    ) -> int:
        """What staff do in the browser: type a row below the last one. `values` is a list of
        cells, or a dict by header (matched case-insensitively in row 1). `typed` parses
        like the browser does ("01234" becomes 1234). Returns the row number."""
        option = "USER_ENTERED" if typed else "RAW"
        with self._lock:
            sheet = self._spreadsheets[spreadsheet_id].sheet(title)
            if isinstance(values, dict):
                headers = {str(sheet.cells.get((1, c), "")).strip().lower(): c for c in range(sheet.col_count, 0, -1)}
                cells = {headers[k.strip().lower()]: v for k, v in values.items()}
            else:
                cells = {c: v for c, v in enumerate(values, start=1)}
            row = sheet.last_row() + 1
            if row > sheet.row_count:
                sheet.row_count = row
            for c, v in cells.items():
                sheet.col_count = max(sheet.col_count, c)
                stored = parse_input(v, option)
                if stored != "":
                    sheet.cells[(row, c)] = stored
            return row

    def replace_rows(self, spreadsheet_id: str, title: str, rows: Sequence[Sequence[Value]]) -> None:
        """Staff rework the whole sheet (move columns, sort rows): its cells become `rows`."""
        with self._lock:
            sheet = self._spreadsheets[spreadsheet_id].sheet(title)
            sheet.cells = {
                (r, c): v for r, row in enumerate(rows, start=1) for c, v in enumerate(row, start=1) if v != ""
            }
            sheet.row_count = max(sheet.row_count, len(rows))
            sheet.col_count = max(sheet.col_count, *(len(r) for r in rows), 1)

    def fail_after_applying(self, path_part: str, status: int = 503) -> None:
        """The next API request whose path contains `path_part` is carried out, but answered
        with `status`: the ambiguous failure (a write done, its answer lost) retries must survive."""
        with self._lock:
            self._lost_answers.append((path_part, status))

    def delete_worksheet(self, spreadsheet_id: str, title: str) -> None:
        """Staff delete a worksheet (or rename it away)."""
        with self._lock:
            book = self._spreadsheets[spreadsheet_id]
            book.sheets = [s for s in book.sheets if s.title != title]
            for index, sheet in enumerate(book.sheets):
                sheet.index = index

    def set_cell(self, spreadsheet_id: str, title: str, a1: str, value: Value) -> None:
        """Staff edit one cell (typed as in the browser), e.g. rename a header."""
        rng = parse_range(a1)
        with self._lock:
            sheet = self._spreadsheets[spreadsheet_id].sheet(title)
            stored = parse_input(value, "USER_ENTERED")
            if stored == "":
                sheet.cells.pop((rng.row1, rng.col1), None)
            else:
                sheet.cells[(rng.row1, rng.col1)] = stored

    # --- inspection (read-only) -------------------------------------------------------

    def rows(self, spreadsheet_id: str, title: str) -> list[list[str]]:
        """The sheet's values as the browser shows them, trailing empty cells/rows trimmed."""
        with self._lock:
            sheet = self._spreadsheets[spreadsheet_id].sheet(title)
            return self._read(sheet, GridRange(title, 1, 1, None, None), "FORMATTED_VALUE")

    def column(self, spreadsheet_id: str, title: str, header: str) -> list[str]:
        """The values under `header` (row 1, compared case-insensitively) as the browser shows
        them; [] without that header. Cheap, unlike `rows`: the bench polls it."""
        with self._lock:
            cells = self._spreadsheets[spreadsheet_id].sheet(title).cells
            cols = [c for (r, c), v in cells.items() if r == 1 and str(v).strip().lower() == header.lower()]
            if not cols:
                return []
            return [str(render(v, "FORMATTED_VALUE")) for (r, c), v in cells.items() if c == cols[0] and r > 1]

    def raw_cell(self, spreadsheet_id: str, title: str, a1: str) -> Value:
        """One cell's stored value and type (a number stays a number here)."""
        rng = parse_range(a1)
        with self._lock:
            return self._spreadsheets[spreadsheet_id].sheet(title).cells.get((rng.row1, rng.col1), "")

    def worksheet_titles(self, spreadsheet_id: str) -> list[str]:
        with self._lock:
            return [s.title for s in self._spreadsheets[spreadsheet_id].sheets]

    def grid_size(self, spreadsheet_id: str, title: str) -> tuple[int, int]:
        with self._lock:
            sheet = self._spreadsheets[spreadsheet_id].sheet(title)
            return sheet.row_count, sheet.col_count

    def api_requests(self) -> list[tuple[str, str]]:
        """The `/v4` requests served so far (method, path), faults excluded."""
        with self._lock:
            return [r for r in self.requests if r[1].startswith("/v4/")]

    def enforce_quota(self, per_window: int = 60, window: float = 60.0) -> None:
        """Answer 429 RESOURCE_EXHAUSTED, as Google does, to a service account's read (or
        write) requests beyond `per_window` in any `window` seconds (60 a minute; a test
        may shrink the minute)."""
        with self._lock:
            self._quota = (per_window, window)
            self._spent.clear()

    def _over_quota(self, email: str, method: str) -> bool:
        if self._quota is None:
            return False
        limit, window = self._quota
        now = time.monotonic()
        with self._lock:
            spent = self._spent.setdefault((email, "read" if method == "GET" else "write"), [])
            while spent and spent[0] <= now - window:
                spent.pop(0)
            if len(spent) >= limit:
                self.quota_refusals += 1
                return True
            spent.append(now)
            return False

    def usage(self) -> dict[str, int]:
        """The `/v4` requests served so far as Google's quota counts them: `read` (every
        GET: values, batchGet, metadata) and `write` (every POST or PUT)."""
        requests = self.api_requests()
        reads = sum(1 for method, _ in requests if method == "GET")
        return {"read": reads, "write": len(requests) - reads}

    # --- HTTP -------------------------------------------------------------------------

    def handle_request(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes]:
        parts = urlsplit(path)
        with self._lock:
            self.requests.append((method, parts.path))
        try:
            if parts.path == "/token" and method == "POST":
                return self._token(body)
            if parts.path.startswith("/v4/spreadsheets/"):
                email = self._authenticate(headers)
                self._admit(email, method, parts.path)
                query = parse_qs(parts.query)
                data = json.loads(body) if body else {}
                with self._lock:
                    answer = self._api(method, parts.path, query, data, email)
                    lost = next((f for f in self._lost_answers if f[0] in parts.path), None)
                    if lost:  # done, but the caller hears of a failure
                        self._lost_answers.remove(lost)
                        raise SheetsApiError(lost[1], "UNAVAILABLE", "The service is currently unavailable.")
                return self.json_response(200, answer)
            raise SheetsApiError(404, "NOT_FOUND", f"no such endpoint: {method} {parts.path}")
        except SheetsApiError as exc:
            return self.json_response(
                exc.code, {"error": {"code": exc.code, "message": exc.message, "status": exc.status}}
            )

    def _admit(self, email: str, method: str, path: str) -> None:
        """Outage and quota, before a request is served. A refused request is not counted
        in `requests` (it was not served)."""
        refusal = None
        if self.unavailable:
            refusal = SheetsApiError(503, "UNAVAILABLE", "The service is currently unavailable.")
        elif self._over_quota(email, method):
            refusal = SheetsApiError(
                429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Requests' and limit 'per minute per user'"
            )
        if refusal is not None:
            with self._lock:
                self.requests.remove((method, path))
            raise refusal

    def _token(self, body: bytes) -> tuple[int, dict, bytes]:
        """Google's OAuth 2.0 token endpoint, JWT bearer grant only (what service accounts use)."""
        with self._lock:
            self.token_requests += 1
        form = parse_qs(body.decode())
        if form.get("grant_type", [""])[0] != JWT_GRANT:
            return self.json_response(
                400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}
            )
        assertion = form.get("assertion", [""])[0]
        try:
            email = self._verify_jwt(assertion)
        except ValueError as exc:
            return self.json_response(400, {"error": "invalid_grant", "error_description": str(exc)})
        token = "ya29.fake-" + secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = email
        return self.json_response(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    def _verify_jwt(self, assertion: str) -> str:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        def b64(part: str) -> bytes:
            return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

        try:
            head_b64, claims_b64, sig_b64 = assertion.split(".")
            header = json.loads(b64(head_b64))
            claims = json.loads(b64(claims_b64))
        except (ValueError, TypeError) as exc:
            raise ValueError("Invalid JWT: malformed") from exc
        if header.get("alg") != "RS256":
            raise ValueError("Invalid JWT: alg must be RS256")
        with self._lock:
            key = self._accounts.get(claims.get("iss", ""))
        if key is None:
            raise ValueError("Invalid JWT Signature.")  # what Google says for an unknown/deleted key
        try:
            key.verify(b64(sig_b64), f"{head_b64}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature as exc:
            raise ValueError("Invalid JWT Signature.") from exc
        # google-auth always names Google's own endpoint as the audience, whatever token_uri says
        if claims.get("aud") not in (GOOGLE_TOKEN_AUDIENCE, f"{self.url}/token"):
            raise ValueError("Invalid JWT: Failed audience check.")
        now = time.time()
        if not (claims.get("iat", 0) - 300 <= now < claims.get("exp", 0) + 300):
            raise ValueError("Invalid JWT: Token must be a short-lived token and in a reasonable timeframe.")
        if "spreadsheets" not in claims.get("scope", ""):
            raise ValueError("Invalid JWT: no Sheets scope")
        return str(claims["iss"])

    def _authenticate(self, headers: dict[str, str]) -> str:
        auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else ""
        with self._lock:
            email = self._tokens.get(token) if self.accept_tokens else None
        if not email:
            raise SheetsApiError(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                "login cookie or other valid authentication credential.",
            )
        return email

    def _book(self, sid: str, email: str) -> Spreadsheet:
        book = self._spreadsheets.get(sid)
        if book is None:
            raise SheetsApiError(404, "NOT_FOUND", "Requested entity was not found.")
        if book.shared_with is not None and email not in book.shared_with:
            raise SheetsApiError(403, "PERMISSION_DENIED", "The caller does not have permission")
        return book

    def _api(self, method: str, path: str, query: dict[str, list[str]], data: dict[str, Any], email: str) -> Any:
        rest = path[len("/v4/spreadsheets/") :]
        sid, _, tail = rest.partition("/")
        if ":" in sid and not tail:  # /v4/spreadsheets/{id}:batchUpdate
            sid, _, verb = sid.partition(":")
            book = self._book(unquote(sid), email)
            if method == "POST" and verb == "batchUpdate":
                return self._batch_update(book, data)
            raise SheetsApiError(404, "NOT_FOUND", f"no such method: {verb}")
        book = self._book(unquote(sid), email)
        one = lambda name, default="": query.get(name, [default])[0]  # noqa: E731
        render_option = one("valueRenderOption", "FORMATTED_VALUE")
        major = one("majorDimension", "ROWS")
        if not tail:
            if method == "GET":
                return self._metadata(book)
        elif tail == "values:batchGet" and method == "GET":
            return {
                "spreadsheetId": book.spreadsheet_id,
                "valueRanges": [self._value_range(book, r, render_option, major) for r in query.get("ranges", [])],
            }
        elif tail == "values:batchUpdate" and method == "POST":
            option = data.get("valueInputOption", "")
            responses = [self._write(book, d["range"], d.get("values", []), option) for d in data.get("data", [])]
            return {
                "spreadsheetId": book.spreadsheet_id,
                "totalUpdatedRows": sum(r["updatedRows"] for r in responses),
                "totalUpdatedColumns": sum(r["updatedColumns"] for r in responses),
                "totalUpdatedCells": sum(r["updatedCells"] for r in responses),
                "totalUpdatedSheets": len({r["updatedRange"].rsplit("!", 1)[0] for r in responses}),
                "responses": responses,
            }
        elif tail == "values:batchClear" and method == "POST":
            return {
                "spreadsheetId": book.spreadsheet_id,
                "clearedRanges": [self._clear(book, r) for r in data["ranges"]],
            }
        elif tail.startswith("values/"):
            raw = tail[len("values/") :]
            verb = ""
            if raw.rpartition(":")[2] in ("append", "clear"):  # the range's own ':' may be encoded or not
                raw, _, verb = raw.rpartition(":")
            a1 = unquote(raw)
            if method == "GET" and not verb:
                return self._value_range(book, a1, render_option, major)
            if method == "PUT" and not verb:
                option = one("valueInputOption")
                return self._write(book, a1, data.get("values", []), option)
            if method == "POST" and verb == "append":
                return self._append(book, a1, data.get("values", []), one("valueInputOption"), one("insertDataOption"))
            if method == "POST" and verb == "clear":
                return {"spreadsheetId": book.spreadsheet_id, "clearedRange": self._clear(book, a1)}
        raise SheetsApiError(404, "NOT_FOUND", f"no such method: {method} {path}")

    # --- API operations (called with the lock held) -----------------------------------

    def _metadata(self, book: Spreadsheet) -> dict[str, Any]:
        return {
            "spreadsheetId": book.spreadsheet_id,
            "properties": {"title": book.title, "locale": "en_GB", "timeZone": "Europe/Paris"},
            "sheets": [{"properties": s.properties()} for s in book.sheets],
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{book.spreadsheet_id}/edit",
        }

    def _batch_update(self, book: Spreadsheet, data: dict[str, Any]) -> dict[str, Any]:
        replies: list[dict[str, Any]] = []
        for request in data.get("requests", []):
            (kind, args), *others = request.items()
            if others:
                raise SheetsApiError(400, "INVALID_ARGUMENT", "a request must hold exactly one kind")
            if kind == "addSheet":
                props = args.get("properties", {})
                title = props.get("title") or f"Sheet{len(book.sheets) + 1}"
                if any(s.title == title for s in book.sheets):
                    raise SheetsApiError(
                        400,
                        "INVALID_ARGUMENT",
                        f'Invalid requests[0].addSheet: A sheet with the name "{title}" already exists. '
                        "Please enter another name.",
                    )
                grid = props.get("gridProperties", {})
                sheet = Sheet(
                    next(self._sheet_ids),
                    title,
                    props.get("index", len(book.sheets)),
                    grid.get("rowCount", DEFAULT_ROWS),
                    grid.get("columnCount", DEFAULT_COLS),
                )
                book.sheets.insert(min(sheet.index, len(book.sheets)), sheet)
                for i, s in enumerate(book.sheets):
                    s.index = i
                replies.append({"addSheet": {"properties": sheet.properties()}})
            elif kind == "updateSheetProperties":
                props = args.get("properties", {})
                sheet = self._sheet_by_id(book, props.get("sheetId", 0))
                grid = props.get("gridProperties", {})
                fields = args.get("fields", "")
                rows = grid.get("rowCount") if "rowCount" in fields else None
                cols = grid.get("columnCount") if "columnCount" in fields else None
                sheet.resize(rows, cols)
                replies.append({})
            elif kind == "appendDimension":
                sheet = self._sheet_by_id(book, args.get("sheetId", 0))
                length = int(args.get("length", 0))
                if args.get("dimension") == "COLUMNS":
                    sheet.col_count += length
                else:
                    sheet.row_count += length
                replies.append({})
            else:
                raise SheetsApiError(400, "INVALID_ARGUMENT", f"the fake does not speak {kind}")
        return {"spreadsheetId": book.spreadsheet_id, "replies": replies}

    @staticmethod
    def _sheet_by_id(book: Spreadsheet, sheet_id: int) -> Sheet:
        for sheet in book.sheets:
            if sheet.sheet_id == sheet_id:
                return sheet
        raise SheetsApiError(400, "INVALID_ARGUMENT", f"No grid with id: {sheet_id}")

    def _bounds(self, sheet: Sheet, rng: GridRange, a1: str, clip: bool) -> tuple[int, int, int, int]:
        row2 = sheet.row_count if rng.row2 is None else rng.row2
        col2 = sheet.col_count if rng.col2 is None else rng.col2
        if (
            rng.row1 > sheet.row_count
            or rng.col1 > sheet.col_count
            or (not clip and (row2 > sheet.row_count or col2 > sheet.col_count))
        ):
            raise SheetsApiError(
                400,
                "INVALID_ARGUMENT",
                f"Range ({quote_title(sheet.title)}!{a1.rsplit('!', 1)[-1]}) exceeds grid limits. "
                f"Max rows: {sheet.row_count}, max columns: {sheet.col_count}",
            )
        return rng.row1, rng.col1, min(row2, sheet.row_count), min(col2, sheet.col_count)

    def _read(self, sheet: Sheet, rng: GridRange, option: str, major: str = "ROWS") -> list[list[Any]]:
        r1, c1, r2, c2 = self._bounds(sheet, rng, "", clip=True)
        grid = [[render(sheet.cells.get((r, c), ""), option) for c in range(c1, c2 + 1)] for r in range(r1, r2 + 1)]
        if major == "COLUMNS":
            grid = [list(col) for col in zip(*grid, strict=True)] if grid else []
        # like Google: trailing empty cells of each row, then trailing empty rows, are left out
        trimmed = []
        for line in grid:
            while line and line[-1] == "":
                line.pop()
            trimmed.append(line)
        while trimmed and not trimmed[-1]:
            trimmed.pop()
        return trimmed

    def _a1(self, sheet: Sheet, r1: int, c1: int, r2: int, c2: int) -> str:
        return f"{quote_title(sheet.title)}!{index_to_col(c1)}{r1}:{index_to_col(c2)}{r2}"

    def _value_range(self, book: Spreadsheet, a1: str, option: str, major: str) -> dict[str, Any]:
        rng = parse_range(a1)
        sheet = book.sheet(rng.title)
        r1, c1, r2, c2 = self._bounds(sheet, rng, a1, clip=True)
        answer: dict[str, Any] = {"range": self._a1(sheet, r1, c1, r2, c2), "majorDimension": major}
        values = self._read(sheet, rng, option, major)
        if values:
            answer["values"] = values
        return answer

    def _store(self, sheet: Sheet, row: int, col: int, values: list[list[Any]], option: str) -> None:
        for r, line in enumerate(values, start=row):
            for c, value in enumerate(line, start=col):
                if value is None:  # null leaves a cell as it is
                    continue
                stored = parse_input(value, option)
                if stored == "":
                    sheet.cells.pop((r, c), None)
                else:
                    sheet.cells[(r, c)] = stored

    @staticmethod
    def _check_option(option: str) -> None:
        if option not in ("RAW", "USER_ENTERED"):
            raise SheetsApiError(400, "INVALID_ARGUMENT", "Invalid valueInputOption: INPUT_VALUE_OPTION_UNSPECIFIED")

    def _write(self, book: Spreadsheet, a1: str, values: list[list[Any]], option: str) -> dict[str, Any]:
        self._check_option(option)
        rng = parse_range(a1)
        sheet = book.sheet(rng.title)
        height = max(len(values), 1)
        width = max((len(v) for v in values), default=1)
        single_cell = rng.row2 == rng.row1 and rng.col2 == rng.col1
        fits_rows = single_cell or rng.row2 is None or height <= rng.row2 - rng.row1 + 1
        fits_cols = single_cell or rng.col2 is None or width <= rng.col2 - rng.col1 + 1
        if not (fits_rows and fits_cols):
            raise SheetsApiError(
                400,
                "INVALID_ARGUMENT",
                f"Requested writing within range [{a1}], but tried writing to a cell outside it.",
            )
        row2, col2 = rng.row1 + height - 1, rng.col1 + width - 1
        self._bounds(sheet, GridRange(sheet.title, rng.row1, rng.col1, row2, col2), a1, clip=False)
        self._store(sheet, rng.row1, rng.col1, values, option)
        return {
            "spreadsheetId": book.spreadsheet_id,
            "updatedRange": self._a1(sheet, rng.row1, rng.col1, row2, col2),
            "updatedRows": len(values),
            "updatedColumns": max((len(v) for v in values), default=0),
            "updatedCells": sum(len(v) for v in values),
        }

    def _append(self, book: Spreadsheet, a1: str, values: list[list[Any]], option: str, insert: str) -> dict[str, Any]:
        self._check_option(option)
        rng = parse_range(a1)
        sheet = book.sheet(rng.title)
        last = sheet.last_row()
        start = last + 1
        width = max((len(v) for v in values), default=0)
        if rng.col1 + width - 1 > sheet.col_count:
            raise SheetsApiError(
                400, "INVALID_ARGUMENT", f"Range ({a1}) exceeds grid limits. Max columns: {sheet.col_count}"
            )
        if insert == "INSERT_ROWS":
            sheet.insert_rows(start, len(values))
        elif start + len(values) - 1 > sheet.row_count:
            sheet.row_count = start + len(values) - 1  # append grows the grid
        self._store(sheet, start, rng.col1, values, option)
        table = self._a1(sheet, 1, 1, max(last, 1), max(sheet.last_col(), 1))
        return {
            "spreadsheetId": book.spreadsheet_id,
            "tableRange": table,
            "updates": {
                "spreadsheetId": book.spreadsheet_id,
                "updatedRange": self._a1(sheet, start, rng.col1, start + len(values) - 1, rng.col1 + max(width, 1) - 1),
                "updatedRows": len(values),
                "updatedColumns": width,
                "updatedCells": sum(len(v) for v in values),
            },
        }

    def _clear(self, book: Spreadsheet, a1: str) -> str:
        rng = parse_range(a1)
        sheet = book.sheet(rng.title)
        r1, c1, r2, c2 = self._bounds(sheet, rng, a1, clip=True)
        for r in range(r1, r2 + 1):
            for c in range(c1, c2 + 1):
                sheet.cells.pop((r, c), None)
        return self._a1(sheet, r1, c1, r2, c2)


@pytest.fixture
def sheets_fake() -> Iterator[SheetsFake]:
    """A started Sheets fake, stopped after the test."""
    fake = SheetsFake()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
