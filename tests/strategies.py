"""Hypothesis strategies for the JSON the Conversations API carries.

Every strategy draws a dict valid against the spec's schema of the same name (see
``tests/spec.py``), with timestamps in the canonical form the converter writes
(``2025-05-28T09:01:28.362436Z``, other offsets as ``isoformat``), so that a decode and
re-encode gives back the very same dict. Optional fields are either absent or set,
never ``null``; constant fields (``type``, ``object``, ``role``) are always present, but
for the ``type`` of the entries of answers (responses, histories, messages), which the
spec defaults and the API's own example leaves out.

``unknown=True`` mixes in variants of a ``type`` the library does not know (with
arbitrary extra JSON), at every place a discriminated union may hold one. Those dicts
are no longer valid against the spec, by design.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

Strategy = st.SearchStrategy[Any]

texts = st.text(max_size=12)
ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=12)
finite_floats = st.floats(allow_nan=False, allow_infinity=False, width=64)

json_scalars: Strategy = (
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | finite_floats | texts
)
json_values: Strategy = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=6,
)
json_objects: Strategy = st.dictionaries(texts, json_values, max_size=3)

BUILT_IN_CONNECTORS = [
    "web_search",
    "web_search_premium",
    "code_interpreter",
    "image_generation",
    "document_library",
]


def _canonical(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


timestamps: Strategy = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.just(timezone.utc)
    | st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes))),
).map(_canonical)
tool_names: Strategy = st.sampled_from(BUILT_IN_CONNECTORS) | texts


def obj(
    required: Mapping[str, Strategy], optional: Mapping[str, Strategy] | None = None
) -> Strategy:
    """A dict with every ``required`` key and any subset of the ``optional`` ones."""
    return st.fixed_dictionaries(dict(required), optional=dict(optional or {}))


def const(value: str) -> Strategy:
    """A constant field's only value."""
    return st.just(value)


def unknown_variant(known_types: frozenset[str]) -> Strategy:
    """A dict of a ``type`` not in ``known_types``, with arbitrary other JSON."""
    new_type = st.text(min_size=1, max_size=15).filter(lambda t: t not in known_types)
    return st.builds(lambda extra, tag: {**extra, "type": tag}, json_objects, new_type)


def _union(variants: Mapping[str, Strategy], unknown: bool) -> Strategy:
    union = st.one_of(*variants.values())
    if unknown:
        union |= unknown_variant(frozenset(variants))
    return union


# Chunks


text_chunk = obj({"type": const("text"), "text": texts})
image_url = obj({"url": texts}, {"detail": st.sampled_from(["low", "auto", "high"])})
image_url_chunk = obj({"type": const("image_url"), "image_url": image_url | texts})
tool_file_chunk = obj(
    {"type": const("tool_file"), "tool": tool_names, "file_id": ids},
    {"file_name": texts, "file_type": texts},
)
document_url_chunk = obj(
    {"type": const("document_url"), "document_url": texts}, {"document_name": texts}
)
tool_reference_chunk = obj(
    {"type": const("tool_reference"), "tool": tool_names, "title": texts},
    {"url": texts, "favicon": texts, "description": texts},
)
reference_chunk = obj(
    {
        "type": const("reference"),
        "reference_ids": st.lists(st.integers(0, 10**6) | ids, max_size=3),
    }
)


@functools.cache
def thinking_chunk(unknown: bool = False) -> Strategy:
    """A chunk inside a thinking block."""
    return _union(
        {"text": text_chunk, "tool_reference": tool_reference_chunk, "reference": reference_chunk},
        unknown,
    )


@functools.cache
def think_chunk(unknown: bool = False) -> Strategy:
    """A ``ThinkChunk``."""
    return obj(
        {"type": const("thinking"), "thinking": st.lists(thinking_chunk(unknown), max_size=3)},
        {"signature": texts, "closed": st.booleans()},
    )


def _input_chunk_variants(unknown: bool) -> dict[str, Strategy]:
    return {
        "text": text_chunk,
        "image_url": image_url_chunk,
        "tool_file": tool_file_chunk,
        "document_url": document_url_chunk,
        "thinking": think_chunk(unknown),
    }


@functools.cache
def input_chunk(unknown: bool = False) -> Strategy:
    """A chunk of an input message's content."""
    return _union(_input_chunk_variants(unknown), unknown)


@functools.cache
def output_chunk(unknown: bool = False) -> Strategy:
    """A chunk of an output message's content."""
    variants = _input_chunk_variants(unknown) | {"tool_reference": tool_reference_chunk}
    return _union(variants, unknown)


# Entries


