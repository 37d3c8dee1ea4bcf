"""Streams that end badly, byte for byte: what is yielded, what is raised, what is kept."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from mistral_conversations import (
    AsyncClient,
    NotFoundError,
    RetryPolicy,
    ServerEventError,
    StreamDecodeError,
    StreamInterruptedError,
    Timeout,
)
from mistral_conversations.models import (
    AgentHandoffEntry,
    FunctionCallEntry,
    FunctionCallEvent,
    MessageOutputEvent,
    ResponseDoneEvent,
    ResponseStartedEvent,
    TextChunk,
    ThinkChunk,
    ToolExecutionEntry,
    UnknownEvent,
)
from mistral_conversations.testing import LocalServer

from .scripted import ScriptedServer

T0 = "2025-05-28T09:01:28.362436Z"


def sse(data: dict[str, Any], event: str | None = None) -> bytes:
    name = event if event is not None else data["type"]
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def started(cid: str = "conv_1") -> bytes:
    return sse({"type": "conversation.response.started", "created_at": T0, "conversation_id": cid})


def delta(text: Any, *, index: int = 0, content_index: int = 0, id: str = "msg_1") -> bytes:
    return sse(
        {
            "type": "message.output.delta",
            "created_at": T0,
            "output_index": index,
            "id": id,
            "content_index": content_index,
            "model": "m",
            "role": "assistant",
            "content": text,
        }
    )


def done(prompt: int = 3, completion: int = 2) -> bytes:
    usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": 5}
    return sse({"type": "conversation.response.done", "created_at": T0, "usage": usage})


@pytest.fixture
async def api(scripted: ScriptedServer) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(
        "k", base_url=scripted.base_url, retry=RetryPolicy.disabled(), timeout=Timeout(read=2)
    ) as c:
        yield c


def stream_reply(scripted: ScriptedServer, *parts: bytes, close_early: bool = False) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for part in parts:
            await response.write(part)
        if close_early:
            assert request.transport is not None
            request.transport.close()
            return response
        await response.write_eof()
        return response

    scripted.handle(handler)


async def test_events_decode_and_add_up(api: AsyncClient, scripted: ScriptedServer) -> None:
    stream_reply(scripted, started(), delta("Hel"), delta("lo"), done())
    events = [e async for e in api.start_stream(inputs="hi", model="m")]
    assert [type(e) for e in events] == [
        ResponseStartedEvent,
        MessageOutputEvent,
        MessageOutputEvent,
        ResponseDoneEvent,
    ]
    seen = scripted.seen[0]
    assert seen.headers["Accept"] == "text/event-stream"
    assert json.loads(seen.body) == {"inputs": "hi", "model": "m", "stream": True}


async def test_response_joins_deltas(api: AsyncClient, scripted: ScriptedServer) -> None:
    stream_reply(scripted, started("conv_9"), delta("Hel"), delta("lo"), done())
    response = await api.start_stream(inputs="hi", model="m").response()
    assert response.conversation_id == "conv_9"
    assert response.output_text == "Hello"
    assert response.outputs[0].content == "Hello"  # type: ignore[union-attr]
    assert response.usage.prompt_tokens == 3


async def test_chunk_deltas_merge(api: AsyncClient, scripted: ScriptedServer) -> None:
    think = {"type": "thinking", "thinking": [{"type": "text", "text": "hm"}]}
    stream_reply(
        scripted,
        started(),
        delta(think, content_index=0),
        delta(think, content_index=0),
        delta({"type": "text", "text": "A"}, content_index=1),
        delta("B", content_index=1),
        done(),
    )
    response = await api.start_stream(inputs="hi", model="m").response()
    content = response.outputs[0].content  # type: ignore[union-attr]
    assert content == [
        # A thinking chunk that leaves "closed" out is closed, as the spec's default says.
        ThinkChunk(thinking=[TextChunk(text="hmhm")], closed=True),
        TextChunk(text="AB"),
    ]
    assert response.output_text == "AB"


async def test_function_call_arguments_join(api: AsyncClient, scripted: ScriptedServer) -> None:
    def call(args: str) -> bytes:
        return sse(
            {
                "type": "function.call.delta",
                "created_at": T0,
                "output_index": 0,
                "id": "fc_1",
                "name": "weather",
                "tool_call_id": "call_1",
                "arguments": args,
            }
        )

    stream_reply(scripted, started(), call('{"ci'), call('ty": "Paris"}'), done())
    stream = api.start_stream(inputs="hi", model="m")
    events = [e async for e in stream]
    assert all(isinstance(e, FunctionCallEvent) for e in events[1:-1])
    [entry] = (await stream.response()).outputs
    assert isinstance(entry, FunctionCallEntry)
    assert (entry.name, entry.tool_call_id, entry.arguments) == (
        "weather",
        "call_1",
        '{"city": "Paris"}',
    )


async def test_unknown_event_is_kept(api: AsyncClient, scripted: ScriptedServer) -> None:
    novel = {"type": "agent.thought.delta", "created_at": T0, "shiny": [1, 2]}
    stream_reply(scripted, started(), sse(novel), done())
    events = [e async for e in api.start_stream(inputs="hi", model="m")]
    assert events[1] == UnknownEvent(type="agent.thought.delta", raw=novel)


async def test_server_error_event_raises_after_earlier_events(
    api: AsyncClient, scripted: ScriptedServer
) -> None:
    error = {"type": "conversation.response.error", "created_at": T0, "message": "boom", "code": 3}
    stream_reply(scripted, started(), delta("par"), sse(error), delta("never"))
    seen: list[object] = []

    async def consume() -> None:
        async for event in api.start_stream(inputs="hi", model="m"):
            seen.append(event)

    with pytest.raises(ServerEventError) as info:
        await consume()
    assert [type(e) for e in seen] == [ResponseStartedEvent, MessageOutputEvent]
    assert info.value.code == 3
    assert info.value.message == "boom"
    assert "code 3" in str(info.value)
    assert info.value.event.message == "boom"
    assert info.value.partial is not None
    assert info.value.partial.output_text == "par"


async def test_stream_cut_before_done(api: AsyncClient, scripted: ScriptedServer) -> None:
    stream_reply(scripted, started("conv_5"), delta("half"), b"event: message.output.de")
    stream = api.start_stream(inputs="hi", model="m")
    with pytest.raises(StreamInterruptedError) as info:
        await stream.response()
    error = info.value
    assert "before the server said the response was done" in str(error)
    assert "event: message.output.de" in str(error)
    assert error.partial is not None
    assert error.partial.conversation_id == "conv_5"
    assert error.partial.output_text == "half"


async def test_connection_dropped_mid_stream(api: AsyncClient, scripted: ScriptedServer) -> None:
    stream_reply(scripted, started(), delta("so far"), close_early=True)
    with pytest.raises(StreamInterruptedError) as info:
        async for _ in api.start_stream(inputs="hi", model="m"):
            pass
    assert info.value.partial is not None
    assert info.value.partial.output_text == "so far"


async def test_data_that_is_not_json(api: AsyncClient, scripted: ScriptedServer) -> None:
    stream_reply(scripted, started(), b"event: message.output.delta\ndata: {oops\n\n", done())
    with pytest.raises(StreamDecodeError) as info:
        await api.start_stream(inputs="hi", model="m").response()
    assert info.value.raw == "{oops"
    assert "not JSON" in str(info.value)
    assert info.value.partial is not None


async def test_event_that_does_not_fit_its_model(
    api: AsyncClient, scripted: ScriptedServer
) -> None:
    stream_reply(scripted, started(), sse({"type": "message.output.delta", "id": 5}), done())
    with pytest.raises(StreamDecodeError) as info:
        await api.start_stream(inputs="hi", model="m").response()
    assert "message.output.delta" in str(info.value)


async def test_http_error_raises_on_await(api: AsyncClient, scripted: ScriptedServer) -> None:
    scripted.reply(404, json.dumps({"message": "Conversation conv_x not found."}))
    stream = api.append_stream("conv_x", inputs="hi")
    with pytest.raises(NotFoundError, match="conv_x not found"):
        await stream


async def test_await_then_iterate(api: AsyncClient, scripted: ScriptedServer) -> None:
    stream_reply(scripted, started(), delta("x"), done())
    stream = await api.start_stream(inputs="hi", model="m")
    assert len(scripted.seen) == 1
    texts = [t async for t in stream.text_deltas()]
    assert texts == ["x"]


async def test_read_timeout_mid_stream(scripted: ScriptedServer) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(started())
        await asyncio.sleep(2)
        return response

    scripted.handle(handler)
    async with AsyncClient(
        "k", base_url=scripted.base_url, retry=RetryPolicy.disabled(), timeout=Timeout(read=0.2)
    ) as c:
        with pytest.raises(StreamInterruptedError) as info:
            await c.start_stream(inputs="hi", model="m").response()
    assert "read timeout" in str(info.value)
    assert info.value.partial is not None
    assert info.value.partial.conversation_id == "conv_1"


async def test_tool_executions_and_handoffs_add_up(
    api: AsyncClient, scripted: ScriptedServer
) -> None:
    def event(kind: str, index: int, **fields: Any) -> bytes:
        return sse({"type": kind, "created_at": T0, "output_index": index, **fields})

    stream_reply(
        scripted,
        started(),
        event(
            "tool.execution.started", 0, id="t1", name="web_search", arguments='{"q": ', model="m"
        ),
        event("tool.execution.delta", 0, id="t1", name="web_search", arguments='"cheese"}'),
        event("tool.execution.done", 0, id="t1", name="web_search", info={"hits": 2}),
        event(
            "agent.handoff.started",
            1,
            id="h1",
            previous_agent_id="ag_a",
            previous_agent_name="Router",
        ),
        event("agent.handoff.done", 1, id="h1", next_agent_id="ag_b", next_agent_name="Expert"),
        delta("Comté.", index=2, id="msg_9"),
        done(),
    )
    response = await api.start_stream(inputs="cheese?", model="m").response()
    execution, handoff, _message = response.outputs
    assert isinstance(execution, ToolExecutionEntry)
    assert (execution.id, execution.name, execution.arguments, execution.info) == (
        "t1",
        "web_search",
        '{"q": "cheese"}',
        {"hits": 2},
    )
    assert execution.model == "m"
    assert execution.completed_at is not None
    assert isinstance(handoff, AgentHandoffEntry)
    assert (handoff.previous_agent_name, handoff.next_agent_id, handoff.next_agent_name) == (
        "Router",
        "ag_b",
        "Expert",
    )
    assert response.output_text == "Comté."


async def test_partial_tool_execution_and_handoff_without_done(
    api: AsyncClient, scripted: ScriptedServer
) -> None:
    stream_reply(
        scripted,
        started(),
        sse(
            {
                "type": "tool.execution.delta",
                "created_at": T0,
                "output_index": 0,
                "id": "t1",
                "name": "code_interpreter",
                "arguments": "print(1)",
            }
        ),
        sse(
            {
                "type": "agent.handoff.started",
                "created_at": T0,
                "output_index": 1,
                "id": "h1",
                "previous_agent_id": "ag_a",
                "previous_agent_name": "Router",
            }
        ),
    )
    with pytest.raises(StreamInterruptedError) as info:
        await api.start_stream(inputs="run", model="m").response()
    partial = info.value.partial
    assert partial is not None
    execution, handoff = partial.outputs
    assert isinstance(execution, ToolExecutionEntry)
    assert (execution.arguments, execution.info, execution.completed_at) == ("print(1)", None, None)
    assert isinstance(handoff, AgentHandoffEntry)
    assert (handoff.next_agent_id, handoff.completed_at) == ("", None)


async def test_a_failed_connect_keeps_its_error(api: AsyncClient, scripted: ScriptedServer) -> None:
    scripted.reply(404, json.dumps({"message": "Conversation conv_x not found."}))
    stream = api.append_stream("conv_x", inputs="hi")
    with pytest.raises(NotFoundError):
        await stream
    with pytest.raises(NotFoundError):
        await stream.response()
    with pytest.raises(NotFoundError):
        await stream.__anext__()
    assert len(scripted.seen) == 1


async def test_a_closed_stream_never_passes_for_a_complete_one(
    local_server: LocalServer,
) -> None:
    local_server.stream_delay = 0.02
    async with AsyncClient(local_server.api_key, base_url=local_server.base_url) as client:
        async with client.start_stream(inputs="w " * 50, model="m") as stream:
            await stream.__anext__()
        with pytest.raises(StreamInterruptedError) as info:
            await stream.response()
    assert "closed before the response was complete" in str(info.value)
    assert info.value.partial is not None


async def test_closing_after_the_end_is_not_an_error(
    api: AsyncClient, scripted: ScriptedServer
) -> None:
    stream_reply(scripted, started(), delta("Hi"), done())
    async with api.start_stream(inputs="hi", model="m") as stream:
        events = [e async for e in stream]
    assert len(events) == 3
    assert (await stream.response()).output_text == "Hi"


async def test_closing_the_client_wakes_a_reader(local_server: LocalServer) -> None:
    local_server.stream_delay = 0.05
    client = AsyncClient(local_server.api_key, base_url=local_server.base_url)
    reading = asyncio.Event()

    async def read() -> None:
        async for _ in client.start_stream(inputs="w " * 200, model="m"):
            reading.set()

    task = asyncio.create_task(read())
    await reading.wait()
    await client.aclose()
    with pytest.raises(StreamInterruptedError, match="the client was closed"):
        await asyncio.wait_for(task, 2)


async def test_a_stream_longer_than_max_body_size_stops_with_what_arrived(
    scripted: ScriptedServer,
) -> None:
    # What a stream's events add up to is held until its end: max_body_size bounds it.
    parts = [started(), *(delta("word ") for _ in range(200)), done()]
    size = len(b"".join(parts))
    for limit in (size // 2, size):
        stream_reply(scripted, *parts)
        async with AsyncClient("k", base_url=scripted.base_url, max_body_size=limit) as client:
            stream = client.start_stream(inputs="hi", model="m")
            if limit == size:
                assert (await stream.response()).output_text == "word " * 200
                continue
            with pytest.raises(StreamDecodeError) as caught:
                await stream.response()
    assert str(caught.value) == (
        f"The stream grew past max_body_size ({size // 2:,} bytes) before its turn ended; "
        "reading stopped and the connection was closed. What arrived is in .partial. "
        "Raise AsyncClient(max_body_size=...), or pass None, if answers this long are "
        "expected."
    )
    partial = caught.value.partial
    assert partial is not None
    assert partial.output_text == "word " * (len(partial.output_text) // 5)
    assert len(partial.output_text) < 5 * 200
