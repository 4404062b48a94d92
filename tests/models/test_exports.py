"""The one way exports write a cell, and the sheet title made from any text."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from models.exports import export_cell, sheet_title


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+1", "'=1+1"),
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+1+1", "'+1+1"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("\x01=1", "'=1"),  # a control character XLSX cannot hold is dropped first
        ("+8613800000001", "+8613800000001"),  # a phone number stays one
        ("+86 138 0000 0001", "'+86 138 0000 0001"),
        ("+86138000000011234567", "'+86138000000011234567"),  # too long for E.164
        ("广州", "广州"),
        ("a=b", "a=b"),
        (None, ""),
        (-3, -3),  # numbers stay numbers
        (datetime(2026, 11, 3, 19, 5), "2026-11-03 19:05"),
    ],
)
def test_export_cell(value: Any, written: Any) -> None:
    """Text that starts like a formula gets a quote; phone numbers, numbers and text do not."""
    assert export_cell(value) == written


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("2027春节", "2027春节"),
        ("a/b\\c?d*e[f]g:h", "a_b_c_d_e_f_g_h"),
        ("春节\n补课", "春节_补课"),
        ("'引号'", "引号"),
        ("", "Sheet"),
        ("长" * 40, "长" * 31),
    ],
)
def test_sheet_title(name: str, title: str) -> None:
    """Any text becomes a worksheet title openpyxl and Excel accept."""
    assert sheet_title(name) == title
