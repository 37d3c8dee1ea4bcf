"""The async core: one aiohttp session per event loop, auth, timeouts, error mapping.

Nothing here knows the models: requests go out as JSON-ready values and answers come
back as bytes. Nothing above this module knows aiohttp.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import ipaddress
import logging
import os
import select
import ssl as ssl_module
import sys
import time
import urllib.request
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol, TypeVar
from urllib.parse import unquote, urlsplit

import aiohttp
import attrs
from aiohttp.client_reqrep import ClientRequest, RequestInfo
from aiohttp.connector import Connection
from aiohttp.tracing import Trace
from multidict import CIMultiDict, CIMultiDictProxy

from . import _fork
from ._hooks import (
    AttemptRequest,
    AttemptResponse,
    RequestHook,
    ResponseHook,
    call_hook,
    redacted,
)
from ._keys import KeyProvider, provided_key
from ._outcomes import (
    BodyTooLarge,
    GaveUp,
    Link,
    LinkFailure,
    NotAnEventStream,
    StatusFailure,
    request_id_of,
)
from ._pacing import Pacer
from ._retry import Failure, RetryPolicy
from ._timeout import Timeout
from ._version import __version__
from .errors import EXCERPT_LIMIT, ConfigurationError

__all__ = ["Answer", "StreamBody", "Transport"]


class _Received(Protocol):
    """What an attempt that got an answer returns: its status and headers at least."""

    @property
    def status(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...


_A = TypeVar("_A", bound=_Received)

USER_AGENT = f"mistral-conversations/{__version__}"
logger = logging.getLogger("mistral_conversations")


def _log_from_environment() -> None:
    """MISTRAL_LOG=debug (or info) shows this library's log lines, for scripts."""
    level = os.environ.get("MISTRAL_LOG", "").strip().upper()
    if level in ("DEBUG", "INFO") and not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(level)


_log_from_environment()


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


def _head_limit(limits: aiohttp.ClientTimeout) -> float | None:
    """How long an answer's head may take, where aiohttp's own timers may not bound it.

    aiohttp stops its ``sock_read`` timer when it parses a message without a body, which
    an informational answer (``100 Continue``, ``103 Early Hints``) is, and then waits
    for the real answer with no timer at all. A server that sends one and falls silent
    would hold a request until ``total``, and a stream, which has none, for ever.
    ``connect + read`` is the most a healthy answer's head can take with aiohttp's timers
    running, so this bound only ever fires in that case. None where ``total`` bounds the
    request anyway, or where the caller lifted ``connect`` or ``read``.
    """
    if limits.total is not None or limits.connect is None or limits.sock_read is None:
        return None
    return limits.connect + limits.sock_read


_R = TypeVar("_R")


async def _head_within(limit: float | None, request: Awaitable[_R]) -> _R:
    """``await request`` (a request's head), within ``limit`` seconds if there is one.

    Past the limit, aiohttp's ServerTimeoutError: a read timeout, which it is.
    """
    if limit is None:
        return await request
    if sys.version_info >= (3, 11):
        scope = asyncio.timeout(limit)
        try:
            async with scope:
                return await request
        except TimeoutError:
            if not scope.expired():
                raise  # aiohttp's own (a connect timeout)
    else:  # pragma: no cover
        try:
            return await asyncio.wait_for(request, limit)
        except asyncio.TimeoutError as exc:
            if type(exc) is not asyncio.TimeoutError:
                raise  # aiohttp's own, a subclass
    raise aiohttp.ServerTimeoutError(f"no answer within connect + read, {limit:g} s")


def _buffered(content: aiohttp.StreamReader) -> bytes:
    """The bytes a body holds that its readers, with an error set, will not give.

    Reached through the reader's private buffer, which every aiohttp 3 release has; if
    a release changes it, nothing is recovered, as before.
    """
    buffer = getattr(content, "_buffer", None)
    read_nowait = getattr(content, "_read_nowait", None)
    if not buffer or read_nowait is None:
        return b""
    try:
        data = read_nowait(-1)
    except Exception:
        return b""
    return data if isinstance(data, bytes) else b""


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
    if not hasattr(select, "poll"):  # Windows, where select() takes sockets of any number
        return bool(select.select([sock], [], [], 0)[0])
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
    """A whole non-streaming answer: status, headers and body bytes.

    ``attempts`` is how many attempts it took, ``elapsed`` the seconds from the first
    attempt's start to the body's end.
    """

    status: int
    headers: Mapping[str, str]
    body: bytes
    attempts: int = 1
    elapsed: float = 0.0


