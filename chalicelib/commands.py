"""The operators' commands, as typed after `/chocobox` or after an @-mention.

Who may run what: `help` answers anyone; every other command reads customer data or
acts, so it answers only the Slack users listed in `SLACK_OPERATORS` (none listed: only
`help` answers). A customer's row is shown only where no one else sees it (a slash
command's ephemeral answer) or in the configured channel. Every value taken from the
sheet, a dead letter or the command line is escaped for Slack (`slack_markup`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection

from chalicelib import dead_letters
from chalicelib.domain.customer import normalise_email
from chalicelib.domain.validation import redact
from chalicelib.domain.words import plural
from chalicelib.ports import Ports
from chalicelib.slack_markup import escape

HELP = (
    "*chocohub* commands:\n"
    "• `help`: this list\n"
    "• `stats`: customers by status, consents, emails sent, dead letters\n"
    "• `find <email>`: one customer's row\n"
    "• `retry`: list the dead letters; `retry all` or `retry <id>` replays them\n"
    "Every command but `help` is for the operators in SLACK_OPERATORS."
)


def changes_state(text: str) -> bool:
    """True for a command that acts (`retry all`, `retry <id>`), not one that only reads."""
    words = _strip_mention(text).split()
    return len(words) > 1 and words[0].lower() == "retry"


def _verb(text: str) -> str:
    """The command a line asks for; anything unknown is `help`."""
    words = _strip_mention(text).split()
    verb = words[0].lower() if words else "help"
    if verb == "find" and len(words) < 2:
        return "help"
    return verb if verb in ("stats", "find", "retry") else "help"


def refusal(text: str, user: str, operators: Collection[str]) -> str | None:
    """Why `user` may not run this command line, or None when they may."""
    verb = _verb(text)
    if verb == "help" or user in operators:
        return None
    if not operators:
        return (
            f"`{verb}` is turned off: no operators are set. Add Slack user ids to SLACK_OPERATORS "
            "(comma-separated) to let them use it; `help` works for everyone."
        )
    return (
        f"Only the hub's operators may run `{verb}`. Ask an admin to add your Slack user id "
        f"({escape(user or 'unknown')}) to SLACK_OPERATORS."
    )


def answer(text: str, ports: Ports, *, user: str, posted_in: str = "") -> str:
    """The reply to a command line from `user`; unknown commands get the help.

    `posted_in` is the channel where everyone will see the reply ('' when only the asker
    will): a customer's row is shown there only when it is the configured channel.
    """
    refused = refusal(text, user, ports.operators)
    if refused:
        return refused
    words = _strip_mention(text).split()
    verb = _verb(text)
    if verb == "find" and posted_in and posted_in != ports.channel:
        return (
            "Customer rows are shown only in the configured channel (SLACK_CHANNEL, as a channel id C…) "
            "or to you alone: use `/chocobox find <email>`."
        )
    if verb == "stats":
        return _stats(ports)
    if verb == "find":
        return _find(ports, words[1])
    if verb == "retry":
        return _retry(ports, words[1:])
    return HELP


def _strip_mention(text: str) -> str:
    # An app_mention's text starts with `<@U123>`: the bot's own name is not a command.
    return " ".join(w for w in text.split() if not (w.startswith("<@") and w.endswith(">")))


def _stats(ports: Ports) -> str:
    customers = ports.sheet.all()
    by_status = Counter(c.status for c in customers)
    statuses = ", ".join(f"{escape(status)}: {n}" for status, n in sorted(by_status.items())) or "none"
    consenting = sum(1 for c in customers if c.consent)
    return (
        f"*{plural(len(customers), 'customer')}* ({statuses})\n"
        f"Marketing consent: {consenting}\n"
        f"Marketing emails sent: {ports.mail_log.sent_count()}\n"
        f"Dead letters: {len(ports.dead_letters.list())}"
    )


def _find(ports: Ports, raw: str) -> str:
    # Slack turns an email into `<mailto:a@b.c|a@b.c>`: keep the address.
    email = normalise_email(raw.strip("<>").split("|")[-1].removeprefix("mailto:"))
    customer = ports.sheet.get(email)
    if customer is None:
        return f"No customer with email {escape(email)}."
    c = customer
    return (
        f"*{escape(c.name or c.email)}* ({escape(c.email)})\n"
        f"Status: {escape(c.status)}{f' (ends on {escape(c.ends_on)})' if c.ends_on else ''} · "
        f"Box: {escape(c.box or '-')} · "
        f"Consent: {'yes' if c.consent else 'no'}\n"
        f"Stripe: {escape(c.stripe_customer or '-')} · Signed up: {escape(c.signed_up or '-')} · "
        f"Last order: {escape(c.last_order or '-')}"
    )


def _retry(ports: Ports, args: list[str]) -> str:
    if args:
        return escape(dead_letters.replay(ports.dead_letters, args).summary())
    letters = ports.dead_letters.list()
    if not letters:
        return "No dead letters."
    # Reasons are written without personal data; letters from before that rule may not be.
    lines = [f"• `{escape(redact(dead_letters.describe(d)))}`" for d in letters[:20]]
    more = f"\n…and {len(letters) - 20} more" if len(letters) > 20 else ""
    return f"*{plural(len(letters), 'dead letter')}*\n" + "\n".join(lines) + more
