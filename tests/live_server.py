"""Serve a WSGI app (the gateway, or an in-process sandbox) over real HTTP in a thread."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

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
