"""What a field from outside must be before the hub keeps it: bounded, printable, and,
for an email address, one address that mail can be sent to.

Every check is linear in the field's length, and the length is capped before anything
else looks at it: one hostile field must not stall the single embedded dispatcher.
Messages say what is wrong without repeating the value, so a refusal can be logged,
answered and kept as a dead letter's reason without carrying personal data.
"""

from __future__ import annotations

import re
import unicodedata

from chalicelib.errors import PermanentError

# RFC 5321 allows 254 characters in a forward path; nothing longer is deliverable.
MAX_EMAIL = 254
MAX_NAME = 200
MAX_ADDRESS = 500
MAX_SHORT = 100  # a box's form value, a currency, a status
MAX_ID = 255  # provider ids: Stripe's, Formstack's, Slack's

# Zero-width joiners are part of some scripts and of emoji; other format characters
# (bidi overrides, zero-width spaces) only hide what a text says.
_JOINERS = {"\u200c", "\u200d"}
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Co"}
_WHITESPACE = re.compile(r"[\t\r\n]+")

# Scripts that UTS #39's "highly restrictive" level lets share one label.
_SCRIPT_FAMILIES = (
    frozenset({"LATIN", "CJK", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "CJK", "HANGUL"}),
    frozenset({"LATIN", "CJK", "BOPOMOFO"}),
)
_SCRIPT_ALIASES = {"FULLWIDTH": "LATIN", "HALFWIDTH": "KATAKANA"}


class InvalidField(PermanentError):
    """A field that the hub refuses; the message names the field, never its value."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def clean_text(value: str, field: str, max_length: int) -> str:
    """`value` in Unicode NFC, trimmed, tabs and line breaks as spaces; `InvalidField`
    when it is too long or holds control, format, private or replacement characters."""
    if len(value) > max_length:
        raise InvalidField(field, f"longer than {max_length} characters")
    text = unicodedata.normalize("NFC", _WHITESPACE.sub(" ", value)).strip()
    for char in text:
        if char == "\ufffd":
            raise InvalidField(field, "holds U+FFFD (text that was not valid UTF-8 somewhere)")
        if unicodedata.category(char) in _REFUSED_CATEGORIES and char not in _JOINERS:
            raise InvalidField(field, f"holds the control or invisible character U+{ord(char):04X}")
    return text


def valid_email(raw: str, field: str = "email") -> str:
    """One deliverable-looking address, normalised (NFC, IDNA domain, lower-cased); else
    `InvalidField` saying what is wrong. Syntax only: no DNS, so no I/O and linear time."""
    text = clean_text(raw or "", field, MAX_EMAIL)
    if not text:
        raise InvalidField(field, "not an email address: it is empty")
    from email_validator import EmailNotValidError, validate_email  # lazily: ~0.4 s of import

    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidField(field, f"not an email address: {_without_quotes(str(exc))}") from exc
    local, _, domain = result.normalized.rpartition("@")
    for part in (local, *domain.split(".")):
        if _mixed_scripts(part):
            raise InvalidField(field, "mixes alphabets in one part (a look-alike address)")
    return result.normalized.lower()


def _without_quotes(message: str) -> str:
    """email-validator's message without parenthesised details that quote the input."""
    return re.sub(r"\s*\([^()]*'[^()]*\)", "", message)


def _script(char: str) -> str:
    """The script of a letter, from the first word of its Unicode name (LATIN, CYRILLIC…)."""
    first = unicodedata.name(char, "UNKNOWN").split(" ", 1)[0]
    return _SCRIPT_ALIASES.get(first, first)


def _mixed_scripts(label: str) -> bool:
    scripts = {_script(c) for c in label if c.isalpha()}
    if len(scripts) <= 1:
        return False
    return not any(scripts <= family for family in _SCRIPT_FAMILIES)


def mask_email(email: str) -> str:
    """`jane.doe@corp.example` → `j***@corp.example`: enough to tell customers apart in a
    log, not enough to write to them."""
    local, at, domain = email.rpartition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


_ADDRESS_CHARS = r"[^\s@<>()\[\]{},;:\"'`|\\/]"
# The look-behind starts a match only where a run of address characters starts, so a long
# run without an `@` costs one pass, not one pass per start position (which is quadratic).
_EMAIL_LIKE = re.compile(rf"(?<!{_ADDRESS_CHARS}){_ADDRESS_CHARS}+@{_ADDRESS_CHARS}+")


def redact(text: str) -> str:
    """`text` with every email-looking word masked (`j***@corp.example`), in linear time."""
    if "@" not in text:
        return text
    return _EMAIL_LIKE.sub(lambda m: mask_email(m.group(0)), text)
