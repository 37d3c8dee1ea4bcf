"""The async core: one aiohttp session per event loop, auth, timeouts, error mapping.

Nothing here knows the models: requests go out as JSON-ready values and answers come
back as bytes. Nothing above this module knows aiohttp.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import os
import select
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
import attrs
from aiohttp.client_reqrep import ClientRequest, RequestInfo
from aiohttp.connector import Connection
from aiohttp.tracing import Trace
from multidict import CIMultiDict, CIMultiDictProxy

from . import _fork, _json
from ._convert import converter
from ._retry import RETRYABLE_STATUSES, Decision, Failure, GiveUp, RetryPolicy, parse_retry_after
from ._timeout import Timeout
from ._version import __version__
from .errors import (
    EXCERPT_LIMIT,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    InternalServerError,
    MistralError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    UnprocessableEntityError,
    excerpt,
)
from .models import ValidationErrorDetail

__all__ = ["Answer", "StreamBody", "Transport"]

_A = TypeVar("_A")

USER_AGENT = f"mistral-conversations/{__version__}"
logger = logging.getLogger("mistral_conversations")
_REQUEST_ID_HEADERS = ("mistral-correlation-id", "x-request-id", "x-kong-request-id")


# An error answer's body is only ever quoted: this much of it is read, the rest dropped.
_ERROR_BODY_LIMIT = 4 * EXCERPT_LIMIT


@functools.lru_cache(maxsize=64)
def _aiohttp_timeout(timeout: Timeout, *, streaming: bool) -> aiohttp.ClientTimeout:
    # Cached: a ClientTimeout per request cost a measurable share of a start().
    return aiohttp.ClientTimeout(
        total=None if streaming else timeout.total,
        # Waiting for a free connection of the pool counts as connecting: a request
        # never queues silently for longer than the connect limit.
        connect=timeout.connect,
        sock_connect=timeout.connect,
        sock_read=timeout.read,
    )


class _NoRetry(Exception):
    """Carries an error that no retry policy should see as retryable."""

    def __init__(self, error: MistralError) -> None:
        super().__init__(error)
        self.error = error


def _has_pending_input(connection: Connection) -> bool:
    """Whether an idle connection has something to read: the server's close, or garbage.

    Either way it cannot carry a request. Checked before every request, since a server
    may close a keep-alive connection in the very instant before it is reused, and the
    request written on it would then be lost with no way to tell whether it arrived.
    """
    transport = connection.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None:
        return False
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    return bool(poller.poll(0))


class _CheckedConnector(aiohttp.TCPConnector):
    """A TCPConnector that never hands out a pooled connection the server has closed."""

    async def connect(
        self, req: ClientRequest, traces: list[Trace], timeout: aiohttp.ClientTimeout
    ) -> Connection:
        # Bounded: a server that speaks first on every new connection is not ours to fix.
        for _ in range(8):
            connection = await super().connect(req, traces, timeout)
            if not _has_pending_input(connection):
                return connection
            connection.close()
        return await super().connect(req, traces, timeout)

    def is_full(self) -> bool:
        """Whether every connection the pool may hold is in use."""
        return bool(self.limit) and len(getattr(self, "_acquired", ())) >= self.limit


@attrs.frozen
class Answer:
    """A whole non-streaming answer: status, headers and body bytes."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class StreamBody:
    """The body of a streaming answer whose status was a success, read chunk by chunk."""

    __slots__ = ("__weakref__", "_response", "_transport_origin", "closed_by_client")

    def __init__(self, response: aiohttp.ClientResponse, origin: str) -> None:
        self._response = response
        self._transport_origin = origin
        self.closed_by_client = False

    @property
    def headers(self) -> Mapping[str, str]:
        """The answer's headers."""
        return self._response.headers

    async def read(self) -> bytes:
        """The next piece of the body as it arrives; ``b""`` at its end."""
        with _mapped_errors(self._transport_origin, answered=True):
            return await self._response.content.readany()

    def close(self) -> None:
        """Close the answer at once; a half-read connection is never returned to the pool."""
        self._response.close()

    def finish(self) -> None:
        """End reading: give the connection back if the body has ended, else close it."""
        response = self._response
        if response.content.at_eof():
            response.release()
        else:
            response.close()


