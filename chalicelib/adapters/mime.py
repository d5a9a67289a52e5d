"""The MIME form of an `Email`, shared by every mailer.

Headers are kept unfolded up to 998 characters (RFC 5322's hard limit): the stdlib's
SMTP policy would otherwise RFC 2047-encode a long `List-Unsubscribe`, which mail
clients then fail to read.
"""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.utils import formatdate

from chalicelib.ports import Email

POLICY = policy.SMTP.clone(max_line_length=998)


def to_mime(email: Email, sender: str) -> EmailMessage:
    msg = EmailMessage(policy=POLICY)
    msg["From"] = sender
    msg["To"] = email.to
    msg["Subject"] = email.subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = email.message_id
    for name, value in email.headers.items():
        msg[name] = value
    msg.set_content(email.text)
    msg.add_alternative(email.html, subtype="html")
    return msg
