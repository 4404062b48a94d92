"""SMS segment counting: published vectors, escape and surrogate boundaries, cost."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.segments import (
    GSM7,
    GSM7_BASIC,
    GSM7_EXTENSION,
    UCS2,
    SegmentInfo,
    count_segments,
    count_template_segments,
    estimate_cost,
    fits_one_segment,
    signed_text,
)

CHINESE = "中"
EMOJI = "😀"  # outside the BMP: a surrogate pair in UTF-16


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", SegmentInfo(GSM7, 0, 0, 1, 160)),
        ("a", SegmentInfo(GSM7, 1, 1, 1, 160)),
        ("a" * 160, SegmentInfo(GSM7, 160, 160, 1, 160)),
        ("a" * 161, SegmentInfo(GSM7, 161, 161, 2, 153)),
        ("a" * 306, SegmentInfo(GSM7, 306, 306, 2, 153)),
        ("a" * 307, SegmentInfo(GSM7, 307, 307, 3, 153)),
        (CHINESE * 70, SegmentInfo(UCS2, 70, 70, 1, 70)),
        (CHINESE * 71, SegmentInfo(UCS2, 71, 71, 2, 67)),
        (CHINESE * 134, SegmentInfo(UCS2, 134, 134, 2, 67)),
        (CHINESE * 135, SegmentInfo(UCS2, 135, 135, 3, 67)),
        ("€" * 80, SegmentInfo(GSM7, 80, 160, 1, 160)),
        ("€" * 81, SegmentInfo(GSM7, 81, 162, 2, 153)),
        (EMOJI, SegmentInfo(UCS2, 1, 2, 1, 70)),
        (EMOJI * 35, SegmentInfo(UCS2, 35, 70, 1, 70)),
        (EMOJI * 36, SegmentInfo(UCS2, 36, 72, 2, 67)),
        ("HB 1 深圳", SegmentInfo(UCS2, 7, 7, 1, 70)),
        ("a" * 150 + CHINESE, SegmentInfo(UCS2, 151, 151, 3, 67)),
    ],
)
def test_published_vectors(text: str, expected: SegmentInfo) -> None:
    """Known lengths land in the segment counts carriers and Twilio publish."""
    assert count_segments(text) == expected


@pytest.mark.parametrize("char", sorted(GSM7_EXTENSION))
def test_extension_characters_cost_two_septets(char: str) -> None:
    """Each extension-table character is an escape pair: two septets, still GSM-7."""
    info = count_segments(char)
    assert (info.encoding, info.characters, info.units) == (GSM7, 1, 2)


def test_gsm_tables_have_the_standard_sizes() -> None:
    """The basic table is 128 codes less the escape, the extension table 10 characters."""
    assert len(GSM7_BASIC) == 127
    assert len(GSM7_EXTENSION) == 10
    assert not GSM7_BASIC & GSM7_EXTENSION
    assert "\x1b" not in GSM7_BASIC


def test_whole_basic_table_is_one_septet_each() -> None:
    """A text of every basic-table character is GSM-7 with one septet per character."""
    text = "".join(sorted(GSM7_BASIC))
    info = count_segments(text)
    assert (info.encoding, info.units) == (GSM7, 127)


@pytest.mark.parametrize("text", ["ΔΦΓΛΩΠΨΣΘΞ", "Ça va? £5 ¥3 §1 ¿¡", "line\r\nbreak"])
def test_non_ascii_gsm_characters_stay_gsm(text: str) -> None:
    """Greek capitals, currency signs and line breaks are in the GSM-7 table."""
    assert count_segments(text).encoding == GSM7


@pytest.mark.parametrize("text", ["\x1b", "α", "“quoted”", "a" * 159 + "中", "tab\there"])
def test_anything_outside_the_tables_switches_to_ucs2(text: str) -> None:
    """A single character outside GSM-7 turns the whole message into UCS-2."""
    assert count_segments(text).encoding == UCS2


def test_escape_pair_never_straddles_a_boundary() -> None:
    """An escape pair that would end a part moves whole to the next one, adding a part."""
    text = "a" * 152 + "€" + "a" * 152  # 306 septets, naively 2 parts
    info = count_segments(text)
    assert (info.units, info.segments) == (306, 3)


def test_escape_pair_that_fits_stays_in_the_part() -> None:
    """An escape pair ending exactly on the boundary needs no extra part."""
    info = count_segments("a" * 151 + "€" + "a" * 153)
    assert (info.units, info.segments) == (306, 2)


def test_surrogate_pair_never_straddles_a_boundary() -> None:
    """An emoji that would be cut in half moves to the next part, adding a part."""
    text = CHINESE * 66 + EMOJI + CHINESE * 66  # 134 code units, naively 2 parts
    info = count_segments(text)
    assert (info.characters, info.units, info.segments) == (133, 134, 3)


@pytest.mark.parametrize(
    ("text", "encoding", "segments"),
    [
        ("a" * 1600, GSM7, 11),
        (CHINESE * 1600, UCS2, 24),
        (("请于本月25日前回复HB 1。" * 200)[:1600], UCS2, 24),
    ],
)
def test_longest_body(text: str, encoding: str, segments: int) -> None:
    """A 1,600-character body, Twilio's maximum, counts its parts correctly."""
    info = count_segments(text)
    assert (info.characters, info.encoding, info.segments) == (1600, encoding, segments)


