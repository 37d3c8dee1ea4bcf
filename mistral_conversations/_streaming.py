"""AsyncEventStream: the events of one streamed turn, as they arrive."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from types import TracebackType
from typing import TYPE_CHECKING, Any

from . import _json
from ._accumulate import Accumulator
from ._convert import converter
from ._sse import ServerSentEvent, SSEDecoder
from .errors import (
    APIConnectionError,
    APITimeoutError,
    MistralError,
    ServerEventError,
    StreamDecodeError,
    StreamError,
    StreamInterruptedError,
)
from .models import (
    ConversationEvent,
    ConversationResponse,
    MessageOutputEvent,
    ResponseErrorEvent,
)

if TYPE_CHECKING:  # the transport, and aiohttp with it, loads when a client is made
    from ._transport import StreamBody

__all__ = ["AsyncEventStream", "text_of"]

# Looked up once: structuring by the union type would hash its eleven members per event.
_structure_event: Callable[[Any, Any], ConversationEvent] = converter.get_structure_hook(
    ConversationEvent
)


class AsyncEventStream:
    """The events of one streamed turn, read as they arrive.

    Three ways to use it, all equivalent::

        async for event in client.start_stream(...): ...
        async with client.start_stream(...) as stream:
            async for event in stream: ...
        stream = await client.start_stream(...)  # connects; HTTP errors raise here

    Events are the models of :mod:`mistral_conversations.models` (``UnknownEvent`` for
    a type this library does not know). Leaving the ``async with`` block, breaking out
    of the loop or cancelling the task closes the HTTP response at once.

    A stream that breaks raises a :class:`~mistral_conversations.errors.StreamError`
    whose ``partial`` is the response received up to the break.
    """

    __slots__ = ("_acc", "_body", "_connect", "_decoder", "_error", "_finished", "_ready")

    def __init__(self, connect: Callable[[], Awaitable[StreamBody]]) -> None:
        self._connect: Callable[[], Awaitable[StreamBody]] | None = connect
        self._body: StreamBody | None = None
        self._decoder = SSEDecoder()
        self._acc = Accumulator()
        self._ready: deque[ConversationEvent] = deque()
        # A StreamError, or the error that stopped the connection (e.g. a 404).
        self._error: MistralError | None = None
        self._finished = False

    async def _ensure_connected(self) -> AsyncEventStream:
        if self._connect is not None:
            connect, self._connect = self._connect, None
            try:
                self._body = await connect()
            except MistralError as exc:
                # Kept, so that reading the stream later says the same, not less.
                self._error = exc
                self._finished = True
                raise
            except BaseException:
                self._connect = connect  # cancelled before an answer: it may be tried again
                raise
        elif self._error is not None and self._body is None and not self._acc.done:
            raise self._error
        return self

    def __await__(self) -> Generator[Any, None, AsyncEventStream]:
        return self._ensure_connected().__await__()

    async def __aenter__(self) -> AsyncEventStream:
        return await self._ensure_connected()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncEventStream:
        return self

    async def __anext__(self) -> ConversationEvent:
        ready = self._ready
        while not ready:
            if self._finished:
                if self._error is not None:
                    raise self._error
                raise StopAsyncIteration
            try:
                await self._ensure_connected()
                await self._read_more()
            except BaseException:
                # Cancellation or a failure mid-read: never leave the response half-read.
                self._close_body()
                raise
        return ready.popleft()

    async def _read_more(self) -> None:
        body = self._body
        assert body is not None
        try:
            chunk = await body.read()
        except APIConnectionError as exc:
            if body.closed_by_client:
                self._fail(self._closed_midway("the client was closed"))
                return
            why = "a read timeout" if isinstance(exc, APITimeoutError) else "a broken link"
            self._fail(
                StreamInterruptedError(
                    f"The stream was cut midway by {why}; what arrived is in .partial. ({exc})",
                    partial=self._acc.result(),
                ),
                cause=exc,
            )
            return
        if chunk:
            self._take(self._decoder.feed(chunk))
            return
        self._take(self._decoder.close())
        if self._error is None and not self._acc.done:
            if body.closed_by_client:
                self._fail(self._closed_midway("the client was closed"))
                return
            pending = self._decoder.pending
            tail = f" The last, incomplete data was: {pending[:200]!r}." if pending else ""
            self._fail(
                StreamInterruptedError(
                    "The connection ended before the server said the response was done "
                    f"(no conversation.response.done event); what arrived is in .partial.{tail}",
                    partial=self._acc.result(),
                )
            )
        self._finish()

    def _closed_midway(self, why: str) -> StreamInterruptedError:
        return StreamInterruptedError(
            f"The stream was closed before the response was complete ({why}); what "
            "arrived is in .partial.",
            partial=self._acc.result(),
        )

    def _take(self, messages: list[ServerSentEvent]) -> None:
        # The loop of every event of every stream: names are looked up once, outside it.
        if self._error is not None:
            return
        acc = self._acc
        add, ready = acc.add, self._ready.append
        loads, structure = _json.loads, _structure_event
        for message in messages:
            raw = message.data
            try:
                data = loads(raw)
            except ValueError:
                self._fail(
                    StreamDecodeError(
                        f"The stream's {message.event!r} event carried data that is not "
                        f"JSON: {raw[:200]!r}",
                        raw=raw,
                        partial=acc.result(),
                    )
                )
                return
            if not isinstance(data, dict):
                self._fail(
                    StreamDecodeError(
                        f"The stream's {message.event!r} event carried JSON that is not an "
                        f"object: {raw[:200]!r}",
                        raw=raw,
                        partial=acc.result(),
                    )
                )
                return
            if "type" not in data and message.event != "message":
                data["type"] = message.event
            try:
                event = structure(data, ConversationEvent)
            except Exception as exc:
                self._fail(
                    StreamDecodeError(
                        f"The stream carried a {data.get('type')!r} event this library cannot "
                        f"read ({exc}): {raw[:200]!r}",
                        raw=raw,
                        partial=acc.result(),
                    ),
                    cause=exc,
                )
                return
            if isinstance(event, ResponseErrorEvent):
                self._fail(
                    ServerEventError(
                        f"The server reported an error in the stream (code {event.code}): "
                        f"{event.message}",
                        code=event.code,
                        server_message=event.message,
                        event=event,
                        partial=acc.result(),
                    )
                )
                return
            add(event)
            ready(event)

    def _fail(self, error: StreamError, cause: BaseException | None = None) -> None:
        error.__cause__ = cause
        self._error = error
        self._finish()

    def _finish(self) -> None:
        self._finished = True
        self._close_body()

    def _close_body(self) -> None:
        body, self._body = self._body, None
        if body is not None:
            body.close()

    @property
    def conversation_id(self) -> str | None:
        """The conversation's id, once the server has said it (its first event); else None."""
        return self._acc.conversation_id or None

    @property
    def _open(self) -> bool:
        return self._body is not None

    async def _next_batch(self) -> list[ConversationEvent]:
        """Every event ready now (at least one), or [] at the end; for the blocking facade."""
        try:
            first = await self.__anext__()
        except StopAsyncIteration:
            return []
        batch = [first, *self._ready]
        self._ready.clear()
        return batch

    async def aclose(self) -> None:
        """Close the HTTP response now; events not read yet are dropped.

        Reading on after this, or calling :meth:`response`, raises
        :class:`~mistral_conversations.errors.StreamInterruptedError` unless the stream
        had already come to its end: a closed stream never passes for a complete one.
        """
        self._connect = None
        if not self._finished and self._error is None and not self._acc.done:
            self._error = self._closed_midway("aclose() or leaving its block")
        self._finished = True
        self._close_body()

    def __del__(self) -> None:
        self._close_body()

    async def response(self) -> ConversationResponse:
        """Read the stream to its end and return the response its events add up to.

        Events already read are counted too. A broken stream raises its
        :class:`~mistral_conversations.errors.StreamError`, with ``partial`` set.
        """
        async for _ in self:
            pass
        return self._acc.result()

    async def text_deltas(self) -> AsyncIterator[str]:
        """Yield only the pieces of text of the answer, as they arrive (for UIs)."""
        async for event in self:
            text = text_of(event)
            if text is not None:
                yield text


def text_of(event: ConversationEvent) -> str | None:
    """The piece of answer text an event carries, if it carries any."""
    if isinstance(event, MessageOutputEvent):
        return event.text or None
    return None
