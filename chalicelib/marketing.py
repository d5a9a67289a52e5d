"""The marketing email: built from templates, pure (no sending here)."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from chalicelib.domain.catalog import Catalog
from chalicelib.domain.customer import Customer
from chalicelib.ports import Email

if TYPE_CHECKING:
    import jinja2

from chalicelib.unsubscribe import make_token

_TEMPLATES = Path(__file__).parent / "templates"


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    import jinja2  # lazily: only the mail consumer needs it

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=jinja2.select_autoescape(["html.j2"]),
        undefined=jinja2.StrictUndefined,
    )


def unsubscribe_url(public_url: str, secret: str, email: str) -> str:
    return f"{public_url.rstrip('/')}/unsubscribe/{make_token(secret, email)}"


def compose(
    customer: Customer,
    campaign: str,
    catalog: Catalog,
    public_url: str,
    secret: str,
    mail_domain: str,
) -> Email:
    """The campaign's email to `customer`, with RFC 8058 one-click unsubscribe headers.

    A welcome for a customer already on the upsell box, else the upsell: decided now,
    from the box they have when the email leaves.

    The Message-ID derives from (email, campaign), so a resend after a crash is
    recognisable as the same message by any mail system that deduplicates on it.
    """
    upsell = catalog.by_sku(catalog.upsell)
    welcome = catalog.welcomes(customer.box)
    url = unsubscribe_url(public_url, secret, customer.email)
    context = {
        "name": customer.name,
        "box_name": upsell.name if upsell else catalog.upsell,
        "welcome": welcome,
        "unsubscribe_url": url,
    }
    env = _env()
    digest = hashlib.sha256(f"{customer.email}|{campaign}".encode()).hexdigest()[:32]
    subject = f"Welcome to the {context['box_name']}" if welcome else f"Treat yourself to the {context['box_name']}"
    return Email(
        to=customer.email,
        subject=subject,
        text=env.get_template("marketing.txt.j2").render(context),
        html=env.get_template("marketing.html.j2").render(context),
        headers={
            "List-Unsubscribe": f"<{url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        message_id=f"<{campaign}.{digest}@{mail_domain}>",
    )
