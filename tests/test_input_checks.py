"""Models built by hand are checked as dicts are: the same error, and nothing sent."""

from __future__ import annotations

import inspect
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mistral_conversations import AsyncClient, InputShapeError
from mistral_conversations import models as m
from mistral_conversations._convert import converter, parse_input
from mistral_conversations.testing import LocalServer

MODEL = "mistral-small-latest"
FUNCTION = {"type": "function", "function": {"name": "f", "parameters": {}}}


def refused(data: object, cls: Any = m.ConversationRequest) -> InputShapeError:
    with pytest.raises(InputShapeError) as caught:
        parse_input(data, cls)
    return caught.value


# Each case: start() keywords holding a model built by hand with a wrong value, and the
# same keywords as plain dicts. Both must be refused in the same words.
CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "message content": (
        {"inputs": [m.MessageInputEntry(role="user", content=123)]},  # type: ignore[arg-type]
        {"inputs": [{"role": "user", "content": 123}]},
    ),
    "completion args": (
        {"completion_args": m.CompletionArgs(temperature="hot")},  # type: ignore[arg-type]
        {"completion_args": {"temperature": "hot"}},
    ),
    "a function in a list": (
        {"tools": [m.FunctionTool(function=m.Function(name=5, parameters={}))]},  # type: ignore[arg-type]
        {"tools": [{"type": "function", "function": {"name": 5, "parameters": {}}}]},
    ),
    "a model inside a dict": (
        {"tools": [{"type": "function", "function": m.Function(name=5, parameters={})}]},  # type: ignore[arg-type]
        {"tools": [{"type": "function", "function": {"name": 5, "parameters": {}}}]},
    ),
    "a chunk deep inside": (
        {
            "inputs": [
                m.MessageInputEntry(
                    role="user",
                    content=[m.TextChunk(text="a"), m.ImageURLChunk(image_url=m.ImageURL(url=7))],  # type: ignore[arg-type]
                )
            ]
        },
        {
            "inputs": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "a"},
                        {"type": "image_url", "image_url": {"url": 7}},
                    ],
                }
            ]
        },
    ),
    "a list that is a string": (
        {"tools": [m.DocumentLibraryTool(library_ids="lib_1")]},  # type: ignore[arg-type]
        {"tools": [{"type": "document_library", "library_ids": "lib_1"}]},
    ),
    "a changed constant": (
        {"inputs": [m.MessageInputEntry(object="thing", role="user", content="x")]},
        {"inputs": [{"type": "message.input", "object": "thing", "role": "user", "content": "x"}]},
    ),
    "a bool for an int": (
        {"completion_args": m.CompletionArgs(max_tokens=True)},
        {"completion_args": {"max_tokens": True}},
    ),
    "a bad timestamp": (
        {
            "inputs": [
                m.FunctionCallEntry(tool_call_id="t", name="f", arguments={}, created_at="now")
            ]
        },  # type: ignore[arg-type]
        {
            "inputs": [
                {
                    "type": "function.call",
                    "tool_call_id": "t",
                    "name": "f",
                    "arguments": {},
                    "created_at": "now",
                }
            ]
        },
    ),
    "a model of the wrong kind": (
        {"inputs": [m.MessageInputEntry(role="user", content=[m.WebSearchTool()])]},  # type: ignore[list-item]
        {"inputs": [{"role": "user", "content": [m.WebSearchTool()]}]},
    ),
    "several problems": (
        {
            "guardrails": [
                m.GuardrailConfig(
                    block_on_error="yes",  # type: ignore[arg-type]
                    moderation_llm_v2=m.ModerationLLMV2Config(
                        custom_category_thresholds=m.ModerationLLMV2CategoryThresholds(pii="high")  # type: ignore[arg-type]
                    ),
                )
            ]
        },
        {
            "guardrails": [
                {
                    "block_on_error": "yes",
                    "moderation_llm_v2": {"custom_category_thresholds": {"pii": "high"}},
                }
            ]
        },
    ),
}


@pytest.mark.parametrize("case", CASES)
async def test_a_model_with_a_wrong_value_is_refused_before_sending(
    client: AsyncClient, local_server: LocalServer, case: str
) -> None:
    as_models, as_dicts = CASES[case]
    with pytest.raises(InputShapeError) as by_models:
        await client.start(model=MODEL, **{"inputs": "hi", **as_models})
    with pytest.raises(InputShapeError) as by_dicts:
        await client.start(model=MODEL, **{"inputs": "hi", **as_dicts})
    assert local_server.requests == []
    assert (by_models.value.loc, by_models.value.reason) == (
        by_dicts.value.loc,
        by_dicts.value.reason,
    )
    assert by_models.value.problems == by_dicts.value.problems
    assert str(by_models.value) == str(by_dicts.value)


