"""Phone numbers: every way a number is typed lands on one E.164 form."""

from __future__ import annotations

import pytest

from models.phones import InvalidPhone, normalize_phone, try_normalize

E164 = "+8613800138000"


@pytest.mark.parametrize(
    "raw",
    [
        "13800138000",
        "138-0013-8000",
        "138 0013 8000",
        "+86 138 0013 8000",
        "+86-138-0013-8000",
        "(+86) 138 0013 8000",
        "0086 138 0013 8000",
        "008613800138000",
        "8613800138000",
        "１３８００１３８０００",
        "＋８６　１３８　００１３　８０００",
        "０08613800138000",
        " 13800138000\t",
        "13800138000.0",
    ],
)
def test_every_way_of_typing_a_mobile_gives_e164(raw: str) -> None:
    """Spaces, dashes, +86, 0086, full-width digits and a spreadsheet's .0 all normalise alike."""
    assert normalize_phone(raw) == E164


def test_landline_with_trunk_prefix_and_foreign_number() -> None:
    """A Beijing landline keeps its area code; a number with its own country code keeps it."""
    assert normalize_phone("010-6552 9988") == "+861065529988"
    assert normalize_phone("+1 415 555 2671") == "+14155552671"
    assert normalize_phone("0044 20 7946 0958") == "+442079460958"


def test_default_region_reads_local_numbers() -> None:
    """Without a country code the number is read in the given region."""
    assert normalize_phone("(415) 555-2671", region="US") == "+14155552671"


@pytest.mark.parametrize(
    "raw",
    [None, "", "   ", "12345", "1380013800", "138001380001", "23800138000", "not a phone", "+"],
)
def test_text_that_is_no_valid_number_is_refused(raw: str | None) -> None:
    """Too short, too long, a prefix no carrier uses, or words: InvalidPhone, not a guess."""
    with pytest.raises(InvalidPhone):
        normalize_phone(raw)
    assert try_normalize(raw) is None


def test_try_normalize_gives_the_e164_form() -> None:
    """try_normalize answers like normalize_phone for a good number."""
    assert try_normalize("+86 138 0013 8000") == E164
