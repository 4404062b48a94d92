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


def sandbox_state() -> SandboxState:
    """The state of the sandbox app handling the current request."""
    state: SandboxState = current_app.extensions[EXTENSION_KEY]
    return state


__all__ = ["EXTENSION_KEY", "SandboxState", "sandbox_state"]