def test_the_words_name_the_field_of_the_model() -> None:
    error = refused({"inputs": [m.MessageInputEntry(role="user", content=123)]})  # type: ignore[arg-type]
    assert str(error) == "inputs[0].content: expected a string or a list, got int 123"
    error = refused({"inputs": "hi", "completion_args": m.CompletionArgs(temperature="hot")})  # type: ignore[arg-type]
    assert str(error) == "completion_args.temperature: expected a number, got str 'hot'"
    tool = m.FunctionTool(function=m.Function(name=5, parameters={}))  # type: ignore[arg-type]
    error = refused({"inputs": "hi", "tools": [tool]})
    assert str(error) == "tools[0].function.name: expected a string, got int 5"


def test_every_problem_of_a_model_is_listed() -> None:
    args = m.CompletionArgs(temperature="hot", stop=[1], top_p=None, random_seed=1.5)  # type: ignore[arg-type]
    error = refused(args, m.CompletionArgs)
    assert sorted(error.problems) == [
        (("random_seed",), "expected an integer, got float 1.5"),
        (("stop", 0), "expected a string, got int 1"),
        (("temperature",), "expected a number, got str 'hot'"),
    ]


async def test_append_and_restart_check_models_too(
    client: AsyncClient, local_server: LocalServer
) -> None:
    confirmation = m.ToolCallConfirmation(tool_call_id="t", confirmation=5)  # type: ignore[arg-type]
    with pytest.raises(InputShapeError, match=r"^tool_confirmations\[0\]\.confirmation: "):
        await client.append("conv_1", tool_confirmations=[confirmation])
    entry = m.MessageInputEntry(role=None, content="x")  # type: ignore[arg-type]
    with pytest.raises(InputShapeError, match=r"^inputs\[0\]\.role: expected a string, got None"):
        await client.restart("conv_1", from_entry_id="e", inputs=[entry])
    assert local_server.requests == []


# What stays accepted


async def test_good_models_are_sent_as_built(
    client: AsyncClient, local_server: LocalServer
) -> None:
    await client.start(
        model=MODEL,
        inputs=[
            m.MessageInputEntry(
                role="user",
                content=[m.TextChunk(text="hi"), m.ImageURLChunk(image_url="https://x/y.png")],
            )
        ],
        tools=[m.FunctionTool(function=m.Function(name="f", parameters={"type": "object"}))],
        completion_args=m.CompletionArgs(temperature=1, stop=["\n"]),
    )
    sent = local_server.requests[-1].json
    assert sent["inputs"] == [
        {
            "object": "entry",
            "type": "message.input",
            "role": "user",
            "content": [
                {"type": "text", "text": "hi"},
                {"type": "image_url", "image_url": "https://x/y.png"},
            ],
        }
    ]
    assert sent["tools"] == [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    ]
    assert sent["completion_args"] == {"temperature": 1, "stop": ["\n"]}


async def test_unknown_variants_are_sent_as_they_are(
    client: AsyncClient, local_server: LocalServer
) -> None:
    raw = {"type": "mcp_server", "url": 5, "anything": [None]}
    await client.start(model=MODEL, inputs="hi", tools=[m.UnknownTool(type="mcp_server", raw=raw)])
    assert local_server.requests[-1].json["tools"] == [raw]


async def test_entries_of_an_answer_can_be_sent_back(
    client: AsyncClient, local_server: LocalServer
) -> None:
    # Decoded entries hold datetimes, which the wire's strings became: sent back, they
    # are checked as they are and written as the API writes them.
    reply = await client.start(model=MODEL, inputs="hi")
    history = await client.get_history(reply.conversation_id)
    assert all(isinstance(entry.created_at, datetime) for entry in history.entries)  # type: ignore[union-attr]
    again = await client.start(model=MODEL, inputs=history.entries)
    assert again.output_text == "Echo: hi"
    sent = local_server.requests[-1].json["inputs"]
    assert sent == converter.unstructure(history.entries)
    assert sent[0]["created_at"].endswith("Z")


