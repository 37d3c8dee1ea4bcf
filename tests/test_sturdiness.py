"""Promises that must hold against any server: nothing sent twice, no hang, bounded reads."""

from __future__ import annotations

import asyncio
import gzip
import inspect
import json
import select
import selectors
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from mistral_conversations import (
    APIConnectionError,
    APITimeoutError,
    AsyncClient,
    ConfigurationError,
    InputShapeError,
    InternalServerError,
    ResponseDecodeError,
    RetryPolicy,
    StreamDecodeError,
    StreamInterruptedError,
    Timeout,
)
from mistral_conversations.models import ConversationResponse, MessageOutputEvent
from mistral_conversations.testing import LocalServer

from .rawhttp import RawRequest, RawServer, response
from .scripted import ScriptedServer
from .sockets import client_connections_to

FAST = RetryPolicy(initial_delay=0, respect_retry_after=False)
REPLY = b'{"conversation_id": "c1", "outputs": [], "usage": {}}'
T0 = "2025-05-28T09:01:28.362436Z"


def sse(data: dict[str, Any]) -> bytes:
    return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode()


STARTED = sse({"type": "conversation.response.started", "created_at": T0, "conversation_id": "c1"})
DONE = sse({"type": "conversation.response.done", "created_at": T0, "usage": {}})


def delta(text: str) -> bytes:
    return sse(
        {
            "type": "message.output.delta",
            "created_at": T0,
            "id": "m1",
            "content": text,
            "role": "assistant",
        }
    )


STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
)


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def wait_until(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition did not come true within 5 s")


# -- a stream sends its request at most once ---------------------------------------


async def _hold(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
    await asyncio.sleep(30)
    return False


@pytest.mark.parametrize("how", ["await", "async with"])
async def test_a_cancelled_connect_is_never_sent_again(how: str) -> None:
    async with RawServer(_hold) as server, AsyncClient("k", base_url=server.base_url) as client:
        stream = client.start_stream(inputs="hi", model="m")

        async def connect() -> None:
            if how == "await":
                await stream
            else:
                async with stream:
                    pass

        task = asyncio.create_task(connect())
        await wait_until(lambda: bool(server.requests))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(StreamInterruptedError, match="it is not sent again"):
            async for _ in stream:
                pass
        with pytest.raises(StreamInterruptedError):
            await stream.response()
        with pytest.raises(StreamInterruptedError):
            await stream
        assert len(server.requests) == 1


async def test_a_failed_connect_raises_its_error_again_and_sends_nothing(
    scripted: ScriptedServer,
) -> None:
    scripted.reply(500, b'{"message": "boom"}')
    async with AsyncClient("k", base_url=scripted.base_url, retry=FAST) as client:
        stream = client.start_stream(inputs="hi", model="m")
        with pytest.raises(InternalServerError) as first:
            await stream
        with pytest.raises(InternalServerError) as again:
            await stream.response()
        assert again.value is first.value
    assert len(scripted.seen) == 1


async def test_a_stream_closed_before_it_connected_sends_nothing(
    scripted: ScriptedServer,
) -> None:
    async with AsyncClient("k", base_url=scripted.base_url) as client:
        stream = client.start_stream(inputs="hi", model="m")
        await stream.aclose()
        with pytest.raises(StreamInterruptedError, match="closed before the response"):
            await stream.response()
    assert scripted.seen == []


# -- the retry policy is the only retry ---------------------------------------------


async def _first_answered_rest_dropped(
    method_call: Callable[[AsyncClient], Awaitable[object]], policy: RetryPolicy
) -> tuple[RawServer, BaseException]:
    async def handler(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        if len(server.requests) > 1:
            return False  # closes a kept-alive connection without an answer
        writer.write(response(200, b"[]" if request.method == "GET" else REPLY))
        await writer.drain()
        return True

    async with (
        RawServer(handler) as server,
        AsyncClient("k", base_url=server.base_url, retry=policy) as client,
    ):
        await method_call(client)
        with pytest.raises(APIConnectionError) as caught:
            await method_call(client)
    return server, caught.value


async def test_a_dropped_get_is_sent_once_when_retries_are_off() -> None:
    server, error = await _first_answered_rest_dropped(lambda c: c.list(), RetryPolicy.disabled())
    assert len(server.requests) == 2  # one answered, one dropped: never a silent third
    assert error.attempts == 1


async def test_requests_that_reach_the_server_are_the_attempts_reported() -> None:
    server, error = await _first_answered_rest_dropped(lambda c: c.list(), FAST)
    assert error.attempts == 4
    assert "4 attempts" in str(error)
    assert len(server.requests) == 1 + 4


async def test_a_post_dropped_after_sending_is_not_sent_again() -> None:
    server, error = await _first_answered_rest_dropped(
        lambda c: c.start(inputs="hi", model="m"), FAST
    )
    assert len(server.requests) == 2
    assert "may have acted" in str(error)


@pytest.mark.parametrize("check", ["poll", "select"])
async def test_a_post_never_meets_a_pooled_connection_the_server_closed(
    check: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if check == "select":  # as on Windows, which has no poll()
        monkeypatch.delattr(select, "poll")

    async def answer_then_close(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        writer.write(response(200, REPLY))  # says keep-alive, then closes at once
        await writer.drain()
        return False

    async with (
        RawServer(answer_then_close) as server,
        AsyncClient("k", base_url=server.base_url, retry=RetryPolicy.disabled()) as client,
    ):
        for _ in range(3):
            await client.start(inputs="hi", model="m")
            # Blocking on purpose: the event loop does not run, so the client has not
            # yet seen the server's close when the next request takes the connection.
            time.sleep(0.05)  # noqa: ASYNC251
    assert [r.connection for r in server.requests] == [1, 2, 3]


# -- the end of a turn ends the stream ----------------------------------------------


@pytest.mark.parametrize("after", ["silence", "comments", "more events"])
async def test_the_end_of_the_turn_ends_the_stream(after: str) -> None:
    async def handler(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        writer.write(STREAM_HEAD + chunk(STARTED + delta("Hi") + DONE))
        await writer.drain()
        for _ in range(300):
            if after == "comments":
                writer.write(chunk(b": ping\n"))
            elif after == "more events":
                writer.write(chunk(delta("late")))
            await writer.drain()
            await asyncio.sleep(0.1)
        return False

    async with (
        RawServer(handler) as server,
        AsyncClient("k", base_url=server.base_url, timeout=Timeout(read=60)) as client,
    ):
        reply = await asyncio.wait_for(client.start_stream(inputs="x", model="m").response(), 5)
        assert reply.output_text == "Hi"
        events = await asyncio.wait_for(
            _collect(client.start_stream(inputs="x", model="m")), timeout=5
        )
        assert len(events) == 3
        port = int(server.base_url.rsplit(":", 1)[1])
        await asyncio.sleep(0)  # asyncio closes a transport's socket on the loop's next turn
        assert client_connections_to(port) == 0  # closed, not left reading


async def _collect(stream: Any) -> list[Any]:
    return [event async for event in stream]


async def test_a_stream_ending_cleanly_gives_its_connection_back(local_server: LocalServer) -> None:
    async with AsyncClient(local_server.api_key, base_url=local_server.base_url) as client:
        for _ in range(3):
            assert (await client.start_stream(inputs="a", model="m").response()).output_text
        assert client_connections_to(local_server.port) == 1


# -- a whole-stream deadline --------------------------------------------------------


async def test_a_stream_deadline_stops_a_server_that_drips() -> None:
    async def drip(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        writer.write(STREAM_HEAD + chunk(STARTED + delta("Hel")))
        for _ in range(600):
            writer.write(chunk(b": still here\n"))
            await writer.drain()
            await asyncio.sleep(0.05)
        return False

    async with (
        RawServer(drip) as server,
        AsyncClient("k", base_url=server.base_url, timeout=Timeout(read=1)) as client,
    ):
        started = time.monotonic()
        stream = client.start_stream(inputs="x", model="m", timeout=Timeout(stream=0.5))
        with pytest.raises(StreamInterruptedError) as caught:
            await asyncio.wait_for(stream.response(), 10)
        assert time.monotonic() - started < 5
    assert "ran past its deadline, Timeout(stream=0.5)" in str(caught.value)
    assert caught.value.partial is not None
    assert caught.value.partial.output_text == "Hel"


async def test_a_stream_deadline_bounds_connecting_too() -> None:
    async with (
        RawServer(_hold) as server,
        AsyncClient("k", base_url=server.base_url, retry=RetryPolicy.disabled()) as client,
    ):
        stream = client.start_stream(inputs="x", model="m", timeout=Timeout(stream=0.3))
        with pytest.raises(APITimeoutError, match=r"did not start within .*Timeout\(stream=0.3\)"):
            await asyncio.wait_for(stream.response(), 10)
        assert len(server.requests) == 1


async def test_a_stream_may_outlive_the_total_timeout(local_server: LocalServer) -> None:
    local_server.stream_delay = 0.05
    async with AsyncClient(
        local_server.api_key, base_url=local_server.base_url, timeout=Timeout(total=0.3)
    ) as client:
        started = time.monotonic()
        reply = await client.start_stream(inputs="w " * 12, model="m").response()
        assert time.monotonic() - started > 0.3
        assert reply.output_text == "Echo: " + "w " * 12


# -- bounded reads ------------------------------------------------------------------


async def test_a_body_over_max_body_size_is_refused_unread(scripted: ScriptedServer) -> None:
    scripted.reply(200, b"[" + b'"x",' * 100_000 + b'"x"]')
    async with AsyncClient(
        "k", base_url=scripted.base_url, max_body_size=10_000, retry=FAST
    ) as client:
        with pytest.raises(ResponseDecodeError, match=r"larger than max_body_size \(10,000 bytes"):
            await client.list()
        assert len(scripted.seen) == 1  # not retried
        scripted.reply(200, b"[]")
        assert await client.list() == []


async def test_max_body_size_counts_after_decompression(scripted: ScriptedServer) -> None:
    bomb = gzip.compress(b"[" + b" " * 5_000_000 + b"]")
    scripted.reply(200, bomb, {"Content-Encoding": "gzip"})
    async with AsyncClient("k", base_url=scripted.base_url, max_body_size=100_000) as client:
        with pytest.raises(ResponseDecodeError, match="after decompression"):
            await client.list()


async def test_an_error_body_is_kept_as_a_bounded_excerpt(scripted: ScriptedServer) -> None:
    scripted.reply(500, b"E" * 3_000_000)
    async with AsyncClient("k", base_url=scripted.base_url, retry=RetryPolicy.disabled()) as c:
        with pytest.raises(InternalServerError) as caught:
            await c.list()
    assert caught.value.body.startswith("E" * 65_536 + "... (")
    assert len(caught.value.body) < 70_000
    assert len(str(caught.value)) < 1_000


async def test_an_event_over_max_event_size_stops_the_stream() -> None:
    async def big(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        writer.write(STREAM_HEAD + chunk(STARTED + delta("Hi")))
        writer.write(chunk(b"data: " + b"x" * 50_000))
        for _ in range(100):  # never ends the line: the client must stop by itself
            writer.write(chunk(b"x" * 10_000))
            await writer.drain()
            await asyncio.sleep(0.05)
        return False

    async with (
        RawServer(big) as server,
        AsyncClient("k", base_url=server.base_url, max_event_size=20_000) as client,
    ):
        stream = client.start_stream(inputs="x", model="m")
        with pytest.raises(StreamDecodeError, match=r"larger than max_event_size \(20,000") as e:
            await asyncio.wait_for(stream.response(), 5)
    assert e.value.partial is not None
    assert e.value.partial.output_text == "Hi"
    assert len(e.value.raw) <= 200


@pytest.mark.parametrize("name", ["max_body_size", "max_event_size", "max_connections"])
@pytest.mark.parametrize("bad", [0, -1, 1.5, "10"])
def test_size_limits_are_checked(name: str, bad: object) -> None:
    with pytest.raises(ConfigurationError, match=f"{name} must be a positive int or None"):
        AsyncClient("k", **{name: bad})


# -- paths stay in place ------------------------------------------------------------

HOSTILE = ["", ".", "..", "..."]
ODD_BUT_FINE = ["a/..", "../x", "%2e%2e", "?q=1", "#frag", "a b", "\u00e9", ". x"]


def _operations(cid: str) -> list[Callable[[AsyncClient], Awaitable[object]]]:
    return [
        lambda c: c.get(cid),
        lambda c: c.delete(cid),
        lambda c: c.append(cid, inputs="x"),
        lambda c: c.get_history(cid),
        lambda c: c.get_messages(cid),
        lambda c: c.restart(cid, from_entry_id="e", inputs="x"),
        lambda c: c.append_stream(cid, inputs="x").response(),
        lambda c: c.restart_stream(cid, from_entry_id="e", inputs="x").response(),
    ]


async def _record_paths(
    cid: str,
) -> tuple[list[str], list[BaseException]]:
    async def answer(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        writer.write(response(404, b'{"message": "no"}'))
        await writer.drain()
        return True

    raised: list[BaseException] = []
    async with (
        RawServer(answer) as server,
        AsyncClient("k", base_url=server.base_url, retry=RetryPolicy.disabled()) as client,
    ):
        for operation in _operations(cid):
            try:
                await operation(client)
            except Exception as exc:
                raised.append(exc)
    return [r.target for r in server.requests], raised


@pytest.mark.parametrize("cid", HOSTILE)
async def test_ids_that_would_move_the_path_are_refused(cid: str) -> None:
    targets, raised = await _record_paths(cid)
    assert targets == []
    assert len(raised) == len(_operations(cid))
    for error in raised:
        assert isinstance(error, InputShapeError)
        assert str(error).startswith(f"conversation_id: {cid!r} is not a conversation id")


@pytest.mark.parametrize("cid", ODD_BUT_FINE)
async def test_odd_ids_stay_one_path_segment(cid: str) -> None:
    targets, raised = await _record_paths(cid)
    assert len(targets) == len(_operations(cid))
    for target in targets:
        assert target.startswith("/v1/conversations/")
        segment = target.removeprefix("/v1/conversations/").split("/")[0]
        assert segment.strip(".")  # never "." or "..", which would move the path
        assert "?" not in target
        assert "#" not in target
    assert all(type(e).__name__ == "NotFoundError" for e in raised)


# -- closing streams, told truly ----------------------------------------------------


async def test_leaving_text_deltas_early_closes_the_stream(local_server: LocalServer) -> None:
    local_server.stream_delay = 0.01
    async with (
        AsyncClient(local_server.api_key, base_url=local_server.base_url) as client,
        client.start_stream(inputs="w " * 50, model="m") as stream,
    ):
        async for _ in stream.text_deltas():
            break
        await wait_until(lambda: local_server.disconnects == 1)
        with pytest.raises(StreamInterruptedError, match="text_deltas"):
            await stream.response()


async def test_an_unclosed_stream_warns_when_collected(local_server: LocalServer) -> None:
    local_server.stream_delay = 0.01
    async with AsyncClient(local_server.api_key, base_url=local_server.base_url) as client:
        stream = client.start_stream(inputs="w " * 50, model="m")
        await stream.__anext__()
        with pytest.warns(ResourceWarning, match="collected while its HTTP response"):
            del stream
        await wait_until(lambda: local_server.disconnects == 1)


async def test_a_stream_read_to_its_end_does_not_warn(local_server: LocalServer) -> None:
    async with AsyncClient(local_server.api_key, base_url=local_server.base_url) as client:
        events = [e async for e in client.start_stream(inputs="a b", model="m")]
        assert any(isinstance(e, MessageOutputEvent) for e in events)


# -- no silent pool queue -----------------------------------------------------------


def test_the_default_pool_is_large() -> None:
    assert inspect.signature(AsyncClient).parameters["max_connections"].default >= 1000


async def test_waiting_for_a_full_pool_is_a_timeout_naming_max_connections(
    local_server: LocalServer,
) -> None:
    local_server.stream_delay = 0.2
    async with (
        AsyncClient(
            local_server.api_key,
            base_url=local_server.base_url,
            max_connections=2,
            timeout=Timeout(connect=0.3),
        ) as client,
        client.start_stream(inputs="w " * 20, model="m"),
        client.start_stream(inputs="w " * 20, model="m"),
    ):
        seen = len(local_server.requests)
        started = time.monotonic()
        with pytest.raises(APITimeoutError, match="max_connections") as caught:
            await client.start(inputs="x", model="m")
        assert time.monotonic() - started < 3  # one wait, not one per retry
        assert caught.value.attempts == 1
        assert len(local_server.requests) == seen


# -- connect failures -------------------------------------------------------------


async def test_a_connect_timeout_is_a_connect_failure_so_a_post_is_retried() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    # Fill the accept queue: further connection attempts get no answer at all.
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    try:
        async with AsyncClient(
            "k",
            base_url=f"http://127.0.0.1:{port}",
            timeout=Timeout(connect=0.2),
            retry=RetryPolicy(max_attempts=2, initial_delay=0),
        ) as client:
            with pytest.raises(APITimeoutError, match="request was not sent") as caught:
                await client.start(inputs="x", model="m")
        assert caught.value.attempts == 2
    finally:
        for sock in [*fillers, listener]:
            sock.close()


def test_abandoning_a_loop_works_where_there_is_no_epoll(monkeypatch: pytest.MonkeyPatch) -> None:
    from mistral_conversations import _fork

    monkeypatch.delattr(selectors, "EpollSelector")  # macOS and Windows have none
    loop = asyncio.new_event_loop()
    _fork.abandon(loop)
    assert not loop.is_closed()


async def test_a_bad_retry_on_a_stream_is_refused_when_the_stream_is_made(
    scripted: ScriptedServer,
) -> None:
    async with AsyncClient("k", base_url=scripted.base_url) as client:
        with pytest.raises(TypeError, match="retry must be a RetryPolicy"):
            client.start_stream(inputs="x", model="m", retry=3)  # type: ignore[arg-type]
    assert scripted.seen == []


# -- an informational answer, then silence -------------------------------------------

EARLY_HINTS = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
SHORT = Timeout(connect=0.5, read=0.5)


async def _hints_then_silence(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
    writer.write(EARLY_HINTS)
    await asyncio.sleep(30)
    return False


_ANSWER_TEXT = json.dumps(
    {
        "conversation_id": "c",
        "outputs": [],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
).encode()


async def _hints_then_answer(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
    writer.write(EARLY_HINTS)
    await writer.drain()
    await asyncio.sleep(0.05)
    if json.loads(request.body).get("stream"):
        started = {"type": "conversation.response.started", "conversation_id": "c"}
        done = {
            "type": "conversation.response.done",
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        events = f"data: {json.dumps(started)}\n\ndata: {json.dumps(done)}\n\n".encode()
        writer.write(STREAM_HEAD + chunk(events) + b"0\r\n\r\n")
    else:
        writer.write(response(body=_ANSWER_TEXT))
    return True


def _calls(client: AsyncClient) -> dict[str, Callable[[], Awaitable[object]]]:
    return {
        "stream": lambda: client.start_stream(inputs="hi", model="m").response(),
        # A plain call whose total limit was lifted has only read to bound its silence.
        "start, total=None": lambda: client.start(
            inputs="hi", model="m", timeout=Timeout(connect=0.5, read=0.5, total=None)
        ),
    }


@pytest.mark.parametrize("call", ["stream", "start, total=None"])
async def test_an_informational_answer_then_silence_is_a_read_timeout(call: str) -> None:
    # aiohttp drops its read timer on the 1xx and would wait for ever.
    async with (
        RawServer(_hints_then_silence) as server,
        AsyncClient("k", base_url=server.base_url, timeout=SHORT) as client,
    ):
        with pytest.raises(APITimeoutError) as caught:
            await asyncio.wait_for(_calls(client)[call](), 20)
    assert str(caught.value).startswith(
        f"Timed out waiting for {server.base_url} to answer (read timeout)"
    )
    assert len(server.requests) == 1  # a POST that may have arrived is not sent again


@pytest.mark.parametrize("call", ["stream", "start, total=None"])
async def test_an_informational_answer_then_the_answer_is_read(call: str) -> None:
    async with (
        RawServer(_hints_then_answer) as server,
        AsyncClient("k", base_url=server.base_url, timeout=SHORT) as client,
    ):
        answer = await _calls(client)[call]()
    assert isinstance(answer, ConversationResponse)
    assert (answer.conversation_id, answer.usage.total_tokens) == ("c", 2)


# -- a cut after events that were not read yet --------------------------------------


async def test_events_that_arrived_before_a_cut_are_in_the_partial() -> None:
    # aiohttp raises a broken body's error ahead of the bytes that came before it, so a
    # reader that comes late (a busy loop) would lose them from .partial.
    deltas = [
        {"type": "message.output.delta", "id": "m", "content": word}
        for word in ("one ", "two ", "three")
    ]
    events = b"".join(f"data: {json.dumps(d)}\n\n".encode() for d in deltas)

    async def events_then_cut(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        writer.write(STREAM_HEAD)
        await writer.drain()
        await asyncio.sleep(0.1)  # the client has the head and returned the stream
        writer.write(chunk(events))
        await writer.drain()
        return False  # closed without the body's last chunk

    async with (
        RawServer(events_then_cut) as server,
        AsyncClient("k", base_url=server.base_url) as client,
    ):
        stream = await client.start_stream(inputs="hi", model="m")
        await asyncio.sleep(0.5)  # the events and the cut have both arrived, unread
        with pytest.raises(StreamInterruptedError) as caught:
            await stream.response()
    assert caught.value.partial is not None
    assert caught.value.partial.output_text == "one two three"
