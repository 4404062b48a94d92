"""The SMS keyword grammar: a table of realistic messages, normalisation, and properties."""

from __future__ import annotations

import re
from typing import Any

import pytest
import zhconv
from hypothesis import given
from hypothesis import strategies as st

from models.help import HelpCategory as ModelHelpCategory
from sms_flows.cities import CITIES, PROVINCES
from sms_flows.keywords import Command, HelpCategory, Kind, parse

R, S, P, H = Kind.REPORT, Kind.STATUS, Kind.PHONE, Kind.HELP
L, OUT, IN, M = Kind.LESSONS, Kind.OPT_OUT, Kind.OPT_IN, Kind.MENU
D = Kind.DEED
A, U, E = Kind.ANSWER, Kind.UNKNOWN, Kind.EMPTY
WAGES, HOUSING, SCHOOLING = HelpCategory.WAGES, HelpCategory.HOUSING, HelpCategory.SCHOOLING
JOBS, DISPUTE, DOCUMENTS = HelpCategory.JOBS, HelpCategory.DISPUTE, HelpCategory.DOCUMENTS
OTHER = HelpCategory.OTHER

# (message, kind, every value the command must carry; any value not named must be None)
CASES: list[tuple[str | None, Kind, dict[str, Any]]] = [
    # --- monthly report: 汇报 / HB / REPORT
    ("HB", R, {}),
    ("hb", R, {}),
    ("Hb", R, {}),
    ("汇报", R, {}),
    ("匯報", R, {}),
    ("REPORT", R, {}),
    ("report", R, {}),
    ("HB 1", R, {"studied": True}),
    ("HB 2", R, {"studied": False}),
    ("HB1", R, {"studied": True}),
    ("hb2", R, {"studied": False}),
    ("report1", R, {"studied": True}),
    ("HB 2 东莞 电子厂", R, {"studied": False, "city": "东莞", "employer": "电子厂"}),
    ("HB1深圳", R, {"studied": True, "city": "深圳"}),
    ("汇报1", R, {"studied": True}),
    ("汇报，1", R, {"studied": True}),
    ("ＨＢ　１", R, {"studied": True}),
    ("hb 1 广州", R, {"studied": True, "city": "广州"}),
    ("匯報 1", R, {"studied": True}),
    ("REPORT 1", R, {"studied": True}),
    ("Report 2 深圳", R, {"studied": False, "city": "深圳"}),
    ("HB 是", R, {"studied": True}),
    ("HB 已学", R, {"studied": True}),
    ("HB 学了", R, {"studied": True}),
    ("HB 学习了", R, {"studied": True}),
    ("HB 有", R, {"studied": True}),
    ("HB yes", R, {"studied": True}),
    ("HB Y", R, {"studied": True}),
    ("HB 否", R, {"studied": False}),
    ("HB 没学", R, {"studied": False}),
    ("HB 未学", R, {"studied": False}),
    ("HB 没有", R, {"studied": False}),
    ("HB no", R, {"studied": False}),
    ("HB n", R, {"studied": False}),
    ("汇报已学深圳", R, {"studied": True, "city": "深圳"}),
    ("汇报 没有学习 东莞", R, {"studied": False, "city": "东莞"}),
    ("HB 1 深圳市 富士康", R, {"studied": True, "city": "深圳", "employer": "富士康"}),
    ("HB 1 深圳富士康", R, {"studied": True, "city": "深圳", "employer": "富士康"}),
    ("HB2东莞电子厂", R, {"studied": False, "city": "东莞", "employer": "电子厂"}),
    ("HB 1 广东省深圳市富士康", R, {"studied": True, "city": "深圳", "employer": "富士康"}),
    ("HB 1 富士康", R, {"studied": True, "employer": "富士康"}),
    ("HB 1 富士康 深圳", R, {"studied": True, "city": "深圳", "employer": "富士康"}),
    (
        "HB 1 深圳 富士康 一切都好",
        R,
        {"studied": True, "city": "深圳", "employer": "富士康", "text": "一切都好"},
    ),
    ("HB 1 深圳市场部", R, {"studied": True, "city": "深圳", "employer": "市场部"}),
    ("HB 1 北京", R, {"studied": True, "city": "北京"}),
    ("HB 1 吉林", R, {"studied": True, "city": "吉林"}),
    ("HB 1 昆山", R, {"studied": True, "city": "昆山"}),
    ("匯報 1 東莞 電子廠", R, {"studied": True, "city": "东莞", "employer": "电子厂"}),
    ("汇报 2 上海 大众", R, {"studied": False, "city": "上海", "employer": "大众"}),
    ("HB 9", R, {"text": "9"}),
    ("HB 12", R, {"text": "12"}),
    ("HB 0", R, {"text": "0"}),
    ("HB 9 深圳", R, {"text": "9 深圳"}),
    ("HB 1 2", R, {"studied": True, "text": "2"}),
    ("HB 有色金属厂", R, {"employer": "有色金属厂"}),
    ("HB NOKIA", R, {"employer": "NOKIA"}),
    ("汇报一下情况", R, {"text": "一下情况"}),
    ("HB 1。", R, {"studied": True}),
    ("HB:1", R, {"studied": True}),
    ("HB-1", R, {"studied": True}),
    ("HB/1/深圳", R, {"studied": True, "city": "深圳"}),
    ("【HB】1", R, {"studied": True}),
    ("  hb   1   广州  ", R, {"studied": True, "city": "广州"}),
    # A city in pinyin or English is the city, never the employer.
    ("HB 1 shenzhen Foxconn", R, {"studied": True, "city": "深圳", "employer": "Foxconn"}),
    ("HB 2 Guangzhou", R, {"studied": False, "city": "广州"}),
    ("DT Beijing", S, {"city": "北京"}),
    ("DT DONGGUAN 电子厂", S, {"city": "东莞", "employer": "电子厂"}),
    ("MOVE Hong Kong", S, {"city": "香港"}),
    ("DT Xi'an", S, {"city": "西安"}),
    ("DT Guangdong Shenzhen", S, {"city": "深圳", "text": "Guangdong"}),
    ("HBX", U, {}),
    ("HBO", U, {}),
    ("reporter", U, {}),
    # --- status update: 动态 / DT / MOVE
    ("DT", S, {}),
    ("dt", S, {}),
    ("动态", S, {}),
    ("動態", S, {}),
    ("MOVE", S, {}),
    ("DT 深圳", S, {"city": "深圳"}),
    ("DT 深圳 富士康", S, {"city": "深圳", "employer": "富士康"}),
    ("DT 富士康", S, {"employer": "富士康"}),
    ("DT 广州电子厂", S, {"city": "广州", "employer": "电子厂"}),
    ("DT深圳", S, {"city": "深圳"}),
    ("动态深圳", S, {"city": "深圳"}),
    ("動態 深圳", S, {"city": "深圳"}),
    ("动态，东莞，电子厂", S, {"city": "东莞", "employer": "电子厂"}),
    ("move 苏州", S, {"city": "苏州"}),
    ("MOVE 苏州 华硕", S, {"city": "苏州", "employer": "华硕"}),
    ("DT 广东 深圳", S, {"city": "深圳", "text": "广东"}),
    ("DT 广东省", S, {"text": "广东省"}),
    ("DT 深圳市", S, {"city": "深圳"}),
    ("DT 广东深圳", S, {"city": "深圳"}),
    ("DT 深圳 广州", S, {"city": "深圳", "text": "广州"}),
    ("DT 义乌 小商品城", S, {"city": "义乌", "employer": "小商品城"}),
    ("DT 9", S, {"text": "9"}),
    ("ＤＴ　上海", S, {"city": "上海"}),
    ("动态富士康", S, {"text": "富士康"}),
    ("动态很好", S, {"text": "很好"}),
    ("DT 深圳 Foxconn", S, {"city": "深圳", "employer": "Foxconn"}),
    ("DTX", U, {}),
    ("movement", U, {}),
    # --- phone change: 换号 / HH / NEWPHONE, 改号, 新号码
    ("换号 13912345678", P, {"new_phone": "13912345678"}),
    ("HH139-1234-5678", P, {"new_phone": "13912345678"}),
    ("NEWPHONE +86 139 1234 5678", P, {"new_phone": "+8613912345678"}),
    ("換號 13912345678", P, {"new_phone": "13912345678"}),
    ("改号 13912345678", P, {"new_phone": "13912345678"}),
    ("新号码 13912345678", P, {"new_phone": "13912345678"}),
    ("新号码：13912345678", P, {"new_phone": "13912345678"}),
    ("换号码 139 1234 5678", P, {"new_phone": "13912345678"}),
    ("hh 13912345678", P, {"new_phone": "13912345678"}),
    ("newphone 13912345678", P, {"new_phone": "13912345678"}),
    ("换号１３９１２３４５６７８", P, {"new_phone": "13912345678"}),
    ("NEWPHONE+8613912345678", P, {"new_phone": "+8613912345678"}),
    ("HH (139)1234-5678", P, {"new_phone": "13912345678"}),
    ("HH 0755-8888 1234", P, {"new_phone": "075588881234"}),
    ("换号 13912345678 2月1日起", P, {"new_phone": "13912345678", "text": "2月1日起"}),
    ("换号 新号码是13912345678", P, {"new_phone": "13912345678", "text": "新号码是"}),
    ("换号", P, {}),
    ("HH", P, {}),
    ("换号 还没办好", P, {"text": "还没办好"}),
    ("HHX", U, {}),
    # --- help request: 求助 / QZ / HELP
    ("QZ 1 工资拖欠三个月", H, {"category": WAGES, "text": "工资拖欠三个月"}),
    ("求助 工资 老板欠了两个月", H, {"category": WAGES, "text": "老板欠了两个月"}),
    ("qz1老板跑了", H, {"category": WAGES, "text": "老板跑了"}),
    ("QZ1工资", H, {"category": WAGES, "text": "工资"}),
    ("HELP", H, {}),
    ("help", H, {}),
    ("求助", H, {}),
    ("QZ", H, {}),
    ("QZ 2", H, {"category": HOUSING}),
    ("QZ 2 没地方住", H, {"category": HOUSING, "text": "没地方住"}),
    ("QZ 3 孩子上学", H, {"category": SCHOOLING, "text": "孩子上学"}),
    ("QZ 4", H, {"category": JOBS}),
    ("QZ 5 老板打人", H, {"category": DISPUTE, "text": "老板打人"}),
    ("QZ 6 身份证丢了", H, {"category": DOCUMENTS, "text": "身份证丢了"}),
    ("QZ 7 想回家", H, {"category": OTHER, "text": "想回家"}),
    ("QZ 8 xx", H, {"text": "8 xx"}),
    ("QZ 12", H, {"text": "12"}),
    ("求助 欠薪", H, {"category": WAGES}),
    ("求助 拖欠工资", H, {"category": WAGES, "text": "拖欠工资"}),
    ("求助工资拖欠三个月", H, {"category": WAGES, "text": "工资拖欠三个月"}),
    ("求助 住房", H, {"category": HOUSING}),
    ("求助 住宿 没地方住", H, {"category": HOUSING, "text": "没地方住"}),
    ("求助 租房", H, {"category": HOUSING}),
    ("求助 子女入学", H, {"category": SCHOOLING}),
    ("求助 上学 孩子", H, {"category": SCHOOLING, "text": "孩子"}),
    ("求助 入学", H, {"category": SCHOOLING}),
    ("求助 学校", H, {"category": SCHOOLING}),
    ("求助 就业", H, {"category": JOBS}),
    ("求助 工作", H, {"category": JOBS}),
    ("求助 找工作", H, {"category": JOBS}),
    ("求助 纠纷", H, {"category": DISPUTE}),
    ("求助 劳动纠纷 被开除", H, {"category": DISPUTE, "text": "被开除"}),
    ("求助 维权", H, {"category": DISPUTE}),
    ("求助 证照", H, {"category": DOCUMENTS}),
    ("求助 证件", H, {"category": DOCUMENTS}),
    ("求助 办证 暂住证", H, {"category": DOCUMENTS, "text": "暂住证"}),
    ("求助 其他", H, {"category": OTHER}),
    ("求助 老板跑了", H, {"text": "老板跑了"}),
    ("求助：工资，老板欠了两个月。", H, {"category": WAGES, "text": "老板欠了两个月"}),
    ("求助 工资 老板欠了两个月，怎么办？", H, {"category": WAGES, "text": "老板欠了两个月,怎么办"}),
    ("QZ　１　工資拖欠", H, {"category": WAGES, "text": "工资拖欠"}),
    ("HELP 1 boss did not pay", H, {"category": WAGES, "text": "boss did not pay"}),
    ("help wages", H, {"category": WAGES}),
    ("HELP housing please", H, {"category": HOUSING, "text": "please"}),
    ("help me", H, {"text": "me"}),
    ("HELPME", U, {}),
    ("QZX", U, {}),
    # --- lessons: 学习 / XX / LESSON, LESSONS, 课程
    ("XX", L, {}),
    ("xx", L, {}),
    ("学习", L, {}),
    ("學習", L, {}),
    ("课程", L, {}),
    ("LESSON", L, {}),
    ("LESSONS", L, {}),
    ("XX 3", L, {"lesson_no": 3}),
    ("学习3", L, {"lesson_no": 3}),
    ("XX3", L, {"lesson_no": 3}),
    ("學習 3", L, {"lesson_no": 3}),
    ("学习第3课", L, {"lesson_no": 3}),
    ("学习 第三课", L, {"lesson_no": 3}),
    ("LESSON 12", L, {"lesson_no": 12}),
    ("lessons 2", L, {"lesson_no": 2}),
    ("课程 5", L, {"lesson_no": 5}),
    ("XX 3 明天晚上", L, {"lesson_no": 3, "text": "明天晚上"}),
    ("XX 0", L, {"text": "0"}),
    ("XX 99999", L, {"text": "99999"}),
    ("XX 你好", L, {"text": "你好"}),
    ("学习很重要", U, {}),
    ("XXX", U, {}),
    ("lessonplan", U, {}),
    # --- deeds for home (五个一): GX / 贡献 / DEED, the item 1-5, then what was done
    ("GX 4 帮同乡王强在东莞找到工作", D, {"item": 4, "text": "帮同乡王强在东莞找到工作"}),
    ("gx4帮同乡找到工作", D, {"item": 4, "text": "帮同乡找到工作"}),
    ("GX4", D, {"item": 4}),
    ("ＧＸ　５　给村小学捐了图书", D, {"item": 5, "text": "给村小学捐了图书"}),
    ("貢獻 1 種植香菇", D, {"item": 1, "text": "种植香菇"}),
    ("贡献1东莞电子厂招工", D, {"item": 1, "text": "东莞电子厂招工"}),
    ("贡献，2，做通了弟弟的思想工作", D, {"item": 2, "text": "做通了弟弟的思想工作"}),
    ("贡献 第3项 培养了小李", D, {"item": 3, "text": "培养了小李"}),
    ("贡献第三项培养了小李", D, {"item": 3, "text": "培养了小李"}),
    ("GX 四 帮人找工作", D, {"item": 4, "text": "帮人找工作"}),
    ("GX 4、帮人找工作。", D, {"item": 4, "text": "帮人找工作"}),
    ("DEED 5 fixed the village road", D, {"item": 5, "text": "fixed the village road"}),
    ("deed 2", D, {"item": 2}),
    ("GX", D, {}),
    ("贡献", D, {}),
    ("GX 9 帮人", D, {"text": "9 帮人"}),
    ("GX 0", D, {"text": "0"}),
    ("GX 45", D, {"text": "45"}),
    ("GX 帮人修路", D, {"text": "帮人修路"}),
    ("GX 一起修路", D, {"text": "一起修路"}),
    ("贡献很大", U, {}),
    ("GXB 1", U, {}),
    ("deeds", U, {}),
    # --- opt-out: 退订 / TD / STOP and Twilio's words, whole message only
    ("TD", OUT, {}),
    ("td", OUT, {}),
    ("ＴＤ", OUT, {}),
    ("退订", OUT, {}),
    ("退訂", OUT, {}),
    ("退订！", OUT, {}),
    ("STOP", OUT, {}),
    ("stop", OUT, {}),
    ("Stop.", OUT, {}),
    (" stop ", OUT, {}),
    ("STOPALL", OUT, {}),
    ("UNSUBSCRIBE", OUT, {}),
    ("CANCEL", OUT, {}),
    ("END", OUT, {}),
    ("QUIT", OUT, {}),
    ("R", OUT, {}),
    ("r", OUT, {}),
    ("Ｔ", OUT, {}),
    ("T.", OUT, {}),
    ("R 谢谢", U, {}),
    ("TD 谢谢", U, {}),
    ("退订了吗", U, {}),
    ("STOP IT", U, {}),
    ("TDX", U, {}),
    # --- opt-in: 订阅 / DY / START, UNSTOP, whole message only
    ("DY", IN, {}),
    ("dy", IN, {}),
    ("ＤＹ", IN, {}),
    ("订阅", IN, {}),
    ("訂閱", IN, {}),
    ("START", IN, {}),
    ("start", IN, {}),
    ("UNSTOP", IN, {}),
    ("START 1", U, {}),
    # --- menu: 帮助 / ? / ？ / MENU / 0 / 菜单 / INFO
    ("?", M, {}),
    ("？", M, {}),
    ("??", M, {}),
    ("？ ？？", M, {}),
    ("帮助", M, {}),
    ("幫助", M, {}),
    ("菜单", M, {}),
    ("菜單", M, {}),
    ("選單", M, {}),
    ("MENU", M, {}),
    ("menu", M, {}),
    ("INFO", M, {}),
    ("0", M, {}),
    ("０", M, {}),
    ("MENU please", M, {"text": "please"}),
    ("帮助我", U, {}),
    ("information", U, {}),
    # --- answers: digits, yes words -> "1", no words -> "2"
    ("1", A, {"answer": "1"}),
    ("2", A, {"answer": "2"}),
    ("123456", A, {"answer": "123456"}),
    ("１２３", A, {"answer": "123"}),
    ("00", A, {"answer": "00"}),
    ("1。", A, {"answer": "1"}),
    ("是", A, {"answer": "1"}),
    ("是的", A, {"answer": "1"}),
    ("对", A, {"answer": "1"}),
    ("有", A, {"answer": "1"}),
    ("已学", A, {"answer": "1"}),
    ("学了", A, {"answer": "1"}),
    ("学习了", A, {"answer": "1"}),
    ("學習了", A, {"answer": "1"}),
    ("yes", A, {"answer": "1"}),
    ("YES!", A, {"answer": "1"}),
    ("Y", A, {"answer": "1"}),
    ("y", A, {"answer": "1"}),
    ("否", A, {"answer": "2"}),
    ("不是", A, {"answer": "2"}),
    ("没学", A, {"answer": "2"}),
    ("未学", A, {"answer": "2"}),
    ("没有", A, {"answer": "2"}),
    ("沒有", A, {"answer": "2"}),
    ("no", A, {"answer": "2"}),
    ("N", A, {"answer": "2"}),
    ("n", A, {"answer": "2"}),
    # --- empty: nothing, blanks, punctuation only, invisible marks
    (None, E, {}),
    ("", E, {}),
    ("   ", E, {}),
    ("\n\t", E, {}),
    ("。。。", E, {}),
    ("...", E, {}),
    ("，", E, {}),
    ("!?!", E, {}),
    ("“”", E, {}),
    ("\u200b", E, {}),
    ("\x00", E, {}),
    # --- unknown: everything else, kept for the branch to read
    ("你好", U, {}),
    ("hello", U, {}),
    ("ok", U, {}),
    ("😀", U, {}),
    ("👍👍", U, {}),
    ("谢谢书记", U, {}),
    ("在吗？", U, {}),
    ("1 深圳", U, {}),
    ("+", U, {}),
    ("\ud800", U, {}),
    ("回复 HB 1", U, {}),
]


