"""The models as a user meets them: building, checking input, reading answers."""

from __future__ import annotations

import inspect
from datetime import datetime, timezone
from typing import Any

import attrs
import pytest

from mistral_conversations import InputShapeError, MistralError
from mistral_conversations import models as m
from mistral_conversations._convert import converter, parse_input

MODEL_CLASSES: list[type[Any]] = [
    obj for name in m.__all__ if inspect.isclass(obj := getattr(m, name)) and attrs.has(obj)
]
ANSWERS: set[type[Any]] = {
    m.ModelConversation,
    m.AgentConversation,
    m.ConversationHistory,
    m.ConversationMessages,
    m.ConversationResponse,
    m.ConversationUsageInfo,
    m.ValidationErrorDetail,
    m.HTTPValidationError,
    m.ResponseStartedEvent,
    m.ResponseDoneEvent,
    m.ResponseErrorEvent,
    m.ToolExecutionStartedEvent,
    m.ToolExecutionDeltaEvent,
    m.ToolExecutionDoneEvent,
    m.MessageOutputEvent,
    m.FunctionCallEvent,
    m.AgentHandoffStartedEvent,
    m.AgentHandoffDoneEvent,
}
UNKNOWNS: set[type[Any]] = {
    m.UnknownEntry,
    m.UnknownChunk,
    m.UnknownTool,
    m.UnknownEvent,
    m.UnknownAuth,
}


def shape_error(data: object, cls: Any = m.ConversationRequest) -> InputShapeError:
    with pytest.raises(InputShapeError) as caught:
        parse_input(data, cls)
    return caught.value


# parse_input: what it refuses, and how it says so


def test_a_missing_field_is_named_with_its_full_path() -> None:
    error = shape_error({"inputs": [{"type": "message.input", "content": "hi"}]})
    assert error.loc == ("inputs", 0, "role")
    assert error.reason == "required field is missing"
    assert str(error) == "inputs[0].role: required field is missing"
    assert isinstance(error, TypeError)


def test_a_missing_top_level_field() -> None:
    error = shape_error({"model": "m"})
    assert error.loc == ("inputs",)
    assert str(error) == "inputs: required field is missing"


def test_an_unknown_field_suggests_the_right_one() -> None:
    error = shape_error({"inputs": [{"rol": "user", "content": "hi"}]})
    assert error.loc == ("inputs", 0)
    assert error.reason.startswith("unknown field 'rol' (did you mean 'role'? known fields: ")
    assert "content, prefix)" in error.reason
    # The typo also leaves "role" missing; the unknown field is the problem to report
    # first, and the message shows the other too.
    assert str(error).startswith("inputs[0]: unknown field 'rol' (did you mean 'role'?")
    assert str(error).endswith("; also inputs[0].role: required field is missing")
    assert (("inputs", 0, "role"), "required field is missing") in error.problems
    assert isinstance(error, MistralError)


def test_many_problems_show_three_and_count_the_rest() -> None:
    error = InputShapeError(
        ("a",), "first", tuple(((name,), "bad") for name in ("a", "b", "c", "d", "e"))
    )
    assert str(error) == "a: first; also a: bad; also b: bad (and 3 more problems)"


def test_an_unknown_top_level_field() -> None:
    error = shape_error({"inputs": "hi", "modle": "mistral-small-latest"})
    assert error.loc == ()
    assert str(error).startswith("unknown field 'modle' (did you mean 'model'?")


