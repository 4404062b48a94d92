"""Phone numbers: every number is kept in E.164."""

from __future__ import annotations

import unicodedata

import phonenumbers


class InvalidPhone(ValueError):
    """The text is not a valid phone number."""


def normalize_phone(raw: str | None, region: str = "CN") -> str:
    """E.164 form of a number typed any way (spaces, dashes, 0086, full-width digits)."""
    if raw is None:
        raise InvalidPhone("empty")
    text = unicodedata.normalize("NFKC", str(raw)).strip()
    if text.endswith(".0") and text[:-2].isdigit():  # a spreadsheet cell read as a float
        text = text[:-2]
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text:
        raise InvalidPhone("empty")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(text) from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(text)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def try_normalize(raw: str | None, region: str = "CN") -> str | None:
    """E.164 form, or None when the text is not a valid number."""
    try:
        return normalize_phone(raw, region)
    except InvalidPhone:
        return None
