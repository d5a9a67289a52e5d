"""SQS's redrive and retention, taken from the consumer's own redelivery policy.

The consumer dead-letters a message itself, with its reason and failing step, once it
has kept failing for `HUB_GIVE_UP_AFTER` (`chalicelib.redelivery`). SQS's redrive policy
is only the backstop for deliveries that never finish (a Lambda timeout or crash): it
must not fire before the policy does, and the queues must keep a message longer than
the policy may retry it. The numbers are the policy's own, never copied.
"""

from __future__ import annotations

from chalicelib.plumbing.aws import DLQ_RETENTION
from chalicelib.redelivery import MAX_DELAY, MAX_GIVE_UP_AFTER, MAX_RECEIVE_COUNT, QUEUE_RETENTION, most_deliveries

DEAD_LETTER_RETENTION = DLQ_RETENTION

__all__ = ["DEAD_LETTER_RETENTION", "MAX_RECEIVE_COUNT", "QUEUE_RETENTION", "longest_retry_window", "most_deliveries"]


def longest_retry_window(visibility_timeout: int) -> float:
    """Seconds a message may be retried before the policy gives up, at the longest
    `HUB_GIVE_UP_AFTER` allowed: its last delivery may still wait out a delay and a
    full visibility timeout."""
    return MAX_GIVE_UP_AFTER + MAX_DELAY + visibility_timeout
