"""The mainland providers' template book is the registry: approved codes, limits, slots."""

from __future__ import annotations

from typing import Any

import pytest

from gateway import create_app
from infra.db import get_session
from infra.providers.base import TemplateUnavailable
from infra.providers.templates import RegistryBook, book_for, registry_book
from models import MessageStatus
from models.outbox import queue_sms
from models.sms_templates import TemplateRules
from tests.factories import make_member
from tests.gateway.tencent_support import tencent_config

LONG_NOTICE = "本周六上午九点在村委会开党员大会,请准时参加。会后集体学习新修订的党章,带好笔记本。"


def test_an_unapproved_template_goes_under_its_name_to_the_sandbox_only() -> None:
    """The sandbox takes any template; Alibaba itself would refuse one without a code."""
    resolved = registry_book("aliyun", sandbox=True).resolve(
        "aliyun", "report_done", {"name": "张三", "month": "11", "receipt": "A7K2"}
    )
    assert (resolved.code, resolved.params) == (
        "report_done",
        {"name": "张三", "month": "11", "receipt": "A7K2"},
    )
    with pytest.raises(TemplateUnavailable) as refused:
        registry_book("aliyun").resolve(
            "aliyun", "report_done", {"name": "张三", "month": "11", "receipt": "A7K2"}
        )
    assert refused.value.code == "template:unapproved:report_done"


def test_a_long_notice_takes_the_form_with_enough_slots_for_alibaba() -> None:
    """Over 35 characters, the text is cut at its own punctuation over two slots."""
    resolved = registry_book("aliyun", sandbox=True).resolve(
        "aliyun", "broadcast", {"text": LONG_NOTICE}
    )
    assert resolved.code == "broadcast.2"
    assert isinstance(resolved.params, dict) and set(resolved.params) == {"text1", "text2"}
    assert all(0 < len(value) <= 35 for value in resolved.params.values())


def test_tencent_gets_its_parameters_by_position() -> None:
    resolved = registry_book("tencent", sandbox=True).resolve(
        "tencent", "report_done", {"name": "张三", "month": "11", "receipt": "A7K2"}
    )
    assert list(resolved.params) == ["张三", "11", "A7K2"]


def test_a_value_that_does_not_fit_is_refused_with_the_registrys_reason() -> None:
    """A value no template can carry fails the row, naming the parameter; never truncated."""
    book = RegistryBook(TemplateRules("tencent", 6), sandbox=True)
    with pytest.raises(TemplateUnavailable) as refused:
        book.resolve(
            "tencent", "report_done", {"name": "欧阳一二三四五六", "month": "11", "receipt": "A"}
        )
    assert refused.value.code.startswith("template:too_long:report_done.name")
    with pytest.raises(TemplateUnavailable) as unknown:
        book.resolve("tencent", "no_such_template", {})
    assert unknown.value.code == "template:unknown_template:no_such_template"


def test_the_settings_choose_the_book_and_its_limits() -> None:
    book = book_for({"PROVIDER": "tencent", "TENCENT_SMS_PARAM_MAX": 6}, sandbox=True)
    assert isinstance(book, RegistryBook) and book.rules == TemplateRules("tencent", 6)
    with pytest.raises(ValueError):
        book_for({"PROVIDER": "twilio"})


def test_a_row_that_no_template_can_carry_fails_as_it_is_queued(
    app_config: dict[str, Any],
) -> None:
    """The app's sessions carry the township's provider rules: the outbox checks each row
    when it is written, whoever writes it, and keeps the reason on the failed row."""
    config = {
        **app_config,
        **tencent_config("http://127.0.0.1:9"),
        "TENCENT_SMS_PARAM_MAX": 6,
    }
    config.pop("SMS_TEMPLATE_BOOK")
    app = create_app(config)
    try:
        with app.app_context():
            session = get_session()
            member = make_member(session)
            params = {"name": "欧阳一二三四五六", "month": "11", "receipt": "A7K2"}
            refused = queue_sms(session, template_key="report_done", params=params, member=member)
            fits = queue_sms(
                session,
                template_key="report_done",
                params={**params, "name": "张三"},
                member=member,
            )
            assert (refused.status, refused.error_code) == (
                MessageStatus.FAILED,
                "template:too_long:report_done.name>6",
            )
            assert fits.status is MessageStatus.QUEUED
            assert fits.body == "张三您好,11月汇报已收到,回执A7K2。谢谢!"
    finally:
        app.extensions["db_engine"].dispose()
