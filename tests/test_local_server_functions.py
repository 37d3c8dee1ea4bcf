"""The local server's "model" for tools loops: calls, arguments, results, confirmations.

Driven with the library's own client, as a user's offline tests would drive it, so
that what is checked is what a user sees: the entries of each answer and of the
history, streamed and not, and structured output that validates against its schema.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
import jsonschema
import pytest

from mistral_conversations import AsyncClient
from mistral_conversations.errors import UnprocessableEntityError
from mistral_conversations.models import (
    FunctionCallEntry,
    FunctionCallEvent,
    MessageOutputEntry,
    ToolExecutionDoneEvent,
    ToolExecutionEntry,
    ToolExecutionStartedEvent,
)

MODEL = "mistral-small-latest"


def function(name: str, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": f"The {name} tool.",
            "parameters": parameters or {"type": "object", "properties": {}},
        },
    }


WEATHER = function(
    "get_weather",
    {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"],
    },
)
TIME = function("get_time", {"type": "object", "properties": {"zone": {"type": "string"}}})
NOTE = function(
    "take_note",
    {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
)
MAIL = {
    "type": "connector",
    "connector_id": "mail",
    "tool_configuration": {"requires_confirmation": ["send_email", "delete_email"]},
}


def calls(outputs: list[Any]) -> list[tuple[str, Any]]:
    """(name, decoded arguments) of each output, which must all be function calls."""
    assert all(isinstance(output, FunctionCallEntry) for output in outputs), outputs
    return [(output.name, json.loads(output.arguments)) for output in outputs]


def result(call: FunctionCallEntry, text: str) -> dict[str, Any]:
    return {"type": "function.result", "tool_call_id": call.tool_call_id, "result": text}


def text_format(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": schema, "strict": True},
        }
    }


def valid(document: str, schema: dict[str, Any]) -> Any:
    """The decoded document, once checked against the schema (formats included)."""
    decoded = json.loads(document)
    jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(decoded)
    return decoded


# -- several calls in one turn -------------------------------------------------------


async def test_each_tool_named_is_called_in_the_order_named(client: AsyncClient) -> None:
    reply = await client.start(
        inputs="What time is it (get_time), and the weather (get_weather)?",
        model=MODEL,
        tools=[WEATHER, TIME, NOTE],
    )
    text = "What time is it (get_time), and the weather (get_weather)?"
    assert calls(reply.outputs) == [("get_time", {"text": text}), ("get_weather", {"city": text})]
    first, second = reply.outputs
    assert isinstance(first, FunctionCallEntry)
    assert isinstance(second, FunctionCallEntry)
    assert first.id != second.id
    assert first.tool_call_id != second.tool_call_id
    assert (first.id or "").startswith("fc_")
    assert first.confirmation_status is None
    # Usage counts words, those of each call's arguments here: '{"text":' and the text.
    assert reply.usage.completion_tokens == (1 + len(text.split())) * 2
    history = await client.get_history(reply.conversation_id)
    assert history.entries[1:] == reply.outputs


async def test_a_streamed_turn_sends_each_call_at_its_own_index(client: AsyncClient) -> None:
    text = "get_weather(city=Paris) then get_time(zone=UTC)"
    async with client.start_stream(inputs=text, model=MODEL, tools=[WEATHER, TIME]) as stream:
        events = [event async for event in stream]
        reply = await stream.response()
    deltas = [event for event in events if isinstance(event, FunctionCallEvent)]
    by_index: dict[int, list[FunctionCallEvent]] = {}
    for delta in deltas:
        by_index.setdefault(delta.output_index, []).append(delta)
    assert sorted(by_index) == [0, 1]
    assert [{d.name for d in by_index[i]} for i in (0, 1)] == [{"get_weather"}, {"get_time"}]
    assert [len({(d.id, d.tool_call_id) for d in by_index[i]}) for i in (0, 1)] == [1, 1]
    assert by_index[0][0].tool_call_id != by_index[1][0].tool_call_id
    assert calls(reply.outputs) == [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {"zone": "UTC"}),
    ]
    history = await client.get_history(reply.conversation_id)
    stored = history.entries[1:]
    assert [(e.id, e.tool_call_id, e.arguments) for e in stored] == [  # type: ignore[union-attr]
        (e.id, e.tool_call_id, e.arguments)  # type: ignore[union-attr]
        for e in reply.outputs
    ]


# -- arguments -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "arguments"),
    [
        # A JSON object: its text, verbatim, fitting the schema or not.
        ('get_weather({"city": "Paris", "days": 2})', '{"city": "Paris", "days": 2}'),
        ('get_weather( {"town": 1.50} ) please', '{"town": 1.50}'),
        # Not JSON at all, for testing arguments that do not decode.
        ("get_weather({city: Paris})", "{city: Paris}"),
        # Keywords: JSON values where they are JSON, else strings.
        (
            'get_weather(city=Paris, days=2, metric=true, tags=["a", "b"], note="x, y")',
            '{"city": "Paris", "days": 2, "metric": true, "tags": ["a", "b"], "note": "x, y"}',
        ),
        ("get_weather(city = New York , days=2abc, x=NaN)", None),
        ("get_weather()", "{}"),
    ],
)
async def test_arguments_written_in_the_text(
    client: AsyncClient, text: str, arguments: str | None
) -> None:
    reply = await client.start(inputs=text, model=MODEL, tools=[WEATHER])
    [call] = reply.outputs
    assert isinstance(call, FunctionCallEntry)
    if arguments is None:
        assert json.loads(str(call.arguments)) == {"city": "New York", "days": "2abc", "x": "NaN"}
    else:
        assert call.arguments == arguments


@pytest.mark.parametrize(
    ("tool", "text", "arguments"),
    [
        # One required string, and no "text" property: that property takes the text.
        (WEATHER, "weather please, get_weather", {"city": "weather please, get_weather"}),
        # No required property: the text as "text".
        (TIME, "get_time now", {"text": "get_time now"}),
        # A "text" property: "text".
        (NOTE, "take_note: milk", {"text": "take_note: milk"}),
        # Parentheses that hold neither JSON nor keywords, or a space before them: bare.
        (TIME, "get_time(UTC)", {"text": "get_time(UTC)"}),
        (TIME, "get_time (zone=UTC)", {"text": "get_time (zone=UTC)"}),
    ],
)
async def test_a_bare_name_gets_the_text(
    client: AsyncClient, tool: dict[str, Any], text: str, arguments: dict[str, Any]
) -> None:
    reply = await client.start(inputs=text, model=MODEL, tools=[tool])
    assert calls(reply.outputs) == [(tool["function"]["name"], arguments)]


async def test_each_written_call_is_a_call(client: AsyncClient) -> None:
    reply = await client.start(
        inputs="get_time, then get_weather(city=Paris) and get_weather(city=Rome, days=3)",
        model=MODEL,
        tools=[WEATHER, TIME],
    )
    assert calls(reply.outputs)[1:] == [
        ("get_weather", {"city": "Paris"}),
        ("get_weather", {"city": "Rome", "days": 3}),
    ]
    assert calls(reply.outputs)[0][0] == "get_time"


# -- results ---------------------------------------------------------------------------


async def test_results_are_answered_in_the_order_given(client: AsyncClient) -> None:
    reply = await client.start(
        inputs="get_weather(city=Paris) get_time(zone=UTC)", model=MODEL, tools=[WEATHER, TIME]
    )
    weather, time = reply.outputs
    assert isinstance(weather, FunctionCallEntry)
    assert isinstance(time, FunctionCallEntry)
    answer = await client.append(
        reply.conversation_id, inputs=[result(time, "12:00"), result(weather, "sunny")]
    )
    assert [type(output) for output in answer.outputs] == [MessageOutputEntry]
    assert answer.output_text == "Result: 12:00; sunny"


async def test_an_unanswered_call_does_not_block_a_plain_append(client: AsyncClient) -> None:
    reply = await client.start(inputs="get_weather(city=Paris)", model=MODEL, tools=[WEATHER])
    assert isinstance(reply.outputs[0], FunctionCallEntry)
    answer = await client.append(reply.conversation_id, inputs="never mind")
    assert answer.output_text == "Echo: never mind"


# -- confirmations ---------------------------------------------------------------------


async def held_call(client: AsyncClient, text: str = "send_email(to=bob)") -> tuple[str, str]:
    """Start a conversation whose answer is a call held for confirmation."""
    reply = await client.start(inputs=text, model=MODEL, tools=[WEATHER, MAIL])
    [call] = reply.outputs
    assert isinstance(call, FunctionCallEntry)
    assert (call.name, call.confirmation_status) == ("send_email", "pending")
    return reply.conversation_id, call.tool_call_id


async def test_an_allowed_call_runs_on_the_server(client: AsyncClient) -> None:
    conversation_id, call_id = await held_call(client)
    answer = await client.append(
        conversation_id, tool_confirmations=[{"tool_call_id": call_id, "confirmation": "allow"}]
    )
    execution, message = answer.outputs
    assert isinstance(execution, ToolExecutionEntry)
    assert (execution.name, execution.arguments) == ("send_email", '{"to": "bob"}')
    assert execution.info == {"tool_call_id": call_id, "result": "done"}
    assert answer.output_text == 'Done: send_email({"to": "bob"})'
    assert isinstance(message, MessageOutputEntry)
    history = await client.get_history(conversation_id)
    assert [entry.type for entry in history.entries] == [
        "message.input",
        "function.call",
        "tool.execution",
        "message.output",
    ]
    call = history.entries[1]
    assert isinstance(call, FunctionCallEntry)
    assert call.confirmation_status == "allowed"
    # Settled: the next append needs no confirmation.
    assert (await client.append(conversation_id, inputs="thanks")).output_text == "Echo: thanks"


async def test_a_denied_call_does_not_run(client: AsyncClient) -> None:
    conversation_id, call_id = await held_call(client)
    answer = await client.append(
        conversation_id, tool_confirmations=[{"tool_call_id": call_id, "confirmation": "deny"}]
    )
    assert [type(output) for output in answer.outputs] == [MessageOutputEntry]
    assert answer.output_text == "Not run: send_email was denied"
    history = await client.get_history(conversation_id)
    call = history.entries[1]
    assert isinstance(call, FunctionCallEntry)
    assert call.confirmation_status == "denied"


async def test_confirmations_streamed(client: AsyncClient) -> None:
    async with client.start_stream(
        inputs="get_weather(city=Paris), then send_email(to=bob) and delete_email(id=3)",
        model=MODEL,
        tools=[WEATHER, MAIL],
    ) as stream:
        deltas = [event async for event in stream if isinstance(event, FunctionCallEvent)]
        reply = await stream.response()
    statuses = {(delta.output_index, delta.confirmation_status) for delta in deltas}
    assert statuses == {(0, None), (1, "pending"), (2, "pending")}
    weather, send, delete = reply.outputs
    assert isinstance(weather, FunctionCallEntry)
    assert isinstance(send, FunctionCallEntry)
    assert isinstance(delete, FunctionCallEntry)
    assert [send.confirmation_status, delete.confirmation_status] == ["pending", "pending"]

    async with client.append_stream(
        reply.conversation_id,
        inputs=[result(weather, "sunny")],
        tool_confirmations=[
            {"tool_call_id": delete.tool_call_id, "confirmation": "deny"},
            {"tool_call_id": send.tool_call_id, "confirmation": "allow"},
        ],
    ) as stream:
        events = [event async for event in stream]
        answer = await stream.response()
    assert [
        type(e)
        for e in events
        if isinstance(e, (ToolExecutionStartedEvent, ToolExecutionDoneEvent))
    ] == [
        ToolExecutionStartedEvent,
        ToolExecutionDoneEvent,
    ]
    execution, message = answer.outputs
    assert isinstance(execution, ToolExecutionEntry)
    assert (execution.name, execution.arguments) == ("send_email", '{"to": "bob"}')
    assert execution.info == {"tool_call_id": send.tool_call_id, "result": "done"}
    assert isinstance(message, MessageOutputEntry)
    assert answer.output_text == (
        'Not run: delete_email was denied; Done: send_email({"to": "bob"}); Result: sunny'
    )
    history = await client.get_history(reply.conversation_id)
    stored_execution, stored_message = history.entries[-2:]
    assert isinstance(stored_execution, ToolExecutionEntry)
    assert isinstance(stored_message, MessageOutputEntry)
    assert attrs.evolve(stored_execution, created_at=None, completed_at=None) == attrs.evolve(
        execution, created_at=None, completed_at=None
    )
    assert (stored_message.id, stored_message.content) == (message.id, message.content)


async def unprocessable(client: AsyncClient, conversation_id: str, **append: Any) -> Any:
    """The one detail of the 422 an append gets; the conversation must be unchanged."""
    before = await client.get_history(conversation_id)
    with pytest.raises(UnprocessableEntityError) as caught:
        await client.append(conversation_id, **append)
    assert (await client.get_history(conversation_id)) == before
    [detail] = caught.value.detail
    return detail


async def test_a_held_call_must_be_settled_before_going_on(client: AsyncClient) -> None:
    conversation_id, call_id = await held_call(client)
    detail = await unprocessable(client, conversation_id, inputs="and now?")
    assert detail.loc == ["body", "tool_confirmations"]
    assert f"send_email ({call_id})" in detail.msg
    assert "'allow' or 'deny'" in detail.msg
    # Answering it lets the conversation go on.
    answer = await client.append(
        conversation_id, tool_confirmations=[{"tool_call_id": call_id, "confirmation": "deny"}]
    )
    assert answer.output_text == "Not run: send_email was denied"


async def test_every_held_call_must_be_settled(client: AsyncClient) -> None:
    reply = await client.start(
        inputs="send_email(to=a) delete_email(id=1)", model=MODEL, tools=[MAIL]
    )
    send = reply.outputs[0]
    assert isinstance(send, FunctionCallEntry)
    detail = await unprocessable(
        client,
        reply.conversation_id,
        tool_confirmations=[{"tool_call_id": send.tool_call_id, "confirmation": "allow"}],
    )
    assert detail.loc == ["body", "tool_confirmations"]
    assert "delete_email (call_" in detail.msg
    assert "send_email" not in detail.msg


async def test_a_confirmation_must_name_a_held_call(client: AsyncClient) -> None:
    conversation_id, call_id = await held_call(client)
    detail = await unprocessable(
        client,
        conversation_id,
        tool_confirmations=[{"tool_call_id": "call_unknown", "confirmation": "allow"}],
    )
    assert detail.loc == ["body", "tool_confirmations", 0, "tool_call_id"]
    assert "No tool call call_unknown waits for confirmation" in detail.msg
    assert detail.input == "call_unknown"

    twice = [{"tool_call_id": call_id, "confirmation": "allow"}] * 2
    detail = await unprocessable(client, conversation_id, tool_confirmations=twice)
    assert detail.loc == ["body", "tool_confirmations", 1, "tool_call_id"]
    assert "already confirmed (in this request)" in detail.msg

    maybe = [{"tool_call_id": call_id, "confirmation": "maybe"}]
    detail = await unprocessable(client, conversation_id, tool_confirmations=maybe)
    assert detail.loc == ["body", "tool_confirmations", 0, "confirmation"]
    assert detail.input == "maybe"

    await client.append(
        conversation_id, tool_confirmations=[{"tool_call_id": call_id, "confirmation": "allow"}]
    )
    detail = await unprocessable(
        client,
        conversation_id,
        tool_confirmations=[{"tool_call_id": call_id, "confirmation": "deny"}],
    )
    assert f"Tool call {call_id} (send_email) was already confirmed (allowed)" in detail.msg


async def test_a_confirmation_with_nothing_held_is_refused(client: AsyncClient) -> None:
    reply = await client.start(inputs="get_weather(city=Paris)", model=MODEL, tools=[WEATHER])
    call = reply.outputs[0]
    assert isinstance(call, FunctionCallEntry)
    detail = await unprocessable(
        client,
        reply.conversation_id,
        tool_confirmations=[{"tool_call_id": call.tool_call_id, "confirmation": "allow"}],
    )
    assert detail.loc == ["body", "tool_confirmations", 0, "tool_call_id"]


# -- structured output -----------------------------------------------------------------

BOOK = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "authors": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["name", "authors"],
    "additionalProperties": False,
}
ORDER = {
    "$defs": {
        "Line": {
            "type": "object",
            "properties": {
                "sku": {"type": "string", "minLength": 12},
                "quantity": {"type": "integer", "minimum": 1, "maximum": 5},
                "price": {"type": "number", "exclusiveMinimum": 0},
            },
            "required": ["sku", "quantity"],
        },
        "Status": {"enum": ["open", "paid", "shipped"]},
    },
    "type": "object",
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "placed": {"type": "string", "format": "date-time"},
        "status": {"$ref": "#/$defs/Status"},
        "lines": {"type": "array", "items": {"$ref": "#/$defs/Line"}, "minItems": 2},
        "note": {"anyOf": [{"type": "null"}, {"type": "string", "maxLength": 4}]},
        "gift": {"type": "boolean"},
        "version": {"const": 2},
        "customer": {
            "type": "object",
            "properties": {
                "email": {"type": ["null", "string"], "format": "email"},
                "tier": {"type": "string", "enum": ["gold", "silver"]},
                "nickname": {"type": "string", "nullable": True},
            },
            "required": ["email", "tier"],
        },
    },
    "required": ["id", "status", "lines"],
}
TREE = {
    "$defs": {
        "Node": {
            "type": "object",
            "properties": {
                "label": {"type": "string"},
                "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                "parent": {"anyOf": [{"$ref": "#/$defs/Node"}, {"type": "null"}]},
            },
            "required": ["label"],
        }
    },
    "$ref": "#/$defs/Node",
}
MIXED = {
    "definitions": {"Id": {"type": "integer", "multipleOf": 5, "exclusiveMaximum": 100}},
    "allOf": [
        {"type": "object", "properties": {"id": {"$ref": "#/definitions/Id"}}},
        {"properties": {"tags": {"type": "array", "items": {"type": "string"}, "maxItems": 0}}},
    ],
    "oneOf": [{"type": "object", "required": ["id"]}],
}


@pytest.mark.parametrize(
    "schema", [BOOK, ORDER, TREE, MIXED], ids=["book", "order", "tree", "mixed"]
)
async def test_json_schema_answers_validate(client: AsyncClient, schema: dict[str, Any]) -> None:
    reply = await client.start(
        inputs="Order 42 for Ada", model=MODEL, completion_args=text_format(schema)
    )
    valid(reply.output_text, schema)


async def test_json_schema_answers_are_predictable(client: AsyncClient) -> None:
    reply = await client.start(
        inputs="Dune by 3 people", model=MODEL, completion_args=text_format(BOOK)
    )
    assert valid(reply.output_text, BOOK) == {
        "name": "Dune by 3 people",
        "authors": ["Dune by 3 people"],
    }
    order = await client.start(
        inputs="Order 42 for Ada", model=MODEL, completion_args=text_format(ORDER)
    )
    decoded = valid(order.output_text, ORDER)
    assert decoded["status"] == "open"
    assert (
        decoded["lines"]
        == [
            {"sku": "Order 42 for Ada", "quantity": 5, "price": 42},
        ]
        * 2
    )
    assert decoded["note"] == "Orde"
    assert (decoded["gift"], decoded["version"]) == (True, 2)
    assert decoded["customer"] == {
        "email": "user@example.com",
        "tier": "gold",
        "nickname": "Order 42 for Ada",
    }


async def test_json_object_answers_the_text(client: AsyncClient) -> None:
    reply = await client.start(
        inputs="hello", model=MODEL, completion_args={"response_format": {"type": "json_object"}}
    )
    assert json.loads(reply.output_text) == {"text": "hello"}
    plain = await client.start(
        inputs="hello", model=MODEL, completion_args={"response_format": {"type": "text"}}
    )
    assert plain.output_text == "Echo: hello"


@pytest.mark.parametrize(
    "response_format",
    [{"type": "json_object"}, text_format(BOOK)["response_format"]],
    ids=["json_object", "json_schema"],
)
async def test_the_word_malformed_answers_broken_json(
    client: AsyncClient, response_format: dict[str, Any]
) -> None:
    reply = await client.start(
        inputs="give me malformed output",
        model=MODEL,
        completion_args={"response_format": response_format},
    )
    assert reply.output_text == '{"oops": true'
    with pytest.raises(json.JSONDecodeError):
        json.loads(reply.output_text)


async def test_structured_output_is_for_the_final_message(client: AsyncClient) -> None:
    schema = {"type": "object", "properties": {"forecast": {"type": "string"}}}
    reply = await client.start(
        inputs="get_weather(city=Paris)",
        model=MODEL,
        tools=[WEATHER],
        completion_args=text_format(schema),
    )
    [call] = reply.outputs
    assert isinstance(call, FunctionCallEntry)
    # The conversation's format holds for later turns; the results are the strings.
    answer = await client.append(reply.conversation_id, inputs=[result(call, "sunny, 21C")])
    assert valid(answer.output_text, schema) == {"forecast": "sunny, 21C"}
    # A turn's own completion_args win for that turn.
    plain = await client.append(
        reply.conversation_id,
        inputs="thanks",
        completion_args={"response_format": {"type": "text"}},
    )
    assert plain.output_text == "Echo: thanks"


async def test_a_streamed_structured_answer_joins_to_the_document(client: AsyncClient) -> None:
    async with client.start_stream(
        inputs="Dune", model=MODEL, completion_args=text_format(BOOK)
    ) as stream:
        reply = await stream.response()
    assert valid(reply.output_text, BOOK) == {"name": "Dune", "authors": ["Dune"]}


@pytest.mark.parametrize(
    ("response_format", "loc"),
    [
        ({"type": "json_schema"}, ["body", "completion_args", "response_format", "json_schema"]),
        (
            {"type": "json_schema", "json_schema": {"name": "x", "schema": {"$ref": "other.json"}}},
            ["body", "completion_args", "response_format", "json_schema", "schema"],
        ),
    ],
)
async def test_an_unusable_json_schema_is_refused(
    client: AsyncClient, response_format: dict[str, Any], loc: list[str]
) -> None:
    with pytest.raises(UnprocessableEntityError) as caught:
        await client.start(
            inputs="hi", model=MODEL, completion_args={"response_format": response_format}
        )
    [detail] = caught.value.detail
    assert detail.loc == loc
