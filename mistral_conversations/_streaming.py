"""AsyncEventStream: the events of one streamed turn, as they arrive."""

from __future__ import annotations

import asyncio
import functools
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple, get_args

import attrs

from . import _failures, _json, _otel
from ._accumulate import Accumulator, BadEvent
from ._convert import converter
from ._outcomes import LinkFailure, request_id_of
from ._sse import EventTooLarge, ServerSentEvent, SSEDecoder
from ._surrogates import HalfJoiner, loads_with_halves
from .errors import (
    MistralError,
    StreamError,
)
from .models import (
    ConversationEvent,
    ConversationResponse,
    ConversationUsageInfo,
    MessageOutputEvent,
    ResponseDoneEvent,
    ResponseErrorEvent,
    UnknownEvent,
)

if TYPE_CHECKING:  # the transport, and aiohttp with it, loads when a client is made
    from ._otel import CallSpan
    from ._transport import StreamBody

__all__ = ["AsyncEventStream", "text_of"]

_EventHook = Callable[..., ConversationEvent]

_ALREADY_READ = (
    "this stream is already being read, by another task (or another thread, through a "
    "blocking EventStream), and its events go to one reader at a time. Read it in one "
    "place and pass the events on (an asyncio.Queue, a queue.Queue), or start one stream "
    "per reader"
)


@functools.cache
def _event_hooks() -> tuple[_EventHook, dict[str, tuple[_EventHook, type[Any]]]]:
    """The structure hook of any event, and the short path of each known event type.

    The first: looked up once, since structuring by the union type would hash its
    eleven members per event. The second, for every known type but the error (which
    fails the stream): its type's structure hook and class, by the event's "type"; the
    hook takes ``owned=True`` as a third argument, for a dict nobody else holds.
    Built at the first stream rather than at import, which they took ~5 ms of.
    """
    any_event: _EventHook = converter.get_structure_hook(ConversationEvent)
    by_type = {
        str(attrs.fields_dict(cls)["type"].default): (converter.get_structure_hook(cls), cls)
        for cls in get_args(ConversationEvent)
        if cls is not UnknownEvent and cls is not ResponseErrorEvent
    }
    return any_event, by_type


