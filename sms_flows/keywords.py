"""The SMS keyword grammar: a member's text in, one typed command out, as a pure function.

Every command has a Chinese keyword, a pinyin-initials keyword and an English one. The
text is normalised once (NFKC, traditional -> simplified, invisible marks and controls
dropped, spaces collapsed); keywords match case-insensitively at the start, may be glued
to their value (``hb1``, ``汇报1``, ``HB1深圳``), but an ASCII keyword never eats the start
of a word (``HBX``, ``hello``). Values keep the member's own text, not upper-cased.

Decisions worth knowing when reading a ``Command``:

* Only digits (any length) or only a yes/no word is an ANSWER; exactly ``0``, one or more
  ``?`` and the menu words are MENU. A message of punctuation and spaces only is EMPTY;
  emoji are content, so an emoji-only message is UNKNOWN.
* Opt-out and opt-in words count only as the whole message (surrounding punctuation
  aside): stopping every message to a member is too heavy a guess to make from
  ``退订了吗``. ``YES`` is an answer, never an opt-in.
* REPORT: the first value is the studied answer (``1``/``2`` or a yes/no word). Any other
  number there (``HB 9``, ``HB 12``) leaves ``studied`` None and the whole rest in ``text``
  without guessing a city or employer, so the caller asks again. After it: the first
  token that is (or starts with) a known city sets ``city`` (without 市; a province prefix
  is skipped), the first other token sets ``employer``, the rest goes to ``text``. A city
  written in pinyin or English (``shenzhen``, ``Guangzhou``, ``Hong Kong``, ``Xi'an``) is
  the city (its Chinese name), and a province so written is never an employer.
* A Chinese keyword glued straight to Chinese text that is not a value (``汇报一下情况``,
  ``学习很重要``) is read as a sentence: REPORT/STATUS keep it only as ``text`` (never as an
  employer), LESSONS and MENU become UNKNOWN. A help request keeps any text.
* HELP: a category is a digit 1-7 or a category word at the start. A word standing alone
  is consumed (``求助 工资 老板欠了两个月`` -> text ``老板欠了两个月``); a word glued to
  more text stays in it (``求助工资拖欠`` -> text ``工资拖欠``). Any other number leaves the
  category None and the text whole.
* English ``HELP`` is the help-request keyword (as the brief says); the menu is ``?``,
  ``帮助``, ``菜单``, ``MENU``, ``INFO`` or ``0``.
* DEED: ``GX``, ``贡献`` or ``DEED``, the item of 五个一 (``1``-``5``, ``第4项``, ``四``), then
  the member's own words in ``text``. Any other number, or none, leaves ``item`` None and the
  rest in ``text``, so the caller answers with the list of items. A Chinese keyword glued to
  Chinese words (``贡献很大``) is a sentence: UNKNOWN.
* LESSONS: ``lesson_no`` is 1-9999 (``XX 3``, ``学习第3课``, ``学习第三课``); ``XX 0`` or a
  longer number keeps the text and no number.
"""

from __future__ import annotations

import enum
import re
import unicodedata
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import zhconv

from models.help import CATEGORY_BY_DIGIT, HelpCategory
from sms_flows.cities import CITIES, PROVINCES, ROMAN_PROVINCES, join_roman_names, roman_city

__all__ = ["Command", "HelpCategory", "Kind", "parse"]


class Kind(enum.StrEnum):
    """What a member's SMS asks for."""

    REPORT = "report"
    STATUS = "status"
    PHONE = "phone"
    HELP = "help"
    LESSONS = "lessons"
    DEED = "deed"
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    MENU = "menu"
    ANSWER = "answer"
    UNKNOWN = "unknown"
    EMPTY = "empty"


@dataclass(frozen=True)
class Command:
    """One parsed SMS: its kind, the normalised text and the values found in it."""

    kind: Kind
    normalized: str
    studied: bool | None = None
    city: str | None = None
    employer: str | None = None
    new_phone: str | None = None
    category: HelpCategory | None = None
    text: str | None = None
    lesson_no: int | None = None
    answer: str | None = None
    item: int | None = None


