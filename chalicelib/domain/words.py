"""How the hub counts in words, for people (the CLI, Slack, the health page)."""

from __future__ import annotations


def plural(count: int, noun: str, nouns: str = "") -> str:
    """`1 dead letter`, `2 dead letters`, `0 queues` (`nouns` for irregular plurals)."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"