def _entry(
    tag: str,
    required: Mapping[str, Strategy],
    optional: Mapping[str, Strategy] | None = None,
) -> Strategy:
    return obj(
        {"object": const("entry"), "type": const(tag), **required},
        {"created_at": timestamps, "completed_at": timestamps, "id": ids, **(optional or {})},
    )


_producer = {"agent_id": ids, "model": ids}


@functools.cache
def message_input_entry(unknown: bool = False) -> Strategy:
    """A ``MessageInputEntry``."""
    return _entry(
        "message.input",
        {
            "role": st.sampled_from(["user", "assistant"]),
            "content": texts | st.lists(input_chunk(unknown), max_size=3),
        },
        {"prefix": st.booleans()},
    )


@functools.cache
def message_output_entry(unknown: bool = False) -> Strategy:
    """A ``MessageOutputEntry``."""
    return _entry(
        "message.output",
        {
            "role": const("assistant"),
            "content": texts | st.lists(output_chunk(unknown), max_size=3),
        },
        _producer,
    )


function_result_entry = _entry("function.result", {"tool_call_id": ids, "result": texts})
function_call_entry = _entry(
    "function.call",
    {"tool_call_id": ids, "name": ids, "arguments": json_objects | texts},
    {**_producer, "confirmation_status": st.sampled_from(["pending", "allowed", "denied"])},
)
tool_execution_entry = _entry(
    "tool.execution", {"name": tool_names, "arguments": texts}, {**_producer, "info": json_objects}
)
agent_handoff_entry = _entry(
    "agent.handoff",
    {
        "previous_agent_id": ids,
        "previous_agent_name": texts,
        "next_agent_id": ids,
        "next_agent_name": texts,
    },
)


@functools.cache
def entry(unknown: bool = False) -> Strategy:
    """Any entry of a history, or of the inputs of a request."""
    return _union(
        {
            "message.input": message_input_entry(unknown),
            "message.output": message_output_entry(unknown),
            "function.result": function_result_entry,
            "function.call": function_call_entry,
            "tool.execution": tool_execution_entry,
            "agent.handoff": agent_handoff_entry,
        },
        unknown,
    )


@functools.cache
def output_entry(unknown: bool = False) -> Strategy:
    """An entry of a response's outputs."""
    return _union(
        {
            "message.output": message_output_entry(unknown),
            "tool.execution": tool_execution_entry,
            "function.call": function_call_entry,
            "agent.handoff": agent_handoff_entry,
        },
        unknown,
    )


@functools.cache
def message_entry(unknown: bool = False) -> Strategy:
    """An entry of a conversation's messages."""
    return _union(
        {
            "message.input": message_input_entry(unknown),
            "message.output": message_output_entry(unknown),
        },
        unknown,
    )


# Tools

tool_configuration = obj(
    {},
    {
        "exclude": st.lists(ids, max_size=2),
        "include": st.lists(ids, max_size=2),
        "requires_confirmation": st.lists(ids, max_size=2),
    },
)
function = obj(
    {"name": ids, "parameters": json_objects},
    {"description": texts, "strict": st.booleans()},
)
function_tool = obj({"type": const("function"), "function": function})


def _built_in(tag: str) -> Strategy:
    return obj({"type": const(tag)}, {"tool_configuration": tool_configuration})


web_search_tool = _built_in("web_search")
web_search_premium_tool = _built_in("web_search_premium")
code_interpreter_tool = _built_in("code_interpreter")
image_generation_tool = _built_in("image_generation")
document_library_tool = obj(
    {"type": const("document_library"), "library_ids": st.lists(ids, min_size=1, max_size=3)},
    {"tool_configuration": tool_configuration},
)
oauth2_token_auth = obj({"type": const("oauth2-token"), "value": texts})
api_key_auth = obj({"type": const("api-key"), "value": texts})


@functools.cache
def connector_auth(unknown: bool = False) -> Strategy:
    """A custom connector's authorization."""
    return _union({"oauth2-token": oauth2_token_auth, "api-key": api_key_auth}, unknown)


@functools.cache
def custom_connector(unknown: bool = False) -> Strategy:
    """A ``CustomConnector``."""
    return obj(
        {"type": const("connector"), "connector_id": ids},
        {"authorization": connector_auth(unknown), "tool_configuration": tool_configuration},
    )


@functools.cache
def tool(unknown: bool = False) -> Strategy:
    """Any tool."""
    return _union(
        {
            "function": function_tool,
            "web_search": web_search_tool,
            "web_search_premium": web_search_premium_tool,
            "code_interpreter": code_interpreter_tool,
            "image_generation": image_generation_tool,
            "document_library": document_library_tool,
            "connector": custom_connector(unknown),
        },
        unknown,
    )


# Completion arguments and guardrails

