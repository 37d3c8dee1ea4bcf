"""Client and EventStream: the blocking facade over AsyncClient.

Every call runs the async core on one private event loop in one background thread.
Nothing here implements an operation: each method forwards to its AsyncClient twin,
whose signature and docstring it carries.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import threading
import warnings
from collections.abc import Callable, Coroutine, Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from ._client import DEFAULT_MAX_BODY_SIZE, DEFAULT_MAX_EVENT_SIZE, AsyncClient
from ._retry import RetryPolicy
from ._streaming import AsyncEventStream, text_of
from ._timeout import Timeout
from .errors import APIConnectionError

if TYPE_CHECKING:
    from ssl import SSLContext

    import aiohttp

    from ._keys import KeyProvider
    from .models import ConversationEvent, ConversationResponse

__all__ = ["Client", "EventStream"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


class _LoopThread:
    """A private asyncio event loop, run forever in a daemon thread.

    Plain asyncio rather than an anyio portal, whose round trip measured four times
    this one's (126 us against 30 us), most of the gap between the blocking start()
    and the async one. A daemon thread, so that a Client someone forgot to close never
    keeps a script from exiting.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="mistral-conversations", daemon=True)
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
        # A lock released by the task's done-callback: half the cost of
        # run_coroutine_threadsafe's future chaining (30 us against 55 us a call here).
        done = threading.Lock()
        done.acquire()
        started: list[asyncio.Task[_R]] = []

        def start() -> None:
            task = self.loop.create_task(fn(*args, **kwargs))
            task.add_done_callback(lambda _: done.release())
            started.append(task)

        try:
            self.loop.call_soon_threadsafe(start)
        except RuntimeError:  # the loop has ended
            raise RuntimeError(
                "this Client was closed; create a new one to send requests"
            ) from None
        try:
            # Waking now and then: a close() in another thread may end the loop before
            # this call's task ever ran, and then nothing would release the lock.
            while not done.acquire(timeout=0.5):
                if self.loop.is_closed():
                    raise _closed_midway()
        except BaseException:
            # KeyboardInterrupt while waiting: cancel the request on its loop (queued
            # after start(), so the task exists by then), which releases its connection
            # and leaves the client usable.
            with contextlib.suppress(RuntimeError):  # the loop has ended
                self.loop.call_soon_threadsafe(lambda: started[0].cancel())
            raise
        try:
            return started[0].result()
        except asyncio.CancelledError:
            # Not our cancel (that path raised above): close() ended the loop midway.
            raise _closed_midway() from None

    def submit(self, coroutine: Coroutine[Any, Any, object]) -> None:
        """Run a coroutine on the loop without waiting for it; nothing if the loop ended."""
        with contextlib.suppress(RuntimeError):
            asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def stop(self) -> None:
        """Stop the loop (its connections close) and wait for the thread to end."""
        with contextlib.suppress(RuntimeError):  # already closed
            self.loop.call_soon_threadsafe(self.loop.stop)
        if threading.current_thread() is not self.thread:
            self.thread.join()


def _closed_midway() -> APIConnectionError:
    return APIConnectionError(
        "The Client was closed while this call was in flight; the request may have "
        "reached the server. Close the client only after its calls have returned."
    )


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

    call.__annotations__ = {**method.__annotations__, "return": "EventStream"}
    call.__signature__ = inspect.signature(method).replace(  # type: ignore[attr-defined]
        return_annotation="EventStream"
    )
    return call


class Client:
    """The blocking client of Mistral's Conversations API.

    Takes the same arguments and has the same methods as :class:`AsyncClient`, which
    it runs on a private event loop in a background thread: it works in scripts,
    Django views, Celery tasks, from many threads at once, and in notebooks whose own
    loop is running. Use it as ``with Client() as client:`` or call ``close()``.
    """

    def __init__(
        self,
        api_key: str | KeyProvider | None = None,
        *,
        base_url: str | None = None,
        timeout: Timeout | float | None = None,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        max_connections: int | None = 1000,
        max_body_size: int | None = DEFAULT_MAX_BODY_SIZE,
        max_event_size: int | None = DEFAULT_MAX_EVENT_SIZE,
        proxy: str | None = None,
        trust_env: bool = True,
        ssl: SSLContext | bool | None = None,
        session_factory: Callable[[], aiohttp.ClientSession] | None = None,
    ) -> None:
        self._async = AsyncClient(
            api_key,
            base_url=base_url,
            timeout=timeout,
            retry=retry,
            headers=headers,
            max_connections=max_connections,
            max_body_size=max_body_size,
            max_event_size=max_event_size,
            proxy=proxy,
            trust_env=trust_env,
            ssl=ssl,
            session_factory=session_factory,
        )
        self._lock = threading.Lock()
        self._loop: _LoopThread | None = None
        self._closed = False

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
                raise RuntimeError("this Client was closed; create a new one to send requests")
            if self._loop is None:
                self._loop = _LoopThread()
            return self._loop

    def _call(
        self, fn: Callable[_P, Coroutine[Any, Any, _R]], *args: _P.args, **kwargs: _P.kwargs
    ) -> _R:
        if self._closed:
            raise RuntimeError("this Client was closed; create a new one to send requests")
        return self._loop_thread().call(fn, *args, **kwargs)

    def close(self) -> None:
        """Close the connections and stop the background thread."""
        with self._lock:
            self._closed = True
            loop, self._loop = self._loop, None
        if loop is not None:
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


class EventStream:
    """The events of one streamed turn, read as they arrive (blocking form).

    ``with client.start_stream(...) as stream: for event in stream: ...``; leaving
    the block or breaking out of the loop closes the HTTP response. ``response()``
    and ``text_deltas()`` work as on :class:`AsyncEventStream`.
    """

    __slots__ = ("_batch", "_client", "_stream")

    def __init__(self, stream: AsyncEventStream, client: Client) -> None:
        self._stream = stream
        self._client = client
        # Events are fetched from the loop thread in batches: one thread hop per
        # network read, not per event.
        self._batch: Iterator[ConversationEvent] = iter(())

    @property
    def conversation_id(self) -> str | None:
        """The conversation's id, once the server has said it (its first event); else None."""
        return self._stream.conversation_id

    def __enter__(self) -> EventStream:
        self._client._call(self._stream._ensure_connected)
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
        batch = self._client._call(self._stream._next_batch)
        if not batch:
            raise StopIteration
        self._batch = iter(batch)
        return next(self._batch)

    def close(self) -> None:
        """Close the HTTP response now; events not read yet are dropped."""
        self._batch = iter(())
        if self._stream._open:
            self._client._call(self._stream.aclose)

    def __del__(self) -> None:
        # Dropped without close() (a loop left by break): close it on its own loop.
        loop = self._client._loop
        if not self._stream._open or loop is None:
            return
        if threading.current_thread() is loop.thread:
            self._stream._close_body()
        else:
            loop.submit(self._stream.aclose())

    def response(self) -> ConversationResponse:
        """Read the stream to its end and return the response its events add up to."""
        # Events fetched but not yet iterated are already counted in the response.
        self._batch = iter(())
        return self._client._call(self._stream.response)

    def text_deltas(self) -> Iterator[str]:
        """Yield only the pieces of text of the answer, as they arrive (for UIs)."""
        for event in self:
            text = text_of(event)
            if text is not None:
                yield text
