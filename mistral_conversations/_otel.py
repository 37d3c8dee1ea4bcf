"""OpenTelemetry tracing: one span per client call, after the GenAI semantic conventions.

Tracing is on when ``opentelemetry-api`` is installed (the ``[otel]`` extra) and the
application has set a tracer provider that records. Otherwise ``start_span`` returns
``None`` and nothing else happens; opentelemetry is imported on the first call, never
at import time, so an application without it pays for one cached check per call.

Each span is of kind CLIENT. What it carries, by operation:

==================================  =========================  ==============================
method                              ``gen_ai.operation.name``  span name
==================================  =========================  ==============================
start, start_stream (``model=``)    ``chat``                   ``chat {model}``
start, start_stream (``agent_id=``) ``invoke_agent``           ``invoke_agent {agent_id}``
append, restart (and their streams) ``chat``                   ``chat``
list, get, delete, get_history,     not set                    ``conversations.{method}``
get_messages
==================================  =========================  ==============================

The turns (the first three rows) carry ``gen_ai.provider.name`` and the older
``gen_ai.system`` (both ``mistral_ai``), ``gen_ai.request.stream``, the model, agent and
sampling settings that were asked for, and, once answered, ``gen_ai.response.model``
(the model the answer's last message names, when it names one) and
``gen_ai.usage.{input,output}_tokens``. Reads and deletes are no GenAI operation, so
they carry no provider either: a backend that treats any span with a GenAI provider as a
model call would otherwise count them as calls without tokens. Every span carries
``gen_ai.conversation.id`` once known, ``server.address``, ``server.port``,
``http.response.status_code``, ``error.type`` on failure, and this library's own
``mistral_conversations.operation`` (the method) and ``mistral_conversations.attempts``.

Only names, ids, numbers and settings are recorded: never headers, URLs, inputs or
outputs. A failure inside tracing is logged at DEBUG and never reaches the call.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, ParamSpec, Protocol

from ._version import __version__

if TYPE_CHECKING:
    from contextvars import Token
    from types import TracebackType

    from opentelemetry.context import Context
    from opentelemetry.trace import Span, Tracer, TracerProvider
    from opentelemetry.util.types import AttributeValue

    from .models.completion_args import CompletionArgs

__all__ = ["CallSpan", "TokenUsage", "current", "start_span", "tracing"]

logger = logging.getLogger("mistral_conversations")
_UNTRACED: Final = "Tracing failed; the call goes on untraced"

_PROVIDER: Final = "mistral_ai"
_TURNS: Final = frozenset(
    {"start", "start_stream", "append", "append_stream", "restart", "restart_stream"}
)

# None until the first call looks for opentelemetry; then whether it was found.
_available: bool | None = None
# Set by the probe that finds it: opentelemetry.trace, and whether the environment names
# a tracer provider (the API then makes one on first use).
_trace: Any = None
_provider_from_environment = False
# The tracer, fetched again only when the global provider is another object: a provider
# builds a new tracer per get_tracer, and test suites may reset the global one.
_tracer_source: TracerProvider | None = None
_tracer: Tracer | None = None

# CompletionArgs field -> GenAI attribute, for the settings recorded as asked.
_NUMERIC_SETTINGS: Final = (
    ("temperature", "gen_ai.request.temperature"),
    ("top_p", "gen_ai.request.top_p"),
    ("max_tokens", "gen_ai.request.max_tokens"),
    ("frequency_penalty", "gen_ai.request.frequency_penalty"),
    ("presence_penalty", "gen_ai.request.presence_penalty"),
    ("random_seed", "gen_ai.request.seed"),
)
_OUTPUT_TYPES: Final = {"text": "text", "json_object": "json", "json_schema": "json"}

_P = ParamSpec("_P")


class TokenUsage(Protocol):
    """What ``CallSpan.answered`` reads of a usage report (``ConversationUsageInfo``)."""

    @property
    def prompt_tokens(self) -> int | None:
        """Tokens read: the inputs and the conversation so far."""

    @property
    def completion_tokens(self) -> int | None:
        """Tokens written by the model."""


def _swallowing(method: Callable[_P, None]) -> Callable[_P, None]:
    """Keep tracing failures out of the call: log them at DEBUG and carry on."""

    @functools.wraps(method)
    def guarded(*args: _P.args, **kwargs: _P.kwargs) -> None:
        try:
            method(*args, **kwargs)
        except Exception:
            logger.debug(_UNTRACED, exc_info=True)

    return guarded


def _probe() -> bool:
    global _available, _trace, _provider_from_environment
    try:
        import opentelemetry.trace
        from opentelemetry.environment_variables import OTEL_PYTHON_TRACER_PROVIDER
    except ImportError:
        _available = False
    except Exception:  # installed but broken: trace nothing rather than fail calls
        logger.debug(_UNTRACED, exc_info=True)
        _available = False
    else:
        _available = True
        _trace = opentelemetry.trace
        _provider_from_environment = OTEL_PYTHON_TRACER_PROVIDER in os.environ
    return _available


def tracing() -> bool:
    """Whether a call made now may be traced: a cheap test, before building anything.

    False without opentelemetry, and while no tracer provider is set, in code or in the
    environment: the API's own ``get_tracer_provider()`` reads ``os.environ`` on every
    call, which cost a call here a microsecond. A provider set later is seen at once.
    """
    if not (_available if _available is not None else _probe()):
        return False
    if _provider_from_environment:
        return True
    # The API's global, set by set_tracer_provider(); read through getattr so that an
    # API release that renames it only makes this test answer True.
    return getattr(_trace, "_TRACER_PROVIDER", True) is not None


def start_span(
    method: str,
    *,
    model: str | None = None,
    agent_id: str | None = None,
    agent_version: str | int | None = None,
    conversation_id: str | None = None,
    server_address: str | None = None,
    server_port: int | None = None,
    completion_args: CompletionArgs | Mapping[str, Any] | None = None,
) -> CallSpan | None:
    """Start the span of one call of ``AsyncClient.<method>``, or return ``None``.

    ``None`` means no tracing: opentelemetry is not installed, no tracer provider is set,
    or the provider's sampler drops the span. ``method`` is the client method's name as
    the user called it (``"start_stream"``); a name ending in ``_stream`` is a stream.
    ``model``, ``agent_id`` and ``agent_version`` are what the caller asked for, as far
    as this call knows them; ``completion_args`` is read for the sampling settings only.

    The span is not made current: ``current(span)`` does that around the request.
    """
    if not tracing():
        return None
    try:
        tracer = _current_tracer()
        if tracer is None:
            return None
        name, attributes = _describe(
            method,
            model=model,
            agent_id=agent_id,
            agent_version=agent_version,
            conversation_id=conversation_id,
            server_address=server_address,
            server_port=server_port,
            completion_args=completion_args,
        )
        from opentelemetry.trace import SpanKind

        # Attributes go in at the start, where a sampler can see them.
        span = tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
        if not span.is_recording():
            span.end()
            return None
        return CallSpan(span)
    except Exception:
        logger.debug(_UNTRACED, exc_info=True)
        return None


def _current_tracer() -> Tracer | None:
    """The tracer of the global provider, or ``None`` when no provider is set at all."""
    global _tracer_source, _tracer
    from opentelemetry import trace

    provider = trace.get_tracer_provider()
    # The proxy stands in until the application sets a provider, and its tracers only
    # ever make non-recording spans until then: skip building the attributes.
    if isinstance(provider, trace.ProxyTracerProvider):
        return None
    if provider is not _tracer_source or _tracer is None:
        _tracer = provider.get_tracer("mistral_conversations", __version__)
        _tracer_source = provider
    return _tracer


def _describe(
    method: str,
    *,
    model: str | None,
    agent_id: str | None,
    agent_version: str | int | None,
    conversation_id: str | None,
    server_address: str | None,
    server_port: int | None,
    completion_args: CompletionArgs | Mapping[str, Any] | None,
) -> tuple[str, dict[str, AttributeValue]]:
    """The span's name and its attributes at the start."""
    attributes: dict[str, AttributeValue] = {"mistral_conversations.operation": method}
    if method in _TURNS:
        operation = "invoke_agent" if agent_id is not None else "chat"
        target = agent_id if agent_id is not None else model
        name = f"{operation} {target}" if target else operation
        attributes["gen_ai.operation.name"] = operation
        attributes["gen_ai.provider.name"] = _PROVIDER
        attributes["gen_ai.system"] = _PROVIDER
        attributes["gen_ai.request.stream"] = method.endswith("_stream")
        if model is not None:
            attributes["gen_ai.request.model"] = model
        if agent_id is not None:
            attributes["gen_ai.agent.id"] = agent_id
        if agent_version is not None:
            attributes["gen_ai.agent.version"] = str(agent_version)
        if completion_args is not None:
            attributes.update(_settings(completion_args))
    else:
        name = f"conversations.{method}"
    if conversation_id is not None:
        attributes["gen_ai.conversation.id"] = conversation_id
    if server_address is not None:
        attributes["server.address"] = server_address
    if server_port is not None:
        attributes["server.port"] = server_port
    return name, attributes


