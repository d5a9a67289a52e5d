"""When a failed message is delivered again, and when the hub stops trying.

Both runtimes share this policy, and the AWS resources are sized from its constants
(see `chalicelib.plumbing.aws`): a quota wall or an outage of a few hours must cost
nothing but time, as Stripe itself keeps retrying for three days. So a message that
keeps failing with a transient error is handed back to its queue with a delay that
grows to `MAX_DELAY` (15 minutes) and becomes a dead letter only once it has been
failing for `give_up_after` (`HUB_GIVE_UP_AFTER`, 24 h by default), counted from its
first delivery, never after a number of deliveries.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# The longest a failed message waits before its next delivery (a box should not wait more).
MAX_DELAY = 900.0
# The default of HUB_GIVE_UP_AFTER.
DEFAULT_GIVE_UP_AFTER = 24 * 3600.0
# SQS's redrive (`maxReceiveCount`), and the embedded dispatcher's: only a backstop for
# messages that crash or time out their consumer, which never gets to park them. SQS's
# maximum, so that it stays above `most_deliveries(give_up_after)`: the policy decides.
MAX_RECEIVE_COUNT = 1000
# The longest HUB_GIVE_UP_AFTER may be: 5 days allow at most 969 failed deliveries,
# under `MAX_RECEIVE_COUNT` (and longer than Stripe's 3 days of retries).
MAX_GIVE_UP_AFTER = 5 * 24 * 3600.0
# How long SQS keeps a message in a consumer's queue: its maximum, 14 days, so that a
# message is never deleted by age while the policy still retries it.
QUEUE_RETENTION = 14 * 24 * 3600


def most_deliveries(give_up_after: float, max_delay: float = MAX_DELAY) -> int:
    """An upper bound of the deliveries a message can fail within `give_up_after`.

    Each delay is at least half of min(2**n, max_delay) (equal jitter), so after the
    first ten the message waits `max_delay / 2` or more between deliveries. SQS's own
    redrive (`maxReceiveCount`) must stay above this, or it would park a message the
    policy still retries.
    """
    ramp = 0
    elapsed = 0.0
    while 2.0**ramp < max_delay and elapsed < give_up_after:
        ramp += 1
        elapsed += min(2.0**ramp, max_delay) / 2
    return ramp + int(max(0.0, give_up_after - elapsed) // (max_delay / 2)) + 2


@dataclass(frozen=True)
class RedeliveryPolicy:
    """The delays between deliveries of a failing message, and when to give up.

    `clock` is the wall clock (seconds since the epoch), replaced in tests.
    """

    give_up_after: float = DEFAULT_GIVE_UP_AFTER
    max_delay: float = MAX_DELAY
    clock: Callable[[], float] = field(default=time.time, compare=False)

    def delay(self, receive_count: int, retry_after: float | None = None) -> float:
        """Seconds to hide a failed message: a server's `Retry-After` when it gave one
        (at least 1 s, at most `max_delay`), else exponential with equal jitter (half
        fixed, half random), so retries spread out but never come back in a flurry."""
        if retry_after:
            return min(max(retry_after, 1.0), self.max_delay)
        cap = min(self.max_delay, 2.0 ** min(max(receive_count, 1), 30))
        return random.uniform(cap / 2, cap)

    def failing_for(self, first_received_at: float) -> float:
        """Seconds since the message's first delivery."""
        return max(0.0, self.clock() - first_received_at)

    def gives_up(self, first_received_at: float) -> bool:
        """True once the message has kept failing for `give_up_after`."""
        return self.failing_for(first_received_at) >= self.give_up_after


def first_received_at(record: dict[str, Any], now: float) -> float:
    """When a record was first delivered, from SQS's `ApproximateFirstReceiveTimestamp`
    (milliseconds; the embedded queue sets it too), else its `SentTimestamp`, else now."""
    attributes = record.get("attributes") or {}
    for name in ("ApproximateFirstReceiveTimestamp", "SentTimestamp"):
        try:
            return int(attributes[name]) / 1000
        except (KeyError, TypeError, ValueError):
            continue
    return now


def describe(seconds: float) -> str:
    """A duration as people say it: `24 h`, `90 min`, `45 s`."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds:.0f} s"