def normalise_base_url(base_url: str) -> str:
    """Check a base URL and drop its trailing slash; raise ConfigurationError if unusable.

    A plain http:// URL to a host that is not this machine logs a warning: the API key
    would cross the network in clear text.
    """
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"base_url must be an http:// or https:// URL with a host, like "
            f"'https://api.mistral.ai', not {base_url!r}"
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        logger.warning(
            "base_url %s is plain http:// to another host: the API key will be sent "
            "unencrypted. Use https:// unless this is a trusted network.",
            base_url,
        )
    return base_url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _LoopState:
    """The session of one event loop, closed when that loop shuts down."""

    __slots__ = ("bodies", "guard", "session")

    def __init__(self, session: aiohttp.ClientSession, guard: AsyncIterator[None]) -> None:
        self.session = session
        # Referenced so that the guard lives until the loop finalises it.
        self.guard = guard
        # Streams being read: closing the session alone does not wake their readers.
        self.bodies: weakref.WeakSet[StreamBody] = weakref.WeakSet()

    async def close(self) -> None:
        for body in list(self.bodies):
            body.closed_by_client = True
            body.close()
        await self.session.close()


async def _close_at_loop_shutdown(session: aiohttp.ClientSession) -> AsyncIterator[None]:
    # An async generator that is left suspended is closed by the event loop's
    # shutdown_asyncgens(), which asyncio.run() and pytest-asyncio call: this is the
    # one hook a library has to close pooled sockets when a loop it did not create ends.
    try:
        yield
    finally:
        await session.close()