@pytest.mark.parametrize(("message", "kind", "values"), CASES)
def test_message_table(message: str | None, kind: Kind, values: dict[str, Any]) -> None:
    """Each realistic message parses to its kind and exactly the values listed."""
    command = parse(message)
    assert command == Command(kind, command.normalized, **values)


def test_table_is_large_and_covers_every_kind() -> None:
    """The table keeps at least 150 rows and exercises every kind of command."""
    assert len(CASES) >= 150
    assert {kind for _, kind, _ in CASES} == set(Kind)


@pytest.mark.parametrize(
    ("message", "normalized"),
    [
        (None, ""),
        ("ＨＢ　１", "HB 1"),
        ("匯報 1 東莞", "汇报 1 东莞"),
        ("  hb \t\n 1  ", "hb 1"),
        ("\ufeffHB\u200b 1", "HB 1"),
        ("HB\x001", "HB 1"),
        ("求助 工资，怎么办？", "求助 工资,怎么办?"),
        ("「你好」", "“你好”"),
        ("\ud800HB 1", "\ufffdHB 1"),
        ("DT 深圳 Foxconn", "DT 深圳 Foxconn"),
    ],
)
def test_normalisation(message: str | None, normalized: str) -> None:
    """The stored text is NFKC, simplified, single-spaced, with case and punctuation kept."""
    assert parse(message).normalized == normalized


