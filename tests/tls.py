"""HTTPS on 127.0.0.1 for tests: a self-signed certificate made with openssl, and a server."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A certificate (and its key) for IP 127.0.0.1, valid a day; the cert is its own CA."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("openssl not found: the Debian package openssl provides it")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@contextmanager
def serve(
    handler: type[BaseHTTPRequestHandler], cert: tuple[Path, Path] | None = None
) -> Iterator[str]:
    """Serve `handler` on a free port of 127.0.0.1, over TLS when given a certificate; yield
    the origin (scheme://127.0.0.1:port)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    scheme = "http"
    if cert is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert[0]), str(cert[1]))
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
