"""The customer sheet's layout, shared by every sheet adapter: headers and cell values."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from chalicelib.domain.customer import Customer, UnknownStatus, normalise_email, status_from_cell
from chalicelib.logs import logger
from chalicelib.ports import CustomerRows

EMAIL, NAME, ADDRESS, BOX, STATUS, CONSENT, STRIPE, SIGNED_UP, LAST_ORDER, ENDS_ON = HEADERS = (
    "Email",
    "Name",
    "Address",
    "Box",
    "Status",
    "Marketing consent",
    "Stripe customer",
    "Signed up",
    "Last order",
    "Ends on",
)


def to_cells(customer: Customer) -> dict[str, str]:
    """The hub's cells of a row, by header."""
    return {
        EMAIL: customer.email,
        NAME: customer.name,
        ADDRESS: customer.address,
        BOX: customer.box,
        STATUS: customer.status,
        CONSENT: "yes" if customer.consent else "no",
        STRIPE: customer.stripe_customer,
        SIGNED_UP: customer.signed_up,
        LAST_ORDER: customer.last_order,
        ENDS_ON: customer.ends_on,
    }


def _reader(cells: dict[str, str]) -> Callable[[str], str]:
    """A cell by header, headers compared case-insensitively, the value trimmed."""
    lower = {k.strip().lower(): ("" if v is None else str(v).strip()) for k, v in cells.items()}
    return lambda header: lower.get(header.lower(), "")


def from_cells(cells: dict[str, str]) -> Customer:
    """A customer from a row's cells by header; headers compared case-insensitively.

    Rows typed by hand may hold anything: consent is yes only for `yes` (or y/true/1); a
    Status the hub does not know raises `UnknownStatus` (`status_from_cell`), never a
    guess the next write would put into the sheet over what staff typed.
    """
    cell = _reader(cells)

    return Customer(
        email=normalise_email(cell(EMAIL)),
        name=cell(NAME),
        address=cell(ADDRESS),
        box=cell(BOX),
        status=status_from_cell(cell(STATUS)),
        consent=cell(CONSENT).lower() in ("yes", "y", "true", "1"),
        stripe_customer=cell(STRIPE),
        signed_up=cell(SIGNED_UP),
        last_order=cell(LAST_ORDER),
        ends_on=cell(ENDS_ON),
    )


def readable(rows: Iterable[dict[str, str]]) -> list[Customer]:
    """The customers of these rows, for reading the whole sheet (stats, the sync): a row
    whose Status the hub cannot read is left out, and the rows left out are counted in
    the log (no cell is quoted: it may hold anything). Sheet order is kept."""
    customers: list[Customer] = []
    left_out = 0
    for cells in rows:
        try:
            customers.append(from_cells(cells))
        except UnknownStatus:
            left_out += 1
    if left_out:
        logger.warning("sheet rows left out: a Status the hub does not know", extra={"rows": left_out})
    return customers


def rows_of(rows: Iterable[dict[str, str]]) -> CustomerRows:
    """The rows a batch loaded (`CustomerSheet.edit`): a row whose Status the hub cannot
    read fails only its own customer's events (`CustomerRows`), with a reason staff can act on."""
    customers: list[Customer] = []
    unreadable: dict[str, str] = {}
    for cells in rows:
        try:
            customers.append(from_cells(cells))
        except UnknownStatus:
            cell = _reader(cells)
            unreadable.setdefault(normalise_email(cell(EMAIL)), cell(STRIPE))
    return CustomerRows(customers, unreadable)
