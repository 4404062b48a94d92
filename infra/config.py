"""Every setting the application reads, with its type and default, in one place."""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _var_dir() -> Path:
    """Where runtime files go unless configured: var/ in a checkout; once installed (no
    pyproject.toml beside the packages), Flask's instance folder for an installed package,
    <prefix>/var/gateway-instance, never site-packages."""
    if (PROJECT_ROOT / "pyproject.toml").exists():
        return PROJECT_ROOT / "var"
    return Path(sys.prefix) / "var" / "gateway-instance"


VAR_DIR = _var_dir()


class ConfigError(RuntimeError):
    """Raised when the settings cannot run the app (named in one line)."""


_HOST = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def _bool(value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    text = value.strip().lower()
    if text not in _TRUE | _FALSE:
        # A typo such as "ture" must not quietly mean False.
        raise ValueError(value)
    return text in _TRUE


@dataclass(frozen=True)
class Setting:
    """One environment variable: its name, type, default and what it is for."""

    name: str
    type: type
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "DATABASE_URL",
        str,
        f"sqlite:///{VAR_DIR / 'infra.db'}",
        "SQLAlchemy URL; SQLite under var/ by default, PostgreSQL in production",
    ),
    Setting(
        "DB_CONNECT_TIMEOUT_S",
        int,
        3,
        "seconds to wait for PostgreSQL to accept a connection (2 at least, libpq's floor)",
    ),
    Setting(
        "DB_POOL_TIMEOUT_S", float, 2.0, "seconds a request waits for a free pooled connection"
    ),
    Setting(
        "DB_LOCK_TIMEOUT_S",
        float,
        3.0,
        "seconds a web request waits for a lock: PostgreSQL lock_timeout, SQLite busy timeout",
    ),
    Setting(
        "DB_STATEMENT_TIMEOUT_S",
        float,
        4.0,
        "seconds one statement of a web request may run (PostgreSQL statement_timeout)",
    ),
    Setting(
        "DB_JOB_TIMEOUT_S",
        float,
        60.0,
        "the lock and statement timeout outside web requests (workers, cron, commands)",
    ),
    Setting(
        "DB_POOL_SIZE",
        int,
        5,
        "PostgreSQL connections each process keeps open (a gunicorn worker or an rq worker "
        "uses one at a time: 2 is enough)",
    ),
    Setting(
        "DB_POOL_OVERFLOW",
        int,
        10,
        "connections a process may open beyond DB_POOL_SIZE under a burst, closed after",
    ),
    Setting(
        "REDIS_URL", str, "redis://127.0.0.1:6379/0", "Redis for the RQ queues and rate limits"
    ),
    Setting(
        "PROVIDER",
        str,
        "sandbox",
        "`sandbox` (local stand-in for Twilio), `twilio`, `aliyun` (Alibaba Cloud SMS) or "
        "`tencent` (Tencent Cloud SMS)",
    ),
    Setting("TWILIO_ACCOUNT_SID", str, "AC" + "0" * 32, "Twilio account SID"),
    Setting("TWILIO_AUTH_TOKEN", str, "sandbox-token", "Twilio auth token; signs webhooks"),
    Setting(
        "RECORDING_REDIRECT_HOSTS",
        str,
        "mms.twiliocdn.com,media.twiliocdn.com",
        "hosts (comma-separated) a recording fetch may be redirected to, over https and "
        "without credentials; credentials go to api.twilio.com only",
    ),
    Setting("TWILIO_FROM_NUMBER", str, "+8610690000", "the number members text and call"),
    Setting(
        "ALIYUN_ACCESS_KEY_ID", str, "", "Alibaba Cloud AccessKey ID (a RAM user with SMS access)"
    ),
    Setting(
        "ALIYUN_ACCESS_KEY_SECRET", str, "", "Alibaba Cloud AccessKey secret; signs every API call"
    ),
    Setting(
        "ALIYUN_SMS_SIGN_NAME", str, "", "the approved SMS signature (签名) sent with templates"
    ),
    Setting(
        "ALIYUN_SMS_ENDPOINT",
        str,
        "dysmsapi.aliyuncs.com",
        "the SMS API's host (https), or `http://host:port` of the sandbox",
    ),
    Setting(
        "ALIYUN_VOICE_ENDPOINT",
        str,
        "dyvmsapi.aliyuncs.com",
        "the voice API's host (https), or `http://host:port` of the sandbox",
    ),
    Setting(
        "ALIYUN_VOICE_SHOW_NUMBER",
        str,
        "",
        "the number Alibaba Cloud voice calls members from (CalledShowNumber: one bought in "
        "the voice console); empty: no calls through Alibaba",
    ),
    Setting(
        "PUBLIC_BASE_URL",
        str,
        "http://127.0.0.1:5000",
        "the URL Twilio calls us at; webhook signatures are checked against it",
    ),
    Setting("TRUST_PROXY", bool, False, "trust X-Forwarded-* headers from one reverse proxy"),
    Setting(
        "CN_CALLBACK_SECRET",
        str,
        "",
        "the secret path segment of the mainland providers' push addresses "
        "(`/cn/<provider>/<feed>/<secret>`); empty: those addresses are off",
    ),
    Setting(
        "CN_CALLBACK_ALLOW",
        str,
        "",
        "comma-separated addresses or networks (CIDR) the mainland providers push from; "
        "empty: any address with the secret",
    ),
    Setting("TENCENT_SECRET_ID", str, "sandbox-secret-id", "Tencent Cloud CAM API key id"),
    Setting(
        "TENCENT_SECRET_KEY",
        str,
        "sandbox-secret-key",
        "Tencent Cloud CAM API key secret; signs every request (TC3-HMAC-SHA256)",
    ),
    Setting("TENCENT_SMS_SDK_APP_ID", str, "1400000000", "the SMS application's SdkAppId"),
    Setting("TENCENT_SMS_SIGN_NAME", str, "sandbox", "the approved SMS signature (签名), no 【】"),
    Setting(
        "TENCENT_VMS_APP_ID",
        str,
        "",
        "the voice message (VMS) application's SdkAppid; empty: no calls through Tencent",
    ),
    Setting(
        "TENCENT_LOOKUP_LAG_SECONDS",
        int,
        1800,
        "how long a text stuck in `sending` waits for Tencent's status lookup to list it "
        "before it is sent again (Tencent lists a text once the carrier reported on it)",
    ),
    Setting("TENCENT_REGION", str, "ap-guangzhou", "the Tencent Cloud region SMS requests name"),
    Setting(
        "TENCENT_SMS_ENDPOINT",
        str,
        "sms.tencentcloudapi.com",
        "Tencent's SMS API host (https); `http://host:port` points the SDK at the sandbox",
    ),
    Setting(
        "SECRET_KEY",
        str,
        "",
        "signs admin sessions; with twilio required, 32+ random characters "
        "(development: kept in var/secret_key)",
    ),
    Setting("DEFAULT_REGION", str, "CN", "region for phone numbers written without +country code"),
    Setting("TIMEZONE", str, "Asia/Shanghai", "default time zone for townships and periods"),
    Setting("SANDBOX_URL", str, "http://127.0.0.1:5055", "where the sandbox provider listens"),
    Setting("SANDBOX_DB", str, str(VAR_DIR / "sandbox.db"), "the sandbox's own SQLite store"),
    Setting("SEND_RATE_SEGMENTS_PER_S", float, 1.0, "SMS segments per second per sender"),
    Setting("CALLS_PER_S", float, 1.0, "outbound calls started per second per sender"),
    Setting("PRICE_PER_SEGMENT", str, "0.05", "estimated cost of one SMS segment (CNY)"),
    Setting("SESSION_COOKIE_SECURE", bool, False, "send the admin cookie over https only"),
    Setting("CONVERSATION_TTL_HOURS", int, 72, "how long an SMS question stays open"),
    Setting(
        "CALLBACKS_PER_DAY",
        int,
        2,
        "calls back per member per day (missed calls and `XX n` texts together)",
    ),
    Setting("UPLOAD_DIR", str, str(VAR_DIR / "uploads"), "where lesson audio and prompts are kept"),
    Setting(
        "UPLOAD_STORE",
        str,
        "local",
        "where lesson audio is kept: `local` (files under UPLOAD_DIR: one machine or a shared "
        "mount) or `database` (the stored_files table, which every host reads)",
    ),
    Setting(
        "MAX_UPLOAD_MB",
        int,
        20,
        "largest accepted upload (lesson audio, the register), on the upload routes only",
    ),
    Setting(
        "MAX_FORM_KB",
        int,
        64,
        "largest request body anywhere else (webhooks, login, admin forms): 413 before reading",
    ),
    Setting(
        "ALIYUN_SMS_PARAM_MAX",
        int,
        35,
        "most characters in one variable of an Alibaba Cloud notification or marketing template "
        "(Alibaba's limit); longer values go over the template's slots or fail (0: no limit)",
    ),
    Setting(
        "TENCENT_SMS_PARAM_MAX",
        int,
        0,
        "most characters in one variable of a Tencent Cloud non-verification template: 0 (no "
        "limit) for an organisation's account, 12 for one certified as a person",
    ),
    Setting(
        "METRICS_TOKEN",
        str,
        "",
        "the bearer token `/metrics` asks for (`Authorization: Bearer …`); empty: `/metrics` is off",
    ),
    Setting(
        "WORKER_METRICS_PORT",
        int,
        0,
        "a worker's own metrics on this port (127.0.0.1, Prometheus text); 0: off",
    ),
    Setting(
        "CRON_METRICS_PORT",
        int,
        0,
        "the scheduler's own metrics on this port (127.0.0.1, Prometheus text); 0: off",
    ),
    Setting(
        "METRICS_BIND",
        str,
        "127.0.0.1",
        "the address the worker's and the scheduler's metrics listen on",
    ),
    Setting(
        "CRON_LEASE_SECONDS",
        int,
        20,
        "how long the scheduler holding the lease may go silent before another takes over",
    ),
    Setting(
        "LOG_FORMAT",
        str,
        "json",
        "`json` (one object a line on stderr) or `text` (`make run` sets it)",
    ),
    Setting("LOG_LEVEL", str, "INFO", "the least level logged: DEBUG, INFO, WARNING or ERROR"),
    Setting(
        "SENTRY_DSN",
        str,
        "",
        "report errors of web, workers and scheduler to Sentry (or a compatible service); "
        "empty: off",
    ),
    Setting(
        "CLOCK_FILE",
        str,
        "",
        "development and tests only: a file holding seconds added to the clock of every process",
    ),
    Setting(
        "CRON_SPEEDUP",
        int,
        1,
        "development and tests only: divide the periodic jobs' intervals (with CLOCK_FILE)",
    ),
)