penalties = st.floats(-2, 2)
unit_floats = st.floats(0, 1)
json_schema = obj(
    {"name": ids, "schema": json_objects}, {"description": texts, "strict": st.booleans()}
)
completion_args = obj(
    {},
    {
        "stop": texts | st.lists(texts, max_size=2),
        "presence_penalty": penalties,
        "frequency_penalty": penalties,
        "temperature": unit_floats,
        "top_p": unit_floats,
        "max_tokens": st.integers(0, 10**6),
        "random_seed": st.integers(0, 2**32),
        "prediction": obj({"type": const("content")}, {"content": texts}),
        "response_format": obj(
            {},
            {
                "type": st.sampled_from(["text", "json_object", "json_schema"]),
                "json_schema": json_schema,
            },
        ),
        "tool_choice": st.sampled_from(["auto", "none", "any", "required"]),
        "reasoning_effort": st.sampled_from(["none", "minimal", "low", "medium", "high", "xhigh"]),
    },
)


def _moderation(categories: list[str]) -> Strategy:
    return obj(
        {},
        {
            "model_name": ids,
            "custom_category_thresholds": obj({}, dict.fromkeys(categories, unit_floats)),
            "ignore_other_categories": st.booleans(),
            "action": st.sampled_from(["none", "block"]),
        },
    )


_V1_CATEGORIES = [
    "sexual",
    "hate_and_discrimination",
    "violence_and_threats",
    "dangerous_and_criminal_content",
    "selfharm",
    "health",
    "financial",
    "law",
    "pii",
]
_V2_CATEGORIES = [
    "sexual",
    "hate_and_discrimination",
    "violence_and_threats",
    "dangerous",
    "criminal",
    "selfharm",
    "health",
    "financial",
    "law",
    "pii",
    "jailbreaking",
]
guardrail_config = obj(
    {},
    {
        "block_on_error": st.booleans(),
        "moderation_llm_v1": _moderation(_V1_CATEGORIES),
        "moderation_llm_v2": _moderation(_V2_CATEGORIES),
    },
)
guardrails = st.lists(guardrail_config, max_size=2)

# Conversations and answers

agent_versions = ids | st.integers(0, 1000)
_described = {"name": texts, "description": texts, "metadata": json_objects}


@functools.cache
def model_conversation(unknown: bool = False) -> Strategy:
    """A ``ModelConversation``."""
    return obj(
        {
            "object": const("conversation"),
            "id": ids,
            "created_at": timestamps,
            "updated_at": timestamps,
            "model": ids,
        },
        {
            "instructions": texts,
            "tools": st.lists(tool(unknown), max_size=3),
            "completion_args": completion_args,
            "guardrails": guardrails,
            **_described,
        },
    )


agent_conversation = obj(
    {
        "object": const("conversation"),
        "id": ids,
        "created_at": timestamps,
        "updated_at": timestamps,
        "agent_id": ids,
    },
    {"agent_version": agent_versions, **_described},
)


@functools.cache
def conversation(unknown: bool = False) -> Strategy:
    """A model or an agent conversation."""
    return model_conversation(unknown) | agent_conversation


usage = obj(
    {},
    {
        "prompt_tokens": st.integers(0, 10**6),
        "completion_tokens": st.integers(0, 10**6),
        "total_tokens": st.integers(0, 10**6),
        "connector_tokens": st.integers(0, 10**6),
        "connectors": st.dictionaries(ids, st.integers(0, 10**6), max_size=2),
    },
)


def _sometimes_untyped(entry: Strategy, unknown: bool) -> Strategy:
    """``entry``, sometimes without its ``type`` (but for unknown ones, only their type)."""
    if unknown:
        return entry
    return entry | entry.map(lambda item: {k: v for k, v in item.items() if k != "type"})


@functools.cache
def conversation_response(unknown: bool = False) -> Strategy:
    """A ``ConversationResponse``."""
    return obj(
        {
            "object": const("conversation.response"),
            "conversation_id": ids,
            "outputs": st.lists(_sometimes_untyped(output_entry(unknown), unknown), max_size=4),
            "usage": usage,
        },
        {"guardrails": st.lists(json_objects, max_size=2)},
    )


@functools.cache
def conversation_history(unknown: bool = False) -> Strategy:
    """A ``ConversationHistory``."""
    return obj(
        {
            "object": const("conversation.history"),
            "conversation_id": ids,
            "entries": st.lists(_sometimes_untyped(entry(unknown), unknown), max_size=4),
        }
    )


@functools.cache
def conversation_messages(unknown: bool = False) -> Strategy:
    """A ``ConversationMessages``."""
    return obj(
        {
            "object": const("conversation.messages"),
            "conversation_id": ids,
            "messages": st.lists(_sometimes_untyped(message_entry(unknown), unknown), max_size=4),
        }
    )