class Transport:
    """Sends requests and reads answers; knows HTTP, not models."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        timeout: Timeout,
        headers: Mapping[str, str] | None,
        max_connections: int | None,
        max_body_size: int | None,
    ) -> None:
        self.base_url = normalise_base_url(base_url)
        self.max_body_size = max_body_size
        self.origin = _origin(self.base_url)
        self.timeout = timeout
        self._headers = {
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
            **(headers or {}),
            "Authorization": f"Bearer {api_key}",
        }
        self._max_connections = max_connections
        self._states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
            weakref.WeakKeyDictionary()
        )
        self.closed = False
        self.opened_any = False
        self._generation = _fork.generation()
        # Replaceable so that tests of waits do not wait in real time.
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def __repr__(self) -> str:
        return f"<Transport {self.base_url}>"

    async def _state(self) -> _LoopState:
        if self.closed:
            raise RuntimeError("this client was closed; create a new one to send more requests")
        if self._generation != _fork.generation():
            self._forget_inherited()
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is not None and not state.session.closed:
            return state
        connector = _CheckedConnector(limit=self._max_connections or 0)
        session = aiohttp.ClientSession(
            connector=connector,
            headers=self._headers,
            auto_decompress=True,
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        # aiohttp sends an idempotent request again, once, when a pooled connection
        # drops; the retry policy must be the only thing that decides a second attempt.
        if hasattr(session, "_retry_connection"):
            session._retry_connection = False
        guard = _close_at_loop_shutdown(session)
        await guard.__anext__()
        state = self._states[loop] = _LoopState(session, guard)
        self.opened_any = True
        return state

    def _forget_inherited(self) -> None:
        """In a forked child: let go of the parent's sessions without touching them."""
        for loop, state in self._states.items():
            _fork.abandon(loop, state)
        self._states.clear()
        self._generation = _fork.generation()

    def _request_kwargs(
        self,
        *,
        params: Mapping[str, str] | None,
        body: bytes | None,
        timeout: Timeout | float | None,
        headers: Mapping[str, str] | None,
        streaming: bool,
    ) -> dict[str, Any]:
        effective = self.timeout if timeout is None else Timeout.coerce(timeout)
        kwargs: dict[str, Any] = {
            "params": params,
            "timeout": _aiohttp_timeout(effective, streaming=streaming),
            # The API never redirects; following one could carry the key to another host.
            "allow_redirects": False,
        }
        extra = dict(headers) if headers else {}
        if streaming:
            extra["Accept"] = "text/event-stream"
        if body is not None:
            kwargs["data"] = body
            extra["Content-Type"] = "application/json"
        if extra:
            kwargs["headers"] = extra
        return kwargs

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: Timeout | float | None = None,
        headers: Mapping[str, str] | None = None,
        retry: RetryPolicy,
    ) -> Answer:
        """Send a request and read its whole answer, retrying as the policy allows.

        Raises the library's error for an error status or a failed connection.
        """
        kwargs = self._request_kwargs(
            params=params, body=body, timeout=timeout, headers=headers, streaming=False
        )
        url = self.base_url + path

        async def attempt() -> Answer:
            session = (await self._state()).session
            with _mapped_errors(self.origin, answered=False, session=session) as progress:
                async with session.request(method, url, **kwargs) as response:
                    progress.answered = True
                    if response.status >= 300:
                        data, _ = await _read_bounded(response, _ERROR_BODY_LIMIT)
                        raise status_error(response.status, response.headers, data)
                    data, whole = await _read_bounded(response, self.max_body_size)
                    if not whole:
                        raise _NoRetry(_too_large(self.max_body_size or 0))
            return Answer(response.status, response.headers, data)

        return await self._retrying(method, path, retry, attempt)

    async def open_stream(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None,
        timeout: Timeout | float | None = None,
        headers: Mapping[str, str] | None = None,
        retry: RetryPolicy,
    ) -> StreamBody:
        """Send a request whose answer is a stream; raise for an error status.

        Retried, as the policy allows, only until the answer's status arrives: once the
        body has begun, a break is the stream's to report, never a silent restart.
        """
        kwargs = self._request_kwargs(
            params=None, body=body, timeout=timeout, headers=headers, streaming=True
        )
        url = self.base_url + path

        async def attempt() -> StreamBody:
            state = await self._state()
            with _mapped_errors(self.origin, answered=False, session=state.session) as progress:
                response = await state.session.request(method, url, **kwargs)
                progress.answered = True
                if response.status >= 300:
                    data = await _read_and_release(response)
                    raise status_error(response.status, response.headers, data)
                if response.content_type != "text/event-stream":
                    data = await _read_and_release(response)
                    text = data.decode("utf-8", "replace")
                    raise ResponseDecodeError(
                        f"A stream was asked for, but the server answered with "
                        f"{response.content_type or 'no content type'} instead of an event "
                        f"stream: {text[:200]!r}. Check base_url.",
                        body=excerpt(text),
                    )
            body = StreamBody(response, self.origin)
            state.bodies.add(body)
            return body

        return await self._retrying(method, path, retry, attempt)

    async def _retrying(
        self,
        method: str,
        path: str,
        policy: RetryPolicy,
        attempt: Callable[[], Awaitable[_A]],
    ) -> _A:
        started = time.monotonic()
        attempts = 0
        while True:
            attempts += 1
            try:
                return await attempt()
            except _NoRetry as carrier:
                raise carrier.error from carrier.error.__cause__
            except (APIStatusError, APIConnectionError) as exc:
                if self.closed:  # aclose() ran meanwhile: nothing may be sent any more
                    raise
                failure = _failure_of(exc)
                headers = exc.headers if isinstance(exc, APIStatusError) else None
                decision = policy.decide(
                    method=method,
                    failure=failure,
                    attempt=attempts,
                    elapsed=time.monotonic() - started,
                    headers=headers,
                )
                if decision.give_up:
                    exc.attempts = attempts
                    note = _give_up_note(failure, decision, attempts, policy)
                    if note:
                        exc.args = (f"{exc.args[0]} {note}", *exc.args[1:])
                    raise
                logger.info(
                    "retrying %s %s in %.2fs (attempt %d of %d failed: %s)",
                    method,
                    path,
                    decision.delay,
                    attempts,
                    policy.max_attempts,
                    _cause(exc),
                )
                await self.sleep(decision.delay)

    async def aclose(self) -> None:
        """Close the session of the running loop and refuse further requests."""
        self.closed = True
        loop = asyncio.get_running_loop()
        for state_loop, state in list(self._states.items()):
            if state_loop is loop:
                await state.close()
            elif not state_loop.is_closed() and state_loop.is_running():
                # A session lives on the loop that made it; ask that loop to close it.
                asyncio.run_coroutine_threadsafe(state.close(), state_loop)
        self._states.clear()


async def _read_and_release(response: aiohttp.ClientResponse) -> bytes:
    """Read (the start of) an answer that is not the stream asked for; free its connection."""
    try:
        data, _ = await _read_bounded(response, _ERROR_BODY_LIMIT)
    finally:
        response.release()
    return data


async def _read_bounded(response: aiohttp.ClientResponse, limit: int | None) -> tuple[bytes, bool]:
    """Read a body up to *limit* bytes after decompression: (those bytes, whether whole).

    Reading stops at the limit: the rest is never read, and the connection is closed.
    """
    length = response.content_length
    if limit is None or (
        length is not None and length <= limit and "Content-Encoding" not in response.headers
    ):
        return await response.read(), True
    pieces: list[bytes] = []
    room = limit
    content = response.content
    while piece := await content.readany():
        if len(piece) > room:
            pieces.append(piece[:room])
            response.close()
            return b"".join(pieces), False
        room -= len(piece)
        pieces.append(piece)
    return b"".join(pieces), True


