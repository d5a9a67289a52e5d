"""The queue names, one per consumer (one Lambda each in AWS), and which event goes where.

A module of its own so that the entry points, the door and the AWS resources can name
the queues without importing the flows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalicelib.domain import events as ev

SIGNUPS = "signups"
PAYMENTS = "payments"
MAIL = "mail"
SLACK = "slack"

# Every queue, in the order the AWS resources are created and listed.
QUEUES: tuple[str, ...] = (SIGNUPS, PAYMENTS, MAIL, SLACK)


def queue_for(event: ev.Event) -> str:
    """The consumer an event from the door goes to."""
    # Here, not at the top: `app` names its queues through this module on import, and the
    # events are only needed once one arrives.
    from chalicelib.domain import events as ev

    if isinstance(event, (ev.SignedUp, ev.Unsubscribed)):
        return SIGNUPS
    if isinstance(event, ev.MarketingDue):
        return MAIL
    if isinstance(event, (ev.SlackMention, ev.Notification, ev.SlowCommand)):
        return SLACK
    return PAYMENTS
