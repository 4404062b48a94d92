"""Settings: every variable typed with its default, and a refusal to start without what Twilio needs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway import create_app
from infra.config import SETTINGS, VAR_DIR, ConfigError, load_config, settings_table

TWILIO_READY = {
    "PROVIDER": "twilio",
    "TWILIO_AUTH_TOKEN": "0123456789abcdef0123456789abcdef",
    "SECRET_KEY": "kq3Vd8Zr1xW0pLm5Tn7Yb2Hs9Jc4Fg6E",
    "PUBLIC_BASE_URL": "https://gateway.example.org/",
}


def test_defaults_with_an_empty_environment() -> None:
    """With nothing set the app runs on the sandbox, SQLite under var/ and a local Redis."""
    config = load_config(environ={})

    assert config["DATABASE_URL"] == f"sqlite:///{VAR_DIR / 'infra.db'}"
    assert config["REDIS_URL"] == "redis://127.0.0.1:6379/0"
    assert config["PROVIDER"] == "sandbox"
    assert config["TRUST_PROXY"] is False
    assert config["DEFAULT_REGION"] == "CN"
    assert config["TIMEZONE"] == "Asia/Shanghai"
    assert config["PUBLIC_BASE_URL"] == "http://127.0.0.1:5000"
    assert config["CONVERSATION_TTL_HOURS"] == 72
    assert config["SEND_RATE_SEGMENTS_PER_S"] == 1.0
    assert set(config) >= {s.name for s in SETTINGS}


def test_every_setting_has_its_declared_type() -> None:
    """Each value read, whether defaulted or from strings in the environment, has its type."""
    strings = {s.name: str(s.default) for s in SETTINGS}
    for environ in ({}, strings):
        config = load_config(environ=environ)
        for setting in SETTINGS:
            assert type(config[setting.name]) is setting.type, setting.name


def test_environment_strings_are_converted() -> None:
    """Booleans, integers and floats are read from their text forms."""
    config = load_config(
        environ={
            "TRUST_PROXY": "yes",
            "SESSION_COOKIE_SECURE": "1",
            "CONVERSATION_TTL_HOURS": "48",
            "CALLS_PER_S": "2.5",
            "DATABASE_URL": "postgresql+psycopg://gw@db/gateway",
        }
    )

    assert config["TRUST_PROXY"] is True
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["CONVERSATION_TTL_HOURS"] == 48
    assert config["CALLS_PER_S"] == 2.5
    assert config["DATABASE_URL"] == "postgresql+psycopg://gw@db/gateway"


@pytest.mark.parametrize("text", ["0", "false", "No", "off", ""])
def test_false_booleans(text: str) -> None:
    """The usual ways of saying no are False."""
    assert load_config(environ={"TRUST_PROXY": text})["TRUST_PROXY"] is False


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CONVERSATION_TTL_HOURS", "three days"),
        ("CALLS_PER_S", "fast"),
        ("TRUST_PROXY", "ture"),
        ("MAX_UPLOAD_MB", "20MB"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_by_name(name: str, value: str) -> None:
    """A value that is not of the setting's type stops the app and names the variable."""
    with pytest.raises(ConfigError, match=name):
        load_config(environ={name: value})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DB_LOCK_TIMEOUT_S", "0"),
        ("DB_STATEMENT_TIMEOUT_S", "30"),  # past Twilio's 15 s, a webhook could not answer 503
        ("DB_POOL_TIMEOUT_S", "-1"),
        ("DB_CONNECT_TIMEOUT_S", "1"),  # libpq waits 2 s whatever it is told below that
        ("DB_JOB_TIMEOUT_S", "0"),
        ("RECORDING_REDIRECT_HOSTS", "https://mms.twiliocdn.com"),
        ("RECORDING_REDIRECT_HOSTS", "mms.twiliocdn.com,evil.org/path"),
        ("ALIYUN_SMS_PARAM_MAX", "-1"),
        ("TENCENT_SMS_PARAM_MAX", "-12"),
    ],
)
def test_a_value_out_of_its_range_is_refused_by_name(name: str, value: str) -> None:
    """Database timeouts that would let a webhook hang past Twilio's patience, redirect hosts
    that are not host names and negative template limits stop the app."""
    with pytest.raises(ConfigError, match=name):
        load_config(environ={name: value})


