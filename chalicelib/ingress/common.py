"""What every provider's ingress shares: refusals with an HTTP status, and small parsers."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.domain.validation import MAX_EMAIL, InvalidField, clean_text, valid_email

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
    """The body's JSON object. Bounded: the body is at most 1 MiB, and nesting deeper than
    the interpreter's recursion limit is refused, not a crash (`RecursionError` is no
    `ValueError`)."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise Rejection(400, f"{what}: body is not UTF-8 text") from exc
    except ValueError as exc:  # json's message gives a position, never the text
        raise Rejection(400, f"{what}: body is not valid JSON ({exc})") from exc
    except RecursionError as exc:
        raise Rejection(400, f"{what}: body is nested too deeply") from exc
    if not isinstance(data, dict):
        raise Rejection(400, f"{what}: body must be a JSON object")
    return data


def format_address(parts: list[str]) -> str:
    """One line from an address's parts, empty parts left out."""
    return ", ".join(p.strip() for p in parts if p and p.strip())


def text(value: Any, where: str, max_length: int) -> str:
    """A text field as the hub keeps it (see `domain.validation.clean_text`); missing or
    null is empty; anything else (a number, an object) is a 400 naming the field."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Rejection(400, f"{where} must be text")
    try:
        return clean_text(value, where, max_length)
    except InvalidField as exc:
        raise Rejection(400, str(exc)) from exc


def email(value: Any, where: str, *, required: bool = True) -> str:
    """A normalised email address, or a 400 saying what is wrong with it (never quoting it)."""
    given = text(value, where, MAX_EMAIL)
    if not given and not required:
        return ""
    try:
        return valid_email(given, where)
    except InvalidField as exc:
        raise Rejection(400, str(exc)) from exc
