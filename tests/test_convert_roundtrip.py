"""The converter against the spec: every shape decodes and encodes back to itself."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, get_args, get_origin, get_type_hints

import attrs
import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mistral_conversations import models as m
from mistral_conversations._convert import converter, parse_input
from mistral_conversations._time import format_datetime, parse_datetime

from . import strategies as s
from .spec import spec

# Leaves are drawn again inside every aggregate that holds them: fewer examples do.
leaf_settings = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
aggregate_settings = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def any_of(*names: str) -> dict[str, Any]:
    return {"anyOf": [ref(name) for name in names]}


@functools.cache
def validator(schema_key: str) -> jsonschema.Draft202012Validator:
    schema = SCHEMAS[schema_key]
    return jsonschema.Draft202012Validator({"components": spec()["components"], **schema})


def constant(strategy: st.SearchStrategy[Any]) -> Callable[[bool], st.SearchStrategy[Any]]:
    return lambda unknown: strategy


CHUNKS = ("TextChunk", "ImageURLChunk", "ToolFileChunk", "DocumentURLChunk", "ThinkChunk")
ENTRIES = ("MessageOutputEntry", "ToolExecutionEntry", "FunctionCallEntry", "AgentHandoffEntry")
EVENTS = (
    "ResponseStartedEvent",
    "ResponseDoneEvent",
    "ResponseErrorEvent",
    "ToolExecutionStartedEvent",
    "ToolExecutionDeltaEvent",
    "ToolExecutionDoneEvent",
    "MessageOutputEvent",
    "FunctionCallEvent",
    "AgentHandoffStartedEvent",
    "AgentHandoffDoneEvent",
)
TOOLS = (
    "FunctionTool",
    "WebSearchTool",
    "WebSearchPremiumTool",
    "CodeInterpreterTool",
    "ImageGenerationTool",
    "DocumentLibraryTool",
    "CustomConnector",
)
CONVERSATIONS_LIST = spec()["paths"]["/v1/conversations"]["get"]["responses"]["200"]["content"][
    "application/json"
]["schema"]

# id: (strategy factory taking `unknown`, the type to decode as, whether it is an aggregate)
CASES: dict[str, tuple[Callable[[bool], st.SearchStrategy[Any]], Any, bool]] = {
    "TextChunk": (constant(s.text_chunk), m.TextChunk, False),
    "ImageURL": (constant(s.image_url), m.ImageURL, False),
    "ImageURLChunk": (constant(s.image_url_chunk), m.ImageURLChunk, False),
    "ToolFileChunk": (constant(s.tool_file_chunk), m.ToolFileChunk, False),
    "DocumentURLChunk": (constant(s.document_url_chunk), m.DocumentURLChunk, False),
    "ToolReferenceChunk": (constant(s.tool_reference_chunk), m.ToolReferenceChunk, False),
    "ReferenceChunk": (constant(s.reference_chunk), m.ReferenceChunk, False),
    "ThinkChunk": (s.think_chunk, m.ThinkChunk, True),
    "InputChunk": (s.input_chunk, m.InputChunk, True),
    "OutputChunk": (s.output_chunk, m.OutputChunk, True),
    "ThinkingChunk": (s.thinking_chunk, m.ThinkingChunk, True),
    "MessageInputEntry": (s.message_input_entry, m.MessageInputEntry, True),
    "MessageOutputEntry": (s.message_output_entry, m.MessageOutputEntry, True),
    "FunctionResultEntry": (constant(s.function_result_entry), m.FunctionResultEntry, False),
    "FunctionCallEntry": (constant(s.function_call_entry), m.FunctionCallEntry, False),
    "ToolExecutionEntry": (constant(s.tool_execution_entry), m.ToolExecutionEntry, False),
    "AgentHandoffEntry": (constant(s.agent_handoff_entry), m.AgentHandoffEntry, False),
    "Entry": (s.entry, m.Entry, True),
    "OutputEntry": (s.output_entry, m.OutputEntry, True),
    "MessageEntry": (s.message_entry, m.MessageEntry, True),
    "ToolConfiguration": (constant(s.tool_configuration), m.ToolConfiguration, False),
    "Function": (constant(s.function), m.Function, False),
    "FunctionTool": (constant(s.function_tool), m.FunctionTool, False),
    "WebSearchTool": (constant(s.web_search_tool), m.WebSearchTool, False),
    "WebSearchPremiumTool": (constant(s.web_search_premium_tool), m.WebSearchPremiumTool, False),
    "CodeInterpreterTool": (constant(s.code_interpreter_tool), m.CodeInterpreterTool, False),
    "ImageGenerationTool": (constant(s.image_generation_tool), m.ImageGenerationTool, False),
    "DocumentLibraryTool": (constant(s.document_library_tool), m.DocumentLibraryTool, False),
    "OAuth2TokenAuth": (constant(s.oauth2_token_auth), m.OAuth2TokenAuth, False),
    "APIKeyAuth": (constant(s.api_key_auth), m.APIKeyAuth, False),
    "ConnectorAuth": (s.connector_auth, m.ConnectorAuth, True),
    "CustomConnector": (s.custom_connector, m.CustomConnector, True),
    "Tool": (s.tool, m.Tool, True),
    "JsonSchema": (constant(s.json_schema), m.JsonSchema, False),
    "CompletionArgs": (constant(s.completion_args), m.CompletionArgs, False),
    "GuardrailConfig": (constant(s.guardrail_config), m.GuardrailConfig, False),
    "ModelConversation": (s.model_conversation, m.ModelConversation, True),
    "AgentConversation": (constant(s.agent_conversation), m.AgentConversation, False),
    "Conversation": (s.conversation, m.Conversation, True),
    "ConversationList": (
        lambda unknown: st.lists(s.conversation(unknown), max_size=3),
        list[m.Conversation],
        True,
    ),
    "ConversationUsageInfo": (constant(s.usage), m.ConversationUsageInfo, False),
    "ConversationResponse": (s.conversation_response, m.ConversationResponse, True),
    "ConversationHistory": (s.conversation_history, m.ConversationHistory, True),
    "ConversationMessages": (s.conversation_messages, m.ConversationMessages, True),
    "ValidationError": (constant(s.validation_error), m.ValidationErrorDetail, False),
    "HTTPValidationError": (constant(s.http_validation_error), m.HTTPValidationError, False),
    "ResponseStartedEvent": (constant(s.response_started_event), m.ResponseStartedEvent, False),
    "ResponseDoneEvent": (constant(s.response_done_event), m.ResponseDoneEvent, False),
    "ResponseErrorEvent": (constant(s.response_error_event), m.ResponseErrorEvent, False),
    "ToolExecutionStartedEvent": (
        constant(s.tool_execution_started_event),
        m.ToolExecutionStartedEvent,
        False,
    ),
    "ToolExecutionDeltaEvent": (
        constant(s.tool_execution_delta_event),
        m.ToolExecutionDeltaEvent,
        False,
    ),
    "ToolExecutionDoneEvent": (
        constant(s.tool_execution_done_event),
        m.ToolExecutionDoneEvent,
        False,
    ),
    "MessageOutputEvent": (s.message_output_event, m.MessageOutputEvent, True),
    "FunctionCallEvent": (constant(s.function_call_event), m.FunctionCallEvent, False),
    "AgentHandoffStartedEvent": (
        constant(s.agent_handoff_started_event),
        m.AgentHandoffStartedEvent,
        False,
    ),
    "AgentHandoffDoneEvent": (
        constant(s.agent_handoff_done_event),
        m.AgentHandoffDoneEvent,
        False,
    ),
    "ConversationEvent": (s.event, m.ConversationEvent, True),
    "ConversationRequestBase": (s.conversation_request, m.ConversationRequest, True),
    "AppendConversationRequest": (
        s.append_conversation_request,
        m.AppendConversationRequest,
        True,
    ),
    "RestartConversationRequest": (
        s.restart_conversation_request,
        m.RestartConversationRequest,
        True,
    ),
    "ToolCallConfirmation": (constant(s.tool_call_confirmation), m.ToolCallConfirmation, False),
}

SCHEMAS: dict[str, dict[str, Any]] = {name: ref(name) for name in CASES} | {
    "InputChunk": any_of(*CHUNKS),
    "OutputChunk": ref("OutputContentChunks"),
    "ThinkingChunk": any_of("TextChunk", "ToolReferenceChunk", "ReferenceChunk"),
    "Entry": any_of("MessageInputEntry", "FunctionResultEntry", *ENTRIES),
    "OutputEntry": any_of(*ENTRIES),
    "MessageEntry": any_of("MessageInputEntry", "MessageOutputEntry"),
    "ConnectorAuth": any_of("OAuth2TokenAuth", "APIKeyAuth"),
    "Tool": any_of(*TOOLS),
    "Conversation": any_of("ModelConversation", "AgentConversation"),
    "ConversationList": CONVERSATIONS_LIST,
    "ConversationEvent": any_of(*EVENTS),
}
# The cases that hold a discriminated union somewhere, where unknown variants can occur.
AGGREGATES = [name for name, (_, _, unknown) in CASES.items() if unknown]

# What users send: their own fields gain no default they did not give.
REQUEST_SCHEMAS = frozenset(
    {"ConversationRequestBase", "AppendConversationRequest", "RestartConversationRequest"}
)


def reachable(schema: Any) -> set[str]:
    """The names of the schemas that ``schema`` holds, itself included, at any depth."""
    found: set[str] = set()
    pending = [schema]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if ref is not None:
                name = ref.rsplit("/", 1)[-1]
                if name not in found:
                    found.add(name)
                    pending.append(spec()["components"]["schemas"][name])
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return found


# The schemas a user gives, inside a request; the others only come in answers.
USER_SCHEMAS = frozenset(reachable([ref(name) for name in REQUEST_SCHEMAS]))


_JSON_TYPES: dict[str, tuple[type[Any], ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
    "array": (list,),
    "object": (dict,),
}


def resolve(schema: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """The schema a ``$ref`` points to, and its name (None for an inline schema)."""
    name = None
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec()["components"]["schemas"][name]
    return name, schema


def could_be(value: Any, schema: dict[str, Any]) -> bool:
    """Whether ``value`` is of the schema's kind: its JSON type, ``type`` tag, required fields.

    Looser than validation, so that a message holding an unknown chunk is still a message.
    """
    _, schema = resolve(schema)
    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        return any(could_be(value, branch) for branch in branches)
    if "enum" in schema:
        return value in schema["enum"]
    kind = schema.get("type", "object" if "properties" in schema else None)
    if kind is None:
        return True
    if not isinstance(value, _JSON_TYPES[kind]) or (kind != "boolean" and isinstance(value, bool)):
        return False
    if kind == "object" and "properties" in schema:
        tag = schema["properties"].get("type", {})
        tags = [tag["const"]] if "const" in tag else tag.get("enum")
        if "type" in value and tags is not None and value["type"] not in tags:
            return False
        return set(schema.get("required", ())).issubset(value)
    return True


def pick(value: Any, branches: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The branch of a union that ``value`` is read as."""
    if isinstance(value, dict) and "type" not in value:
        # Without its tag, an item is what it is valid as. An assistant message without
        # prefix is valid as both message entries: it reads as the output one.
        valid = [branch for branch in branches if branch_validator(branch).is_valid(value)]
        for branch in valid:
            if branch.get("$ref", "").endswith("/MessageOutputEntry"):
                return branch
        if valid:
            return valid[0]
    return next((branch for branch in branches if could_be(value, branch)), None)


