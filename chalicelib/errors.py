"""The error kinds every layer shares.

A flow or an adapter raises one of these so that the queue consumer can decide, without
knowing any SDK, whether a message is retried later or dead-lettered at once.
"""

from __future__ import annotations


class HubError(Exception):
    """Base of the hub's own errors."""


class PermanentError(HubError):
    """Retrying cannot help (bad data, unknown product, access denied).

    The message goes to the dead letters at once, with this error's text as the reason.
    """


class TransientError(HubError):
    """A service is down, slow or rate-limited: retry later.

    `retry_after` (seconds) carries a server's own hint, such as HTTP `Retry-After`.
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ConfigurationError(PermanentError):
    """A setting is missing or wrong; the message says which and how to fix it."""
