"""Answers the embedded server does not produce (tools, handoffs, chunks), scripted per request."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

import pytest

from mistral_conversations import AsyncClient, RetryPolicy, converter
from mistral_conversations.models import (
    AgentConversation,
    AgentHandoffEntry,
    FunctionCallEntry,
    MessageOutputEntry,
    ModelConversation,
    TextChunk,
    ToolExecutionEntry,
    ToolReferenceChunk,
    UnknownChunk,
    UnknownEntry,
)

from .scripted import ScriptedServer
from .spec import validate_response

T0 = "2025-05-28T09:01:28.362436Z"

RESPONSE: dict[str, Any] = {
    "object": "conversation.response",
    "conversation_id": "conv_rich",
    "outputs": [
        {
            "object": "entry",
            "type": "tool.execution",
            "created_at": T0,
            "completed_at": T0,
            "id": "tool_1",
            "name": "web_search",
            "arguments": '{"query": "cheese"}',
            "info": {"results": 3},
        },
        {
            "object": "entry",
            "type": "agent.handoff",
            "created_at": T0,
            "id": "ho_1",
            "previous_agent_id": "ag_a",
            "previous_agent_name": "Router",
            "next_agent_id": "ag_b",
            "next_agent_name": "Cheesemonger",
        },
        {
            "object": "entry",
            "type": "message.output",
            "created_at": T0,
            "id": "msg_1",
            "agent_id": "ag_b",
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Comté is "},
                {
                    "type": "tool_reference",
                    "tool": "web_search",
                    "title": "Comté",
                    "url": "https://x",
                },
                {"type": "text", "text": "old."},
                {"type": "hologram", "depth": 3},
            ],
        },
        {
            "object": "entry",
            "type": "function.call",
            "created_at": T0,
            "id": "fc_1",
            "tool_call_id": "call_1",
            "name": "order",
            "arguments": {"item": "comté"},
            "confirmation_status": "pending",
        },
        {"object": "entry", "type": "future.entry", "id": "x_1", "payload": [1, 2]},
    ],
    "usage": {
        "prompt_tokens": 10,
        "completion_tokens": 20,
        "total_tokens": 30,
        "connector_tokens": 5,
        "connectors": {"web_search": 1},
    },
}


@pytest.fixture
async def api(scripted: ScriptedServer) -> AsyncIterator[AsyncClient]:
    async with AsyncClient("k", base_url=scripted.base_url, retry=RetryPolicy.disabled()) as c:
        yield c


async def test_every_output_kind_decodes(api: AsyncClient, scripted: ScriptedServer) -> None:
    scripted.reply(200, json.dumps(RESPONSE))
    reply = await api.start(inputs="cheese?", agent_id="ag_a")
    execution, handoff, message, call, future = reply.outputs
    assert isinstance(execution, ToolExecutionEntry)
    assert (execution.name, execution.info) == ("web_search", {"results": 3})
    assert execution.completed_at == datetime(2025, 5, 28, 9, 1, 28, 362436, tzinfo=timezone.utc)
    assert isinstance(handoff, AgentHandoffEntry)
    assert handoff.next_agent_name == "Cheesemonger"
    assert isinstance(message, MessageOutputEntry)
    assert isinstance(message.content, list)
    assert isinstance(message.content[1], ToolReferenceChunk)
    assert message.content[3] == UnknownChunk(type="hologram", raw={"type": "hologram", "depth": 3})
    assert message.content[0] == TextChunk(text="Comté is ")
    assert isinstance(call, FunctionCallEntry)
    assert call.arguments == {"item": "comté"}
    assert call.confirmation_status == "pending"
    assert isinstance(future, UnknownEntry)
    assert reply.output_text == "Comté is old."
    assert reply.usage.connectors == {"web_search": 1}
    assert converter.unstructure(reply) == RESPONSE


async def test_list_decodes_model_and_agent_conversations(
    api: AsyncClient, scripted: ScriptedServer
) -> None:
    listed = [
        {
            "object": "conversation",
            "id": "conv_a",
            "created_at": T0,
            "updated_at": T0,
            "agent_id": "ag_1",
            "agent_version": 3,
        },
        {
            "object": "conversation",
            "id": "conv_m",
            "created_at": T0,
            "updated_at": T0,
            "model": "mistral-large-latest",
            "tools": [{"type": "web_search"}, {"type": "brand_new_tool", "x": 1}],
            "completion_args": {"temperature": 0.3, "tool_choice": "auto"},
            "new_server_field": "ignored",
        },
    ]
    scripted.reply(200, json.dumps(listed))
    conversations = await api.list()
    agent, model = conversations
    assert isinstance(agent, AgentConversation)
    assert agent.agent_version == 3
    assert isinstance(model, ModelConversation)
    assert model.tools is not None
    assert model.tools[1].type == "brand_new_tool"  # type: ignore[union-attr]
    validate_response(listed[:1], "/v1/conversations", "get")
    del listed[1]["new_server_field"]
    assert converter.unstructure(conversations) == listed


async def test_append_with_only_tool_confirmations(
    api: AsyncClient, scripted: ScriptedServer
) -> None:
    answer = {"conversation_id": "conv_1", "outputs": [], "usage": {}}
    scripted.reply(200, json.dumps(answer))
    reply = await api.append(
        "conv_1", tool_confirmations=[{"tool_call_id": "call_1", "confirmation": "allow"}]
    )
    assert json.loads(scripted.seen[0].body) == {
        "tool_confirmations": [{"tool_call_id": "call_1", "confirmation": "allow"}],
        "stream": False,
    }
    assert reply.outputs == []
