"""AsyncClient: one method per operation of the Conversations API."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import math
import os
import re
import warnings
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import quote, urlsplit

from . import _failures, _json, _keys, _otel
from ._convert import converter, parse_input
from ._outcomes import GaveUp
from ._retry import RetryPolicy
from ._streaming import AsyncEventStream
from ._timeout import Timeout
from .errors import (
    ConfigurationError,
    InputShapeError,
    Loc,
    MistralError,
    ResponseDecodeError,
)
from .models import (
    AppendConversationRequest,
    CompletionArgs,
    Conversation,
    ConversationHistory,
    ConversationMessages,
    ConversationRequest,
    ConversationResponse,
    Entry,
    GuardrailConfig,
    RestartConversationRequest,
    Tool,
    ToolCallConfirmation,
)

if TYPE_CHECKING:
    from ssl import SSLContext

    import aiohttp

    from ._hooks import RequestHook, ResponseHook
    from ._keys import KeyProvider
    from ._otel import CallSpan
    from ._raw import AsyncRawOperations
    from ._run import AsyncRunStream, Confirm, Decisions, RunResult
    from ._transport import Answer

# Kept here, not imported from the transport, which loads aiohttp (see __init__ below).
DEFAULT_MAX_BODY_SIZE = 64 * 2**20
DEFAULT_MAX_EVENT_SIZE = 32 * 2**20

__all__ = ["AsyncClient"]

DEFAULT_BASE_URL = "https://api.mistral.ai"
_T = TypeVar("_T")

Inputs = str | Sequence[Entry | Mapping[str, Any]]
Tools = Sequence[Tool | Mapping[str, Any]]
Guardrails = Sequence[GuardrailConfig | Mapping[str, Any]]
Confirmations = Sequence[ToolCallConfirmation | Mapping[str, Any]]
Headers = Mapping[str, str]
Query = Mapping[str, str]


def _merge_extra(into: dict[str, Any], extra: Mapping[str, Any], name: str) -> None:
    if not isinstance(extra, Mapping):
        raise ConfigurationError(f"{name} must be a mapping, not {type(extra).__name__}")
    clash = sorted(str(key) for key in into.keys() & extra.keys())
    if clash:
        raise ConfigurationError(
            f"{name} sets {', '.join(repr(key) for key in clash)}, which the call already "
            f"sets by name; give each field once."
        )
    into.update(extra)


# RFC 9110: a field name is a token; a value holds no line break or other control
# character but the tab (aiohttp raises a bare ValueError for some, sends others).
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_NOT_IN_HEADER_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _checked_headers(headers: Headers | None, name: str) -> Headers | None:
    """A headers= argument, checked before anything is sent."""
    if headers is None:
        return None
    if not isinstance(headers, Mapping):
        raise ConfigurationError(f"{name} must be a mapping of str to str, not {headers!r}")
    for key, value in headers.items():
        if not isinstance(key, str) or _HEADER_NAME.fullmatch(key) is None:
            raise ConfigurationError(
                f"{name} has {key!r}, which is not a header name: a name is letters, "
                "digits and !#$%&'*+-.^_`|~, with no space or colon"
            )
        if not isinstance(value, str):
            raise ConfigurationError(f"{name}[{key!r}] must be a str, not {value!r}")
        bad = _NOT_IN_HEADER_VALUE.search(value)
        if bad is not None:
            raise ConfigurationError(
                f"{name}[{key!r}] holds {bad.group()!r}: a header's value has no line "
                "break or other control character"
            )
    return headers


def _with_query(params: dict[str, str] | None, extra_query: Query | None) -> dict[str, str] | None:
    """A call's query parameters with an extra_query= argument added, checked."""
    if not extra_query:
        return params
    merged = params if params is not None else {}
    _merge_extra(merged, extra_query, "extra_query")
    for key, value in extra_query.items():
        # What yarl takes; anything else it refuses with a bare TypeError once sending.
        if (
            not isinstance(key, str)
            or isinstance(value, bool)
            or not isinstance(value, (str, int, float))
        ):
            raise ConfigurationError(
                f"extra_query[{key!r}] is {value!r}: a query parameter's name is a str, and "
                "its value a str (or a number)"
            )
    return merged


def _size_limit(name: str, value: int | None) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigurationError(f"{name} must be a positive int or None, not {value!r}")
    return value


def _checked_policy(retry: RetryPolicy | None) -> RetryPolicy | None:
    """A retry= argument, checked: the client's and every call's go through here."""
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise TypeError(
            f"retry must be a RetryPolicy or None, not {retry!r}; "
            "e.g. RetryPolicy(max_attempts=2) or RetryPolicy.disabled()"
        )
    return retry