def _too_large(limit: int) -> ResponseDecodeError:
    return ResponseDecodeError(
        f"The answer's body is larger than max_body_size ({limit:,} bytes, counted after "
        "decompression); reading stopped there and the connection was closed. Raise "
        "AsyncClient(max_body_size=...) if such answers are expected.",
        body="",
    )


def _os_reason(error: OSError) -> str:
    # asyncio puts "Connect call failed (host, port)" where strerror would be; the
    # errno says it in words a user knows ("Connection refused").
    if error.errno:
        return os.strerror(error.errno)
    return error.strerror or str(error)


def _failure_of(exc: APIStatusError | APIConnectionError) -> Failure | int:
    """What a retry policy needs to know of a failed attempt."""
    if isinstance(exc, APIStatusError):
        return exc.status_code
    return exc.failure


def _cause(exc: MistralError) -> str:
    if isinstance(exc, APIStatusError):
        return f"HTTP {exc.status_code}"
    return type(exc.__cause__ or exc).__name__


def _give_up_note(
    failure: Failure | int, decision: Decision, attempts: int, policy: RetryPolicy
) -> str | None:
    """What the final error adds about retrying: how many attempts, and why no more."""
    if decision.give_up is GiveUp.NOT_RETRYABLE:
        if isinstance(failure, Failure):  # the message already says the server may have acted
            return (
                "[not sent again, since that could act twice; "
                "RetryPolicy(retry_posts='all') sends it again anyway]"
            )
        # A status never retried (404) needs no note; a POST's 500 says why not.
        return f"[{decision.reason}]" if failure in RETRYABLE_STATUSES else None
    if policy.max_attempts == 1:  # the caller disabled retries: nothing to explain
        return None
    if decision.reason.startswith("gave up after"):  # the reason counts the attempts
        return f"[{decision.reason}]"
    return f"[{attempts} attempt{'s' if attempts > 1 else ''} made; {decision.reason}]"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@attrs.define
class _Progress:
    answered: bool


@contextlib.contextmanager
def _mapped_errors(
    origin: str, *, answered: bool, session: aiohttp.ClientSession | None = None
) -> Iterator[_Progress]:
    """Turn aiohttp and socket failures into the library's connection errors.

    The one place where transport exceptions become library exceptions. ``answered``
    (set by the caller once the status line arrived) decides what the message says of
    the request's fate. The aiohttp exception stays as ``__cause__`` for debugging,
    scrubbed of the request's headers, which hold the API key.
    """
    progress = _Progress(answered)
    try:
        yield progress
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
        _scrub(exc)
        if isinstance(exc, aiohttp.ConnectionTimeoutError) and _pool_is_full(session):
            # Not retried: another wait for a full pool would only hide the cause.
            pool_error = _pool_timeout(origin)
            pool_error.__cause__ = exc
            raise _NoRetry(pool_error) from None
        error = _connection_error(exc, origin, answered=progress.answered)
        error.failure = _failure_kind(exc)
        raise error from exc


def _pool_is_full(session: aiohttp.ClientSession | None) -> bool:
    connector = session.connector if session is not None else None
    return isinstance(connector, _CheckedConnector) and connector.is_full()


def _pool_timeout(origin: str) -> APITimeoutError:
    error = APITimeoutError(
        f"Timed out waiting for a free connection to {origin}: all max_connections "
        "connections of this client are in use (each open stream holds one until it "
        "ends); the request was not sent. Close streams you no longer read, or raise "
        "AsyncClient(max_connections=...)."
    )
    error.failure = Failure.CONNECT
    return error