class AsyncEventStream:
    """The events of one streamed turn, read as they arrive.

    Three ways to use it, all equivalent::

        async with client.start_stream(...) as stream:
            async for event in stream: ...
        async for event in client.start_stream(...): ...  # read to its end
        stream = await client.start_stream(...)  # connects; HTTP errors raise here

    Events are the models of :mod:`mistral_conversations.models` (``UnknownEvent`` for
    a type this library does not know).

    What closes the HTTP response: the end of the turn (``conversation.response.done``
    or ``conversation.response.error``: nothing after it is read), leaving the
    ``async with`` block, :meth:`aclose`, cancelling the task that reads it, leaving a
    :meth:`text_deltas` loop early, and closing the client. A stream dropped while
    still open is closed when it is collected, with a ``ResourceWarning``: to leave a
    loop with ``break``, read the stream inside ``async with``.

    One reader at a time: a read from another task while one waits for the next chunk
    raises ``RuntimeError`` at once, and leaves the stream to the first.

    The request is sent at most once, ever: a stream whose connecting failed or was
    cancelled, or that was closed, raises its error (or
    :class:`~mistral_conversations.errors.StreamInterruptedError`) when read again.
    A stream that breaks raises a :class:`~mistral_conversations.errors.StreamError`
    whose ``partial`` is the response received up to the break.
    """

    __slots__ = (
        "_acc",
        "_body",
        "_connect",
        "_decoder",
        "_error",
        "_expired",
        "_finished",
        "_head",
        "_limit",
        "_max_size",
        "_reading",
        "_ready",
        "_size",
        "_span",
        "_timer",
        "_trace",
    )

    def __init__(
        self,
        connect: Callable[[], Awaitable[StreamBody]],
        *,
        deadline: float | None = None,
        max_event_size: int | None = None,
        max_size: int | None = None,
        trace: Callable[[], CallSpan | None] | None = None,
    ) -> None:
        self._connect: Callable[[], Awaitable[StreamBody]] | None = connect
        self._body: StreamBody | None = None
        self._decoder = SSEDecoder(max_event_size=max_event_size)
        # The bytes the whole stream may have (max_body_size), and those read so far: what
        # the events add up to is held until the end, so an endless stream must stop.
        self._max_size = max_size
        self._size = 0
        self._acc = Accumulator()
        # The events decoded but not read yet, last first: popped from the end of a list,
        # which an open stream pays ~0.1 KiB for where a deque costs ~0.75 KiB.
        self._ready: list[ConversationEvent] = []
        # Whether a read is waiting for the connection or the next chunk.
        self._reading = False
        # A StreamError, or the error that stopped the connection (e.g. a 404).
        self._error: MistralError | None = None
        self._finished = False
        # Timeout.stream: seconds the whole stream may take, from its first send.
        self._limit = deadline
        self._timer: asyncio.TimerHandle | None = None
        self._expired = False
        # The answer's status, headers and timing, once connected (not the body).
        self._head: _Head | None = None
        # Tracing: the span starts when the stream connects, and ends with the stream.
        self._trace = trace
        self._span: CallSpan | None = None

    async def _ensure_connected(self) -> AsyncEventStream:
        if self._connect is not None:
            # Taken for good before the first await: whatever happens next, this
            # stream never sends its request again (the server may have acted on it).
            connect, self._connect = self._connect, None
            span = self._span = self._trace() if self._trace is not None else None
            try:
                with _otel.current(span):
                    body = self._body = await self._connected(connect)
                self._head = _Head(body.status, body.headers, body.attempts, body.elapsed)
            except MistralError as exc:
                # Kept, so that reading the stream later says the same, not less.
                self._error = exc
                self._finish()
                raise
            except BaseException as exc:
                self._error = _failures.connect_interrupted()
                self._finished = True
                self._end_span(exc)
                raise
            if span is not None:
                span.answered(status_code=body.status, attempts=body.attempts)
        elif self._error is not None and self._body is None and not self._acc.done:
            raise self._error
        return self

    async def _connected(self, connect: Callable[[], Awaitable[StreamBody]]) -> StreamBody:
        limit = self._limit
        if limit is None:
            return await connect()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        try:
            body = await asyncio.wait_for(connect(), limit)
        except asyncio.TimeoutError:
            raise _failures.stream_did_not_start(limit) from None
        # One timer for the whole stream, not a timeout around every read.
        self._timer = loop.call_at(deadline, self._expire)
        return body

    def _expire(self) -> None:
        self._timer = None
        self._expired = True
        if self._body is not None:
            self._body.closed_by_client = True
            self._body.close()

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
            if self._reading:
                # Before the try: the reader already at it must not lose its stream.
                raise RuntimeError(_ALREADY_READ)
            self._reading = True
            try:
                await self._ensure_connected()
                await self._read_more()
            except BaseException as exc:
                # Cancellation or a failure mid-read: never leave the response half-read,
                # and let a later read say why the stream ended rather than trip over it.
                if self._finished:
                    self._close_body()
                else:
                    self._abandon(
                        "the task reading it was cancelled"
                        if isinstance(exc, asyncio.CancelledError)
                        else f"a read of it was interrupted by {type(exc).__name__}"
                    )
                raise
            finally:
                self._reading = False
            ready = self._ready
        return ready.pop()

    async def _read_more(self) -> None:
        body = self._body
        assert body is not None
        try:
            chunk = await body.read()
        except LinkFailure as failure:
            if body.closed_by_client:
                self._fail(_failures.stream_closed(self._closer(), self._acc.result()))
            else:
                self._fail(_failures.stream_cut(failure, self._acc.result()), cause=failure)
            return
        if chunk:
            if self._span is not None:
                self._span.first_chunk()
            self._size += len(chunk)
            if self._max_size is not None and self._size > self._max_size:
                self._fail(_failures.stream_too_large(self._max_size, self._acc.result()))
                return
            try:
                messages = self._decoder.feed(chunk)
            except EventTooLarge as exc:
                self._take(exc.events)  # those the same chunk completed before it
                if self._error is None and not self._acc.done:
                    self._fail(
                        _failures.event_too_large(exc.limit, exc.excerpt, self._acc.result())
                    )
                return
            self._take(messages)
            return
        self._take(self._decoder.close())
        if self._error is None and not self._acc.done:
            partial = self._acc.result()
            if body.closed_by_client:
                self._fail(_failures.stream_closed(self._closer(), partial))
                return
            self._fail(_failures.stream_ended_early(self._decoder.pending, partial))
        self._finish()

    def _closer(self) -> str:
        if self._expired:
            return f"it ran past its deadline, Timeout(stream={self._limit:g})"
        return "the client was closed"

    def _take(self, messages: list[ServerSentEvent]) -> None:
        # Called only once the events decoded before are all read.
        taken: list[ConversationEvent] = []
        self._decode(messages, taken)
        taken.reverse()
        self._ready = taken

    def _decode(self, messages: list[ServerSentEvent], taken: list[ConversationEvent]) -> None:
        # The loop of every event of every stream: names are looked up once, outside it,
        # and the common event (a known type, a dict with its "type") takes the shortest
        # path; anything else goes through _take_one, which names every problem.
        if self._error is not None or self._acc.done:
            return
        add, ready = self._acc.add, taken.append
        loads, hooks = _json.loads, _event_hooks()[1]
        for message in messages:
            try:
                data = loads(message.data)
            except ValueError:
                data = None
            tag = data.get("type") if data.__class__ is dict else None
            found = hooks.get(tag) if tag.__class__ is str else None
            if found is None:
                event = self._take_one(message, data)
                if event is None:
                    return
            else:
                try:
                    event = found[0](data, found[1], True)  # the dict is the stream's
                    add(event, data)
                except Exception:
                    event = self._take_one(message, data)
                    if event is None:
                        return
            ready(event)
            if event.__class__ is ResponseDoneEvent:
                # The end of the turn: whatever a server sends after it (more events,
                # keep-alive comments, silence) is not waited for.
                self._finish(complete=True, usage=event.usage)
                return

    def _take_one(self, message: ServerSentEvent, data: Any) -> ConversationEvent | None:
        """One event the short path did not take: decoded and added, or the stream failed."""
        acc = self._acc
        raw = message.data
        if data is None:
            try:
                data = _json.loads(raw)
            except ValueError:
                try:
                    data = loads_with_halves(raw)  # a character split across two deltas
                except ValueError:
                    self._fail(
                        _failures.unreadable_event(
                            "carried data that is not JSON", raw, acc.result(), message.event
                        )
                    )
                    return None
        if not isinstance(data, dict):
            self._fail(
                _failures.unreadable_event(
                    "carried JSON that is not an object", raw, acc.result(), message.event
                )
            )
            return None
        if "type" not in data and message.event != "message":
            data["type"] = message.event
        try:
            event = _event_hooks()[0](data, ConversationEvent)
        except Exception as exc:
            self._fail(
                _failures.unreadable_event(
                    f"carried a {data.get('type')!r} event this library cannot read ({exc})",
                    raw,
                    acc.result(),
                ),
                cause=exc,
            )
            return None
        if isinstance(event, ResponseErrorEvent):
            self._fail(_failures.server_event_error(event, acc.result()))
            return None
        try:
            acc.add(event)
        except BadEvent as exc:
            self._fail(
                _failures.unreadable_event(
                    f"carried a {data.get('type')!r} event with {exc}", raw, acc.result()
                )
            )
            return None
        return event

    def _fail(self, error: StreamError, cause: BaseException | None = None) -> None:
        error.__cause__ = cause
        self._keep(error)
        self._finish()

    def _keep(self, error: StreamError) -> None:
        """Hold the error that ended the stream, with the attempts its connect took."""
        if self._head is not None:
            error.attempts = self._head.attempts
        self._error = error

    def _finish(
        self, *, complete: bool = False, usage: ConversationUsageInfo | None = None
    ) -> None:
        self._finished = True
        body, self._body = self._body, None
        if body is not None:
            body.finish() if complete else body.close()
        self._cancel_timer()
        if self._span is not None:
            self._end_span(usage=usage)

    def _end_span(
        self, interruption: BaseException | None = None, usage: ConversationUsageInfo | None = None
    ) -> None:
        """End the trace span: failed with the stream's error, early, or complete."""
        span, self._span = self._span, None
        if span is None:
            return
        failure = interruption if interruption is not None else self._error
        if failure is not None:
            span.failed(failure)
        else:
            span.answered(
                conversation_id=self.conversation_id,
                model=_otel.answer_model(self._acc.result()),
                usage=usage,
            )
            span.end()

    def _close_body(self) -> None:
        body, self._body = self._body, None
        if body is not None:
            body.close()
        self._cancel_timer()

    def _cancel_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    @property
    def conversation_id(self) -> str | None:
        """The conversation's id, once the server has said it (its first event); else None."""
        return self._acc.conversation_id or None

    @property
    def headers(self) -> Mapping[str, str]:
        """The answer's headers, once connected; empty before."""
        return self._head.headers if self._head is not None else {}

    @property
    def request_id(self) -> str | None:
        """The server's id for the request (quote it to support), once connected."""
        return request_id_of(self.headers)

    @property
    def _open(self) -> bool:
        return self._body is not None

    async def _next_batch(self) -> list[ConversationEvent]:
        """Every event ready now (at least one), or [] at the end; for the blocking facade."""
        try:
            first = await self.__anext__()
        except StopAsyncIteration:
            return []
        batch = [first, *reversed(self._ready)]
        self._ready = []
        return batch

    def _abandon(self, why: str = "close() or leaving its block") -> None:
        """Close the stream without waiting: it never sends, and reads raise from now on.

        Synchronous, for the blocking facade and for finalisers; call it only from the
        thread of the stream's event loop, or while nothing reads the stream.
        """
        self._connect = None
        if not self._finished and self._error is None and not self._acc.done:
            self._keep(_failures.stream_closed(why, self._acc.result()))
        self._finished = True
        self._close_body()
        if self._span is not None:
            self._span.end(closed_early=True)
            self._span = None

    async def aclose(self) -> None:
        """Close the HTTP response now; events not read yet are dropped.

        Reading on after this, or calling :meth:`response`, raises
        :class:`~mistral_conversations.errors.StreamInterruptedError` unless the stream
        had already come to its end: a closed stream never passes for a complete one.
        A stream closed before it connected never sends its request.
        """
        self._abandon("aclose() or leaving its block")

    async def _close_as(self, why: str) -> None:
        """``aclose()`` for a facade whose users know it by another name."""
        self._abandon(why)

    def __del__(self) -> None:
        if self._body is None:
            return
        self._close_body()
        warnings.warn(
            "An event stream was collected while its HTTP response was still open; read "
            "it inside 'async with client.start_stream(...) as stream:' (or 'with' for "
            "the blocking Client) to close it at a known point.",
            ResourceWarning,
            stacklevel=1,
        )

    async def response(self) -> ConversationResponse:
        """Read the stream to its end and return the response its events add up to.

        Events already read are counted too. A broken stream raises its
        :class:`~mistral_conversations.errors.StreamError`, with ``partial`` set; so
        does a stream closed before its end.
        """
        async for _ in self:
            pass
        return self._acc.result()

    def text_deltas(self) -> AsyncIterator[str]:
        """Yield only the pieces of text of the answer, as they arrive (for UIs).

        Leaving the loop over it before the end closes the stream, as :meth:`aclose`.
        """
        return _TextDeltas(self)