def _checked_flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True or False, got {value!r}")
    return value


def _path_id(conversation_id: str) -> str:
    """The id as one escaped path segment; an id that would change the path is refused."""
    if not isinstance(conversation_id, str):
        raise InputShapeError(
            ("conversation_id",), f"expected a str, got {type(conversation_id).__name__}"
        )
    # URL normalisation would turn "." and ".." into moves along the path, however
    # escaped: ".." would send DELETE /v1/ instead of deleting a conversation.
    if conversation_id.strip(".") == "":
        raise InputShapeError(
            ("conversation_id",),
            f"{conversation_id!r} is not a conversation id; pass the id a call returned, "
            "e.g. reply.conversation_id",
        )
    return quote(conversation_id, safe="")


def _body(cls: type[Any], fields: dict[str, Any], extra: Mapping[str, Any] | None) -> bytes:
    """Check user arguments against a request model; return the JSON body to send.

    ``extra`` (a call's ``extra_body``) is merged in unchecked: it is how a field the
    API added after this release is sent. It may not set what the call set by name.
    """
    request = parse_input({k: v for k, v in fields.items() if v is not None}, cls)
    payload = converter.unstructure(request)
    if extra:
        _merge_extra(payload, extra, "extra_body")
    return _encoded(payload)


def _encoded(value: Any, loc: Loc = ()) -> bytes:
    """``value`` as the JSON to send, or InputShapeError for what JSON cannot carry."""
    try:
        body = _json.dumps(value)
    except TypeError as exc:  # orjson's JSONEncodeError: a free-form dict held a non-JSON value
        raise InputShapeError(
            loc,
            f"a value cannot be sent as JSON ({exc}); metadata, tool parameters and JSON "
            "schemas may hold only str, int, float, bool, None, lists and dicts with str keys",
        ) from None
    # orjson writes NaN and infinity as null, which the server takes for "unset". Only a
    # body with a null can hold one: the others are not walked.
    if b"null" in body:
        found = _non_finite(value, loc)
        if found is not None:
            where, number = found
            raise InputShapeError(
                where,
                f"{number!r} is not a number JSON can carry (it would be sent as null, "
                "that is, unset); send a finite number, or None",
            )
    return body


def _non_finite(
    value: Any, loc: tuple[str | int, ...]
) -> tuple[tuple[str | int, ...], float] | None:
    """Where the first NaN or infinity in a JSON-ready value is, and which it is."""
    if isinstance(value, float):
        return None if math.isfinite(value) else (loc, value)
    if isinstance(value, dict):
        for key, item in value.items():
            found = _non_finite(item, (*loc, key))
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _non_finite(item, (*loc, index))
            if found is not None:
                return found
    return None


def _decode(answer: Answer, cls: Any) -> Any:
    def undecodable(why: str) -> ResponseDecodeError:
        content_type = answer.headers.get("Content-Type", "").partition(";")[0].strip()
        error = _failures.undecodable(answer.body, content_type.lower(), cls, why)
        error.attempts = answer.attempts
        return error

    try:
        data = _json.loads(answer.body)
    except _json.JSONDecodeError as exc:
        raise undecodable("it is not JSON") from exc
    expected = list if getattr(cls, "__origin__", None) is list else dict
    if not isinstance(data, expected):
        what = "a JSON array" if expected is list else "a JSON object"
        raise undecodable(f"expected {what}, got {type(data).__name__}")
    try:
        return converter.structure(data, cls)
    except KeyError as exc:
        raise undecodable(f"required field {exc.args[0]!r} is missing") from exc
    except Exception as exc:
        raise undecodable(str(exc)) from exc


# Set by client.with_raw_response while it runs an operation: the answers received.
_CAPTURE: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar(
    "mistral_conversations_capture", default=None
)


@contextlib.contextmanager
def capturing() -> Iterator[list[Any]]:
    """Collect the transport's answers (status, headers, timing) of the calls made within."""
    seen: list[Any] = []
    token = _CAPTURE.set(seen)
    try:
        yield seen
    finally:
        _CAPTURE.reset(token)


_SDK_KEYWORDS = {
    "timeout_ms": "timeout= in seconds (timeout_ms=5000 is timeout=5.0)",
    "http_headers": "headers=",
    "retries": "retry=RetryPolicy(...), or retry=RetryPolicy.disabled()",
    "server_url": "base_url= on the client: AsyncClient(base_url=...)",
}
_F = TypeVar("_F", bound=Callable[..., Any])


