"""Every text the system sends fits one SMS segment when filled with realistic values."""

from __future__ import annotations

import pytest

from models.segments import count_segments
from models.templates import TEMPLATES, placeholders, render

# Long but real values: a four-character name, a long city and a long employer.
REALISTIC = {
    "name": "欧阳建国",
    "month": "11",
    "city": "呼和浩特",
    "employer": "富士康科技",
    "receipt": "K7M2QX",
    "category": "子女入学",
    "ref": "QZ12345",
    "items": "12.工资条例解读 11.劳动合同要点",
    "number": "12",
    "phone": "+8613912345678",
    "code": "493027",
    "title": "工资支付条例解读",
}
ENGLISH = {
    **REALISTIC,
    "name": "Wang Jianguo",
    "month": "2026-11",
    "city": "Hohhot",
    "employer": "Foxconn",
    "category": "schooling",
    "items": "12.Wage rules 11.Contracts",
    "title": "Wage payment rules",
}
# The admin's own words fill these; the composer shows their segments before sending.
FREE_TEXT = {"broadcast": {"text"}, "help_resolved": {"note"}}


@pytest.mark.parametrize("key", sorted(TEMPLATES))
@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_template_fits_one_segment(key: str, language: str) -> None:
    """The template, filled, is one segment in each language."""
    values = REALISTIC if language == "zh_CN" else ENGLISH
    params = {name: values.get(name, "") for name in placeholders(key)}
    for name in FREE_TEXT.get(key, set()):
        params[name] = "请按时参加" if language == "zh_CN" else "see you soon"
    text = render(key, language, **params)
    info = count_segments(text)
    assert info.segments == 1, f"{key}/{language}: {info.units} units: {text}"


@pytest.mark.parametrize("key", sorted(TEMPLATES))
def test_every_template_has_both_languages_with_the_same_placeholders(key: str) -> None:
    """zh_CN and en carry the same parameters, so either can be rendered from one row."""
    import string

    names = [
        {f for _, f, _, _ in string.Formatter().parse(TEMPLATES[key][lang]) if f}
        for lang in ("zh_CN", "en")
    ]
    assert names[0] == names[1]


def test_unknown_language_falls_back_to_chinese() -> None:
    """A member with no known language gets zh_CN."""
    assert render("menu", "fr") == render("menu", "zh_CN")


def test_missing_parameter_renders_empty_not_an_error() -> None:
    """A template never raises for a missing value."""
    assert "{" not in render("report_done", "zh_CN")
