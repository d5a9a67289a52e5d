"""The customer sheet's layout, shared by every sheet adapter: headers and cell values."""

from __future__ import annotations

from chalicelib.domain.customer import Customer, normalise_email

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


def from_cells(cells: dict[str, str]) -> Customer:
    """A customer from a row's cells by header; headers compared case-insensitively.

    Rows typed by hand may hold anything: consent is yes only for `yes` (or y/true/1).
    """
    lower = {k.strip().lower(): ("" if v is None else str(v).strip()) for k, v in cells.items()}

    def cell(header: str) -> str:
        return lower.get(header.lower(), "")

    return Customer(
        email=normalise_email(cell(EMAIL)),
        name=cell(NAME),
        address=cell(ADDRESS),
        box=cell(BOX),
        status=cell(STATUS).lower() or "registered",
        consent=cell(CONSENT).lower() in ("yes", "y", "true", "1"),
        stripe_customer=cell(STRIPE),
        signed_up=cell(SIGNED_UP),
        last_order=cell(LAST_ORDER),
        ends_on=cell(ENDS_ON),
    )
