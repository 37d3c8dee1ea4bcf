"""The lean structure hooks of stream events decode exactly what cattrs' hooks decode.

Stream events are decoded by hooks that set the slots of the frozen models directly
(``_convert._lean_structure_fn``); every other model keeps cattrs' generated hook. Here
the two are compared on every event shape the spec allows, on shapes it does not allow,
and through a stream, where a malformed event must still be a StreamDecodeError.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import json
import pickle
from datetime import datetime, timezone
from typing import Any

import attrs
import pytest
from cattrs.gen import make_dict_structure_fn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mistral_conversations import extra_fields
from mistral_conversations import models as m
from mistral_conversations._convert import _LEAN_MODELS, converter
from mistral_conversations._streaming import AsyncEventStream
from mistral_conversations.errors import StreamDecodeError

from . import strategies as s

EVENT_CLASSES = {str(attrs.fields_dict(cls)["type"].default): cls for cls in _LEAN_MODELS}


@functools.cache
def general_hook(cls: type[Any]) -> Any:
    """cattrs' own hook for ``cls``, as the converter built it before the lean one."""
    return make_dict_structure_fn(cls, converter)


def outcome(hook: Any, data: dict[str, Any], cls: type[Any]) -> tuple[str, Any]:
    try:
        result = hook(dict(data), cls)
    except Exception as exc:
        return "raised", (type(exc), str(exc))
    # repr shows every field with its type (a str, a chunk, a datetime and its offset).
    return "decoded", (type(result), repr(result), result)


def assert_same_decoding(data: dict[str, Any], cls: type[Any] | None = None) -> None:
    """``cls``: the model to decode as; by default the one ``data``'s type names."""
    cls = cls or EVENT_CLASSES[data["type"]]
    lean = converter.get_structure_hook(cls)
    assert outcome(lean, data, cls) == outcome(general_hook(cls), data, cls)


def test_every_event_model_has_a_lean_hook() -> None:
    assert set(EVENT_CLASSES.values()) == set(m.ConversationEvent.__args__) - {m.UnknownEvent}
    for cls in EVENT_CLASSES.values():
        hook = converter.get_structure_hook(cls)
        assert hook.__code__.co_filename == f"<lean structure of {cls.__name__}>"


known_events = s.event(unknown=False).filter(lambda data: data["type"] in EVENT_CLASSES)
field_names = st.sampled_from(
    sorted({a.name for cls in EVENT_CLASSES.values() for a in attrs.fields(cls)} | {"zzz"})
)
odd_values = (
    s.json_values
    | st.just("2025-05-28T09:01:28")
    | st.just("2025-05-28T09:01:28.5z")
    | st.just({"type": "text"})
    | st.just({"type": "text", "text": "t", "extra": 1})
    | st.just({"type": "not.a.chunk", "x": [1]})
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(known_events)
def test_valid_events_decode_the_same(data: dict[str, Any]) -> None:
    assert_same_decoding(data)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    known_events,
    st.dictionaries(field_names, odd_values, max_size=3),
    st.sets(field_names, max_size=2),
)
def test_odd_events_decode_or_fail_the_same(
    data: dict[str, Any], changes: dict[str, Any], removed: set[str]
) -> None:
    """Wrong types, missing fields, unknown fields: the same result or the same error."""
    cls = EVENT_CLASSES[data["type"]]
    data = {**data, **changes}
    for name in removed:
        data.pop(name, None)
    assert_same_decoding(data, cls)


