"""A scripted HTTP server on 127.0.0.1: answers each request with the next queued reply.

For tests of what the client does with exact bytes, statuses, headers, slow or cut
answers, where the embedded server's realistic behaviour is in the way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@attrs.define
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    raw_path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


class ScriptedServer:
    """Answers requests with queued handlers, in order; records what it received."""

    def __init__(self) -> None:
        self.replies: list[Handler] = []
        self.seen: list[Seen] = []
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def reply(
        self,
        status: int = 200,
        body: Any = b"{}",
        headers: dict[str, str] | None = None,
        *,
        delay: float = 0.0,
    ) -> None:
        """Queue a plain answer."""

        async def handler(request: web.Request) -> web.StreamResponse:
            if delay:
                await asyncio.sleep(delay)
            data = body if isinstance(body, bytes) else str(body).encode()
            return web.Response(
                status=status,
                body=data,
                headers={"Content-Type": "application/json", **(headers or {})},
            )

        self.replies.append(handler)

    def handle(self, handler: Handler) -> None:
        """Queue a handler of one's own."""
        self.replies.append(handler)

    def drop(self) -> None:
        """Queue a reply that closes the connection without answering."""

        async def handler(request: web.Request) -> web.StreamResponse:
            assert request.transport is not None
            request.transport.close()
            raise asyncio.CancelledError

        self.replies.append(handler)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(
            Seen(
                request.method,
                request.path,
                request.raw_path,
                dict(request.query),
                dict(request.headers),
                await request.read(),
            )
        )
        if not self.replies:
            return web.Response(status=599, text="no reply queued")
        return await self.replies.pop(0)(request)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