def test_help_category_is_the_models_enum() -> None:
    """The category a command carries is the one the help-request table stores."""
    assert HelpCategory is ModelHelpCategory
    assert parse("QZ 3").category is ModelHelpCategory.SCHOOLING


@pytest.mark.parametrize(
    ("digit", "category"),
    [
        ("1", WAGES),
        ("2", HOUSING),
        ("3", SCHOOLING),
        ("4", JOBS),
        ("5", DISPUTE),
        ("6", DOCUMENTS),
        ("7", OTHER),
    ],
)
def test_help_digits_match_the_published_menu(digit: str, category: HelpCategory) -> None:
    """The digits 1-7 stay bound to the categories the menu prompt lists."""
    assert parse(f"求助{digit}").category is category


@pytest.mark.parametrize("keyword", ["HB", "hb", "汇报", "匯報", "REPORT", "Report", "ＨＢ"])
@pytest.mark.parametrize("separator", ["", " ", "，", ",", ":", "：", "　", " - ", "、"])
def test_report_keyword_with_any_separator(keyword: str, separator: str) -> None:
    """Every report keyword, glued or separated by any punctuation, reads its digit."""
    command = parse(f"{keyword}{separator}2{separator}深圳")
    assert (command.kind, command.studied, command.city) == (Kind.REPORT, False, "深圳")