@pytest.mark.parametrize(
    ("text", "fits"),
    [
        ("", True),
        ("a" * 160, True),
        ("a" * 161, False),
        ("€" * 80, True),
        ("€" * 81, False),
        (CHINESE * 70, True),
        (CHINESE * 71, False),
        (EMOJI * 35, True),
        (EMOJI * 36, False),
    ],
)
def test_fits_one_segment(text: str, fits: bool) -> None:
    """fits_one_segment is true exactly up to the single-segment limit."""
    assert fits_one_segment(text) is fits


def test_estimate_cost_is_exact_decimal() -> None:
    """Cost multiplies segments, recipients and price without float rounding."""
    assert estimate_cost(3, 20_000, Decimal("0.0079")) == Decimal("474.0000")
    assert estimate_cost(1, 3, Decimal("0.1")) == Decimal("0.3")
    assert estimate_cost(2, 0, Decimal("0.05")) == Decimal("0")


@pytest.mark.parametrize(
    ("segments", "recipients", "price"),
    [(-1, 1, Decimal("0.1")), (1, -1, Decimal("0.1")), (1, 1, Decimal("-0.1"))],
)
def test_estimate_cost_rejects_negatives(segments: int, recipients: int, price: Decimal) -> None:
    """A negative count or price is a caller's bug, not a refund."""
    with pytest.raises(ValueError):
        estimate_cost(segments, recipients, price)


@given(st.text(max_size=2000))
def test_segments_always_hold_the_units(text: str) -> None:
    """For any text the parts hold every unit, and at most one unit a part is wasted."""
    info = count_segments(text)
    assert info.characters == len(text)
    assert info.segments >= 1
    assert info.segments * info.per_segment >= info.units
    single = 160 if info.encoding == GSM7 else 70
    assert (info.segments == 1) is (info.units <= single)
    if info.segments > 1:
        assert info.segments <= math.ceil(info.units / (info.per_segment - 1))


@given(st.text(alphabet=sorted(GSM7_BASIC), max_size=1000))
def test_plain_gsm_text_splits_by_simple_division(text: str) -> None:
    """Without escape pairs, GSM-7 parts are exactly ceil(septets / 153)."""
    info = count_segments(text)
    assert info.encoding == GSM7
    assert info.units == len(text)
    if info.units > 160:
        assert info.segments == math.ceil(len(text) / 153)


@given(st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), max_size=600))
def test_bmp_chinese_splits_by_simple_division(text: str) -> None:
    """Without surrogate pairs, UCS-2 parts are exactly ceil(units / 67)."""
    info = count_segments(text)
    assert info.encoding == (UCS2 if text else GSM7)
    if info.units > 70:
        assert info.segments == math.ceil(len(text) / 67)


@given(st.text(alphabet=st.sampled_from(["a", "€", "中", EMOJI]), max_size=400))
def test_encoding_follows_the_tables(text: str) -> None:
    """GSM-7 exactly when every character is in the basic or extension table."""
    gsm = all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)
    assert (count_segments(text).encoding == GSM7) is gsm


# 【青山镇】 is five characters: the signature and its brackets count.
SIGN = "青山镇"


@pytest.mark.parametrize(
    ("text", "characters", "segments"),
    [
        (CHINESE * 65, 70, 1),
        (CHINESE * 66, 71, 2),
        (CHINESE * 129, 134, 2),
        (CHINESE * 130, 135, 3),
        ("a" * 65, 70, 1),  # ASCII alone is still 70 a message here, not GSM-7's 160
        ("a" * 66, 71, 2),
        ("HB 1 深圳", 12, 1),
    ],
)
def test_template_providers_count_the_signature_and_bill_70_then_67(
    text: str, characters: int, segments: int
) -> None:
    """A mainland template message is 【签名】 + text, every character one: 70 is one message,
    then parts of 67."""
    info = count_template_segments(SIGN, text)
    assert (info.characters, info.segments) == (characters, segments)
    assert info.per_segment == (70 if segments == 1 else 67)


def test_signed_text_puts_the_signature_first_in_brackets() -> None:
    """The signature leads the message in 【】, as the member's phone shows it."""
    assert signed_text(SIGN, "谢谢") == "【青山镇】谢谢"
