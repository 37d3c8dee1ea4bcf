"""Fields the API adds after this release reach the user through extra_fields()."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from mistral_conversations import AsyncClient, RetryPolicy, converter, extra_fields, models

from . import strategies as s
from .scripted import ScriptedServer

NEW = {"reasoning_trace": {"steps": 3}, "served_by": "eu-1"}

RESPONSE: dict[str, Any] = {
    "object": "conversation.response",
    "conversation_id": "conv_1",
    "outputs": [
        {
            "object": "entry",
            "type": "message.output",
            "created_at": "2025-05-28T09:01:28.362436Z",
            "id": "msg_1",
            "role": "assistant",
            "content": [{"type": "text", "text": "Hi", "citations": [1]}],
            "safety": "ok",
        }
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2, "cached": 7},
    **NEW,
}


@pytest.fixture
async def api(scripted: ScriptedServer) -> AsyncIterator[AsyncClient]:
    async with AsyncClient("k", base_url=scripted.base_url, retry=RetryPolicy.disabled()) as c:
        yield c


async def test_every_level_of_an_answer_keeps_its_new_fields(
    api: AsyncClient, scripted: ScriptedServer
) -> None:
    scripted.reply(200, json.dumps(RESPONSE))
    reply = await api.start(inputs="hi", model="m")
    assert extra_fields(reply) == NEW
    (message,) = reply.outputs
    assert isinstance(message, models.MessageOutputEntry)
    assert extra_fields(message) == {"safety": "ok"}
    assert isinstance(message.content, list)
    assert extra_fields(message.content[0]) == {"citations": [1]}
    assert extra_fields(reply.usage) == {"cached": 7}


async def test_new_fields_change_neither_equality_nor_repr_nor_encoding(
    api: AsyncClient, scripted: ScriptedServer
) -> None:
    scripted.reply(200, json.dumps(RESPONSE))
    reply = await api.start(inputs="hi", model="m")
    plain = {k: v for k, v in RESPONSE.items() if k not in NEW}
    without = converter.structure(plain, models.ConversationResponse)
    assert extra_fields(without) == {}
    assert reply.usage == without.usage
    assert repr(reply.usage) == repr(without.usage)
    assert "reasoning_trace" not in converter.unstructure(reply)
    # The encoding is what the library knows: a reply sent back as input stays valid.
    assert "safety" not in converter.unstructure(reply.outputs[0])


async def test_stream_events_keep_their_new_fields(
    api: AsyncClient, scripted: ScriptedServer
) -> None:
    events = [
        {"type": "conversation.response.started", "conversation_id": "c", "region": "eu"},
        {"type": "message.output.delta", "id": "m", "content": "Hi", "logprobs": [-0.1]},
        {"type": "conversation.response.done", "usage": {"total_tokens": 2}, "latency_ms": 9},
    ]

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for event in events:
            line = f"event: {event['type']}\ndata: {json.dumps(event)}\n\n"
            await response.write(line.encode())
        await response.write_eof()
        return response

    scripted.handle(handler)
    seen = [extra_fields(event) async for event in api.start_stream(inputs="hi", model="m")]
    assert seen == [{"region": "eu"}, {"logprobs": [-0.1]}, {"latency_ms": 9}]


def test_a_model_built_by_hand_has_none() -> None:
    assert extra_fields(models.TextChunk(text="x")) == {}
    assert extra_fields(models.UnknownChunk(type="hologram", raw={"type": "hologram"})) == {}
    assert extra_fields("not a model") == {}


_new_keys = st.dictionaries(
    st.text(min_size=1, max_size=8).map(lambda k: "x_" + k), s.json_values, max_size=3
)


@given(data=s.conversation_response(), new=_new_keys)
def test_decoding_finds_exactly_the_fields_added(data: dict[str, Any], new: dict[str, Any]) -> None:
    reply = converter.structure({**data, **new}, models.ConversationResponse)
    assert extra_fields(reply) == new
    assert reply == converter.structure(data, models.ConversationResponse)


@given(data=s.event(), new=_new_keys)
def test_each_event_finds_exactly_the_fields_added(
    data: dict[str, Any], new: dict[str, Any]
) -> None:
    event = converter.structure({**data, **new}, models.ConversationEvent)
    assert extra_fields(event) == new
    assert event == converter.structure(data, models.ConversationEvent)
