"""Our client: AsyncClient for the async scenarios, Client for the blocking ones.

Events are decoded into the library's attrs models (as any user gets them); the text is
verified by joining the ``MessageOutputEvent`` deltas, or (``long_answer``) taken from the
``ConversationResponse`` that ``response()`` adds up.
"""

from __future__ import annotations

from types import TracebackType

from mistral_conversations import AsyncClient, RetryPolicy
from mistral_conversations.models import ConversationEvent, MessageOutputEvent

from . import API_KEY, INPUTS

__all__ = ["OursBlockingClient", "OursClient"]


def _delta_text(event: ConversationEvent) -> str | None:
    if isinstance(event, MessageOutputEvent):
        content = event.content
        return content if isinstance(content, str) else getattr(content, "text", "")
    return None


class OursClient:
    """mistral_conversations.AsyncClient."""

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