@functools.cache
def _branch_validator(key: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({"components": spec()["components"], **json.loads(key)})


def branch_validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return _branch_validator(json.dumps(schema, sort_keys=True))


def as_answer(value: Any, schema: dict[str, Any]) -> Any:
    """``value`` as the converter reads it from an answer.

    That is, with the spec's default in every field it leaves out, but for the request
    bodies' own fields.
    """
    name, schema = resolve(schema)
    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        branch = pick(value, branches)
        return value if branch is None else as_answer(value, branch)
    if isinstance(value, list) and "items" in schema:
        return [as_answer(item, schema["items"]) for item in value]
    if not isinstance(value, dict) or "properties" not in schema:
        return value
    answer = dict(value)
    for field, field_schema in schema["properties"].items():
        if field in value:
            answer[field] = as_answer(value[field], field_schema)
        elif field_schema.get("default") is not None and name not in REQUEST_SCHEMAS:
            answer[field] = field_schema["default"]
    return answer


def is_user_shape(name: str) -> bool:
    """Whether the case's shape is one a user gives, inside requests."""
    return reachable(SCHEMAS[name]) <= USER_SCHEMAS


def check_spec_valid_round_trip(name: str, data: st.DataObject, extra: object) -> None:
    strategy, tp, _ = CASES[name]
    value = data.draw(strategy(False))
    validator(name).validate(value)
    # Decoded as an answer, a field left out reads as the spec's default; what came is
    # encoded back as it came.
    answer = as_answer(value, SCHEMAS[name])
    assert converter.unstructure(converter.structure(value, tp)) == answer
    # As user input, it is sent exactly as given. (Answers are not input: their
    # entries may come without type, their counts are left to the model's 0.)
    if is_user_shape(name):
        assert converter.unstructure(parse_input(value, tp)) == value
    if isinstance(value, dict) and attrs.has(tp):
        decoded = converter.structure({**value, "field_from_the_future": extra}, tp)
        assert converter.unstructure(decoded) == answer


@pytest.mark.parametrize("name", [name for name in CASES if name not in AGGREGATES])
@leaf_settings
@given(data=st.data(), extra=s.json_values)
def test_spec_valid_leaves_round_trip(name: str, data: st.DataObject, extra: object) -> None:
    check_spec_valid_round_trip(name, data, extra)


@pytest.mark.parametrize("name", AGGREGATES)
@aggregate_settings
@given(data=st.data(), extra=s.json_values)
def test_spec_valid_aggregates_round_trip(name: str, data: st.DataObject, extra: object) -> None:
    check_spec_valid_round_trip(name, data, extra)


@pytest.mark.parametrize("name", AGGREGATES)
@aggregate_settings
@given(data=st.data())
def test_unknown_variants_round_trip_exactly(name: str, data: st.DataObject) -> None:
    strategy, tp, _ = CASES[name]
    value = data.draw(strategy(True))
    assert converter.unstructure(converter.structure(value, tp)) == as_answer(value, SCHEMAS[name])
    if is_user_shape(name):
        assert converter.unstructure(parse_input(value, tp)) == value


def test_unknown_fields_are_ignored_deep_inside() -> None:
    response = {
        "object": "conversation.response",
        "conversation_id": "c",
        "outputs": [
            {
                "object": "entry",
                "type": "message.output",
                "role": "assistant",
                "content": [{"type": "text", "text": "hi", "annotations": []}],
                "new": {"x": 1},
            }
        ],
        "usage": {"prompt_tokens": 1, "cost": 0.5},
    }
    decoded = converter.structure(response, m.ConversationResponse)
    assert decoded.output_text == "hi"
    assert converter.unstructure(decoded)["usage"] == {
        "prompt_tokens": 1,
        "completion_tokens": 0,
        "total_tokens": 0,
    }


@pytest.mark.parametrize(
    ("value", "tp", "field", "expected"),
    [
        (
            {"role": "system", "content": "x", "type": "message.input"},
            m.MessageInputEntry,
            "role",
            "system",
        ),
        ({"url": "u", "detail": "ultra"}, m.ImageURL, "detail", "ultra"),
        (
            {"type": "tool_file", "tool": "new_connector", "file_id": "f"},
            m.ToolFileChunk,
            "tool",
            "new_connector",
        ),
        (
            {"type": "function.call", "tool_call_id": "t", "name": "n", "arguments": "{}"}
            | {"confirmation_status": "expired"},
            m.FunctionCallEntry,
            "confirmation_status",
            "expired",
        ),
        ({"tool_choice": "sometimes"}, m.CompletionArgs, "tool_choice", "sometimes"),
        ({"reasoning_effort": "max"}, m.CompletionArgs, "reasoning_effort", "max"),
        ({"type": "yaml"}, m.ResponseFormat, "type", "yaml"),
        ({"action": "warn"}, m.ModerationLLMV2Config, "action", "warn"),
        (
            {"tool_call_id": "t", "confirmation": "later"},
            m.ToolCallConfirmation,
            "confirmation",
            "later",
        ),
    ],
)
def test_unknown_enum_values_are_kept_as_strings(
    value: dict[str, Any], tp: type[Any], field: str, expected: str
) -> None:
    for decoded in (converter.structure(value, tp), parse_input(value, tp)):
        assert getattr(decoded, field) == expected
        assert converter.unstructure(decoded)[field] == expected


def test_unknown_event_keeps_its_raw_data() -> None:
    raw = {"type": "conversation.response.paused", "reason": {"code": 7}, "n": None}
    event = converter.structure(raw, m.ConversationEvent)
    assert event == m.UnknownEvent(type="conversation.response.paused", raw=raw)
    assert converter.unstructure(event) == raw


def test_null_optional_fields_decode_as_none_and_are_not_sent() -> None:
    raw = {
        "object": "entry",
        "type": "message.output",
        "role": "assistant",
        "content": "hi",
        "model": None,
        "agent_id": None,
        "completed_at": None,
    }
    entry = converter.structure(raw, m.MessageOutputEntry)
    assert entry.model is None
    assert entry.completed_at is None
    assert converter.unstructure(entry) == {
        "object": "entry",
        "type": "message.output",
        "role": "assistant",
        "content": "hi",
    }


def test_constant_fields_are_always_sent() -> None:
    assert converter.unstructure(m.MessageOutputEntry(content="x")) == {
        "object": "entry",
        "type": "message.output",
        "role": "assistant",
        "content": "x",
    }
    assert converter.unstructure(m.CompletionArgs(prediction=m.Prediction())) == {
        "prediction": {"type": "content"}
    }
    decoded = converter.structure({"conversation_id": "c"}, m.ResponseStartedEvent)
    assert converter.unstructure(decoded) == {
        "type": "conversation.response.started",
        "conversation_id": "c",
    }


def test_falsy_values_are_sent_unlike_none() -> None:
    args = m.CompletionArgs(temperature=0.0, max_tokens=0, stop="", tool_choice="none")
    assert converter.unstructure(args) == {
        "temperature": 0.0,
        "max_tokens": 0,
        "stop": "",
        "tool_choice": "none",
    }
    entry = m.MessageInputEntry(role="user", content=[], prefix=False)
    assert converter.unstructure(entry)["prefix"] is False
    assert converter.unstructure(entry)["content"] == []


@pytest.mark.parametrize(
    ("value", "tp", "says"),
    [
        ([{"type": None}], list[m.OutputEntry], "expected a string, got None"),
        ([{"text": "hi"}], list[m.InputChunk], "required field is missing (one of 'text'"),
        (["hi"], list[m.Tool], "expected an object with a 'type' field, got str 'hi'"),
        ([5], list[m.ConversationEvent], "expected an object with a 'type' field, got int 5"),
        ({"type": 5}, m.ConversationEvent, "expected a string, got int 5"),
    ],
)
def test_discriminated_items_need_a_type(value: Any, tp: Any, says: str) -> None:
    # A ValueError saying what is wrong, which the client turns into its own errors.
    with pytest.raises(ValueError, match=re.escape(says)):
        converter.structure(value, tp)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-05-28T09:01:28.36243Z", datetime(2025, 5, 28, 9, 1, 28, 362430, timezone.utc)),
        ("2025-05-28T09:01:28Z", datetime(2025, 5, 28, 9, 1, 28, tzinfo=timezone.utc)),
        ("2025-05-28T09:01:28z", datetime(2025, 5, 28, 9, 1, 28, tzinfo=timezone.utc)),
        (
            "2025-05-28T09:01:28.362436+02:00",
            datetime(2025, 5, 28, 9, 1, 28, 362436, timezone(timedelta(hours=2))),
        ),
        ("2025-05-28T09:01:28.3Z", datetime(2025, 5, 28, 9, 1, 28, 300000, timezone.utc)),
        ("2025-05-28T09:01:28.1234567Z", datetime(2025, 5, 28, 9, 1, 28, 123456, timezone.utc)),
        ("2025-05-28T09:01:28.362", datetime(2025, 5, 28, 9, 1, 28, 362000, timezone.utc)),
        ("2025-05-28 09:01:28", datetime(2025, 5, 28, 9, 1, 28, tzinfo=timezone.utc)),
    ],
)
def test_timestamps_parse_as_aware_datetimes(text: str, expected: datetime) -> None:
    parsed = parse_datetime(text)
    assert parsed == expected
    assert parsed.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2025, 5, 28, 9, 1, 28, tzinfo=timezone.utc), "2025-05-28T09:01:28Z"),
        (datetime(2025, 5, 28, 9, 1, 28, 5, tzinfo=timezone.utc), "2025-05-28T09:01:28.000005Z"),
        (datetime(2025, 5, 28, 9, 1, 28), "2025-05-28T09:01:28Z"),
        (
            datetime(2025, 5, 28, 9, 1, 28, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
            "2025-05-28T09:01:28-05:30",
        ),
        (
            datetime(2025, 5, 28, 9, 1, 28, tzinfo=timezone(timedelta(0), "X")),
            "2025-05-28T09:01:28Z",
        ),
    ],
)
def test_timestamps_format_as_the_api_writes_them(value: datetime, text: str) -> None:
    assert format_datetime(value) == text