validation_error = obj(
    {"loc": st.lists(ids | st.integers(0, 100), max_size=3), "msg": texts, "type": ids},
    {"input": json_values.filter(lambda value: value is not None), "ctx": json_objects},
)
http_validation_error = obj({}, {"detail": st.lists(validation_error, max_size=2)})

# Events


def _event(
    tag: str, required: Mapping[str, Strategy], optional: Mapping[str, Strategy] | None = None
) -> Strategy:
    return obj({"type": const(tag), **required}, {"created_at": timestamps, **(optional or {})})


_indexed = {"output_index": st.integers(0, 100)}
response_started_event = _event("conversation.response.started", {"conversation_id": ids})
response_done_event = _event("conversation.response.done", {"usage": usage})
response_error_event = _event(
    "conversation.response.error", {"message": texts, "code": st.integers(0, 1000)}
)
tool_execution_started_event = _event(
    "tool.execution.started",
    {"id": ids, "name": tool_names, "arguments": texts},
    {**_indexed, **_producer},
)
tool_execution_delta_event = _event(
    "tool.execution.delta", {"id": ids, "name": tool_names, "arguments": texts}, _indexed
)
tool_execution_done_event = _event(
    "tool.execution.done", {"id": ids, "name": tool_names}, {**_indexed, "info": json_objects}
)
function_call_event = _event(
    "function.call.delta",
    {"id": ids, "name": ids, "tool_call_id": ids, "arguments": texts},
    {
        **_indexed,
        **_producer,
        "confirmation_status": st.sampled_from(["pending", "allowed", "denied"]),
    },
)
agent_handoff_started_event = _event(
    "agent.handoff.started",
    {"id": ids, "previous_agent_id": ids, "previous_agent_name": texts},
    _indexed,
)
agent_handoff_done_event = _event(
    "agent.handoff.done", {"id": ids, "next_agent_id": ids, "next_agent_name": texts}, _indexed
)


@functools.cache
def message_output_event(unknown: bool = False) -> Strategy:
    """A ``MessageOutputEvent``: a piece of text, or one chunk."""
    return _event(
        "message.output.delta",
        {"id": ids, "role": const("assistant"), "content": texts | output_chunk(unknown)},
        {**_indexed, **_producer, "content_index": st.integers(0, 100)},
    )


@functools.cache
def event(unknown: bool = False) -> Strategy:
    """Any stream event's data."""
    return _union(
        {
            "conversation.response.started": response_started_event,
            "conversation.response.done": response_done_event,
            "conversation.response.error": response_error_event,
            "tool.execution.started": tool_execution_started_event,
            "tool.execution.delta": tool_execution_delta_event,
            "tool.execution.done": tool_execution_done_event,
            "message.output.delta": message_output_event(unknown),
            "function.call.delta": function_call_event,
            "agent.handoff.started": agent_handoff_started_event,
            "agent.handoff.done": agent_handoff_done_event,
        },
        unknown,
    )


# Requests

_inputs_options: dict[str, Strategy] = {
    "stream": st.booleans(),
    "store": st.booleans(),
    "handoff_execution": st.sampled_from(["client", "server"]),
    "completion_args": completion_args,
}


@functools.cache
def inputs(unknown: bool = False) -> Strategy:
    """A request's ``inputs``: a string or a list of entries."""
    return texts | st.lists(entry(unknown), max_size=3)


@functools.cache
def conversation_request(unknown: bool = False) -> Strategy:
    """A ``ConversationRequestBase`` (``stream`` either way)."""
    return obj(
        {"inputs": inputs(unknown)},
        {
            **_inputs_options,
            "instructions": texts,
            "tools": st.lists(tool(unknown), max_size=3),
            "guardrails": guardrails,
            **_described,
            "agent_id": ids,
            "agent_version": agent_versions,
            "model": ids,
        },
    )


tool_call_confirmation = obj(
    {"tool_call_id": ids, "confirmation": st.sampled_from(["allow", "deny"])}
)


@functools.cache
def append_conversation_request(unknown: bool = False) -> Strategy:
    """An ``AppendConversationRequest``."""
    return obj(
        {},
        {
            "inputs": inputs(unknown),
            **_inputs_options,
            "tool_confirmations": st.lists(tool_call_confirmation, max_size=2),
        },
    )


@functools.cache
def restart_conversation_request(unknown: bool = False) -> Strategy:
    """A ``RestartConversationRequest``."""
    return obj(
        {"from_entry_id": ids},
        {
            "inputs": inputs(unknown),
            **_inputs_options,
            "guardrails": guardrails,
            "metadata": json_objects,
            "agent_version": agent_versions,
        },
    )
