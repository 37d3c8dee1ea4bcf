"""One stream, one reader at a time: a second reader is told so, and the first reads on.

A stream's events go to whoever reads next. Two tasks reading it at once used to meet
aiohttp's bare RuntimeError in the second, whose failure then closed the stream under
the first ("cut midway by a broken connection").
"""

from __future__ import annotations

import asyncio
import threading

import pytest
from aiohttp import web

from mistral_conversations import AsyncClient, Client, RetryPolicy
from mistral_conversations.models import ConversationEvent

from .scripted import ScriptedServer
from .test_stream_failures import delta, done, started
from .test_sturdiness import wait_until

ALREADY_READ = (
    "this stream is already being read, by another task (or another thread, through a "
    "blocking EventStream), and its events go to one reader at a time. Read it in one "
    "place and pass the events on (an asyncio.Queue, a queue.Queue), or start one stream "
    "per reader"
)


def gated_stream(scripted: ScriptedServer, gate: asyncio.Event) -> None:
    """A stream that sends its start and one delta, then the rest once the gate opens."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(started() + delta("Hel"))
        await gate.wait()
        await response.write(delta("lo") + done())
        await response.write_eof()
        return response

    scripted.handle(handler)


async def test_a_second_task_is_told_and_the_first_reads_on(scripted: ScriptedServer) -> None:
    gate = asyncio.Event()
    gated_stream(scripted, gate)
    async with AsyncClient("k", base_url=scripted.base_url) as client:
        await read_from_two_tasks(client, gate)
    assert len(scripted.seen) == 1


async def read_from_two_tasks(client: AsyncClient, gate: asyncio.Event) -> None:
    stream = await client.start_stream(inputs="hi", model="m")
    first: list[ConversationEvent] = []

    async def read_all() -> None:
        async for event in stream:
            first.append(event)

    reader = asyncio.create_task(read_all())
    await wait_until(lambda: len(first) == 2)  # and now waiting for the gated rest
    for second_read in (stream.__anext__, stream.response, stream.text_deltas().__anext__):
        with pytest.raises(RuntimeError) as raised:
            await second_read()
        assert str(raised.value) == ALREADY_READ
    gate.set()
    await reader
    assert len(first) == 4
    assert (await stream.response()).output_text == "Hello"


async def test_a_second_thread_of_a_blocking_stream_is_told_and_the_first_reads_on(
    scripted: ScriptedServer,
) -> None:
    gate = asyncio.Event()
    gated_stream(scripted, gate)
    with Client("k", base_url=scripted.base_url, retry=RetryPolicy.disabled()) as client:
        stream = await asyncio.to_thread(client.start_stream, inputs="hi", model="m")
        first: list[ConversationEvent] = []
        reader = threading.Thread(target=lambda: first.extend(stream))
        reader.start()
        await wait_until(lambda: len(first) == 2)
        with pytest.raises(RuntimeError) as raised:
            await asyncio.to_thread(next, iter(stream))
        assert str(raised.value) == ALREADY_READ
        gate.set()
        await asyncio.to_thread(reader.join, 10)
        assert not reader.is_alive()
        assert len(first) == 4
        assert stream.response().output_text == "Hello"