_KEYWORDS: dict[str, Kind] = {
    "汇报": Kind.REPORT,
    "HB": Kind.REPORT,
    "REPORT": Kind.REPORT,
    "动态": Kind.STATUS,
    "DT": Kind.STATUS,
    "MOVE": Kind.STATUS,
    "换号": Kind.PHONE,
    "换号码": Kind.PHONE,
    "改号": Kind.PHONE,
    "改号码": Kind.PHONE,
    "新号码": Kind.PHONE,
    "HH": Kind.PHONE,
    "NEWPHONE": Kind.PHONE,
    "求助": Kind.HELP,
    "QZ": Kind.HELP,
    "HELP": Kind.HELP,
    "学习": Kind.LESSONS,
    "课程": Kind.LESSONS,
    "XX": Kind.LESSONS,
    "LESSON": Kind.LESSONS,
    "LESSONS": Kind.LESSONS,
    "贡献": Kind.DEED,
    "GX": Kind.DEED,
    "DEED": Kind.DEED,
    "帮助": Kind.MENU,
    "菜单": Kind.MENU,
    "选单": Kind.MENU,  # what zhconv makes of the Taiwanese 選單
    "MENU": Kind.MENU,
    "INFO": Kind.MENU,
}

_WHOLE_MESSAGE: dict[str, Kind] = {
    "退订": Kind.OPT_OUT,
    "TD": Kind.OPT_OUT,
    # The mainland carriers' and providers' words: marketing templates end with 拒收请回复R,
    # and Alibaba and Tencent block a number that answered R or T.
    "R": Kind.OPT_OUT,
    "T": Kind.OPT_OUT,
    # Twilio's own opt-out words, so we agree with the carrier-side block.
    "STOP": Kind.OPT_OUT,
    "STOPALL": Kind.OPT_OUT,
    "UNSUBSCRIBE": Kind.OPT_OUT,
    "CANCEL": Kind.OPT_OUT,
    "END": Kind.OPT_OUT,
    "QUIT": Kind.OPT_OUT,
    "订阅": Kind.OPT_IN,
    "DY": Kind.OPT_IN,
    "START": Kind.OPT_IN,
    "UNSTOP": Kind.OPT_IN,
}

_YES_WORDS = ("是", "是的", "对", "有", "已学", "已学习", "学了", "学习了", "YES", "Y")
_NO_WORDS = ("否", "不是", "没", "没学", "没学习", "未学", "未学习", "没有", "没有学", "没有学习")
_ANSWER_WORDS: dict[str, str] = {
    **dict.fromkeys(_YES_WORDS, "1"),
    **dict.fromkeys((*_NO_WORDS, "NO", "N"), "2"),
}

_CATEGORY_WORDS: dict[str, HelpCategory] = {
    **dict.fromkeys(("工资", "欠薪", "拖欠", "WAGES", "WAGE"), HelpCategory.WAGES),
    **dict.fromkeys(("住房", "住宿", "租房", "HOUSING"), HelpCategory.HOUSING),
    **dict.fromkeys(
        ("子女入学", "上学", "入学", "学校", "SCHOOL", "SCHOOLING"), HelpCategory.SCHOOLING
    ),
    **dict.fromkeys(("就业", "工作", "找工作", "JOB", "JOBS"), HelpCategory.JOBS),
    **dict.fromkeys(("纠纷", "劳动纠纷", "维权", "DISPUTE"), HelpCategory.DISPUTE),
    **dict.fromkeys(("证照", "证件", "办证", "DOCUMENTS"), HelpCategory.DOCUMENTS),
    **dict.fromkeys(("其他", "其它", "OTHER"), HelpCategory.OTHER),
}

_CHINESE_NUMERALS = {c: n for n, c in enumerate("一二三四五六七八九十", start=1)}