def test_redirect_hosts_may_name_a_port_or_be_empty() -> None:
    """`host:port` entries and an empty list (follow no redirect) are accepted."""
    assert load_config(environ={"RECORDING_REDIRECT_HOSTS": "a.example.org:8443, b.example.org"})
    assert load_config(environ={"RECORDING_REDIRECT_HOSTS": ""})["RECORDING_REDIRECT_HOSTS"] == ""


def test_overrides_win_over_the_environment_and_extra_keys_pass_through() -> None:
    """A test's mapping beats the environment; Flask keys not among the settings are kept."""
    config = load_config(
        {"REDIS_URL": "redis://cache:6380/1", "TESTING": True},
        environ={"REDIS_URL": "redis://other:6379/0"},
    )

    assert config["REDIS_URL"] == "redis://cache:6380/1"
    assert config["TESTING"] is True


def test_secret_key_when_unset_is_one_kept_key_never_empty() -> None:
    """Development without SECRET_KEY signs with a generated key, the same for every worker."""
    first, second = load_config(environ={}), load_config(environ={})

    assert len(first["SECRET_KEY"]) == 64
    assert first["SECRET_KEY"] == second["SECRET_KEY"]
    assert load_config(environ={"SECRET_KEY": "mine"})["SECRET_KEY"] == "mine"


def test_public_base_url_loses_its_trailing_slash() -> None:
    """Signatures are checked against PUBLIC_BASE_URL + path, so a trailing slash is dropped."""
    config = load_config(environ={"PUBLIC_BASE_URL": "https://gateway.example.org/"})
    assert config["PUBLIC_BASE_URL"] == "https://gateway.example.org"


def test_twilio_without_its_settings_names_all_missing_in_one_line() -> None:
    """PROVIDER=twilio alone is refused, naming the token, the secret key and the public URL."""
    with pytest.raises(ConfigError) as refused:
        load_config(environ={"PROVIDER": "twilio"})

    message = str(refused.value)
    assert "\n" not in message
    for name in ("TWILIO_AUTH_TOKEN", "SECRET_KEY", "PUBLIC_BASE_URL"):
        assert name in message


@pytest.mark.parametrize("missing", ["TWILIO_AUTH_TOKEN", "SECRET_KEY", "PUBLIC_BASE_URL"])
def test_twilio_names_exactly_what_is_missing(missing: str) -> None:
    """With one of the three left out, only that one is named."""
    environ = {k: v for k, v in TWILIO_READY.items() if k != missing}

    with pytest.raises(ConfigError) as refused:
        load_config(environ=environ)

    named = {
        n for n in ("TWILIO_AUTH_TOKEN", "SECRET_KEY", "PUBLIC_BASE_URL") if n in str(refused.value)
    }
    assert named == {missing}


def test_twilio_with_an_empty_value_is_refused() -> None:
    """A variable set to nothing counts as missing."""
    with pytest.raises(ConfigError, match="TWILIO_AUTH_TOKEN"):
        load_config(environ={**TWILIO_READY, "TWILIO_AUTH_TOKEN": ""})


def test_twilio_settings_may_come_from_the_environment_or_the_mapping() -> None:
    """The three settings count whether set in the environment or passed to create_app."""
    from_env = load_config(environ=TWILIO_READY)
    from_mapping = load_config(TWILIO_READY, environ={})

    for config in (from_env, from_mapping):
        assert config["PROVIDER"] == "twilio"
        assert config["TWILIO_AUTH_TOKEN"] == TWILIO_READY["TWILIO_AUTH_TOKEN"]
        assert config["SECRET_KEY"] == TWILIO_READY["SECRET_KEY"]
        assert config["PUBLIC_BASE_URL"] == "https://gateway.example.org"


