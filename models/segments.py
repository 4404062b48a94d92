"""SMS segment counting: encoding, length and parts, split the way a phone splits them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

GSM7 = "GSM-7"
UCS2 = "UCS-2"

# GSM 03.38 basic table. The escape code (0x1B) is left out: it only ever introduces an
# extension character, so a raw ESC in a text cannot be sent as GSM-7.
GSM7_BASIC: frozenset[str] = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each is sent as ESC + code, so it costs two septets.
GSM7_EXTENSION: frozenset[str] = frozenset("\f^{}\\[~]|€")

_SINGLE = {GSM7: 160, UCS2: 70}
_PART = {GSM7: 153, UCS2: 67}  # what is left of a part once the UDH takes its 6 octets


@dataclass(frozen=True)
class SegmentInfo:
    """How a text goes over the air.

    ``characters`` counts code points; ``units`` counts septets for GSM-7 (an extension
    character counts 2) and UTF-16 code units for UCS-2 (a character outside the BMP, an
    emoji say, counts 2). ``per_segment`` is the room in one segment: 160 / 70 when the
    text fits in one, 153 / 67 once it is split.
    """

    encoding: str
    characters: int
    units: int
    segments: int
    per_segment: int


def count_segments(text: str) -> SegmentInfo:
    """Count the encoding, characters, units and segments of an SMS body.

    An empty text is one segment of 0 characters: a message is still sent and billed.
    """
    widths = _gsm7_widths(text)
    encoding = GSM7
    if widths is None:
        encoding = UCS2
        widths = [2 if ord(char) > 0xFFFF else 1 for char in text]
    units = sum(widths)
    if units <= _SINGLE[encoding]:
        return SegmentInfo(encoding, len(text), units, 1, _SINGLE[encoding])
    per_part = _PART[encoding]
    return SegmentInfo(encoding, len(text), units, _count_parts(widths, per_part), per_part)


def signed_text(sign_name: str, text: str) -> str:
    """The message a mainland template provider sends: the signature in 【】, then the text."""
    return f"【{sign_name}】{text}"


def count_template_segments(sign_name: str, text: str) -> SegmentInfo:
    """Count a message as the mainland template providers bill it: 【签名】 + text.

    Alibaba Cloud and Tencent Cloud count every character as one (Chinese or not, full or half
    width, the signature and its brackets included): up to 70 is one message, a longer one is
    billed per 67 (Alibaba's "短信内容长度计算规则", help.aliyun.com/knowledge_detail/44335.html;
    Tencent's "非纯英文短信" rule, tencentcloud.com/document/product/382/34671). So a text in
    ASCII alone is not GSM-7's 160 here.
    """
    message = signed_text(sign_name, text)
    units = len(message)
    if units <= _SINGLE[UCS2]:
        return SegmentInfo(UCS2, units, units, 1, _SINGLE[UCS2])
    per_part = _PART[UCS2]
    return SegmentInfo(UCS2, units, units, _count_parts([1] * units, per_part), per_part)


def fits_one_segment(text: str) -> bool:
    """Whether the text goes out as a single segment."""
    return count_segments(text).segments == 1


def estimate_cost(segments: int, recipients: int, price_per_segment: Decimal) -> Decimal:
    """The price of sending a message of ``segments`` parts to ``recipients`` numbers."""
    if segments < 0 or recipients < 0 or price_per_segment < 0:
        raise ValueError("segments, recipients and price must not be negative")
    return price_per_segment * segments * recipients


def _gsm7_widths(text: str) -> list[int] | None:
    """Septets per character, or None when a character is not in the GSM-7 tables."""
    widths = []
    for char in text:
        if char in GSM7_BASIC:
            widths.append(1)
        elif char in GSM7_EXTENSION:
            widths.append(2)
        else:
            return None
    return widths


def _count_parts(widths: Iterable[int], per_part: int) -> int:
    """Parts needed when a unit pair (escape + code, a surrogate pair) never straddles two."""
    parts, used = 1, 0
    for width in widths:
        if used + width > per_part:
            parts += 1
            used = 0
        used += width
    return parts
