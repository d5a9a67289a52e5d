"""Structured JSON logs (Powertools Logger), one line per fact, with the event id.

Log identifiers and outcomes, never payloads: emails' bodies, addresses and card data
stay out of the logs, and so do secrets. As a last line of defence every log line is
scrubbed on its way out: an email address anywhere in it (a provider's error message
naming a recipient, a traceback) is masked to `j***@corp.example`, and a long value is
cut, so one huge field cannot flood the logs either.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, cast

from chalicelib.domain.validation import redact

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

MAX_LOGGED_TEXT = 2000
SERVICE = "chocohub"


def scrub(value: Any) -> Any:
    """`value` with every text in it cut to `MAX_LOGGED_TEXT` and its emails masked."""
    if isinstance(value, str):
        cut = value if len(value) <= MAX_LOGGED_TEXT else value[:MAX_LOGGED_TEXT] + "…(cut)"
        return redact(cut)
    if isinstance(value, dict):
        return {key: scrub(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(item) for item in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return scrub(str(value))


def _powertools_logger() -> Logger:
    """The Powertools Logger, with every line scrubbed (`scrub`) just before it is written."""
    from aws_lambda_powertools import Logger
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    class ScrubbingFormatter(LambdaPowertoolsFormatter):
        def serialize(self, log: dict[str, Any]) -> str:  # type: ignore[override]
            return super().serialize(scrub(log))

    return Logger(service=SERVICE, logger_formatter=ScrubbingFormatter())


class _OnFirstUse:
    """Stands for the Logger until its first use builds it. Importing Powertools costs a
    Lambda cold start some 25 ms (it brings its metrics, tracing and JMESPath along), and
    importing `app` must not pay for it: whatever logs first does, once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logger: Logger | None = None

    def _get(self) -> Logger:
        if self._logger is None:
            with self._lock:
                if self._logger is None:
                    self._logger = _powertools_logger()
        return self._logger

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)


logger = cast("Logger", _OnFirstUse())