@pytest.mark.parametrize(
    ("keyword", "kind"),
    [
        ("HB", Kind.REPORT),
        ("DT", Kind.STATUS),
        ("HH", Kind.PHONE),
        ("QZ", Kind.HELP),
        ("XX", Kind.LESSONS),
        ("HELP", Kind.HELP),
        ("MENU", Kind.MENU),
        ("LESSON", Kind.LESSONS),
        ("NEWPHONE", Kind.PHONE),
        ("REPORT", Kind.REPORT),
        ("MOVE", Kind.STATUS),
        ("INFO", Kind.MENU),
        ("GX", Kind.DEED),
        ("DEED", Kind.DEED),
    ],
)
def test_ascii_keyword_never_eats_a_word(keyword: str, kind: Kind) -> None:
    """An ASCII keyword followed by a letter is a word, not a command."""
    assert parse(keyword).kind is kind
    assert parse(f"{keyword}A 1").kind is Kind.UNKNOWN
    assert parse(f"{keyword.lower()}ing").kind is Kind.UNKNOWN


def test_longest_body_is_parsed_whole() -> None:
    """A 1,600-character message is parsed without loss and its free text kept."""
    details = ("老板拖欠工资，" * 230)[:1594]
    command = parse(f"QZ 1 {details}")
    assert (command.kind, command.category) == (Kind.HELP, WAGES)
    assert command.text == details.rstrip("，").replace("，", ",")
    assert len(parse("我" * 1600).normalized) == 1600