@pytest.mark.parametrize("text", ["", "yesterday", "2025-13-01T00:00:00Z", "2025-05-28T25:00Z"])
def test_bad_timestamps_are_value_errors(text: str) -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_datetime(text)


def test_timestamps_decode_inside_models() -> None:
    event = converter.structure(
        {"type": "conversation.response.started", "conversation_id": "c"}
        | {"created_at": "2025-05-28T09:01:28.36243Z"},
        m.ConversationEvent,
    )
    assert event.created_at == datetime(2025, 5, 28, 9, 1, 28, 362430, timezone.utc)
    assert converter.unstructure(event)["created_at"] == "2025-05-28T09:01:28.362430Z"


# The spec's defaults and enums, field by field

# The spec's schema of each model, where the names differ.
SCHEMA_OF: dict[type[Any], str] = {
    m.ValidationErrorDetail: "ValidationError",
    m.ConversationRequest: "ConversationRequestBase",
}
MODELS = [
    cls
    for name in m.__all__
    if isinstance(cls := getattr(m, name), type)
    and attrs.has(cls)
    and not name.startswith("Unknown")
]


def schema_of(cls: type[Any]) -> dict[str, Any]:
    schema: dict[str, Any] = spec()["components"]["schemas"][SCHEMA_OF.get(cls, cls.__name__)]
    return schema