def _connection_error(exc: BaseException, origin: str, *, answered: bool) -> APIConnectionError:
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return APITimeoutError(
            f"Timed out connecting to {origin}; the request was not sent. "
            "Check the base URL and your network, or raise Timeout(connect=...)."
        )
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return APITimeoutError(
            f"Timed out waiting for {origin} to answer (read timeout); the server may have "
            "acted on the request. Raise Timeout(read=...) if answers are slow."
        )
    if isinstance(exc, asyncio.TimeoutError):  # on 3.10 not the builtin TimeoutError
        return APITimeoutError(
            f"The request to {origin} took longer than its total time limit; the server may "
            "have acted on it. Raise Timeout(total=...) for long requests."
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        return APIConnectionError(
            f"Could not connect to {origin}: {_os_reason(exc.os_error)}. "
            "The request was not sent; check the base URL and your network."
        )
    if answered:
        what = "The connection broke while the answer was being read"
    else:
        what = "The connection broke before an answer came"
    return APIConnectionError(
        f"{what} ({type(exc).__name__}: {exc}); the request may have reached {origin}, "
        "and the server may have acted on it."
    )


def _failure_kind(exc: BaseException) -> Failure:
    """What a retry policy needs to know of a failure without an answer."""
    if isinstance(exc, (aiohttp.ConnectionTimeoutError, aiohttp.ClientConnectorError)):
        return Failure.CONNECT
    if isinstance(exc, asyncio.TimeoutError):
        return Failure.TIMEOUT
    return Failure.DROPPED


def _scrub(exc: BaseException | None) -> None:
    """Drop the request headers (Authorization among them) from aiohttp exceptions."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        info = getattr(exc, "request_info", None)
        if isinstance(info, RequestInfo):
            exc.request_info = info._replace(headers=CIMultiDictProxy(CIMultiDict()))  # type: ignore[attr-defined]
        exc = exc.__cause__ or exc.__context__


_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}

_ADVICE: dict[int, str] = {
    400: "Check the arguments of the call.",
    401: "Check the API key: pass api_key= or set MISTRAL_API_KEY.",
    403: "This API key may not do this; check its workspace and permissions.",
    404: "Check the id: it may be mistyped, deleted, or belong to another workspace.",
    409: "The resource changed meanwhile; read it again and retry.",
    422: "The server rejected the request's fields; see .detail.",
    429: "Rate limited: wait and retry, or lower the request rate.",
}


def request_id_of(headers: Mapping[str, str]) -> str | None:
    """The server's id for a request, as support asks for it."""
    for name in _REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value
    return None


def _server_message(body: bytes) -> tuple[str | None, Any]:
    try:
        data = _json.loads(body)
    except ValueError:
        text = body.decode("utf-8", "replace").strip()
        return (text[:500] or None), None
    if isinstance(data, dict):
        message = data.get("message")
        if isinstance(message, str) and message:
            return message, data
        detail = data.get("detail")
        if isinstance(detail, str) and detail:
            return detail, data
        if isinstance(detail, list):
            return _describe_validation(detail), data
    return None, data


def _describe_validation(detail: list[Any]) -> str:
    parts = []
    for item in detail:
        if not isinstance(item, dict):
            continue
        loc = ".".join(str(p) for p in item.get("loc", ()) if p != "body") or "body"
        parts.append(f"{loc}: {item.get('msg', 'invalid')}")
    return "; ".join(parts) or "validation failed"


def status_error(status: int, headers: Mapping[str, str], body: bytes) -> APIStatusError:
    """The exception for an answer with an error status."""
    message, data = _server_message(body)
    request_id = request_id_of(headers)
    if 300 <= status < 400:
        location = headers.get("Location", "?")
        summary = (
            f"The server redirected ({status}) to {location}; this client does not follow "
            "redirects, so that the API key never travels elsewhere. Set base_url to the "
            "final address."
        )
    else:
        reason = _reason(status)
        summary = f"{status} {reason}"
        if message and message.rstrip(".") != reason:
            summary += f": {message}"
        if not summary.endswith((".", "!", "?")):
            summary += "."
        advice = _ADVICE.get(status) or (
            "The server failed; the request may succeed if tried again later."
            if status >= 500
            else ""
        )
        if advice:
            summary += f" {advice}"
    if request_id:
        summary += f" (request id: {request_id})"
    kwargs: dict[str, Any] = {
        "status_code": status,
        "body": excerpt(body.decode("utf-8", "replace")),
        "headers": headers,
        "request_id": request_id,
        "detail_message": message,
    }
    cls = _STATUS_ERRORS.get(status)
    if cls is RateLimitError:
        return RateLimitError(summary, retry_after=parse_retry_after(headers), **kwargs)
    if cls is UnprocessableEntityError:
        return UnprocessableEntityError(summary, detail=_validation_detail(data), **kwargs)
    if cls is None:
        cls = InternalServerError if status >= 500 else APIStatusError
    return cls(summary, **kwargs)


def _validation_detail(data: Any) -> list[Any]:
    items = data.get("detail") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return []
    details = []
    for item in items:
        with contextlib.suppress(Exception):
            details.append(converter.structure(item, ValidationErrorDetail))
    return details


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