def _sdk_keywords(method: _F) -> _F:
    """Let an operation answer the official SDK's keywords with this library's names.

    ``stream=`` that matches the method (False for ``start``, True for
    ``start_stream``) is accepted and dropped, as the SDK's users write it; any other
    SDK keyword is a TypeError naming what to write instead.
    """
    name = method.__name__
    streaming = name.endswith("_stream")

    @functools.wraps(method)
    def call(self: AsyncClient, /, *args: Any, **kwargs: Any) -> Any:
        if "stream" in kwargs or not _SDK_KEYWORDS.keys().isdisjoint(kwargs):
            _take_sdk_keywords(name, streaming, kwargs)
        return method(self, *args, **kwargs)

    if not streaming and hasattr(inspect, "markcoroutinefunction"):  # Python 3.12+
        inspect.markcoroutinefunction(call)
    return cast(_F, call)


def _take_sdk_keywords(name: str, streaming: bool, kwargs: dict[str, Any]) -> None:
    for keyword, ours in _SDK_KEYWORDS.items():
        if keyword in kwargs:
            milliseconds = kwargs[keyword]
            if keyword == "timeout_ms" and isinstance(milliseconds, (int, float)):
                ours = f"timeout= in seconds (timeout_ms={milliseconds} is "
                ours += f"timeout={milliseconds / 1000:g})"
            raise TypeError(
                f"{name}() got {keyword}=, the official SDK's keyword; here it is {ours}"
            )
    if kwargs["stream"] is streaming:
        del kwargs["stream"]
    elif streaming:
        raise TypeError(f"{name}(stream=False): use {name.removesuffix('_stream')}() instead")
    elif hasattr(AsyncClient, f"{name}_stream"):
        raise TypeError(f"{name}(stream=True): use {name}_stream() for a stream of events")
    else:
        raise TypeError(f"{name}(stream=True): {name}() has no stream form; drop stream=")


