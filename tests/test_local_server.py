"""The local server answers as the spec shapes it, and keeps conversations as the API does.

Driven with plain aiohttp requests, not the library's client, so that what is checked
here is the wire: statuses, bodies validated against the spec's response schemas, and
server-sent events as they arrive.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest
import yaml

from mistral_conversations import AsyncClient
from mistral_conversations.testing import LocalServer

SPEC: dict[str, Any] = yaml.safe_load(
    (Path(__file__).parent / "conversations.openapi.yaml").read_text(encoding="utf-8")
)
KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def _validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        {**schema, "components": SPEC["components"]},
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def check_answer(path: str, method: str, status: int, body: Any) -> None:
    """Fail unless ``body`` is valid against the spec's schema for this answer."""
    response = SPEC["paths"][path][method]["responses"][str(status)]
    content = response["content"]
    schema = (content.get("application/json") or content["text/event-stream"])["schema"]
    _validator(schema).validate(body)


def check_schema(name: str, body: Any) -> None:
    """Fail unless ``body`` is valid against the spec's component schema ``name``."""
    _validator({"$ref": f"#/components/schemas/{name}"}).validate(body)


def parse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """``(event name, data)`` of each SSE block, checking the block's own shape."""
    events = []
    assert text.endswith("\n\n")
    for block in text.split("\n\n")[:-1]:
        lines = block.split("\n")
        assert len(lines) == 2, block
        assert lines[0].startswith("event: ")
        assert lines[1].startswith("data: ")
        events.append((lines[0][len("event: ") :], json.loads(lines[1][len("data: ") :])))
    return events


@pytest.fixture
async def server() -> AsyncIterator[LocalServer]:
    async with LocalServer(api_key=KEY) as started:
        yield started


@pytest.fixture
async def http(server: LocalServer) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(server.base_url, headers=AUTH) as session:
        yield session


async def call(
    http: aiohttp.ClientSession,
    method: str,
    path: str,
    body: Any = None,
    *,
    status: int = 200,
    spec_path: str | None = None,
    **kwargs: Any,
) -> Any:
    """Send one request, check its status and its body against the spec, return the JSON."""
    async with http.request(method, path, json=body, **kwargs) as response:
        text = await response.text()
        assert response.status == status, text
        uuid.UUID(response.headers["mistral-correlation-id"])
        if status == 204:
            assert text == ""
            return None
        assert response.content_type == "application/json"
        data = json.loads(text)
    if spec_path is not None:
        check_answer(spec_path, method.lower(), status, data)
    return data


async def start(http: aiohttp.ClientSession, **body: Any) -> dict[str, Any]:
    body.setdefault("inputs", "hello world")
    if "agent_id" not in body:
        body.setdefault("model", "mistral-small-latest")
    answer: dict[str, Any] = await call(
        http, "POST", "/v1/conversations", body, spec_path="/v1/conversations"
    )
    return answer


CONVERSATION = "/v1/conversations/{conversation_id}"


async def get(http: aiohttp.ClientSession, conversation_id: str, suffix: str = "") -> Any:
    return await call(
        http,
        "GET",
        f"/v1/conversations/{conversation_id}{suffix}",
        spec_path=CONVERSATION + suffix,
    )


async def append(http: aiohttp.ClientSession, conversation_id: str, **body: Any) -> Any:
    return await call(
        http, "POST", f"/v1/conversations/{conversation_id}", body, spec_path=CONVERSATION
    )


async def restart(http: aiohttp.ClientSession, conversation_id: str, **body: Any) -> Any:
    return await call(
        http,
        "POST",
        f"/v1/conversations/{conversation_id}/restart",
        body,
        spec_path=CONVERSATION + "/restart",
    )


async def stream(
    http: aiohttp.ClientSession, path: str, body: dict[str, Any], spec_path: str
) -> tuple[list[tuple[str, dict[str, Any]]], int]:
    """The events of a streamed answer, each checked against the spec; and how many reads."""
    async with http.post(path, json={**body, "stream": True}) as response:
        assert response.status == 200, await response.text()
        assert response.content_type == "text/event-stream"
        uuid.UUID(response.headers["mistral-correlation-id"])
        chunks = [chunk async for chunk in response.content.iter_any()]
    events = parse_events(b"".join(chunks).decode())
    for name, data in events:
        check_answer(spec_path, "post", 200, {"event": name, "data": data})
        assert data["type"] == name
        assert TIMESTAMP.match(data["created_at"])
    return events, len(chunks)


# -- start, get, append ------------------------------------------------------------


