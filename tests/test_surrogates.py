"""A character split across two deltas: the UTF-16 halves of an emoji, one per event.

A server that escapes its JSON to ASCII and streams an emoji across two deltas sends
"\\ud83d" in one and "\\ude00" in the next. orjson refuses each; the stream used to
fail there, losing the rest of the turn.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mistral_conversations import (
    AsyncClient,
    Client,
    RetryPolicy,
    StreamDecodeError,
    converter,
)
from mistral_conversations._surrogates import HalfJoiner
from mistral_conversations.models import MessageOutputEvent

from .scripted import ScriptedServer
from .test_stream_failures import done, started, stream_reply

EMOJI = "\U0001f600"
HIGH, LOW = "\ud83d", "\ude00"


def escaped_delta(text: str, **extra: Any) -> bytes:
    """A delta written as a server that escapes to ASCII writes it (json.dumps's default)."""
    data = {"type": "message.output.delta", "id": "m", "content": text, **extra}
    return f"event: message.output.delta\ndata: {json.dumps(data)}\n\n".encode()


def split_emoji(scripted: ScriptedServer, *, second_half: bool = True) -> None:
    pieces = ["Hi ", HIGH, *([LOW] if second_half else []), "!"]
    stream_reply(scripted, started(), *(escaped_delta(p) for p in pieces), done())


async def test_the_stream_reads_on_and_the_answer_has_the_character(
    scripted: ScriptedServer,
) -> None:
    split_emoji(scripted)
    async with AsyncClient("k", base_url=scripted.base_url) as client:
        stream = client.start_stream(inputs="hi", model="m")
        events = [event async for event in stream]
        # Each event is as the wire said: one half each.
        deltas = [e.content for e in events if isinstance(e, MessageOutputEvent)]
        assert deltas == ["Hi ", HIGH, LOW, "!"]
        assert (await stream.response()).output_text == f"Hi {EMOJI}!"


async def test_text_deltas_hand_on_whole_characters(scripted: ScriptedServer) -> None:
    split_emoji(scripted)
    async with AsyncClient("k", base_url=scripted.base_url) as client:
        pieces = [p async for p in client.start_stream(inputs="hi", model="m").text_deltas()]
    assert pieces == ["Hi ", EMOJI, "!"]


async def test_blocking_text_deltas_hand_on_whole_characters(scripted: ScriptedServer) -> None:
    split_emoji(scripted)
    with Client("k", base_url=scripted.base_url, retry=RetryPolicy.disabled()) as client:

        def read() -> list[str]:
            return list(client.start_stream(inputs="hi", model="m").text_deltas())

        pieces = await asyncio.to_thread(read)
    assert pieces == ["Hi ", EMOJI, "!"]


async def test_a_half_whose_pair_never_comes_is_a_replacement_character(
    scripted: ScriptedServer,
) -> None:
    split_emoji(scripted, second_half=False)
    async with AsyncClient("k", base_url=scripted.base_url) as client:
        stream = client.start_stream(inputs="hi", model="m")
        pieces = [p async for p in stream.text_deltas()]
        assert "".join(pieces) == "Hi \ufffd!"
        assert (await stream.response()).output_text == "Hi \ufffd!"


@pytest.mark.parametrize(
    "bad",
    [
        b'{"type": "message.output.delta", "id": "m", "content": "\\ud83d", "x": NaN}',
        b'{"type": "message.output.delta", "id": "m", "content": "\\ud83d"',
    ],
)
async def test_data_that_is_not_json_for_another_reason_still_fails(
    scripted: ScriptedServer, bad: bytes
) -> None:
    stream_reply(scripted, started(), b"data: " + bad + b"\n\n", done())
    async with AsyncClient("k", base_url=scripted.base_url) as client:
        with pytest.raises(StreamDecodeError, match="carried data that is not JSON"):
            await client.start_stream(inputs="hi", model="m").response()


def test_the_converter_keeps_what_it_is_given() -> None:
    event = converter.structure({"id": "m", "content": HIGH}, MessageOutputEvent)
    assert event.content == HIGH


@given(
    st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from("😀🎉𝄞"), max_size=30),
    st.data(),
)
def test_any_split_of_any_text_joins_back_whole(text: str, data: st.DataObject) -> None:
    # Split the text's UTF-16 units anywhere, as a server may, then join them back.
    units = text.encode("utf-16-le")
    cuts = sorted(data.draw(st.lists(st.integers(0, len(units) // 2), max_size=6)))
    halves = [
        units[2 * a : 2 * b].decode("utf-16-le", "surrogatepass")
        for a, b in zip([0, *cuts], [*cuts, len(units) // 2], strict=True)
    ]
    joiner = HalfJoiner()
    out = [joiner.piece(h) for h in halves] + [joiner.end()]
    assert "".join(out) == text
    for piece in out:
        piece.encode("utf-8")  # no half left: a strict encoder takes every piece
