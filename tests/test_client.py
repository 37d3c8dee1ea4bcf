"""Every non-streaming operation against the embedded server: the wire, and the answer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mistral_conversations import (
    AsyncClient,
    ConfigurationError,
    NotFoundError,
    __version__,
    converter,
)
from mistral_conversations.models import (
    AgentConversation,
    CompletionArgs,
    ConversationHistory,
    ConversationMessages,
    ConversationResponse,
    Function,
    FunctionCallEntry,
    FunctionResultEntry,
    FunctionTool,
    MessageInputEntry,
    MessageOutputEntry,
    ModelConversation,
    TextChunk,
)
from mistral_conversations.testing import LocalServer

from .spec import validate_request, validate_response

MODEL = "mistral-small-latest"


def last_request(server: LocalServer) -> Any:
    return server.requests[-1]


def assert_common_headers(request: Any, server: LocalServer) -> None:
    assert request.headers["authorization"] == f"Bearer {server.api_key}"
    assert request.headers["user-agent"] == f"mistral-conversations/{__version__}"
    assert request.headers["accept"] == "application/json"


async def test_start_sends_exactly_the_given_fields(
    client: AsyncClient, local_server: LocalServer
) -> None:
    reply = await client.start(
        inputs="Hello there",
        model=MODEL,
        instructions="Be brief.",
        completion_args={"temperature": 0.2, "stop": ["\n"]},
        metadata={"team": "a"},
        name="greeting",
    )
    request = last_request(local_server)
    assert (request.method, request.path) == ("POST", "/v1/conversations")
    assert request.headers["content-type"] == "application/json"
    assert_common_headers(request, local_server)
    assert request.json == {
        "inputs": "Hello there",
        "model": MODEL,
        "instructions": "Be brief.",
        "completion_args": {"temperature": 0.2, "stop": ["\n"]},
        "metadata": {"team": "a"},
        "name": "greeting",
        "stream": False,
    }
    validate_request(request.json, "/v1/conversations")
    assert isinstance(reply, ConversationResponse)
    assert reply.conversation_id.startswith("conv_")
    assert reply.output_text == "Echo: Hello there"
    [output] = reply.outputs
    assert isinstance(output, MessageOutputEntry)
    assert output.model == MODEL
    assert reply.usage.completion_tokens == 3


async def test_start_takes_models_and_dicts_alike(
    client: AsyncClient, local_server: LocalServer
) -> None:
    tool = FunctionTool(function=Function(name="weather", parameters={"type": "object"}))
    entries = [
        MessageInputEntry(role="user", content=[TextChunk(text="weather in Paris?")]),
    ]
    await client.start(
        inputs=entries, model=MODEL, tools=[tool], completion_args=CompletionArgs(max_tokens=5)
    )
    from_models = last_request(local_server).json
    await client.start(
        inputs=[{"role": "user", "content": [{"type": "text", "text": "weather in Paris?"}]}],
        model=MODEL,
        tools=[
            {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}
        ],
        completion_args={"max_tokens": 5},
    )
    from_dicts = last_request(local_server).json
    assert from_models["inputs"] == [
        {
            "object": "entry",
            "type": "message.input",
            "role": "user",
            "content": [{"type": "text", "text": "weather in Paris?"}],
        }
    ]
    assert from_models["tools"] == [
        {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}
    ]
    assert from_dicts["inputs"][0]["content"] == from_models["inputs"][0]["content"]
    assert from_dicts["tools"] == from_models["tools"]
    assert from_dicts["completion_args"] == from_models["completion_args"] == {"max_tokens": 5}
    validate_request(from_models, "/v1/conversations")


async def test_function_call_and_result_round(
    client: AsyncClient, local_server: LocalServer
) -> None:
    tool = {"type": "function", "function": {"name": "weather", "parameters": {}}}
    reply = await client.start(inputs="weather please", model=MODEL, tools=[tool])
    [call] = reply.outputs
    assert isinstance(call, FunctionCallEntry)
    assert call.name == "weather"
    result = FunctionResultEntry(tool_call_id=call.tool_call_id, result="sunny")
    answer = await client.append(reply.conversation_id, inputs=[result])
    assert answer.output_text == "Result: sunny"
    validate_request(last_request(local_server).json, "/v1/conversations/{conversation_id}")


async def test_bad_dict_input_raises_before_sending(
    client: AsyncClient, local_server: LocalServer
) -> None:
    before = len(local_server.requests)
    with pytest.raises(TypeError, match=r"inputs\[0\]"):
        await client.start(inputs=[{"rol": "user", "content": "hi"}], model=MODEL)
    with pytest.raises(TypeError, match="completion_args"):
        await client.start(inputs="hi", model=MODEL, completion_args={"temprature": 1})
    assert len(local_server.requests) == before


async def test_start_needs_model_or_agent(client: AsyncClient) -> None:
    from mistral_conversations import ConfigurationError

    with pytest.raises(ConfigurationError, match="model="):
        await client.start(inputs="hi")


async def test_get_list_delete(client: AsyncClient, local_server: LocalServer) -> None:
    first = await client.start(inputs="one", model=MODEL, metadata={"k": "x"})
    second = await client.start(inputs="two", model=MODEL, metadata={"k": "y"})

    conversation = await client.get(first.conversation_id)
    request = last_request(local_server)
    assert (request.method, request.path) == ("GET", f"/v1/conversations/{first.conversation_id}")
    assert_common_headers(request, local_server)
    assert isinstance(conversation, ModelConversation)
    assert conversation.id == first.conversation_id
    assert conversation.model == MODEL
    assert conversation.metadata == {"k": "x"}
    assert conversation.created_at.tzinfo is not None

    listed = await client.list()
    request = last_request(local_server)
    assert request.query == {"page": "0", "page_size": "100"}
    assert [c.id for c in listed] == [second.conversation_id, first.conversation_id]

    page = await client.list(page=1, page_size=1, metadata={"k": "x"})
    request = last_request(local_server)
    assert request.query == {"page": "1", "page_size": "1", "metadata": '{"k":"x"}'}
    assert page == []
    filtered = await client.list(metadata={"k": "x"})
    assert [c.id for c in filtered] == [first.conversation_id]

    assert await client.delete(first.conversation_id) is None
    request = last_request(local_server)
    assert (request.method, request.path) == (
        "DELETE",
        f"/v1/conversations/{first.conversation_id}",
    )
    with pytest.raises(NotFoundError, match=first.conversation_id):
        await client.get(first.conversation_id)


async def test_agent_conversation(client: AsyncClient) -> None:
    reply = await client.start(inputs="hello", agent_id="ag_123", agent_version=2)
    conversation = await client.get(reply.conversation_id)
    assert isinstance(conversation, AgentConversation)
    assert conversation.agent_id == "ag_123"


async def test_append_history_messages(client: AsyncClient, local_server: LocalServer) -> None:
    first = await client.start(inputs="one", model=MODEL)
    cid = first.conversation_id
    second = await client.append(cid, inputs="two", store=True, completion_args={"top_p": 0.5})
    request = last_request(local_server)
    assert (request.method, request.path) == ("POST", f"/v1/conversations/{cid}")
    assert request.json == {
        "inputs": "two",
        "store": True,
        "completion_args": {"top_p": 0.5},
        "stream": False,
    }
    validate_request(request.json, "/v1/conversations/{conversation_id}")
    assert second.conversation_id == cid
    assert second.output_text == "Echo: two"

    history = await client.get_history(cid)
    assert last_request(local_server).path == f"/v1/conversations/{cid}/history"
    assert isinstance(history, ConversationHistory)
    assert [type(e).__name__ for e in history.entries] == [
        "MessageInputEntry",
        "MessageOutputEntry",
        "MessageInputEntry",
        "MessageOutputEntry",
    ]
    assert [e.text for e in history.entries] == ["one", "Echo: one", "two", "Echo: two"]

    messages = await client.get_messages(cid)
    assert last_request(local_server).path == f"/v1/conversations/{cid}/messages"
    assert isinstance(messages, ConversationMessages)
    assert [m.text for m in messages.messages] == ["one", "Echo: one", "two", "Echo: two"]


async def test_restart_from_an_entry(client: AsyncClient, local_server: LocalServer) -> None:
    first = await client.start(inputs="one", model=MODEL)
    await client.append(first.conversation_id, inputs="two")
    history = await client.get_history(first.conversation_id)
    answer_to_one = history.entries[1]
    restarted = await client.restart(
        first.conversation_id, from_entry_id=answer_to_one.id, inputs="three", metadata={"v": 2}
    )
    request = last_request(local_server)
    assert request.path == f"/v1/conversations/{first.conversation_id}/restart"
    assert request.json == {
        "inputs": "three",
        "from_entry_id": answer_to_one.id,
        "metadata": {"v": 2},
        "stream": False,
    }
    validate_request(request.json, "/v1/conversations/{conversation_id}/restart")
    assert restarted.conversation_id != first.conversation_id
    assert restarted.output_text == "Echo: three"
    new_history = await client.get_history(restarted.conversation_id)
    assert [e.text for e in new_history.entries] == ["one", "Echo: one", "three", "Echo: three"]


async def test_answers_reencode_to_what_came(
    client: AsyncClient, local_server: LocalServer
) -> None:
    reply = await client.start(inputs="one", model=MODEL)
    body = converter.unstructure(reply)
    validate_response(body, "/v1/conversations", "post")
    history = await client.get_history(reply.conversation_id)
    validate_response(
        converter.unstructure(history), "/v1/conversations/{conversation_id}/history", "get"
    )
    listed = await client.list()
    validate_response(converter.unstructure(listed), "/v1/conversations", "get")


async def test_wrong_key_is_authentication_error(local_server: LocalServer) -> None:
    from mistral_conversations import AuthenticationError

    async with AsyncClient("wrong-key", base_url=local_server.base_url) as c:
        with pytest.raises(AuthenticationError) as info:
            await c.list()
    assert "wrong-key" not in str(info.value)
    assert "MISTRAL_API_KEY" in str(info.value)


def test_one_client_across_two_asyncio_runs(local_server: LocalServer) -> None:
    client = AsyncClient(local_server.api_key, base_url=local_server.base_url)

    async def turn(text: str) -> str:
        reply = await client.start(inputs=text, model=MODEL)
        return reply.output_text

    assert asyncio.run(turn("first")) == "Echo: first"
    assert asyncio.run(turn("second")) == "Echo: second"
    asyncio.run(client.aclose())


async def test_closed_client_refuses(local_server: LocalServer) -> None:
    client = AsyncClient(local_server.api_key, base_url=local_server.base_url)
    await client.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await client.list()


def test_unclosed_client_warns(local_server: LocalServer) -> None:
    async def use_and_forget() -> None:
        client = AsyncClient(local_server.api_key, base_url=local_server.base_url)
        await client.list()

    with pytest.warns(ResourceWarning, match=r"was never closed; use 'async with"):
        asyncio.run(use_and_forget())


async def test_per_call_headers(client: AsyncClient, local_server: LocalServer) -> None:
    await client.list(headers={"X-Trace": "abc"})
    assert last_request(local_server).headers["x-trace"] == "abc"


@pytest.mark.parametrize(
    ("headers", "says"),
    [
        (
            {"X-A": "a\nb"},
            "headers['X-A'] holds '\\n': a header's value has no line break or other "
            "control character",
        ),
        (
            {"X A": "b"},
            "headers has 'X A', which is not a header name: a name is letters, digits and "
            "!#$%&'*+-.^_`|~, with no space or colon",
        ),
        ({"X-A": 5}, "headers['X-A'] must be a str, not 5"),
        ("X-A: b", "headers must be a mapping of str to str, not 'X-A: b'"),
    ],
)
async def test_bad_headers_are_refused_before_anything_is_sent(
    client: AsyncClient, local_server: LocalServer, headers: Any, says: str
) -> None:
    # aiohttp raised a bare ValueError for the first and TypeError for the third, and
    # sent the second for the server to refuse.
    calls = [
        lambda: client.list(headers=headers),
        lambda: client.start(inputs="hi", model="m", headers=headers),
        lambda: client.start_stream(inputs="hi", model="m", headers=headers),
        lambda: AsyncClient("k", headers=headers),
    ]

    async def make(call: Any) -> None:
        made = call()  # a stream or a client: refused as it is made
        if asyncio.iscoroutine(made):
            await made

    for call in calls:
        with pytest.raises(ConfigurationError) as caught:
            await make(call)
        assert str(caught.value) == says
    assert local_server.requests == []


async def test_a_query_value_yarl_would_refuse_is_refused_by_name(
    client: AsyncClient, local_server: LocalServer
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        await client.list(extra_query={"beta": True})  # type: ignore[dict-item]
    assert str(caught.value) == (
        "extra_query['beta'] is True: a query parameter's name is a str, and its value a "
        "str (or a number)"
    )
    assert local_server.requests == []
    await client.list(extra_query={"beta": 3})  # type: ignore[dict-item]
    assert last_request(local_server).query["beta"] == "3"


async def test_metadata_must_be_a_mapping(client: AsyncClient) -> None:
    with pytest.raises(TypeError, match="metadata must be a mapping"):
        await client.list(metadata="k=v")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="page must be a non-negative int"):
        await client.list(page=-1)
