"""`parse_retry_after`: the one reading of HTTP `Retry-After` every adapter shares."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest

from chalicelib.retry import parse_retry_after


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("3", 3.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("1.5", 1.5),
        (7, 7.0),
        (2.5, 2.5),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # a date already past: now
        ("Wed, 21 Oct 2015 07:28:00 -0000", 0.0),
    ],
)
def test_readable_hints(value: str | float, seconds: float) -> None:
    assert parse_retry_after(value) == seconds


@pytest.mark.parametrize("value", [None, "", "   ", "soon", "-5", -1, "nan", "inf", float("inf"), "Wed, 99 Foo", True])
def test_no_usable_hint(value: object) -> None:
    assert parse_retry_after(value) is None  # type: ignore[arg-type]


def test_a_future_http_date_counts_from_now() -> None:
    in_a_minute = formatdate(time.time() + 60, usegmt=True)

    seconds = parse_retry_after(in_a_minute)

    assert seconds is not None and 55 <= seconds <= 60