class AsyncClient:
    """The asyncio client of Mistral's Conversations API.

    ``api_key`` defaults to the ``MISTRAL_API_KEY`` environment variable and
    ``base_url`` to ``MISTRAL_BASE_URL`` or ``https://api.mistral.ai``. Use it as
    ``async with AsyncClient() as client:`` or close it with ``await client.aclose()``.
    One client may be used from several event loops in turn (for example across
    ``asyncio.run()`` calls): each loop gets its own connection pool, closed when that
    loop ends.

    Every operation also takes ``timeout=``, ``retry=`` and ``headers=`` for that
    call alone. Arguments that are ``None`` are not sent.

    ``api_key`` may also be a callable, sync or async, returning the key: it is asked
    before every attempt, so that a rotated key is used from the next request on.

    Networks: ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``NO_PROXY`` are honoured unless
    ``trust_env=False``; ``proxy=`` (a URL, credentials allowed) wins over them.
    ``ssl=`` takes an :class:`ssl.SSLContext` (a private CA, client certificates);
    ``ssl=False`` turns verification off, with a warning. ``session_factory=`` returns
    an ``aiohttp.ClientSession`` of your own (connector, resolver, trace configs); it is
    called once per event loop, and the client still applies its key, headers,
    timeouts, retries and size limits to every request, and closes the session when it
    closes its own. The session's connector is yours: ``max_connections``,
    ``trace_configs`` and the check of pooled connections before reuse do not apply to
    it.

    Every operation takes ``extra_query=`` (query parameters added as they are), and
    those with a body ``extra_body=`` (fields merged into the JSON as they are): the
    way to send what the API gained after this release. Neither may repeat a field the
    call sets by name.

    Seeing what happens: ``on_request`` / ``on_response`` (sync or async callables)
    are called once per attempt with an :class:`AttemptRequest` (headers with the key
    redacted) or an :class:`AttemptResponse` (status, headers, elapsed, request id);
    an exception in a hook is logged and never breaks the call. ``trace_configs``
    passes aiohttp ``TraceConfig``s to the client's sessions. Every attempt is logged
    at DEBUG on the ``mistral_conversations`` logger (``MISTRAL_LOG=debug`` shows it).

    ``pace=True`` keeps a batch job under the API's per-minute budgets: each answer's
    rate-limit headers say what is left and when it refills, and a call (each attempt)
    waits while the requests or tokens left are spent, instead of meeting a 429. A 429
    empties the budget until its ``Retry-After``. Off by default: it costs nothing then.

    ``max_connections`` bounds the connections open at once per event loop (each open
    stream holds one); a request that finds none free within ``Timeout.connect``
    raises :class:`~mistral_conversations.errors.APITimeoutError`. ``max_body_size``
    (bytes of a body, or of a whole stream) and ``max_event_size`` (characters of one
    stream event) bound what one answer may make the client hold, counted after
    decompression; past them the answer is dropped with a
    :class:`~mistral_conversations.errors.ResponseDecodeError` or
    :class:`~mistral_conversations.errors.StreamDecodeError`. ``None`` lifts a bound.
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
        on_request: RequestHook | None = None,
        on_response: ResponseHook | None = None,
        trace_configs: Sequence[aiohttp.TraceConfig] | None = None,
        pace: bool = False,
    ) -> None:
        # Imported here, not at the top: aiohttp is half of the package's import time,
        # and code that only imports the package (CLIs, type users) need not pay it.
        from ._transport import Transport

        self._transport = Transport(
            api_key=_keys.resolve(api_key),
            base_url=base_url or os.environ.get("MISTRAL_BASE_URL") or DEFAULT_BASE_URL,
            timeout=Timeout.coerce(timeout),
            headers=_checked_headers(headers, "headers"),
            max_connections=_size_limit("max_connections", max_connections),
            max_body_size=_size_limit("max_body_size", max_body_size),
            proxy=proxy,
            trust_env=trust_env,
            ssl=ssl,
            session_factory=session_factory,
            on_request=on_request,
            on_response=on_response,
            trace_configs=trace_configs,
            pace=_checked_flag("pace", pace),
        )
        self._max_event_size = _size_limit("max_event_size", max_event_size)
        self._retry = _checked_policy(retry) or RetryPolicy()
        where = urlsplit(self._transport.base_url)
        default_port = 443 if where.scheme == "https" else 80
        self._server = (where.hostname or "", where.port or default_port)

    @property
    def base_url(self) -> str:
        """The URL the client sends requests to."""
        return self._transport.base_url

    @property
    def with_raw_response(self) -> AsyncRawOperations:
        """Every operation, returning a RawResponse: status, headers, timing, ``parse()``.

        ``raw = await client.with_raw_response.start(...)``; ``raw.request_id``,
        ``raw.rate_limit``, ``raw.elapsed``, ``raw.attempts``; ``raw.parse()`` is what
        ``client.start(...)`` returns.
        """
        from ._raw import AsyncRawOperations

        return AsyncRawOperations(self)

    def __repr__(self) -> str:
        return f"<AsyncClient base_url={self.base_url!r}>"

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections of this client; it sends no request after this."""
        await self._transport.aclose()

    def _forget(self) -> None:
        """Refuse further requests without closing the connections.

        For the blocking facade, whose loop is ending: that loop's shutdown closes them.
        """
        self._transport.closed = True

    def __del__(self) -> None:
        transport = getattr(self, "_transport", None)
        if transport is not None and transport.opened_any and not transport.closed:
            warnings.warn(
                f"{self!r} was never closed; use 'async with AsyncClient() as client:' "
                "or 'await client.aclose()'",
                ResourceWarning,
                stacklevel=1,
            )

    def _span(self, method: str, **described: Any) -> CallSpan | None:
        """The trace span of one call, or None when nothing records it (see _otel)."""
        if not _otel.tracing():
            return None
        host, port = self._server
        return _otel.start_span(method, server_address=host, server_port=port, **described)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        decode: Any,
        span: CallSpan | None,
        body: bytes | None = None,
        params: dict[str, str] | None = None,
        timeout: Timeout | float | None,
        retry: RetryPolicy | None,
        headers: Headers | None,
        extra_query: Query | None,
    ) -> Any:
        """Send one request; return its answer decoded as ``decode`` (None: nothing)."""
        params = _with_query(params, extra_query)
        headers = _checked_headers(headers, "headers")
        policy = _checked_policy(retry) or self._retry
        if span is None:
            answer = await self._exchange(method, path, params, body, timeout, headers, policy)
            return None if decode is None else _decode(answer, decode)
        try:
            with _otel.current(span):
                answer = await self._exchange(method, path, params, body, timeout, headers, policy)
            result = None if decode is None else _decode(answer, decode)
        except BaseException as exc:
            span.failed(exc)
            raise
        span.answered(
            status_code=answer.status,
            attempts=answer.attempts,
            conversation_id=getattr(result, "conversation_id", None),
            model=_otel.answer_model(result),
            usage=getattr(result, "usage", None),
        )
        span.end()
        return result

    async def _exchange(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None,
        body: bytes | None,
        timeout: Timeout | float | None,
        headers: Headers | None,
        retry: RetryPolicy,
    ) -> Answer:
        try:
            answer = await self._transport.request(
                method,
                path,
                params=params,
                body=body,
                timeout=timeout,
                headers=headers,
                retry=retry,
            )
        except GaveUp as gave_up:
            raise self._error(gave_up, path) from gave_up.outcome.__cause__
        capture = _CAPTURE.get()
        if capture is not None:
            capture.append(answer)
        return answer

    def _error(self, gave_up: GaveUp, path: str) -> MistralError:
        return _failures.error_for(gave_up, path=path, base_url=self._transport.base_url)

    def _stream(
        self,
        path: str,
        body: bytes,
        *,
        timeout: Timeout | float | None,
        retry: RetryPolicy | None,
        headers: Headers | None,
        extra_query: Query | None,
        trace: Callable[[], CallSpan | None],
    ) -> AsyncEventStream:
        transport = self._transport
        effective = transport.timeout if timeout is None else Timeout.coerce(timeout)
        policy = _checked_policy(retry) or self._retry
        params = _with_query(None, extra_query)
        headers = _checked_headers(headers, "headers")

        async def connect() -> Any:
            try:
                return await transport.open_stream(
                    "POST",
                    path,
                    params=params,
                    body=body,
                    timeout=timeout,
                    headers=headers,
                    retry=policy,
                )
            except GaveUp as gave_up:
                raise self._error(gave_up, path) from gave_up.outcome.__cause__

        return AsyncEventStream(
            connect,
            deadline=effective.stream,
            max_event_size=self._max_event_size,
            max_size=self._transport.max_body_size,
            trace=trace,
        )

    @_sdk_keywords
    async def start(
        self,
        *,
        inputs: Inputs,
        model: str | None = None,
        agent_id: str | None = None,
        agent_version: str | int | None = None,
        instructions: str | None = None,
        tools: Tools | None = None,
        completion_args: CompletionArgs | Mapping[str, Any] | None = None,
        guardrails: Guardrails | None = None,
        name: str | None = None,
        description: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        store: bool | None = None,
        handoff_execution: str | None = None,
        timeout: Timeout | float | None = None,
        retry: RetryPolicy | None = None,
        headers: Headers | None = None,
        extra_body: Mapping[str, Any] | None = None,
        extra_query: Query | None = None,
    ) -> ConversationResponse:
        """Start a conversation with a model or an agent and run its first turn.

        ``POST /v1/conversations``. Give ``model`` or ``agent_id``. ``inputs`` is a
        str (one user message) or a list of entries, as models or dicts.
        """
        body = _body(ConversationRequest, _start_fields(locals(), stream=False), extra_body)
        result: ConversationResponse = await self._call(
            "POST",
            "/v1/conversations",
            body=body,
            timeout=timeout,
            retry=retry,
            headers=headers,
            extra_query=extra_query,
            decode=ConversationResponse,
            span=self._span(
                "start",
                model=model,
                agent_id=agent_id,
                agent_version=agent_version,
                completion_args=completion_args,
            ),
        )
        return result

    @_sdk_keywords
    def start_stream(
        self,
        *,
        inputs: Inputs,
        model: str | None = None,
        agent_id: str | None = None,
        agent_version: str | int | None = None,
        instructions: str | None = None,
        tools: Tools | None = None,
        completion_args: CompletionArgs | Mapping[str, Any] | None = None,
        guardrails: Guardrails | None = None,
        name: str | None = None,
        description: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        store: bool | None = None,
        handoff_execution: str | None = None,
        timeout: Timeout | float | None = None,
        retry: RetryPolicy | None = None,
        headers: Headers | None = None,
        extra_body: Mapping[str, Any] | None = None,
        extra_query: Query | None = None,
    ) -> AsyncEventStream:
        """Start a conversation and stream its first turn as events.

        Use ``async for event in client.start_stream(...)``, ``async with`` it, or
        ``await`` it to connect first. Arguments are those of :meth:`start`.
        """
        body = _body(ConversationRequest, _start_fields(locals(), stream=True), extra_body)
        return self._stream(
            "/v1/conversations",
            body,
            timeout=timeout,
            retry=retry,
            headers=headers,
            extra_query=extra_query,
            trace=functools.partial(
                self._span,
                "start_stream",
                model=model,
                agent_id=agent_id,
                agent_version=agent_version,
                completion_args=completion_args,
            ),
        )

    @_sdk_keywords
    async def list(
        self,
        *,
        page: int = 0,
        page_size: int = 100,
        metadata: Mapping[str, Any] | None = None,
        timeout: Timeout | float | None = None,
        retry: RetryPolicy | None = None,
        headers: Headers | None = None,
        extra_query: Query | None = None,
    ) -> list[Conversation]:
        """List conversations, newest first, a page at a time.

        ``GET /v1/conversations``. ``metadata`` keeps only the conversations whose
        metadata holds all of the given keys and values.
        """
        params = _list_params(page, page_size, metadata)
        result: list[Conversation] = await self._call(
            "GET",
            "/v1/conversations",
            params=params,
            timeout=timeout,
            retry=retry,
            headers=headers,
            extra_query=extra_query,
            decode=list[Conversation],
            span=self._span("list"),
        )
        return result

    @_sdk_keywords
    async def get(
        self,
        conversation_id: str,
        *,
        timeout: Timeout | float | None = None,
        retry: RetryPolicy | None = None,
        headers: Headers | None = None,
        extra_query: Query | None = None,
    ) -> Conversation:
        """Read one conversation's attributes: ``GET /v1/conversations/{id}``."""
        result: Conversation = await self._call(
            "GET",
            f"/v1/conversations/{_path_id(conversation_id)}",
            timeout=timeout,
            retry=retry,
            headers=headers,
            extra_query=extra_query,
            decode=Conversation,
            span=self._span("get", conversation_id=conversation_id),
        )
        return result

    @_sdk_keywords
    async def delete(
        self,
        conversation_id: str,
        *,
        timeout: Timeout | float | None = None,
        retry: RetryPolicy | None = None,
        headers: Headers | None = None,
        extra_query: Query | None = None,
    ) -> None:
        """Delete a conversation: ``DELETE /v1/conversations/{id}``."""
        await self._call(
            "DELETE",
            f"/v1/conversations/{_path_id(conversation_id)}",
            timeout=timeout,
            retry=retry,
            headers=headers,
            extra_query=extra_query,
            decode=None,
            span=self._span("delete", conversation_id=conversation_id),
        )

    @_sdk_keywords
    async def append(
        self,
        conversation_id: str,
        *,
        inputs: Inputs | None = None,
        store: bool | None = None,
        handoff_execution: str | None = None,
        completion_args: CompletionArgs | Mapping[str, Any] | None = None,
        tool_confirmations: Confirmations | None = None,
        timeout: Timeout | float | None = None,
        retry: RetryPolicy | None = None,
        headers: Headers | None = None,
        extra_body: Mapping[str, Any] | None = None,
        extra_query: Query | None = None,
    ) -> ConversationResponse:
        """Add entries to a conversation and run the next turn.

        ``POST /v1/conversations/{id}``. ``inputs`` may be left out when the call only
        answers ``tool_confirmations``. Not retried once the request may have reached
        the server, so that a turn is never written twice.
        """
        path = f"/v1/conversations/{_path_id(conversation_id)}"
        body = _body(AppendConversationRequest, _append_fields(locals(), stream=False), extra_body)
        result: ConversationResponse = await self._call(
            "POST",
            path,
            body=body,
            timeout=timeout,
            retry=retry,
            headers=headers,
            extra_query=extra_query,
            decode=ConversationResponse,
            span=self._span(
                "append", conversation_id=conversation_id, completion_args=completion_args
            ),
        )
        return result

    @_sdk_keywords
    def append_stream(
        self,
        conversation_id: str,
        *,
        inputs: Inputs | None = None,
        store: bool | None = None,
        handoff_execution: str | None = None,
        completion_args: CompletionArgs | Mapping[str, Any] | None = None,
        tool_confirmations: Confirmations | None = None,
        timeout: Timeout | float | None = None,
        retry: RetryPolicy | None = None,
        headers: Headers | None = None,
        extra_body: Mapping[str, Any] | None = None,
        extra_query: Query | None = None,
    ) -> AsyncEventStream:
        """Add entries to a conversation and stream the next turn as events."""
        path = f"/v1/conversations/{_path_id(conversation_id)}"
        body = _body(AppendConversationRequest, _append_fields(locals(), stream=True), extra_body)
        return self._stream(
            path,
            body,
            timeout=timeout,
            retry=retry,
            headers=headers,
            extra_query=extra_query,
            trace=functools.partial(
                self._span,
                "append_stream",
                conversation_id=conversation_id,
                completion_args=completion_args,
            ),
        )

    @_sdk_keywords
    async def get_history(
        self,
        conversation_id: str,
        *,
        timeout: Timeout | float | None = None,
        retry: RetryPolicy | None = None,
        headers: Headers | None = None,
        extra_query: Query | None = None,
    ) -> ConversationHistory:
        """Read every entry of a conversation, in order: ``GET .../history``."""
        result: ConversationHistory = await self._call(
            "GET",
            f"/v1/conversations/{_path_id(conversation_id)}/history",
            timeout=timeout,
            retry=retry,
            headers=headers,
            extra_query=extra_query,
            decode=ConversationHistory,
            span=self._span("get_history", conversation_id=conversation_id),
        )
        return result

    @_sdk_keywords
    async def get_messages(
        self,
        conversation_id: str,
        *,
        timeout: Timeout | float | None = None,
        retry: RetryPolicy | None = None,
        headers: Headers | None = None,
        extra_query: Query | None = None,
    ) -> ConversationMessages:
        """Read only the message entries of a conversation: ``GET .../messages``."""
        result: ConversationMessages = await self._call(
            "GET",
            f"/v1/conversations/{_path_id(conversation_id)}/messages",
            timeout=timeout,
            retry=retry,
            headers=headers,
            extra_query=extra_query,
            decode=ConversationMessages,
            span=self._span("get_messages", conversation_id=conversation_id),
        )
        return result

    @_sdk_keywords
    async def restart(
        self,
        conversation_id: str,
        *,
        from_entry_id: str,
        inputs: Inputs | None = None,
        store: bool | None = None,
        handoff_execution: str | None = None,
        completion_args: CompletionArgs | Mapping[str, Any] | None = None,
        guardrails: Guardrails | None = None,
        metadata: Mapping[str, Any] | None = None,
        agent_version: str | int | None = None,
        timeout: Timeout | float | None = None,
        retry: RetryPolicy | None = None,
        headers: Headers | None = None,
        extra_body: Mapping[str, Any] | None = None,
        extra_query: Query | None = None,
    ) -> ConversationResponse:
        """Make a new conversation from an entry of this one and run a turn there.

        ``POST /v1/conversations/{id}/restart``. The answer's ``conversation_id`` is
        the new conversation's.
        """
        path = f"/v1/conversations/{_path_id(conversation_id)}/restart"
        body = _body(
            RestartConversationRequest, _restart_fields(locals(), stream=False), extra_body
        )
        result: ConversationResponse = await self._call(
            "POST",
            path,
            body=body,
            timeout=timeout,
            retry=retry,
            headers=headers,
            extra_query=extra_query,
            decode=ConversationResponse,
            span=self._span(
                "restart",
                conversation_id=conversation_id,
                agent_version=agent_version,
                completion_args=completion_args,
            ),
        )
        return result

    @_sdk_keywords
    def restart_stream(
        self,
        conversation_id: str,
        *,
        from_entry_id: str,
        inputs: Inputs | None = None,
        store: bool | None = None,
        handoff_execution: str | None = None,
        completion_args: CompletionArgs | Mapping[str, Any] | None = None,
        guardrails: Guardrails | None = None,
        metadata: Mapping[str, Any] | None = None,
        agent_version: str | int | None = None,
        timeout: Timeout | float | None = None,
        retry: RetryPolicy | None = None,
        headers: Headers | None = None,
        extra_body: Mapping[str, Any] | None = None,
        extra_query: Query | None = None,
    ) -> AsyncEventStream:
        """Restart a conversation from an entry and stream the new turn as events."""
        path = f"/v1/conversations/{_path_id(conversation_id)}/restart"
        body = _body(RestartConversationRequest, _restart_fields(locals(), stream=True), extra_body)
        return self._stream(
            path,
            body,
            timeout=timeout,
            retry=retry,
            headers=headers,
            extra_query=extra_query,
            trace=functools.partial(
                self._span,
                "restart_stream",
                conversation_id=conversation_id,
                completion_args=completion_args,
            ),
        )

    # -- the function tools loop, and every conversation -------------------------------

    @_sdk_keywords
    async def run(
        self,
        inputs: Inputs | None = None,
        *,
        tools: Sequence[Any] = (),
        model: str | None = None,
        agent_id: str | None = None,
        conversation_id: str | None = None,
        instructions: str | None = None,
        completion_args: CompletionArgs | Mapping[str, Any] | None = None,
        output_type: type[Any] | None = None,
        max_rounds: int = 10,
        confirm: Confirm | None = None,
        decisions: Decisions | None = None,
        name: str | None = None,
        description: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        timeout: Timeout | float | None = None,
        retry: RetryPolicy | None = None,
        headers: Headers | None = None,
    ) -> RunResult:
        """Run a conversation with function tools that run here, to its final answer.

        Starts a conversation (or appends ``inputs`` to ``conversation_id``), runs every
        ``function.call`` of each answer (side by side; sync functions in threads),
        sends the results, and repeats until the model answers without calling, or
        raises :class:`~mistral_conversations.errors.MaxRoundsError` after
        ``max_rounds`` answers. ``tools`` takes Python callables (described from their
        signature, type hints and docstring), MCP client sessions (the ``[mcp]`` extra)
        and tool models. A function that raises, an unknown function and arguments that
        do not fit are reported to the model as error results.

        ``confirm(call)`` (sync or async) is asked before each call runs and returns
        ``"allow"``, ``"deny"`` (the model is told) or ``"defer"``. Deferred calls, and
        those the server holds for confirmation, stop the run before anything of that
        round runs: ``RunResult.pending`` lists them, and
        ``run(conversation_id=..., decisions={tool_call_id: "allow" | "deny"})`` goes
        on, here or in another process (``confirm``, if given again, is asked about the
        calls that ``decisions`` leaves out). ``output_type``, an attrs class, asks for its
        JSON schema as the response format and decodes the final answer into
        ``RunResult.output``. ``name``, ``description`` and ``metadata`` go with a
        conversation the run starts; ``timeout``, ``retry`` and ``headers`` apply to each
        request of the run, as to any call.
        """
        arguments = _run_arguments(locals())
        from ._run import AsyncRunStream, start_run

        return await AsyncRunStream(start_run(self, stream=False, **arguments)).result()

    @_sdk_keywords
    def run_stream(
        self,
        inputs: Inputs | None = None,
        *,
        tools: Sequence[Any] = (),
        model: str | None = None,
        agent_id: str | None = None,
        conversation_id: str | None = None,
        instructions: str | None = None,
        completion_args: CompletionArgs | Mapping[str, Any] | None = None,
        output_type: type[Any] | None = None,
        max_rounds: int = 10,
        confirm: Confirm | None = None,
        decisions: Decisions | None = None,
        name: str | None = None,
        description: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        timeout: Timeout | float | None = None,
        retry: RetryPolicy | None = None,
        headers: Headers | None = None,
    ) -> AsyncRunStream:
        """:meth:`run`, as the events of every round and a result event per function.

        ``async with client.run_stream(...) as run: async for event in run: ...``, then
        ``await run.result()``. Arguments are those of :meth:`run`, checked at once.
        """
        arguments = _run_arguments(locals())
        from ._run import AsyncRunStream, start_run

        return AsyncRunStream(start_run(self, stream=True, **arguments))

    def iter_conversations(
        self, *, page_size: int = 100, metadata: Mapping[str, Any] | None = None
    ) -> AsyncIterator[Conversation]:
        """Every conversation, newest first, across pages, each page fetched when needed.

        ``async for conversation in client.iter_conversations(): ...``. ``metadata``
        keeps only those whose metadata holds all of the given keys and values.
        """
        _list_params(0, page_size, metadata)  # its checks, before the first page is asked for
        if page_size == 0:
            raise ValueError("page_size must be at least 1 to go through the pages")
        from ._run import iter_conversations

        return iter_conversations(self, page_size, metadata)


