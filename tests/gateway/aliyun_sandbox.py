"""The sandbox's Alibaba Cloud side as the tests drive it, and the settings that reach it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from devtools.servers import free_port
from infra.providers.aliyun import AliyunProvider, build_aliyun
from infra.providers.aliyun_voice import AliyunVoice, build_voice
from infra.providers.base import TEMPLATE_BOOK_KEY, ResolvedTemplate, TemplateUnavailable
from tests.gateway.sandbox_api import running_sandbox

KEY_ID = "LTAI5tSandboxTestKey0001"
KEY_SECRET = "sandbox-aliyun-secret-" + "9" * 10
SIGN_NAME = "青山镇党委"
PUSH_SECRET = "aliyun-push-" + "4" * 24
SHOW_NUMBER = "057188880000"  # the voice number Alibaba calls from (CalledShowNumber)
# Our template keys and the codes Alibaba approved for them, as the tests' template book.
TEMPLATES = {"broadcast": "SMS_465880001", "reminder": "SMS_465880002"}


class MappedTemplates:
    """The tests' template book: our key -> an Alibaba template code, parameters as given."""

    def __init__(self, codes: Mapping[str, str]) -> None:
        self.codes = dict(codes)

    def resolve(self, provider: str, key: str, params: Mapping[str, Any]) -> ResolvedTemplate:
        code = self.codes.get(key)
        if not code:
            raise TemplateUnavailable(f"no approved {provider} template for {key!r}", "template")
        return ResolvedTemplate(code, None, {name: str(value) for name, value in params.items()})


@dataclass
class AliyunSandbox:
    """A running sandbox with Alibaba's API, pushing to an app served at `app_port`."""

    url: str
    app_port: int
    http: requests.Session = field(default_factory=requests.Session)

    @property
    def app_url(self) -> str:
        """Where a test serves the app so the sandbox's pushes reach it."""
        return f"http://127.0.0.1:{self.app_port}"

    def provider(self, secret: str = KEY_SECRET, key_id: str = KEY_ID) -> AliyunProvider:
        """The production provider, through the official SDK, pointed at this sandbox."""
        return build_aliyun(
            access_key_id=key_id,
            access_key_secret=secret,
            sign_name=SIGN_NAME,
            endpoint=self.url,
            templates=MappedTemplates(TEMPLATES),
            timeout_ms=5000,
            voice=self.voice(secret),
        )

    def settings(self) -> dict[str, Any]:
        """App settings for PROVIDER=aliyun against this sandbox."""
        return {
            "PROVIDER": "aliyun",
            "ALIYUN_ACCESS_KEY_ID": KEY_ID,
            "ALIYUN_ACCESS_KEY_SECRET": KEY_SECRET,
            "ALIYUN_SMS_SIGN_NAME": SIGN_NAME,
            "ALIYUN_SMS_ENDPOINT": self.url,
            "ALIYUN_VOICE_ENDPOINT": self.url,
            "ALIYUN_VOICE_SHOW_NUMBER": SHOW_NUMBER,
            TEMPLATE_BOOK_KEY: MappedTemplates(TEMPLATES),
            "CN_CALLBACK_SECRET": PUSH_SECRET,
        }

    def get(self, path: str, **params: str) -> Any:
        """GET one of /_sandbox/aliyun/'s endpoints."""
        response = self.http.get(f"{self.url}/_sandbox/aliyun/{path}", params=params, timeout=10)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, payload: Any) -> Any:
        """POST JSON to one of /_sandbox/aliyun/'s endpoints."""
        response = self.http.post(f"{self.url}/_sandbox/aliyun/{path}", json=payload, timeout=30)
        response.raise_for_status()
        return response.json()

    def fault(self, **rule: Any) -> None:
        """Add a fault rule."""
        self.post("faults", rule)

    def voice(self, secret: str = KEY_SECRET) -> AliyunVoice:
        """The production voice client, through the official SDK, pointed at this sandbox."""
        return build_voice(
            access_key_id=KEY_ID,
            access_key_secret=secret,
            show_number=SHOW_NUMBER,
            endpoint=self.url,
            sandbox=True,
            timeout_ms=5000,
        )

    def reset(self) -> None:
        """Forget messages, faults, pushes, calls, member scripts and uploaded files."""
        for kind in ("messages", "faults", "pushes", "voice/calls", "voice/members", "voice/files"):
            self.http.delete(f"{self.url}/_sandbox/aliyun/{kind}", timeout=10).raise_for_status()


@contextmanager
def running_aliyun_sandbox(db_path: Path) -> Iterator[AliyunSandbox]:
    """A sandbox process with the test AccessKey, pushing to /cn/ of a port kept for the app."""
    app_port = free_port()
    extra = (
        *("--aliyun-key-id", KEY_ID, "--aliyun-key-secret", KEY_SECRET),
        *("--push-base", f"http://127.0.0.1:{app_port}/cn", "--push-secret", PUSH_SECRET),
    )
    with running_sandbox(db_path, extra_args=extra) as url:
        sandbox = AliyunSandbox(url, app_port)
        try:
            yield sandbox
        finally:
            sandbox.http.close()
