"""The three stream operations against the embedded server, in all three forms."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import pytest

from mistral_conversations import AsyncClient, AsyncEventStream, StreamInterruptedError, converter
from mistral_conversations.models import (
    FunctionCallEntry,
    FunctionCallEvent,
    MessageOutputEntry,
    MessageOutputEvent,
    ResponseDoneEvent,
    ResponseStartedEvent,
)
from mistral_conversations.testing import LocalServer

from .sockets import client_connections_to
from .spec import validate, validate_request

MODEL = "mistral-small-latest"


async def wait_for(condition: object, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    # Polling: the condition is the server's, which runs in another thread.
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]  # noqa: ASYNC110
        await asyncio.sleep(0.01)


async def test_async_for(client: AsyncClient, local_server: LocalServer) -> None:
    events = [e async for e in client.start_stream(inputs="one two three", model=MODEL)]
    assert isinstance(events[0], ResponseStartedEvent)
    assert isinstance(events[-1], ResponseDoneEvent)
    deltas = [e for e in events if isinstance(e, MessageOutputEvent)]
    assert len(deltas) == 4
    assert "".join(d.content for d in deltas) == "Echo: one two three"  # type: ignore[misc]
    for event in events:
        validate(converter.unstructure(event), type(event).__name__)
    request = local_server.requests[-1]
    assert request.json == {"inputs": "one two three", "model": MODEL, "stream": True}
    assert request.headers["accept"] == "text/event-stream"
    validate_request(request.json, "/v1/conversations#stream")


async def test_async_with(client: AsyncClient) -> None:
    first = await client.start(inputs="hi", model=MODEL)
    async with client.append_stream(first.conversation_id, inputs="again") as stream:
        assert isinstance(stream, AsyncEventStream)
        assert stream.conversation_id is None
        started = await stream.__anext__()
        assert isinstance(started, ResponseStartedEvent)
        assert stream.conversation_id == first.conversation_id
        texts = [t async for t in stream.text_deltas()]
    assert "".join(texts) == "Echo: again"
    assert (await stream.response()).conversation_id == first.conversation_id


async def test_await(client: AsyncClient, local_server: LocalServer) -> None:
    first = await client.start(inputs="a", model=MODEL)
    history = await client.get_history(first.conversation_id)
    stream = await client.restart_stream(
        first.conversation_id, from_entry_id=history.entries[0].id, inputs="b"
    )
    validate_request(
        local_server.requests[-1].json, "/v1/conversations/{conversation_id}/restart#stream"
    )
    response = await stream.response()
    assert response.conversation_id != first.conversation_id
    assert response.output_text == "Echo: b"


async def test_creating_a_stream_sends_nothing(
    client: AsyncClient, local_server: LocalServer
) -> None:
    before = len(local_server.requests)
    stream = client.start_stream(inputs="x", model=MODEL)
    await asyncio.sleep(0.05)
    assert len(local_server.requests) == before
    await stream.aclose()
    assert len(local_server.requests) == before


async def test_streamed_response_equals_non_streamed(client: AsyncClient) -> None:
    plain = await client.start(inputs="same turn please", model=MODEL, store=False)
    streamed = await client.start_stream(
        inputs="same turn please", model=MODEL, store=False
    ).response()
    assert streamed.output_text == plain.output_text
    assert streamed.usage == plain.usage
    [plain_entry], [streamed_entry] = plain.outputs, streamed.outputs
    assert isinstance(plain_entry, MessageOutputEntry)
    assert isinstance(streamed_entry, MessageOutputEntry)
    assert (streamed_entry.content, streamed_entry.model, streamed_entry.role) == (
        plain_entry.content,
        plain_entry.model,
        plain_entry.role,
    )


async def test_streamed_function_call(client: AsyncClient) -> None:
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {}}}
    stream = client.start_stream(inputs="please lookup cats", model=MODEL, tools=[tool])
    events = [e async for e in stream]
    assert any(isinstance(e, FunctionCallEvent) for e in events)
    [entry] = (await stream.response()).outputs
    assert isinstance(entry, FunctionCallEntry)
    assert entry.name == "lookup"
    assert isinstance(entry.arguments, str)
    assert json.loads(entry.arguments) == {"text": "please lookup cats"}


async def test_break_closes_the_connection(local_server: LocalServer) -> None:
    local_server.stream_delay = 0.02
    async with AsyncClient(local_server.api_key, base_url=local_server.base_url) as client:
        # A temporary stream left by break is closed as it is collected, and says so:
        # the way that closes at a known point is async with.
        async def read_one_delta() -> None:
            async for event in client.start_stream(inputs="w " * 100, model=MODEL):
                if isinstance(event, MessageOutputEvent):
                    break

        with pytest.warns(ResourceWarning, match="async with client.start_stream"):
            await read_one_delta()
        await wait_for(lambda: local_server.disconnects == 1)
        assert local_server.disconnects == 1
        assert client_connections_to(local_server.port) == 0
        # The client goes on working on a fresh connection.
        local_server.stream_delay = 0.0
        assert (await client.start(inputs="ok", model=MODEL)).output_text == "Echo: ok"


async def test_leaving_async_with_closes_the_connection(local_server: LocalServer) -> None:
    local_server.stream_delay = 0.02
    async with AsyncClient(local_server.api_key, base_url=local_server.base_url) as client:
        async with client.start_stream(inputs="w " * 100, model=MODEL) as stream:
            await stream.__anext__()
        await wait_for(lambda: local_server.disconnects == 1)
        assert local_server.disconnects == 1


async def cancelled_mid_read(open_stream: Callable[[], AsyncEventStream]) -> None:
    """Read the stream ``open_stream`` gives in a task, cancelled after three events."""
    received: list[object] = []

    async def consume() -> None:
        async for event in open_stream():
            received.append(event)

    task = asyncio.create_task(consume())
    await wait_for(lambda: len(received) >= 3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_cancelling_the_task_closes_the_connection(local_server: LocalServer) -> None:
    local_server.stream_delay = 0.02
    async with AsyncClient(local_server.api_key, base_url=local_server.base_url) as client:
        # The stream a temporary of the loop, as 'async for e in client.start_stream(...)'.
        await cancelled_mid_read(lambda: client.start_stream(inputs="w " * 100, model=MODEL))
        await wait_for(lambda: local_server.disconnects == 1)
        assert local_server.disconnects == 1
        assert client_connections_to(local_server.port) == 0


async def test_a_stream_whose_reader_was_cancelled_says_so_when_read_again(
    local_server: LocalServer,
) -> None:
    local_server.stream_delay = 0.02
    async with AsyncClient(local_server.api_key, base_url=local_server.base_url) as client:
        stream = client.start_stream(inputs="w " * 100, model=MODEL)
        await cancelled_mid_read(lambda: stream)
        for read_again in (stream.__anext__, stream.response):
            with pytest.raises(StreamInterruptedError) as caught:
                await read_again()
            assert str(caught.value) == (
                "The stream was closed before the response was complete (the task reading "
                "it was cancelled); what arrived is in .partial."
            )
            assert caught.value.partial.output_text.startswith("Echo: w")
        await wait_for(lambda: local_server.disconnects == 1)
        assert client_connections_to(local_server.port) == 0


async def test_full_read_returns_the_connection_to_the_pool(
    client: AsyncClient, local_server: LocalServer
) -> None:
    for _ in range(3):
        await client.start_stream(inputs="x", model=MODEL, store=False).response()
    assert client_connections_to(local_server.port) == 1
    assert local_server.disconnects == 0


@pytest.mark.parametrize("form", ["async for", "async with", "await"])
@pytest.mark.parametrize("operation", ["start_stream", "append_stream", "restart_stream"])
async def test_each_operation_in_each_form(client: AsyncClient, operation: str, form: str) -> None:
    first = await client.start(inputs="base", model=MODEL)
    history = await client.get_history(first.conversation_id)
    if operation == "start_stream":
        stream = client.start_stream(inputs="go on", model=MODEL)
    elif operation == "append_stream":
        stream = client.append_stream(first.conversation_id, inputs="go on")
    else:
        stream = client.restart_stream(
            first.conversation_id, from_entry_id=history.entries[1].id, inputs="go on"
        )
    if form == "async for":
        events = [e async for e in stream]
    elif form == "async with":
        async with stream as opened:
            events = [e async for e in opened]
    else:
        events = [e async for e in await stream]
    text = "".join(e.text for e in events if isinstance(e, MessageOutputEvent))
    assert text == "Echo: go on"
    assert (await stream.response()).output_text == "Echo: go on"