def _settings(args: CompletionArgs | Mapping[str, Any]) -> dict[str, AttributeValue]:
    """The sampling settings asked for, skipping any value of a shape OTel cannot hold."""

    def read(field: str) -> object:
        return args.get(field) if isinstance(args, Mapping) else getattr(args, field, None)

    found: dict[str, AttributeValue] = {}
    for field, key in _NUMERIC_SETTINGS:
        value = read(field)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            found[key] = value
    stop = read("stop")
    if isinstance(stop, str):
        found["gen_ai.request.stop_sequences"] = [stop]
    elif isinstance(stop, (list, tuple)) and all(isinstance(s, str) for s in stop):
        found["gen_ai.request.stop_sequences"] = list(stop)
    response_format = read("response_format")
    kind = (
        response_format.get("type")
        if isinstance(response_format, Mapping)
        else getattr(response_format, "type", None)
    )
    if isinstance(kind, str) and kind in _OUTPUT_TYPES:
        found["gen_ai.output.type"] = _OUTPUT_TYPES[kind]
    return found


class CallSpan:
    """The span of one call, from ``start_span``; every method is safe to call twice.

    A plain call ends with ``answered(...)`` then ``end()``, or with ``failed(exc)``. A
    stream may call ``answered`` at connect (status, attempts) and again at its end
    (conversation id, model, usage); ``first_chunk()`` when its first event arrives; and
    ``end(closed_early=True)`` when the user leaves it before the end. Calls after the
    span has ended do nothing.
    """

    __slots__ = ("_ended", "_first_chunk_seen", "_span", "_started")

    def __init__(self, span: Span) -> None:
        self._span = span
        self._started = time.monotonic()
        self._ended = False
        self._first_chunk_seen = False

    @_swallowing
    def answered(
        self,
        *,
        status_code: int | None = None,
        attempts: int | None = None,
        conversation_id: str | None = None,
        model: str | None = None,
        usage: TokenUsage | None = None,
    ) -> None:
        """Record what the answer said; ``None`` leaves an attribute as it was."""
        if self._ended:
            return
        attributes: dict[str, AttributeValue] = {}
        if status_code is not None:
            attributes["http.response.status_code"] = status_code
        if attempts is not None:
            attributes["mistral_conversations.attempts"] = attempts
        if conversation_id is not None:
            attributes["gen_ai.conversation.id"] = conversation_id
        if model is not None:
            attributes["gen_ai.response.model"] = model
        if usage is not None:
            for field, key in (
                ("prompt_tokens", "gen_ai.usage.input_tokens"),
                ("completion_tokens", "gen_ai.usage.output_tokens"),
            ):
                count = getattr(usage, field)
                if isinstance(count, int) and not isinstance(count, bool):
                    attributes[key] = count
        self._span.set_attributes(attributes)

    @_swallowing
    def first_chunk(self) -> None:
        """Record, once, the seconds from the start of a stream to its first event."""
        if self._ended or self._first_chunk_seen:
            return
        self._first_chunk_seen = True
        self._span.set_attribute(
            "gen_ai.response.time_to_first_chunk", time.monotonic() - self._started
        )

    @_swallowing
    def failed(self, exc: BaseException) -> None:
        """Record the failure that ends the call, and end the span.

        ``error.type`` is the HTTP status as a string when the exception has an int
        ``status_code`` (``APIStatusError``), else the exception's class name; the span's
        status is ERROR with the exception's message, which this library keeps free of
        secrets. An exception that is not an ``Exception`` (cancellation,
        ``GeneratorExit``, ``KeyboardInterrupt``) is the caller walking away, not the
        call failing: the span ends as ``end(closed_early=True)`` does.
        """
        if self._ended:
            return
        if not isinstance(exc, Exception):
            self.end(closed_early=True)
            return
        try:
            from opentelemetry.trace import Status, StatusCode

            status_code = getattr(exc, "status_code", None)
            if isinstance(status_code, int) and not isinstance(status_code, bool):
                error_type = str(status_code)
                self._span.set_attribute("http.response.status_code", status_code)
            else:
                error_type = type(exc).__name__
            self._span.set_attribute("error.type", error_type)
            attempts = getattr(exc, "attempts", None)
            if isinstance(attempts, int) and not isinstance(attempts, bool):
                self._span.set_attribute("mistral_conversations.attempts", attempts)
            self._span.set_status(Status(StatusCode.ERROR, str(exc) or error_type))
        finally:
            self.end()

    @_swallowing
    def end(self, *, closed_early: bool = False) -> None:
        """End the span; ``closed_early`` marks a stream or call the user left unfinished.

        Closing early is not an error: the span's status stays unset and the attribute
        ``mistral_conversations.closed_early`` is ``True``.
        """
        if self._ended:
            return
        self._ended = True
        try:
            if closed_early:
                self._span.set_attribute("mistral_conversations.closed_early", True)
        finally:
            self._span.end()