def minimal(schema: dict[str, Any]) -> Any:
    """The smallest value the schema takes: required fields only, first choices."""
    _, schema = resolve(schema)
    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        return minimal(next(b for b in branches if resolve(b)[1].get("type") != "null"))
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "object")
    if kind == "string":
        return "2025-05-28T09:01:28Z" if schema.get("format") == "date-time" else "x"
    simple = {"integer": 1, "number": 1.5, "boolean": True, "array": []}
    if kind in simple:
        return simple[kind]
    properties = schema.get("properties", {})
    return {field: minimal(properties[field]) for field in schema.get("required", ())}


DEFAULTS = [
    pytest.param(cls, field, prop["default"], id=f"{cls.__name__}.{field}")
    for cls in MODELS
    if SCHEMA_OF.get(cls, cls.__name__) not in REQUEST_SCHEMAS
    for field, prop in schema_of(cls).get("properties", {}).items()
    if prop.get("default") is not None
]


@pytest.mark.parametrize(("cls", "field", "default"), DEFAULTS)
def test_an_answer_without_a_field_reads_as_the_spec_default(
    cls: type[Any], field: str, default: object
) -> None:
    data = minimal(schema_of(cls))
    data.pop(field, None)
    assert getattr(converter.structure(data, cls), field) == default


