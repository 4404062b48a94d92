"""The Tencent Cloud side of the sandbox as the tests drive it, and a tiny template book."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from infra.providers.tencent import (
    ResolvedTemplate,
    TemplateUnavailable,
    TencentProvider,
    build_tencent,
)
from tests.gateway.sandbox_api import running_sandbox

SECRET_ID = "AKIDsandboxtest"
SECRET_KEY = "tencent-test-secret-key"
SDK_APP_ID = "1400123456"
VMS_APP_ID = "1400654321"
SIGN_NAME = "流动党员"
PUSH_SECRET = "tencent-push-" + "5" * 20
NOTICE_TEMPLATE = "2000001"
REPORT_TEMPLATE = "2000002"


class TinyBook:
    """Two approved templates: `broadcast` ({1} is the text) and `report_thanks` (no slots)."""

    def resolve(self, provider: str, key: str, params: Mapping[str, Any]) -> ResolvedTemplate:
        if provider != "tencent":
            raise TemplateUnavailable(f"no {provider} templates here")
        if key == "broadcast":
            return ResolvedTemplate(NOTICE_TEMPLATE, None, [str(params["text"])])
        if key == "report_thanks":
            return ResolvedTemplate(REPORT_TEMPLATE, "另一签名", [])
        raise TemplateUnavailable(f"no approved template for {key}", "template.missing")


def tencent_config(sandbox_url: str) -> dict[str, Any]:
    """The settings of an app on PROVIDER=tencent against this sandbox, with the tiny book."""
    return {
        "PROVIDER": "tencent",
        "TENCENT_SECRET_ID": SECRET_ID,
        "TENCENT_SECRET_KEY": SECRET_KEY,
        "TENCENT_SMS_SDK_APP_ID": SDK_APP_ID,
        "TENCENT_SMS_SIGN_NAME": SIGN_NAME,
        "TENCENT_SMS_ENDPOINT": sandbox_url,
        "TENCENT_VMS_APP_ID": VMS_APP_ID,
        "CN_CALLBACK_SECRET": PUSH_SECRET,
        "SMS_TEMPLATE_BOOK": TinyBook(),
    }


def provider(
    sandbox_url: str, *, secret_key: str = SECRET_KEY, secret_id: str = SECRET_ID
) -> TencentProvider:
    """The production provider pointed at the sandbox."""
    return build_tencent(
        secret_id=secret_id,
        secret_key=secret_key,
        sdk_app_id=SDK_APP_ID,
        sign_name=SIGN_NAME,
        endpoint=sandbox_url,
        templates=TinyBook(),
        timeout=5,
        vms_app_id=VMS_APP_ID,
    )


@contextmanager
def tencent_sandbox(db_path: Path, push_base: str | None = None) -> Iterator[str]:
    """A sandbox process that checks Tencent signatures with our key (and pushes to push_base)."""
    extra = ["--tencent-secret-id", SECRET_ID, "--tencent-secret-key", SECRET_KEY]
    if push_base is not None:
        extra += ["--push-base", push_base, "--push-secret", PUSH_SECRET]
    with running_sandbox(db_path, extra_args=tuple(extra)) as url:
        yield url


@dataclass
class TencentSandboxAPI:
    """/_sandbox/tencent/: switches, rules, what was sent and how each push ended."""

    url: str
    http: requests.Session = field(default_factory=requests.Session)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(
            method, f"{self.url}/_sandbox/tencent{path}", timeout=10, **kwargs
        )
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        """Forget everything Tencent."""
        self._call("DELETE", "")

    def settings(self, **switches: Any) -> dict[str, Any]:
        """Change some switches; return them all."""
        result: dict[str, Any] = self._call("PUT", "/settings", json=switches)
        return result

    def rule(self, **rule: Any) -> None:
        """Add a refusal or failed-report rule."""
        self._call("POST", "/rules", json=rule)

    def sms(self, to: str | None = None) -> list[dict[str, Any]]:
        """What SendSms got, oldest first."""
        result: list[dict[str, Any]] = self._call("GET", "/sms", params={"to": to} if to else {})
        return result

    def pushes(self, feed: str | None = None) -> list[dict[str, Any]]:
        """How each push ended."""
        result: list[dict[str, Any]] = self._call(
            "GET", "/pushes", params={"feed": feed} if feed else {}
        )
        return result

    def reply(self, phone: str, text: str, **extra: Any) -> dict[str, Any]:
        """A member texts back (pushed to the app's sms-reply address)."""
        result: dict[str, Any] = self._call(
            "POST", "/replies", json={"phone": phone, "text": text, **extra}
        )
        return result

    def push(self, feed: str, **body: Any) -> None:
        """Have the sandbox push this body (`raw` text or a JSON `body`) to the app's feed."""
        self._call("POST", "/push", json={"feed": feed, **body})

    def calls(self, to: str | None = None) -> list[dict[str, Any]]:
        """What SendTtsVoice took, oldest first."""
        result: list[dict[str, Any]] = self._call(
            "GET", "/voice/calls", params={"to": to} if to else {}
        )
        return result

    def script(self, **script: Any) -> None:
        """Script what a number does on its next calls (see devtools/sandbox/tencent_voice.py)."""
        self._call("POST", "/voice/scripts", json=script)
