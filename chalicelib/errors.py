"""The error kinds every layer shares.

A flow or an adapter raises one of these so that the queue consumer can decide, without
knowing any SDK, whether a message is retried later or dead-lettered at once.
"""

from __future__ import annotations

from typing import Literal


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


class ErrorMapper:
    """The `with` block that turns one SDK's exceptions into the hub's error kinds.

    Each real adapter knows its SDK's errors (botocore's, slack_sdk's, smtplib's); what
    they share is the plumbing: let the hub's own errors through, ask `_map` what an SDK
    exception means, raise that chained to the original (so the traceback keeps the
    SDK's detail), and let through what `_map` does not know.
    """

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> Literal[False]:
        if exc is None or isinstance(exc, HubError):
            return False
        mapped = self._map(exc)
        if mapped is None:
            return False
        raise mapped from exc

    def _map(self, exc: BaseException) -> Exception | None:
        """The hub error `exc` means (`TransientError`, `PermanentError`, ...), or None to
        let it through unchanged."""
        raise NotImplementedError
