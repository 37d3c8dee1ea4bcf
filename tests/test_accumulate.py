"""The Accumulator: stream events in, the ConversationResponse they add up to out.

Driven directly with event models: text deltas as strings and as chunks, thinking,
other chunks between them, content indexes out of order, a long answer, and deltas
handed over with the dict they were decoded from, as a stream hands them.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mistral_conversations import _accumulate, converter
from mistral_conversations._accumulate import Accumulator
from mistral_conversations.models import (
    ConversationResponse,
    ConversationUsageInfo,
    MessageOutputEntry,
    MessageOutputEvent,
    OutputChunk,
    ReferenceChunk,
    ResponseDoneEvent,
    ResponseStartedEvent,
    TextChunk,
    ThinkChunk,
    ThinkingChunk,
    ToolReferenceChunk,
)

USAGE = ConversationUsageInfo(prompt_tokens=3, completion_tokens=5, total_tokens=8)


def delta(content: str | OutputChunk, content_index: int | None = 0) -> MessageOutputEvent:
    return MessageOutputEvent(
        id="msg_1", model="m", output_index=0, content_index=content_index, content=content
    )


def think(*parts: ThinkingChunk | str, **fields: Any) -> ThinkChunk:
    thinking = [TextChunk(text=part) if isinstance(part, str) else part for part in parts]
    return ThinkChunk(thinking=thinking, **fields)


def answer(*deltas: MessageOutputEvent) -> ConversationResponse:
    acc = Accumulator()
    acc.add(ResponseStartedEvent(conversation_id="conv_1"))
    for event in deltas:
        acc.add(event)
    acc.add(ResponseDoneEvent(usage=USAGE))
    assert acc.done
    return acc.result()


def content(*deltas: MessageOutputEvent) -> str | list[OutputChunk]:
    response = answer(*deltas)
    [entry] = response.outputs
    assert isinstance(entry, MessageOutputEntry)
    return entry.content


def test_text_deltas_make_one_message() -> None:
    response = answer(delta("Hel"), delta("lo"), delta(", you"))
    assert response.conversation_id == "conv_1"
    assert response.usage == USAGE
    assert response.outputs == [MessageOutputEntry(id="msg_1", model="m", content="Hello, you")]
    assert response.output_text == "Hello, you"


def test_text_deltas_join_in_content_index_order_whatever_their_arrival() -> None:
    deltas = [delta("B", 1), delta("A", 0), delta("C", 2), delta("b", 1), delta("a", None)]
    assert content(*deltas) == "AaBbC"


def test_text_chunks_and_strings_join_into_one_text_chunk() -> None:
    deltas = [delta(TextChunk(text="Hel")), delta("lo"), delta(TextChunk(text=" there"))]
    assert content(*deltas) == [TextChunk(text="Hello there")]


def test_text_chunks_are_held_as_their_text_until_the_end() -> None:
    # Strings are no work for the cyclic GC; 80,000 live chunks made every full
    # collection of a long answer longer (the long_answer benchmark was 2.2-2.4x for 2x).
    acc = Accumulator()
    acc.add(ResponseStartedEvent(conversation_id="conv_1"))
    for text in ("a", "b", "c"):
        acc.add(delta(TextChunk(text=text)))
    [builder] = acc.outputs.values()
    assert isinstance(builder, _accumulate._Message)
    assert builder.parts == {0: ["a", "b", "c"]}
    assert builder.build().content == [TextChunk(text="abc")]


def test_a_text_chunk_with_fields_unknown_here_is_kept_whole() -> None:
    from mistral_conversations import extra_fields
    from mistral_conversations._convert import converter

    chunk = converter.structure({"type": "text", "text": "a", "lang": "fr"}, TextChunk)
    [kept] = content(delta(chunk))  # type: ignore[misc]
    assert kept is chunk
    assert extra_fields(kept) == {"lang": "fr"}


def test_thinking_then_text_at_their_own_indexes() -> None:
    deltas = [
        delta(think("Let "), 0),
        delta(think("me ", "think", signature="sig-1"), 0),
        delta(think(" more", closed=True), 0),
        delta(TextChunk(text="The "), 1),
        delta("answer", 1),
    ]
    assert content(*deltas) == [
        think("Let me think more", signature="sig-1", closed=True),
        TextChunk(text="The answer"),
    ]


def test_text_indexes_out_of_order_beside_chunks_stay_apart_in_index_order() -> None:
    deltas = [delta("c", 2), delta(think("hm"), 1), delta("a", 0), delta("b", 0), delta("d", 2)]
    assert content(*deltas) == [TextChunk(text="ab"), think("hm"), TextChunk(text="cd")]


def test_runs_within_one_index_are_broken_by_other_kinds() -> None:
    source = ToolReferenceChunk(tool="web_search", title="Cheese", url="https://example.org")
    deltas = [
        delta("a"),
        delta(TextChunk(text="b")),
        delta(think("x")),
        delta(think("y")),
        delta("c"),
        delta(source),
        delta(source),
        delta("d"),
        delta("e"),
        delta(think("z")),
    ]
    assert content(*deltas) == [
        TextChunk(text="ab"),
        think("xy"),
        TextChunk(text="c"),
        source,
        source,
        TextChunk(text="de"),
        think("z"),
    ]


def test_thinking_text_joins_around_references() -> None:
    ref = ReferenceChunk(reference_ids=[1, "doc-2"])
    deltas = [delta(think("a", ref, "b")), delta(think("c")), delta(think("d", ref))]
    assert content(*deltas) == [think("a", ref, "bcd", ref)]


def test_joined_thinking_keeps_the_last_signature_given_and_the_last_closed() -> None:
    deltas = [
        delta(think("a", signature="s1", closed=False)),
        delta(think("b", signature="s2")),
        delta(think("c", signature=None)),
        delta(think("d", signature="", closed=True)),
    ]
    assert content(*deltas) == [think("abcd", signature="s2", closed=True)]
    assert content(delta(think("a", signature="")), delta(think("b"))) == [
        think("ab", signature="")
    ]


def test_a_lone_thinking_chunk_is_kept_as_it_came() -> None:
    lone = think("a", "b", signature="s")
    assert content(delta(lone), delta("text", 1)) == [lone, TextChunk(text="text")]


def test_result_midway_then_more_deltas() -> None:
    acc = Accumulator()
    acc.add(delta(TextChunk(text="Hel")))
    acc.add(delta("lo"))
    midway = acc.result()
    acc.add(delta(" there"))
    assert midway.outputs[0] == MessageOutputEntry(
        id="msg_1", model="m", content=[TextChunk(text="Hello")]
    )
    assert acc.result().output_text == "Hello there"
    assert not acc.done


TOKENS = [f"t{i % 97} " for i in range(40_000)]


@pytest.mark.parametrize("shape", ["strings", "text chunks", "thinking chunks"])
def test_a_long_answer_of_40000_deltas_adds_up_exactly(shape: str) -> None:
    pieces: list[str | OutputChunk]
    if shape == "strings":
        pieces = list(TOKENS)
    elif shape == "text chunks":
        pieces = [TextChunk(text=token) for token in TOKENS]
    else:
        pieces = [think(token, signature=f"s{i}") for i, token in enumerate(TOKENS)]
    result = content(*(delta(piece) for piece in pieces), delta("the end", 1))
    text = "".join(TOKENS)
    if shape == "strings":
        assert result == text + "the end"
    elif shape == "text chunks":
        assert result == [TextChunk(text=text), TextChunk(text="the end")]
    else:
        assert result == [think(text, signature="s39999"), TextChunk(text="the end")]


def test_a_long_answer_builds_one_chunk_per_run_not_one_per_delta(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The cost of joining, counted rather than timed: building a chunk per delta would
    copy the text so far each time, quadratic in the answer's length."""
    built = 0

    class CountedTextChunk(TextChunk):
        def __init__(self, **fields: Any) -> None:
            nonlocal built
            built += 1
            super().__init__(**fields)

    monkeypatch.setattr(_accumulate, "TextChunk", CountedTextChunk)
    deltas = [delta(CountedTextChunk(text=token)) for token in TOKENS]
    deltas += [delta(think(CountedTextChunk(text=token))) for token in TOKENS]
    text = "".join(TOKENS)
    expected = [CountedTextChunk(text=text), think(CountedTextChunk(text=text))]
    built = 0
    assert content(*deltas) == expected
    assert built == 2  # the answer's text, and the thinking's


_indexes = st.none() | st.integers(0, 2)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {"type": st.just("message.output.delta"), "id": st.just("m"), "content": st.text()},
            optional={"output_index": _indexes, "content_index": _indexes},
        ),
        max_size=12,
    )
)
def test_deltas_read_from_the_wire_add_up_as_the_events_do(wires: list[dict[str, Any]]) -> None:
    # A stream hands the accumulator each decoded delta with its dict, and the indexes
    # are read from the dict; the same deltas without it read them from the events.
    by_wire, by_event = Accumulator(), Accumulator()
    for wire in wires:
        by_wire.add(converter.structure(wire, MessageOutputEvent), wire)
        by_event.add(converter.structure(dict(wire), MessageOutputEvent))
    assert by_wire.result() == by_event.result()
