"""Text the hub puts into a Slack message.

Slack reads `<!channel>`, `<@U…>` and `<https://…|label>` in a message's text as control
sequences, so a customer's name such as `<!channel> <https://evil.example|log in>`
would ping a whole channel with a phishing link. Every value the hub interpolates is
escaped the way Slack asks (`&`, `<`, `>`), which shows it as typed.
"""

from __future__ import annotations


def escape(value: object) -> str:
    """`value` as text that Slack shows literally."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
