"""Each call is one span, through the real client against the embedded server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from mistral_conversations import AsyncClient, Client, NotFoundError, RetryPolicy
from mistral_conversations.testing import LocalServer

from .test_otel import _exporter, exporter, only_span

__all__ = ["_exporter", "exporter"]


@pytest.fixture
async def client(local_server: LocalServer) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(
        api_key=local_server.api_key, base_url=local_server.base_url, retry=RetryPolicy.disabled()
    ) as client:
        yield client


async def test_a_turn_is_one_chat_span_with_its_usage(
    client: AsyncClient, local_server: LocalServer, exporter: InMemorySpanExporter
) -> None:
    reply = await client.start(inputs="Hello there", model="mistral-small-latest")
    span = only_span(exporter)
    assert span.name == "chat mistral-small-latest"
    assert span.kind is trace.SpanKind.CLIENT
    attributes = dict(span.attributes or {})
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.request.model"] == "mistral-small-latest"
    assert reply.outputs[-1].model == "mistral-small-latest"  # type: ignore[union-attr]
    assert attributes["gen_ai.response.model"] == "mistral-small-latest"
    assert attributes["gen_ai.conversation.id"] == reply.conversation_id
    assert attributes["gen_ai.usage.input_tokens"] == reply.usage.prompt_tokens
    assert attributes["gen_ai.usage.output_tokens"] == reply.usage.completion_tokens
    assert attributes["mistral_conversations.attempts"] == 1
    assert attributes["http.response.status_code"] == 200
    assert attributes["server.port"] == local_server.port
    assert span.status.status_code is StatusCode.UNSET


async def test_a_failed_read_is_an_error_span(
    client: AsyncClient, exporter: InMemorySpanExporter
) -> None:
    with pytest.raises(NotFoundError):
        await client.get("conv_missing")
    span = only_span(exporter)
    assert span.name == "conversations.get"
    assert dict(span.attributes or {})["error.type"] == "404"
    assert span.status.status_code is StatusCode.ERROR


async def test_a_stream_span_ends_with_the_stream(
    client: AsyncClient, exporter: InMemorySpanExporter
) -> None:
    async with client.start_stream(inputs="one two three", agent_id="ag_1") as stream:
        reply = await stream.response()
    span = only_span(exporter)
    assert span.name == "invoke_agent ag_1"
    attributes = dict(span.attributes or {})
    assert attributes["gen_ai.request.stream"] is True
    assert attributes["gen_ai.conversation.id"] == reply.conversation_id
    assert attributes["gen_ai.usage.output_tokens"] == reply.usage.completion_tokens
    assert "gen_ai.response.time_to_first_chunk" in attributes
    assert "gen_ai.response.model" not in attributes  # an agent's answer names no model


async def test_a_model_s_stream_span_names_the_model_that_answered(
    client: AsyncClient, exporter: InMemorySpanExporter
) -> None:
    async with client.start_stream(inputs="one two", model="mistral-large-latest") as stream:
        await stream.response()
    attributes = dict(only_span(exporter).attributes or {})
    assert attributes["gen_ai.response.model"] == "mistral-large-latest"


async def test_a_stream_left_early_is_not_an_error(exporter: InMemorySpanExporter) -> None:
    # Events a while apart: the first is read before the turn's end has arrived.
    async with (
        LocalServer(stream_delay=0.2) as server,
        AsyncClient(api_key=server.api_key, base_url=server.base_url) as client,
        client.start_stream(inputs="one two three", model="m") as stream,
    ):
        await stream.__anext__()
    span = only_span(exporter)
    assert dict(span.attributes or {})["mistral_conversations.closed_early"] is True
    assert span.status.status_code is StatusCode.UNSET


async def test_a_stream_never_read_makes_no_span(
    client: AsyncClient, exporter: InMemorySpanExporter
) -> None:
    stream = client.start_stream(inputs="hi", model="m")
    await stream.aclose()
    await asyncio.sleep(0)
    assert exporter.get_finished_spans() == ()


def test_blocking_calls_are_children_of_the_callers_span(
    local_server: LocalServer, exporter: InMemorySpanExporter
) -> None:
    tracer = trace.get_tracer("test")
    server = local_server
    with (
        Client(api_key=server.api_key, base_url=server.base_url) as client,
        tracer.start_as_current_span("handler") as parent,
    ):
        client.start(inputs="hi", model="m")
    call = next(s for s in exporter.get_finished_spans() if s.name == "chat m")
    assert call.parent is not None
    assert call.parent.span_id == parent.get_span_context().span_id
