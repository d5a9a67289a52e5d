"""What every provider's ingress shares: refusals with an HTTP status, and small parsers."""

from __future__ import annotations

import json
from typing import Any

MAX_BODY = 1024 * 1024  # 1 MiB, as DESIGN.md §2 promises


class Rejection(Exception):
    """A request refused at the door; nothing was queued. `status` is the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def check_size(raw: bytes) -> None:
    if len(raw) > MAX_BODY:
        raise Rejection(413, f"body of {len(raw)} bytes is over the 1 MiB limit")


def media_type(headers: dict[str, str]) -> str:
    """The request's media type, lower-cased, without parameters such as charset."""
    value = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    return value.split(";", 1)[0].strip().lower()


def header(headers: dict[str, str], name: str) -> str:
    """A header's value, found case-insensitively ('' when absent)."""
    return next((v for k, v in headers.items() if k.lower() == name.lower()), "")


def parse_json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Rejection(400, f"{what}: body is not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise Rejection(400, f"{what}: body must be a JSON object")
    return data


def format_address(parts: list[str]) -> str:
    """One line from an address's parts, empty parts left out."""
    return ", ".join(p.strip() for p in parts if p and p.strip())
