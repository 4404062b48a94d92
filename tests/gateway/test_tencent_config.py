"""PROVIDER=tencent: which settings it needs, and the provider build_provider makes of them."""

from __future__ import annotations

import pytest

from infra.config import ConfigError, load_config, uses_sandbox
from infra.providers import build_provider
from infra.providers.templates import RegistryBook
from infra.providers.tencent import TencentProvider
from models.sms_templates import TemplateRules

REAL = {
    "PROVIDER": "tencent",
    "TENCENT_SECRET_ID": "AKIDrealkeyid",
    "TENCENT_SECRET_KEY": "a-real-secret-key",
    "TENCENT_SMS_SDK_APP_ID": "1400987654",
    "TENCENT_SMS_SIGN_NAME": "青山镇党委",
    "CN_CALLBACK_SECRET": "a-long-random-push-secret-0123456789",
    "SECRET_KEY": "0123456789abcdef0123456789abcdef",
}


def test_against_tencent_itself_every_credential_is_set() -> None:
    config = load_config(environ=REAL)
    assert (config["TENCENT_REGION"], config["TENCENT_SMS_ENDPOINT"]) == (
        "ap-guangzhou",
        "sms.tencentcloudapi.com",
    )


@pytest.mark.parametrize(
    "missing",
    [
        "TENCENT_SECRET_ID",
        "TENCENT_SECRET_KEY",
        "TENCENT_SMS_SDK_APP_ID",
        "TENCENT_SMS_SIGN_NAME",
        "CN_CALLBACK_SECRET",
    ],
)
def test_against_tencent_a_missing_setting_stops_the_app(missing: str) -> None:
    """The sandbox's public defaults never reach Tencent: each must be set explicitly."""
    environ = {key: value for key, value in REAL.items() if key != missing}
    with pytest.raises(ConfigError, match=missing):
        load_config(environ=environ)


def test_against_tencent_the_test_clock_is_refused() -> None:
    with pytest.raises(ConfigError, match="CLOCK_FILE"):
        load_config(environ={**REAL, "CLOCK_FILE": "/tmp/clock"})


def test_against_the_sandbox_the_defaults_do() -> None:
    config = load_config(
        environ={"PROVIDER": "tencent", "TENCENT_SMS_ENDPOINT": "http://127.0.0.1:5055"}
    )
    provider = build_provider(config)
    assert isinstance(provider, TencentProvider)
    # The registry's book, sending unapproved templates under their names to the sandbox.
    assert isinstance(provider.templates, RegistryBook) and provider.templates.sandbox
    assert provider.sign_name == "sandbox"


def test_an_endpoint_that_is_not_one_stops_the_app() -> None:
    with pytest.raises(ConfigError, match="TENCENT_SMS_ENDPOINT"):
        load_config(environ={**REAL, "TENCENT_SMS_ENDPOINT": "ftp://sms"})


def test_the_template_book_is_the_one_passed_in() -> None:
    book = RegistryBook(TemplateRules.for_provider("tencent"))
    config = load_config({"SMS_TEMPLATE_BOOK": book}, environ=REAL)
    provider = build_provider(config)
    assert isinstance(provider, TencentProvider) and provider.templates is book


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"PROVIDER": "sandbox"}, True),
        ({"PROVIDER": "tencent", "TENCENT_SMS_ENDPOINT": "http://127.0.0.1:5055"}, True),
        (REAL, False),
    ],
)
def test_the_development_tools_load_only_against_the_sandbox(
    environ: dict[str, str], expected: bool
) -> None:
    """`flask sandbox serve` is there when Tencent's endpoint is the sandbox, not otherwise."""
    assert uses_sandbox(load_config(environ=environ)) is expected


@pytest.mark.parametrize(
    ("name", "value"),
    [("SECRET_KEY", "test-secret"), ("SECRET_KEY", "short"), ("CN_CALLBACK_SECRET", "guessable")],
)
def test_against_tencent_weak_secrets_stop_the_app(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"weak secrets: .*{name}"):
        load_config(environ={**REAL, name: value})
