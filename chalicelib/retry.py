"""Bounded retries of one service's calls: exponential backoff with full jitter, honouring a
server's `Retry-After`, for `TransientError` only.

Each adapter wraps its calls with `service_retry(...)`; what still fails after the last
attempt goes back to the queue, which retries later with its own, longer backoff.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from chalicelib.errors import TransientError
from chalicelib.logs import logger

T = TypeVar("T")

# The first backoff step, in seconds, unless the adapter passes `Settings.retry_base`
# (HUB_RETRY_BASE; chaos runs shrink it so thousands of injected faults stay quick).
DEFAULT_BASE = 0.5
# A call to a service is tried this many times, waiting at most MAX_WAIT seconds between tries.
ATTEMPTS = 4
MAX_WAIT = 8.0


def parse_retry_after(value: str | float | None) -> float | None:
    """HTTP `Retry-After` as seconds from now, or None when there is no usable hint.

    Every adapter reads a server's hint through this one function, so all adapters agree on
    it. The header is delay-seconds (`"120"`) or an HTTP-date, and a date already past
    means "now" (0.0). Missing, unreadable, negative or non-finite values give None: a
    server's garbage never becomes a wait, the caller's own backoff applies instead.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:  # not a number: an HTTP-date, or garbage
            try:
                moment = parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError):
                return None
            if moment.tzinfo is None:  # "-0000" parses as naive; HTTP dates are always GMT
                moment = moment.replace(tzinfo=UTC)
            return max(0.0, moment.timestamp() - time.time())
    else:
        seconds = float(value)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def slowest_call(timeout: float) -> float:
    """Seconds one call to a service may take with all its retries, each try timing out."""
    return ATTEMPTS * timeout + (ATTEMPTS - 1) * MAX_WAIT


def service_retry(
    service: str,
    *,
    base: float = DEFAULT_BASE,
    attempts: int = ATTEMPTS,
    max_wait: float = MAX_WAIT,
    sleep: Callable[[float], None] | None = None,
) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorate a call to a service so that a `TransientError` is retried up to `attempts` times.

    Waits grow exponentially from `base` (`HUB_RETRY_BASE`, 0.5 s) with full jitter, capped at `max_wait`; a
    `retry_after` hint replaces the computed wait when it fits under `max_wait`, and
    stops the retries when it does not (the queue's delay will honour it instead).
    """
    import tenacity  # lazily: only the consumers retry

    def wait(state: tenacity.RetryCallState) -> float:
        hint = getattr(state.outcome.exception(), "retry_after", None) if state.outcome else None
        if hint:
            return float(hint)
        return tenacity.wait_random_exponential(multiplier=base, max=max_wait)(state)

    def stop(state: tenacity.RetryCallState) -> bool:
        hint = getattr(state.outcome.exception(), "retry_after", None) if state.outcome else None
        return state.attempt_number >= attempts or bool(hint and hint > max_wait)

    def log(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        logger.warning("service retry", extra={"service": service, "attempt": state.attempt_number, "reason": str(exc)})

    kwargs: dict[str, Any] = {
        "retry": tenacity.retry_if_exception_type(TransientError),
        "stop": stop,
        "wait": wait,
        "reraise": True,
        "before_sleep": log,
    }
    if sleep is not None:
        kwargs["sleep"] = sleep
    decorator: Callable[[Callable[..., T]], Callable[..., T]] = tenacity.retry(**kwargs)
    return decorator