# After NFKC, full-width punctuation is ASCII; the rest of the Chinese marks stay as they are.
_SEPARATORS = " ,;:!?.-_/()\"'，。、；：！？“”‘’（）【】《》—…「」『』"


def _alternation(words: Iterable[str]) -> str:
    """A regex alternation, longest word first; an ASCII word must not run into a letter."""
    ordered = sorted(words, key=len, reverse=True)
    return "|".join(re.escape(w) + ("(?![A-Z])" if w.isascii() else "") for w in ordered)


# IGNORECASE with ASCII: case folding only for A-Z, so no Unicode surprises in matching.
_FLAGS = re.IGNORECASE | re.ASCII
_KEYWORD_RE = re.compile(_alternation(_KEYWORDS), _FLAGS)
_ANSWER_WORD_RE = re.compile(_alternation(_ANSWER_WORDS), _FLAGS)
_CATEGORY_RE = re.compile(_alternation(_CATEGORY_WORDS), _FLAGS)
# 市 is eaten unless it starts 市场 / 市政, which belong to the name that follows.
_CITY_RE = re.compile(
    f"(?:{_alternation(PROVINCES)})?(?P<city>{_alternation(CITIES)})(?:市(?![场政]))?"
)
_PROVINCE_RE = re.compile(_alternation(PROVINCES))
_NUMBER_RE = re.compile(r"[0-9]+")
_LESSON_RE = re.compile(r"第?(?P<no>[0-9]+)[课讲集]?|第(?P<cn>[一二三四五六七八九十])[课讲集]?")
_ITEM_RE = re.compile(r"第?(?:(?P<no>[0-9]+)|(?P<cn>[一二三四五六七八九十]))[项个条]?")
_PHONE_START_RE = re.compile(r"\+?[0-9]+")
_PHONE_MORE_RE = re.compile(r"[ \-.()]{1,2}([0-9]+)")
_SEPARATOR_RE = re.compile(f"[{re.escape(_SEPARATORS)}]+")
_MENU_MARKS_RE = re.compile(r"[? ]+")
_HAN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff]")
_LONE_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")

# Controls become spaces, so a stray NUL never glues two words; invisible marks that come
# with copy-paste (BOM, zero-width space, soft hyphen, direction marks) are dropped, so
# "\ufeffHB 1" still starts with its keyword. The zero-width joiner stays: emoji need it.
_INVISIBLE: dict[int, str | None] = {
    **dict.fromkeys([*range(0x20), 0x7F, *range(0x80, 0xA0)], " "),
    **dict.fromkeys([0x00AD, 0x200B, 0x200E, 0x200F, 0x2060, 0xFEFF], None),
}

# zhconv loads its tables on first use (~15 ms): pay that at import, not on a webhook. It
# leaves its data file for the garbage collector to close; that warning is zhconv's, not ours.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ResourceWarning)
    zhconv.convert("", "zh-cn")

# The Chinese phone numbers we expect have 11 digits; once a number has that many, a
# following group ("13912345678 2月1日起") is no longer part of it.
_PHONE_DIGITS = 11


