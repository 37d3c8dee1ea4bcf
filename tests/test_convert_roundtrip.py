"""The converter against the spec: every shape decodes and encodes back to itself."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

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


def check_spec_valid_round_trip(name: str, data: st.DataObject, extra: object) -> None:
    strategy, tp, _ = CASES[name]
    value = data.draw(strategy(False))
    validator(name).validate(value)
    assert converter.unstructure(converter.structure(value, tp)) == value
    assert converter.unstructure(parse_input(value, tp)) == value
    if isinstance(value, dict) and attrs.has(tp):
        decoded = converter.structure({**value, "field_from_the_future": extra}, tp)
        assert converter.unstructure(decoded) == value


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
    assert converter.unstructure(converter.structure(value, tp)) == value
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
    assert converter.unstructure(decoded)["usage"] == {"prompt_tokens": 1}


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
        (
            [{"role": "assistant"}],
            list[m.OutputEntry],
            "required field is missing (one of 'message.output', 'tool.execution'",
        ),
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
