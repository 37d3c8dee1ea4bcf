"""Client and EventStream: the blocking facade over AsyncClient.

Every call runs the async core on one private event loop in one background thread.
Nothing here implements an operation: each method forwards to its AsyncClient twin,
whose signature and docstring it carries.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import inspect
import os
import threading
import warnings
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar, cast

from . import _fork
from ._client import AsyncClient
from ._raw import AsyncRawOperations, RawResponse
from ._streaming import AsyncEventStream, text_of
from ._surrogates import HalfJoiner
from .errors import APIConnectionError, ConfigurationError

if TYPE_CHECKING:
    from ._run import AsyncRunStream, FunctionResultEvent, RunResult  # noqa: F401 (in a string)
    from .models import Conversation, ConversationEvent, ConversationResponse

__all__ = ["Client", "EventStream"]

_P = ParamSpec("_P")
_R = TypeVar("_R")
_T = TypeVar("_T")
_C = TypeVar("_C", bound=Callable[..., Any])

# How long interpreter exit waits for a loop thread to close its connections. They
# close in milliseconds; the bound only keeps a wedged loop from holding up the exit.
_EXIT_TIMEOUT = 5.0

_CLOSED = "this Client was closed; create a new one to send requests"


class _LoopThread:
    """A private asyncio event loop, run forever in a daemon thread.

    Plain asyncio rather than an anyio portal, whose round trip measured four times
    this one's (126 us against 30 us), most of the gap between the blocking start()
    and the async one. A daemon thread, so that a Client someone forgot to close never
    keeps a script from exiting; the atexit hook below ends it before the interpreter
    tears objects down.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        # Set in a forked child: this loop, its thread and its sockets are the parent's.
        self.inherited = False
        self.thread = threading.Thread(target=self._run, name="mistral-conversations", daemon=True)
        _live.add(self)
        self.thread.start()

    def _run(self) -> None:
        loop = self.loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            # As asyncio.run() ends a loop: what is left is cancelled, and the
            # transport's session guards close their connections.
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def call(
        self, fn: Callable[_P, Coroutine[Any, Any, _R]], *args: _P.args, **kwargs: _P.kwargs
    ) -> _R:
        if threading.current_thread() is self.thread:
            raise RuntimeError(
                "A blocking Client method was called from inside the client's own event "
                "loop, where it would wait for itself forever; use AsyncClient there."
            )
        # Made in the caller's thread, not on the loop: a wrong argument raises its
        # TypeError here, where the caller sees it, instead of in a loop callback.
        coroutine = fn(*args, **kwargs)
        # A lock released by the task's done-callback: half the cost of
        # run_coroutine_threadsafe's future chaining (30 us against 55 us a call here).
        done = threading.Lock()
        done.acquire()
        started: list[asyncio.Task[_R]] = []
        refused: list[BaseException] = []

        def start() -> None:
            try:
                task = self.loop.create_task(coroutine)
            except BaseException as exc:  # fn gave no coroutine: the caller must hear of it
                refused.append(exc)
                done.release()
                return
            task.add_done_callback(finished)
            started.append(task)

        def finished(task: asyncio.Task[_R]) -> None:
            _outcome_taken(task)
            done.release()

        try:
            self.loop.call_soon_threadsafe(start)
        except RuntimeError:  # the loop has ended
            _discard(coroutine)
            _wait_for_exit()
            raise RuntimeError(_CLOSED) from None
        try:
            # Waking now and then: a close() in another thread may end the loop before
            # this call's task ever ran, and then nothing would release the lock.
            while not done.acquire(timeout=0.5):
                if self.loop.is_closed():
                    if not started:
                        _discard(coroutine)
                    _wait_for_exit()
                    raise _closed_midway()
        except BaseException:
            # KeyboardInterrupt while waiting: cancel the request on its loop (queued
            # after start(), so the task exists by then), which releases its connection
            # and leaves the client usable.
            with contextlib.suppress(RuntimeError):  # the loop has ended
                self.loop.call_soon_threadsafe(lambda: started and started[0].cancel())
            raise
        if refused:
            _discard(coroutine)
            raise refused[0]
        try:
            return started[0].result()
        except asyncio.CancelledError:
            # Not our cancel (that path raised above): close() or the exit ended the loop.
            _wait_for_exit()
            raise _closed_midway() from None

    def stop(self, timeout: float | None = None) -> None:
        """Stop the loop (its connections close) and wait for the thread to end."""
        with contextlib.suppress(RuntimeError):  # already closed
            self.loop.call_soon_threadsafe(self.loop.stop)
        if threading.current_thread() is not self.thread:
            self.thread.join(timeout)


