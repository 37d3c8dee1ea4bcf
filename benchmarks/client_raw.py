"""The floor: hand-written clients with no models, just HTTP and JSON into dicts.

Async: aiohttp, a minimal SSE split (on blank lines, then the ``data:`` line of each
block) and one ``orjson.loads`` per event; ``start`` is a plain POST and ``orjson.loads``;
``long_answer`` reads a stream of text-chunk deltas and joins their text (the floor of
``response()``: no response is built).
Blocking: the same over the standard library's ``http.client`` (aiohttp has no blocking
API), one kept-alive connection.

Without orjson both fall back to the standard ``json`` module (``JSON_LIB`` says which).
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from . import API_KEY, INPUTS

__all__ = ["JSON_LIB", "RawBlockingClient", "RawClient"]

loads: Callable[[bytes], Any]
dumps: Callable[[Any], bytes]
try:
    import orjson

    loads, dumps = orjson.loads, orjson.dumps
    JSON_LIB = "orjson"
except ImportError:  # the bench extra is not installed
    loads = json.loads

    def dumps(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()

    JSON_LIB = "json"

_PATH = "/v1/conversations"
_HEADERS = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
_STREAM_HEADERS = {**_HEADERS, "Accept": "text/event-stream"}


def _start_text(body: bytes) -> str:
    answer = loads(body)
    return "".join(
        entry["content"] for entry in answer["outputs"] if entry["type"] == "message.output"
    )


class _SSE:
    """Split an event stream on blank lines and decode the data of each block."""

    __slots__ = ("events", "parts", "rest")

    def __init__(self) -> None:
        self.rest = b""
        self.events = 0
        self.parts: list[str] = []

    def feed(self, chunk: bytes) -> None:
        *blocks, self.rest = (self.rest + chunk).split(b"\n\n")
        parts = self.parts
        for block in blocks:
            data = loads(block[block.index(b"data: ") + 6 :])
            if data["type"] == "message.output.delta":
                parts.append(data["content"])
        self.events += len(blocks)


class _ChunkSSE(_SSE):
    """The same, for deltas whose content is a text chunk: its text is taken."""

    __slots__ = ()

    def feed(self, chunk: bytes) -> None:
        *blocks, self.rest = (self.rest + chunk).split(b"\n\n")
        parts = self.parts
        for block in blocks:
            data = loads(block[block.index(b"data: ") + 6 :])
            if data["type"] == "message.output.delta":
                parts.append(data["content"]["text"])
        self.events += len(blocks)


class _HeldStream:
    """A stream read up to its first delta, its response kept open to read on later."""

    def __init__(self, response: aiohttp.ClientResponse, sse: _SSE) -> None:
        self.response = response
        self.sse = sse

    async def finish(self) -> tuple[int, str]:
        """Read on to the end; returns (events received, text of the deltas joined)."""
        async with self.response:
            while chunk := await self.response.content.readany():
                self.sse.feed(chunk)
        return self.sse.events, "".join(self.sse.parts)


class RawClient:
    """aiohttp + orjson, by hand."""

    name = "raw"

    def __init__(self, base_url: str) -> None:
        self.url = base_url + _PATH
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> RawClient:
        # No bound on the pool (aiohttp's default is 100 connections): the floor must not
        # be throttled by a default, and open_streams holds up to 1,000 streams at once.
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.session is not None:
            await self.session.close()

    async def start(self, model: str) -> str:
        """One non-streaming start; returns the answer's text."""
        assert self.session is not None
        body = dumps({"inputs": INPUTS, "model": model})
        async with self.session.post(self.url, data=body, headers=_HEADERS) as response:
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}")
            return _start_text(await response.read())

    async def stream(self, model: str) -> tuple[int, str]:
        """One streamed start; returns (events received, text of the deltas joined)."""
        sse = await self._read_stream(model, _SSE())
        return sse.events, "".join(sse.parts)

    async def long_answer(self, model: str) -> str:
        """The floor of ``response()``: the text chunks' text joined, no response built."""
        sse = await self._read_stream(model, _ChunkSSE())
        return "".join(sse.parts)

    async def open_stream(self, model: str) -> _HeldStream:
        """Start a stream and read it up to its first delta, no further."""
        assert self.session is not None
        body = dumps({"inputs": INPUTS, "model": model, "stream": True})
        response = await self.session.post(self.url, data=body, headers=_STREAM_HEADERS)
        if response.status != 200:
            response.release()
            raise RuntimeError(f"HTTP {response.status}")
        held = _HeldStream(response, _SSE())
        while not held.sse.parts:
            chunk = await response.content.readany()
            if not chunk:
                break  # an early end: the count that finish() returns says so
            held.sse.feed(chunk)
        return held

    async def _read_stream(self, model: str, sse: _SSE) -> _SSE:
        assert self.session is not None
        body = dumps({"inputs": INPUTS, "model": model, "stream": True})
        async with self.session.post(self.url, data=body, headers=_STREAM_HEADERS) as response:
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}")
            async for chunk in response.content.iter_any():
                sse.feed(chunk)
        return sse


class RawBlockingClient:
    """http.client + orjson, by hand, on one kept-alive connection."""

    name = "raw"

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.connection = http.client.HTTPConnection(parts.hostname or "", parts.port)

    def __enter__(self) -> RawBlockingClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.connection.close()

    def _post(self, body: dict[str, Any], headers: dict[str, str]) -> http.client.HTTPResponse:
        self.connection.request("POST", _PATH, body=dumps(body), headers=headers)
        response = self.connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}")
        return response

    def start(self, model: str) -> str:
        """One non-streaming start; returns the answer's text."""
        response = self._post({"inputs": INPUTS, "model": model}, _HEADERS)
        return _start_text(response.read())

    def stream(self, model: str) -> tuple[int, str]:
        """One streamed start; returns (events received, text of the deltas joined)."""
        response = self._post({"inputs": INPUTS, "model": model, "stream": True}, _STREAM_HEADERS)
        sse = _SSE()
        while chunk := response.read1(65536):
            sse.feed(chunk)
        return sse.events, "".join(sse.parts)