def test_huge_numbers_are_not_converted() -> None:
    """Digit runs past Python's int-conversion limit never reach int()."""
    assert parse("XX " + "9" * 5000) == Command(Kind.LESSONS, "XX " + "9" * 5000, text="9" * 5000)
    assert parse("7" * 5000).answer == "7" * 5000


def test_cities_are_simplified_names_without_suffix() -> None:
    """The city set has about 300 simplified names, none ending in 市, major ones present."""
    assert 290 <= len(CITIES) <= 400
    assert not [c for c in CITIES if c.endswith("市") or zhconv.convert(c, "zh-cn") != c]
    assert {"北京", "上海", "广州", "深圳", "东莞", "苏州", "昆山", "乌鲁木齐"} <= CITIES
    assert {"吉林"} == CITIES & PROVINCES


@given(st.text())
def test_parse_never_raises(message: str) -> None:
    """Any text at all parses to a Command of a known kind."""
    command = parse(message)
    assert isinstance(command, Command)
    assert isinstance(command.kind, Kind)


@given(st.text(max_size=300))
def test_command_values_are_well_formed(message: str) -> None:
    """Whatever the text, each value has the shape its consumers rely on."""
    command = parse(message)
    assert command.normalized == " ".join(command.normalized.split())
    if command.answer is not None:
        assert command.kind is Kind.ANSWER
        assert re.fullmatch(r"[0-9]+", command.answer)
    if command.new_phone is not None:
        assert command.kind is Kind.PHONE
        assert re.fullmatch(r"\+?[0-9]+", command.new_phone)
    if command.lesson_no is not None:
        assert command.kind is Kind.LESSONS
        assert 1 <= command.lesson_no <= 9999
    if command.city is not None:
        assert command.city in CITIES
    if command.category is not None:
        assert command.kind is Kind.HELP
    if command.studied is not None:
        assert command.kind is Kind.REPORT
    if command.item is not None:
        assert command.kind is Kind.DEED
        assert 1 <= command.item <= 5


KEYWORDISH = st.text(
    alphabet=st.sampled_from(
        list("HBDTQZXYNhbdtqz0123456789 ,.:?!，。：？")
        + list("汇报动态求助学习是否深圳东莞工资厂市贡献第项一四GXE")
    ),
    max_size=30,
)


@given(KEYWORDISH)
def test_normalized_text_parses_the_same(message: str) -> None:
    """Parsing the stored normalised text gives the same command again."""
    command = parse(message)
    assert parse(command.normalized) == command
