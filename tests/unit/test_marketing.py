"""The marketing email: its parts, its RFC 8058 headers, and a stable Message-ID."""

from __future__ import annotations

from chalicelib import marketing
from chalicelib.domain.catalog import Catalog
from chalicelib.domain.customer import Customer
from chalicelib.unsubscribe import make_token, read_token

CATALOG = Catalog.load(None)
URL = "https://hub.example.test/"
KEY = "k3y"


def compose(customer: Customer, campaign: str = "newcomer", domain: str = "shop.example"):
    return marketing.compose(customer, campaign, CATALOG, URL, KEY, domain)


def test_upsell_email_has_both_parts_and_the_one_click_headers():
    mail = compose(Customer(email="ann@example.com", name="Ann"))

    link = f"https://hub.example.test/unsubscribe/{make_token(KEY, 'ann@example.com')}"
    assert mail.to == "ann@example.com"
    assert mail.subject == "Treat yourself to the Super box"
    assert mail.headers == {"List-Unsubscribe": f"<{link}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    assert "Hello Ann," in mail.text
    assert link in mail.text
    assert f'href="{link}"' in mail.html
    assert "Super box" in mail.html


def test_the_link_carries_a_token_for_this_customer():
    mail = compose(Customer(email="ann@example.com"))
    token = mail.headers["List-Unsubscribe"].strip("<>").rsplit("/", 1)[-1]
    assert read_token(KEY, token) == "ann@example.com"


def test_welcome_email_for_the_upsell_box():
    mail = compose(Customer(email="ann@example.com", box="BOX-SUPER"))
    assert mail.subject == "Welcome to the Super box"
    assert "Welcome to the Super box" in mail.text


def test_a_customer_without_a_name_is_greeted_anyway():
    mail = compose(Customer(email="ann@example.com"))
    assert "Hello chocolate lover," in mail.text


def test_the_html_part_escapes_what_customers_typed():
    mail = compose(Customer(email="ann@example.com", name='<script>alert("x")</script>'))
    assert "<script>" not in mail.html
    assert "&lt;script&gt;" in mail.html
    assert '<script>alert("x")</script>' in mail.text  # plain text is not HTML


def test_message_id_is_stable_per_customer_and_campaign():
    ann = Customer(email="ann@example.com")
    first = compose(ann).message_id
    assert first == compose(Customer(email="ann@example.com", name="Ann Lee")).message_id
    assert first != compose(ann, campaign="spring-sale").message_id
    assert first != compose(Customer(email="bob@example.com")).message_id
    assert first.startswith("<newcomer.")
    assert first.endswith("@shop.example>")


def test_unsubscribe_url_has_no_double_slash():
    assert marketing.unsubscribe_url("https://hub.example.test/", KEY, "a@b.co").startswith(
        "https://hub.example.test/unsubscribe/"
    )