@pytest.mark.parametrize(
    "data",
    [
        {"type": "message.output.delta", "id": "a", "content": "x"},
        {"type": "message.output.delta", "id": 5, "content": "x", "role": 7},
        {"type": "message.output.delta", "id": "a", "content": None},
        {"type": "message.output.delta", "id": "a", "content": ["x"]},
        {"type": "message.output.delta", "content": "x"},
        {"type": "message.output.delta", "id": "a", "content": "x", "created_at": None},
        {"type": "message.output.delta", "id": "a", "content": "x", "created_at": 5},
        {"type": "message.output.delta", "id": "a", "content": "x", "created_at": "soon"},
        {"type": "message.output.delta", "id": "a", "content": "x", "created_at": "2025-05-28"},
        {"type": "message.output.delta", "id": "a", "content": {"type": "think"}},
        {"type": "function.call.delta", "id": "a", "name": "f", "tool_call_id": "t"},
        {"type": "function.call.delta", "id": "a", "name": "f", "tool_call_id": 1, "arguments": ""},
        {"type": "conversation.response.done", "usage": None},
    ],
)
def test_edge_cases_decode_or_fail_the_same(data: dict[str, Any]) -> None:
    assert_same_decoding(data)


def test_lean_events_are_the_frozen_models() -> None:
    data = {
        "type": "message.output.delta",
        "created_at": "2025-05-28T09:01:28.362436Z",
        "output_index": 1,
        "id": "msg",
        "model": "m",
        "content": "Hi",
        "unknown": {"a": 1},
    }
    event = converter.structure(data, m.ConversationEvent)
    expected = m.MessageOutputEvent(
        created_at=datetime(2025, 5, 28, 9, 1, 28, 362436, timezone.utc),
        output_index=1,
        id="msg",
        model="m",
        content="Hi",
    )
    assert type(event) is m.MessageOutputEvent
    assert event == expected
    assert hash(event) == hash(expected)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.content = "changed"  # type: ignore[misc]
    assert converter.unstructure(event) == {
        "type": "message.output.delta",
        "created_at": "2025-05-28T09:01:28.362436Z",
        "output_index": 1,
        "id": "msg",
        "content_index": 0,  # left out: the spec's default, sent as such
        "model": "m",
        "role": "assistant",
        "content": "Hi",
    }


# Fields left for their first read (DecodedOnRead): the same values, whatever reads them.

DELTA = {
    "type": "message.output.delta",
    "created_at": "2025-05-28T09:01:28Z",
    "output_index": 2,
    "id": 7,  # not a str: decoded as cattrs' str hook decodes it, when read
    "content_index": 1,
    "agent_id": None,
    "content": "Hi",
    "unknown": [1],
}
DELTA_BY_HAND = m.MessageOutputEvent(
    created_at=datetime(2025, 5, 28, 9, 1, 28, tzinfo=timezone.utc),
    output_index=2,
    id="7",
    content_index=1,
    content="Hi",
)


def _unset(event: Any) -> set[str]:
    """The fields whose slot is not set yet (read from the slot, not by getattr)."""
    unset = set()
    for field in attrs.fields(type(event)):
        try:
            getattr(type(event), field.name).__get__(event)
        except AttributeError:
            unset.add(field.name)
    return unset


def test_only_fields_that_cannot_fail_wait_for_their_first_read() -> None:
    event = converter.structure(dict(DELTA), m.MessageOutputEvent)
    # The type, the timestamp and the content are decoded at once: a bad one fails the
    # stream where it arrives. The rest cannot fail, and most are never read.
    assert _unset(event) == {"output_index", "id", "content_index", "model", "agent_id", "role"}
    assert (event.id, event.model, event.role) == ("7", None, "assistant")
    assert _unset(event) == {"output_index", "content_index", "agent_id"}
    assert event == DELTA_BY_HAND
    assert not _unset(event)
    assert extra_fields(event) == {"unknown": [1]}


@pytest.mark.parametrize(
    "use",
    [
        repr,
        hash,
        lambda event: event == DELTA_BY_HAND,
        converter.unstructure,
        attrs.asdict,
        copy.copy,
        lambda event: pickle.loads(pickle.dumps(event)),
        lambda event: attrs.evolve(event, content="Hi"),
    ],
    ids=["repr", "hash", "eq", "unstructure", "asdict", "copy", "pickle", "evolve"],
)
def test_an_event_read_any_way_is_its_hand_built_twin(use: Any) -> None:
    event = converter.structure(dict(DELTA), m.MessageOutputEvent)
    assert use(event) == use(DELTA_BY_HAND)