class _Head(NamedTuple):
    status: int
    headers: Mapping[str, str]
    attempts: int
    elapsed: float


class _TextDeltas:
    """The text pieces of a stream; leaving it early closes the stream.

    A class, not an async generator: an abandoned async generator is finalised later,
    on the event loop's schedule, whereas this closes the stream the moment the loop
    over it lets go of it.
    """

    __slots__ = ("_joiner", "_stream")

    def __init__(self, stream: AsyncEventStream) -> None:
        self._stream = stream
        self._joiner = HalfJoiner()

    def __aiter__(self) -> _TextDeltas:
        return self

    async def __anext__(self) -> str:
        stream, joiner = self._stream, self._joiner
        while True:
            try:
                event = await stream.__anext__()
            except StopAsyncIteration:
                rest = joiner.end()
                if rest:
                    return rest
                raise
            text = text_of(event)
            if text is not None:
                text = joiner.piece(text)
                if text:
                    return text

    async def aclose(self) -> None:
        """Close the stream, as leaving the loop over it does."""
        self._stream._abandon("text_deltas() was left before the end")

    def __del__(self) -> None:
        self._stream._abandon("text_deltas() was left before the end")


def text_of(event: ConversationEvent) -> str | None:
    """The piece of answer text an event carries, if it carries any."""
    if isinstance(event, MessageOutputEvent):
        return event.text or None
    return None