USER_MODELS = [cls for cls in MODELS if SCHEMA_OF.get(cls, cls.__name__) in USER_SCHEMAS]


@pytest.mark.parametrize("cls", USER_MODELS, ids=lambda cls: cls.__name__)
def test_what_users_give_gains_no_default(cls: type[Any]) -> None:
    data = minimal(schema_of(cls))
    constants = {a.name: a.default for a in attrs.fields(cls) if isinstance(a.default, str)}
    assert converter.unstructure(parse_input(data, cls)) == {**constants, **data}
    if all(a.default is not attrs.NOTHING for a in attrs.fields(cls)):
        assert converter.unstructure(cls()) == constants


def known_values(schema: dict[str, Any]) -> list[str] | None:
    """The values of an enum field (not a one-value type tag), if it is one."""
    _, schema = resolve(schema)
    for branch in [schema, *schema.get("anyOf", ())]:
        _, branch = resolve(branch)
        if len(branch.get("enum", ())) > 1:
            return list(branch["enum"])
    return None


ENUMS = [
    pytest.param(cls, field, values, id=f"{cls.__name__}.{field}")
    for cls in MODELS
    for field, prop in schema_of(cls).get("properties", {}).items()
    if (values := known_values(prop)) is not None
]


@pytest.mark.parametrize(("cls", "field", "values"), ENUMS)
def test_enum_fields_name_their_known_values_and_take_any_string(
    cls: type[Any], field: str, values: list[str]
) -> None:
    annotation = get_type_hints(cls)[field]
    members = get_args(annotation)
    literals = [tp for tp in members if get_origin(tp) is Literal]
    assert [list(get_args(tp)) for tp in literals] == [values]
    assert str in members
    # A value from a later release of the API is kept, as its string.
    data = {**minimal(schema_of(cls)), field: "from_the_future"}
    for decoded in (converter.structure(data, cls), parse_input(data, cls)):
        assert getattr(decoded, field) == "from_the_future"