# The loop threads this process started: ended at exit, handed over at fork. Weak, so
# that a loop ended and dropped leaves; its running thread keeps a live one referenced.
_live: weakref.WeakSet[_LoopThread] = weakref.WeakSet()
# Every Client, for the fork hook to give each a loop of the child's own.
_clients: weakref.WeakSet[Client] = weakref.WeakSet()


_exiting = False


@atexit.register
def _stop_loops_at_exit() -> None:
    # Left to the interpreter's exit, a loop thread is frozen mid-run with its sessions
    # open, and whether teardown then finalises them in silence ("Unclosed client
    # session", "Task was destroyed but it is pending" otherwise) depends on the order
    # it reaches them in. Ended here first, while they still run, their connections
    # close as close() would have closed them, and nothing is left for teardown.
    global _exiting
    _exiting = True
    for loop in list(_live):
        loop.stop(_EXIT_TIMEOUT)


def _wait_for_exit() -> None:
    # A daemon thread whose call the exit cut short waits on, as it would have waited
    # for its answer, until the interpreter ends it: raising would print its traceback.
    # Only daemon threads are still running by now, besides the main one.
    if _exiting and threading.current_thread().daemon:
        threading.Event().wait()


def _after_fork_in_child() -> None:
    global _live, _clients
    # The child has only the thread that forked: the loop threads are gone, and the
    # sets may have been mid-update in one of them. The parent's loops are never
    # stopped nor closed here (the two processes share their epoll and sockets), but
    # kept and disarmed; each client starts a loop of its own on its next call.
    for loop in _live:
        loop.inherited = True
        _fork.abandon(loop.loop)
    _live = weakref.WeakSet()
    _clients = weakref.WeakSet(_clients)
    for client in _clients:
        client._lock = threading.Lock()  # another thread of the parent may have held it
        client._loop = None


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _discard(coroutine: object) -> None:
    # A coroutine that will never run is closed, or Python warns it was never awaited.
    if asyncio.iscoroutine(coroutine):
        coroutine.close()


def _closed_midway() -> APIConnectionError:
    return APIConnectionError(
        "The Client was closed while this call was in flight; the request may have "
        "reached the server. Close the client only after its calls have returned."
    )


def _arguments_of(
    cls: Callable[_P, AsyncClient],
) -> Callable[[Callable[..., None]], Callable[Concatenate[Client, _P], None]]:
    """Give Client.__init__ the parameters of AsyncClient's, for type checkers and inspect.

    Its arguments are AsyncClient's to check: written once, they cannot drift apart.
    """

    def give(init: Callable[..., None]) -> Callable[Concatenate[Client, _P], None]:
        qualname = init.__qualname__
        functools.update_wrapper(init, cls.__init__)
        init.__qualname__ = qualname
        return init

    return give


def _outcome_taken(task: asyncio.Task[Any]) -> None:
    """Mark a call's outcome as seen, on the loop, before its caller is woken.

    The caller re-raises it with ``result()``, unless it stopped waiting: Ctrl-C while
    it waited, or between its wake-up and ``result()``, after which the task may end
    with an error of its own rather than the cancellation (a stream that broke as it
    was being closed). asyncio would then print "Task exception was never retrieved".
    """
    if not task.cancelled():
        task.exception()


