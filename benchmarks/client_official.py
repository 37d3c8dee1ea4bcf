"""The official SDK (``mistralai``, 3.x): its async API, and its sync API for the blocking
scenarios, through ``client.beta.conversations``.

Events are decoded into the SDK's pydantic models (as any user gets them); the text is
verified by joining the ``MessageOutputEvent`` deltas. Importing this module raises
ImportError when mistralai is not installed (the ``bench`` extra).
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from mistralai.client import Mistral
from mistralai.client.models import ConversationResponse, MessageOutputEntry, MessageOutputEvent

from . import API_KEY, INPUTS

__all__ = ["OfficialBlockingClient", "OfficialClient"]


def _text(content: Any) -> str:
    return content if isinstance(content, str) else getattr(content, "text", "")


def _response_text(response: ConversationResponse) -> str:
    return "".join(
        _text(entry.content) for entry in response.outputs if isinstance(entry, MessageOutputEntry)
    )


class OfficialClient:
    """mistralai.client.Mistral, async methods."""

    name = "official"

    def __init__(self, base_url: str) -> None:
        self.sdk = Mistral(api_key=API_KEY, server_url=base_url)
        self.conversations = self.sdk.beta.conversations

    async def __aenter__(self) -> OfficialClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # The SDK holds an httpx client of each kind: close both.
        await self.sdk.__aexit__(exc_type, exc, tb)  # type: ignore[no-untyped-call]
        self.sdk.__exit__(exc_type, exc, tb)  # type: ignore[no-untyped-call]

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
