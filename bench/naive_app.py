"""The naive baseline, for `make bench` only: the seed's way of gluing the same services.

Each webhook runs the whole chain inline before it answers, one API call per step, with
the same client libraries the hub uses (gspread, xmlrpc.client, smtplib, slack_sdk,
stripe), imported at the top as a first version would: find the row (one read), append
or update it (one write); log in to Odoo, find or create the partner, find the product,
create and confirm the order; send the email; post to Slack. A failure answers 500, and
the sender (Stripe, Formstack) must retry. Nothing here is used by the hub.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import smtplib
import xmlrpc.client
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

import gspread
import stripe
from chalice import Chalice, Response
from slack_sdk import WebClient

app = Chalice(app_name="naive")
FORM = "application/x-www-form-urlencoded"
PRICES = {"price_super_monthly": "BOX-SUPER", "price_classic_monthly": "BOX-CLASSIC"}
_state: dict[str, object] = {}


def worksheet() -> gspread.Worksheet:
    """The worksheet, opened once (the one thing even a first version caches)."""
    if "ws" not in _state:
        client = gspread.service_account_from_dict(json.loads(os.environ["GOOGLE_SERVICE_ACCOUNT"]))
        base = os.environ["GOOGLE_SHEETS_API_URL"]
        from chalicelib.adapters.sheet_google import _sheets_transport

        client.http_client.session.mount("https://sheets.googleapis.com", _sheets_transport(base, lambda kind: None))
        book = client.open_by_key(os.environ["GOOGLE_SHEET_ID"])
        try:
            _state["ws"] = book.worksheet("Customers")
        except gspread.WorksheetNotFound:
            ws = book.add_worksheet("Customers", rows=5000, cols=10)
            ws.update([["Email", "Name", "Box", "Status", "Marketing consent", "Stripe customer", "Last order"]], "A1")
            _state["ws"] = ws
    return _state["ws"]  # type: ignore[return-value]


def save_row(email: str, values: dict[int, str]) -> None:
    """One lookup (a read), then one append or one update (a write)."""
    ws = worksheet()
    cell = ws.find(email, in_column=1)
    if cell is None:
        line = [""] * 7
        line[0] = email
        for col, value in values.items():
            line[col - 1] = value
        ws.append_row(line, value_input_option="RAW", table_range="A1")
    else:
        ws.batch_update(
            [{"range": f"{chr(64 + col)}{cell.row}", "values": [[value]]} for col, value in values.items()],
            value_input_option="RAW",
        )


class Odoo:
    """One login per webhook, then one `execute_kw` per step."""

    def __init__(self) -> None:
        self.url, self.db, user, self.key = (
            os.environ[k] for k in ("ODOO_URL", "ODOO_DB", "ODOO_USER", "ODOO_API_KEY")
        )
        self.uid = xmlrpc.client.ServerProxy(f"{self.url}/xmlrpc/2/common").authenticate(self.db, user, self.key, {})

    def __call__(self, model: str, method: str, *args: object) -> object:
        proxy = xmlrpc.client.ServerProxy(f"{self.url}/xmlrpc/2/object", allow_none=True)
        return proxy.execute_kw(self.db, self.uid, self.key, model, method, list(args), {})


def send_mail(to: str) -> None:
    parts = urlsplit(os.environ["SMTP_URL"])
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "hello@shop.example", to, "Welcome"
    message.set_content("Welcome to the chocolate box club.")
    with smtplib.SMTP(parts.hostname or "", parts.port or 25, timeout=10) as smtp:
        smtp.starttls()
        smtp.login(unquote(parts.username or ""), unquote(parts.password or ""))
        smtp.send_message(message)


def slack(text: str) -> None:
    WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"]).chat_postMessage(
        channel="#orders", text=text
    )


def failed(exc: Exception) -> Response:
    return Response(body={"error": f"{type(exc).__name__}"}, status_code=500)


@app.route("/webhooks/formstack", methods=["POST"], content_types=[FORM])
def formstack() -> Response | dict:
    raw = app.current_request.raw_body
    key = os.environ["FORMSTACK_HMAC_KEY"].encode()
    signature = app.current_request.headers.get("x-fs-signature", "")
    if not hmac.compare_digest(signature, "sha256=" + hmac.new(key, raw, hashlib.sha256).hexdigest()):
        return Response(body={"error": "bad signature"}, status_code=401)
    fields = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
    email = fields["Email"].strip().lower()
    try:
        save_row(email, {2: fields.get("Name", ""), 4: "registered", 5: "yes" if fields.get("Newsletter") else "no"})
        if fields.get("Newsletter"):
            send_mail(email)
    except Exception as exc:
        return failed(exc)
    return {"ok": True}


@app.route("/webhooks/stripe", methods=["POST"], content_types=["application/json"])
def stripe_webhook() -> Response | dict:
    raw = app.current_request.raw_body
    try:
        event = stripe.Webhook.construct_event(
            raw, app.current_request.headers.get("stripe-signature", ""), os.environ["STRIPE_WEBHOOK_SECRET"]
        ).to_dict()
    except Exception:
        return Response(body={"error": "bad signature"}, status_code=401)
    invoice = event["data"]["object"]
    email = invoice["customer_email"].strip().lower()
    line = invoice["lines"]["data"][0]
    sku = PRICES[line["pricing"]["price_details"]["price"]]
    try:
        save_row(email, {4: "active", 6: invoice["customer"], 7: invoice["id"]})
        odoo = Odoo()
        partners = odoo("res.partner", "search", [["email", "=", email]])
        partner = partners[0] if partners else odoo("res.partner", "create", {"name": email, "email": email})
        [product] = odoo("product.product", "search", [["default_code", "=", sku]])
        order = odoo(
            "sale.order",
            "create",
            {"partner_id": partner, "client_order_ref": invoice["id"], "order_line": [[0, 0, {"product_id": product}]]},
        )
        odoo("sale.order", "action_confirm", [order])
        slack(f"Box paid by {email} ({invoice['id']})")
    except Exception as exc:
        return failed(exc)
    return {"ok": True}
