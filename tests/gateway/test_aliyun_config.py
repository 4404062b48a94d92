"""PROVIDER=aliyun against Alibaba Cloud itself: held to the rules of every live provider."""

from __future__ import annotations

import pytest

from infra.config import ConfigError, load_config

REAL = {
    "PROVIDER": "aliyun",
    "ALIYUN_ACCESS_KEY_ID": "LTAI5tRealKeyId",
    "ALIYUN_ACCESS_KEY_SECRET": "a-real-access-key-secret",
    "ALIYUN_SMS_SIGN_NAME": "青山镇党委",
    "ALIYUN_SMS_ENDPOINT": "dysmsapi.aliyuncs.com",
    "CN_CALLBACK_SECRET": "a-long-random-push-secret-0123456789",
    "SECRET_KEY": "0123456789abcdef0123456789abcdef",
}
SANDBOX = {**REAL, "ALIYUN_SMS_ENDPOINT": "http://127.0.0.1:5055", "SECRET_KEY": "dev"}


def test_against_alibaba_itself_sound_settings_load() -> None:
    assert load_config(environ=REAL)["ALIYUN_SMS_SIGN_NAME"] == "青山镇党委"


def test_against_alibaba_the_test_clock_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"CLOCK_FILE .* not Alibaba Cloud"):
        load_config(environ={**REAL, "CLOCK_FILE": "/tmp/clock"})
    with pytest.raises(ConfigError, match="CRON_SPEEDUP"):
        load_config(environ={**REAL, "CRON_SPEEDUP": "60"})


@pytest.mark.parametrize(
    ("name", "value"),
    [("SECRET_KEY", "test-secret"), ("SECRET_KEY", "short"), ("CN_CALLBACK_SECRET", "guessable")],
)
def test_against_alibaba_weak_secrets_stop_the_app(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=rf"PROVIDER=aliyun refuses weak secrets: .*{name}"):
        load_config(environ={**REAL, name: value})


def test_against_the_sandbox_short_secrets_and_the_test_clock_do() -> None:
    config = load_config(
        environ={**SANDBOX, "CN_CALLBACK_SECRET": "dev", "CLOCK_FILE": "/tmp/clock"}
    )
    assert config["CLOCK_FILE"] == "/tmp/clock"