def _blocking(
    method: Callable[Concatenate[AsyncClient, _P], Coroutine[Any, Any, _R]],
) -> Callable[Concatenate[Client, _P], _R]:
    """Make the blocking twin of an AsyncClient coroutine method."""

    @functools.wraps(method)
    def call(self: Client, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        return self._call(method, self._async, *args, **kwargs)

    return call


def _blocking_stream(
    method: Callable[Concatenate[AsyncClient, _P], AsyncEventStream],
) -> Callable[Concatenate[Client, _P], EventStream]:
    """Make the blocking twin of an AsyncClient stream method."""

    @functools.wraps(method)
    def call(self: Client, /, *args: _P.args, **kwargs: _P.kwargs) -> EventStream:
        # Building the stream only checks arguments and sends nothing: safe in this thread.
        return EventStream(method(self._async, *args, **kwargs), self)

    return _returning(call, method, "EventStream")


def _returning(call: _C, method: Callable[..., Any], annotation: str) -> _C:
    """Say what the blocking twin returns: ``functools.wraps`` copied the async one's."""
    call.__annotations__ = {**method.__annotations__, "return": annotation}
    call.__signature__ = inspect.signature(method).replace(  # type: ignore[attr-defined]
        return_annotation=annotation
    )
    return call


_S = TypeVar("_S")
_I = TypeVar("_I")
_Self = TypeVar("_Self", bound="BlockingIterator[Any]")


def _blocking_iterator(
    method: Callable[Concatenate[AsyncClient, _P], _S],
    wrap: Callable[[_S, Client], _I],
    returns: str,
) -> Callable[Concatenate[Client, _P], _I]:
    """Make the blocking twin of an AsyncClient method that returns an async iterator."""

    @functools.wraps(method)
    def call(self: Client, /, *args: _P.args, **kwargs: _P.kwargs) -> _I:
        # Building it only checks the arguments and sends nothing: safe in this thread.
        return wrap(method(self._async, *args, **kwargs), self)

    return _returning(call, method, returns)


def _conversations(
    source: AsyncIterator[Conversation], client: Client
) -> BlockingIterator[Conversation]:
    return BlockingIterator(source, client)


def _without_mcp(
    method: Callable[Concatenate[Client, _P], _R],
) -> Callable[Concatenate[Client, _P], _R]:
    """Refuse MCP sessions: each belongs to the event loop that opened it, not this one."""

    @functools.wraps(method)
    def call(self: Client, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        from ._mcp import is_mcp_session

        tools: Any = kwargs.get("tools") or ()
        if any(is_mcp_session(tool) for tool in tools):
            raise ConfigurationError(
                "an MCP session belongs to the event loop that opened it, and the blocking "
                "Client runs its own; pass MCP sessions to AsyncClient.run() instead"
            )
        return method(self, *args, **kwargs)

    return call


class Client:
    """The blocking client of Mistral's Conversations API.

    Takes the same arguments and has the same methods as :class:`AsyncClient`, which
    it runs on a private event loop in a background thread: it works in scripts,
    Django views, Celery tasks, from many threads at once, and in notebooks whose own
    loop is running. Use it as ``with Client() as client:`` or call ``close()``.

    A client survives ``os.fork()`` (gunicorn ``--preload``, ``multiprocessing``): the
    child's calls run on a loop and connections of its own, and the parent's are left
    as they are. A client never closed ends its connections when the interpreter exits.
    """

    _async: AsyncClient
    _lock: threading.Lock
    _loop: _LoopThread | None
    _closed: bool

    @_arguments_of(AsyncClient)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._async = AsyncClient(*args, **kwargs)
        self._lock = threading.Lock()
        self._loop = None
        self._closed = False
        _clients.add(self)

    @property
    def base_url(self) -> str:
        """The URL the client sends requests to."""
        return self._async.base_url

    def __repr__(self) -> str:
        return f"<Client base_url={self.base_url!r}>"

    def _loop_thread(self) -> _LoopThread:
        loop = self._loop
        if loop is not None:
            return loop
        with self._lock:
            if self._closed:
                raise RuntimeError(_CLOSED)
            if self._loop is None:
                self._loop = _LoopThread()
            return self._loop

    def _call(
        self, fn: Callable[_P, Coroutine[Any, Any, _R]], *args: _P.args, **kwargs: _P.kwargs
    ) -> _R:
        if self._closed:
            raise RuntimeError(_CLOSED)
        return self._loop_thread().call(fn, *args, **kwargs)

    def close(self) -> None:
        """Close the connections and stop the background thread."""
        with self._lock:
            self._closed = True
            loop, self._loop = self._loop, None
        if loop is not None:
            if not loop.loop.is_closed():  # else ended at exit, with its connections
                loop.call(self._async.aclose)
            loop.stop()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        loop = getattr(self, "_loop", None)
        if loop is None or self._closed:
            return
        warnings.warn(
            f"{self!r} was never closed; use 'with Client() as client:' or 'client.close()'",
            ResourceWarning,
            stacklevel=1,
        )
        # Stopping the loop closes its connections; nothing here waits for that.
        self._async._forget()
        with contextlib.suppress(RuntimeError):  # the loop already ended
            loop.loop.call_soon_threadsafe(loop.loop.stop)

    @property
    def with_raw_response(self) -> RawOperations:
        """Every operation, returning a RawResponse: status, headers, timing, ``parse()``."""
        return RawOperations(self)

    start = _blocking(AsyncClient.start)
    list = _blocking(AsyncClient.list)
    get = _blocking(AsyncClient.get)
    delete = _blocking(AsyncClient.delete)
    append = _blocking(AsyncClient.append)
    get_history = _blocking(AsyncClient.get_history)
    get_messages = _blocking(AsyncClient.get_messages)
    restart = _blocking(AsyncClient.restart)
    start_stream = _blocking_stream(AsyncClient.start_stream)
    append_stream = _blocking_stream(AsyncClient.append_stream)
    restart_stream = _blocking_stream(AsyncClient.restart_stream)
    run = _without_mcp(_blocking(AsyncClient.run))
    run_stream = _without_mcp(
        _blocking_iterator(AsyncClient.run_stream, lambda run, c: RunStream(run, c), "RunStream")
    )
    iter_conversations = _blocking_iterator(
        AsyncClient.iter_conversations, _conversations, "BlockingIterator[Conversation]"
    )


_END = object()


async def _next_of(source: AsyncIterator[_T]) -> _T | object:
    # __anext__ is called here, on the loop: an async generator's first step registers
    # it with the loop it runs on, which then finalises it if it is dropped unfinished.
    try:
        return await source.__anext__()
    except StopAsyncIteration:
        return _END


class BlockingIterator(Generic[_T]):
    """An async iterator of the client's loop, read as a plain iterator from any thread.

    ``for item in client.iter_conversations(): ...``. ``close()`` (or leaving its
    ``with`` block) stops it at once.
    """

    def __init__(self, source: AsyncIterator[_T], client: Client) -> None:
        self._source = source
        self._client = client

    def __iter__(self) -> BlockingIterator[_T]:
        return self

    def __next__(self) -> _T:
        item = self._client._call(_next_of, self._source)
        if item is _END:
            raise StopIteration
        return cast(_T, item)

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop here: what the iteration holds open (a stream) is closed."""
        aclose = getattr(self._source, "aclose", None)
        if aclose is not None and not self._client._closed:
            self._client._call(aclose)


class RunStream(BlockingIterator["ConversationEvent | FunctionResultEvent"]):
    """:meth:`Client.run_stream`: the events of every round, then :meth:`result`.

    ``with client.run_stream(...) as run: for event in run: ...``; leaving the block
    closes the round's stream and cancels its functions.
    """

    def __init__(self, source: AsyncRunStream, client: Client) -> None:
        super().__init__(source, client)
        self._run = source

    def result(self) -> RunResult:
        """Read the run to its end and return what it did."""
        return self._client._call(self._run.result)


def _blocking_raw(
    method: Callable[Concatenate[AsyncRawOperations, _P], Coroutine[Any, Any, _R]],
) -> Callable[Concatenate[RawOperations, _P], _R]:
    """Make the blocking twin of a with_raw_response coroutine method."""

    @functools.wraps(method)
    def call(self: RawOperations, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        client = self._client
        return client._call(method, client._async.with_raw_response, *args, **kwargs)

    return call


def _blocking_raw_stream(
    method: Callable[
        Concatenate[AsyncRawOperations, _P], Coroutine[Any, Any, RawResponse[AsyncEventStream]]
    ],
) -> Callable[Concatenate[RawOperations, _P], RawResponse[EventStream]]:
    """Make the blocking twin of a with_raw_response stream method: connects first."""

    @functools.wraps(method)
    def call(
        self: RawOperations, /, *args: _P.args, **kwargs: _P.kwargs
    ) -> RawResponse[EventStream]:
        client = self._client
        raw = client._call(method, client._async.with_raw_response, *args, **kwargs)
        return raw._with_parsed(EventStream(raw.parse(), client))

    return call


class RawOperations:
    """``client.with_raw_response`` on the blocking :class:`Client`.

    ``raw = client.with_raw_response.start(...)``; ``raw.parse()`` is what
    ``client.start(...)`` returns. A stream operation connects; ``raw.parse()`` is the
    connected :class:`EventStream` (read it inside ``with``).
    """

    __slots__ = ("_client",)

    def __init__(self, client: Client) -> None:
        self._client = client

    start = _blocking_raw(AsyncRawOperations.start)
    list = _blocking_raw(AsyncRawOperations.list)
    get = _blocking_raw(AsyncRawOperations.get)
    delete = _blocking_raw(AsyncRawOperations.delete)
    append = _blocking_raw(AsyncRawOperations.append)
    get_history = _blocking_raw(AsyncRawOperations.get_history)
    get_messages = _blocking_raw(AsyncRawOperations.get_messages)
    restart = _blocking_raw(AsyncRawOperations.restart)
    start_stream = _blocking_raw_stream(AsyncRawOperations.start_stream)
    append_stream = _blocking_raw_stream(AsyncRawOperations.append_stream)
    restart_stream = _blocking_raw_stream(AsyncRawOperations.restart_stream)


class EventStream:
    """The events of one streamed turn, read as they arrive (blocking form).

    ``with client.start_stream(...) as stream: for event in stream: ...``; leaving
    the block, or ``close()``, closes the HTTP response (a ``break`` out of the loop
    alone does not: the block's end does). ``response()`` and ``text_deltas()`` work as
    on :class:`AsyncEventStream`. The request is sent at most once: a stream closed
    before it was read never sends it.
    """

    __slots__ = ("_batch", "_client", "_interrupted", "_loop", "_stream")

    def __init__(self, stream: AsyncEventStream, client: Client) -> None:
        self._stream = stream
        self._client = client
        # The loop thread that runs this stream, from its first call on: its response
        # lives there, and in a forked child it is the parent's.
        self._loop: _LoopThread | None = None
        # Events are fetched from the loop thread in batches: one thread hop per
        # network read, not per event.
        self._batch: Iterator[ConversationEvent] = iter(())
        # Set when a call was interrupted (Ctrl-C): its cancellation closes the stream.
        self._interrupted = False

    def _call(self, fn: Callable[[], Coroutine[Any, Any, _R]]) -> _R:
        client = self._client
        if client._closed:
            raise RuntimeError(_CLOSED)
        loop = self._loop
        if loop is None:
            loop = self._loop = client._loop_thread()
        elif loop.inherited:
            raise RuntimeError(
                "This stream was opened before os.fork(), by the parent process, which "
                "alone may read it; start a new stream in this process."
            )
        try:
            return loop.call(fn)
        except KeyboardInterrupt:
            self._interrupted = True
            raise

    @property
    def conversation_id(self) -> str | None:
        """The conversation's id, once the server has said it (its first event); else None."""
        return self._stream.conversation_id

    @property
    def headers(self) -> Mapping[str, str]:
        """The answer's headers, once connected; empty before."""
        return self._stream.headers

    @property
    def request_id(self) -> str | None:
        """The server's id for the request (quote it to support), once connected."""
        return self._stream.request_id

    def __enter__(self) -> EventStream:
        self._call(self._stream._ensure_connected)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> EventStream:
        return self

    def __next__(self) -> ConversationEvent:
        for event in self._batch:
            return event
        batch = self._call(self._stream._next_batch)
        if not batch:
            raise StopIteration
        self._batch = iter(batch)
        return next(self._batch)

    def close(self) -> None:
        """Close the HTTP response now; events not read yet are dropped.

        Reading on after this raises
        :class:`~mistral_conversations.errors.StreamInterruptedError`, unless the stream
        had come to its end; a stream closed before it was read never sends its request.
        """
        self._batch = iter(())
        stream = self._stream
        if not stream._open:
            # Nothing in flight on the loop: marked closed here, without a thread hop.
            stream._abandon()
            return
        loop = self._loop
        if loop is not None and loop.inherited:
            return  # the parent's response: closing it would act on the parent's socket
        self._call(lambda: stream._close_as("close() or leaving its block"))

    def __del__(self) -> None:
        # Dropped without close() (a loop left by break): close it on its own loop.
        loop = self._loop
        if loop is None or loop.inherited or not self._stream._open:
            return
        if not self._interrupted:  # an interrupted call's cancellation is closing it
            warnings.warn(
                "An event stream was collected while its HTTP response was still open; "
                "read it inside 'with client.start_stream(...) as stream:' to close it "
                "at a known point.",
                ResourceWarning,
                stacklevel=1,
            )
        if threading.current_thread() is loop.thread:
            self._stream._abandon()
            return
        with contextlib.suppress(RuntimeError):  # the loop has ended, and its sockets with it
            loop.loop.call_soon_threadsafe(self._stream._abandon)

    def response(self) -> ConversationResponse:
        """Read the stream to its end and return the response its events add up to."""
        # Events fetched but not yet iterated are already counted in the response.
        self._batch = iter(())
        return self._call(self._stream.response)

    def text_deltas(self) -> Iterator[str]:
        """Yield only the pieces of text of the answer, as they arrive (for UIs).

        Leaving the loop over it before the end closes the stream, as :meth:`close`.
        """
        joiner = HalfJoiner()
        try:
            for event in self:
                text = text_of(event)
                if text is not None:
                    text = joiner.piece(text)
                    if text:
                        yield text
            rest = joiner.end()
            if rest:
                yield rest
        finally:
            # A generator left early is closed at once (GeneratorExit here): so is the
            # stream, and a later response() says so instead of reading on. A client
            # closed meanwhile has closed the stream with it.
            if self._stream._open:
                with contextlib.suppress(RuntimeError):
                    self.close()