async def test_start_answers_an_echo_with_usage(http: aiohttp.ClientSession) -> None:
    answer = await start(http, inputs="hello big world", metadata={"team": "a"})
    assert re.fullmatch(r"conv_[0-9a-f]{32}", answer["conversation_id"])
    [output] = answer["outputs"]
    assert output["type"] == "message.output"
    assert output["content"] == "Echo: hello big world"
    assert output["model"] == "mistral-small-latest"
    assert output["agent_id"] is None
    assert TIMESTAMP.match(output["created_at"])
    usage = answer["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (3, 4, 7)


async def test_text_chunks_are_joined_for_the_echo(http: aiohttp.ClientSession) -> None:
    content = [{"type": "text", "text": "one "}, {"type": "text", "text": "two"}]
    answer = await start(http, inputs=[{"role": "user", "content": content}])
    assert answer["outputs"][0]["content"] == "Echo: one two"


async def test_model_conversation_object(http: aiohttp.ClientSession) -> None:
    answer = await start(
        http,
        instructions="Be brief.",
        tools=[WEATHER_TOOL],
        name="n",
        description="d",
        metadata={"k": 1},
    )
    conversation = await get(http, answer["conversation_id"])
    check_schema("ModelConversation", conversation)
    assert conversation["id"] == answer["conversation_id"]
    assert conversation["object"] == "conversation"
    assert conversation["model"] == "mistral-small-latest"
    assert conversation["instructions"] == "Be brief."
    assert conversation["tools"] == [WEATHER_TOOL]
    assert (conversation["name"], conversation["description"]) == ("n", "d")
    assert conversation["metadata"] == {"k": 1}
    assert TIMESTAMP.match(conversation["created_at"])
    assert conversation["created_at"] == conversation["updated_at"]


async def test_agent_conversation_object_and_outputs(http: aiohttp.ClientSession) -> None:
    answer = await start(http, agent_id="ag_123", agent_version=2)
    [output] = answer["outputs"]
    assert output["agent_id"] == "ag_123"
    assert output["model"] is None
    conversation = await get(http, answer["conversation_id"])
    check_schema("AgentConversation", conversation)
    assert conversation["agent_id"] == "ag_123"
    assert conversation["agent_version"] == 2
    assert "model" not in conversation


@pytest.mark.parametrize(
    ("fields", "says"),
    [({}, "neither"), ({"model": "m", "agent_id": "a"}, "not both")],
)
async def test_start_needs_exactly_one_of_model_or_agent(
    http: aiohttp.ClientSession, fields: dict[str, Any], says: str
) -> None:
    error = await call(
        http,
        "POST",
        "/v1/conversations",
        {"inputs": "hi", **fields},
        status=422,
        spec_path="/v1/conversations",
    )
    [detail] = error["detail"]
    assert detail["loc"] == ["body"]
    assert "model" in detail["msg"]
    assert "agent_id" in detail["msg"]
    assert says in detail["msg"]


async def test_append_extends_history_and_moves_updated_at(http: aiohttp.ClientSession) -> None:
    first = await start(http, inputs="one two")
    conversation_id = first["conversation_id"]
    before = await get(http, conversation_id)
    second = await append(http, conversation_id, inputs="three")
    assert second["conversation_id"] == conversation_id
    assert second["outputs"][0]["content"] == "Echo: three"
    # The prompt is every input of the conversation so far: "one two" and "three".
    assert second["usage"]["prompt_tokens"] == 3
    after = await get(http, conversation_id)
    assert after["updated_at"] > before["updated_at"]
    assert after["created_at"] == before["created_at"]

    history = await get(http, conversation_id, "/history")
    assert history["conversation_id"] == conversation_id
    entries = history["entries"]
    assert [(e["type"], e.get("content")) for e in entries] == [
        ("message.input", "one two"),
        ("message.output", "Echo: one two"),
        ("message.input", "three"),
        ("message.output", "Echo: three"),
    ]
    assert entries[1]["id"] == first["outputs"][0]["id"]
    assert entries[3]["id"] == second["outputs"][0]["id"]
    assert len({e["id"] for e in entries}) == 4
    assert all(TIMESTAMP.match(e["created_at"]) for e in entries)


async def test_function_call_then_result(http: aiohttp.ClientSession) -> None:
    answer = await start(http, inputs="use get_weather for Paris", tools=[WEATHER_TOOL])
    [call_entry] = answer["outputs"]
    assert call_entry["type"] == "function.call"
    assert call_entry["name"] == "get_weather"
    assert re.fullmatch(r"call_[0-9a-f]+", call_entry["tool_call_id"])
    assert json.loads(call_entry["arguments"]) == {"text": "use get_weather for Paris"}

    conversation_id = answer["conversation_id"]
    result = {"type": "function.result", "tool_call_id": call_entry["tool_call_id"]}
    reply = await append(http, conversation_id, inputs=[{**result, "result": "sunny, 21C"}])
    assert reply["outputs"][0]["type"] == "message.output"
    assert reply["outputs"][0]["content"] == "Result: sunny, 21C"

    # A word that merely contains the tool's name does not call it.
    plain = await append(http, conversation_id, inputs="get_weathering")
    assert plain["outputs"][0]["content"] == "Echo: get_weathering"

    history = await get(http, conversation_id, "/history")
    assert [e["type"] for e in history["entries"]] == [
        "message.input",
        "function.call",
        "function.result",
        "message.output",
        "message.input",
        "message.output",
    ]
    messages = await get(http, conversation_id, "/messages")
    assert messages["conversation_id"] == conversation_id
    assert [e["content"] for e in messages["messages"]] == [
        "use get_weather for Paris",
        "Result: sunny, 21C",
        "get_weathering",
        "Echo: get_weathering",
    ]


async def test_append_without_inputs_answers_the_history(http: aiohttp.ClientSession) -> None:
    answer = await start(http, inputs="again")
    reply = await append(http, answer["conversation_id"])
    assert reply["outputs"][0]["content"] == "Echo: again"


MAIL_CONNECTOR = {
    "type": "connector",
    "connector_id": "mail",
    "tool_configuration": {"requires_confirmation": ["send_email"]},
}


async def test_several_calls_and_a_held_one_are_shaped_as_the_spec_says(
    http: aiohttp.ClientSession,
) -> None:
    answer = await start(
        http,
        inputs='get_weather({"city": "Paris"}), then send_email(to=bob)',
        tools=[WEATHER_TOOL, MAIL_CONNECTOR],
    )
    weather, mail = answer["outputs"]
    assert (weather["name"], weather["arguments"]) == ("get_weather", '{"city": "Paris"}')
    assert "confirmation_status" not in weather
    assert (mail["name"], mail["arguments"]) == ("send_email", '{"to": "bob"}')
    assert mail["confirmation_status"] == "pending"
    conversation_id = answer["conversation_id"]
    events, _ = await stream(
        http,
        f"/v1/conversations/{conversation_id}",
        {"tool_confirmations": [{"tool_call_id": mail["tool_call_id"], "confirmation": "allow"}]},
        CONVERSATION + "#stream",
    )
    assert [name for name, _ in events] == [
        "conversation.response.started",
        "tool.execution.started",
        "tool.execution.done",
        *["message.output.delta"] * 3,
        "conversation.response.done",
    ]
    started, done = events[1][1], events[2][1]
    assert (started["output_index"], done["output_index"]) == (0, 0)
    assert (started["name"], started["arguments"]) == ("send_email", '{"to": "bob"}')
    assert done["info"] == {"tool_call_id": mail["tool_call_id"], "result": "done"}
    assert {data["output_index"] for _, data in events[3:6]} == {1}
    assert "".join(data["content"] for _, data in events[3:6]) == 'Done: send_email({"to": "bob"})'
    history = await get(http, conversation_id, "/history")
    assert [e["type"] for e in history["entries"]] == [
        "message.input",
        "function.call",
        "function.call",
        "tool.execution",
        "message.output",
    ]
    assert history["entries"][2]["confirmation_status"] == "allowed"
    assert history["entries"][3]["id"] == started["id"]


async def test_unsettled_confirmations_are_422(http: aiohttp.ClientSession) -> None:
    answer = await start(http, inputs="send_email now", tools=[MAIL_CONNECTOR])
    error = await call(
        http,
        "POST",
        f"/v1/conversations/{answer['conversation_id']}",
        {"inputs": "hello?"},
        status=422,
        spec_path=CONVERSATION,
    )
    [detail] = error["detail"]
    assert detail["loc"] == ["body", "tool_confirmations"]
    assert detail["input"] is None


# -- list, delete ------------------------------------------------------------------


async def test_list_pages_newest_first_and_filters_by_metadata(
    http: aiohttp.ClientSession,
) -> None:
    ids = []
    for index in range(5):
        answer = await start(http, metadata={"n": index, "parity": index % 2})
        ids.append(answer["conversation_id"])
    ids.reverse()

    async def listed(**query: Any) -> list[str]:
        found = await call(
            http, "GET", "/v1/conversations", params=query, spec_path="/v1/conversations"
        )
        return [c["id"] for c in found]

    assert await listed() == ids
    assert await listed(page=0, page_size=2) == ids[:2]
    assert await listed(page=1, page_size=2) == ids[2:4]
    assert await listed(page=2, page_size=2) == ids[4:]
    assert await listed(page=3, page_size=2) == []
    assert await listed(metadata=json.dumps({"parity": 0})) == [ids[0], ids[2], ids[4]]
    assert await listed(metadata=json.dumps({"parity": 1, "n": 3})) == [ids[1]]
    assert await listed(metadata=json.dumps({"absent": 1})) == []
    assert await listed(metadata="null") == ids


async def test_list_takes_the_official_sdks_unset_metadata_as_no_filter(
    http: aiohttp.ClientSession,
) -> None:
    # mistralai 3.x sends this when list() is called without metadata.
    first = (await start(http, metadata={"team": "a"}))["conversation_id"]
    second = (await start(http))["conversation_id"]
    found = await call(
        http,
        "GET",
        "/v1/conversations",
        params={"page": "0", "page_size": "100", "metadata": "~?~unset~?~sentinel~?~"},
        spec_path="/v1/conversations",
    )
    assert [c["id"] for c in found] == [second, first]
    # Anything else that is not JSON is still refused.
    error = await call(
        http,
        "GET",
        "/v1/conversations",
        params={"metadata": "~?~unset~?~"},
        status=422,
        spec_path="/v1/conversations",
    )
    assert [d["loc"] for d in error["detail"]] == [["query", "metadata"]]


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ({"page": "x"}, ["query", "page"]),
        ({"page_size": "-1"}, ["query", "page_size"]),
        ({"metadata": "{not json"}, ["query", "metadata"]),
        ({"metadata": "[1]"}, ["query", "metadata"]),
    ],
)
async def test_list_rejects_bad_query(
    http: aiohttp.ClientSession, query: dict[str, str], loc: list[str]
) -> None:
    error = await call(
        http, "GET", "/v1/conversations", params=query, status=422, spec_path="/v1/conversations"
    )
    assert [d["loc"] for d in error["detail"]] == [loc]


