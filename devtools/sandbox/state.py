"""What the sandbox's views share: the store, the callback threads and the credentials."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from devtools.sandbox.callbacks import CallbackDispatcher
from devtools.sandbox.store import SandboxStore

EXTENSION_KEY = "sandbox"


@dataclass(frozen=True)
class SandboxState:
    """One sandbox app's store, dispatcher and the account it answers for."""

    store: SandboxStore
    dispatcher: CallbackDispatcher
    auth_token: str
    account_sid: str | None
    # Where the mainland providers' pushes go (`<base>/<provider>/<feed>/<secret>`, as a
    # township configures them in those providers' consoles); None: they push nowhere.
    push_base: str | None = None
    push_secret: str = ""
    # The AccessKey the Alibaba Cloud API checks signatures with (empty: it refuses every call).
    aliyun_access_key_id: str = ""
    aliyun_access_key_secret: str = ""

    def push_url(self, provider: str, feed: str) -> str | None:
        """The address a mainland provider pushes this feed to, or None when not set up."""
        if not self.push_base or not self.push_secret:
            return None
        return f"{self.push_base}/{provider}/{feed}/{self.push_secret}"


def sandbox_state() -> SandboxState:
    """The state of the sandbox app handling the current request."""
    state: SandboxState = current_app.extensions[EXTENSION_KEY]
    return state


__all__ = ["EXTENSION_KEY", "SandboxState", "sandbox_state"]
