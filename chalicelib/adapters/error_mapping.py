"""The `with` block that turns one SDK's exceptions into the hub's error kinds, written once.

Each real adapter knows its SDK's errors (botocore's, slack_sdk's, smtplib's); what they
share is the plumbing: let the hub's own errors through, ask the adapter's `_map` what
an SDK exception means, raise that chained to the original (so the traceback keeps the
SDK's detail), and let through what `_map` does not know.
"""

from __future__ import annotations

from chalicelib.errors import HubError


class ErrorMapper:
    """Base of an adapter's error-mapping context manager; subclasses implement `_map`."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
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
