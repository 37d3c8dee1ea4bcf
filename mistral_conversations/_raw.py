"""RawResponse and ``client.with_raw_response``: an answer's status, headers and timing.

No operation is written again: each raw method runs the plain one while a context
variable collects what the transport received, then wraps the two together.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar, cast

from ._client import AsyncClient, capturing
from ._outcomes import request_id_of
from ._ratelimit import RateLimit
from ._streaming import AsyncEventStream

__all__ = ["AsyncRawOperations", "RawResponse"]

_P = ParamSpec("_P")
_R = TypeVar("_R")
_T = TypeVar("_T")
_U = TypeVar("_U")


class _Received(Protocol):
    """What the transport reports of an answer: a whole one, or a stream's head."""

    @property
    def status(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def attempts(self) -> int: ...
    @property
    def elapsed(self) -> float: ...


class RawResponse(Generic[_T]):
    """An answer as it came: ``status_code``, ``headers``, timing, and :meth:`parse`.

    ``request_id`` is the server's id for the request (quote it to support);
    ``elapsed`` the seconds from the first attempt's start to the answer (for a stream,
    to its first byte); ``attempts`` how many attempts it took; ``rate_limit`` what the
    ``x-ratelimit-*`` headers said, or None.
    """

    __slots__ = (
        "_parsed",
        "attempts",
        "elapsed",
        "headers",
        "rate_limit",
        "request_id",
        "status_code",
    )

    def __init__(self, received: _Received, parsed: _T) -> None:
        self.status_code = received.status
        self.headers = received.headers
        self.attempts = received.attempts
        self.elapsed = received.elapsed
        self.request_id = request_id_of(received.headers)
        self.rate_limit = RateLimit.from_headers(received.headers)
        self._parsed = parsed

    def _with_parsed(self, parsed: _U) -> RawResponse[_U]:
        """The same answer around another form of its result (the blocking stream)."""
        raw = cast("RawResponse[_U]", copy.copy(self))
        raw._parsed = parsed
        return raw

    def parse(self) -> _T:
        """The model the plain call returns (for a stream: the connected stream)."""
        return self._parsed

    def __repr__(self) -> str:
        return f"<RawResponse {self.status_code} request_id={self.request_id!r}>"


def _raw(
    method: Callable[Concatenate[AsyncClient, _P], Awaitable[_R]],
) -> Callable[Concatenate[AsyncRawOperations, _P], Coroutine[Any, Any, RawResponse[_R]]]:
    @functools.wraps(method)
    async def call(self: AsyncRawOperations, /, *args: _P.args, **kwargs: _P.kwargs) -> Any:
        with capturing() as seen:
            parsed = await method(self._client, *args, **kwargs)
        return RawResponse(seen[-1], parsed)

    call.__annotations__ = {**method.__annotations__, "return": "RawResponse"}
    return call


def _raw_stream(
    method: Callable[Concatenate[AsyncClient, _P], AsyncEventStream],
) -> Callable[
    Concatenate[AsyncRawOperations, _P], Coroutine[Any, Any, RawResponse[AsyncEventStream]]
]:
    @functools.wraps(method)
    async def call(
        self: AsyncRawOperations, /, *args: _P.args, **kwargs: _P.kwargs
    ) -> RawResponse[AsyncEventStream]:
        stream = await method(self._client, *args, **kwargs)  # connects
        assert stream._head is not None
        return RawResponse(stream._head, stream)

    call.__annotations__ = {**method.__annotations__, "return": "RawResponse"}
    return call


class AsyncRawOperations:
    """``client.with_raw_response``: every operation, returning a :class:`RawResponse`.

    ``raw = await client.with_raw_response.start(...)``; ``raw.parse()`` is what
    ``client.start(...)`` returns. A stream operation is awaited: it connects, and
    ``parse()`` is the connected stream, to read as usual.
    """

    __slots__ = ("_client",)

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    start = _raw(AsyncClient.start)
    list = _raw(AsyncClient.list)
    get = _raw(AsyncClient.get)
    delete = _raw(AsyncClient.delete)
    append = _raw(AsyncClient.append)
    get_history = _raw(AsyncClient.get_history)
    get_messages = _raw(AsyncClient.get_messages)
    restart = _raw(AsyncClient.restart)
    start_stream = _raw_stream(AsyncClient.start_stream)
    append_stream = _raw_stream(AsyncClient.append_stream)
    restart_stream = _raw_stream(AsyncClient.restart_stream)
