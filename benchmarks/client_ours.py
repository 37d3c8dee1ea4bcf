"""Our client: AsyncClient for the async scenarios, Client for the blocking ones.

Events are decoded into the library's attrs models (as any user gets them); the text is
verified by joining the ``MessageOutputEvent`` deltas, or (``long_answer``) taken from the
``ConversationResponse`` that ``response()`` adds up.
"""

from __future__ import annotations

from types import TracebackType

from mistral_conversations import AsyncClient, AsyncEventStream, RetryPolicy
from mistral_conversations.models import ConversationEvent, MessageOutputEvent

from . import API_KEY, INPUTS

__all__ = ["OursBlockingClient", "OursClient"]


def _delta_text(event: ConversationEvent) -> str | None:
    if isinstance(event, MessageOutputEvent):
        content = event.content
        return content if isinstance(content, str) else getattr(content, "text", "")
    return None


class _HeldStream:
    """A stream read up to its first delta, to read to its end later."""

    def __init__(self, stream: AsyncEventStream) -> None:
        self.stream = stream
        self.events = 0
        self.parts: list[str] = []

    def take(self, event: ConversationEvent) -> bool:
        """Count the event; True if it was a delta."""
        self.events += 1
        text = _delta_text(event)
        if text is None:
            return False
        self.parts.append(text)
        return True

    async def finish(self) -> tuple[int, str]:
        """Read on to the end; returns (events received, text of the deltas joined)."""
        async with self.stream:
            async for event in self.stream:
                self.take(event)
        return self.events, "".join(self.parts)


class OursClient:
    """mistral_conversations.AsyncClient.

    Its default pool (``max_connections=1000``) holds the 1,000 streams of
    ``open_streams_1000``: nothing is configured for them.
    """

    name = "ours"

    def __init__(self, base_url: str) -> None:
        self.client = AsyncClient(API_KEY, base_url=base_url, retry=RetryPolicy.disabled())

    async def __aenter__(self) -> OursClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.client.aclose()

    async def start(self, model: str) -> str:
        """One non-streaming start; returns the answer's text."""
        response = await self.client.start(inputs=INPUTS, model=model)
        return response.output_text

    async def long_answer(self, model: str) -> str:
        """One streamed start read to its end by ``response()``; returns the answer's text."""
        response = await self.client.start_stream(inputs=INPUTS, model=model).response()
        return response.output_text

    async def stream(self, model: str) -> tuple[int, str]:
        """One streamed start; returns (events received, text of the deltas joined)."""
        events = 0
        parts = []
        async for event in self.client.start_stream(inputs=INPUTS, model=model):
            events += 1
            text = _delta_text(event)
            if text is not None:
                parts.append(text)
        return events, "".join(parts)

    async def open_stream(self, model: str) -> _HeldStream:
        """Start a stream and read it up to its first delta, no further."""
        held = _HeldStream(await self.client.start_stream(inputs=INPUTS, model=model))
        # Leaving the loop leaves the stream open: the iterator is the stream itself.
        async for event in held.stream:
            if held.take(event):
                break
        return held


class OursBlockingClient:
    """mistral_conversations.Client, the blocking facade."""

    name = "ours"

    def __init__(self, base_url: str) -> None:
        # Imported here, as a blocking user would: async users (and the peak-RSS process,
        # which runs the async client) never load the blocking facade.
        from mistral_conversations import Client

        self.client = Client(API_KEY, base_url=base_url, retry=RetryPolicy.disabled())

    def __enter__(self) -> OursBlockingClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.client.close()

    def start(self, model: str) -> str:
        """One non-streaming start; returns the answer's text."""
        return self.client.start(inputs=INPUTS, model=model).output_text

    def stream(self, model: str) -> tuple[int, str]:
        """One streamed start; returns (events received, text of the deltas joined)."""
        events = 0
        parts = []
        with self.client.start_stream(inputs=INPUTS, model=model) as stream:
            for event in stream:
                events += 1
                text = _delta_text(event)
                if text is not None:
                    parts.append(text)
        return events, "".join(parts)