class StreamBody:
    """The body of a streaming answer whose status was a success, read chunk by chunk."""

    __slots__ = (
        "__weakref__",
        "_generation",
        "_response",
        "_transport_origin",
        "attempts",
        "closed_by_client",
        "elapsed",
    )

    def __init__(
        self, response: aiohttp.ClientResponse, origin: str, attempts: int, elapsed: float
    ) -> None:
        self._response = response
        self._transport_origin = origin
        self._generation = _fork.generation()
        self.attempts = attempts
        self.elapsed = elapsed
        self.closed_by_client = False

    @property
    def status(self) -> int:
        """The answer's status."""
        return self._response.status

    @property
    def headers(self) -> Mapping[str, str]:
        """The answer's headers."""
        return self._response.headers

    async def read(self) -> bytes:
        """The next piece of the body as it arrives; ``b""`` at its end.

        When the connection broke, what arrived before the break comes first, then the
        break: aiohttp's readers raise it ahead of the bytes still buffered, which a
        reader that came late (a busy loop) would lose from a stream's ``partial``.
        """
        content = self._response.content
        with _link_failures(self._transport_origin, answered=True):
            try:
                return await content.readany()
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
                arrived = _buffered(content)
                if arrived:
                    return arrived  # the error stays set: the next read raises it
                raise

    def close(self) -> None:
        """Close the answer at once; a half-read connection is never returned to the pool.

        In a forked child, an answer the parent opened is left alone: closing it would
        write to the parent's connection (a TLS close_notify).
        """
        if self._generation == _fork.generation():
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
    if "@" in parts.netloc:
        # Not echoed: the part before "@" may be a password.
        raise ConfigurationError(
            "base_url must not hold a user name or password (user:password@host): this "
            "client sends the API key in a header. Give the plain URL, like "
            "'https://api.mistral.ai'."
        )
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


