"""A forwarding HTTP proxy on 127.0.0.1, for tests of proxied calls and streams.

Plain requests arrive in absolute form (``GET http://host:port/path``) and are passed
on as they came, so the server behind sees the absolute form too: that is how a test
tells a proxied request from a direct one. ``CONNECT host:port`` opens a tunnel, as
HTTPS through a proxy needs.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit


class ForwardProxy:
    """Counts what it forwards: ``lines`` and ``auth`` of each request (or CONNECT)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.auth: list[str | None] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.url = ""

    async def __aenter__(self) -> ForwardProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        upstream: asyncio.StreamWriter | None = None
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = [line for line in lines[1:] if line]
            auth = [h.split(":", 1)[1].strip() for h in headers if h.lower().startswith("proxy-a")]
            self.lines.append(lines[0])
            self.auth.append(auth[0] if auth else None)
            kept = [h for h in headers if not h.lower().startswith("proxy-")]
            if method == "CONNECT":
                host, port = target.rsplit(":", 1)
                up_reader, upstream = await asyncio.open_connection(host, int(port))
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await asyncio.gather(_pipe(reader, upstream), _pipe(up_reader, writer))
            else:
                # One request per connection, as a proxy that closes after each answer:
                # every request is then seen, and stripped of its Proxy-* headers, here.
                parts = urlsplit(target)
                assert parts.hostname is not None
                up_reader, upstream = await asyncio.open_connection(parts.hostname, parts.port)
                length = next(
                    (int(h.split(":", 1)[1]) for h in kept if h.lower().startswith("content-l")), 0
                )
                kept = [h for h in kept if not h.lower().startswith("connection")]
                head = "\r\n".join([lines[0], *kept, "Connection: close"]) + "\r\n\r\n"
                upstream.write(head.encode("latin-1") + await reader.readexactly(length))
                await _pipe(up_reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            for side in (writer, upstream):
                if side is not None:
                    side.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(OSError):
        writer.write_eof()