def test_a_valid_model_of_strings_and_numbers_is_used_as_it_is() -> None:
    entry = m.MessageInputEntry(
        role="user", content="hi", created_at=datetime(2025, 5, 28, tzinfo=timezone.utc)
    )
    assert parse_input(entry, m.Entry) is entry
    args = m.CompletionArgs(temperature=0, max_tokens=5)
    assert parse_input(args, m.CompletionArgs) is args


_json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()


@settings(max_examples=200, deadline=None)
@given(
    temperature=_json_scalars, max_tokens=_json_scalars, stop=_json_scalars, choice=_json_scalars
)
def test_a_model_is_refused_exactly_when_its_dict_is(
    temperature: Any, max_tokens: Any, stop: Any, choice: Any
) -> None:
    values = {"temperature": temperature, "max_tokens": max_tokens, "stop": stop}
    values["tool_choice"] = choice
    set_values = {name: value for name, value in values.items() if value is not None}
    as_model = m.CompletionArgs(**set_values)
    outcomes = []
    for data in (as_model, set_values):
        try:
            parsed = parse_input(data, m.CompletionArgs)
        except InputShapeError as error:
            outcomes.append(("refused", error.problems))
        else:
            outcomes.append(("accepted", converter.unstructure(parsed)))
    assert outcomes[0] == outcomes[1]


@pytest.mark.parametrize(
    ("operation", "arguments", "stream", "says"),
    [
        ("start", {"inputs": "x", "model": "m"}, True, "start(stream=True): use start_stream()"),
        (
            "start_stream",
            {"inputs": "x", "model": "m"},
            False,
            "start_stream(stream=False): use start() instead",
        ),
        ("append", {"conversation_id": "c", "inputs": "x"}, True, "use append_stream()"),
        ("list", {}, True, "list(stream=True): list() has no stream form; drop stream="),
        ("get", {"conversation_id": "c"}, True, "get() has no stream form; drop stream="),
        ("get_history", {"conversation_id": "c"}, True, "get_history() has no stream form"),
    ],
)
async def test_the_sdk_s_stream_keyword_names_what_to_call(
    operation: str, arguments: dict[str, Any], stream: bool, says: str
) -> None:
    async with AsyncClient("k", base_url="http://127.0.0.1:9") as client:
        with pytest.raises(TypeError) as caught:
            await _call(getattr(client, operation), arguments, stream)
    assert says in str(caught.value)


async def _call(method: Any, arguments: dict[str, Any], stream: bool) -> None:
    result = method(**arguments, stream=stream)
    if inspect.isawaitable(result):
        await result


# NaN and infinity: orjson writes them as null, which the server takes for "unset".

NAN, INF = float("nan"), float("inf")
NOT_JSON_NUMBERS: dict[str, tuple[dict[str, Any], str]] = {
    "metadata": ({"metadata": {"score": NAN}}, "metadata.score: nan"),
    "a typed float": (
        {"completion_args": {"temperature": INF}},
        "completion_args.temperature: inf",
    ),
    "a model's float": (
        {"completion_args": m.CompletionArgs(top_p=-INF)},
        "completion_args.top_p: -inf",
    ),
    "a tool's schema": (
        {"tools": [{**FUNCTION, "function": {"name": "f", "parameters": {"maximum": NAN}}}]},
        "tools[0].function.parameters.maximum: nan",
    ),
    "extra_body": ({"extra_body": {"new": [1.5, NAN]}}, "new[1]: nan"),
}


@pytest.mark.parametrize("case", NOT_JSON_NUMBERS)
async def test_nan_and_infinity_are_refused_not_sent_as_null(
    client: AsyncClient, local_server: LocalServer, case: str
) -> None:
    keywords, where = NOT_JSON_NUMBERS[case]
    with pytest.raises(InputShapeError) as caught:
        await client.start(inputs="hi", model=MODEL, **keywords)
    assert str(caught.value) == (
        f"{where} is not a number JSON can carry (it would be sent as null, that is, "
        "unset); send a finite number, or None"
    )
    assert local_server.requests == []


async def test_nan_in_list_metadata_is_refused_and_none_is_still_sent(
    client: AsyncClient, local_server: LocalServer
) -> None:
    with pytest.raises(InputShapeError, match=r"^metadata\.k: nan is not a number"):
        await client.list(metadata={"k": NAN})
    assert local_server.requests == []
    await client.start(inputs="hi", model=MODEL, metadata={"k": None})
    assert local_server.requests[-1].json["metadata"] == {"k": None}