async def test_delete_then_not_found(http: aiohttp.ClientSession) -> None:
    conversation_id = (await start(http))["conversation_id"]
    await call(http, "DELETE", f"/v1/conversations/{conversation_id}", status=204)
    error = await call(http, "GET", f"/v1/conversations/{conversation_id}", status=404)
    assert error == {
        "object": "error",
        "message": f"Conversation {conversation_id} not found.",
        "type": "not_found",
        "code": 3000,
    }
    await call(http, "DELETE", f"/v1/conversations/{conversation_id}", status=404)
    assert conversation_id not in [c["id"] for c in await call(http, "GET", "/v1/conversations")]


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("DELETE", "", None),
        ("POST", "", {"inputs": "hi"}),
        ("GET", "/history", None),
        ("GET", "/messages", None),
        ("POST", "/restart", {"from_entry_id": "msg_1"}),
    ],
)
async def test_unknown_conversation_is_404(
    http: aiohttp.ClientSession, method: str, suffix: str, body: Any
) -> None:
    error = await call(http, method, f"/v1/conversations/conv_nope{suffix}", body, status=404)
    assert error["message"] == "Conversation conv_nope not found."
    assert error["type"] == "not_found"


# -- auth and validation -----------------------------------------------------------


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", KEY])
async def test_unauthorized(server: LocalServer, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with (
        aiohttp.ClientSession(server.base_url) as session,
        session.get("/v1/conversations", headers=headers) as response,
    ):
        assert response.status == 401
        body = await response.json()
    assert body == {"message": "Unauthorized", "request_id": body["request_id"]}
    assert body["request_id"] == response.headers["mistral-correlation-id"]
    assert server.processed == {}


@pytest.mark.parametrize(
    ("raw", "loc", "kind"),
    [
        (b"{not json", ["body"], "json_invalid"),
        (b"", ["body"], "missing"),
        (b"[1, 2]", ["body"], "model_attributes_type"),
        (b'{"model": "m"}', ["body", "inputs"], "missing"),
        (b'{"model": "m", "inputs": "hi", "surprise": 1}', ["body"], None),
        (b'{"model": "m", "inputs": [{"role": "user"}]}', ["body", "inputs", 0, "content"], None),
        (b'{"model": "m", "inputs": "hi", "store": "yes"}', ["body", "store"], None),
    ],
)
async def test_invalid_start_bodies_are_422(
    server: LocalServer,
    http: aiohttp.ClientSession,
    raw: bytes,
    loc: list[str | int],
    kind: str | None,
) -> None:
    error = await call(
        http,
        "POST",
        "/v1/conversations",
        data=raw,
        headers={"Content-Type": "application/json"},
        status=422,
        spec_path="/v1/conversations",
    )
    assert error["detail"][0]["loc"] == loc
    assert error["detail"][0]["msg"]
    if b"surprise" in raw:
        assert "surprise" in error["detail"][0]["msg"]
    if kind is not None:
        assert error["detail"][0]["type"] == kind
    assert server.processed == {}
    assert await call(http, "GET", "/v1/conversations") == []


async def test_invalid_append_body_is_422(http: aiohttp.ClientSession) -> None:
    conversation_id = (await start(http))["conversation_id"]
    error = await call(
        http,
        "POST",
        f"/v1/conversations/{conversation_id}",
        {"inputs": "hi", "model": "m"},
        status=422,
        spec_path=CONVERSATION,
    )
    assert "'model'" in error["detail"][0]["msg"]
    assert len((await get(http, conversation_id, "/history"))["entries"]) == 2


async def test_unknown_route_and_method(http: aiohttp.ClientSession) -> None:
    assert await call(http, "GET", "/v1/nothing", status=404) == {"detail": "Not Found"}
    error = await call(http, "PUT", "/v1/conversations", status=405)
    assert error == {"detail": "Method Not Allowed"}


# -- restart -----------------------------------------------------------------------


async def test_restart_branches_a_new_conversation(http: aiohttp.ClientSession) -> None:
    first = await start(
        http, inputs="alpha", tools=[WEATHER_TOOL], instructions="i", metadata={"v": 1}
    )
    old_id = first["conversation_id"]
    await append(http, old_id, inputs="beta")
    old_history = (await get(http, old_id, "/history"))["entries"]
    kept = old_history[:2]

    answer = await restart(
        http, old_id, from_entry_id=kept[-1]["id"], inputs="gamma", metadata={"v": 2}
    )
    new_id = answer["conversation_id"]
    assert new_id != old_id
    assert answer["outputs"][0]["content"] == "Echo: gamma"

    new_history = (await get(http, new_id, "/history"))["entries"]
    assert new_history[:2] == kept
    assert [e.get("content") for e in new_history[2:]] == ["gamma", "Echo: gamma"]
    assert new_history[3]["id"] == answer["outputs"][0]["id"]
    assert (await get(http, old_id, "/history"))["entries"] == old_history

    new = await get(http, new_id)
    old = await get(http, old_id)
    assert new["metadata"] == {"v": 2}
    assert old["metadata"] == {"v": 1}
    for field in ("model", "instructions", "tools", "completion_args"):
        assert new[field] == old[field]
    # The tools came along: they still decide the answers of the new conversation.
    call_answer = await append(http, new_id, inputs="get_weather please")
    assert call_answer["outputs"][0]["type"] == "function.call"


async def test_restart_without_inputs_regenerates(http: aiohttp.ClientSession) -> None:
    answer = await start(http, inputs="again", metadata={"keep": True})
    history = (await get(http, answer["conversation_id"], "/history"))["entries"]
    redo = await restart(http, answer["conversation_id"], from_entry_id=history[0]["id"])
    assert redo["outputs"][0]["content"] == "Echo: again"
    assert redo["usage"]["prompt_tokens"] == 1
    new = await get(http, redo["conversation_id"])
    assert new["metadata"] == {"keep": True}
    assert len((await get(http, redo["conversation_id"], "/history"))["entries"]) == 2


async def test_restart_from_a_foreign_entry_is_422(http: aiohttp.ClientSession) -> None:
    conversation_id = (await start(http))["conversation_id"]
    error = await call(
        http,
        "POST",
        f"/v1/conversations/{conversation_id}/restart",
        {"from_entry_id": "msg_elsewhere"},
        status=422,
        spec_path=CONVERSATION + "/restart",
    )
    [detail] = error["detail"]
    assert detail["loc"] == ["body", "from_entry_id"]
    assert "msg_elsewhere" in detail["msg"]
    assert conversation_id in detail["msg"]


# -- store: false ------------------------------------------------------------------


async def test_store_false_start_answers_but_keeps_nothing(http: aiohttp.ClientSession) -> None:
    answer = await start(http, store=False)
    assert answer["outputs"][0]["content"] == "Echo: hello world"
    await call(http, "GET", f"/v1/conversations/{answer['conversation_id']}", status=404)
    assert await call(http, "GET", "/v1/conversations") == []


async def test_store_false_append_and_restart_keep_nothing(http: aiohttp.ClientSession) -> None:
    answer = await start(http)
    conversation_id = answer["conversation_id"]
    history = await get(http, conversation_id, "/history")
    before = await get(http, conversation_id)
    reply = await append(http, conversation_id, inputs="more", store=False)
    assert reply["outputs"][0]["content"] == "Echo: more"
    assert await get(http, conversation_id, "/history") == history
    assert await get(http, conversation_id) == before
    branch = await restart(
        http, conversation_id, from_entry_id=history["entries"][0]["id"], store=False
    )
    await call(http, "GET", f"/v1/conversations/{branch['conversation_id']}", status=404)
    assert len(await call(http, "GET", "/v1/conversations")) == 1


# -- streaming ---------------------------------------------------------------------


async def test_stream_start_is_the_same_turn_as_json(http: aiohttp.ClientSession) -> None:
    text = "the quick  brown\tfox "
    events, _ = await stream(
        http,
        "/v1/conversations",
        {"inputs": text, "model": "m"},
        "/v1/conversations#stream",
    )
    names = [name for name, _ in events]
    assert names[0] == "conversation.response.started"
    assert names[-1] == "conversation.response.done"
    assert set(names[1:-1]) == {"message.output.delta"}
    conversation_id = events[0][1]["conversation_id"]

    deltas = [data for name, data in events if name == "message.output.delta"]
    assert len(deltas) == len(("Echo: " + text).split())
    assert {(d["id"], d["output_index"], d["content_index"], d["model"]) for d in deltas} == {
        (deltas[0]["id"], 0, 0, "m")
    }
    joined = "".join(d["content"] for d in deltas)
    assert joined == "Echo: " + text

    # What was stored is what was streamed: same entry id, same text, same usage.
    entries = (await get(http, conversation_id, "/history"))["entries"]
    assert entries[-1]["id"] == deltas[0]["id"]
    assert entries[-1]["content"] == joined
    usage = events[-1][1]["usage"]
    assert usage["prompt_tokens"] == 4
    assert usage["completion_tokens"] == 5
    assert usage["total_tokens"] == 9


async def test_stream_events_arrive_in_separate_writes() -> None:
    async with (
        LocalServer(api_key=KEY, stream_delay=0.02) as server,
        aiohttp.ClientSession(server.base_url, headers=AUTH) as http,
    ):
        events, reads = await stream(
            http,
            "/v1/conversations",
            {"inputs": "one two three", "model": "m"},
            "/v1/conversations#stream",
        )
    assert len(events) == 6
    # One read per event; one pair may still arrive together on a busy machine.
    assert reads >= len(events) - 1


async def test_stream_function_call(http: aiohttp.ClientSession) -> None:
    text = "call get_weather for the city of Paris, please"
    events, _ = await stream(
        http,
        "/v1/conversations",
        {"inputs": text, "model": "m", "tools": [WEATHER_TOOL]},
        "/v1/conversations#stream",
    )
    deltas = [data for name, data in events if name == "function.call.delta"]
    assert len(deltas) > 1
    assert len(deltas) == len(events) - 2
    assert {(d["id"], d["name"], d["tool_call_id"]) for d in deltas} == {
        (deltas[0]["id"], "get_weather", deltas[0]["tool_call_id"])
    }
    arguments = "".join(d["arguments"] for d in deltas)
    assert json.loads(arguments) == {"text": text}
    entries = (await get(http, events[0][1]["conversation_id"], "/history"))["entries"]
    assert entries[-1]["arguments"] == arguments
    assert entries[-1]["tool_call_id"] == deltas[0]["tool_call_id"]


async def test_stream_append_and_restart(http: aiohttp.ClientSession) -> None:
    answer = await start(http, agent_id="ag_1")
    conversation_id = answer["conversation_id"]
    events, _ = await stream(
        http, f"/v1/conversations/{conversation_id}", {"inputs": "next"}, CONVERSATION + "#stream"
    )
    assert events[0][1]["conversation_id"] == conversation_id
    assert {d["agent_id"] for n, d in events if n == "message.output.delta"} == {"ag_1"}
    assert "".join(d["content"] for n, d in events if n == "message.output.delta") == "Echo: next"

    first_entry = (await get(http, conversation_id, "/history"))["entries"][0]["id"]
    events, _ = await stream(
        http,
        f"/v1/conversations/{conversation_id}/restart",
        {"from_entry_id": first_entry, "inputs": "other"},
        CONVERSATION + "/restart#stream",
    )
    new_id = events[0][1]["conversation_id"]
    assert new_id != conversation_id
    history = (await get(http, new_id, "/history"))["entries"]
    assert [e["content"] for e in history] == ["hello world", "other", "Echo: other"]


async def test_client_leaving_a_stream_is_counted() -> None:
    async with (
        LocalServer(api_key=KEY, stream_delay=0.02) as server,
        aiohttp.ClientSession(server.base_url, headers=AUTH) as http,
    ):
        body = {"inputs": "many words to stream out slowly here", "model": "m", "stream": True}
        async with http.post("/v1/conversations", json=body) as response:
            await response.content.readuntil(b"\n\n")
            response.close()
        assert server.disconnects == 0
        for _ in range(100):
            if server.disconnects:
                break
            await asyncio.sleep(0.01)
        assert server.disconnects == 1
        # Leaving the stream does not undo the turn.
        assert len(await call(http, "GET", "/v1/conversations")) == 1


# -- recording ---------------------------------------------------------------------


async def test_requests_are_recorded_and_processing_counted(
    server: LocalServer, http: aiohttp.ClientSession
) -> None:
    answer = await start(http, inputs="hi")
    conversation_id = answer["conversation_id"]
    await call(
        http, "GET", "/v1/conversations", params={"page_size": "3"}, headers={"X-Trace": "t1"}
    )
    await call(http, "GET", "/v1/conversations/conv_missing", status=404)

    first, second, third = server.requests
    assert (first.method, first.path, first.query) == ("POST", "/v1/conversations", {})
    assert first.json == {"inputs": "hi", "model": "mistral-small-latest"}
    assert json.loads(first.body) == first.json
    assert first.headers["authorization"] == f"Bearer {KEY}"
    assert (second.method, second.query, second.body, second.json) == (
        "GET",
        {"page_size": "3"},
        b"",
        None,
    )
    assert second.headers["x-trace"] == "t1"
    assert first.received_at <= second.received_at <= third.received_at
    assert server.processed == {
        ("POST", "/v1/conversations"): 1,
        ("GET", "/v1/conversations"): 1,
    }
    await call(http, "GET", f"/v1/conversations/{conversation_id}")
    assert server.processed["GET", f"/v1/conversations/{conversation_id}"] == 1

    server.reset()
    assert server.requests == []
    assert server.processed == {}
    await call(http, "GET", f"/v1/conversations/{conversation_id}", status=404)


# -- lifecycle ---------------------------------------------------------------------


def _can_connect(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_run_in_thread_serves_sync_code_and_leaves_nothing_behind() -> None:
    threads_before = set(threading.enumerate())
    server = LocalServer(api_key="k")
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.base_url
    with server.run_in_thread() as running:
        assert running is server
        assert server.base_url == f"http://127.0.0.1:{server.port}"
        assert server.port > 0
        assert _can_connect(server.port)
        assert len(set(threading.enumerate()) - threads_before) == 1

        async def list_conversations() -> int:
            async with (
                aiohttp.ClientSession(headers={"Authorization": "Bearer k"}) as session,
                session.get(server.base_url + "/v1/conversations") as response,
            ):
                return response.status

        assert asyncio.run(list_conversations()) == 200
    assert set(threading.enumerate()) == threads_before
    assert not _can_connect(server.port)
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.base_url


def test_run_in_thread_reports_a_failed_start() -> None:
    threads_before = set(threading.enumerate())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = LocalServer(port=taken.getsockname()[1])
        with pytest.raises(OSError, match="in use"), server.run_in_thread():
            pytest.fail("the server should not have started")
    assert set(threading.enumerate()) == threads_before


async def test_start_twice_is_an_error(server: LocalServer) -> None:
    with pytest.raises(RuntimeError, match="already running"):
        await server.start()


async def test_make_app_serves_the_same_state(server: LocalServer) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    async with TestClient(TestServer(server.make_app())) as client:
        response = await client.post(
            "/v1/conversations", json={"inputs": "x", "model": "m"}, headers=AUTH
        )
        assert response.status == 200
        conversation_id = (await response.json())["conversation_id"]
    async with aiohttp.ClientSession(server.base_url, headers=AUTH) as http:
        await get(http, conversation_id)


def test_fixture_serves_sync_tests(local_server: LocalServer) -> None:
    assert _can_connect(local_server.port)
    assert local_server.api_key == "test-key"


async def test_fixture_serves_async_tests(local_server: LocalServer) -> None:
    async with aiohttp.ClientSession(
        local_server.base_url, headers={"Authorization": f"Bearer {local_server.api_key}"}
    ) as http:
        answer = await start(http)
    assert local_server.processed == {("POST", "/v1/conversations"): 1}
    assert answer["outputs"][0]["content"] == "Echo: hello world"


# -- faults ------------------------------------------------------------------------


async def test_fail_next_answers_errors_without_processing(
    server: LocalServer, http: aiohttp.ClientSession
) -> None:
    server.fail_next(2, status=503, retry_after="3", headers={"retry-after-ms": "3000"})
    for _ in range(2):
        async with http.post("/v1/conversations", json={"inputs": "x", "model": "m"}) as response:
            assert response.status == 503
            assert response.headers["Retry-After"] == "3"
            assert response.headers["retry-after-ms"] == "3000"
            uuid.UUID(response.headers["mistral-correlation-id"])
            body = await response.json()
        assert body["code"] == 503
        assert "Service Unavailable" in body["message"]
    assert server.processed == {}
    await start(http)
    assert server.processed == {("POST", "/v1/conversations"): 1}
    assert len(server.requests) == 3
    assert server.faults.pending == 0


@pytest.mark.parametrize(
    ("retry_after", "header"),
    [
        (3, "3"),
        (0, "0"),
        (2.0, "2"),
        (0.25, "0.25"),
        (1e-05, "0.00001"),
        ("3", "3"),
        ("Wed, 21 Oct 2015 07:28:00 GMT", "Wed, 21 Oct 2015 07:28:00 GMT"),
    ],
)
async def test_retry_after_is_a_number_of_seconds_or_a_string(
    server: LocalServer, http: aiohttp.ClientSession, retry_after: str | float, header: str
) -> None:
    server.fail_next(retry_after=retry_after)
    server.fail_fraction(1.0, statuses=[429], retry_after=retry_after, methods=["GET"])
    for method in ("POST", "GET"):
        async with http.request(method, "/v1/conversations", json={}) as response:
            assert response.status in (503, 429)
            assert response.headers["Retry-After"] == header


def test_retry_after_must_be_seconds() -> None:
    server = LocalServer()
    with pytest.raises(ValueError, match="0 seconds or more"):
        server.fail_next(retry_after=-1)
    with pytest.raises(ValueError, match="0 seconds or more"):
        server.fail_next(retry_after=float("nan"))
    with pytest.raises(TypeError, match="number of seconds or a string"):
        server.fail_next(retry_after=True)
    assert server.faults.pending == 0


async def test_faults_pick_requests_by_method_and_path(
    server: LocalServer, http: aiohttp.ClientSession
) -> None:
    server.fail_next(1, status=429, methods=["POST"], paths=["/v1/conversations/*"])
    conversation_id = (await start(http))["conversation_id"]
    await get(http, conversation_id)
    path = f"/v1/conversations/{conversation_id}"
    await call(http, "POST", path, {"inputs": "a"}, status=429)
    await call(http, "POST", path, {"inputs": "a"})


async def test_fail_fraction_is_repeatable_with_a_seed() -> None:
    async def statuses(p: float) -> list[int]:
        async with (
            LocalServer(api_key=KEY) as server,
            aiohttp.ClientSession(server.base_url, headers=AUTH) as http,
        ):
            server.fail_fraction(p, statuses=(500, 502), seed=7)
            found = []
            for _ in range(30):
                async with http.get("/v1/conversations") as response:
                    found.append(response.status)
            server.faults.clear()
            async with http.get("/v1/conversations") as response:
                assert response.status == 200
            return found

    half = await statuses(0.5)
    assert half == await statuses(0.5)
    assert set(half) == {200, 500, 502}
    assert set(await statuses(0.0)) == {200}
    assert set(await statuses(1.0)) == {500, 502}


@pytest.mark.parametrize(("when", "applied"), [("before_answer", 0), ("after_processing", 1)])
async def test_drop_next_closes_without_an_answer(
    server: LocalServer, http: aiohttp.ClientSession, when: str, applied: int
) -> None:
    server.drop_next(1, when=when)  # type: ignore[arg-type]
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await http.post("/v1/conversations", json={"inputs": "x", "model": "m"})
    assert sum(server.processed.values()) == applied
    assert len(await call(http, "GET", "/v1/conversations")) == applied
    assert len(server.requests) == 2


async def test_cut_stream_after_closes_mid_stream(
    server: LocalServer, http: aiohttp.ClientSession
) -> None:
    server.cut_stream_after(2)
    body = {"inputs": "one two three four", "model": "m", "stream": True}
    chunks: list[bytes] = []

    async def read_into(response: aiohttp.ClientResponse) -> None:
        async for chunk in response.content.iter_any():
            chunks.append(chunk)

    async with http.post("/v1/conversations", json=body) as response:
        assert response.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await read_into(response)
    events = parse_events(b"".join(chunks).decode())
    assert [name for name, _ in events] == [
        "conversation.response.started",
        "message.output.delta",
    ]
    # The turn was stored before the stream began, as a real server keeps generating.
    conversation_id = events[0][1]["conversation_id"]
    assert len((await get(http, conversation_id, "/history"))["entries"]) == 2
    assert server.disconnects == 0
    events, _ = await stream(
        http, "/v1/conversations", {"inputs": "x", "model": "m"}, "/v1/conversations#stream"
    )
    assert events[-1][0] == "conversation.response.done"


async def test_delay_next_holds_requests(server: LocalServer, http: aiohttp.ClientSession) -> None:
    server.delay_next(1, 0.2, methods="GET")
    loop = asyncio.get_running_loop()
    began = loop.time()
    await call(http, "GET", "/v1/conversations")
    assert loop.time() - began >= 0.2
    began = loop.time()
    await call(http, "GET", "/v1/conversations")
    assert loop.time() - began < 0.2


def test_fault_arguments_are_checked() -> None:
    server = LocalServer()
    with pytest.raises(ValueError, match="at least 1"):
        server.fail_next(0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        server.fail_fraction(1.5)
    with pytest.raises(ValueError, match="before_answer"):
        server.drop_next(1, when="later")  # type: ignore[arg-type]
    server.fail_next(1)
    server.reset()
    assert server.faults.pending == 0


def test_stopping_during_a_slow_stream_is_prompt() -> None:
    server = LocalServer(stream_delay=5.0)
    with server.run_in_thread():

        async def begin_stream() -> None:
            async with (
                aiohttp.ClientSession(headers={"Authorization": "Bearer test-key"}) as http,
                http.post(
                    server.base_url + "/v1/conversations",
                    json={"inputs": "a b", "model": "m", "stream": True},
                ) as response,
            ):
                await response.content.readuntil(b"\n\n")

        asyncio.run(begin_stream())
        began = time.monotonic()
    assert time.monotonic() - began < 2


async def test_a_server_on_every_interface_gives_a_url_a_client_can_use() -> None:
    async with (
        LocalServer(host="0.0.0.0") as server,
        AsyncClient(server.api_key, base_url=server.base_url) as client,
    ):
        assert server.base_url == f"http://127.0.0.1:{server.port}"
        assert (await client.start(inputs="hi", model="m")).output_text == "Echo: hi"


def test_an_ipv6_host_is_bracketed_in_the_url() -> None:
    from mistral_conversations.testing._server import loopback_for, url_host

    assert [url_host(h) for h in ("::1", "127.0.0.1", "example.org")] == [
        "[::1]",
        "127.0.0.1",
        "example.org",
    ]
    assert [loopback_for(h) for h in ("0.0.0.0", "::", "::1", "localhost")] == [
        "127.0.0.1",
        "::1",
        None,
        None,
    ]


def test_a_server_whose_block_was_never_left_is_stopped_at_exit() -> None:
    from mistral_conversations.testing import _server

    server = LocalServer()
    block = server.run_in_thread()
    block.__enter__()
    [thread] = [t for _, t in _server._in_threads if t.is_alive()]
    _server._stop_servers_left_running()  # what atexit runs
    assert not thread.is_alive()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), 1).close()
    block.gen.close()  # the generator's own finalisation, later, finds nothing left to stop