def test_create_app_refuses_to_start_on_twilio_without_its_settings() -> None:
    """The app factory raises before building anything when Twilio's settings are empty."""
    with pytest.raises(ConfigError, match="TWILIO_AUTH_TOKEN, SECRET_KEY, PUBLIC_BASE_URL"):
        create_app(
            {"PROVIDER": "twilio", "TWILIO_AUTH_TOKEN": "", "SECRET_KEY": "", "PUBLIC_BASE_URL": ""}
        )


@pytest.mark.parametrize(
    "key",
    ["x", "test-secret", "s3cret-but-still-short", "a" * 64, "0123456789" * 3, "changeme"],
)
def test_twilio_refuses_a_weak_secret_key(key: str) -> None:
    """A short, repetitive or well-known SECRET_KEY stops a production start, named in one line."""
    with pytest.raises(ConfigError) as refused:
        create_app({**TWILIO_READY, "SECRET_KEY": key})
    message = str(refused.value)
    assert "SECRET_KEY" in message and "\n" not in message
    assert "TWILIO_AUTH_TOKEN" not in message


@pytest.mark.parametrize("token", ["sandbox-token", "token", "0123456789ABCDEF" * 2])
def test_twilio_refuses_the_default_or_a_malformed_auth_token(token: str) -> None:
    """The sandbox's public default token, or anything that is not Twilio's 32 hex, is refused."""
    with pytest.raises(ConfigError) as refused:
        create_app({**TWILIO_READY, "TWILIO_AUTH_TOKEN": token})
    message = str(refused.value)
    assert "TWILIO_AUTH_TOKEN" in message and "SECRET_KEY" not in message
    if token == "sandbox-token":
        assert "default" in message


def test_weak_secrets_are_allowed_with_the_sandbox() -> None:
    """Development and tests keep their short keys: only PROVIDER=twilio is held to the rule."""
    config = load_config({"SECRET_KEY": "x", "TWILIO_AUTH_TOKEN": "sandbox-token"}, environ={})
    assert config["SECRET_KEY"] == "x"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PROVIDER", "aliyun"),
        ("TIMEZONE", "Mars/Olympus"),
        ("TIMEZONE", "Asia"),
        ("DEFAULT_REGION", "ZZ"),
    ],
)
def test_unknown_provider_time_zone_or_region_is_refused(name: str, value: str) -> None:
    """A provider we do not have, a time zone or a region that does not exist stops the app."""
    with pytest.raises(ConfigError, match=name):
        load_config(environ={name: value})


def test_settings_table_lists_every_variable() -> None:
    """The README's table has one row per setting, with paths relative to the project."""
    table = settings_table().splitlines()

    assert len(table) == 2 + len(SETTINGS)
    for setting, row in zip(SETTINGS, table[2:], strict=True):
        assert row.startswith(f"| `{setting.name}` | {setting.type.__name__} |")
    assert "`sqlite:///var/infra.db`" in settings_table()


def test_the_tencent_lookup_lag_is_a_setting_defaulting_to_tencents_half_hour() -> None:
    """TENCENT_LOOKUP_LAG_SECONDS sets how long reconciliation waits for Tencent's status
    lookup to list a text; unset, it is the half hour Tencent may take."""
    from infra.providers.tencent import LOOKUP_LAG, from_config

    plain = {**load_config({}, environ={}), "PROVIDER": "tencent"}
    assert from_config(plain).lookup_lag == LOOKUP_LAG == timedelta(minutes=30)
    tuned = {**load_config({}, environ={"TENCENT_LOOKUP_LAG_SECONDS": "0"}), "PROVIDER": "tencent"}
    assert from_config(tuned).lookup_lag == timedelta(0)
