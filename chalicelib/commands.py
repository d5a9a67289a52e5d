"""The operators' commands, as typed after `/chocobox` or after an @-mention."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from chalicelib import operations
from chalicelib.domain.customer import normalise_email

if TYPE_CHECKING:
    from chalicelib.flows import Ports

HELP = (
    "*chocohub* commands:\n"
    "• `help`: this list\n"
    "• `stats`: customers by status, consents, emails sent, dead letters\n"
    "• `find <email>`: one customer's row\n"
    "• `retry`: list the dead letters; `retry all` or `retry <id>` replays them"
)


def changes_state(text: str) -> bool:
    """True for a command that acts (`retry all`, `retry <id>`), not one that only reads."""
    words = _strip_mention(text).split()
    return len(words) > 1 and words[0].lower() == "retry"


def answer(text: str, ports: Ports) -> str:
    """The reply to a command line; unknown commands get the help."""
    words = _strip_mention(text).split()
    verb = words[0].lower() if words else "help"
    if verb == "stats":
        return _stats(ports)
    if verb == "find" and len(words) > 1:
        return _find(ports, words[1])
    if verb == "retry":
        return _retry(ports, words[1:])
    return HELP


def _strip_mention(text: str) -> str:
    # An app_mention's text starts with `<@U123>`: the bot's own name is not a command.
    return " ".join(w for w in text.split() if not (w.startswith("<@") and w.endswith(">")))


def _stats(ports: Ports) -> str:
    customers = ports.sheet.all()
    by_status = Counter(c.status or "(none)" for c in customers)
    statuses = ", ".join(f"{status}: {n}" for status, n in sorted(by_status.items())) or "none"
    consenting = sum(1 for c in customers if c.consent)
    return (
        f"*{len(customers)} customers* ({statuses})\n"
        f"Marketing consent: {consenting}\n"
        f"Marketing emails sent: {ports.mail_log.sent_count()}\n"
        f"Dead letters: {len(ports.dead_letters.list())}"
    )


def _find(ports: Ports, raw: str) -> str:
    # Slack turns an email into `<mailto:a@b.c|a@b.c>`: keep the address.
    email = normalise_email(raw.strip("<>").split("|")[-1].removeprefix("mailto:"))
    customer = ports.sheet.get(email)
    if customer is None:
        return f"No customer with email {email}."
    return (
        f"*{customer.name or customer.email}* <{customer.email}>\n"
        f"Status: {customer.status} · Box: {customer.box or '-'} · "
        f"Consent: {'yes' if customer.consent else 'no'}\n"
        f"Stripe: {customer.stripe_customer or '-'} · Signed up: {customer.signed_up or '-'} · "
        f"Last order: {customer.last_order or '-'}"
    )


def _retry(ports: Ports, args: list[str]) -> str:
    if args:
        return operations.replay(ports.dead_letters, args).summary()
    letters = ports.dead_letters.list()
    if not letters:
        return "No dead letters."
    lines = [f"• `{operations.describe(d)}`" for d in letters[:20]]
    more = f"\n…and {len(letters) - 20} more" if len(letters) > 20 else ""
    return f"*{len(letters)} dead letters*\n" + "\n".join(lines) + more
