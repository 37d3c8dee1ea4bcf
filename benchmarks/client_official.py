"""The official SDK (``mistralai``, 3.x): its async API, and its sync API for the blocking
scenarios, through ``client.beta.conversations``.

Events are decoded into the SDK's pydantic models (as any user gets them); the text is
verified by joining the ``MessageOutputEvent`` deltas. Importing this module raises
ImportError when mistralai is not installed (the ``bench`` extra).

The SDK's own httpx client (httpx2, which mistralai 3.x depends on) pools at most 100
connections and keeps 20 alive. A held stream keeps its connection, so with that pool the
101st stream waits for one, as long as the SDK's timeout of a stream allows (300 s unless
``timeout_ms`` says otherwise), then fails with ``httpx.PoolTimeout``. ``open_streams``
therefore hands the SDK an httpx client whose pool fits every stream
(``max_connections``), as a user holding that many would; the other scenarios measure the
SDK as it comes.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx2
from mistralai.client import Mistral
from mistralai.client.models import (
    ConversationEvents,
    ConversationResponse,
    MessageOutputEntry,
    MessageOutputEvent,
)
from mistralai.client.utils.eventstreaming import EventStreamAsync

from . import API_KEY, INPUTS

__all__ = ["OfficialBlockingClient", "OfficialClient"]


def _text(content: Any) -> str:
    return content if isinstance(content, str) else getattr(content, "text", "")


def _response_text(response: ConversationResponse) -> str:
    return "".join(
        _text(entry.content) for entry in response.outputs if isinstance(entry, MessageOutputEntry)
    )


class _HeldStream:
    """A stream read up to its first delta, to read to its end later."""

    def __init__(self, stream: EventStreamAsync[ConversationEvents]) -> None:
        self.stream = stream
        self.events = 0
        self.parts: list[str] = []

    def take(self, event: ConversationEvents) -> bool:
        """Count the event; True if it was a delta."""
        self.events += 1
        if not isinstance(event.data, MessageOutputEvent):
            return False
        self.parts.append(_text(event.data.content))
        return True

    async def finish(self) -> tuple[int, str]:
        """Read on to the end; returns (events received, text of the deltas joined)."""
        async with self.stream:
            async for event in self.stream:
                self.take(event)
        return self.events, "".join(self.parts)


class OfficialClient:
    """mistralai.client.Mistral, async methods.

    ``max_connections``: give the SDK an httpx client pooling that many (the SDK's own
    pools 100); None keeps the SDK's own.
    """

    name = "official"

    def __init__(self, base_url: str, max_connections: int | None = None) -> None:
        self.httpx_client: httpx2.AsyncClient | None = None
        if max_connections is not None:
            # As the SDK makes its own (follow_redirects, httpx's default timeouts), with
            # only the pool changed.
            limits = httpx2.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            )
            self.httpx_client = httpx2.AsyncClient(follow_redirects=True, limits=limits)
        self.sdk = Mistral(api_key=API_KEY, server_url=base_url, async_client=self.httpx_client)
        self.conversations = self.sdk.beta.conversations

    async def __aenter__(self) -> OfficialClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # The SDK holds an httpx client of each kind: close both. It leaves one it was
        # given open.
        await self.sdk.__aexit__(exc_type, exc, tb)  # type: ignore[no-untyped-call]
        self.sdk.__exit__(exc_type, exc, tb)  # type: ignore[no-untyped-call]
        if self.httpx_client is not None:
            await self.httpx_client.aclose()

    async def start(self, model: str) -> str:
        """One non-streaming start; returns the answer's text."""
        response = await self.conversations.start_async(inputs=INPUTS, model=model)
        return _response_text(response)

    async def stream(self, model: str) -> tuple[int, str]:
        """One streamed start; returns (events received, text of the deltas joined)."""
        events = 0
        parts = []
        stream = await self.conversations.start_stream_async(inputs=INPUTS, model=model)
        async with stream:
            async for event in stream:
                events += 1
                if isinstance(event.data, MessageOutputEvent):
                    parts.append(_text(event.data.content))
        return events, "".join(parts)

    async def open_stream(self, model: str) -> _HeldStream:
        """Start a stream and read it up to its first delta, no further."""
        held = _HeldStream(await self.conversations.start_stream_async(inputs=INPUTS, model=model))
        # Leaving the loop leaves the stream open: the iterator is the stream itself.
        async for event in held.stream:
            if held.take(event):
                break
        return held


class OfficialBlockingClient:
    """mistralai.client.Mistral, sync methods."""

    name = "official"

    def __init__(self, base_url: str) -> None:
        self.sdk = Mistral(api_key=API_KEY, server_url=base_url)
        self.conversations = self.sdk.beta.conversations

    def __enter__(self) -> OfficialBlockingClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.sdk.__exit__(exc_type, exc, tb)  # type: ignore[no-untyped-call]

    def start(self, model: str) -> str:
        """One non-streaming start; returns the answer's text."""
        return _response_text(self.conversations.start(inputs=INPUTS, model=model))

    def stream(self, model: str) -> tuple[int, str]:
        """One streamed start; returns (events received, text of the deltas joined)."""
        events = 0
        parts = []
        with self.conversations.start_stream(inputs=INPUTS, model=model) as stream:
            for event in stream:
                events += 1
                if isinstance(event.data, MessageOutputEvent):
                    parts.append(_text(event.data.content))
        return events, "".join(parts)