class _Current:
    """Makes a span the current one for the duration of a ``with`` block."""

    __slots__ = ("_span", "_token")

    def __init__(self, span: CallSpan | None) -> None:
        self._span = span
        self._token: Token[Context] | None = None

    def __enter__(self) -> None:
        if self._span is None:
            return
        try:
            from opentelemetry import context, trace

            self._token = context.attach(trace.set_span_in_context(self._span._span))
        except Exception:
            logger.debug(_UNTRACED, exc_info=True)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._token is None:
            return
        token, self._token = self._token, None
        try:
            from opentelemetry import context

            context.detach(token)
        except Exception:
            logger.debug(_UNTRACED, exc_info=True)


def current(span: CallSpan | None) -> _Current:
    """A context manager making ``span`` current, so that spans started inside are its
    children (an instrumented HTTP session's spans, spans in ``on_request`` hooks) and
    logs correlate. ``current(None)`` does nothing.

    Enter and leave it in the same task (around an ``await``, not across a ``yield`` of
    an async generator): the context token must be detached where it was attached.
    """
    return _Current(span)


def answer_model(response: object) -> str | None:
    """The model that wrote an answer: the one its last output entry names, if any."""
    for entry in reversed(getattr(response, "outputs", None) or ()):
        model = getattr(entry, "model", None)
        if isinstance(model, str):
            return model
    return None