def test_several_unknown_fields_are_listed() -> None:
    error = shape_error({"inputs": "hi", "completion_args": {"temp": 1, "top_k": 3}})
    assert error.loc == ("completion_args",)
    assert error.reason.startswith("unknown fields 'temp', 'top_k' (known fields: stop, ")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"inputs": "hi", "completion_args": {"temperature": "hot"}},
            "completion_args.temperature: expected a number, got str 'hot'",
        ),
        ({"inputs": "hi", "model": 5}, "model: expected a string, got int 5"),
        ({"inputs": "hi", "tools": "web_search"}, "tools: expected a list, got str 'web_search'"),
        (
            {"inputs": "hi", "stream": "yes"},
            "stream: expected a boolean, got str 'yes'",
        ),
        (
            {"inputs": "hi", "completion_args": {"max_tokens": True}},
            "completion_args.max_tokens: expected an integer, got bool True",
        ),
        (
            {"inputs": "hi", "completion_args": {"max_tokens": 1.5}},
            "completion_args.max_tokens: expected an integer, got float 1.5",
        ),
        ({"inputs": 5}, "inputs: expected a string or a list, got int 5"),
        ({"inputs": None}, "inputs: expected a string or a list, got None"),
        (
            {"inputs": "hi", "agent_version": 1.5},
            "agent_version: expected a string or an integer, got float 1.5",
        ),
        (
            {"inputs": "hi", "metadata": ["a"]},
            "metadata: expected an object (dict), got list ['a']",
        ),
        (
            {"inputs": "hi", "completion_args": {"stop": ["a", 1]}},
            "completion_args.stop[1]: expected a string, got int 1",
        ),
        (
            {"inputs": "hi", "completion_args": 0.3},
            "completion_args: expected a CompletionArgs or a dict, got float 0.3",
        ),
    ],
)
def test_a_wrong_json_type_is_refused_not_coerced(data: dict[str, Any], message: str) -> None:
    assert str(shape_error(data)) == message


@pytest.mark.parametrize(
    ("data", "cls", "message"),
    [
        (
            {"id": "m", "content": 5},
            m.MessageOutputEvent,
            "content: expected a string or an object with a 'type' field, got int 5",
        ),
        (
            {"type": "image_url", "image_url": ["u"]},
            m.ImageURLChunk,
            "image_url: expected a string or an ImageURL or a dict, got list ['u']",
        ),
        (
            {"type": "function.call", "tool_call_id": "t", "name": "f", "arguments": 1},
            m.FunctionCallEntry,
            "arguments: expected an object (dict) or a string, got int 1",
        ),
        ("hi", m.ConversationRequest, "expected a ConversationRequest or a dict, got str 'hi'"),
    ],
)
def test_unions_of_json_types_say_what_they_take(data: object, cls: Any, message: str) -> None:
    assert str(shape_error(data, cls)) == message


def test_the_path_goes_through_lists_and_unions() -> None:
    data = {
        "inputs": [
            {"role": "user", "content": "a"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "x"}, {"type": "text", "text": 5}],
            },
        ]
    }
    error = shape_error(data)
    assert error.loc == ("inputs", 1, "content", 1, "text")
    assert str(error) == "inputs[1].content[1].text: expected a string, got int 5"


def test_the_path_goes_into_tools() -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": "{}"}}
    error = shape_error({"inputs": "hi", "tools": [{"type": "web_search"}, tool]})
    assert str(error) == "tools[1].function.parameters: expected an object (dict), got str '{}'"


def test_a_union_item_needs_a_type() -> None:
    error = shape_error({"inputs": "hi", "tools": [{"function": {"name": "f", "parameters": {}}}]})
    assert error.loc == ("tools", 0, "type")
    assert error.reason.startswith("required field is missing (one of 'function', 'web_search'")


@pytest.mark.parametrize(
    ("item", "loc", "reason"),
    [
        ("hi", ("inputs", 0), "expected an object with a 'type' field, got str 'hi'"),
        ({"type": 5}, ("inputs", 0, "type"), "expected a string, got int 5"),
        (
            {"type": "message.input", "object": "thing", "role": "user", "content": "x"},
            ("inputs", 0, "object"),
            "must be 'entry', got str 'thing'",
        ),
        (
            {"type": "message.input", "role": "user", "content": "x", "created_at": "yesterday"},
            ("inputs", 0, "created_at"),
            "expected an ISO 8601 date-time such as '2025-05-28T09:01:28Z', got 'yesterday'",
        ),
    ],
)
def test_bad_entries(item: object, loc: tuple[str | int, ...], reason: str) -> None:
    error = shape_error({"inputs": [item]})
    assert (error.loc, error.reason) == (loc, reason)