def _route(
    base_url: str, proxy: str | None, *, trust_env: bool
) -> tuple[str, dict[str, str]] | None:
    """The proxy to send through, and its headers; None to go direct.

    Worked out once per client, as requests, httpx and the official SDK read the
    environment: an explicit ``proxy`` wins; else, with ``trust_env``, ``HTTPS_PROXY`` /
    ``HTTP_PROXY`` by the base URL's scheme, unless ``NO_PROXY`` names its host.
    (aiohttp's own trust_env would look both up again in a thread for every request.)
    """
    if proxy is None and trust_env:
        found = urllib.request.getproxies_environment()
        host = urlsplit(base_url).hostname or ""
        if found and not urllib.request.proxy_bypass(host):
            proxy = found.get(urlsplit(base_url).scheme)
    if not proxy:
        return None
    parts = urlsplit(proxy)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # Not echoed: a proxy URL may hold a password.
        raise ConfigurationError(
            "The proxy must be an http:// or https:// URL with a host, like "
            "'http://proxy.internal:3128' (user:password@ before the host is allowed)."
        )
    headers = {}
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["Proxy-Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}", headers


def _checked_ssl(value: ssl_module.SSLContext | bool | None) -> ssl_module.SSLContext | bool:
    if value is None or value is True:
        return True
    if value is False:
        logger.warning(
            "TLS certificate verification is off (ssl=False): anyone on the network path "
            "can read and change this client's traffic, the API key included. Pass an "
            "ssl.SSLContext that trusts your CA instead."
        )
        return False
    if not isinstance(value, ssl_module.SSLContext):
        raise ConfigurationError(
            f"ssl must be an ssl.SSLContext, False or None, not {type(value).__name__}"
        )
    return value


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

    def __init__(self, session: aiohttp.ClientSession, guard: AsyncGenerator[None, None]) -> None:
        self.session = session
        # Referenced so that the guard lives until the loop finalises it.
        self.guard = guard
        # Streams being read: closing the session alone does not wake their readers.
        self.bodies: weakref.WeakSet[StreamBody] = weakref.WeakSet()

    async def close(self) -> None:
        for body in list(self.bodies):
            body.closed_by_client = True
            body.close()
        # Ending the guard closes the session: a guard left suspended would be
        # reported as never awaited by a loop closed without shutdown_asyncgens().
        await self.guard.aclose()


async def _close_at_loop_shutdown(session: aiohttp.ClientSession) -> AsyncGenerator[None, None]:
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
        api_key: str | KeyProvider,
        base_url: str,
        timeout: Timeout,
        headers: Mapping[str, str] | None,
        max_connections: int | None,
        max_body_size: int | None,
        proxy: str | None = None,
        trust_env: bool = True,
        ssl: ssl_module.SSLContext | bool | None = None,
        session_factory: Callable[[], aiohttp.ClientSession] | None = None,
        on_request: RequestHook | None = None,
        on_response: ResponseHook | None = None,
        trace_configs: Sequence[aiohttp.TraceConfig] | None = None,
        pace: bool = False,
    ) -> None:
        self.base_url = normalise_base_url(base_url)
        self._pacer = Pacer() if pace else None
        self._on_request = on_request
        self._on_response = on_response
        self._trace_configs = list(trace_configs or ())
        self.max_body_size = max_body_size
        self.origin = _origin(self.base_url)
        self.timeout = timeout
        base = {"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})}
        # Asked before every attempt, so that a rotated key is used from then on.
        self._key_provider = api_key if callable(api_key) else None
        auth = {} if callable(api_key) else {"Authorization": f"Bearer {api_key}"}
        self._max_connections = max_connections
        self._ssl = _checked_ssl(ssl)
        self._session_factory = session_factory
        route = _route(self.base_url, proxy, trust_env=trust_env)
        self._proxy: dict[str, Any] = {}
        # What the session sends by default, and what each request must carry itself.
        self._headers = {**base, **auth}
        self._per_request: dict[str, str] = {}
        if route is not None or session_factory is not None:
            # aiohttp turns a session's default Authorization into the Proxy-Authorization
            # it sends the proxy: the API key would reach the proxy. So with a proxy (or
            # a session that is not ours) the key travels with each request instead.
            self._headers = base
            self._per_request = {**(base if session_factory is not None else {}), **auth}
        if route is not None:
            url, credentials = route
            self._proxy["proxy"] = url
            if urlsplit(self.base_url).scheme == "https":
                self._proxy["proxy_headers"] = credentials  # sent with CONNECT only
            else:
                self._per_request.update(credentials)  # a plain-HTTP proxy reads each request
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
        session = self._new_session()
        # aiohttp sends an idempotent request again, once, when a pooled connection
        # drops; the retry policy must be the only thing that decides a second attempt.
        if hasattr(session, "_retry_connection"):
            session._retry_connection = False
        guard = _close_at_loop_shutdown(session)
        await guard.__anext__()
        state = self._states[loop] = _LoopState(session, guard)
        self.opened_any = True
        return state

    def _new_session(self) -> aiohttp.ClientSession:
        if self._session_factory is None:
            return aiohttp.ClientSession(
                connector=_CheckedConnector(limit=self._max_connections or 0, ssl=self._ssl),
                headers=self._headers,
                auto_decompress=True,
                cookie_jar=aiohttp.DummyCookieJar(),
                trace_configs=self._trace_configs or None,
            )
        session = self._session_factory()
        if not isinstance(session, aiohttp.ClientSession):
            raise ConfigurationError(
                f"session_factory must return an aiohttp.ClientSession, not "
                f"{type(session).__name__}"
            )
        return session

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
        extra = dict(self._per_request)
        if headers:
            extra.update(headers)
        if streaming:
            extra["Accept"] = "text/event-stream"
        if body is not None:
            kwargs["data"] = body
            extra["Content-Type"] = "application/json"
        if extra:
            kwargs["headers"] = extra
        kwargs.update(self._proxy)
        if self._session_factory is not None and self._ssl is not True:
            kwargs["ssl"] = self._ssl
        return kwargs

    async def _requested(
        self, method: str, url: str, sent: Mapping[str, Any], attempt: int
    ) -> None:
        assert self._on_request is not None
        headers = redacted({**self._headers, **sent.get("headers", {})})
        info = AttemptRequest(method=method, url=url, headers=headers, attempt=attempt)
        await call_hook(self._on_request, info)

    async def _answered(
        self,
        method: str,
        url: str,
        response: aiohttp.ClientResponse,
        sent_at: float,
        attempt: int,
    ) -> None:
        elapsed = time.monotonic() - sent_at
        request_id = request_id_of(response.headers)
        logger.debug(
            "%s %s -> %d in %.3fs (attempt %d, request id %s)",
            method,
            urlsplit(url).path,
            response.status,
            elapsed,
            attempt,
            request_id,
        )
        if self._on_response is not None:
            info = AttemptResponse(
                method=method,
                url=url,
                status=response.status,
                headers=response.headers,
                elapsed=elapsed,
                attempt=attempt,
                request_id=request_id,
            )
            await call_hook(self._on_response, info)

    async def _with_key(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The request's arguments with the provider's current key; as is without one."""
        if self._key_provider is None:
            return kwargs
        key = await provided_key(self._key_provider)
        return {
            **kwargs,
            "headers": {**kwargs.get("headers", {}), "Authorization": f"Bearer {key}"},
        }

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

        Anything but a success whose body could be read whole raises :class:`GaveUp`.
        """
        kwargs = self._request_kwargs(
            params=params, body=body, timeout=timeout, headers=headers, streaming=False
        )
        url = self.base_url + path
        head_limit = _head_limit(kwargs["timeout"])

        async def attempt(attempts: int, started: float) -> Answer:
            session = (await self._state()).session
            sent = await self._with_key(kwargs)
            if self._on_request is not None:
                await self._requested(method, url, sent, attempts)
            sent_at = time.monotonic()
            with _link_failures(self.origin, answered=False, session=session) as progress:
                response = await _head_within(head_limit, session.request(method, url, **sent))
                async with response:
                    progress.answered = True
                    if self._on_response is not None or logger.isEnabledFor(logging.DEBUG):
                        await self._answered(method, url, response, sent_at, attempts)
                    if response.status >= 300:
                        data, _ = await _read_bounded(response, _ERROR_BODY_LIMIT)
                        raise StatusFailure(response.status, response.headers, data)
                    data, whole = await _read_bounded(response, self.max_body_size)
                    if not whole:
                        raise BodyTooLarge(self.max_body_size or 0)
            elapsed = time.monotonic() - started
            return Answer(response.status, response.headers, data, attempts, elapsed)

        return await self._retrying(method, path, retry, attempt)

    async def open_stream(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: bytes | None,
        timeout: Timeout | float | None = None,
        headers: Mapping[str, str] | None = None,
        retry: RetryPolicy,
    ) -> StreamBody:
        """Send a request whose answer is a stream; raise :class:`GaveUp` if none came.

        Retried, as the policy allows, only until the answer's status arrives: once the
        body has begun, a break is the stream's to report, never a silent restart.
        """
        kwargs = self._request_kwargs(
            params=params, body=body, timeout=timeout, headers=headers, streaming=True
        )
        url = self.base_url + path
        head_limit = _head_limit(kwargs["timeout"])

        async def attempt(attempts: int, started: float) -> StreamBody:
            state = await self._state()
            sent = await self._with_key(kwargs)
            if self._on_request is not None:
                await self._requested(method, url, sent, attempts)
            sent_at = time.monotonic()
            with _link_failures(self.origin, answered=False, session=state.session) as progress:
                response = await _head_within(
                    head_limit, state.session.request(method, url, **sent)
                )
                progress.answered = True
                if self._on_response is not None or logger.isEnabledFor(logging.DEBUG):
                    await self._answered(method, url, response, sent_at, attempts)
                if response.status >= 300:
                    data = await _read_and_release(response)
                    raise StatusFailure(response.status, response.headers, data)
                if response.content_type != "text/event-stream":
                    data = await _read_and_release(response)
                    raise NotAnEventStream(response.content_type, data)
            body = StreamBody(response, self.origin, attempts, time.monotonic() - started)
            state.bodies.add(body)
            return body

        return await self._retrying(method, path, retry, attempt)

    async def _retrying(
        self,
        method: str,
        path: str,
        policy: RetryPolicy,
        attempt: Callable[[int, float], Awaitable[_A]],
    ) -> _A:
        started = time.monotonic()
        attempts = 0
        pacer = self._pacer
        while True:
            attempts += 1
            try:
                if pacer is None:
                    return await attempt(attempts, started)
                return await _paced(pacer, attempt, attempts, started)
            except (StatusFailure, LinkFailure, BodyTooLarge, NotAnEventStream) as outcome:
                if isinstance(outcome, StatusFailure):
                    failure: Failure | int | None = outcome.status
                    headers: Mapping[str, str] | None = outcome.headers
                else:
                    failure = outcome.link.failure if isinstance(outcome, LinkFailure) else None
                    headers = None
                # aclose() ran meanwhile: nothing may be sent any more.
                if failure is None or self.closed:
                    raise GaveUp(
                        outcome, attempts=attempts, decision=None, max_attempts=policy.max_attempts
                    ) from outcome
                decision = policy.decide(
                    method=method,
                    failure=failure,
                    attempt=attempts,
                    elapsed=time.monotonic() - started,
                    headers=headers,
                )
                if decision.give_up:
                    raise GaveUp(
                        outcome,
                        attempts=attempts,
                        decision=decision,
                        max_attempts=policy.max_attempts,
                    ) from outcome
                logger.info(
                    "retrying %s %s in %.2fs (attempt %d of %d failed: %s)",
                    method,
                    path,
                    decision.delay,
                    attempts,
                    policy.max_attempts,
                    f"HTTP {failure}" if isinstance(failure, int) else failure.value,
                )
                await self.sleep(decision.delay)

    async def aclose(self) -> None:
        """Close the session of the running loop and refuse further requests."""
        self.closed = True
        if self._generation != _fork.generation():
            # A forked child must not wake, let alone close, the parent's loops.
            self._forget_inherited()
        loop = asyncio.get_running_loop()
        for state_loop, state in list(self._states.items()):
            if state_loop is loop:
                await state.close()
            elif not state_loop.is_closed() and state_loop.is_running():
                # A session lives on the loop that made it; ask that loop to close it.
                asyncio.run_coroutine_threadsafe(state.close(), state_loop)
        self._states.clear()


async def _paced(
    pacer: Pacer, attempt: Callable[[int, float], Awaitable[_A]], attempts: int, started: float
) -> _A:
    """One attempt, within the pacer's budget, teaching it what the answer reports."""
    await pacer.acquire()
    try:
        result = await attempt(attempts, started)
    except StatusFailure as failure:
        pacer.learn(failure.status, failure.headers)
        raise
    else:
        pacer.learn(result.status, result.headers)
        return result
    finally:
        pacer.release()


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


def _os_reason(error: OSError) -> str:
    # asyncio puts "Connect call failed (host, port)" where strerror would be; the
    # errno says it in words a user knows ("Connection refused").
    if error.errno and error.errno > 0:
        return os.strerror(error.errno)
    # A resolver's error (socket.gaierror) has a negative code that strerror cannot name.
    return error.strerror or str(error)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@attrs.define
class _Progress:
    answered: bool


@contextlib.contextmanager
def _link_failures(
    origin: str, *, answered: bool, session: aiohttp.ClientSession | None = None
) -> Iterator[_Progress]:
    """Turn aiohttp and socket failures into :class:`LinkFailure` facts.

    The one place where transport exceptions are read. ``answered`` (set by the caller
    once the status line arrived) tells a break before the answer from one while it is
    read. The aiohttp exception stays as ``__cause__`` for debugging, scrubbed of the
    request's headers, which hold the API key.
    """
    progress = _Progress(answered)
    try:
        yield progress
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
        _scrub(exc)
        link, detail = _link_of(exc, answered=progress.answered, session=session)
        raise LinkFailure(link, origin, detail) from exc


def _link_of(
    exc: BaseException, *, answered: bool, session: aiohttp.ClientSession | None
) -> tuple[Link, str]:
    """How an attempt failed, and what the network layer said of it, in its words."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return (Link.POOL_TIMEOUT if _pool_is_full(session) else Link.CONNECT_TIMEOUT), ""
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return Link.READ_TIMEOUT, ""
    if isinstance(exc, asyncio.TimeoutError):  # on 3.10 not the builtin TimeoutError
        return Link.TOTAL_TIMEOUT, ""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return Link.TLS_CERTIFICATE, str(exc.certificate_error)
    if isinstance(exc, aiohttp.ClientConnectorSSLError):
        return Link.TLS_HANDSHAKE, str(exc.os_error)
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return Link.UNRESOLVED, _os_reason(exc.os_error)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return Link.REFUSED, _os_reason(exc.os_error)
    if isinstance(exc, ssl_module.SSLError) or isinstance(exc.__cause__, ssl_module.SSLError):
        return Link.TLS_HANDSHAKE, str(exc)
    link = Link.DROPPED_WHILE_READING if answered else Link.DROPPED_BEFORE_ANSWER
    return link, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _pool_is_full(session: aiohttp.ClientSession | None) -> bool:
    connector = session.connector if session is not None else None
    return isinstance(connector, _CheckedConnector) and connector.is_full()


def _scrub(exc: BaseException | None) -> None:
    """Drop the request headers (Authorization among them) from aiohttp exceptions."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        info = getattr(exc, "request_info", None)
        if isinstance(info, RequestInfo):
            exc.request_info = info._replace(headers=CIMultiDictProxy(CIMultiDict()))  # type: ignore[attr-defined]
        exc = exc.__cause__ or exc.__context__
