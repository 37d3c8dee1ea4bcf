"""OpenTelemetry tracing: the spans of each kind of call, failures, streams, and the cost
of tracing when it is off (not installed, no provider, not sampled)."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import NoOpTracerProvider, ProxyTracerProvider, SpanKind, StatusCode

from mistral_conversations import __version__, _otel
from mistral_conversations.errors import APIConnectionError, APIStatusError, APITimeoutError
from mistral_conversations.models import CompletionArgs, ConversationUsageInfo, ResponseFormat

SERVER = {"server_address": "api.mistral.ai", "server_port": 443}


@pytest.fixture(scope="module")
def _exporter() -> Iterator[InMemorySpanExporter]:
    """The session's one global SDK provider, with an exporter of this module's own.

    The global provider can be set once per process: set it if nobody has, else join the
    SDK provider another module set.
    """
    if isinstance(trace.get_tracer_provider(), ProxyTracerProvider):
        trace.set_tracer_provider(TracerProvider())
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        pytest.skip("the global tracer provider was set to one that is not the SDK's")
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()  # the processor stays on the provider; a stopped exporter keeps nothing


@pytest.fixture
def exporter(_exporter: InMemorySpanExporter) -> InMemorySpanExporter:
    _exporter.clear()
    return _exporter


def only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    (span,) = exporter.get_finished_spans()
    return span


def started(method: str, **kwargs: Any) -> _otel.CallSpan:
    span = _otel.start_span(method, **kwargs)
    assert span is not None
    return span


# --- attributes per kind of operation ---------------------------------------------------


def test_start_with_a_model(exporter: InMemorySpanExporter) -> None:
    args = CompletionArgs(
        temperature=0.2,
        top_p=0.9,
        max_tokens=100,
        frequency_penalty=0.1,
        presence_penalty=0.3,
        random_seed=7,
        stop="END",
        response_format=ResponseFormat(type="json_object"),
    )
    span = started("start", model="mistral-small-latest", completion_args=args, **SERVER)
    span.answered(
        status_code=200,
        attempts=2,
        conversation_id="conv_1",
        model="mistral-small-2503",
        usage=ConversationUsageInfo(prompt_tokens=12, completion_tokens=5, total_tokens=17),
    )
    span.end()

    finished = only_span(exporter)
    assert finished.name == "chat mistral-small-latest"
    assert finished.kind is SpanKind.CLIENT
    assert finished.status.status_code is StatusCode.UNSET
    assert finished.instrumentation_scope is not None
    assert finished.instrumentation_scope.name == "mistral_conversations"
    assert finished.instrumentation_scope.version == __version__
    assert dict(finished.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "mistral_ai",
        "gen_ai.system": "mistral_ai",
        "gen_ai.request.model": "mistral-small-latest",
        "gen_ai.request.stream": False,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.max_tokens": 100,
        "gen_ai.request.frequency_penalty": 0.1,
        "gen_ai.request.presence_penalty": 0.3,
        "gen_ai.request.seed": 7,
        "gen_ai.request.stop_sequences": ("END",),
        "gen_ai.output.type": "json",
        "server.address": "api.mistral.ai",
        "server.port": 443,
        "mistral_conversations.operation": "start",
        "http.response.status_code": 200,
        "mistral_conversations.attempts": 2,
        "gen_ai.conversation.id": "conv_1",
        "gen_ai.response.model": "mistral-small-2503",
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 5,
    }


def test_start_with_an_agent(exporter: InMemorySpanExporter) -> None:
    span = started("start_stream", agent_id="ag_123", agent_version=3, **SERVER)
    span.end()

    finished = only_span(exporter)
    assert finished.name == "invoke_agent ag_123"
    attributes = finished.attributes or {}
    assert attributes["gen_ai.operation.name"] == "invoke_agent"
    assert attributes["gen_ai.agent.id"] == "ag_123"
    assert attributes["gen_ai.agent.version"] == "3"
    assert attributes["gen_ai.request.stream"] is True
    assert attributes["mistral_conversations.operation"] == "start_stream"
    assert "gen_ai.request.model" not in attributes


@pytest.mark.parametrize("method", ["append", "append_stream", "restart", "restart_stream"])
def test_a_continued_turn_is_chat_unless_the_agent_is_named(
    exporter: InMemorySpanExporter, method: str
) -> None:
    started(method, conversation_id="conv_9", **SERVER).end()
    started(method, conversation_id="conv_9", agent_id="ag_1", **SERVER).end()

    plain, agent = exporter.get_finished_spans()
    assert plain.name == "chat"
    assert agent.name == "invoke_agent ag_1"
    for span, operation in ((plain, "chat"), (agent, "invoke_agent")):
        attributes = span.attributes or {}
        assert attributes["gen_ai.operation.name"] == operation
        assert attributes["gen_ai.provider.name"] == "mistral_ai"
        assert attributes["gen_ai.conversation.id"] == "conv_9"
        assert attributes["gen_ai.request.stream"] is method.endswith("_stream")
        assert attributes["mistral_conversations.operation"] == method


@pytest.mark.parametrize("method", ["list", "get", "delete", "get_history", "get_messages"])
def test_reads_and_deletes_are_no_genai_operation(
    exporter: InMemorySpanExporter, method: str
) -> None:
    conversation_id = None if method == "list" else "conv_2"
    span = started(method, conversation_id=conversation_id, **SERVER)
    span.answered(status_code=200, attempts=1)
    span.end()

    finished = only_span(exporter)
    assert finished.name == f"conversations.{method}"
    assert finished.kind is SpanKind.CLIENT
    expected: dict[str, object] = {
        "mistral_conversations.operation": method,
        "server.address": "api.mistral.ai",
        "server.port": 443,
        "http.response.status_code": 200,
        "mistral_conversations.attempts": 1,
    }
    if conversation_id is not None:
        expected["gen_ai.conversation.id"] = conversation_id
    assert dict(finished.attributes or {}) == expected


def test_completion_args_as_a_dict_keep_only_what_otel_can_hold(
    exporter: InMemorySpanExporter,
) -> None:
    args = {
        "temperature": 0.5,
        "top_p": True,  # a bool is no number here
        "max_tokens": "many",
        "stop": ["a", "b"],
        "response_format": {"type": "text"},
    }
    started("start", model="m", completion_args=args).end()

    attributes = dict(only_span(exporter).attributes or {})
    assert attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "mistral_ai",
        "gen_ai.system": "mistral_ai",
        "gen_ai.request.model": "m",
        "gen_ai.request.stream": False,
        "gen_ai.request.temperature": 0.5,
        "gen_ai.request.stop_sequences": ("a", "b"),
        "gen_ai.output.type": "text",
        "mistral_conversations.operation": "start",
    }


def test_a_span_without_a_model_or_agent_is_named_by_its_operation(
    exporter: InMemorySpanExporter,
) -> None:
    started("start").end()
    assert only_span(exporter).name == "chat"


def test_the_span_is_a_child_of_the_callers_span(exporter: InMemorySpanExporter) -> None:
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("handler") as parent:
        started("get", conversation_id="conv_1").end()

    child = next(s for s in exporter.get_finished_spans() if s.name == "conversations.get")
    assert child.parent is not None
    assert child.parent.span_id == parent.get_span_context().span_id


def test_current_makes_the_call_span_the_parent_inside(exporter: InMemorySpanExporter) -> None:
    span = started("start", model="m")
    with _otel.current(span):
        trace.get_tracer("test").start_span("POST").end()
    assert trace.get_current_span() is trace.INVALID_SPAN
    span.end()
    with _otel.current(None):
        assert trace.get_current_span() is trace.INVALID_SPAN

    http, call = exporter.get_finished_spans()
    assert http.parent is not None
    assert http.parent.span_id == call.context.span_id


# --- failures ----------------------------------------------------------------------------


def test_a_status_error_is_typed_by_its_status(exporter: InMemorySpanExporter) -> None:
    error = APIStatusError(
        "429 Too Many Requests: slow down.",
        status_code=429,
        body="{}",
        headers={"authorization": "Bearer secret"},
        request_id="req_1",
        attempts=4,
    )
    span = started("start", model="m")
    span.failed(error)
    span.end()  # a second end does nothing

    finished = only_span(exporter)
    assert finished.status.status_code is StatusCode.ERROR
    assert finished.status.description == "429 Too Many Requests: slow down."
    attributes = finished.attributes or {}
    assert attributes["error.type"] == "429"
    assert attributes["http.response.status_code"] == 429
    assert attributes["mistral_conversations.attempts"] == 4
    assert not any("secret" in str(value) for value in attributes.values())


def test_a_status_like_exception_is_read_by_duck_typing(exporter: InMemorySpanExporter) -> None:
    class Refused(Exception):
        status_code = 503

    started("get", conversation_id="c").failed(Refused("no"))
    assert (only_span(exporter).attributes or {})["error.type"] == "503"


def test_other_errors_are_typed_by_their_class(exporter: InMemorySpanExporter) -> None:
    span = started("append", conversation_id="conv_1")
    span.failed(APITimeoutError("The server did not answer in 60s.", attempts=2))

    finished = only_span(exporter)
    assert finished.status.status_code is StatusCode.ERROR
    assert finished.status.description == "The server did not answer in 60s."
    attributes = finished.attributes or {}
    assert attributes["error.type"] == "APITimeoutError"
    assert attributes["mistral_conversations.attempts"] == 2
    assert "http.response.status_code" not in attributes


def test_an_exception_without_a_message_is_described_by_its_type(
    exporter: InMemorySpanExporter,
) -> None:
    started("get").failed(ValueError())
    finished = only_span(exporter)
    assert finished.status.description == "ValueError"
    assert "mistral_conversations.attempts" not in (finished.attributes or {})


# --- streams -----------------------------------------------------------------------------


def test_a_stream_is_answered_at_connect_and_at_its_end(exporter: InMemorySpanExporter) -> None:
    span = started("start_stream", model="mistral-large-latest", **SERVER)
    span.answered(status_code=200, attempts=1)
    span.first_chunk()
    span.first_chunk()  # only the first counts
    span.answered(
        conversation_id="conv_7",
        model="mistral-large-2411",
        usage=ConversationUsageInfo(prompt_tokens=3, completion_tokens=4),
    )
    span.end()

    finished = only_span(exporter)
    assert finished.name == "chat mistral-large-latest"
    attributes = finished.attributes or {}
    assert attributes["gen_ai.request.stream"] is True
    assert attributes["http.response.status_code"] == 200
    assert attributes["mistral_conversations.attempts"] == 1
    assert attributes["gen_ai.conversation.id"] == "conv_7"
    assert attributes["gen_ai.response.model"] == "mistral-large-2411"
    assert attributes["gen_ai.usage.input_tokens"] == 3
    assert attributes["gen_ai.usage.output_tokens"] == 4
    ttfc = attributes["gen_ai.response.time_to_first_chunk"]
    assert isinstance(ttfc, float)
    assert finished.end_time is not None
    assert finished.start_time is not None
    assert 0 <= ttfc <= (finished.end_time - finished.start_time) / 1e9 + 0.01
    assert "mistral_conversations.closed_early" not in attributes


def test_a_stream_closed_early_is_no_error(exporter: InMemorySpanExporter) -> None:
    span = started("append_stream", conversation_id="conv_1")
    span.answered(status_code=200, attempts=1)
    span.end(closed_early=True)
    span.answered(usage=ConversationUsageInfo(prompt_tokens=1))  # after the end: ignored

    finished = only_span(exporter)
    assert finished.status.status_code is StatusCode.UNSET
    attributes = finished.attributes or {}
    assert attributes["mistral_conversations.closed_early"] is True
    assert "error.type" not in attributes
    assert "gen_ai.usage.input_tokens" not in attributes


@pytest.mark.parametrize("reason", [asyncio.CancelledError(), GeneratorExit(), KeyboardInterrupt()])
def test_walking_away_is_closing_early_not_failing(
    exporter: InMemorySpanExporter, reason: BaseException
) -> None:
    started("restart_stream", conversation_id="conv_1").failed(reason)

    finished = only_span(exporter)
    assert finished.status.status_code is StatusCode.UNSET
    assert (finished.attributes or {})["mistral_conversations.closed_early"] is True


def test_a_stream_failing_midway_keeps_what_the_connect_said(
    exporter: InMemorySpanExporter,
) -> None:
    span = started("start_stream", model="m")
    span.answered(status_code=200, attempts=1)
    span.failed(APIConnectionError("The connection broke while the answer was being read."))

    attributes = only_span(exporter).attributes or {}
    assert attributes["http.response.status_code"] == 200
    assert attributes["error.type"] == "APIConnectionError"


# --- tracing never breaks the call -------------------------------------------------------


class _Broken:
    @property
    def prompt_tokens(self) -> int:
        raise RuntimeError("usage exploded")

    completion_tokens = 1


def test_a_failure_in_answered_is_logged_and_swallowed(
    exporter: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    span = started("start", model="m")
    with caplog.at_level(logging.DEBUG, logger="mistral_conversations"):
        span.answered(status_code=200, usage=_Broken())
    span.end()

    assert len(exporter.get_finished_spans()) == 1
    (record,) = [r for r in caplog.records if r.name == "mistral_conversations"]
    assert record.levelno == logging.DEBUG
    assert record.exc_info is not None
    assert "usage exploded" in str(record.exc_info[1])


class _ExplodingSpan:
    """A span whose every setter fails, which still records that it was ended."""

    def __init__(self) -> None:
        self.ended = 0

    def set_attribute(self, key: str, value: object) -> None:
        raise RuntimeError("exporter bug")

    set_attributes = set_status = set_attribute

    def end(self) -> None:
        self.ended += 1


def test_a_failure_in_failed_still_ends_the_span(caplog: pytest.LogCaptureFixture) -> None:
    inner = _ExplodingSpan()
    span = _otel.CallSpan(inner)  # type: ignore[arg-type]
    with caplog.at_level(logging.DEBUG, logger="mistral_conversations"):
        span.failed(ValueError("boom"))
        span.first_chunk()
        span.end()
    assert inner.ended == 1
    assert any(r.exc_info for r in caplog.records if r.name == "mistral_conversations")


def test_a_failure_in_end_is_swallowed(caplog: pytest.LogCaptureFixture) -> None:
    inner = _ExplodingSpan()
    span = _otel.CallSpan(inner)  # type: ignore[arg-type]
    with caplog.at_level(logging.DEBUG, logger="mistral_conversations"):
        span.end(closed_early=True)  # set_attribute raises before the span's end
    assert inner.ended == 1
    assert any(r.exc_info for r in caplog.records if r.name == "mistral_conversations")


def test_a_failure_in_start_span_gives_no_span(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class BrokenTracer:
        def start_span(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("tracer bug")

    monkeypatch.setattr(_otel, "_current_tracer", BrokenTracer)
    with caplog.at_level(logging.DEBUG, logger="mistral_conversations"):
        assert _otel.start_span("start", model="m") is None
    assert any(r.exc_info for r in caplog.records if r.name == "mistral_conversations")


def test_a_failure_in_current_is_swallowed(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    span = started("start", model="m")

    def broken(*args: object) -> None:
        raise RuntimeError("context bug")

    monkeypatch.setattr(trace, "set_span_in_context", broken)
    with caplog.at_level(logging.DEBUG, logger="mistral_conversations"), _otel.current(span):
        pass
    span.end()
    assert any(r.exc_info for r in caplog.records if r.name == "mistral_conversations")


# --- tracing off -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "provider",
    [ProxyTracerProvider(), NoOpTracerProvider(), TracerProvider(sampler=ALWAYS_OFF)],
    ids=["no provider set", "no-op provider", "sampled out"],
)
def test_no_span_when_nothing_would_record(
    exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch, provider: object
) -> None:
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    assert _otel.start_span("start", model="m") is None
    assert exporter.get_finished_spans() == ()


def test_a_provider_set_later_is_followed(monkeypatch: pytest.MonkeyPatch) -> None:
    later = TracerProvider()
    exporter = InMemorySpanExporter()
    later.add_span_processor(SimpleSpanProcessor(exporter))
    started("get").end()  # caches the tracer of the session's provider

    monkeypatch.setattr(trace, "get_tracer_provider", lambda: later)
    started("delete").end()
    assert [s.name for s in exporter.get_finished_spans()] == ["conversations.delete"]


def _run(script: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_importing_imports_nothing_of_opentelemetry() -> None:
    _run(
        """
        import sys
        import mistral_conversations
        import mistral_conversations._otel
        loaded = [m for m in sys.modules if m.split(".")[0] == "opentelemetry"]
        assert not loaded, loaded
        """
    )


def test_without_opentelemetry_nothing_is_traced_and_nothing_breaks() -> None:
    _run(
        """
        import sys
        from importlib.abc import MetaPathFinder

        class NotInstalled(MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "opentelemetry":
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                return None

        sys.meta_path.insert(0, NotInstalled())

        from mistral_conversations import Client, _otel
        from mistral_conversations.testing import LocalServer

        assert _otel.start_span("start", model="m") is None
        assert _otel._available is False
        assert _otel.start_span("get", conversation_id="c") is None
        with _otel.current(None):
            pass
        with LocalServer().run_in_thread() as server:
            with Client(server.api_key, base_url=server.base_url) as client:
                reply = client.start(inputs="Hello", model="any-model")
                client.get(reply.conversation_id)
                with client.start_stream(inputs="Hi", model="any-model") as stream:
                    for _ in stream:
                        pass
        assert not [m for m in sys.modules if m.split(".")[0] == "opentelemetry"]
        """
    )


def test_a_provider_set_after_the_first_call_is_honoured() -> None:
    _run(
        """
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        from mistral_conversations import _otel

        assert _otel.start_span("start", model="m") is None  # no provider yet
        provider = TracerProvider()
        exporter = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        span = _otel.start_span("start", model="m")
        assert span is not None
        span.end()
        assert [s.name for s in exporter.get_finished_spans()] == ["chat m"]
        """
    )


@pytest.mark.parametrize(
    ("environment", "expected"),
    [({}, "False True"), ({"OTEL_PYTHON_TRACER_PROVIDER": "sdk_tracer_provider"}, "True True")],
)
def test_tracing_is_off_until_a_provider_is_set(environment: dict[str, str], expected: str) -> None:
    """The cheap test each call makes: no provider set, no tracing; one set later, tracing."""
    code = textwrap.dedent(
        """
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from mistral_conversations import _otel
        before = _otel.tracing()
        trace.set_tracer_provider(TracerProvider())
        print(before, _otel.tracing())
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, **environment},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == expected, done.stderr