def test_a_path_may_start_with_an_index() -> None:
    error = shape_error([{"role": "user", "content": "x", "prefx": True}], list[m.Entry])
    assert str(error).startswith("[0]: unknown field 'prefx' (did you mean 'prefix'?")


def test_a_model_instance_of_the_wrong_class_is_refused() -> None:
    error = shape_error({"inputs": "hi", "tools": [m.TextChunk(text="x")]})
    assert error.loc == ("tools", 0)
    assert error.reason.startswith("expected an object with a 'type' field, got TextChunk")


# parse_input: what it accepts


def test_a_model_instance_is_passed_through() -> None:
    request = m.ConversationRequest(inputs="hi", model="mistral-small-latest")
    assert parse_input(request, m.ConversationRequest) is request
    entries = [m.MessageInputEntry(role="user", content=[m.TextChunk(text="hi")])]
    request = m.ConversationRequest(inputs=entries, model="mistral-small-latest")
    assert parse_input(request, m.ConversationRequest) == request


def test_dicts_and_instances_mix() -> None:
    entry = m.MessageInputEntry(role="user", content=[m.TextChunk(text="hi")])
    args = m.CompletionArgs(temperature=0.2)
    request = parse_input(
        {
            "inputs": [entry, {"role": "assistant", "content": "hello"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
            "completion_args": args,
            "model": "mistral-small-latest",
        },
        m.ConversationRequest,
    )
    assert isinstance(request.inputs, list)
    assert request.inputs[0] == entry
    assert request.completion_args is args  # only strings and numbers: used as it is
    assert request.tools == [m.FunctionTool(function=m.Function(name="f", parameters={}))]
    assert converter.unstructure(request) == {
        "inputs": [
            {
                "object": "entry",
                "type": "message.input",
                "role": "user",
                "content": [{"type": "text", "text": "hi"}],
            },
            {"object": "entry", "type": "message.input", "role": "assistant", "content": "hello"},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
        "completion_args": {"temperature": 0.2},
        "model": "mistral-small-latest",
    }


def test_a_list_of_instances_for_a_union_alias() -> None:
    entries = [
        m.FunctionResultEntry(tool_call_id="t", result="42"),
        m.UnknownEntry(type="x", raw={"type": "x"}),
    ]
    assert parse_input(entries, list[m.Entry]) == entries


def test_a_message_without_type_is_a_message_input() -> None:
    request = parse_input({"inputs": [{"role": "user", "content": "hi"}]}, m.ConversationRequest)
    assert request.inputs == [m.MessageInputEntry(role="user", content="hi")]
    assert converter.unstructure(request)["inputs"] == [
        {"object": "entry", "type": "message.input", "role": "user", "content": "hi"}
    ]


def test_an_unknown_type_in_user_input_is_sent_as_is() -> None:
    tool = {"type": "mcp_server", "url": "https://example.com", "headers": {"a": "b"}}
    request = parse_input({"inputs": "hi", "tools": [tool]}, m.ConversationRequest)
    assert request.tools == [m.UnknownTool(type="mcp_server", raw=tool)]
    assert converter.unstructure(request)["tools"] == [tool]


def test_append_request_inputs_are_optional() -> None:
    confirmations = [{"tool_call_id": "t", "confirmation": "allow"}]
    request = parse_input({"tool_confirmations": confirmations}, m.AppendConversationRequest)
    assert request.inputs is None
    assert converter.unstructure(request) == {"tool_confirmations": confirmations}


def test_restart_request_needs_an_entry_id() -> None:
    assert shape_error({"inputs": "hi"}, m.RestartConversationRequest).loc == ("from_entry_id",)


def test_timestamps_in_input_become_aware_datetimes() -> None:
    entry = parse_input(
        {"role": "user", "content": "x", "created_at": "2025-05-28T09:01:28"}, m.MessageInputEntry
    )
    assert entry.created_at == datetime(2025, 5, 28, 9, 1, 28, tzinfo=timezone.utc)


# Reading answers


def _message(content: Any) -> dict[str, Any]:
    return {"object": "entry", "type": "message.output", "role": "assistant", "content": content}


def test_output_text_joins_the_text_of_every_message() -> None:
    response = converter.structure(
        {
            "conversation_id": "c",
            "outputs": [
                _message("Let me look. "),
                {"type": "tool.execution", "name": "web_search", "arguments": "{}"},
                {"type": "function.call", "tool_call_id": "t", "name": "f", "arguments": {}},
                _message(
                    [
                        {"type": "text", "text": "Paris"},
                        {"type": "tool_reference", "tool": "web_search", "title": "Wiki"},
                        {"type": "text", "text": " is the capital."},
                    ]
                ),
                {"type": "message.future", "content": "not text"},
            ],
            "usage": {},
        },
        m.ConversationResponse,
    )
    assert response.output_text == "Let me look. Paris is the capital."


def test_an_answer_without_counts_reads_them_as_zero() -> None:
    response = converter.structure(
        {"conversation_id": "c", "outputs": [], "usage": {}}, m.ConversationResponse
    )
    assert response.usage == m.ConversationUsageInfo(
        prompt_tokens=0, completion_tokens=0, total_tokens=0
    )
    assert response.usage.connector_tokens is None
    event = converter.structure(
        {"type": "message.output.delta", "id": "msg_1", "content": "hi"}, m.ConversationEvent
    )
    assert (event.output_index, event.content_index) == (0, 0)
    event = converter.structure(
        {"type": "function.call.delta", "id": "f", "name": "n", "tool_call_id": "t"}
        | {"arguments": "{"},
        m.ConversationEvent,
    )
    assert event.output_index == 0


def test_an_answer_without_a_default_field_reads_the_spec_default() -> None:
    think = converter.structure({"type": "thinking", "thinking": []}, m.ThinkChunk)
    assert think.closed is True
    entry = converter.structure({"role": "user", "content": "x"}, m.MessageInputEntry)
    assert entry.prefix is False
    conversation = converter.structure(
        {
            "id": "conv_1",
            "created_at": "2025-05-28T09:01:28Z",
            "updated_at": "2025-05-28T09:01:28Z",
            "model": "mistral-small-latest",
            "completion_args": {"response_format": {}},
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
            "guardrails": [{"moderation_llm_v1": {}}],
        },
        m.Conversation,
    )
    assert conversation.completion_args == m.CompletionArgs(
        tool_choice="auto", response_format=m.ResponseFormat(type="text")
    )
    assert conversation.tools == [
        m.FunctionTool(function=m.Function(name="f", description="", strict=False, parameters={}))
    ]
    assert conversation.guardrails == [
        m.GuardrailConfig(
            block_on_error=False,
            moderation_llm_v1=m.ModerationLLMV1Config(
                model_name="mistral-moderation-2411", ignore_other_categories=False, action="none"
            ),
        )
    ]


def test_what_a_user_builds_sends_only_what_was_set() -> None:
    # The spec's defaults are the server's business: a request says what its author said.
    assert converter.unstructure(m.ThinkChunk(thinking=[])) == {"type": "thinking", "thinking": []}
    assert converter.unstructure(m.CompletionArgs(temperature=0.5)) == {"temperature": 0.5}
    assert converter.unstructure(m.Function(name="f", parameters={})) == {
        "name": "f",
        "parameters": {},
    }
    request = parse_input(
        {"inputs": [{"role": "user", "content": "hi"}], "completion_args": {}},
        m.ConversationRequest,
    )
    assert converter.unstructure(request) == {
        "inputs": [{"object": "entry", "type": "message.input", "role": "user", "content": "hi"}],
        "completion_args": {},
    }


# Entries without a type: the spec gives "type" a default, and answers may leave it out


def test_an_output_without_type_is_a_message_output() -> None:
    # The shape of the API reference's own example of a response.
    response = converter.structure(
        {
            "object": "conversation.response",
            "conversation_id": "conv_1",
            "outputs": [
                {
                    "object": "entry",
                    "role": "assistant",
                    "content": "Hello!",
                    "created_at": "2025-05-28T09:01:28Z",
                    "id": "msg_1",
                    "model": "mistral-medium-latest",
                }
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        },
        m.ConversationResponse,
    )
    assert response.output_text == "Hello!"
    (output,) = response.outputs
    assert isinstance(output, m.MessageOutputEntry)
    assert (output.id, output.model, output.type) == (
        "msg_1",
        "mistral-medium-latest",
        "message.output",
    )


def test_an_output_without_type_or_role_is_a_message_output() -> None:
    outputs = converter.structure([{"content": "hi"}], list[m.OutputEntry])
    assert outputs == [m.MessageOutputEntry(content="hi")]


def test_other_outputs_without_type_follow_their_fields() -> None:
    outputs = converter.structure(
        [
            {"tool_call_id": "t", "name": "get_weather", "arguments": "{}"},
            {"name": "web_search", "arguments": "{}"},
        ],
        list[m.OutputEntry],
    )
    assert outputs == [
        m.FunctionCallEntry(tool_call_id="t", name="get_weather", arguments="{}"),
        m.ToolExecutionEntry(name="web_search", arguments="{}"),
    ]


@pytest.mark.parametrize(
    ("item", "cls"),
    [
        ({"role": "user", "content": "q"}, m.MessageInputEntry),
        ({"role": "assistant", "content": "a"}, m.MessageOutputEntry),
        ({"content": "a"}, m.MessageOutputEntry),
        ({"role": "assistant", "content": "a", "prefix": True}, m.MessageInputEntry),
        ({"role": "system", "content": "s"}, m.MessageInputEntry),
        ({"tool_call_id": "t", "result": "42"}, m.FunctionResultEntry),
        ({"tool_call_id": "t", "name": "f", "arguments": "{}"}, m.FunctionCallEntry),
        ({"name": "web_search", "arguments": "{}"}, m.ToolExecutionEntry),
        (
            {
                "previous_agent_id": "a",
                "previous_agent_name": "A",
                "next_agent_id": "b",
                "next_agent_name": "B",
            },
            m.AgentHandoffEntry,
        ),
    ],
)
def test_a_history_entry_without_type_follows_its_fields(
    item: dict[str, Any], cls: type[Any]
) -> None:
    history = converter.structure(
        {"conversation_id": "c", "entries": [{"object": "entry", **item}]}, m.ConversationHistory
    )
    (entry,) = history.entries
    assert type(entry) is cls
    # What came is kept (with the type it was read as, and the spec's defaults).
    assert converter.unstructure(entry).items() >= {"type": entry.type, **item}.items()


def test_messages_without_type_follow_their_role() -> None:
    messages = converter.structure(
        {
            "conversation_id": "c",
            "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
        },
        m.ConversationMessages,
    )
    assert messages.messages == [
        m.MessageInputEntry(role="user", content="q", prefix=False),
        m.MessageOutputEntry(content="a"),
    ]


def test_an_event_without_type_is_still_refused() -> None:
    with pytest.raises(ValueError, match="required field is missing"):
        converter.structure({"id": "m", "content": "hi"}, m.ConversationEvent)


def test_output_text_of_no_messages_is_empty() -> None:
    response = m.ConversationResponse(
        conversation_id="c", outputs=[], usage=m.ConversationUsageInfo()
    )
    assert response.output_text == ""


def test_output_text_equals_the_joined_stream_deltas() -> None:
    deltas: list[str | m.OutputChunk] = [
        "Par",
        "is",
        m.ToolReferenceChunk(tool="web_search", title="Wiki"),
        m.TextChunk(text=" is the capital."),
    ]
    events = [m.MessageOutputEvent(id="msg", content=delta) for delta in deltas]
    streamed = "".join(
        e.content if isinstance(e.content, str) else getattr(e.content, "text", "") for e in events
    )
    entry = m.MessageOutputEntry(
        id="msg",
        content=[
            m.TextChunk(text="Paris"),
            m.ToolReferenceChunk(tool="web_search", title="Wiki"),
            m.TextChunk(text=" is the capital."),
        ],
    )
    response = m.ConversationResponse(
        conversation_id="c", outputs=[entry], usage=m.ConversationUsageInfo()
    )
    assert response.output_text == streamed == "Paris is the capital."


def test_message_text() -> None:
    assert m.MessageInputEntry(role="user", content="hi").text == "hi"
    chunks: list[m.InputChunk] = [
        m.TextChunk(text="a"),
        m.ImageURLChunk(image_url="data:image/png;base64,AAAA"),
        m.TextChunk(text="b"),
    ]
    assert m.MessageInputEntry(role="user", content=chunks).text == "ab"
    assert m.MessageOutputEntry(content=[]).text == ""


def test_unknown_entries_keep_their_raw_dict() -> None:
    raw = {"object": "entry", "type": "memory.write", "memory": {"k": [1, 2]}, "id": None}
    history = converter.structure(
        {"conversation_id": "c", "entries": [raw, _message("hi")]}, m.ConversationHistory
    )
    assert history.entries[0] == m.UnknownEntry(type="memory.write", raw=raw)
    assert converter.unstructure(history)["entries"][0] == raw


def test_unknown_chunks_and_auth_keep_their_raw_dict() -> None:
    chunk = {"type": "audio", "data": "..."}
    auth = {"type": "mtls", "cert": "..."}
    entry = converter.structure(_message([chunk]), m.MessageOutputEntry)
    assert entry.content == [m.UnknownChunk(type="audio", raw=chunk)]
    connector = converter.structure(
        {"type": "connector", "connector_id": "c", "authorization": auth}, m.Tool
    )
    assert isinstance(connector, m.CustomConnector)
    assert connector.authorization == m.UnknownAuth(type="mtls", raw=auth)


def test_a_conversation_is_an_agent_one_when_it_has_an_agent_id() -> None:
    times = {"created_at": "2025-05-28T09:01:28Z", "updated_at": "2025-05-28T09:01:29Z"}
    agent = {"object": "conversation", "id": "a", "agent_id": "ag", "agent_version": 2, **times}
    model = {"object": "conversation", "id": "b", "model": "mistral-small-latest", **times}
    decoded = converter.structure([agent, model], list[m.Conversation])
    assert [type(c) for c in decoded] == [m.AgentConversation, m.ModelConversation]
    assert isinstance(decoded[0], m.AgentConversation)
    assert decoded[0].agent_version == 2
    assert decoded[1].created_at == datetime(2025, 5, 28, 9, 1, 28, tzinfo=timezone.utc)
    assert isinstance(converter.structure(model, m.Conversation), m.ModelConversation)


def test_an_event_decodes_by_its_type() -> None:
    event = converter.structure(
        {"type": "message.output.delta", "id": "m", "content": {"type": "text", "text": "hi"}},
        m.ConversationEvent,
    )
    assert event == m.MessageOutputEvent(id="m", content=m.TextChunk(text="hi"))


def test_validation_error_details_keep_loc_types() -> None:
    body = {"detail": [{"loc": ["body", "inputs", 0], "msg": "bad", "type": "missing"}]}
    decoded = converter.structure(body, m.HTTPValidationError)
    assert decoded.detail == [
        m.ValidationErrorDetail(loc=["body", "inputs", 0], msg="bad", type="missing")
    ]


# The contract of the classes themselves


@pytest.mark.parametrize("cls", MODEL_CLASSES, ids=lambda cls: cls.__name__)
def test_every_model_is_kw_only_with_slots_and_a_docstring(cls: type[Any]) -> None:
    assert all(field.kw_only for field in attrs.fields(cls))
    assert "__slots__" in cls.__dict__
    doc = inspect.getdoc(cls) or ""
    summary, blank, *details = doc.split("\n")
    assert summary.endswith(".")
    assert blank == ""
    assert details


@pytest.mark.parametrize("cls", MODEL_CLASSES, ids=lambda cls: cls.__name__)
def test_answers_are_frozen_and_what_users_build_is_not(cls: type[Any]) -> None:
    frozen = cls in ANSWERS or cls in UNKNOWNS
    field = attrs.fields(cls)[0].name
    instance = object.__new__(cls)
    if frozen:
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            setattr(instance, field, None)
    else:
        setattr(instance, field, None)


@pytest.mark.parametrize("cls", MODEL_CLASSES, ids=lambda cls: cls.__name__)
def test_optional_fields_default_to_none_and_constants_to_their_value(cls: type[Any]) -> None:
    for field in attrs.fields(cls):
        if cls in UNKNOWNS:
            assert field.default is attrs.NOTHING
        elif isinstance(field.default, str):
            assert field.name in {"type", "object", "role"}, field.name
        elif field.default is not None and field.default is not attrs.NOTHING:
            # Only answers have other defaults: the counts the spec defaults to 0.
            assert cls in ANSWERS
            assert field.name.endswith(("_tokens", "_index")), field.name
            assert field.default == 0


def test_unknown_models_have_type_and_raw() -> None:
    for cls in UNKNOWNS:
        assert [f.name for f in attrs.fields(cls)] == ["type", "raw"]


def test_connector_secrets_stay_out_of_reprs() -> None:
    connector = m.CustomConnector(connector_id="c", authorization=m.APIKeyAuth(value="s3cr3t"))
    assert "s3cr3t" not in repr(connector)
    assert "s3cr3t" not in repr(m.OAuth2TokenAuth(value="s3cr3t"))


@pytest.mark.parametrize(
    ("content", "text"),
    [
        ("plain", "plain"),
        (m.TextChunk(text="chunk"), "chunk"),
        (m.ThinkChunk(thinking=[m.TextChunk(text="hidden")]), ""),
    ],
)
def test_message_output_event_text(content: object, text: str) -> None:
    event = m.MessageOutputEvent(id="m", content=content)  # type: ignore[arg-type]
    assert event.text == text


def test_a_model_conversation_with_a_null_agent_id() -> None:
    data = {
        "object": "conversation",
        "id": "conv_1",
        "created_at": "2025-05-28T09:01:28Z",
        "updated_at": "2025-05-28T09:01:28Z",
        "model": "mistral-small-latest",
        "agent_id": None,
    }
    conversation = converter.structure(data, m.Conversation)
    assert isinstance(conversation, m.ModelConversation)
    assert conversation.model == "mistral-small-latest"


def test_a_union_of_ones_own_making_is_decoded_by_type() -> None:
    from mistral_conversations.models import FunctionResultEntry, OutputEntry, UnknownEntry

    data = [
        {"type": "function.result", "tool_call_id": "t", "result": "x"},
        {"type": "future.entry", "n": 1},
    ]
    result, future = converter.structure(data, list[OutputEntry | FunctionResultEntry])
    assert result == FunctionResultEntry(tool_call_id="t", result="x")
    assert future == UnknownEntry(type="future.entry", raw={"type": "future.entry", "n": 1})


def test_a_union_without_an_unknown_model_is_refused_clearly() -> None:
    from mistral_conversations.models import MessageInputEntry, TextChunk

    with pytest.raises(TypeError, match=r"cannot decode the union TextChunk \| MessageInputEntry"):
        converter.structure({"type": "text", "text": "x"}, TextChunk | MessageInputEntry)
