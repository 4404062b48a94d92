"""Fixtures for the provider and sandbox tests: a real sandbox server and a webhook receiver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.providers.twilio import TwilioProvider, build_twilio
from tests.gateway.aliyun_sandbox import AliyunSandbox, running_aliyun_sandbox
from tests.gateway.sandbox_api import (
    FROM_NUMBER,
    SANDBOX_ACCOUNT,
    SANDBOX_TOKEN,
    SandboxAPI,
    WebhookReceiver,
    running_sandbox,
)


@pytest.fixture(scope="session")
def sandbox_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A sandbox server of this test session's own."""
    with running_sandbox(tmp_path_factory.mktemp("sandbox") / "sandbox.db") as url:
        yield url


@pytest.fixture
def sandbox_api(sandbox_server_url: str) -> Iterator[SandboxAPI]:
    """The sandbox's control endpoints, with faults and records cleared around the test."""
    api = SandboxAPI(sandbox_server_url)
    api.reset()
    yield api
    api.reset()
    api.http.close()


@pytest.fixture(scope="session")
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A real HTTP server receiving the sandbox's callbacks."""
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def sandbox_provider(sandbox_api: SandboxAPI, webhook_receiver: WebhookReceiver) -> TwilioProvider:
    """The production provider, pointed at the sandbox, calling back at a base of its own."""
    return build_twilio(
        kind="sandbox",
        callback_base=webhook_receiver.new_base(),
        account_sid=SANDBOX_ACCOUNT,
        auth_token=SANDBOX_TOKEN,
        from_number=FROM_NUMBER,
        sandbox_url=sandbox_api.url,
        timeout=5.0,
    )


@pytest.fixture(scope="session")
def aliyun_sandbox_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AliyunSandbox]:
    """A sandbox answering Alibaba Cloud's SMS API, pushing to a port kept for the app."""
    with running_aliyun_sandbox(tmp_path_factory.mktemp("aliyun") / "sandbox.db") as sandbox:
        yield sandbox


@pytest.fixture
def aliyun_sandbox(aliyun_sandbox_server: AliyunSandbox) -> Iterator[AliyunSandbox]:
    """The Alibaba sandbox with its messages, faults and pushes cleared around the test."""
    aliyun_sandbox_server.reset()
    yield aliyun_sandbox_server
    aliyun_sandbox_server.reset()