def parse(text: str | None) -> Command:
    """Parse an inbound SMS body into a Command; never raises."""
    if text is None:
        return Command(Kind.EMPTY, "")
    normalized = _normalize(text)
    if not normalized:
        return Command(Kind.EMPTY, normalized)
    if _MENU_MARKS_RE.fullmatch(normalized):
        return Command(Kind.MENU, normalized)
    if _is_blank(normalized):
        return Command(Kind.EMPTY, normalized)

    core = normalized.strip(_SEPARATORS)
    if _NUMBER_RE.fullmatch(core):
        if core == "0":
            return Command(Kind.MENU, normalized)
        return Command(Kind.ANSWER, normalized, answer=core)
    whole = core.upper()
    if whole in _ANSWER_WORDS:
        return Command(Kind.ANSWER, normalized, answer=_ANSWER_WORDS[whole])
    if whole in _WHOLE_MESSAGE:
        return Command(_WHOLE_MESSAGE[whole], normalized)

    keyword = _KEYWORD_RE.match(core)
    if keyword is None:
        return Command(Kind.UNKNOWN, normalized)
    kind = _KEYWORDS[keyword.group().upper()]
    rest = core[keyword.end() :]
    glued_han = not keyword.group().isascii() and _HAN_RE.match(rest) is not None
    rest = rest.lstrip(_SEPARATORS)

    if kind is Kind.REPORT:
        return _report(normalized, rest, glued_han)
    if kind is Kind.STATUS:
        return _located(Kind.STATUS, normalized, rest, glued_han=glued_han)
    if kind is Kind.PHONE:
        return _phone(normalized, rest)
    if kind is Kind.HELP:
        return _help(normalized, rest)
    if kind is Kind.LESSONS:
        return _lessons(normalized, rest, glued_han)
    if kind is Kind.DEED:
        return _deed(normalized, rest, glued_han)
    if not rest:
        return Command(Kind.MENU, normalized)
    if glued_han:
        return Command(Kind.UNKNOWN, normalized)
    return Command(Kind.MENU, normalized, text=rest)


def _normalize(text: str) -> str:
    """NFKC, simplified Chinese, no controls or invisible marks, single spaces."""
    # A lone surrogate cannot be encoded to UTF-8, so it could not be stored either.
    text = _LONE_SURROGATE_RE.sub("\ufffd", text)
    text = unicodedata.normalize("NFKC", text.translate(_INVISIBLE))
    if not text.isascii():
        text = zhconv.convert(text, "zh-cn")
    return " ".join(text.split())


def _is_blank(text: str) -> bool:
    """True when the text has nothing but punctuation, spaces and format marks."""
    for char in text:
        category = unicodedata.category(char)
        if category[0] not in "PZ" and category not in ("Cc", "Cf"):
            return False
    return True


def _strip(text: str) -> str:
    """The text without separators at either end."""
    return text.strip(_SEPARATORS)


def _report(normalized: str, rest: str, glued_han: bool) -> Command:
    """A monthly report: studied answer first, then where and for whom the member works."""
    number = _NUMBER_RE.match(rest)
    if number is not None:
        if number.group() not in ("1", "2"):
            return Command(Kind.REPORT, normalized, text=rest)
        after = _strip(rest[number.end() :])
        return _located(Kind.REPORT, normalized, after, studied=number.group() == "1")
    word = _ANSWER_WORD_RE.match(rest)
    if word is not None:
        after = rest[word.end() :]
        # Chinese has no spaces, so "有色金属厂" must not read as 有 (yes) + 色金属厂.
        standalone = (
            word.group().isascii()
            or not after
            or after[0] in _SEPARATORS
            or _CITY_RE.match(after) is not None
        )
        if standalone:
            studied = _ANSWER_WORDS[word.group().upper()] == "1"
            return _located(Kind.REPORT, normalized, _strip(after), studied=studied)
    return _located(Kind.REPORT, normalized, rest, glued_han=glued_han)


def _located(
    kind: Kind, normalized: str, rest: str, *, studied: bool | None = None, glued_han: bool = False
) -> Command:
    """A report or status update with the city, employer and leftover text found in rest."""
    if glued_han and _CITY_RE.match(rest) is None:
        return Command(kind, normalized, studied=studied, text=rest or None)
    city: str | None = None
    employer: str | None = None
    extra: list[str] = []
    for token in _SEPARATOR_RE.split(join_roman_names(rest)):
        if not token:
            continue
        roman = roman_city(token)
        if roman is not None:
            if city is None:
                city = roman
            else:
                extra.append(token)
            continue
        found = _CITY_RE.match(token)
        if found is not None and city is None:
            city = found.group("city")
            token = token[found.end() :]
            if not token:
                continue
        elif found is not None:
            extra.append(token)
            continue
        if employer is None and _could_be_employer(token):
            employer = token
        else:
            extra.append(token)
    return Command(
        kind,
        normalized,
        studied=studied,
        city=city,
        employer=employer,
        text=" ".join(extra) or None,
    )


