"""Serve a WSGI app (the gateway, or an in-process sandbox) over real HTTP: in a thread, or
the gateway under gunicorn in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from werkzeug.serving import make_server

from devtools.servers import free_port


@contextmanager
def serve(app: Callable[..., Any], port: int | None = None) -> Iterator[str]:
    """Run `app` on 127.0.0.1 (a free port unless given) until the block ends; yield its URL."""
    port = port or free_port()
    # make_server binds before returning, so the URL answers as soon as the thread runs.
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name=f"live-{port}", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@contextmanager
def gunicorn(
    env: Mapping[str, str], log_path: Path, *, port: int | None = None, threads: int = 2
) -> Iterator[str]:
    """Run `gunicorn 'gateway:create_app()'` (one gthread worker) with these settings as its
    environment; yield its URL once /admin/login answers."""
    port = port or free_port()
    root = Path(__file__).resolve().parent.parent
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FLASK_", "TWILIO_", "DATABASE_", "REDIS_"))
    }
    environ.update(env, PYTHONPATH=str(root), PYTHONUNBUFFERED="1")
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "gateway:create_app()",
        *("--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", str(threads)),
        *("--worker-class", "gthread", "--graceful-timeout", "2"),
    ]
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, env=environ, cwd=root, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{log_path.read_text()}")
            try:
                if requests.get(url + "/admin/login", timeout=2).status_code < 500:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
