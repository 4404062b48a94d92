"""A small TCP load balancer for bench/hosts.py: round robin over the healthy web hosts.

Run: python bench/hosts/lb.py --listen 10.0.0.5:8080 --backend 10.0.0.6:8000 --backend ...

Each new connection goes to the next backend that is healthy; a backend that refuses a
connection is marked down at once and the connection tries the next one, so a host killed
mid-run costs only the requests in flight on it. Every second each backend is probed by a
TCP connect (within half a second): one that answers again is put back. It logs each change
of health on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import sys
import time

CHECK_EVERY_S = 1.0
CHECK_TIMEOUT_S = 0.5
CONNECT_TIMEOUT_S = 1.0
CHUNK = 65536


def address(text: str) -> tuple[str, int]:
    """host:port as a tuple; argparse reports a bad one."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


class Balancer:
    """The backends, which of them are up, and the next one to take a connection."""

    def __init__(self, backends: list[tuple[str, int]]) -> None:
        self.backends = backends
        self.up = {backend: True for backend in backends}
        self.turn = itertools.count()

    def mark(self, backend: tuple[str, int], up: bool) -> None:
        if self.up[backend] != up:
            self.up[backend] = up
            state = "up" if up else "down"
            print(
                f"{time.strftime('%H:%M:%S')} lb: {backend[0]}:{backend[1]} {state}",
                file=sys.stderr,
                flush=True,
            )

    def order(self) -> list[tuple[str, int]]:
        """Every backend, starting at this connection's turn, the healthy ones first."""
        start = next(self.turn) % len(self.backends)
        turned = self.backends[start:] + self.backends[:start]
        return [b for b in turned if self.up[b]] + [b for b in turned if not self.up[b]]

    async def check(self) -> None:
        while True:
            for backend in self.backends:
                try:
                    _, writer = await asyncio.wait_for(
                        asyncio.open_connection(*backend), CHECK_TIMEOUT_S
                    )
                except (OSError, TimeoutError):
                    self.mark(backend, False)
                    continue
                writer.close()
                self.mark(backend, True)
            await asyncio.sleep(CHECK_EVERY_S)

    async def handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        for backend in self.order():
            try:
                server_r, server_w = await asyncio.wait_for(
                    asyncio.open_connection(*backend), CONNECT_TIMEOUT_S
                )
            except (OSError, TimeoutError):
                self.mark(backend, False)
                continue
            await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w))
            return
        client_w.close()


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy one direction until it ends, then close the other side's writing half."""
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            writer.close()


async def serve(listen: tuple[str, int], backends: list[tuple[str, int]]) -> None:
    balancer = Balancer(backends)
    server = await asyncio.start_server(balancer.handle, *listen, backlog=1024)
    checker = asyncio.create_task(balancer.check())
    async with server:
        await server.serve_forever()
    checker.cancel()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lb.py", description=__doc__.splitlines()[0])
    parser.add_argument("--listen", type=address, required=True)
    parser.add_argument("--backend", type=address, action="append", required=True)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.listen, args.backend))


if __name__ == "__main__":
    main()