def _could_be_employer(token: str) -> bool:
    """A bare number or a province is never an employer's name."""
    return (
        _NUMBER_RE.fullmatch(token) is None
        and _PROVINCE_RE.fullmatch(token) is None
        and token.upper() not in ROMAN_PROVINCES
    )


def _phone(normalized: str, rest: str) -> Command:
    """A phone change: the first number in the text, digits and a leading + only."""
    start = _PHONE_START_RE.search(rest)
    if start is None:
        return Command(Kind.PHONE, normalized, text=rest or None)
    number = start.group()
    end = start.end()
    while sum(c.isdigit() for c in number) < _PHONE_DIGITS:
        more = _PHONE_MORE_RE.match(rest, end)
        if more is None:
            break
        number += more.group(1)
        end = more.end()
    leftover = " ".join(f"{rest[: start.start()]} {rest[end:]}".split())
    return Command(Kind.PHONE, normalized, new_phone=number, text=_strip(leftover) or None)


def _help(normalized: str, rest: str) -> Command:
    """A help request: a category digit or word, then the member's own words."""
    number = _NUMBER_RE.match(rest)
    if number is not None:
        category = CATEGORY_BY_DIGIT.get(number.group())
        if category is None:
            return Command(Kind.HELP, normalized, text=rest)
        text = _strip(rest[number.end() :]) or None
        return Command(Kind.HELP, normalized, category=category, text=text)
    word = _CATEGORY_RE.match(rest)
    if word is None:
        return Command(Kind.HELP, normalized, text=rest or None)
    category = _CATEGORY_WORDS[word.group().upper()]
    after = rest[word.end() :]
    if after and after[0] not in _SEPARATORS:
        return Command(Kind.HELP, normalized, category=category, text=rest)
    return Command(Kind.HELP, normalized, category=category, text=_strip(after) or None)


def _deed(normalized: str, rest: str, glued_han: bool) -> Command:
    """A deed for home: the item of 五个一, then what was done."""
    found = _ITEM_RE.match(rest)
    if found is not None:
        digits, numeral = found.group("no"), found.group("cn")
        after = rest[found.end() :]
        # 一 starts many words (一起, 一个): a numeral counts only when set apart from them.
        standalone = (
            digits
            or not after
            or after[0] in _SEPARATORS
            or found.group().endswith(("项", "个", "条"))
        )
        if standalone:
            item = (
                (int(digits) if len(digits) <= 2 else 0) if digits else _CHINESE_NUMERALS[numeral]
            )
            text = _strip(after) or None
            if 1 <= item <= 5:
                return Command(Kind.DEED, normalized, item=item, text=text)
            return Command(Kind.DEED, normalized, text=rest)
    if glued_han:
        return Command(Kind.UNKNOWN, normalized)
    return Command(Kind.DEED, normalized, text=rest or None)


def _lessons(normalized: str, rest: str, glued_han: bool) -> Command:
    """The lesson list, or a call back with one lesson."""
    if not rest:
        return Command(Kind.LESSONS, normalized)
    found = _LESSON_RE.match(rest)
    if found is not None:
        digits, numeral = found.group("no"), found.group("cn")
        if numeral:
            lesson_no = _CHINESE_NUMERALS[numeral]
        else:
            # Bounded before int(): a long digit run is not a lesson and would be slow.
            lesson_no = int(digits) if len(digits) <= 4 else 0
        if lesson_no > 0:
            text = _strip(rest[found.end() :]) or None
            return Command(Kind.LESSONS, normalized, lesson_no=lesson_no, text=text)
        return Command(Kind.LESSONS, normalized, text=rest)
    if glued_han:
        return Command(Kind.UNKNOWN, normalized)
    return Command(Kind.LESSONS, normalized, text=rest)