REQUIRED_FOR_TWILIO = ("TWILIO_AUTH_TOKEN", "SECRET_KEY", "PUBLIC_BASE_URL")
REQUIRED_FOR_TENCENT = (
    "TENCENT_SECRET_ID",
    "TENCENT_SECRET_KEY",
    "TENCENT_SMS_SDK_APP_ID",
    "TENCENT_SMS_SIGN_NAME",
    "SECRET_KEY",
    "CN_CALLBACK_SECRET",
)
# Receipts reach us only at the push addresses, which need CN_CALLBACK_SECRET.
REQUIRED_FOR_ALIYUN = (
    "ALIYUN_ACCESS_KEY_ID",
    "ALIYUN_ACCESS_KEY_SECRET",
    "ALIYUN_SMS_SIGN_NAME",
    "CN_CALLBACK_SECRET",
)
PROVIDERS = ("sandbox", "twilio", "aliyun", "tencent")

# A key shorter than this, or made of few distinct characters, can be guessed offline from one
# session cookie; 32 random hex characters (`python -c 'import secrets; print(secrets.token_hex(32))'`
# gives 64) are far beyond it.
MIN_SECRET_KEY_LENGTH = 32
MIN_SECRET_KEY_DISTINCT = 10
MIN_PUSH_SECRET_LENGTH = 20
# Keys that appear in documentation, examples and our own tests: public, whatever their length.
KNOWN_SECRET_KEYS = frozenset(
    {
        "changeme",
        "change-me",
        "secret",
        "secret-key",
        "secret_key",
        "dev",
        "development",
        "test-secret",
        "cli-test",
        "stack-secret",
        "your-secret-key",
        "replace-me",
    }
)
# Twilio's auth token is 32 lowercase hexadecimal characters; anything else (our sandbox's
# public default included) cannot be the account's real token.
_TWILIO_TOKEN_RE = re.compile(r"[0-9a-f]{32}")


