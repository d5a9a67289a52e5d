"""Fault injection shared by every fake: scripted faults first, then a random rate.

Kinds: "429" (with Retry-After), "500", "503", "timeout" (hold the request past the
client's timeout, then drop it) and "reset" (close the connection without an answer).
"""

from __future__ import annotations

import random
import threading
from collections import Counter, deque

KINDS = ("429", "500", "503", "timeout", "reset")


class Faults:
    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._scripted: deque[str] = deque()
        self._rate = 0.0
        self._kinds: tuple[str, ...] = KINDS
        self._rng = random.Random(seed)
        self.timeout_delay = 2.0
        self.retry_after = "1"  # the Retry-After a 429 carries, in seconds
        self.injected: Counter[str] = Counter()

    def script(self, *kinds: str) -> None:
        """The next requests fail with these kinds, in order."""
        with self._lock:
            self._scripted.extend(kinds)

    def set_rate(self, rate: float, kinds: tuple[str, ...] = KINDS, seed: int | None = None) -> None:
        """From now on each request fails with probability `rate`, with a kind drawn from `kinds`."""
        with self._lock:
            self._rate = rate
            self._kinds = kinds
            if seed is not None:
                self._rng = random.Random(seed)

    def clear(self) -> None:
        with self._lock:
            self._scripted.clear()
            self._rate = 0.0

    def next(self) -> str | None:
        """The fault for the request now being served, or None to serve it normally."""
        with self._lock:
            if self._scripted:
                kind = self._scripted.popleft()
            elif self._rate and self._rng.random() < self._rate:
                kind = self._rng.choice(self._kinds)
            else:
                return None
            self.injected[kind] += 1
            return kind
