"""Structured JSON logs (Powertools Logger), one line per fact, with the event id.

Log identifiers and outcomes, never payloads: emails' bodies, addresses and card data
stay out of the logs, and so do secrets.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

logger = Logger(service="chocohub")
