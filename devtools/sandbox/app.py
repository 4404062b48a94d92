"""The sandbox app factory, its gunicorn server and the `flask sandbox serve` command."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from gunicorn.app.base import BaseApplication

from devtools.sandbox import aliyun, aliyun_voice, control, rest, root, tencent, tencent_voice
from devtools.sandbox.callbacks import CallbackDispatcher
from devtools.sandbox.state import EXTENSION_KEY, SandboxState
from devtools.sandbox.store import SandboxStore

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5055
# One worker per core; threads cover requests that wait (fault delays, SQLite locks).
DEFAULT_WORKERS = 2
DEFAULT_THREADS = 16
CALLBACK_THREADS = 4


def create_sandbox_app(
    db_path: str,
    auth_token: str,
    account_sid: str | None = None,
    callback_threads: int = CALLBACK_THREADS,
    *,
    push_base: str | None = None,
    push_secret: str = "",
    tencent_secret_id: str | None = None,
    tencent_secret_key: str = "",
    aliyun_key: tuple[str, str] = ("", ""),
) -> Flask:
    """Build the sandbox WSGI app over the SQLite store at db_path."""
    app = Flask(__name__)
    # Key order is Twilio's concern, not ours; sorting every response only costs time.
    app.json.sort_keys = False  # type: ignore[attr-defined]  # DefaultJSONProvider has it
    store = SandboxStore(db_path)
    store.init_schema()
    state = SandboxState(
        store=store,
        dispatcher=CallbackDispatcher(store, auth_token, threads=callback_threads),
        auth_token=auth_token,
        account_sid=account_sid,
        push_base=push_base,
        push_secret=push_secret,
        aliyun_access_key_id=aliyun_key[0],
        aliyun_access_key_secret=aliyun_key[1],
    )
    app.extensions[EXTENSION_KEY] = state
    app.register_blueprint(rest.bp)
    app.register_blueprint(control.bp)
    app.register_blueprint(root.bp)
    tencent.init_app(app, tencent_secret_id, tencent_secret_key)
    tencent_voice.init_app(app, store)
    aliyun.init_app(app, state)
    aliyun_voice.init_app(app)
    return app


class _GunicornServer(BaseApplication):
    """gunicorn run from code, so the command needs no config file or import string."""

    def __init__(self, factory: Callable[[], Flask], options: dict[str, Any]) -> None:
        self.factory = factory
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            # Settings newer than the installed gunicorn (control_socket_disable: 24+) are skipped.
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.factory()


def serve(
    host: str,
    port: int,
    db_path: str,
    auth_token: str,
    account_sid: str | None = None,
    workers: int = DEFAULT_WORKERS,
    threads: int = DEFAULT_THREADS,
    *,
    push_base: str | None = None,
    push_secret: str = "",
    tencent_secret_id: str | None = None,
    tencent_secret_key: str = "",
    aliyun_key: tuple[str, str] = ("", ""),
    pace: float | None = None,
) -> None:
    """Run the sandbox in the foreground under gunicorn (gthread workers) until stopped;
    `pace`: segments a second it accepts before answering 429 / 20429 (0: any number)."""
    # Create the schema once here, so the workers never race to switch the file to WAL.
    store = SandboxStore(db_path)
    store.init_schema()
    if pace is not None:
        store.set_pace(pace, control.default_burst(pace))
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    options = {
        "bind": bind,
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "keepalive": 30,
        "graceful_timeout": 5,
        "backlog": 2048,
        "proc_name": "gateway-sandbox",
        # One shared control socket path would clash between sandboxes (tests run several).
        "control_socket_disable": True,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
    }
    _GunicornServer(
        lambda: create_sandbox_app(
            db_path,
            auth_token,
            account_sid,
            push_base=push_base,
            push_secret=push_secret,
            tencent_secret_id=tencent_secret_id,
            tencent_secret_key=tencent_secret_key,
            aliyun_key=aliyun_key,
        ),
        options,
    ).run()


sandbox_cli = AppGroup("sandbox", help="The local stand-in for Twilio (development and tests).")


@sandbox_cli.command("serve")
@click.option("--host", default=None, help="Address to listen on [host of SANDBOX_URL].")
@click.option("--port", type=int, default=None, help="Port to listen on [port of SANDBOX_URL].")
@click.option(
    "--workers", type=int, default=DEFAULT_WORKERS, show_default=True, help="gunicorn processes."
)
@click.option(
    "--threads", type=int, default=DEFAULT_THREADS, show_default=True, help="Threads per process."
)
@click.option(
    "--pace",
    type=click.FloatRange(min=0),
    default=None,
    help="Segments a second accepted before answering 429 / 20429 (0: no pace) [kept].",
)
def serve_command(
    host: str | None, port: int | None, workers: int, threads: int, pace: float | None
) -> None:
    """Serve the sandbox's Twilio API and /_sandbox/ endpoints."""
    config = current_app.config
    url = urlsplit(config.get("SANDBOX_URL") or f"http://{DEFAULT_HOST}:{DEFAULT_PORT}")
    db_path = str(config["SANDBOX_DB"])
    os.makedirs(os.path.dirname(os.path.abspath(db_path)), exist_ok=True)
    serve(
        host=host or url.hostname or DEFAULT_HOST,
        port=port or url.port or DEFAULT_PORT,
        db_path=db_path,
        auth_token=str(config["TWILIO_AUTH_TOKEN"]),
        account_sid=config.get("TWILIO_ACCOUNT_SID") or None,
        workers=workers,
        threads=threads,
        push_base=f"{config['PUBLIC_BASE_URL']}/cn",
        push_secret=str(config.get("CN_CALLBACK_SECRET") or ""),
        tencent_secret_id=config.get("TENCENT_SECRET_ID") or None,
        tencent_secret_key=str(config.get("TENCENT_SECRET_KEY") or ""),
        aliyun_key=(
            str(config.get("ALIYUN_ACCESS_KEY_ID") or ""),
            str(config.get("ALIYUN_ACCESS_KEY_SECRET") or ""),
        ),
        pace=pace,
    )


def register_cli(app: Flask) -> None:
    """Add `flask sandbox serve` to an app's command line."""
    app.cli.add_command(sandbox_cli)


__all__ = ["create_sandbox_app", "register_cli", "sandbox_cli", "serve"]