def _run_arguments(arguments: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in arguments.items() if name != "self"}


_START_FIELDS = (
    "inputs",
    "model",
    "agent_id",
    "agent_version",
    "instructions",
    "tools",
    "completion_args",
    "guardrails",
    "name",
    "description",
    "metadata",
    "store",
    "handoff_execution",
)
_APPEND_FIELDS = ("inputs", "store", "handoff_execution", "completion_args", "tool_confirmations")
_RESTART_FIELDS = (
    "inputs",
    "from_entry_id",
    "store",
    "handoff_execution",
    "completion_args",
    "guardrails",
    "metadata",
    "agent_version",
)


def _pick(arguments: Mapping[str, Any], names: tuple[str, ...], stream: bool) -> dict[str, Any]:
    fields = {name: arguments[name] for name in names}
    fields["stream"] = stream
    return fields


def _start_fields(arguments: Mapping[str, Any], *, stream: bool) -> dict[str, Any]:
    if arguments["model"] is None and arguments["agent_id"] is None:
        raise ConfigurationError(
            "start() needs model=... (e.g. 'mistral-medium-latest') or agent_id=..."
        )
    if arguments["model"] is not None and arguments["agent_id"] is not None:
        raise ConfigurationError(
            "start() takes model=... or agent_id=..., not both: an agent brings its own "
            "model. Drop one of them."
        )
    return _pick(arguments, _START_FIELDS, stream)


def _append_fields(arguments: Mapping[str, Any], *, stream: bool) -> dict[str, Any]:
    return _pick(arguments, _APPEND_FIELDS, stream)


def _restart_fields(arguments: Mapping[str, Any], *, stream: bool) -> dict[str, Any]:
    return _pick(arguments, _RESTART_FIELDS, stream)


def _list_params(page: int, page_size: int, metadata: Mapping[str, Any] | None) -> dict[str, str]:
    for label, value in (("page", page), ("page_size", page_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{label} must be a non-negative int, not {value!r}")
    params = {"page": str(page), "page_size": str(page_size)}
    if metadata is not None:
        if not isinstance(metadata, Mapping):
            raise TypeError(f"metadata must be a mapping, not {metadata!r}")
        params["metadata"] = _encoded(dict(metadata), ("metadata",)).decode()
    return params
