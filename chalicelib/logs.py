"""Structured JSON logs (Powertools Logger), one line per fact, with the event id.

Log identifiers and outcomes, never payloads: emails' bodies, addresses and card data
stay out of the logs, and so do secrets. As a last line of defence every log line is
scrubbed on its way out: an email address anywhere in it (a provider's error message
naming a recipient, a traceback) is masked to `j***@corp.example`, and a long value is
cut, so one huge field cannot flood the logs either.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from chalicelib.domain.validation import redact

MAX_LOGGED_TEXT = 2000


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


class ScrubbingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON lines, scrubbed (`scrub`) just before they are written."""

    def serialize(self, log: dict[str, Any]) -> str:  # type: ignore[override]
        return super().serialize(scrub(log))


logger = Logger(service="chocohub", logger_formatter=ScrubbingFormatter())