def load_config(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Read every setting from the environment, apply overrides, and check the result."""
    env = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    # Taken before the loop pops the settings out of overrides: a setting passed as an
    # override is as explicit as one from the environment.
    explicit = set(env) | set(overrides)
    config: dict[str, Any] = {}
    for setting in SETTINGS:
        if setting.name in overrides:
            raw: Any = overrides.pop(setting.name)
        elif setting.name in env:
            raw = env[setting.name]
        else:
            raw = setting.default
        convert = _bool if setting.type is bool else setting.type
        try:
            config[setting.name] = convert(raw)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{setting.name} must be a {setting.type.__name__}: {raw!r}") from exc
    config.update(overrides)  # extra Flask keys a test may pass (TESTING, WTF_CSRF_ENABLED, ...)
    _check(config, explicit=explicit)
    if not config["SECRET_KEY"]:
        config["SECRET_KEY"] = _development_secret()
    config["PUBLIC_BASE_URL"] = config["PUBLIC_BASE_URL"].rstrip("/")
    return config


def _development_secret() -> str:
    """A key kept under var/, so every web worker of a development run signs alike."""
    path = VAR_DIR / "secret_key"
    try:
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        return path.read_text().strip()
    except OSError:
        return secrets.token_hex(32)


def _check(config: Mapping[str, Any], explicit: set[str]) -> None:
    try:
        ZoneInfo(config["TIMEZONE"])
    except (KeyError, ValueError, OSError):  # OSError: a directory such as "Asia"
        raise ConfigError(f"TIMEZONE is not a known time zone: {config['TIMEZONE']!r}") from None
    if config["DEFAULT_REGION"] not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError(
            f"DEFAULT_REGION must be a region code such as CN: {config['DEFAULT_REGION']!r}"
        )
    for name in ("DB_POOL_TIMEOUT_S", "DB_LOCK_TIMEOUT_S", "DB_STATEMENT_TIMEOUT_S"):
        if not 0 < config[name] <= 10:
            # Twilio gives up on a webhook after 15 s: each wait must leave time to answer 503.
            raise ConfigError(f"{name} must be more than 0 and at most 10: {config[name]!r}")
    if not 2 <= config["DB_CONNECT_TIMEOUT_S"] <= 10:
        raise ConfigError(
            f"DB_CONNECT_TIMEOUT_S must be 2 to 10 (libpq's floor is 2): {config['DB_CONNECT_TIMEOUT_S']!r}"
        )
    if config["DB_JOB_TIMEOUT_S"] <= 0:
        raise ConfigError(f"DB_JOB_TIMEOUT_S must be more than 0: {config['DB_JOB_TIMEOUT_S']!r}")
    for entry in config["RECORDING_REDIRECT_HOSTS"].split(","):
        if entry.strip() and not _HOST.fullmatch(entry.strip().lower()):
            raise ConfigError(
                f"RECORDING_REDIRECT_HOSTS must list host names (host or host:port): {entry!r}"
            )
    for entry in config["CN_CALLBACK_ALLOW"].split(","):
        if entry.strip():
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ConfigError(
                    f"CN_CALLBACK_ALLOW must list addresses or networks: {entry!r}"
                ) from None
    for name in ("ALIYUN_SMS_PARAM_MAX", "TENCENT_SMS_PARAM_MAX"):
        if config[name] < 0:
            raise ConfigError(f"{name} must be 0 (no limit) or more: {config[name]!r}")
    if not 1 <= config["DB_POOL_SIZE"] <= 100 or not 0 <= config["DB_POOL_OVERFLOW"] <= 100:
        raise ConfigError(
            "DB_POOL_SIZE must be 1 to 100 and DB_POOL_OVERFLOW 0 to 100: "
            f"{config['DB_POOL_SIZE']!r}, {config['DB_POOL_OVERFLOW']!r}"
        )
    for name in ("WORKER_METRICS_PORT", "CRON_METRICS_PORT"):
        if not 0 <= config[name] <= 65535:
            raise ConfigError(f"{name} must be 0 (off) or a port number: {config[name]!r}")
    if not 3 <= config["CRON_LEASE_SECONDS"] <= 50:
        # A new holder must fire within a minute of the old one's death.
        raise ConfigError(f"CRON_LEASE_SECONDS must be 3 to 50: {config['CRON_LEASE_SECONDS']!r}")
    if config["UPLOAD_STORE"] not in ("local", "database"):
        raise ConfigError(f"UPLOAD_STORE must be local or database: {config['UPLOAD_STORE']!r}")
    if config["LOG_FORMAT"] not in ("json", "text"):
        raise ConfigError(f"LOG_FORMAT must be json or text: {config['LOG_FORMAT']!r}")
    if config["LOG_LEVEL"].upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(
            f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR: {config['LOG_LEVEL']!r}"
        )
    if config["CRON_SPEEDUP"] < 1:
        raise ConfigError(f"CRON_SPEEDUP must be 1 or more: {config['CRON_SPEEDUP']!r}")
    provider = config["PROVIDER"]
    if provider not in PROVIDERS:
        raise ConfigError(f"PROVIDER must be one of {', '.join(PROVIDERS)}, not {provider!r}")
    if provider == "tencent":
        _check_tencent(config, explicit)
    if provider == "aliyun":
        _check_aliyun(config, explicit)
    if provider == "twilio":
        missing = [
            name
            for name in REQUIRED_FOR_TWILIO
            if not config.get(name) or (name != "SECRET_KEY" and name not in explicit)
        ]
        if missing:
            raise ConfigError("PROVIDER=twilio needs these settings: " + ", ".join(missing))
        if config.get("CLOCK_FILE") or config["CRON_SPEEDUP"] != 1:
            raise ConfigError(
                "CLOCK_FILE and CRON_SPEEDUP are for the sandbox and tests, not PROVIDER=twilio"
            )
        weak = _weak_secrets(config)
        if weak:
            raise ConfigError("PROVIDER=twilio refuses weak secrets: " + "; ".join(weak))


def _check_tencent(config: Mapping[str, Any], explicit: set[str]) -> None:
    """PROVIDER=tencent: the endpoint readable, and against Tencent itself what every mainland
    provider needs (`_check_live_mainland`; the sandbox endpoint runs with the defaults)."""
    from infra.providers.tencent import Endpoint

    try:
        endpoint = Endpoint.parse(config["TENCENT_SMS_ENDPOINT"])
    except ValueError as exc:
        raise ConfigError(f"TENCENT_SMS_ENDPOINT: {exc}") from None
    if endpoint.is_tencent:
        _check_live_mainland(config, explicit, "tencent", "Tencent Cloud", REQUIRED_FOR_TENCENT)


def _check_aliyun(config: Mapping[str, Any], explicit: set[str]) -> None:
    """PROVIDER=aliyun: its credentials always (the sandbox checks the signature they make), and
    against Alibaba itself what every mainland provider needs (`_check_live_mainland`)."""
    from infra.providers import aliyun

    missing = [name for name in REQUIRED_FOR_ALIYUN if not str(config.get(name) or "").strip()]
    if missing:
        raise ConfigError("PROVIDER=aliyun needs these settings: " + ", ".join(missing))
    if not aliyun.is_sandbox(config):
        _check_live_mainland(config, explicit, "aliyun", "Alibaba Cloud", REQUIRED_FOR_ALIYUN)


def _check_live_mainland(
    config: Mapping[str, Any],
    explicit: set[str],
    provider: str,
    title: str,
    required: Sequence[str],
) -> None:
    """A mainland provider's own API (not the sandbox): every credential set explicitly, the
    test clock off, and strong secrets (SECRET_KEY, and CN_CALLBACK_SECRET, the path segment
    that alone keeps others from pushing receipts and replies)."""
    missing = [
        name
        for name in required
        if not config.get(name) or (name != "SECRET_KEY" and name not in explicit)
    ]
    if missing:
        raise ConfigError(f"PROVIDER={provider} needs these settings: " + ", ".join(missing))
    if config.get("CLOCK_FILE") or config["CRON_SPEEDUP"] != 1:
        raise ConfigError(f"CLOCK_FILE and CRON_SPEEDUP are for the sandbox and tests, not {title}")
    weak = _weak_secret_key(config)
    if len(str(config["CN_CALLBACK_SECRET"])) < MIN_PUSH_SECRET_LENGTH:
        weak.append(
            f"CN_CALLBACK_SECRET must be at least {MIN_PUSH_SECRET_LENGTH} random characters"
        )
    if weak:
        raise ConfigError(f"PROVIDER={provider} refuses weak secrets: " + "; ".join(weak))


def _weak_secret_key(config: Mapping[str, Any]) -> list[str]:
    """What is wrong with SECRET_KEY for production, one phrase (empty when it is sound)."""
    problems: list[str] = []
    key = str(config["SECRET_KEY"])
    if key.strip().lower() in KNOWN_SECRET_KEYS:
        problems.append("SECRET_KEY is a well-known example value")
    elif len(key) < MIN_SECRET_KEY_LENGTH or len(set(key)) < MIN_SECRET_KEY_DISTINCT:
        problems.append(
            f"SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} random characters "
            "(e.g. python -c 'import secrets; print(secrets.token_hex(32))')"
        )
    return problems


def _weak_secrets(config: Mapping[str, Any]) -> list[str]:
    """What is wrong with the production secrets, one phrase each (empty when both are sound)."""
    problems = _weak_secret_key(config)
    token = str(config["TWILIO_AUTH_TOKEN"])
    default_token = next(s.default for s in SETTINGS if s.name == "TWILIO_AUTH_TOKEN")
    if token == default_token:
        problems.append(f"TWILIO_AUTH_TOKEN is the sandbox's public default ({default_token!r})")
    elif not _TWILIO_TOKEN_RE.fullmatch(token):
        problems.append(
            "TWILIO_AUTH_TOKEN must be the account's 32-character token from the Twilio console"
        )
    return problems


def uses_sandbox(config: Mapping[str, Any]) -> bool:
    """Whether the provider is the sandbox: PROVIDER=sandbox, or a mainland provider at an
    endpoint that is not its own (then the development tools, `flask sandbox serve` among
    them, load)."""
    if config["PROVIDER"] == "sandbox":
        return True
    if config["PROVIDER"] == "tencent":
        from infra.providers import tencent

        return tencent.is_sandbox(config)
    if config["PROVIDER"] == "aliyun":
        from infra.providers import aliyun

        return aliyun.is_sandbox(config)
    return False


def settings_table() -> str:
    """The settings as a Markdown table, for the README."""
    rows = ["| variable | type | default | meaning |", "|---|---|---|---|"]
    for setting in SETTINGS:
        default = str(setting.default).replace(str(PROJECT_ROOT) + "/", "")
        rows.append(
            f"| `{setting.name}` | {setting.type.__name__} | `{default}` | {setting.help} |"
        )
    return "\n".join(rows)


__all__ = ["SETTINGS", "ConfigError", "Setting", "load_config", "settings_table", "uses_sandbox"]