def test_changing_the_decoded_dict_afterwards_changes_no_event() -> None:
    data = dict(DELTA)
    event = converter.structure(data, m.MessageOutputEvent)
    for name in ("output_index", "id", "content_index", "model", "agent_id", "role", "unknown"):
        data[name] = "changed"
    assert event == DELTA_BY_HAND
    assert extra_fields(event) == {"unknown": [1]}


def test_a_misspelt_attribute_is_the_usual_error() -> None:
    event = converter.structure(dict(DELTA), m.MessageOutputEvent)
    with pytest.raises(AttributeError) as raised:
        event.conent  # type: ignore[attr-defined]  # noqa: B018
    assert str(raised.value) == "'MessageOutputEvent' object has no attribute 'conent'"
    assert (raised.value.name, raised.value.obj) == ("conent", event)
    assert getattr(event, "conent", "absent") == "absent"
    assert getattr(DELTA_BY_HAND, "_wire", "unset") == "unset"


# Through a stream: a malformed event is a StreamDecodeError, after the good ones.


class _Body:
    closed_by_client = False
    status, headers, attempts, elapsed = 200, {}, 1, 0.0

    def __init__(self, data: bytes) -> None:
        self._chunks = [data[i : i + 7] for i in range(0, len(data), 7)]

    async def read(self) -> bytes:
        return self._chunks.pop(0) if self._chunks else b""

    def close(self) -> None:
        self._chunks = []


def _sse(data: Any) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data)
    return f"event: {getattr(data, 'get', lambda _: 'x')('type')}\ndata: {text}\n\n".encode()


GOOD = [
    {"type": "conversation.response.started", "conversation_id": "c"},
    {
        "type": "message.output.delta",
        "id": "m",
        "content": "Hel",
        "created_at": "2025-05-28T09:01:28Z",
    },
    {"type": "message.output.delta", "id": "m", "content": "lo"},
]


async def _read(events: list[Any]) -> tuple[list[Any], BaseException | None]:
    body = b"".join(_sse(event) for event in events)

    async def connect() -> Any:
        return _Body(body)

    got: list[Any] = []
    try:
        async for event in AsyncEventStream(connect):
            got.append(event)
    except Exception as exc:
        return got, exc
    return got, None


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "message.output.delta", "id": "m"},
        {"type": "message.output.delta", "content": "x"},
        {"type": "message.output.delta", "id": "m", "content": 5},
        {"type": "message.output.delta", "id": "m", "content": {"type": "text"}},
        {"type": "message.output.delta", "id": "m", "content": "x", "created_at": "never"},
        {"type": "message.output.delta", "id": "m", "content": "x", "created_at": 17},
        {"type": "function.call.delta", "id": "f", "name": "n", "tool_call_id": "t"},
        {"type": ["message.output.delta"], "id": "m", "content": "x"},
        {"type": 5, "id": "m", "content": "x"},
        {"type": "message.output.delta", "id": "m", "content": "x", "output_index": [0]},
        {"type": "message.output.delta", "id": "m", "content": "x", "content_index": "0"},
        {"type": "message.output.delta", "id": "m", "content": "x", "output_index": 0.0},
        "[1, 2]",
        "{oops",
    ],
)
def test_malformed_event_is_a_stream_decode_error(bad: Any) -> None:
    got, error = asyncio.run(_read([*GOOD, bad]))
    assert [type(event) for event in got] == [
        m.ResponseStartedEvent,
        m.MessageOutputEvent,
        m.MessageOutputEvent,
    ]
    assert isinstance(error, StreamDecodeError)
    assert error.raw == (bad if isinstance(bad, str) else json.dumps(bad))
    assert error.partial is not None
    assert error.partial.output_text == "Hello"
